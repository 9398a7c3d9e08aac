//! The HTTP API through `oneshot` (no sockets), with a real sandbox owner node for provisioning.
//!
//! [`suite`] takes any [`GatewayStore`]: it runs on SQLite (always) and PostgreSQL (CI).

use std::sync::Arc;

use axum::body::Body;
use axum::http::{header, HeaderMap, Method, Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use lnedge_gateway::accounting::FixedRates;
use lnedge_gateway::api::{app, openapi_document, routes, Access, AppState, Metrics};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::{GatewayStore, PaymentRecord};
use lnedge_gateway::GatewayBuilder;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_proto::ledger::EntryState;
use lnedge_proto::pool::Pool;
use lnedge_proto::{DeviceId, PoolId};
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sign::sign_body as sign_sync;
use serde_json::{json, Value};
use tower::ServiceExt;

const TOKEN: &str = "test-admin-token";
const MASTER: [u8; 32] = [0x42; 32];
const DEVICE: &str = "0123456789abcdef0123456789abcdef";

struct Resp {
    status: StatusCode,
    headers: HeaderMap,
    body: Vec<u8>,
}

impl Resp {
    fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!("not JSON ({e}): {:?} {}", self.status, String::from_utf8_lossy(&self.body))
        })
    }

    /// The error code of a JSON error body (and checks it is one).
    fn code(&self) -> String {
        let v = self.json();
        assert!(v["error"]["message"].is_string(), "error body without message: {v}");
        v["error"]["code"].as_str().expect("error code").to_owned()
    }
}

async fn send(
    app: &Router,
    method: Method,
    uri: &str,
    headers: &[(&str, &str)],
    body: Vec<u8>,
) -> Resp {
    let mut req = Request::builder().method(method).uri(uri);
    for (k, v) in headers {
        req = req.header(*k, *v);
    }
    let res = app
        .clone()
        .oneshot(req.body(Body::from(body)).expect("request"))
        .await
        .expect("infallible");
    let status = res.status();
    let headers = res.headers().clone();
    let body = res.into_body().collect().await.expect("body").to_bytes().to_vec();
    Resp { status, headers, body }
}

const AUTH: (&str, &str) = ("authorization", "Bearer test-admin-token");
const JSON_CT: (&str, &str) = ("content-type", "application/json");

async fn admin_get(app: &Router, uri: &str) -> Resp {
    send(app, Method::GET, uri, &[AUTH], Vec::new()).await
}

async fn admin_post(app: &Router, uri: &str, body: Value) -> Resp {
    send(app, Method::POST, uri, &[AUTH, JSON_CT], body.to_string().into_bytes()).await
}

async fn sync(app: &Router, device: &str, body: &[u8]) -> Resp {
    let id = DeviceId(hex::decode(device).expect("hex").try_into().expect("16 bytes"));
    let sig = sign_sync(&device_sync_key(&MASTER, &id), body);
    let uri = format!("/v1/devices/{device}/sync");
    send(app, Method::POST, &uri, &[JSON_CT, ("x-lnedge-signature", &sig)], body.to_vec()).await
}

fn enrol_body(device: &str) -> Value {
    json!({
        "device_id": device,
        "name": "Lobby machine",
        "products": [
            { "id": 1, "description": "cola", "price_msat": 2_500_000 },
            { "id": 2, "description": "crisps", "price": { "currency": "eur", "amount_minor": 150 } },
        ],
    })
}

