//! Rate limits that hold across replicas (issue #12 item 4): a client's budget is one budget,
//! however many gateway replicas share the database. Found before: the limiters were in memory,
//! per replica, and `GET /v1/auth/lnurl` had none.

use std::sync::Arc;

use lnedge_gateway::clock::ManualClock;
use lnedge_gateway::limits::{Budget, LimitError};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::postgres::PostgresStore;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::{Gateway, GatewayBuilder};
use lnedge_node::sandbox::SandboxNetwork;

/// `replicas` gateways, one per store, on one clock.
async fn replicas(
    stores: Vec<Arc<dyn GatewayStore>>,
    clock: Arc<ManualClock>,
) -> (Vec<Gateway>, SandboxNetwork) {
    let net = SandboxNetwork::new().await.expect("sandbox");
    let owner = net.add_node("owner").await.expect("owner");
    let key = Arc::new(PoolKey::generate());
    let gateways = stores
        .into_iter()
        .map(|store| {
            GatewayBuilder::new(store, owner.clone(), key.clone(), [3; 32])
                .clock(clock.clone())
                .build()
        })
        .collect();
    (gateways, net)
}

/// 40 requests of one client at once, spread over the replicas, on a budget of 10 a minute:
/// exactly 10 pass; another client is unaffected; a minute later the budget is back.
async fn one_budget_across(gateways: &[Gateway], clock: &ManualClock) {
    let budget = Budget::per_minute(10);
    let mut tasks = Vec::new();
    for i in 0..40 {
        let gateway = gateways[i % gateways.len()].clone();
        tasks.push(tokio::spawn(async move {
            gateway.limits().spend("auth-challenge", "203.0.113.7", budget).await
        }));
    }
    let mut passed = 0;
    for task in tasks {
        match task.await.expect("join") {
            Ok(()) => passed += 1,
            Err(LimitError::Limited(l)) => assert!(l.retry_after_secs >= 1, "{l}"),
            Err(LimitError::Store(e)) => panic!("store: {e}"),
        }
    }
    assert_eq!(passed, 10, "one budget for the client, whatever replica it reached");
    gateways[0]
        .limits()
        .spend("auth-challenge", "198.51.100.1", budget)
        .await
        .expect("another client");
    clock.advance(60);
    for _ in 0..10 {
        gateways[1]
            .limits()
            .spend("auth-challenge", "203.0.113.7", budget)
            .await
            .expect("refilled");
    }
    assert!(gateways[0].limits().spend("auth-challenge", "203.0.113.7", budget).await.is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn a_clients_budget_holds_across_replicas_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("gw.sqlite3");
    let stores: Vec<Arc<dyn GatewayStore>> = (0..2)
        .map(|_| Arc::new(SqliteStore::open(&path).expect("store")) as Arc<dyn GatewayStore>)
        .collect();
    let clock = Arc::new(ManualClock::at(1_700_000_000));
    let (gateways, _net) = replicas(stores, clock.clone()).await;
    one_budget_across(&gateways, &clock).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set DATABASE_URL (run by .ci/run)"]
async fn a_clients_budget_holds_across_replicas_on_postgres() {
    let db = crate::store::TestDatabase::create().await;
    let mut stores: Vec<Arc<dyn GatewayStore>> = Vec::new();
    for _ in 0..2 {
        stores.push(Arc::new(PostgresStore::connect(&db.url).await.expect("replica store")));
    }
    let clock = Arc::new(ManualClock::at(1_700_000_000));
    let (gateways, _net) = replicas(stores, clock.clone()).await;
    one_budget_across(&gateways, &clock).await;
}
