//! LND's updates → the backend store's state and durable event queue.
//!
//! * Invoices: `SubscribeInvoices` resumed from the stored `add_index` / `settle_index`. LND
//!   replays only *added* and *settled* invoices after those indexes, never the `ACCEPTED` (held)
//!   and `CANCELED` changes, so after every (re)subscription every invoice the store still sees
//!   open or held is looked up once (`LookupInvoice`): nothing that happened while no stream was
//!   open is missed. A stream that ends or fails is reopened with a growing pause (0.1 s → 5 s).
//! * Payments: a payment whose outcome is not recorded (the caller's wait ran out, or the
//!   process stopped) is followed with `TrackPaymentV2` until it ends.
//!
//! Every fact is written with its event in one transaction and deduplicated by the store, so a
//! replay after a restart or a resubscription queues nothing twice.

use std::sync::Arc;
use std::time::Duration;

use lightning_types::payment::{PaymentHash, PaymentPreimage};
use serde_json::Value;

use super::rest::{bytes32_of, str_of, u64_of, Rest, RestError};
use crate::backend::InvoiceState;
use crate::error::BackendError;
use crate::event::BackendEvent;
use crate::store::BackendStore;

/// LND cancels an accepted hold invoice by itself once the chain is within this many blocks of
/// an HTLC's expiry (`DefaultHoldInvoiceExpiryDelta`); the claim deadline reported is the last
/// block before that.
pub(crate) const HOLD_EXPIRY_DELTA: u32 = 12;

const ADD_INDEX: &str = "lnd.add_index";
const SETTLE_INDEX: &str = "lnd.settle_index";

