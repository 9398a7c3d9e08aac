//! `GET /v1/pools/expiring` and `expiring_pools` on SQLite.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use http_body_util::BodyExt;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::expiry::expiring_pools;
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::conformance::{enrol, sample_pool};
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_proto::ledger::EntryState;
use lnedge_wire::sync::SyncReport;
use serde_json::Value;
use tower::ServiceExt;

const DAY: u64 = 86_400;

fn now() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).expect("clock").as_secs()
}

async fn get(app: &axum::Router, uri: &str, auth: bool) -> (StatusCode, Value) {
    let mut req = Request::builder().uri(uri);
    if auth {
        req = req.header("authorization", "Bearer test-admin-token");
    }
    let res = app.clone().oneshot(req.body(Body::empty()).expect("request")).await.expect("ok");
    let status = res.status();
    let body = res.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&body).expect("JSON body"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn expiring_pools_are_listed() {
    let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::in_memory().expect("sqlite"));
    let s = store.as_ref();
    let now = now();
    let device = enrol(s).await;
    // A pool with `expires_in` days left and `n` entries.
    let pool = |expires_in: i64, n: u32| {
        let (mut pool, entries) = sample_pool(device, now - 30 * DAY, n);
        pool.expires_at = now.saturating_add_signed(expires_in * DAY as i64);
        (pool, entries)
    };
    let soon = pool(3, 4);
    let later = pool(20, 4);
    let expired = pool(-1, 2);
    let used_up = pool(2, 2);
    for (p, e) in [&soon, &later, &expired, &used_up] {
        store.insert_pool(p, e).await.expect("pool");
    }
    let reports: Vec<_> = [0, 1]
        .iter()
        .map(|&index| SyncReport { pool_id: used_up.0.id, index, state: EntryState::Dispensed })
        .chain([SyncReport { pool_id: soon.0.id, index: 0, state: EntryState::Claimed }])
        .collect();
    lnedge_gateway::sync::apply_reports(store.as_ref(), device, 1, &reports).await.expect("sync");
    // A disabled device's pools are not listed.
    let off = enrol(s).await;
    let (mut p, e) = sample_pool(off, now - 30 * DAY, 2);
    p.expires_at = now + DAY;
    store.insert_pool(&p, &e).await.expect("pool");
    store.set_device_enabled(off, false).await.expect("disable");

    let listed = expiring_pools(s, 7 * DAY, now).await.expect("expiring");
    let ids: Vec<_> = listed.iter().map(|p| p.pool_id).collect();
    assert_eq!(ids, vec![expired.0.id, soon.0.id], "soonest first");
    assert_eq!(listed[1].unused_entries, 3);
    assert_eq!(listed[1].expires_in_secs, 3 * DAY as i64);
    assert_eq!(listed[0].expires_in_secs, -(DAY as i64));

    let net = SandboxNetwork::new().await.expect("sandbox");
    let owner = net.add_node("owner").await.expect("owner");
    let app = app(AppState::new(
        store.clone(),
        owner,
        Arc::new(PoolKey::generate()),
        [0x42; 32],
        "test-admin-token",
    ));

    let (status, body) = get(&app, "/v1/pools/expiring", true).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let pools = body["pools"].as_array().expect("pools");
    assert_eq!(pools.len(), 2, "{body}");
    assert_eq!(pools[1]["pool_id"], soon.0.id.to_string());
    assert_eq!(pools[1]["device_id"], device.to_string());
    assert_eq!(pools[1]["unused_entries"], 3);
    assert_eq!(pools[1]["expires_at"], soon.0.expires_at);
    assert!(pools[1]["expires_in_secs"].as_i64().expect("secs") <= 3 * DAY as i64);

    let (_, body) = get(&app, "/v1/pools/expiring?within_days=30", true).await;
    let ids: Vec<_> =
        body["pools"].as_array().expect("pools").iter().map(|p| p["pool_id"].clone()).collect();
    assert_eq!(ids, vec![expired.0.id.to_string(), soon.0.id.to_string(), later.0.id.to_string()]);

    for bad in ["0", "366", "abc", "-1", "1.5", ""] {
        let (status, body) =
            get(&app, &format!("/v1/pools/expiring?within_days={bad}"), true).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}: {body}");
        assert_eq!(body["error"]["field"], "within_days", "{bad}: {body}");
        assert!(body["error"]["message"].as_str().expect("message").contains("within_days"));
    }
    let (status, body) = get(&app, "/v1/pools/expiring", false).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "{body}");
    net.shutdown().await;
}
