//! Local users: nothing under the data directory that grants value is readable by anyone but the
//! service's user (refund `k1` values in the gateway's database, the node store's preimages, the
//! keys). Found before the fix: the data dir was 0755 and both databases 0644.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use lnedge_gateway::config::GatewayConfig;
use lnedge_gateway::service::serve;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_node::private_fs::mode_of;

fn set_mode(path: &Path, mode: u32) {
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

/// A new SQLite store is private from its first byte: the database, its WAL and its SHM file.
#[tokio::test]
async fn a_new_sqlite_store_and_its_wal_are_private() {
    let temp = tempfile::tempdir().expect("dir");
    let dir = temp.path().join("data");
    let path = dir.join("gateway.sqlite3");
    let store = SqliteStore::open(&path).expect("store");
    // A write, so the WAL and SHM files exist.
    lnedge_gateway::store::conformance::enrol(&store).await;
    assert_eq!(mode_of(&dir).unwrap(), 0o700, "the directory");
    for file in ["gateway.sqlite3", "gateway.sqlite3-wal", "gateway.sqlite3-shm"] {
        let path = dir.join(file);
        assert!(path.exists(), "{file} exists");
        assert_eq!(mode_of(&path).unwrap(), 0o600, "{file}");
    }
}

/// A data directory an older build left open (0755, a 0644 database) is made private at start,
/// and the files the running service creates (its node store, its keys) are private too.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the gateway's `sandbox` feature (on in `cargo test --workspace`)"
)]
async fn an_open_data_dir_is_made_private_at_start() {
    let temp = tempfile::tempdir().expect("dir");
    let data = temp.path().join("data");
    drop(SqliteStore::open(&data.join("gateway.sqlite3")).expect("an older build's store"));
    set_mode(&data, 0o755);
    set_mode(&data.join("gateway.sqlite3"), 0o644);
    std::fs::create_dir(data.join("notes")).expect("mkdir");
    std::fs::write(data.join("notes/readme"), b"left by hand").expect("write");
    set_mode(&data.join("notes"), 0o755);
    set_mode(&data.join("notes/readme"), 0o644);

    let addr = crate::support::free_addr();
    let config = GatewayConfig::from_toml(&format!(
        "listen = \"{addr}\"\ndata_dir = \"{}\"\nadmin_token = \"0123456789abcdef0123\"\n\
         [node]\nkind = \"sandbox\"\n",
        data.display()
    ))
    .expect("config");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(serve(config, async move {
        let _ = stopped.await;
    }));
    let started = tokio::time::Instant::now();
    while reqwest::get(format!("http://{addr}/healthz")).await.is_err() {
        assert!(!service.is_finished(), "the service ended early: {:?}", service.await);
        assert!(started.elapsed() < Duration::from_secs(120), "the service did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    assert_eq!(mode_of(&data).unwrap(), 0o700, "the data dir");
    assert_eq!(mode_of(&data.join("notes")).unwrap(), 0o700, "a directory under it");
    assert_eq!(mode_of(&data.join("notes/readme")).unwrap(), 0o600, "a file under it");
    let mut secrets = vec![
        data.join("gateway.sqlite3"),
        data.join("gateway.sqlite3-wal"),
        data.join("pool.key"),
        data.join("device-master.key"),
    ];
    // The sandbox owner node's store (the preimage of every pool entry) and its WAL.
    let node_stores: Vec<_> = walk(&data)
        .into_iter()
        .filter(|p| {
            p.file_name().is_some_and(|n| n.to_string_lossy().starts_with("lnedge-backend"))
        })
        .collect();
    assert!(!node_stores.is_empty(), "the node store was found under {}", data.display());
    secrets.extend(node_stores);
    for path in &secrets {
        assert_eq!(mode_of(path).unwrap(), 0o600, "{}", path.display());
    }

    stop.send(()).expect("stop");
    let ended = tokio::time::timeout(Duration::from_secs(60), service).await;
    ended.expect("stops").expect("join").expect("a clean stop");
}

/// A directory that cannot be made private stops the start, naming it (root may chmod anything,
/// so this needs a path whose mode cannot change: a file in /proc).
#[tokio::test]
async fn a_data_dir_that_cannot_be_made_private_is_refused_with_its_name() {
    let err =
        lnedge_node::private_fs::secure_tree(Path::new("/proc/self/status")).expect_err("refused");
    assert!(err.to_string().contains("/proc/self/status"), "{err}");
}

fn walk(root: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    let mut pending = vec![root.to_owned()];
    while let Some(dir) = pending.pop() {
        for entry in std::fs::read_dir(&dir).expect("list") {
            let path = entry.expect("entry").path();
            if path.is_dir() {
                pending.push(path);
            } else {
                out.push(path);
            }
        }
    }
    out
}
