//! The relay's routes without sockets (`oneshot`): authentication and every refusal is a clear,
//! typed error.

use std::sync::Arc;

use crate::support::now_secs;
use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::GatewayBuilder;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_wire::sign::sign_request;
use lnedge_wire::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use serde_json::{json, Value};
use tower::ServiceExt;

async fn call(
    app: &axum::Router,
    method: Method,
    path: &str,
    headers: &[(&str, String)],
    body: Vec<u8>,
) -> (StatusCode, Value) {
    let mut request = Request::builder().method(method).uri(path);
    for (name, value) in headers {
        request = request.header(*name, value);
    }
    let response = app
        .clone()
        .oneshot(
            request
                .header("content-type", "application/json")
                .body(Body::from(body))
                .expect("request"),
        )
        .await
        .expect("response");
    let status = response.status();
    let bytes = response.into_body().collect().await.expect("body").to_bytes();
    (status, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

fn signed(
    key: &[u8; 32],
    method: &str,
    path: &str,
    ts: u64,
    body: &[u8],
) -> Vec<(&'static str, String)> {
    vec![
        (TIMESTAMP_HEADER, ts.to_string()),
        (SIGNATURE_HEADER, sign_request(key, method, path, ts, body)),
    ]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn payee_routes_authenticate_and_refuse_clearly() {
    let net = SandboxNetwork::new().await.expect("network");
    let gateway = net.add_node("gateway").await.expect("node");
    let store = Arc::new(SqliteStore::in_memory().expect("store"));
    let state =
        AppState::new(store, gateway, Arc::new(PoolKey::generate()), [5; 32], "admin-token");
    let app = app(state);
    let admin = [("authorization", "Bearer admin-token".to_owned())];

    let (status, _) =
        call(&app, Method::POST, "/v1/payees", &[], br#"{"name":"x"}"#.to_vec()).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "registration is an admin route");
    let (status, body) =
        call(&app, Method::POST, "/v1/payees", &admin, br#"{"name":""}"#.to_vec()).await;
    assert_eq!((status, body["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("name")));
    let (status, reg) =
        call(&app, Method::POST, "/v1/payees", &admin, br#"{"name":"sensor"}"#.to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{reg}");
    let id = reg["payee_id"].as_str().expect("id").to_owned();
    let key: [u8; 32] =
        hex::decode(reg["payee_key"].as_str().expect("key")).expect("hex").try_into().expect("32");

    let path = format!("/v1/payees/{id}/hashes");
    let body =
        serde_json::to_vec(&json!({ "payment_hashes": [hex::encode([7u8; 32])] })).expect("json");
    let now = now_secs();
    let code = |v: &Value| v["error"]["code"].as_str().unwrap_or_default().to_owned();
    let (status, v) = call(&app, Method::POST, &path, &[], body.clone()).await;
    assert_eq!((status, code(&v).as_str()), (StatusCode::UNAUTHORIZED, "missing_signature"));
    let (status, v) =
        call(&app, Method::POST, &path, &signed(&[1; 32], "POST", &path, now, &body), body.clone())
            .await;
    assert_eq!(
        (status, code(&v).as_str()),
        (StatusCode::UNAUTHORIZED, "bad_signature"),
        "wrong key"
    );
    let (status, v) =
        call(&app, Method::POST, &path, &signed(&key, "PUT", &path, now, &body), body.clone())
            .await;
    assert_eq!(
        (status, code(&v).as_str()),
        (StatusCode::UNAUTHORIZED, "bad_signature"),
        "wrong method"
    );
    let old = now - 3600;
    let (status, v) =
        call(&app, Method::POST, &path, &signed(&key, "POST", &path, old, &body), body.clone())
            .await;
    assert_eq!(
        (status, code(&v).as_str()),
        (StatusCode::UNAUTHORIZED, "stale_signature"),
        "replay"
    );
    let bad = br#"{"payment_hashes":["zz"]}"#.to_vec();
    let (status, v) =
        call(&app, Method::POST, &path, &signed(&key, "POST", &path, now, &bad), bad).await;
    assert_eq!(
        (status, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("payment_hashes"))
    );
    // Another payee's key does not open this payee's routes.
    let (status, other) =
        call(&app, Method::POST, "/v1/payees", &admin, br#"{"name":"b"}"#.to_vec()).await;
    assert_eq!(status, StatusCode::CREATED);
    let other_key: [u8; 32] = hex::decode(other["payee_key"].as_str().expect("key"))
        .expect("hex")
        .try_into()
        .expect("32");
    let (status, _) = call(
        &app,
        Method::POST,
        &path,
        &signed(&other_key, "POST", &path, now, &body),
        body.clone(),
    )
    .await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);

    // The payer side before any hash is committed, and bad amounts.
    let invoices = format!("/v1/payees/{id}/invoices");
    let (status, v) =
        call(&app, Method::POST, &invoices, &[], br#"{"amount_msat":5000000}"#.to_vec()).await;
    assert_eq!((status, code(&v).as_str()), (StatusCode::CONFLICT, "no_unused_hash"));
    let (status, v) =
        call(&app, Method::POST, &invoices, &[], br#"{"amount_msat":0}"#.to_vec()).await;
    assert_eq!(
        (status, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("amount_msat"))
    );
    let (status, v) = call(
        &app,
        Method::POST,
        "/v1/payees/00/invoices",
        &[],
        br#"{"amount_msat":5000000}"#.to_vec(),
    )
    .await;
    assert_eq!((status, code(&v).as_str()), (StatusCode::NOT_FOUND, "unknown_payee"));

    // Commit, then the payer gets a hold invoice on the committed hash; the hash is used once.
    let (status, v) =
        call(&app, Method::POST, &path, &signed(&key, "POST", &path, now, &body), body.clone())
            .await;
    assert_eq!((status, &v), (StatusCode::OK, &json!({ "added": 1, "unused": 1 })));
    let (status, v) =
        call(&app, Method::POST, &invoices, &[], br#"{"amount_msat":5000000}"#.to_vec()).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    assert_eq!(v["payment_hash"], hex::encode([7u8; 32]));
    let invoice =
        lnedge_node::parse_invoice(v["bolt11"].as_str().expect("bolt11")).expect("BOLT 11");
    assert_eq!(invoice.amount_milli_satoshis(), Some(5_000_000));
    assert!(invoice.min_final_cltv_expiry_delta() >= 288, "a long hold (LDK adds a few blocks)");
    let (status, _) =
        call(&app, Method::POST, &invoices, &[], br#"{"amount_msat":5000000}"#.to_vec()).await;
    assert_eq!(status, StatusCode::CONFLICT, "no second invoice for the hash");

    // Claims and webhooks: clear refusals.
    let claims = format!("/v1/payees/{id}/claims");
    let garbage = br#"{"bolt11":"lnbcrt1garbage"}"#.to_vec();
    let (status, v) =
        call(&app, Method::POST, &claims, &signed(&key, "POST", &claims, now, &garbage), garbage)
            .await;
    assert_eq!((status, v["error"]["field"].as_str()), (StatusCode::BAD_REQUEST, Some("bolt11")));
    let wake = format!("/v1/payees/{id}/wake");
    let ftp = br#"{"webhook_url":"ftp://x"}"#.to_vec();
    let (status, v) =
        call(&app, Method::PUT, &wake, &signed(&key, "PUT", &wake, now, &ftp), ftp).await;
    assert_eq!(
        (status, v["error"]["field"].as_str()),
        (StatusCode::BAD_REQUEST, Some("webhook_url"))
    );
    let pending = format!("/v1/payees/{id}/pending");
    let (status, v) =
        call(&app, Method::GET, &pending, &signed(&key, "GET", &pending, now, b""), Vec::new())
            .await;
    assert_eq!(status, StatusCode::OK, "{v}");
    assert_eq!(v["payments"], json!([]), "offered payments are not pending yet");
    let (status, v) =
        call(&app, Method::GET, &format!("/v1/payees/{id}"), &admin, Vec::new()).await;
    assert_eq!((status, v["payments"][0]["state"].as_str()), (StatusCode::OK, Some("offered")));
    net.shutdown().await;
}

/// The open payer route is limited per client: each invoice uses up one of the payee's hashes.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payer_route_is_rate_limited_per_client() {
    let net = SandboxNetwork::new().await.expect("network");
    let gateway = net.add_node("gateway").await.expect("node");
    let store = Arc::new(SqliteStore::in_memory().expect("store"));
    let config = lnedge_gateway::config::RelayConfig {
        payer_invoices_per_minute: Some(2),
        ..Default::default()
    };
    let engine = GatewayBuilder::new(store, gateway, Arc::new(PoolKey::generate()), [5; 32])
        .relay(config.settings())
        .build();
    let state = AppState::with_gateway(engine, "admin-token");
    let app = app(state);
    let admin = [("authorization", "Bearer admin-token".to_owned())];
    let (_, reg) =
        call(&app, Method::POST, "/v1/payees", &admin, br#"{"name":"sensor"}"#.to_vec()).await;
    let id = reg["payee_id"].as_str().expect("id").to_owned();
    let key: [u8; 32] =
        hex::decode(reg["payee_key"].as_str().expect("key")).expect("hex").try_into().expect("32");
    let path = format!("/v1/payees/{id}/hashes");
    let hashes: Vec<String> = (0..5u8).map(|i| hex::encode([i + 1; 32])).collect();
    let body = serde_json::to_vec(&json!({ "payment_hashes": hashes })).expect("json");
    let (status, _) =
        call(&app, Method::POST, &path, &signed(&key, "POST", &path, now_secs(), &body), body)
            .await;
    assert_eq!(status, StatusCode::OK);

    let path = format!("/v1/payees/{id}/invoices");
    let ask = |client: &'static str| {
        let app = app.clone();
        let path = path.clone();
        async move {
            let headers = [("x-forwarded-for", client.to_owned())];
            call(&app, Method::POST, &path, &headers, br#"{"amount_msat":5000000}"#.to_vec()).await
        }
    };
    for _ in 0..2 {
        let (status, v) = ask("203.0.113.7").await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
    }
    let (status, v) = ask("203.0.113.7").await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{v}");
    assert_eq!(v["error"]["code"], "too_many_requests");
    assert!(v["error"]["message"].as_str().unwrap_or_default().contains("try again in"), "{v}");
    assert_eq!(ask("198.51.100.1").await.0, StatusCode::CREATED, "another client is not limited");
    net.shutdown().await;
}
