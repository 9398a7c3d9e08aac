//! The seed's own transport on the sandbox: the merchant's node sends `initiate_payment`
//! (45001: token ‖ invoice) to the gateway's node over their Lightning connection; the gateway
//! pays it, or answers `reject_payment` (45003: SHA-256(token) ‖ invoice ‖ reason).

use std::time::Duration;

use lnedge_proto::payer::peer::{
    token_hash, InitiatePayment, RejectPayment, INITIATE_PAYMENT_TYPE, REJECT_PAYMENT_TYPE,
};

use super::{payer_device, terms, world};
use crate::support::now_secs;

fn initiate(token: lnedge_proto::payer::PayerToken, invoice: &str) -> Vec<u8> {
    let message = InitiatePayment { token, invoice };
    let mut payload = vec![0; message.encoded_len()];
    message.encode_into(&mut payload).expect("encode");
    payload
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_merchant_node_sends_a_token_as_a_peer_message_and_is_paid_or_told_why_not() {
    let w = world().await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let server = tokio::spawn(lnedge_gateway::payers::peer::serve(
        w.state.gateway.clone(),
        w.owner.clone(),
        stopped,
    ));
    w.merchant.connect(w.owner.node_id(), w.owner.listen_addr()).await.expect("connect");
    let mut inbox = w.merchant.subscribe_peer_messages();
    let mut car = payer_device(&w.router, 10_000_000, 50_000_000).await;

    // A token for the meter's invoice: sent over the connection, paid over the channels.
    let invoice = w.invoice(Some(2_100_000)).await;
    let (hash, amount, payee) = terms(&invoice);
    let token = car.authorize(hash, amount, payee, now_secs() + 600).expect("token");
    w.merchant
        .send_peer_message(w.owner.node_id(), INITIATE_PAYMENT_TYPE, initiate(token, &invoice))
        .expect("send");
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while w.received(&invoice).await.is_none() {
        assert!(tokio::time::Instant::now() < deadline, "not paid within 60 s");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(w.received(&invoice).await, Some(2_100_000));

    // The same token with another invoice: reject_payment names the token and the reason.
    let other = w.invoice(Some(2_100_000)).await;
    w.merchant
        .send_peer_message(w.owner.node_id(), INITIATE_PAYMENT_TYPE, initiate(token, &other))
        .expect("send");
    let reply = loop {
        let message = tokio::time::timeout(Duration::from_secs(60), inbox.recv())
            .await
            .expect("a reply within 60 s")
            .expect("inbox");
        if message.type_id == REJECT_PAYMENT_TYPE {
            break message;
        }
    };
    assert_eq!(reply.peer, w.owner.node_id());
    let reject = RejectPayment::parse(&reply.payload).expect("reject_payment");
    assert_eq!(reject.token_hash, token_hash(&token));
    assert_eq!(reject.invoice, other);
    assert_eq!(reject.reason, "wrong_invoice");
    assert_eq!(w.received(&other).await, None);

    // Garbage gets a reject too, never a crash.
    w.merchant
        .send_peer_message(w.owner.node_id(), INITIATE_PAYMENT_TYPE, vec![1, 2, 3])
        .expect("send");
    let message = tokio::time::timeout(Duration::from_secs(60), inbox.recv())
        .await
        .expect("a reply within 60 s")
        .expect("inbox");
    let reject = RejectPayment::parse(&message.payload).expect("reject_payment");
    assert_eq!(reject.reason, "invalid_field");

    stop.send(true).expect("stop");
    server.await.expect("server task");
    w.net.shutdown().await;
}