/// Runs the invoice subscription for good (a task of the backend).
pub(crate) async fn invoices(rest: Rest, store: Arc<BackendStore>) {
    let mut pause = Duration::from_millis(100);
    loop {
        let started = tokio::time::Instant::now();
        match session(&rest, &store).await {
            Ok(()) => tracing::info!("LND ended the invoice stream: subscribing again"),
            Err(e) => tracing::warn!(error = %e, "LND invoice stream failed: subscribing again"),
        }
        if started.elapsed() > Duration::from_secs(30) {
            pause = Duration::from_millis(100);
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}

/// One subscription: open the stream, read back what may have been missed, then follow it.
async fn session(rest: &Rest, store: &BackendStore) -> Result<(), BackendError> {
    let (add, settle) = (store.cursor(ADD_INDEX)?, store.cursor(SETTLE_INDEX)?);
    let path = format!("/v1/invoices/subscribe?add_index={add}&settle_index={settle}");
    let mut lines = rest.stream(&path, None).await?;
    reconcile(rest, store).await?;
    while let Some(invoice) = lines.next().await? {
        apply(store, &invoice)?;
    }
    Ok(())
}

/// Looks up every invoice the store has open or held and applies what LND says of it now.
pub(crate) async fn reconcile(rest: &Rest, store: &BackendStore) -> Result<(), BackendError> {
    for (hash, _) in store.unresolved_invoices()? {
        match rest.get(&format!("/v1/invoice/{}", hex::encode(hash.0))).await {
            Ok(invoice) => apply(store, &invoice)?,
            Err(RestError::Lnd { status: 404, .. }) => {
                tracing::warn!(payment_hash = %hash, "LND no longer knows an invoice created through lnedge");
            }
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// The store's view of an `lnrpc.Invoice`, and the event it produces (hold invoices only for
/// `ACCEPTED` and `CANCELED`).
pub(crate) fn read_invoice(
    invoice: &Value,
    hold: bool,
) -> Option<(InvoiceState, Option<BackendEvent>)> {
    let payment_hash = PaymentHash(bytes32_of(invoice, "r_hash")?);
    Some(match str_of(invoice, "state") {
        "ACCEPTED" => {
            let held: Vec<&Value> = invoice
                .get("htlcs")
                .and_then(Value::as_array)
                .map(|h| h.iter().filter(|h| str_of(h, "state") == "ACCEPTED").collect())
                .unwrap_or_default();
            let amount_msat = held.iter().map(|h| u64_of(h, "amt_msat")).sum();
            let claim_deadline_height = held
                .iter()
                .map(|h| u64_of(h, "expiry_height") as u32)
                .min()
                .map(|expiry| expiry.saturating_sub(HOLD_EXPIRY_DELTA + 1));
            let state = InvoiceState::Held { amount_msat, claim_deadline_height };
            let event =
                BackendEvent::InvoiceHeld { payment_hash, amount_msat, claim_deadline_height };
            (state, hold.then_some(event))
        }
        "SETTLED" => {
            let amount_msat = u64_of(invoice, "amt_paid_msat");
            (
                InvoiceState::Settled { amount_msat },
                Some(BackendEvent::InvoiceSettled { payment_hash, amount_msat }),
            )
        }
        "CANCELED" => (
            InvoiceState::Cancelled,
            hold.then_some(BackendEvent::InvoiceCancelled { payment_hash }),
        ),
        _ => (InvoiceState::Open, None),
    })
}

/// Records an invoice update of LND (if the invoice was created through this backend) and moves
/// the resume points past it.
pub(crate) fn apply(store: &BackendStore, invoice: &Value) -> Result<(), BackendError> {
    let hash = bytes32_of(invoice, "r_hash")
        .ok_or_else(|| BackendError::Node("LND sent an invoice without r_hash".into()))?;
    let hash = PaymentHash(hash);
    if let Some(stored) = store.invoice(&hash)? {
        let done = matches!(stored.state, InvoiceState::Settled { .. } | InvoiceState::Cancelled);
        if let (false, Some((state, event))) = (done, read_invoice(invoice, stored.hold)) {
            if state != InvoiceState::Open {
                store.transition(&hash, state, event.as_ref())?;
            }
        }
    }
    store.advance_cursor(ADD_INDEX, u64_of(invoice, "add_index"))?;
    store.advance_cursor(SETTLE_INDEX, u64_of(invoice, "settle_index"))?;
    Ok(())
}

/// A finished `lnrpc.Payment` as an event; `None` while in flight.
pub(crate) fn payment_event(payment: &Value, hash: PaymentHash) -> Option<BackendEvent> {
    match str_of(payment, "status") {
        "SUCCEEDED" => {
            let preimage =
                hex::decode(str_of(payment, "payment_preimage")).ok()?.try_into().ok()?;
            Some(BackendEvent::PaymentSucceeded {
                payment_hash: hash,
                preimage: PaymentPreimage(preimage),
                fee_paid_msat: Some(u64_of(payment, "fee_msat")),
            })
        }
        "FAILED" => Some(BackendEvent::PaymentFailed {
            payment_hash: hash,
            reason: failure_code(str_of(payment, "failure_reason")).to_owned(),
        }),
        _ => None,
    }
}

/// LND's `PaymentFailureReason` as the code the store keeps ([`PayFailure::from_code`]).
pub(crate) fn failure_code(reason: &str) -> &str {
    match reason {
        "FAILURE_REASON_INCORRECT_PAYMENT_DETAILS" => "recipient_rejected",
        "FAILURE_REASON_NO_ROUTE" | "FAILURE_REASON_INSUFFICIENT_BALANCE" => "route_not_found",
        "FAILURE_REASON_TIMEOUT" => "retries_exhausted",
        other => other,
    }
}

/// Reads a payment stream until the payment ends; `Ok(None)` if the stream ended first.
pub(crate) async fn follow(
    rest: &Rest,
    path: &str,
    body: Option<&Value>,
    hash: PaymentHash,
) -> Result<Option<BackendEvent>, RestError> {
    let mut lines = rest.stream(path, body).await?;
    while let Some(payment) = lines.next().await? {
        if let Some(event) = payment_event(&payment, hash) {
            return Ok(Some(event));
        }
    }
    Ok(None)
}

/// `TrackPaymentV2`'s path for `hash` (base64url in the path, as the gateway reads bytes).
pub(crate) fn track_path(hash: &PaymentHash) -> String {
    format!("/v2/router/track/{}", super::rest::b64_url(&hash.0))
}

/// The failure recorded when LND says it never started a payment (`payment isn't
/// initiated`, HTTP 404 on `TrackPaymentV2`): nothing was sent.
pub(crate) fn not_initiated(hash: PaymentHash) -> BackendEvent {
    BackendEvent::PaymentFailed { payment_hash: hash, reason: "not_initiated".to_owned() }
}

/// Follows the payment of `hash` with `TrackPaymentV2` until its outcome is recorded (a task).
pub(crate) async fn track(rest: Rest, store: Arc<BackendStore>, hash: PaymentHash) {
    let path = track_path(&hash);
    let mut pause = Duration::from_millis(100);
    loop {
        match follow(&rest, &path, None, hash).await {
            Ok(Some(event)) => {
                let _ = store.resolve_payment(event);
                return;
            }
            Ok(None) => {}
            Err(RestError::Lnd { status: 404, .. }) => {
                let _ = store.resolve_payment(not_initiated(hash));
                return;
            }
            Err(e) => tracing::warn!(payment_hash = %hash, error = %e, "tracking a payment on LND"),
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(5));
    }
}
