//! Bad input at the API edge (issue #12 item 6). Found before: integers ≥ 2^63 answered 500 (and
//! a device that once sent such a counter could never sync again), prices above 21 million BTC
//! were accepted, a payee committing another payee's hash got a 500 whose log named the hash,
//! and sync answered 404 before checking the signature (a device-existence oracle).

use axum::http::{Method, StatusCode};
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sign::{sign_body, sign_request};
use lnedge_wire::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use serde_json::{json, Value};

use super::{admin, request, router};
use crate::support::{call_json, now_secs};

const MASTER: [u8; 32] = [0x5a; 32];

fn code(v: &Value) -> &str {
    v["error"]["code"].as_str().unwrap_or_default()
}

async fn enrol(app: &axum::Router, device: &str, products: Value) -> (StatusCode, Value) {
    let body = json!({ "device_id": device, "name": "m", "products": products });
    call_json(app, request(Method::POST, "/v1/devices", &admin(), body.to_string().into_bytes()))
        .await
}

async fn sync(app: &axum::Router, device: &str, key_of: &str, body: &Value) -> (StatusCode, Value) {
    let id = DeviceId(hex::decode(key_of).expect("hex").try_into().expect("16 bytes"));
    let body = body.to_string().into_bytes();
    let sig = sign_body(&device_sync_key(&MASTER, &id), &body);
    let uri = format!("/v1/devices/{device}/sync");
    call_json(app, request(Method::POST, &uri, &[(SIGNATURE_HEADER, sig)], body)).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn out_of_range_numbers_are_refused_with_the_field_named() {
    let (app, _net) = router(MASTER).await;
    let huge = u64::MAX;
    let cases = [
        (json!([{ "id": 1, "description": "a", "price_msat": huge }]), "products[0].price_msat"),
        (
            json!([{ "id": 1, "description": "a", "price_msat": 2_100_000_000_000_000_001u64 }]),
            "products[0].price_msat",
        ),
        (
            json!([{ "id": 1, "description": "a", "price": { "currency": "EUR", "amount_minor": huge } }]),
            "products[0].price.amount_minor",
        ),
    ];
    for (i, (products, field)) in cases.into_iter().enumerate() {
        let (status, v) = enrol(&app, &format!("{i:032x}"), products).await;
        assert!(status.is_client_error(), "{field}: {status} {v}");
        assert_eq!(v["error"]["field"], field, "{v}");
    }

    // A sync counter beyond what can be stored is refused, and the device can still sync.
    let device = "00000000000000000000000000000abc";
    let (status, v) =
        enrol(&app, device, json!([{ "id": 1, "description": "a", "price_msat": 1000 }])).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let (status, v) = sync(&app, device, device, &json!({ "counter": huge, "reports": [] })).await;
    assert!(status.is_client_error(), "{status} {v}");
    assert_eq!(v["error"]["field"], "counter", "{v}");
    let (status, v) = sync(&app, device, device, &json!({ "counter": 1, "reports": [] })).await;
    assert_eq!(status, StatusCode::OK, "the device is not stuck: {v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn sync_checks_the_signature_before_saying_whether_a_device_exists() {
    let (app, _net) = router(MASTER).await;
    let known = "0000000000000000000000000000000a";
    let (status, _) =
        enrol(&app, known, json!([{ "id": 1, "description": "a", "price_msat": 1000 }])).await;
    assert_eq!(status, StatusCode::CREATED);
    let unknown = "0000000000000000000000000000000b";
    let body = json!({ "counter": 1, "reports": [] });
    // Signed with the wrong key: both answer 401, alike.
    let (s1, v1) = sync(&app, known, unknown, &body).await;
    let (s2, v2) = sync(&app, unknown, known, &body).await;
    assert_eq!((s1, code(&v1)), (StatusCode::UNAUTHORIZED, "bad_signature"), "{v1}");
    assert_eq!((s2, code(&v2)), (s1, code(&v1)), "an unknown device looks like a known one: {v2}");
    // Only a correctly signed upload learns that a device is unknown.
    let (status, v) = sync(&app, unknown, unknown, &body).await;
    assert_eq!((status, code(&v)), (StatusCode::NOT_FOUND, "unknown_device"), "{v}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn a_hash_another_payee_holds_is_a_409_that_names_nobody() {
    let (app, _net) = router(MASTER).await;
    let mut payees = Vec::new();
    for name in ["first", "second"] {
        let body = json!({ "name": name }).to_string().into_bytes();
        let (status, v) =
            call_json(&app, request(Method::POST, "/v1/payees", &admin(), body)).await;
        assert_eq!(status, StatusCode::CREATED, "{v}");
        let id = v["payee_id"].as_str().expect("id").to_owned();
        let key: [u8; 32] = hex::decode(v["payee_key"].as_str().expect("key"))
            .expect("hex")
            .try_into()
            .expect("32");
        payees.push((id, key));
    }
    let body = json!({ "payment_hashes": [hex::encode([9u8; 32])] }).to_string().into_bytes();
    let mut answers = Vec::new();
    for (id, key) in &payees {
        let path = format!("/v1/payees/{id}/hashes");
        let ts = now_secs();
        let headers = [
            (TIMESTAMP_HEADER, ts.to_string()),
            (SIGNATURE_HEADER, sign_request(key, "POST", &path, ts, &body)),
        ];
        answers.push(call_json(&app, request(Method::POST, &path, &headers, body.clone())).await);
    }
    assert!(answers[0].0.is_success(), "{:?}", answers[0]);
    let (status, v) = &answers[1];
    assert_eq!((*status, code(v)), (StatusCode::CONFLICT, "hash_taken"), "{v}");
    assert!(!v.to_string().contains(&payees[0].0), "the holder is not named: {v}");
}

/// A payee cannot point the gateway's webhook at the gateway's own host or link (found before:
/// loopback and link-local webhooks were accepted, so a payee could make the gateway call its
/// admin port or a cloud metadata service).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the `sandbox` feature (cargo test --workspace)"
)]
async fn webhooks_to_this_host_or_its_link_are_refused() {
    let (app, _net) = router(MASTER).await;
    let body = json!({ "name": "sensor" }).to_string().into_bytes();
    let (status, v) = call_json(&app, request(Method::POST, "/v1/payees", &admin(), body)).await;
    assert_eq!(status, StatusCode::CREATED, "{v}");
    let id = v["payee_id"].as_str().expect("id").to_owned();
    let key: [u8; 32] =
        hex::decode(v["payee_key"].as_str().expect("key")).expect("hex").try_into().expect("32");
    let path = format!("/v1/payees/{id}/wake");
    let set = |url: &str| {
        let body = json!({ "webhook_url": url }).to_string().into_bytes();
        let ts = now_secs();
        let headers = [
            (TIMESTAMP_HEADER, ts.to_string()),
            (SIGNATURE_HEADER, sign_request(&key, "PUT", &path, ts, &body)),
        ];
        request(Method::PUT, &path, &headers, body)
    };
    for url in [
        "http://127.0.0.1:8080/v1/devices",
        "http://localhost/x",
        "http://api.localhost/x",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/",
        "http://[fe80::1]/",
        "http://[::ffff:127.0.0.1]/",
        "http://0.0.0.0/",
    ] {
        let (status, v) = call_json(&app, set(url)).await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{url}: {v}");
        assert_eq!(v["error"]["field"], "webhook_url", "{url}: {v}");
    }
    let (status, v) = call_json(&app, set("https://sensor.example/wake")).await;
    assert_eq!(status, StatusCode::OK, "a public host is fine: {v}");
}
