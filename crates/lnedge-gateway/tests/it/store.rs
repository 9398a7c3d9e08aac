//! The storage conformance suite against both stores: SQLite always, PostgreSQL when
//! `DATABASE_URL` points at a server (`.ci/run` starts one).

use std::sync::Arc;
use std::time::Instant;

use lnedge_gateway::store::conformance;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_conformance() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("data").join("gateway.sqlite3");
    let started = Instant::now();
    let sample = {
        let store = SqliteStore::open(&path).unwrap();
        conformance::run_all(&store).await;
        conformance::write_sample(&store).await
    };
    // Reopening the file keeps everything, and the migrations do not run twice.
    let store = SqliteStore::open(&path).unwrap();
    conformance::check_sample(&store, &sample).await;
    conformance::run_all(&store).await;
    eprintln!("sqlite conformance (file) took {:?}", started.elapsed());

    let memory = SqliteStore::in_memory().unwrap();
    conformance::run_all(&memory).await;
}

#[test]
fn sqlite_refuses_a_newer_schema() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite3");
    drop(SqliteStore::open(&path).unwrap());
    {
        let conn = rusqlite::Connection::open(&path).unwrap();
        conn.execute_batch(&format!("PRAGMA user_version = {}", SqliteStore::SCHEMA_VERSION + 1))
            .unwrap();
    }
    match SqliteStore::open(&path) {
        Err(lnedge_gateway::store::StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!(
                (found, supported),
                (SqliteStore::SCHEMA_VERSION + 1, SqliteStore::SCHEMA_VERSION)
            );
        }
        other => panic!("expected SchemaTooNew, got {:?}", other.map(|_| ())),
    }
}

#[allow(dead_code)]
fn _assert_shareable(store: SqliteStore) -> Arc<dyn GatewayStore> {
    Arc::new(store)
}
