//! Two gateway replicas (two app instances, each with its own connection pool) on one
//! PostgreSQL database: concurrent provisioning never issues a sequence number twice, a sync
//! applies once, a payment counts once.

use std::collections::HashSet;
use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::postgres::PostgresStore;
use lnedge_gateway::store::{GatewayStore, PaymentRecord};
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_proto::ledger::EntryState;
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sync::{SignedUpload, SyncReport, SyncRequest};
use serde_json::json;

const TOKEN: &str = "replica-test-admin-token";

use crate::support::call_bytes as call;

fn admin(method: &str, uri: &str, body: String) -> Request<Body> {
    Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::from(body))
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs PostgreSQL: set DATABASE_URL (run by .ci/run)"]
async fn two_gateway_replicas_on_one_postgres() {
    let db = crate::store::TestDatabase::create().await;
    let net = SandboxNetwork::new().await.expect("network");
    let owner = net.add_node("owner").await.expect("owner");
    let pool_key = Arc::new(PoolKey::generate());
    let master = [9u8; 32];
    let mut stores: Vec<Arc<dyn GatewayStore>> = Vec::new();
    let mut routers = Vec::new();
    for _ in 0..2 {
        let store: Arc<dyn GatewayStore> =
            Arc::new(PostgresStore::connect(&db.url).await.expect("replica store"));
        stores.push(store.clone());
        routers.push(app(AppState::new(store, owner.clone(), pool_key.clone(), master, TOKEN)));
    }
    let device = DeviceId(rand::random());
    let enrol = json!({
        "device_id": device.to_string(), "name": "shared",
        "products": [{"id": 1, "description": "a", "price_msat": 1000}, {"id": 2, "description": "b", "price_msat": 2000}],
    });
    let (status, _) = call(&routers[0], admin("POST", "/v1/devices", enrol.to_string())).await;
    assert_eq!(status, StatusCode::CREATED);

    // Ten provisioning requests, five through each replica, all at once.
    let mut tasks = Vec::new();
    for i in 0..10 {
        let router = routers[i % 2].clone();
        tasks.push(tokio::spawn(async move {
            let ask = r#"{"entries_per_product": 3, "expiry_days": 30}"#.to_owned();
            call(&router, admin("POST", &format!("/v1/devices/{device}/pools"), ask)).await
        }));
    }
    for task in tasks {
        let (status, body) = task.await.expect("join");
        assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    }
    // No sequence number (so no preimage) was issued twice.
    let pools = stores[1].pools(device).await.expect("pools");
    assert_eq!(pools.len(), 10);
    let mut seqs = HashSet::new();
    let mut hashes = HashSet::new();
    let mut first_pool_entries = Vec::new();
    for pool in &pools {
        let entries = stores[0].entries(pool.id).await.expect("entries");
        for e in &entries {
            assert!(
                seqs.insert((e.product, e.seq)),
                "seq {} of product {} issued twice",
                e.seq,
                e.product
            );
            assert!(hashes.insert(e.payment_hash), "a payment hash issued twice");
        }
        if first_pool_entries.is_empty() {
            first_pool_entries = entries;
        }
    }
    assert_eq!(seqs.len(), 60);

    // The same signed sync sent to both replicas at once applies exactly once.
    let pool_id = first_pool_entries[0].pool_id;
    let SignedUpload { body, signature } = SyncRequest::new(
        1,
        first_pool_entries.iter().map(|e| SyncReport {
            pool_id,
            index: e.index,
            state: EntryState::Dispensed,
        }),
    )
    .signed(&device_sync_key(&master, &device));
    let mut tasks = Vec::new();
    for router in &routers {
        let (router, body, signature) = (router.clone(), body.clone(), signature.clone());
        tasks.push(tokio::spawn(async move {
            let request = Request::builder()
                .method("POST")
                .uri(format!("/v1/devices/{device}/sync"))
                .header("x-lnedge-signature", signature)
                .body(Body::from(body))
                .expect("request");
            call(&router, request).await.0
        }));
    }
    let mut statuses = Vec::new();
    for task in tasks {
        statuses.push(task.await.expect("join"));
    }
    statuses.sort();
    assert_eq!(statuses, [StatusCode::OK, StatusCode::CONFLICT], "one applies, one is a replay");

    // Both replicas' watchers see the same settlement: it is counted once.
    let payment = PaymentRecord {
        payment_hash: first_pool_entries[0].payment_hash,
        amount_msat: 1000,
        paid_at: 1,
        quote: None,
    };
    let (a, b) =
        tokio::join!(stores[0].record_payment(&payment), stores[1].record_payment(&payment));
    assert_eq!([a.expect("a"), b.expect("b")].iter().filter(|x| **x).count(), 1);
    let (status, report) =
        call(&routers[1], admin("GET", "/v1/reports/sales", String::new())).await;
    assert_eq!(status, StatusCode::OK);
    let report: serde_json::Value = serde_json::from_slice(&report).expect("json");
    let delivered = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .filter(|r| r["status"] == "delivered")
        .count();
    assert_eq!(delivered, 1, "the payment is counted once: {report}");
    net.shutdown().await;
    db.drop_it().await;
}