/// The API's behaviour on any store. Call it with a fresh, empty store.
pub(crate) async fn suite(store: Arc<dyn GatewayStore>) {
    let net = SandboxNetwork::new().await.expect("sandbox network");
    let owner = net.add_node("owner").await.expect("owner node");
    let metrics = Arc::new(Metrics::new());
    let gateway = GatewayBuilder::new(store.clone(), owner, Arc::new(PoolKey::generate()), MASTER)
        .rates(Arc::new(FixedRates::new([("EUR".to_owned(), 60_000.0)])))
        .refund_url_base("https://gateway.example/refund")
        .build();
    let app = app(AppState { metrics: metrics.clone(), ..AppState::with_gateway(gateway, TOKEN) });

    // Ops.
    let r = send(&app, Method::GET, "/healthz", &[], Vec::new()).await;
    assert_eq!((r.status, r.json()["status"].as_str()), (StatusCode::OK, Some("ok")));

    // Enrol.
    let r = admin_post(&app, "/v1/devices", enrol_body(DEVICE)).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", r.json());
    let d = r.json();
    assert_eq!(d["device_id"], DEVICE);
    assert_eq!(d["enabled"], true);
    assert_eq!(d["products"][1]["price"]["currency"], "EUR");
    let r = admin_post(&app, "/v1/devices", enrol_body(DEVICE)).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "duplicate_device"));
    let r = admin_get(&app, "/v1/devices").await;
    assert_eq!(r.json()["devices"].as_array().map(Vec::len), Some(1));

    // Provision: 2 entries per product, the EUR product converted at 60 000 EUR/BTC.
    let uri = format!("/v1/devices/{DEVICE}/pools");
    let r = admin_post(&app, &uri, json!({ "entries_per_product": 2, "expiry_days": 30 })).await;
    assert_eq!(r.status, StatusCode::CREATED, "{}", String::from_utf8_lossy(&r.body));
    let p = r.json();
    assert_eq!(p["entries"], 4);
    // 1.50 EUR at 60 000 EUR/BTC = 2 500 sat.
    assert_eq!(p["products"][1]["price_msat"], 2_500_000);
    let pool_id = p["pool_id"].as_str().expect("pool id").to_owned();

    // The pool file.
    let r = admin_get(&app, &format!("/v1/devices/{DEVICE}/pools/{pool_id}/file")).await;
    assert_eq!(r.status, StatusCode::OK);
    assert_eq!(r.headers[header::CONTENT_TYPE], "application/octet-stream");
    assert_eq!(Some(r.body.len() as u64), p["bytes"].as_u64());
    let pool = Pool::parse(&r.body).expect("the pool file parses");
    assert_eq!(pool.len(), 4);
    assert_eq!(pool.pool_id().to_string(), pool_id);
    let r = admin_get(&app, &format!("/v1/devices/{DEVICE}/pools/00000000000000ff/file")).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "unknown_pool"));

    // A payment settles for entry 0 (the payment watcher's job; recorded directly here).
    let paid = pool.entry(0).expect("entry 0");
    let pid = PoolId(hex::decode(&pool_id).expect("hex").try_into().expect("8 bytes"));
    store
        .record_payment(&PaymentRecord {
            payment_hash: *paid.payment_hash(),
            amount_msat: 2_500_000,
            paid_at: 1_700_000_000,
            quote: None,
        })
        .await
        .expect("record payment");

    // Signed sync.
    let body = json!({ "counter": 1, "reports": [
        { "pool_id": pool_id, "index": 0, "state": "dispensed" },
        { "pool_id": pool_id, "index": 1, "state": "offered" },
    ]})
    .to_string();
    let r = sync(&app, DEVICE, body.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK, "{}", String::from_utf8_lossy(&r.body));
    assert_eq!(r.json()["applied"], 2);
    let entries = store.entries(pid).await.expect("entries");
    assert_eq!(entries[0].state, EntryState::Dispensed);
    assert_eq!(entries[1].state, EntryState::Offered);
    // The same upload again is a replay: 409, nothing changes.
    let r = sync(&app, DEVICE, body.as_bytes()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "replayed_sync"));
    assert_eq!(store.entries(pid).await.expect("entries"), entries);
    // A newer upload that would move a state backward is applied without the regression.
    let body2 =
        json!({ "counter": 2, "reports": [{ "pool_id": pool_id, "index": 0, "state": "offered" }]});
    let r = sync(&app, DEVICE, body2.to_string().as_bytes()).await;
    assert_eq!(r.json()["ignored_regressions"], 1, "{}", r.json());
    let d = admin_get(&app, &format!("/v1/devices/{DEVICE}")).await.json();
    assert_eq!(d["last_sync_counter"], 2);
    assert_eq!(d["pools"][0]["by_state"]["dispensed"], 1);

    // Reports.
    let r = admin_get(&app, "/v1/reports/sales").await;
    assert_eq!(r.status, StatusCode::OK);
    let s = r.json();
    assert_eq!(s["rows"][0]["status"], "delivered", "{s}");
    assert_eq!(s["totals"]["amount_msat"], 2_500_000);
    assert_eq!(s["totals"]["by_device"][DEVICE]["amount_msat"], 2_500_000);
    assert_eq!(s["totals"]["by_product"][format!("{DEVICE}/1")]["amount_msat"], 2_500_000);
    let r = admin_get(&app, "/v1/reports/sales.csv").await;
    assert_eq!(r.status, StatusCode::OK);
    assert!(r.headers[header::CONTENT_TYPE].to_str().expect("ascii").starts_with("text/csv"));
    let csv = String::from_utf8(r.body).expect("utf-8");
    assert!(csv.starts_with("device_id,pool_id,entry"), "{csv}");
    assert!(csv.contains(",delivered,1700000000,2500000,"), "{csv}");

    error_paths(&app, &pool_id).await;

    // Disabled: no sync (403), no pools (409).
    let r = admin_post(&app, &format!("/v1/devices/{DEVICE}/disable"), json!({})).await;
    assert_eq!((r.status, &r.json()["enabled"]), (StatusCode::OK, &json!(false)));
    let body3 = json!({ "counter": 3, "reports": [] }).to_string();
    let r = sync(&app, DEVICE, body3.as_bytes()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::FORBIDDEN, "device_disabled"));
    let r = admin_post(&app, &uri, json!({ "entries_per_product": 1, "expiry_days": 30 })).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::CONFLICT, "device_disabled"));
    let r = admin_post(&app, &format!("/v1/devices/{DEVICE}/enable"), json!({})).await;
    assert_eq!(r.json()["enabled"], true);
    let r = sync(&app, DEVICE, body3.as_bytes()).await;
    assert_eq!(r.status, StatusCode::OK);

    // A fiat product without a configured rate: 422, naming the currency.
    let other = "ffeeddccbbaa99887766554433221100";
    let mut b = enrol_body(other);
    b["products"][1]["price"]["currency"] = json!("JPY");
    assert_eq!(admin_post(&app, "/v1/devices", b).await.status, StatusCode::CREATED);
    let r = admin_post(
        &app,
        &format!("/v1/devices/{other}/pools"),
        json!({ "entries_per_product": 1, "expiry_days": 30 }),
    )
    .await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "rate_unavailable")
    );
    assert!(r.json()["error"]["message"].as_str().expect("msg").contains("JPY"));
    // Another device may not report this device's pool.
    let body =
        json!({ "counter": 1, "reports": [{ "pool_id": pool_id, "index": 0, "state": "claimed" }]});
    let r = sync(&app, other, body.to_string().as_bytes()).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, "pool_of_another_device")
    );

    // Every documented route answers (never the router's "no such route"), and is documented.
    let doc = openapi_document();
    let served = send(&app, Method::GET, "/openapi.json", &[], Vec::new()).await.json();
    assert_eq!(served, doc);
    for r in routes() {
        let (method, path) = (r.method, r.path);
        assert!(doc["paths"][path][method].is_object(), "{method} {path} is not documented");
        let uri = path.replace("{id}", DEVICE).replace("{pool_id}", &pool_id);
        let m = Method::from_bytes(method.to_uppercase().as_bytes()).expect("method");
        let resp = send(&app, m.clone(), &uri, &[AUTH, JSON_CT], b"{}".to_vec()).await;
        assert!(
            resp.status != StatusCode::NOT_FOUND || resp.json()["error"]["code"] != "not_found",
            "{method} {path} is not routed"
        );
        // The documented access is the real one: without credentials an admin route refuses,
        // an open route never asks for them.
        let bare = send(&app, m, &uri, &[JSON_CT], b"{}".to_vec()).await;
        match r.access {
            Access::Admin => {
                assert_eq!(bare.status, StatusCode::UNAUTHORIZED, "{method} {path} is admin");
                assert!(doc["paths"][path][method]["security"][0]["admin"].is_array());
            }
            Access::Open => {
                assert_ne!(bare.status, StatusCode::UNAUTHORIZED, "{method} {path} is open");
                assert!(doc["paths"][path][method]["security"].is_null());
                assert!(
                    bare.headers.get("access-control-allow-origin").is_none(),
                    "{method} {path} is not an LNURL route: no CORS"
                );
            }
            Access::Wallet => {
                assert_ne!(bare.status, StatusCode::UNAUTHORIZED, "{method} {path} is open");
                assert_eq!(
                    bare.headers.get("access-control-allow-origin").map(|v| v.as_bytes()),
                    Some(&b"*"[..]),
                    "LUD-01 CORS on {method} {path}"
                );
            }
            Access::DeviceSigned | Access::Session | Access::PayeeSigned => {
                assert_eq!(
                    bare.status,
                    StatusCode::UNAUTHORIZED,
                    "{method} {path} needs a credential"
                );
            }
        }
    }
    let distinct: std::collections::BTreeSet<&str> = routes().map(|r| r.path).collect();
    assert_eq!(doc["paths"].as_object().map(|p| p.len()), Some(distinct.len()), "distinct paths");

    // Metrics: request counters by route template and status, sync outcomes.
    let r = send(&app, Method::GET, "/metrics", &[], Vec::new()).await;
    assert_eq!(r.status, StatusCode::OK);
    let text = String::from_utf8(r.body).expect("utf-8");
    assert!(
        text.contains(r#"lnedge_gateway_http_requests_total{method="POST",route="/v1/devices",status="201"} 2"#),
        "{text}"
    );
    assert!(text.contains(r#"route="/v1/devices/{id}/sync",status="409""#), "{text}");
    assert!(text.contains(r#"lnedge_gateway_syncs_total{outcome="replayed"} 1"#), "{text}");
    assert!(text.contains(r#"lnedge_gateway_syncs_total{outcome="applied"}"#), "{text}");
    net.shutdown().await;
}

async fn error_paths(app: &Router, pool_id: &str) {
    // Admin token: missing, wrong.
    let r = send(app, Method::GET, "/v1/devices", &[], Vec::new()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "missing_token"));
    let r = send(app, Method::GET, "/v1/devices", &[("authorization", "Bearer nope")], Vec::new())
        .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "bad_token"));
    // The admin token is not a device signature, and vice versa.
    let r = send(
        app,
        Method::POST,
        "/v1/devices",
        &[JSON_CT],
        enrol_body(DEVICE).to_string().into_bytes(),
    )
    .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);

    // Malformed JSON: 400 with a JSON body.
    let r = send(app, Method::POST, "/v1/devices", &[AUTH, JSON_CT], b"{\"device_id\": ".to_vec())
        .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "malformed_json"));
    // Missing field: named.
    let r = admin_post(app, "/v1/devices", json!({ "device_id": DEVICE, "products": [] })).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "invalid_field"));
    assert_eq!(r.json()["error"]["field"], "name", "{}", r.json());
    // Bad field: named with its path.
    let mut b = enrol_body("aa".repeat(16).as_str());
    b["products"][0]["price_msat"] = json!("lots");
    let r = admin_post(app, "/v1/devices", b).await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("products[0].price_msat"))
    );
    let mut b = enrol_body("aa".repeat(16).as_str());
    b["device_id"] = json!("xyz");
    let r = admin_post(app, "/v1/devices", b).await;
    assert_eq!(r.json()["error"]["field"], "device_id");
    let r = admin_post(
        app,
        &format!("/v1/devices/{DEVICE}/pools"),
        json!({ "entries_per_product": 0, "expiry_days": 30 }),
    )
    .await;
    assert_eq!(
        (r.status, r.json()["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("entries_per_product"))
    );

    // Unknown device: 404, with the id in the message.
    let unknown = "00".repeat(16);
    let r = admin_get(app, &format!("/v1/devices/{unknown}")).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "unknown_device"));
    assert!(r.json()["error"]["message"].as_str().expect("msg").contains(&unknown));
    let r = sync(app, &unknown, b"{\"counter\":9,\"reports\":[]}").await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "unknown_device"));
    let r = admin_get(app, "/v1/devices/not-hex").await;
    assert_eq!(r.status, StatusCode::BAD_REQUEST);
    let r = admin_get(app, "/v1/nowhere").await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "not_found"));
    let r = send(app, Method::DELETE, "/v1/devices", &[AUTH], Vec::new()).await;
    assert_eq!(
        (r.status, r.code().as_str()),
        (StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed")
    );

    // Device signatures: missing, wrong key, signature of another body.
    let body = json!({ "counter": 50, "reports": [] }).to_string();
    let uri = format!("/v1/devices/{DEVICE}/sync");
    let r = send(app, Method::POST, &uri, &[JSON_CT], body.clone().into_bytes()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "missing_signature"));
    let wrong = sign_sync(&[0; 32], body.as_bytes());
    let r = send(
        app,
        Method::POST,
        &uri,
        &[JSON_CT, ("x-lnedge-signature", &wrong)],
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "bad_signature"));
    let id = DeviceId(hex::decode(DEVICE).expect("hex").try_into().expect("16"));
    let sig = sign_sync(&device_sync_key(&MASTER, &id), b"{\"counter\":51,\"reports\":[]}");
    let r = send(
        app,
        Method::POST,
        &uri,
        &[JSON_CT, ("x-lnedge-signature", &sig)],
        body.clone().into_bytes(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "bad_signature"));
    let r =
        send(app, Method::POST, &uri, &[JSON_CT, ("x-lnedge-signature", "zz")], body.into_bytes())
            .await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    // Signed but malformed: 400 naming the field; nothing applied (the counter stays).
    let bad =
        json!({ "counter": 60, "reports": [{ "pool_id": pool_id, "index": 0, "state": "eaten" }]});
    let r = sync(app, DEVICE, bad.to_string().as_bytes()).await;
    assert_eq!(r.json()["error"]["field"], "reports[0].state", "{}", r.json());
    let r = sync(app, DEVICE, b"not json").await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "malformed_json"));
    let r = sync(
        app,
        DEVICE,
        br#"{"counter":61,"reports":[{"pool_id":"00000000000000ff","index":0,"state":"offered"}]}"#,
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "unknown_pool"));
    let r = sync(app, DEVICE, format!(r#"{{"counter":62,"reports":[{{"pool_id":"{pool_id}","index":999,"state":"offered"}}]}}"#).as_bytes()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNPROCESSABLE_ENTITY, "unknown_entry"));

    // Oversize body: 413, JSON.
    let big = vec![b' '; 300 * 1024];
    let r = send(app, Method::POST, "/v1/devices", &[AUTH, JSON_CT], big.clone()).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"));
    let r = sync(app, DEVICE, &big).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::PAYLOAD_TOO_LARGE, "body_too_large"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn api_on_sqlite() {
    let store = lnedge_gateway::store::sqlite::SqliteStore::in_memory().expect("sqlite");
    suite(Arc::new(store)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL: set DATABASE_URL (run by .ci/run)"]
async fn api_on_postgres() {
    let db = crate::store::TestDatabase::create().await;
    let store =
        lnedge_gateway::store::postgres::PostgresStore::connect(&db.url).await.expect("postgres");
    suite(Arc::new(store)).await;
    db.drop_it().await;
}

/// A store failure is an opaque 500 (detail logged, never sent) and a 503 health check; no key or
/// path leaks into the body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn store_failures_are_opaque_500s() {
    let net = SandboxNetwork::new().await.expect("sandbox network");
    net.add_node("owner").await.expect("owner node");
    let store: Arc<dyn GatewayStore> = Arc::new(crate::broken_store::BrokenStore);
    let app = app(app_state_of(&store, &net));
    let r = send(
        &app,
        Method::GET,
        "/v1/devices",
        &[("authorization", "bearer test-admin-token")],
        Vec::new(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::INTERNAL_SERVER_ERROR, "internal"));
    assert!(
        !String::from_utf8_lossy(&r.body).contains("secret"),
        "{}",
        String::from_utf8_lossy(&r.body)
    );
    let r = send(&app, Method::GET, "/healthz", &[], Vec::new()).await;
    assert_eq!(
        (r.status, r.json()["status"].as_str()),
        (StatusCode::SERVICE_UNAVAILABLE, Some("unavailable"))
    );
    // An empty admin token refuses everything rather than accepting an empty bearer.
    let open = lnedge_gateway::api::app(AppState {
        admin_token: String::new(),
        ..app_state_of(&store, &net)
    });
    let r =
        send(&open, Method::GET, "/v1/devices", &[("authorization", "Bearer ")], Vec::new()).await;
    assert_eq!(r.status, StatusCode::UNAUTHORIZED);
    net.shutdown().await;
}

fn app_state_of(store: &Arc<dyn GatewayStore>, net: &SandboxNetwork) -> AppState {
    AppState::new(
        store.clone(),
        net.node("owner").expect("owner"),
        Arc::new(PoolKey::generate()),
        MASTER,
        TOKEN,
    )
}

/// The sandbox wallet's routes are routed only when the state has a wallet, need the admin
/// token, are not in the OpenAPI document, and refuse bad input with the usual error body.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sandbox_wallet_routes_exist_only_with_a_wallet() {
    use lnedge_gateway::sandbox_wallet::SandboxWallet;
    let net = SandboxNetwork::new().await.expect("sandbox network");
    net.add_node("owner").await.expect("owner node");
    let wallet = net.add_node("wallet").await.expect("wallet node");
    let store: Arc<dyn GatewayStore> =
        Arc::new(lnedge_gateway::store::sqlite::SqliteStore::in_memory().expect("sqlite"));
    let auth = ("authorization", "Bearer test-admin-token");
    let pay = |app: Router, headers: Vec<(&'static str, &'static str)>, body: Value| async move {
        send(&app, Method::POST, "/v1/sandbox/wallet/pay", &headers, body.to_string().into_bytes())
            .await
    };
    let without = app(app_state_of(&store, &net));
    let r = pay(without, vec![auth, JSON_CT], json!({"invoice": "hello"})).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::NOT_FOUND, "not_found"));
    assert!(lnedge_gateway::api::routes().all(|r| !r.path.starts_with("/v1/sandbox/")));
    let document = lnedge_gateway::api::openapi_document().to_string();
    assert!(!document.contains("/v1/sandbox/"), "not in the OpenAPI document");
    assert!(lnedge_gateway::api::sandbox_wallet_routes()
        .all(|r| r.summary.starts_with("Sandbox only") && r.access == Access::Admin));

    let with = app(AppState {
        sandbox_wallet: Some(Arc::new(SandboxWallet::new(
            wallet,
            zeroize::Zeroizing::new([1; 32]),
        ))),
        ..app_state_of(&store, &net)
    });
    let r = pay(with.clone(), vec![JSON_CT], json!({"invoice": "hello"})).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::UNAUTHORIZED, "missing_token"));
    let r = pay(with.clone(), vec![auth, JSON_CT], json!({"invoice": "hello"})).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "invalid_field"));
    assert_eq!(r.json()["error"]["field"], "invoice", "{}", r.json());
    let r = pay(with.clone(), vec![auth, JSON_CT], json!({"invoice": "lnbcrt1garbage"})).await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "invalid_field"));
    let r = send(
        &with,
        Method::POST,
        "/v1/sandbox/wallet/withdraw",
        &[auth, JSON_CT],
        json!({"lnurl": "http://127.0.0.1:1/nothing"}).to_string().into_bytes(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_GATEWAY, "service_unreachable"));
    let r = send(
        &with,
        Method::POST,
        "/v1/sandbox/wallet/login",
        &[auth, JSON_CT],
        json!({"lnurl": "http://127.0.0.1:1/auth?tag=withdraw&k1=00"}).to_string().into_bytes(),
    )
    .await;
    assert_eq!((r.status, r.code().as_str()), (StatusCode::BAD_REQUEST, "invalid_field"));
    net.shutdown().await;
}

