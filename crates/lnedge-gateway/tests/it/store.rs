//! The storage conformance suite against both stores: SQLite always, PostgreSQL when
//! `DATABASE_URL` points at a server (`.ci/run` starts one).

use std::time::Instant;

use lnedge_proto::ledger::EntryState;

use lnedge_gateway::store::conformance;
use lnedge_gateway::store::postgres::PostgresStore;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::{GatewayStore, PaymentRecord, StoreError};
use lnedge_gateway::sync::{apply_reports, SyncError, SyncOutcome};
use lnedge_wire::sync::SyncReport;

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

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_two_handles_on_one_file_never_double_issue() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("gateway.sqlite3");
    // Two connections to one file, as two processes would have.
    let a = SqliteStore::open(&path).unwrap();
    let b = SqliteStore::open(&path).unwrap();
    let device = conformance::enrol(&a).await;
    let mut tasks = Vec::new();
    for i in 0..100u32 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            let p = PaymentRecord {
                payment_hash: [(i % 50) as u8; 32],
                amount_msat: 1,
                paid_at: 1,
                quote: None,
            };
            let inserted = store.record_payment(&p).await.unwrap();
            (store.allocate_seqs(device, 1, 3).await.unwrap(), inserted)
        }));
    }
    let mut firsts = Vec::new();
    let mut inserted = 0;
    for t in tasks {
        let (first, ins) = t.await.unwrap();
        firsts.push(first);
        inserted += u32::from(ins);
    }
    firsts.sort_unstable();
    assert_eq!(firsts, (0..100).map(|i| i * 3).collect::<Vec<_>>(), "disjoint, consecutive ranges");
    assert_eq!(inserted, 50, "each payment recorded once");
    assert_eq!(b.payments().await.unwrap().len(), 50);
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

/// A database of its own on the server `DATABASE_URL` points at, dropped (best effort) when the
/// test ends.
pub(crate) struct TestDatabase {
    admin_url: String,
    name: String,
    /// The URL of the test database.
    pub(crate) url: String,
}

impl TestDatabase {
    pub(crate) async fn create() -> Self {
        let admin_url = std::env::var("DATABASE_URL")
            .expect("DATABASE_URL must name a PostgreSQL server, e.g. postgres://postgres@127.0.0.1:5432/postgres");
        let name = format!("lnedge_test_{}", hex::encode(rand::random::<[u8; 8]>()));
        admin(&admin_url, &format!("CREATE DATABASE {name}")).await;
        let url = with_database(&admin_url, &name);
        TestDatabase { admin_url, name, url }
    }

    pub(crate) async fn drop_it(self) {
        let sql = format!("DROP DATABASE IF EXISTS {} WITH (FORCE)", self.name);
        if let Err(e) = try_admin(&self.admin_url, &sql).await {
            eprintln!("could not drop test database {}: {e}", self.name);
        }
    }
}

/// `url` with its database name replaced by `name` (query string kept).
fn with_database(url: &str, name: &str) -> String {
    let (base, query) = match url.split_once('?') {
        Some((b, q)) => (b, format!("?{q}")),
        None => (url, String::new()),
    };
    let authority_start = base.find("://").map_or(0, |i| i + 3);
    let host_part = match base[authority_start..].find('/') {
        Some(i) => &base[..authority_start + i],
        None => base,
    };
    format!("{host_part}/{name}{query}")
}

async fn try_admin(url: &str, sql: &str) -> Result<(), tokio_postgres::Error> {
    let (client, conn) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    let task = tokio::spawn(conn);
    let result = client.batch_execute(sql).await;
    drop(client);
    let _ = task.await;
    result
}

