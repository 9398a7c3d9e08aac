//! Each way a card payment must be refused, one test each (issue #14's bar): a replayed or
//! lower counter, a tampered `c`, a disabled card, the per-payment and daily limits (50 taps
//! racing the daily limit never pay more than it), a session or an invoice used twice, a wrong
//! PIN and the lock after the limit.

use std::sync::Arc;

use axum::http::StatusCode;
use serde_json::json;

use super::{assert_lnurl_error, call, post, world};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_and_lower_counters_and_tampered_readings_are_refused() {
    let w = world().await;
    let (_, card) = w.card(json!({})).await;
    let (p5, c5) = card.reading_at(5);
    assert_eq!(w.tap_with(&p5, &c5).await["tag"], "withdrawRequest");
    // The same reading again, and an older one (counter 4), are replays.
    assert_lnurl_error(&w.tap_with(&p5, &c5).await, "replayed_counter");
    let (p4, c4) = card.reading_at(4);
    assert_lnurl_error(&w.tap_with(&p4, &c4).await, "replayed_counter");
    // A tampered c: one bit flipped.
    let (p6, c6) = card.reading_at(6);
    let mut bytes = hex::decode(&c6).expect("hex");
    bytes[0] ^= 0x01;
    assert_lnurl_error(&w.tap_with(&p6, &hex::encode(&bytes)).await, "bad_mac");
    // A tampered p decrypts to garbage (or another UID): refused either way.
    let mut bytes = hex::decode(&p6).expect("hex");
    bytes[15] ^= 0x80;
    let answer = w.tap_with(&hex::encode(&bytes), &c6).await;
    assert_eq!(answer["status"], "ERROR", "{answer}");
    // The genuine reading 6 still works: refusals did not move the counter.
    assert_eq!(w.tap_with(&p6, &c6).await["tag"], "withdrawRequest");
    // Malformed input names the field.
    assert_lnurl_error(&w.tap_with("zz", &c6).await, "invalid_field");
    let (status, body) = call(&w.router, super::get("/v1/card?p=00", false)).await;
    assert_eq!(status, StatusCode::OK);
    assert_lnurl_error(&body, "missing_parameter");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_and_an_invoice_pay_once() {
    let w = world().await;
    let (_, mut card) = w.card(json!({})).await;
    let request = w.tap(&mut card).await;
    let k1 = request["k1"].as_str().expect("k1");
    let invoice = w.invoice(Some(3_000_000)).await;
    assert_eq!(w.callback(k1, &invoice, None).await["status"], "OK");
    // The same k1 again, even with a new invoice: the session is spent.
    let other = w.invoice(Some(3_000_000)).await;
    assert_lnurl_error(&w.callback(k1, &other, None).await, "unknown_k1");
    // The paid invoice with a fresh tap: never paid twice.
    let fresh = w.tap(&mut card).await;
    let k1 = fresh["k1"].as_str().expect("k1");
    assert_lnurl_error(&w.callback(k1, &invoice, None).await, "invoice_already_paid");
    // Amountless and malformed invoices are refused before the session is spent.
    let fresh = w.tap(&mut card).await;
    let k1 = fresh["k1"].as_str().expect("k1");
    let amountless = w.invoice(None).await;
    assert_lnurl_error(&w.callback(k1, &amountless, None).await, "invalid_field");
    assert_lnurl_error(&w.callback(k1, "lnbc1garbage", None).await, "invalid_field");
    assert_eq!(w.callback(k1, &other, None).await["status"], "OK", "the session survived");
    assert_eq!(w.received(&other).await, Some(3_000_000));
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn per_payment_and_daily_limits_hold() {
    let w = world().await;
    let (id, mut card) =
        w.card(json!({"per_payment_msat": 5_000_000, "per_day_msat": 8_000_000})).await;
    let request = w.tap(&mut card).await;
    assert_eq!(request["maxWithdrawable"], 5_000_000);
    let over = w.invoice(Some(5_000_001)).await;
    assert_lnurl_error(
        &w.callback(request["k1"].as_str().expect("k1"), &over, None).await,
        "over_payment_limit",
    );
    assert_eq!(w.tap_and_pay(&mut card, 5_000_000).await["status"], "OK");
    // 3 000 000 left today: the next tap offers only that, and 4 000 000 is refused.
    let request = w.tap(&mut card).await;
    assert_eq!(request["maxWithdrawable"], 3_000_000, "{request}");
    let four = w.invoice(Some(4_000_000)).await;
    assert_lnurl_error(
        &w.callback(request["k1"].as_str().expect("k1"), &four, None).await,
        "over_daily_limit",
    );
    assert_eq!(w.tap_and_pay(&mut card, 3_000_000).await["status"], "OK");
    // LUD-03 "zero balance": nothing left today is a withdrawRequest of 0, saying why; its k1
    // opens nothing.
    let spent = w.tap(&mut card).await;
    assert_eq!(
        (&spent["minWithdrawable"], &spent["maxWithdrawable"]),
        (&json!(0), &json!(0)),
        "{spent}"
    );
    assert!(spent["defaultDescription"].as_str().expect("description").contains("limit is spent"));
    let late = w.invoice(Some(1_000)).await;
    assert_lnurl_error(
        &w.callback(spent["k1"].as_str().expect("k1"), &late, None).await,
        "unknown_k1",
    );
    // The operator raises the limit: it pays again.
    let (status, body) = call(
        &w.router,
        axum::http::Request::builder()
            .method("PUT")
            .uri(format!("/v1/payers/{id}/limits"))
            .header("authorization", format!("Bearer {}", super::TOKEN))
            .body(axum::body::Body::from(
                json!({"per_payment_msat": 5_000_000, "per_day_msat": 9_000_000}).to_string(),
            ))
            .expect("request"),
    )
    .await;
    assert_eq!((status, &body["spent_today_msat"]), (StatusCode::OK, &json!(8_000_000)), "{body}");
    assert_eq!(w.tap_and_pay(&mut card, 1_000_000).await["status"], "OK");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_taps_never_pay_more_than_the_daily_limit() {
    const TAPS: usize = 50;
    const AMOUNT: u64 = 1_000_000;
    const DAILY: u64 = 10_500_000; // room for 10 payments, not 11
    let w = Arc::new(world().await);
    let (_, mut card) = w.card(json!({"per_payment_msat": AMOUNT, "per_day_msat": DAILY})).await;
    // 50 taps (each its own reading and session) and 50 invoices, then every callback at once.
    let mut sessions = Vec::new();
    for _ in 0..TAPS {
        let request = w.tap(&mut card).await;
        let invoice = w.invoice(Some(AMOUNT)).await;
        sessions.push((request["k1"].as_str().expect("k1").to_owned(), invoice));
    }
    let tasks: Vec<_> = sessions
        .iter()
        .cloned()
        .map(|(k1, invoice)| {
            let w = w.clone();
            tokio::spawn(async move { w.callback(&k1, &invoice, None).await })
        })
        .collect();
    let mut answers = Vec::new();
    for task in tasks {
        answers.push(task.await.expect("callback task"));
    }
    let ok = answers.iter().filter(|a| a["status"] == "OK").count();
    let refused: Vec<_> = answers.iter().filter(|a| a["status"] != "OK").collect();
    assert!(
        refused.iter().all(|a| a["code"] == "over_daily_limit"),
        "every refusal is the limit (none is a lost race): {refused:?}"
    );
    let mut paid_msat = 0;
    for (_, invoice) in &sessions {
        paid_msat += w.received(invoice).await.unwrap_or(0);
    }
    assert!(paid_msat <= DAILY, "paid {paid_msat} msat over a daily limit of {DAILY}");
    assert_eq!(ok, 10, "exactly the limit's worth is paid: {answers:?}");
    assert_eq!(paid_msat, 10 * AMOUNT);
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_pin_is_asked_from_its_limit_and_locks_the_card_after_three_wrong_tries() {
    let w = world().await;
    let (id, mut card) = w.card(json!({"pin": "2468", "pin_limit_msat": 5_000_000})).await;
    let request = w.tap(&mut card).await;
    assert_eq!(request["pinLimit"], 5_000_000, "the Bolt Card PIN extension: {request}");
    // Below the limit: no PIN.
    let small = w.invoice(Some(1_000_000)).await;
    assert_eq!(w.callback(request["k1"].as_str().expect("k1"), &small, None).await["status"], "OK");
    // From the limit: a PIN, and wrong ones count.
    let big = w.invoice(Some(6_000_000)).await;
    let k1 = w.tap(&mut card).await["k1"].as_str().expect("k1").to_owned();
    assert_lnurl_error(&w.callback(&k1, &big, None).await, "pin_required");
    for left in [2, 1] {
        let k1 = w.tap(&mut card).await["k1"].as_str().expect("k1").to_owned();
        let answer = w.callback(&k1, &big, Some("1111")).await;
        assert_lnurl_error(&answer, "wrong_pin");
        assert!(answer["reason"].as_str().expect("reason").contains(&format!("{left} of 3")));
    }
    let k1 = w.tap(&mut card).await["k1"].as_str().expect("k1").to_owned();
    assert_lnurl_error(&w.callback(&k1, &big, Some("1111")).await, "card_locked");
    // Locked: even the right PIN, even a small amount, even a new tap.
    assert_lnurl_error(&w.tap(&mut card).await, "card_locked");
    // The operator unlocks it; the right PIN pays.
    let (status, body) =
        call(&w.router, post(&format!("/v1/payers/{id}/enabled"), json!({"enabled": true}), true))
            .await;
    assert_eq!((status, &body["state"]), (StatusCode::OK, &json!("active")));
    let k1 = w.tap(&mut card).await["k1"].as_str().expect("k1").to_owned();
    assert_eq!(w.callback(&k1, &big, Some("2468")).await["status"], "OK");
    assert_eq!(w.received(&big).await, Some(6_000_000));
    w.net.shutdown().await;
}