/// The CSV report is written a chunk at a time (64 KiB) while the store reads: over many chunks
/// it says exactly what the collected report says, row for row, on a file store (whose report
/// is read on a read-only connection).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_streamed_csv_says_what_the_collected_books_say() {
    use lnedge_gateway::store::conformance::device_with_pool;
    let dir = tempfile::tempdir().expect("temp dir");
    let store: Arc<dyn GatewayStore> = Arc::new(
        lnedge_gateway::store::sqlite::SqliteStore::open(&dir.path().join("gateway.sqlite3"))
            .expect("sqlite"),
    );
    for _ in 0..3 {
        let (_, _, entries) = device_with_pool(store.as_ref(), 1_000).await;
        // Two in three paid (rows `paid_not_claimed`); the others are not sales.
        for (i, entry) in entries.iter().enumerate().filter(|(i, _)| i % 3 != 0) {
            let payment = PaymentRecord {
                payment_hash: entry.payment_hash,
                amount_msat: entry.amount_msat,
                paid_at: 1_700_000_000 + i as u64,
                quote: None,
            };
            store.record_payment(&payment).await.expect("record payment");
        }
    }
    let net = SandboxNetwork::new().await.expect("sandbox network");
    net.add_node("owner").await.expect("owner node");
    let app = app(app_state_of(&store, &net));
    let r = admin_get(&app, "/v1/reports/sales.csv").await;
    assert_eq!(r.status, StatusCode::OK);
    let streamed = String::from_utf8(r.body).expect("utf-8");
    let rows = lnedge_gateway::reconcile::sales_report(store.as_ref()).await.expect("report");
    assert_eq!(rows.len(), 3 * 666, "two in three of 3 x 1,000 entries are sales");
    let collected = lnedge_gateway::accounting::sales_csv(&rows);
    assert!(streamed.len() > 4 * 64 * 1024, "several chunks: {} bytes", streamed.len());
    assert_eq!(streamed.lines().count(), rows.len() + 1, "a header and every row");
    assert!(streamed == collected, "the streamed CSV differs from the collected one");
    net.shutdown().await;
}
