//! An operator cancels a relay payment early (issue #16): from the engine, the admin API and the
//! dashboard's button, on the sandbox network (real LDK nodes). The payer is refunded, the payee
//! can no longer claim, a payment being forwarded is never cancelled, and a cancel interrupted
//! between its two steps is finished by the driver.

use std::sync::Arc;

use axum::http::StatusCode;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::operators::{add_operator, Role};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::relay::RelayError;
use lnedge_gateway::store::relay::RelayState;
use lnedge_node::InvoiceState;

use crate::dashboard::{csrf_of, get, login, post, ADMIN, VIEWER};
use crate::relay::{held, pay, received, relay_payment, until, Payee, World, AMOUNT_MSAT};
use crate::support::now_secs;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_operator_cancels_a_held_payment_and_the_payer_is_refunded() {
    let w = World::new().await;
    let relay = w.relay(w.store(), w.gateway.clone());
    let payee = Payee::enrol(&relay, 2).await;
    let (offer, paying, held) = held(&w, &relay, &payee, "held").await;

    let cancelled = relay.cancel(&offer.payment_hash, "alice").await.expect("cancel");
    assert_eq!(cancelled.state, RelayState::Cancelled, "{cancelled:?}");
    assert!(
        cancelled.reason.as_deref().unwrap_or("").contains("operator alice"),
        "the reason names who cancelled: {cancelled:?}"
    );
    let refused = paying.await.expect("join");
    assert!(refused.is_err(), "the payer's HTLCs were failed back: {refused:?}");
    assert_eq!(received(&w.gateway, &offer.payment_hash).await, InvoiceState::Cancelled);
    // The payee waking now cannot claim it, and nothing reached its node.
    let late = payee.claim(&relay, &*w.sensor, &held).await;
    assert!(matches!(late, Err(RelayError::WrongState { .. })), "{late:?}");
    // Cancelling again says it has ended; an unknown hash is named.
    let again = relay.cancel(&offer.payment_hash, "alice").await.expect_err("ended");
    assert!(again.to_string().contains("ended already"), "{again}");
    let unknown = relay.cancel(&[7; 32], "alice").await.expect_err("unknown");
    assert!(matches!(unknown, RelayError::NotFound(_)), "{unknown}");
    // The driver leaves a cancelled payment alone.
    relay.tick().await.expect("tick");
    assert_eq!(relay_payment(&relay, &offer.payment_hash).await.state, RelayState::Cancelled);

    // An offered payment nobody paid yet: cancelled, and a payer paying it later is refused.
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "unpaid").await.expect("offer");
    let cancelled = relay.cancel(&offer.payment_hash, "alice").await.expect("cancel");
    assert_eq!(cancelled.state, RelayState::Cancelled);
    let late_payer = pay(&w.payer, &offer.bolt11).await.expect("join");
    assert!(late_payer.is_err(), "a cancelled invoice takes no payment: {late_payer:?}");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_being_forwarded_is_not_cancelled_and_still_settles() {
    let w = World::new().await;
    let relay = w.relay(w.store(), w.gateway.clone());
    let payee = Payee::enrol(&relay, 1).await;
    let (offer, paying, held) = held(&w, &relay, &payee, "r").await;
    // Forwarding persisted, the payment not sent yet (as after a crash between the two).
    payee.forwarding_unsent(&relay, &*w.sensor, &held).await;

    let refused = relay.cancel(&offer.payment_hash, "alice").await.expect_err("forwarding");
    match &refused {
        RelayError::WrongState { state: RelayState::Forwarding, message, .. } => {
            assert!(message.contains("may be paid already"), "{message}")
        }
        other => panic!("expected wrong_state while forwarding, got {other}"),
    }
    let settled = until(&relay, &offer.payment_hash, RelayState::Settled).await;
    assert_eq!(settled.attempts, 1);
    paying.await.expect("join").expect("the payer's payment completed");
    w.net.shutdown().await;
}

/// The payee claims while the operator cancels: exactly one of them wins, and the money follows
/// the winner (paid and settled, or refunded with nothing sent to the payee).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_racing_a_cancel_never_pays_a_refunded_payment() {
    let w = World::new().await;
    let relay = w.relay(w.store(), w.gateway.clone());
    let payee = Payee::enrol(&relay, 4).await;
    for round in 0..4 {
        let (offer, paying, held) = held(&w, &relay, &payee, "race").await;
        let invoice = payee.invoice(&*w.sensor, &held).await.to_string();
        let (claimed, cancelled) = tokio::join!(
            relay.claim(&payee.id, &invoice),
            relay.cancel(&offer.payment_hash, "alice")
        );
        let paid = paying.await.expect("join");
        let end = relay_payment(&relay, &offer.payment_hash).await;
        match (claimed.is_ok(), cancelled.is_ok()) {
            (true, false) => {
                let end = until(&relay, &offer.payment_hash, RelayState::Settled).await;
                assert!(paid.is_ok(), "round {round}: the claim won, the payer paid: {paid:?}");
                assert!(matches!(
                    received(&w.sensor, &end.payment_hash).await,
                    InvoiceState::Settled { .. }
                ));
            }
            (false, true) => {
                assert_eq!(end.state, RelayState::Cancelled, "round {round}: {end:?}");
                assert!(paid.is_err(), "round {round}: the cancel won, the payer was refunded");
                assert_eq!(
                    received(&w.sensor, &offer.payment_hash).await,
                    InvoiceState::Open,
                    "round {round}: nothing was sent to the payee"
                );
            }
            both => panic!("round {round}: claim {claimed:?}, cancel {cancelled:?}: {both:?}"),
        }
    }
    w.net.shutdown().await;
}

