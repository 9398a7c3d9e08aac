//! Each way a token must be refused, one test each (issue #14's bar): another invoice, another
//! amount, another payee, after expiry, twice, a token of device A presented as device B, an
//! unknown device, a forged tag, a token that lives too long, and the device's limits.

use axum::http::StatusCode;
use lnedge_proto::payer::Authorization;
use serde_json::json;

use super::{invoice_of, pay_token, payer_device, terms, world};
use crate::support::now_secs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_token_pays_only_its_invoice_its_amount_its_payee_before_expiry_and_once() {
    let w = world().await;
    let mut car = payer_device(&w.router, 20_000_000, 100_000_000).await;
    let invoice = w.invoice(Some(2_000_000)).await;
    let (hash, amount, payee) = terms(&invoice);
    let token = car.authorize(hash, amount, payee, now_secs() + 600).expect("token");
    let hex_token = hex::encode(token.to_bytes());

    // Another invoice of the same merchant and amount: another hash.
    let other = w.invoice(Some(2_000_000)).await;
    let (status, body) = pay_token(&w.router, &hex_token, &other).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("wrong_invoice")),
        "{body}"
    );
    // The right hash cannot come with another amount (the merchant re-signs nothing): a
    // token signed for 2 000 000 against an invoice for 3 000 000.
    let dearer = w.invoice(Some(3_000_000)).await;
    let (h, _, p) = terms(&dearer);
    let cheap = car.authorize(h, 2_000_000, p, now_secs() + 600).expect("token");
    let (status, body) = pay_token(&w.router, &hex::encode(cheap.to_bytes()), &dearer).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("wrong_amount"))
    );
    // Another payee: an invoice of the hub for a token naming the merchant.
    let (hub_invoice, _) = invoice_of(&w.net.node("hub").expect("hub"), Some(2_000_000), 600).await;
    let (h, a, _) = terms(&hub_invoice);
    let misdirected = car.authorize(h, a, payee, now_secs() + 600).expect("token");
    let (status, body) =
        pay_token(&w.router, &hex::encode(misdirected.to_bytes()), &hub_invoice).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("wrong_payee"))
    );
    // Expired.
    let late = w.invoice(Some(1_000_000)).await;
    let (h, a, p) = terms(&late);
    let stale = car.authorize(h, a, p, now_secs() - 1).expect("token");
    let (status, body) = pay_token(&w.router, &hex::encode(stale.to_bytes()), &late).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::GONE, &json!("token_expired")));
    // Valid for a year: refused (a lost device's tokens must die soon).
    let (h, a, p) = terms(&late);
    let forever = car.authorize(h, a, p, now_secs() + 365 * 86_400).expect("token");
    let (status, body) = pay_token(&w.router, &hex::encode(forever.to_bytes()), &late).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("token_lifetime"))
    );

    // The genuine pair pays, once; the same token again is a replay.
    let (status, body) = pay_token(&w.router, &hex_token, &invoice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let (status, body) = pay_token(&w.router, &hex_token, &invoice).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::CONFLICT, &json!("replayed_counter"))
    );
    assert_eq!(w.received(&invoice).await, Some(2_000_000));
    for unpaid in [&other, &dearer, &late] {
        assert_eq!(w.received(unpaid).await, None, "nothing else was paid");
    }
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn device_a_cannot_pay_as_device_b_and_forgeries_fail() {
    let w = world().await;
    let mut a = payer_device(&w.router, 20_000_000, 100_000_000).await;
    let b = payer_device(&w.router, 20_000_000, 100_000_000).await;
    let invoice = w.invoice(Some(1_500_000)).await;
    let (hash, amount, payee) = terms(&invoice);
    let token = a.authorize(hash, amount, payee, now_secs() + 600).expect("token");

    // A's token with B's id written in: the tag was A's over A's id.
    let mut as_b = token;
    as_b.authorization.device_id = b.device_id();
    let (status, body) = pay_token(&w.router, &hex::encode(as_b.to_bytes()), &invoice).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("bad_token")),
        "{body}"
    );
    // A signing an authorization that names B (A's key, B's id).
    let claims_b = Authorization { device_id: b.device_id(), ..token.authorization };
    let forged = claims_b.sign(&lnedge_proto::payer::PayerKey::derive(&[0; 32], &a.device_id()));
    let (status, body) = pay_token(&w.router, &hex::encode(forged.to_bytes()), &invoice).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::FORBIDDEN, &json!("bad_token")));
    // An unknown device; an altered amount; garbage.
    let stranger =
        Authorization { device_id: lnedge_proto::DeviceId([9; 16]), ..token.authorization };
    let (status, body) = pay_token(
        &w.router,
        &hex::encode(stranger.sign(&lnedge_proto::payer::PayerKey([1; 32])).to_bytes()),
        &invoice,
    )
    .await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("unknown_device")));
    let mut altered = token;
    altered.authorization.amount_msat += 1;
    let (status, body) = pay_token(&w.router, &hex::encode(altered.to_bytes()), &invoice).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::FORBIDDEN, &json!("bad_token")));
    let (status, body) = pay_token(&w.router, "00ff", &invoice).await;
    assert_eq!((status, &body["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("token")));
    // A card's id is no payer device.
    let (card_id, _) = w.card(json!({})).await;
    let card_id: [u8; 16] = hex::decode(card_id).expect("hex").try_into().expect("16");
    let as_card =
        Authorization { device_id: lnedge_proto::DeviceId(card_id), ..token.authorization };
    let (status, body) = pay_token(
        &w.router,
        &hex::encode(as_card.sign(&lnedge_proto::payer::PayerKey([1; 32])).to_bytes()),
        &invoice,
    )
    .await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::NOT_FOUND, &json!("unknown_payer")));

    // The genuine token still pays (none of the above burned its counter).
    let (status, body) = pay_token(&w.router, &hex::encode(token.to_bytes()), &invoice).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_devices_limits_and_state_hold_at_the_gateway() {
    let w = world().await;
    let mut car = payer_device(&w.router, 3_000_000, 5_000_000).await;
    let id = car.device_id().to_string();
    let pay = |amount: u64| {
        let w = &w;
        async move {
            let invoice = w.invoice(Some(amount)).await;
            let terms = terms_of(&invoice);
            (invoice, terms)
        }
    };
    let (first, (h, a, p)) = pay(3_000_000).await;
    let t = car.authorize(h, a, p, now_secs() + 600).expect("token");
    assert_eq!(pay_token(&w.router, &hex::encode(t.to_bytes()), &first).await.0, StatusCode::OK);
    let (second, (h, a, p)) = pay(2_500_000).await;
    let t = car.authorize(h, a, p, now_secs() + 600).expect("token");
    let (status, body) = pay_token(&w.router, &hex::encode(t.to_bytes()), &second).await;
    assert_eq!(
        (status, &body["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("over_daily_limit")),
        "{body}"
    );
    // Disabled: refused whatever the amount.
    let (status, _) = super::call(
        &w.router,
        super::post(&format!("/v1/payers/{id}/enabled"), json!({"enabled": false}), true),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (third, (h, a, p)) = pay(1_000).await;
    let t = car.authorize(h, a, p, now_secs() + 600).expect("token");
    let (status, body) = pay_token(&w.router, &hex::encode(t.to_bytes()), &third).await;
    assert_eq!((status, &body["error"]["code"]), (StatusCode::FORBIDDEN, &json!("payer_disabled")));
    w.net.shutdown().await;
}

fn terms_of(invoice: &str) -> ([u8; 32], u64, [u8; 33]) {
    terms(invoice)
}
