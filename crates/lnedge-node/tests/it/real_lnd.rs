//! The conformance suite against a real LND pair on regtest, for operators
//! (`scripts/check-backend.sh lnd`; cargo feature `real-lnd`, never on in CI, which cannot run
//! LND). Configuration by environment:
//!
//! | variable | what |
//! | --- | --- |
//! | `LNEDGE_LND_REST_URL`, `LNEDGE_LND_TLS_CERT`, `LNEDGE_LND_MACAROON` | the backend under test |
//! | `LNEDGE_LND_PAYER_REST_URL`, `…_TLS_CERT`, `…_MACAROON` | a second LND with a channel to it, liquidity both ways |
//! | `LNEDGE_MINE` | a command that mines N blocks, N appended (e.g. `bitcoin-cli -regtest -generate`) |

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lnedge_node::lnd::{LndBackend, LndConfig};
use lnedge_node::LightningBackend;

use crate::conformance::{self, Harness};

fn env(name: &str) -> String {
    std::env::var(name)
        .unwrap_or_else(|_| panic!("{name} is not set (see scripts/check-backend.sh)"))
}

fn config(prefix: &str, dir: &std::path::Path) -> LndConfig {
    LndConfig {
        rest_url: env(&format!("{prefix}_REST_URL")),
        tls_cert: env(&format!("{prefix}_TLS_CERT")).into(),
        macaroon: env(&format!("{prefix}_MACAROON")).into(),
        data_dir: dir.to_owned(),
    }
}

struct RealLnd {
    backend: Arc<LndBackend>,
    payer: Arc<LndBackend>,
    backend_config: LndConfig,
    _dir: tempfile::TempDir,
}

impl RealLnd {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let backend_config = config("LNEDGE_LND", &dir.path().join("backend"));
        let backend = Arc::new(LndBackend::connect(backend_config.clone()).await.expect("backend"));
        let payer = Arc::new(
            LndBackend::connect(config("LNEDGE_LND_PAYER", &dir.path().join("payer")))
                .await
                .expect("payer"),
        );
        RealLnd { backend, payer, backend_config, _dir: dir }
    }
}

#[async_trait]
impl Harness for RealLnd {
    fn backend(&self) -> Arc<dyn LightningBackend> {
        self.backend.clone()
    }
    fn payer(&self) -> Arc<dyn LightningBackend> {
        self.payer.clone()
    }
    async fn mine_blocks(&self, n: u32) {
        let target = self.backend.info().await.expect("info").block_height + n;
        let status = std::process::Command::new("sh")
            .arg("-c")
            .arg(format!("{} {n}", env("LNEDGE_MINE")))
            .stdout(std::process::Stdio::null())
            .status()
            .expect("LNEDGE_MINE runs");
        assert!(status.success(), "LNEDGE_MINE failed");
        // Wait (generously) until both nodes have seen the blocks.
        let deadline = tokio::time::Instant::now() + Duration::from_secs(120);
        for node in [&self.backend, &self.payer] {
            while node.info().await.expect("info").block_height < target {
                assert!(tokio::time::Instant::now() < deadline, "the nodes did not sync");
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
        }
    }
    async fn restart_backend(&mut self) {
        self.backend =
            Arc::new(LndBackend::connect(self.backend_config.clone()).await.expect("reconnect"));
    }
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let mut h = RealLnd::new().await;
            conformance::$name(&mut h).await;
        }
    )*};
}

conformance::with_scenarios!(conformance_tests!());
