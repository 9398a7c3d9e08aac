//! The attacks of issue #5 that must fail, each its own test, against a real sandbox payment:
//! a routing node's view, a bystander's view, replays, a dispensed entry, concurrent claims,
//! a tampered invoice.

use axum::http::StatusCode;
use lnedge_device::VendOutcome;
use lnedge_gateway::store::refunds::RefundState;
use lnedge_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
use lnedge_node::lightning_invoice::{
    Bolt11Invoice, RawBolt11Invoice, RawTaggedField, SignedRawBolt11Invoice, TaggedField,
};
use lnedge_proto::envelope::{refund_url, RefundVoucher};
use lnedge_proto::pool::Pool;
use serde_json::{json, Value};

use crate::refunds::{call, get, post, received, world, World, PRICE_MSAT, REFUND_BASE};

/// Re-encodes `bolt11` after `edit`, signed by `key` (or with its original signature).
fn forge(bolt11: &str, edit: impl FnOnce(&mut RawBolt11Invoice), key: Option<SecretKey>) -> String {
    let invoice: Bolt11Invoice = bolt11.parse().expect("invoice");
    let (mut raw, _, signature) = invoice.into_signed_raw().into_parts();
    edit(&mut raw);
    let signed: SignedRawBolt11Invoice = match key {
        Some(key) => raw
            .sign::<_, ()>(|msg| Ok(Secp256k1::new().sign_ecdsa_recoverable(msg, &key)))
            .expect("sign"),
        None => raw.sign::<_, ()>(|_| Ok(signature.0)).expect("reuse signature"),
    };
    signed.to_string()
}

fn code(body: &Value) -> &str {
    body["error"]["code"].as_str().unwrap_or("")
}