/// A cancel interrupted after it marked the payment (a crash, or a node that did not answer):
/// the payment stays `cancelling`, refuses claims, and the next process's driver fails the
/// payer back.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cancel_interrupted_before_the_node_is_finished_by_the_driver() {
    let w = World::new().await;
    let relay = w.relay(w.store(), w.gateway.clone());
    let payee = Payee::enrol(&relay, 1).await;
    let (offer, paying, held) = held(&w, &relay, &payee, "r").await;
    let mut marked = held.clone();
    marked.state = RelayState::Cancelling;
    marked.reason = Some("cancelled early by operator alice".into());
    relay.store().update_relay_payment(&marked).await.expect("write").expect("won");
    drop(relay);

    let relay = w.relay(w.store(), w.gateway.clone());
    let claim = payee.claim(&relay, &*w.sensor, &held).await;
    assert!(
        matches!(claim, Err(RelayError::WrongState { state: RelayState::Cancelling, .. })),
        "{claim:?}"
    );
    assert!(!paying.is_finished(), "still held until the driver looks");
    let end = until(&relay, &offer.payment_hash, RelayState::Cancelled).await;
    assert_eq!(end.reason.as_deref(), Some("cancelled early by operator alice"));
    assert!(paying.await.expect("join").is_err(), "the payer was refunded");
    assert_eq!(received(&w.gateway, &offer.payment_hash).await, InvoiceState::Cancelled);
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_and_the_api_cancel_for_admins_only() {
    let w = World::new().await;
    let store = w.store();
    let state = AppState::new(
        store.clone(),
        w.gateway.clone(),
        Arc::new(PoolKey::generate()),
        w.master,
        "admin-token",
    );
    for ((name, password), role) in [(ADMIN, Role::Admin), (VIEWER, Role::Viewer)] {
        add_operator(store.as_ref(), now_secs(), name, role, Some(password), "test")
            .await
            .expect("operator");
    }
    let relay = state.gateway.relay();
    let router = app(state);
    let payee = Payee::enrol(&relay, 2).await;
    let (offer, paying, _) = held(&w, &relay, &payee, "held").await;
    let hash = hex::encode(offer.payment_hash);
    let action = format!("/ui/relay/{hash}/cancel");

    // A viewer sees no button, and its POST is refused.
    let (viewer, viewer_csrf) = login(&router, VIEWER).await;
    let page = get(&router, "/ui/relay", Some(&viewer)).await;
    assert!(page.body.contains(&format!("id=\"relay-{hash}\"")), "{}", page.body);
    assert!(!page.body.contains(&action), "no cancel button for a viewer");
    let refused = post(&router, &action, Some(&viewer), &[("csrf", &viewer_csrf)]).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.body);
    // An admin sees it; without the session's CSRF token the POST is refused.
    let (admin, _) = login(&router, ADMIN).await;
    let page = get(&router, "/ui/relay", Some(&admin)).await;
    assert!(page.body.contains(&action), "{}", page.body);
    let csrf = csrf_of(&page.body);
    let forged = post(&router, &action, Some(&admin), &[("csrf", "0")]).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.body);
    assert_eq!(relay_payment(&relay, &offer.payment_hash).await.state, RelayState::Held);
    let bad = post(&router, "/ui/relay/zz/cancel", Some(&admin), &[("csrf", &csrf)]).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.body.contains("not 64 hex characters"), "{}", bad.body);

    let done = post(&router, &action, Some(&admin), &[("csrf", &csrf)]).await;
    assert_eq!((done.status, done.location.as_str()), (StatusCode::SEE_OTHER, "/ui/relay"));
    assert!(paying.await.expect("join").is_err(), "the payer was refunded");
    let page = get(&router, "/ui/relay", Some(&admin)).await;
    assert!(page.body.contains("cancelled early by operator alice"), "{}", page.body);
    assert!(!page.body.contains(&action), "no button on an ended payment");
    let log = store.audit_log(None, 10).await.expect("audit");
    assert!(
        log.iter().any(|e| e.actor == "alice" && e.action == "relay.cancel" && e.target == hash),
        "{log:?}"
    );
    // Cancelling it again: the dashboard names the reason.
    let again = post(&router, &action, Some(&admin), &[("csrf", &csrf)]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    assert!(again.body.contains("ended already"), "{}", again.body);

    // The admin token cancels an offered payment over the API.
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "unpaid").await.expect("offer");
    let (base, server) = crate::support::serve(router).await;
    let http = reqwest::Client::new();
    let url = |h: &str| format!("{base}/v1/relay/payments/{h}/cancel");
    let answer = http
        .post(url(&hex::encode(offer.payment_hash)))
        .bearer_auth("admin-token")
        .send()
        .await
        .expect("send");
    assert_eq!(answer.status(), reqwest::StatusCode::OK);
    let body: serde_json::Value = answer.json().await.expect("json");
    assert_eq!(body["state"], "cancelled", "{body}");
    let answer = http.post(url(&hex::encode([9u8; 32]))).bearer_auth("admin-token").send().await;
    assert_eq!(answer.expect("send").status(), reqwest::StatusCode::NOT_FOUND);
    let answer = http.post(url("nothex")).bearer_auth("admin-token").send().await.expect("send");
    assert_eq!(answer.status(), reqwest::StatusCode::BAD_REQUEST);
    let text = answer.text().await.expect("text");
    assert!(text.contains("hash") && text.contains("64 hex"), "{text}");
    let answer = http.post(url(&hex::encode([9u8; 32]))).send().await.expect("send");
    assert_eq!(answer.status(), reqwest::StatusCode::UNAUTHORIZED);
    server.abort();
    w.net.shutdown().await;
}
