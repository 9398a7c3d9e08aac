//! The plugin's invoice updates and lightningd's payments → the backend store's state and
//! durable event queue.
//!
//! * Invoices: `lnedge-waitupdates` after the stored index, for good. The plugin keeps each
//!   invoice's latest state under an index raised on every change, so a backend that was away
//!   reads every invoice that changed since; a state passed through while away (held, then
//!   settled) is reported as where it is now.
//! * Payments: `xpay` answers the outcome; one whose answer was lost (the socket broke, the
//!   caller's wait ran out, the process stopped) is followed with `listpays` until it ends.
//!
//! Every fact is written with its event in one transaction and deduplicated by the store.

use std::sync::Arc;
use std::time::Duration;

use lightning_types::payment::{PaymentHash, PaymentPreimage};
use lnedge_cln_plugin::wire::{self, InvoiceRecord, RecordState, WaitRequest, WaitResponse};
use serde_json::{json, Value};

use super::rpc::{CallError, Rpc};
use crate::backend::InvoiceState;
use crate::error::BackendError;
use crate::event::BackendEvent;
use crate::store::BackendStore;

const UPDATED_INDEX: &str = "cln.updated_index";

/// The contract's view of a plugin record, and the event it produces (hold invoices only for
/// held and cancelled).
pub(crate) fn read_record(
    record: &InvoiceRecord,
    hold: bool,
) -> (InvoiceState, Option<BackendEvent>) {
    let payment_hash = match wire::hex32("payment_hash", &record.payment_hash) {
        Ok(h) => PaymentHash(h),
        Err(_) => return (InvoiceState::Open, None),
    };
    match record.state {
        RecordState::Open => (InvoiceState::Open, None),
        RecordState::Held => {
            let (amount_msat, claim_deadline_height) =
                (record.received_msat, record.claim_deadline_height);
            let event =
                BackendEvent::InvoiceHeld { payment_hash, amount_msat, claim_deadline_height };
            (InvoiceState::Held { amount_msat, claim_deadline_height }, hold.then_some(event))
        }
        RecordState::Settled => {
            let amount_msat = record.received_msat;
            (
                InvoiceState::Settled { amount_msat },
                Some(BackendEvent::InvoiceSettled { payment_hash, amount_msat }),
            )
        }
        RecordState::Cancelled => (
            InvoiceState::Cancelled,
            hold.then_some(BackendEvent::InvoiceCancelled { payment_hash }),
        ),
    }
}

/// Records a plugin record (if the invoice was created through this backend); its state.
pub(crate) fn apply(
    store: &BackendStore,
    record: &InvoiceRecord,
) -> Result<Option<InvoiceState>, BackendError> {
    let hash = wire::hex32("payment_hash", &record.payment_hash)
        .map_err(|e| BackendError::Node(format!("lnedge-cln-hold answered {e}")))?;
    let hash = PaymentHash(hash);
    let Some(stored) = store.invoice(&hash)? else { return Ok(None) };
    let (state, event) = read_record(record, stored.hold);
    let done = matches!(stored.state, InvoiceState::Settled { .. } | InvoiceState::Cancelled);
    if !done && state != InvoiceState::Open {
        store.transition(&hash, state, event.as_ref())?;
    }
    Ok(Some(state))
}

/// Follows the plugin's updates for good (a task of the backend).
pub(crate) async fn invoices(rpc: Rpc, store: Arc<BackendStore>) {
    let mut pause = Duration::from_millis(100);
    loop {
        match poll(&rpc, &store).await {
            Ok(()) => pause = Duration::from_millis(100),
            Err(e) => {
                tracing::warn!(error = %e, "following lnedge-cln-hold's updates: trying again");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(Duration::from_secs(5));
            }
        }
    }
}

/// One wait for updates after the stored index.
async fn poll(rpc: &Rpc, store: &BackendStore) -> Result<(), BackendError> {
    let request = WaitRequest { after_index: store.cursor(UPDATED_INDEX)?, timeout_secs: 30 };
    let answer: WaitResponse = rpc.call_alone(wire::WAIT, &request).await?;
    for record in &answer.updates {
        apply(store, record)?;
        store.advance_cursor(UPDATED_INDEX, record.updated_index)?;
    }
    Ok(())
}

/// xpay's error codes (lightningd's `jsonrpc_errors.h`) as the codes the store keeps.
pub(crate) fn failure_code(e: &CallError) -> Option<String> {
    let code = match e.code()? {
        203 => "recipient_rejected",
        205 | 206 => "route_not_found",
        207 => "payment_expired",
        209 | 210 => "retries_exhausted",
        _ => return Some(e.to_string()),
    };
    Some(code.to_owned())
}

/// What `listpays` says of the payment of `hash`: `Some(event)` once it ended, `None` while
/// pending; a payment lightningd does not know was never started.
pub(crate) async fn lookup_payment(
    rpc: &Rpc,
    hash: PaymentHash,
) -> Result<Option<BackendEvent>, CallError> {
    let answer: Value = rpc.call("listpays", &json!({"payment_hash": hex::encode(hash.0)})).await?;
    let pays: cln_rpc::model::responses::ListpaysResponse =
        serde_json::from_value(answer).map_err(|e| CallError::Decode(format!("listpays: {e}")))?;
    use cln_rpc::model::responses::ListpaysPaysStatus as Status;
    let mut pending = false;
    for pay in &pays.pays {
        match pay.status {
            Status::COMPLETE => {
                if let Some(preimage) = pay.preimage {
                    let sent = pay.amount_sent_msat.map(|a| a.msat());
                    let fee = sent
                        .zip(pay.amount_msat.map(|a| a.msat()))
                        .map(|(s, a)| s.saturating_sub(a));
                    return Ok(Some(BackendEvent::PaymentSucceeded {
                        payment_hash: hash,
                        preimage: PaymentPreimage(preimage.into()),
                        fee_paid_msat: fee,
                    }));
                }
            }
            Status::PENDING => pending = true,
            Status::FAILED => {}
        }
    }
    if pending {
        return Ok(None);
    }
    let reason = if pays.pays.is_empty() { "not_initiated" } else { "failed (listpays)" };
    Ok(Some(BackendEvent::PaymentFailed { payment_hash: hash, reason: reason.to_owned() }))
}

/// Follows the payment of `hash` with `listpays` until its outcome is recorded (a task).
pub(crate) async fn track(rpc: Rpc, store: Arc<BackendStore>, hash: PaymentHash) {
    let mut pause = Duration::from_millis(100);
    loop {
        match lookup_payment(&rpc, hash).await {
            Ok(Some(event)) => {
                let _ = store.resolve_payment(event);
                return;
            }
            Ok(None) => {}
            Err(e) => {
                tracing::warn!(payment_hash = %hash, error = %e, "following a payment on CLN")
            }
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(Duration::from_secs(2));
    }
}
