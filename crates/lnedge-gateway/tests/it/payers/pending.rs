//! A payment whose outcome was unknown when it was sent stays `pending` and reserved; the
//! gateway's housekeeping settles it from what the owner's node later knows: paid, or failed
//! with the reservation given back.

use std::time::Duration;

use lnedge_gateway::store::payers::{PayerPaymentRecord, PayerPaymentState};
use lnedge_node::{parse_invoice, LightningBackend, PayRequest};
use serde_json::json;

use super::world;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn housekeeping_settles_pending_payments_from_the_nodes_outcome() {
    let w = world().await;
    let (id, _card) =
        w.card(json!({"per_payment_msat": 5_000_000, "per_day_msat": 9_000_000})).await;
    let payer = lnedge_proto::DeviceId(hex::decode(&id).expect("hex").try_into().expect("16"));
    let gateway = &w.state.gateway;

    // Two payments left pending (as after a timeout), 3 000 000 msat each, reserved today.
    let now = crate::support::now_secs();
    let mut card = w.store.payer(payer).await.expect("read").expect("card");
    card.day = now / 86_400;
    card.day_spent_msat = 6_000_000;
    card.version += 1;
    w.store.put_payer(&card).await.expect("reserve");
    let paid_invoice = w.invoice(Some(3_000_000)).await;
    let (failing_invoice, _) =
        super::invoice_of(&w.net.add_node("offline").await.expect("node"), Some(3_000_000), 600)
            .await;
    for invoice in [&paid_invoice, &failing_invoice] {
        let parsed = parse_invoice(invoice).expect("bolt11");
        w.store
            .insert_payer_payment(&PayerPaymentRecord {
                payment_hash: *parsed.payment_hash().as_ref(),
                payer_id: payer,
                kind: lnedge_gateway::store::payers::PayerKind::Card,
                counter: 1,
                amount_msat: 3_000_000,
                fee_msat: None,
                state: PayerPaymentState::Pending,
                invoice: invoice.to_string(),
                failure: None,
                created_at: now,
                settled_at: None,
                version: 1,
            })
            .await
            .expect("pending");
        // The node's own attempt: one is paid, the other has no route (the payee is offline).
        let request = PayRequest {
            invoice: parsed,
            amount_msat: None,
            max_fee_msat: 10_000,
            timeout: Duration::from_secs(60),
            max_total_cltv_expiry_delta: None,
        };
        let _ = w.owner.pay(request).await;
    }

    gateway.housekeeping().await.expect("housekeeping");
    let hash = |i: &str| *parse_invoice(i).expect("bolt11").payment_hash().as_ref();
    let paid = w.store.payer_payment(&hash(&paid_invoice)).await.expect("read").expect("row");
    assert_eq!(paid.state, PayerPaymentState::Paid);
    assert!(paid.fee_msat.is_some());
    let failed = w.store.payer_payment(&hash(&failing_invoice)).await.expect("read").expect("row");
    assert_eq!(failed.state, PayerPaymentState::Failed, "{failed:?}");
    let card = w.store.payer(payer).await.expect("read").expect("card");
    assert_eq!(card.day_spent_msat, 3_000_000, "the failed payment's reservation is back");
    w.net.shutdown().await;
}