async fn admin(url: &str, sql: &str) {
    try_admin(url, sql).await.unwrap_or_else(|e| panic!("{sql} on {url}: {e:?}"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set DATABASE_URL (run by .ci/run)"]
async fn postgres_conformance() {
    let db = TestDatabase::create().await;
    let started = Instant::now();
    {
        let store = PostgresStore::connect(&db.url).await.unwrap();
        conformance::run_all(&store).await;
        // Twice on one database: the suite makes fresh ids every run.
        conformance::run_all(&store).await;
        let sample = conformance::write_sample(&store).await;
        // A second connection (a restart) sees it all and does not migrate again.
        let again = PostgresStore::connect(&db.url).await.unwrap();
        conformance::check_sample(&again, &sample).await;
    }
    eprintln!("postgres conformance took {:?}", started.elapsed());
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set DATABASE_URL (run by .ci/run)"]
async fn postgres_refuses_a_newer_schema() {
    let db = TestDatabase::create().await;
    drop(PostgresStore::connect(&db.url).await.unwrap());
    admin(
        &db.url,
        &format!(
            "INSERT INTO schema_version (version) VALUES ({})",
            PostgresStore::SCHEMA_VERSION + 1
        ),
    )
    .await;
    match PostgresStore::connect(&db.url).await {
        Err(StoreError::SchemaTooNew { found, supported }) => {
            assert_eq!(
                (found, supported),
                (PostgresStore::SCHEMA_VERSION + 1, PostgresStore::SCHEMA_VERSION)
            );
        }
        other => panic!("expected SchemaTooNew, got {:?}", other.map(|_| ())),
    }
    db.drop_it().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set DATABASE_URL (run by .ci/run)"]
async fn postgres_two_replicas_never_double_issue() {
    let db = TestDatabase::create().await;
    let started = Instant::now();
    // Both replicas start (and migrate) at once.
    let (a, b) = tokio::join!(PostgresStore::connect(&db.url), PostgresStore::connect(&db.url));
    let (a, b) = (a.unwrap(), b.unwrap());
    let (device, pool, entries) = conformance::device_with_pool(&a, 50).await;

    // Sequence numbers: 200 allocations from each replica, all at once.
    let mut tasks = Vec::new();
    for i in 0..400u32 {
        let store = if i % 2 == 0 { a.clone() } else { b.clone() };
        let count = 1 + i % 7;
        tasks.push(tokio::spawn(async move {
            (store.allocate_seqs(device, 1, count).await.unwrap(), count)
        }));
    }
    let mut ranges = Vec::new();
    for t in tasks {
        ranges.push(t.await.unwrap());
    }
    ranges.sort();
    assert_eq!(ranges[0].0, 0, "allocation starts at 0");
    for w in ranges.windows(2) {
        assert_eq!(w[0].0 + w[0].1, w[1].0, "ranges {w:?} overlap or leave a gap");
    }
    let total: u32 = ranges.iter().map(|r| r.1).sum();
    assert_eq!(a.allocate_seqs(device, 1, 1).await.unwrap(), total, "no number was lost");

    // Payments: the same 100 recorded by both replicas at once.
    let payments: Vec<PaymentRecord> = (0..100u64)
        .map(|i| PaymentRecord {
            payment_hash: rand::random(),
            amount_msat: 1_000 + i,
            paid_at: 1_700_000_000 + i,
            quote: None,
        })
        .collect();
    let mut tasks = Vec::new();
    for p in &payments {
        for store in [a.clone(), b.clone()] {
            let p = p.clone();
            tasks.push(tokio::spawn(async move {
                (p.payment_hash, store.record_payment(&p).await.unwrap())
            }));
        }
    }
    let mut firsts = std::collections::HashMap::new();
    for t in tasks {
        let (hash, inserted) = t.await.unwrap();
        *firsts.entry(hash).or_insert(0) += u32::from(inserted);
    }
    assert_eq!(firsts.len(), 100);
    assert!(firsts.values().all(|n| *n == 1), "each payment recorded exactly once: {firsts:?}");
    let stored = a.payments().await.unwrap();
    assert_eq!(stored, payments, "exactly the 100 payments, by time");

    // Sync: the same batch (same counter) from both replicas at once.
    let batch: Vec<SyncReport> = entries
        .iter()
        .map(|e| SyncReport { pool_id: pool.id, index: e.index, state: EntryState::Claimed })
        .collect();
    let (ra, rb) =
        tokio::join!(apply_reports(&a, device, 1, &batch), apply_reports(&b, device, 1, &batch));
    let applied = SyncOutcome { applied: 50, unchanged: 0, ignored_regressions: 0 };
    match (ra, rb) {
        (Ok(o), Err(SyncError::Replayed { counter: 1, last: 1 }))
        | (Err(SyncError::Replayed { counter: 1, last: 1 }), Ok(o)) => {
            assert_eq!(o, applied);
        }
        other => {
            panic!("same batch, same counter: expected one applied and one replay, got {other:?}")
        }
    }
    // …and with consecutive counters: whichever runs second finds nothing to do or is refused.
    let dispensed: Vec<SyncReport> =
        batch.iter().map(|r| SyncReport { state: EntryState::Dispensed, ..*r }).collect();
    let (ra, rb) = tokio::join!(
        apply_reports(&a, device, 2, &dispensed),
        apply_reports(&b, device, 3, &dispensed)
    );
    let moved = SyncOutcome { applied: 50, unchanged: 0, ignored_regressions: 0 };
    let nothing = SyncOutcome { applied: 0, unchanged: 50, ignored_regressions: 0 };
    match (ra, rb) {
        (Ok(x), Ok(y)) => assert_eq!((x, y), (moved, nothing), "2 then 3"),
        (Err(SyncError::Replayed { counter: 2, last: 3 }), Ok(y)) => assert_eq!(y, moved),
        other => panic!("consecutive counters: unexpected {other:?}"),
    }
    let states = a.entries(pool.id).await.unwrap();
    assert!(states.iter().all(|e| e.state == EntryState::Dispensed));
    assert_eq!(b.device(device).await.unwrap().unwrap().last_sync_counter, 3);
    eprintln!("two replicas took {:?}", started.elapsed());
    drop((a, b));
    db.drop_it().await;
}