/// A world with one jammed, paid, synced sale.
async fn jammed() -> (World, crate::refunds::Sale) {
    let mut w = world().await;
    let sale = w.buy(true).await;
    w.record_payments(1).await;
    w.sync().await;
    (w, sale)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routing_node_with_the_preimage_cannot_claim() {
    let (w, sale) = jammed().await;
    // A routing node saw the payment hash and, on settlement, the preimage; never the invoice
    // or its payment secret. Its best forgery: an invoice for that hash with a secret of its
    // own choosing, signed with its own key …
    let routing_key = SecretKey::from_slice(&[0x33; 32]).expect("key");
    let set_secret = |raw: &mut RawBolt11Invoice| {
        for field in raw.data.tagged_fields.iter_mut() {
            if let RawTaggedField::KnownSemantics(TaggedField::PaymentSecret(s)) = field {
                s.0 = rand::random();
            }
        }
    };
    let own = forge(
        &sale.bolt11,
        |raw| {
            set_secret(raw);
            // Its own signature: the payee becomes the key that signed (no explicit payee).
            raw.data.tagged_fields.retain(|f| {
                !matches!(f, RawTaggedField::KnownSemantics(TaggedField::PayeePubKey(_)))
            });
        },
        Some(routing_key),
    );
    let (status, body) = w.prove(&sale.voucher_text(), &own, &sale.preimage).await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "wrong_payee"), "{body}");
    // … or the owner's signature kept on its guessed secret.
    let guessed = forge(&sale.bolt11, set_secret, None);
    let (status, body) = w.prove(&sale.voucher_text(), &guessed, &sale.preimage).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
    assert!(["wrong_payee", "invalid_invoice"].contains(&code(&body)), "{body}");
    // The receipt API says the same.
    let (status, body) = call(
        &w.router,
        post(
            "/v1/proofs/verify",
            json!({"invoice": own, "preimage": hex::encode(sale.preimage)}),
            false,
        ),
    )
    .await;
    assert_eq!((status, code(&body)), (StatusCode::UNPROCESSABLE_ENTITY, "wrong_payee"));
    assert!(w.store.refund(&sale.payment_hash()).await.expect("read").is_none(), "nothing opened");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_bystander_with_the_invoice_cannot_claim() {
    let (w, sale) = jammed().await;
    // A bystander photographed the QR (the invoice) but never learnt the preimage.
    let guess: [u8; 32] = rand::random();
    let (status, body) = w.prove(&sale.voucher_text(), &sale.bolt11, &guess).await;
    assert_eq!(
        (status, code(&body)),
        (StatusCode::UNPROCESSABLE_ENTITY, "preimage_mismatch"),
        "{body}"
    );
    // The payment hash is public too; it is not a preimage.
    let (_, body) = w.prove(&sale.voucher_text(), &sale.bolt11, &sale.payment_hash()).await;
    assert_eq!(code(&body), "preimage_mismatch");
    // Failures are rate-limited per client: the budget runs out.
    let mut last = StatusCode::OK;
    for _ in 0..12 {
        last = w.prove(&sale.voucher_text(), &sale.bolt11, &guess).await.0;
    }
    assert_eq!(last, StatusCode::TOO_MANY_REQUESTS);
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_used_proof_or_voucher_cannot_be_replayed() {
    let (w, sale) = jammed().await;
    let (status, body) = w.prove(&sale.voucher_text(), &sale.bolt11, &sale.preimage).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let k1 = body["k1"].as_str().expect("k1").to_owned();
    let invoice = w.customer_invoice(Some(PRICE_MSAT)).await;
    let (_, reply) =
        call(&w.router, get(&format!("/v1/refunds/withdraw/callback?k1={k1}&pr={invoice}"))).await;
    assert_eq!(reply["status"], "OK", "{reply}");
    w.wait_refund(&sale.payment_hash(), RefundState::Paid).await;
    assert_eq!(received(&w.customer, &invoice).await, Some(PRICE_MSAT));

    // The same proof and voucher again: refused, nothing is paid twice.
    let (status, body) = w.prove(&sale.voucher_text(), &sale.bolt11, &sale.preimage).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "refund_paid"), "{body}");
    // The same withdraw link, with a fresh invoice: refused.
    let second = w.customer_invoice(Some(PRICE_MSAT)).await;
    let (_, reply) =
        call(&w.router, get(&format!("/v1/refunds/withdraw/callback?k1={k1}&pr={second}"))).await;
    assert_eq!(
        (reply["status"].as_str(), reply["code"].as_str()),
        (Some("ERROR"), Some("refund_paid"))
    );
    let (_, reply) = call(&w.router, get(&format!("/v1/refunds/withdraw?k1={k1}"))).await;
    // LUD-03 zero balance: a withdraw request of 0, nothing left to take.
    assert_eq!(
        (reply["tag"].as_str(), reply["maxWithdrawable"].as_u64()),
        (Some("withdrawRequest"), Some(0)),
        "nothing left to withdraw: {reply}"
    );
    assert_eq!(received(&w.customer, &second).await, None);
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dispensed_entry_is_not_refundable() {
    let mut w = world().await;
    let sale = w.buy(false).await;
    let VendOutcome::Dispensed { index, .. } = sale.outcome else {
        panic!("dispensed: {:?}", sale.outcome);
    };
    w.record_payments(1).await;
    w.sync().await;
    // The customer got the product, then forges a refund voucher for it (vouchers hold no
    // secret) and presents a perfectly valid proof of payment.
    let pool = Pool::parse(&w.pool_bytes).expect("pool");
    let voucher = RefundVoucher {
        device_id: w.device,
        pool_id: pool.pool_id(),
        entry_index: index,
        payment_hash: sale.payment_hash(),
        amount_msat: PRICE_MSAT,
        counter: 1,
    };
    let text = refund_url(REFUND_BASE, &voucher);
    let (status, body) = w.prove(&text, &sale.bolt11, &sale.preimage).await;
    assert_eq!((status, code(&body)), (StatusCode::CONFLICT, "dispensed"), "{body}");
    // The proof itself is valid (a receipt), it just grants no refund.
    let (status, body) = call(
        &w.router,
        post(
            "/v1/proofs/verify",
            json!({"invoice": sale.bolt11, "preimage": hex::encode(sale.preimage)}),
            false,
        ),
    )
    .await;
    assert_eq!((status, body["paid"].as_bool()), (StatusCode::OK, Some(true)), "{body}");
    assert!(w.store.refund(&sale.payment_hash()).await.expect("read").is_none());
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn of_two_concurrent_claims_exactly_one_wins() {
    let (w, sale) = jammed().await;
    let (_, body) = w.prove(&sale.voucher_text(), &sale.bolt11, &sale.preimage).await;
    let k1 = body["k1"].as_str().expect("k1").to_owned();
    let (a, b) =
        (w.customer_invoice(Some(PRICE_MSAT)).await, w.customer_invoice(Some(PRICE_MSAT)).await);
    let (ra, rb) = tokio::join!(
        call(&w.router, get(&format!("/v1/refunds/withdraw/callback?k1={k1}&pr={a}"))),
        call(&w.router, get(&format!("/v1/refunds/withdraw/callback?k1={k1}&pr={b}"))),
    );
    let oks = [&ra.1, &rb.1].iter().filter(|r| r["status"] == "OK").count();
    assert_eq!(oks, 1, "{ra:?} {rb:?}");
    let loser = if ra.1["status"] == "OK" { &rb.1 } else { &ra.1 };
    assert_eq!(loser["code"], "refund_claimed", "{loser}");
    w.wait_refund(&sale.payment_hash(), RefundState::Paid).await;
    let paid = [received(&w.customer, &a).await, received(&w.customer, &b).await];
    assert_eq!(paid.iter().flatten().count(), 1, "paid once: {paid:?}");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_invoice_is_refused() {
    let (w, sale) = jammed().await;
    // Any field changed under the owner's signature: the amount, the description, the hash.
    let doubled =
        forge(&sale.bolt11, |raw| raw.hrp.raw_amount = raw.hrp.raw_amount.map(|a| a * 2), None);
    let described = forge(
        &sale.bolt11,
        |raw| {
            for field in raw.data.tagged_fields.iter_mut() {
                if let RawTaggedField::KnownSemantics(TaggedField::Description(d)) = field {
                    *d = lnedge_node::lightning_invoice::Description::new("Free cola".into())
                        .expect("description");
                }
            }
        },
        None,
    );
    for tampered in [doubled, described] {
        assert_ne!(tampered, sale.bolt11);
        let (status, body) = w.prove(&sale.voucher_text(), &tampered, &sale.preimage).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert!(["wrong_payee", "invalid_invoice"].contains(&code(&body)), "{body}");
    }
    // A character flipped in the text breaks its checksum.
    let mut flipped = sale.bolt11.clone().into_bytes();
    let i = flipped.len() / 2;
    flipped[i] = if flipped[i] == b'q' { b'p' } else { b'q' };
    let (_, body) = w
        .prove(&sale.voucher_text(), &String::from_utf8(flipped).expect("utf-8"), &sale.preimage)
        .await;
    assert_eq!(code(&body), "invalid_invoice", "{body}");
    w.net.shutdown().await;
}
