//! A real `lnedge gateway serve` for the tests that talk to one (sandbox node, SQLite), killed
//! when dropped.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The gateway process and its base URL; killed when dropped.
pub(crate) struct Gateway {
    child: Child,
    /// `http://127.0.0.1:<port>`.
    pub(crate) base: String,
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A loopback address with a port free right now.
pub(crate) fn free_addr() -> SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Starts `lnedge gateway serve` in `dir` with the admin `token` (and `public_url` set to its
/// own address) and waits until it answers `/healthz` (generous: a cold sandbox node on a busy
/// machine).
pub(crate) fn serve(dir: &Path, token: &str, runtime: &tokio::runtime::Runtime) -> Gateway {
    serve_with(dir, token, runtime, "")
}

/// [`serve`] with `extra` appended to the configuration (TOML tables such as `[rates]`).
pub(crate) fn serve_with(
    dir: &Path,
    token: &str,
    runtime: &tokio::runtime::Runtime,
    extra: &str,
) -> Gateway {
    let addr = free_addr();
    let config = dir.join("lnedge.toml");
    std::fs::write(
        &config,
        format!(
            "listen = \"{addr}\"\npublic_url = \"http://{addr}\"\ndata_dir = \"{}\"\nadmin_token = \"{token}\"\n[node]\nkind = \"sandbox\"\n{extra}",
            dir.join("gw").display()
        ),
    )
    .expect("config");
    let child = Command::new(env!("CARGO_BIN_EXE_lnedge"))
        .args(["gateway", "serve", "--config", config.to_str().expect("utf-8")])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("the gateway starts");
    let gateway = Gateway { child, base: format!("http://{addr}") };
    let http = reqwest::Client::new();
    runtime.block_on(async {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        while http.get(format!("{}/healthz", gateway.base)).send().await.is_err() {
            assert!(tokio::time::Instant::now() < deadline, "the gateway did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    });
    gateway
}
