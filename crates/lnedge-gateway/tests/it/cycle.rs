//! The whole cycle on the sandbox network: provisioning over the API → offline sales at a
//! vending machine → the gateway records the node's payments → the device syncs its ledger →
//! the sales report. Run on SQLite (always) and PostgreSQL (CI).

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lnedge_device::claim::ClaimInput;
use lnedge_device::{Enrolment, SimulatedMotor, VendOutcome, VendingMachine};
use lnedge_gateway::accounting::FixedRates;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::watcher::{Handled, PaymentWatcher};
use lnedge_gateway::GatewayBuilder;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_node::{parse_invoice, LightningBackend, PayRequest};
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sync::SignedUpload;
use serde_json::{json, Value};

const TOKEN: &str = "cycle-test-admin-token";

use crate::support::call_bytes as call;

fn admin(method: &str, uri: &str, body: Option<Value>) -> Request<Body> {
    let builder = Request::builder()
        .method(method)
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .header("content-type", "application/json");
    builder.body(body.map_or(Body::empty(), |b| Body::from(b.to_string()))).expect("request")
}

fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// The cycle on `store`.
pub(crate) async fn full_cycle(store: Arc<dyn GatewayStore>) {
    let net = SandboxNetwork::new().await.expect("network");
    let [customer, owner] = net.line(["customer", "owner"], 4_000_000).await.expect("line");
    let master = [7u8; 32];
    let rates = Arc::new(FixedRates::new([("EUR".to_owned(), 60_000.0)]));
    let gateway =
        GatewayBuilder::new(store.clone(), owner.clone(), Arc::new(PoolKey::generate()), master)
            .rates(rates.clone())
            .refund_url_base("https://gateway.example/v1/refunds")
            .build();
    let state = AppState::with_gateway(gateway, TOKEN);
    let router = app(state);
    let device = DeviceId(rand::random());

    // 1. The operator enrols the machine and provisions a pool over the API.
    let (status, body) = call(
        &router,
        admin(
            "POST",
            "/v1/devices",
            Some(json!({
                "device_id": device.to_string(),
                "name": "Lobby",
                "products": [
                    {"id": 1, "description": "Cola", "price_msat": 2_500_000},
                    {"id": 2, "description": "Crisps", "price": {"currency": "EUR", "amount_minor": 120}},
                ],
            })),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let (status, body) = call(
        &router,
        admin(
            "POST",
            &format!("/v1/devices/{device}/pools"),
            Some(json!({"entries_per_product": 3, "expiry_days": 30})),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&body));
    let pool = json_of(&body);
    let pool_id = pool["pool_id"].as_str().expect("pool id").to_owned();
    let (status, pool_bytes) =
        call(&router, admin("GET", &format!("/v1/devices/{device}/pools/{pool_id}/file"), None))
            .await;
    assert_eq!(status, StatusCode::OK);

    // 2. The machine installs it and sells offline.
    let owner_id = owner.node_id().serialize();
    let dir = tempfile::tempdir().expect("dir");
    let enrolment = Enrolment { device_id: device, owner_node_id: owner_id };
    let mut machine =
        VendingMachine::enrol(dir.path(), enrolment, SimulatedMotor::default()).expect("enrol");
    machine.install_pool(pool_bytes).expect("install");
    let mut sell = async |product: u16, jam: bool, claim: bool| {
        let offer = machine.offer(product).expect("offer");
        let invoice = parse_invoice(&offer.bolt11).expect("bolt11");
        let request = PayRequest {
            invoice,
            amount_msat: None,
            max_fee_msat: 10_000,
            timeout: Duration::from_secs(30),
            max_total_cltv_expiry_delta: None,
        };
        let preimage = customer.pay(request).await.expect("paid").preimage;
        if jam {
            machine.dispenser_mut().jam_next(1);
        }
        if claim {
            Some(machine.present(ClaimInput::Text(&hex::encode(preimage.0))).expect("claim"))
        } else {
            None
        }
    };
    assert!(matches!(sell(1, false, true).await, Some(VendOutcome::Dispensed { .. })));
    assert!(matches!(sell(2, true, true).await, Some(VendOutcome::Failed { .. })));
    assert!(sell(1, false, false).await.is_none(), "paid, walked away");

    // 3. The gateway records the node's settled payments (EUR rate at payment time).
    let watcher = PaymentWatcher {
        store: store.clone(),
        owner: owner.clone(),
        rates,
        accounting_currency: Some("EUR".into()),
    };
    let mut recorded = 0;
    while recorded < 3 {
        let q = tokio::time::timeout(Duration::from_secs(30), owner.next_event())
            .await
            .expect("events in time")
            .expect("event");
        if watcher.handle(&q.event).await.expect("handled") == Handled::Recorded {
            recorded += 1;
        }
        owner.event_handled(q.id).await.expect("ack");
    }

    // 4. The machine is serviced: its ledger goes to the gateway, signed.
    let batch = machine.sync_batch().expect("batch");
    // The device signs its own upload (lnedge-device + lnedge-wire): no gateway code involved.
    let SignedUpload { body, signature } = batch.signed(&device_sync_key(&master, &device));
    let sync = |body: Vec<u8>, signature: String| {
        Request::builder()
            .method("POST")
            .uri(format!("/v1/devices/{device}/sync"))
            .header("x-lnedge-signature", signature)
            .body(Body::from(body))
            .expect("request")
    };
    let (status, reply) = call(&router, sync(body.clone(), signature.clone())).await;
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&reply));
    assert_eq!(json_of(&reply)["applied"], 3, "offered+claimed: three entries moved");
    // The same upload again is a replay: refused, nothing changes.
    let (status, _) = call(&router, sync(body, signature)).await;
    assert_eq!(status, StatusCode::CONFLICT);

    // 5. The books.
    let (status, report) = call(&router, admin("GET", "/v1/reports/sales", None)).await;
    assert_eq!(status, StatusCode::OK);
    let report = json_of(&report);
    let mut statuses: Vec<String> = report["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .map(|r| r["status"].as_str().expect("status").to_owned())
        .collect();
    statuses.sort();
    assert_eq!(statuses, ["delivered", "paid_not_claimed", "refund_due"], "{report}");
    let (status, csv) = call(&router, admin("GET", "/v1/reports/sales.csv", None)).await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(csv).expect("utf-8");
    assert_eq!(csv.lines().count(), 4, "header + 3 rows: {csv}");
    assert!(csv.contains(",refund_due,"), "{csv}");
    assert!(csv.contains(",EUR,"), "fiat at the rate of payment time: {csv}");
    net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn full_cycle_on_sqlite() {
    let dir = tempfile::tempdir().expect("dir");
    let store = lnedge_gateway::store::sqlite::SqliteStore::open(&dir.path().join("gw.sqlite3"))
        .expect("sqlite");
    full_cycle(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DATABASE_URL (run by .ci/run)"]
async fn full_cycle_on_postgres() {
    let db = crate::store::TestDatabase::create().await;
    let store =
        lnedge_gateway::store::postgres::PostgresStore::connect(&db.url).await.expect("postgres");
    full_cycle(Arc::new(store)).await;
    db.drop_it().await;
}
