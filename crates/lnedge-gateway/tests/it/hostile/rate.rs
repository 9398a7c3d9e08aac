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
                .public_url("https://gw.test")
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

/// `GET /v1/auth/lnurl` writes a row per request: a client gets its budget (30 a minute by
/// default), then a JSON 429 that says when to retry, and no more rows.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn login_challenges_are_limited_per_client() {
    use axum::body::Body;
    use axum::http::{Request, StatusCode};
    use lnedge_gateway::api::{app, AppState};

    let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::in_memory().expect("store"));
    let clock = Arc::new(ManualClock::at(1_700_000_000));
    let (gateways, _net) = replicas(vec![store.clone()], clock.clone()).await;
    let budget = gateways[0].settings().refunds.auth_challenges.per_minute;
    let router = app(AppState::with_gateway(gateways[0].clone(), "0123456789abcdef0123"));
    let get = || Request::get("/v1/auth/lnurl").body(Body::empty()).expect("request");
    for i in 0..budget {
        let (status, body) = crate::support::call_json(&router, get()).await;
        assert_eq!(status, StatusCode::OK, "challenge {i}: {body}");
    }
    let (status, body) = crate::support::call_json(&router, get()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{body}");
    assert_eq!(body["error"]["code"], "too_many_requests", "{body}");
    assert!(
        body["error"]["message"].as_str().is_some_and(|m| m.contains("try again in")),
        "{body}"
    );
    // Only the budget's rows were written: a purge long after removes exactly that many.
    clock.advance(86_400);
    assert_eq!(gateways[0].refunds().purge_expired_auth().await.expect("purge"), u64::from(budget));
}
