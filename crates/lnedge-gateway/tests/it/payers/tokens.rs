//! Invoice-bound tokens that work: a payer device (a car's unit, offline) signs the merchant's
//! invoice; the merchant's point of sale hands token + invoice to the gateway, which pays it
//! over two hops; the device records the receipt.

use axum::http::StatusCode;
use lnedge_proto::envelope::Envelope;

use super::{pay_token, payer_device, terms, world};
use crate::support::now_secs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_offline_car_pays_a_parking_meter_with_a_token() {
    let w = world().await;
    let mut car = payer_device(&w.router, 20_000_000, 50_000_000).await;

    // The meter shows its invoice; the car signs exactly that invoice, as hex.
    let (invoice, preimage) = w.invoice_and_preimage(4_200_000).await;
    let (hash, amount, payee) = terms(&invoice);
    let token = car.authorize(hash, amount, payee, now_secs() + 600).expect("token");
    let (status, paid) = pay_token(&w.router, &hex::encode(token.to_bytes()), &invoice).await;
    assert_eq!(status, StatusCode::OK, "{paid}");
    assert_eq!((paid["state"].as_str(), paid["kind"].as_str()), (Some("paid"), Some("device")));
    assert_eq!(paid["amount_msat"], 4_200_000);
    assert_eq!(w.received(&invoice).await, Some(4_200_000), "the meter is paid");

    // The meter hands the preimage back as a receipt; the car checks and records it.
    car.receipt(token.authorization.counter, &preimage).expect("receipt");
    assert!(car.tokens().expect("tokens")[0].paid);

    // The same over QR text: the token as envelope text (LNEDGE1…).
    let second = w.invoice(Some(1_000_000)).await;
    let (hash, amount, payee) = terms(&second);
    let token = car.authorize(hash, amount, payee, now_secs() + 600).expect("token");
    let text = Envelope::PayerToken(token).to_text().expect("text");
    assert!(text.starts_with("LNEDGE1"), "{text}");
    let (status, paid) = pay_token(&w.router, &text, &second).await;
    assert_eq!((status, paid["counter"].as_u64()), (StatusCode::OK, Some(2)), "{paid}");
    assert_eq!(w.received(&second).await, Some(1_000_000));
    w.net.shutdown().await;
}
