//! Spending from a payer: the rules every card tap and every token passes, in one place.
//!
//! 1. [`reserve`]: one compare-and-set on the payer's record checks its state, its counter (a
//!    token's), the per-payment limit, the day's limit and the PIN, and adds the amount to the
//!    day's spend. Two replicas racing for the last of a day's budget: one wins, the other reads
//!    again and is refused. A wrong PIN is counted in the same record (and locks the card at the
//!    limit).
//! 2. [`pay_once`]: the payment is recorded under its payment hash before the node is asked, so
//!    an invoice is paid at most once whatever presents it again; then the owner's node pays.
//!    Paid → `paid` with its fee; a definite failure → `failed` and the reservation released;
//!    an unknown outcome (timeout, node unreachable) → stays `pending` and reserved.

use std::sync::Arc;
use std::time::Duration;

use lnedge_node::lightning_invoice::Bolt11Invoice;
use lnedge_node::{BackendError, PayFailure, PayRequest};
use lnedge_proto::DeviceId;
use subtle::ConstantTimeEq;

use super::{PayerError, PayerSettings};
use crate::engine::parts::Parts;
use crate::store::payers::{
    PayerKind, PayerPaymentRecord, PayerPaymentState, PayerRecord, PayerState,
};
use crate::store::StoreError;

/// Compare-and-set rounds before answering "busy" (each lost round means another payment of
/// the same payer was counted; 50 taps at once need a few dozen).
const MAX_ROUNDS: usize = 256;

/// Pending payments settled per housekeeping round (the rest wait for the next one).
const PENDING_BATCH: u32 = 1_000;

/// Seconds in a UTC day.
const DAY_SECS: u64 = 86_400;

/// What a payment must satisfy besides the amount.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Spend<'a> {
    /// The amount, in millisatoshis.
    pub amount_msat: u64,
    /// A counter to move forward in the same write (tokens: strictly above the last one).
    pub counter: Option<u32>,
    /// The PIN given with a card callback.
    pub pin: Option<&'a str>,
}

fn state_refusal(p: &PayerRecord) -> Option<PayerError> {
    let what = p.kind.as_str();
    match p.state {
        PayerState::Active => None,
        PayerState::Pending => Some(PayerError::refused(
            "card_not_programmed",
            "this card was issued but never programmed",
        )),
        PayerState::Disabled => {
            Some(PayerError::refused("payer_disabled", format!("this {what} is disabled")))
        }
        PayerState::Locked => Some(PayerError::refused(
            "card_locked",
            format!("this {what} is locked after too many wrong PINs; the operator can unlock it"),
        )),
        PayerState::Wiped => {
            Some(PayerError::refused("payer_wiped", format!("this {what} was wiped")))
        }
    }
}

/// Refuses a payer that cannot pay (pending, disabled, locked, wiped).
pub(crate) fn check_state(p: &PayerRecord) -> Result<(), PayerError> {
    state_refusal(p).map_or(Ok(()), Err)
}

/// The day's spend of `p` at `now` (0 on a new day).
pub(crate) fn spent_today(p: &PayerRecord, now: u64) -> u64 {
    if p.day == now / DAY_SECS {
        p.day_spent_msat
    } else {
        0
    }
}

/// What `p` may still pay in one payment at `now`.
pub(crate) fn available_msat(p: &PayerRecord, now: u64) -> u64 {
    p.per_payment_msat.min(p.per_day_msat.saturating_sub(spent_today(p, now)))
}

/// Step 1 (see the module): checks and reserves `spend` on `payer`; answers the record as
/// written.
pub(crate) async fn reserve(
    gateway: &Arc<Parts>,
    settings: &PayerSettings,
    payer: DeviceId,
    spend: Spend<'_>,
) -> Result<PayerRecord, PayerError> {
    for _ in 0..MAX_ROUNDS {
        let now = gateway.now_secs();
        let p =
            gateway.store().payer(payer).await?.ok_or_else(|| {
                PayerError::not_found("unknown_payer", format!("no payer {payer}"))
            })?;
        check_state(&p)?;
        if let (Some(counter), Some(last)) = (spend.counter, p.counter) {
            if counter <= last {
                return Err(PayerError::refused(
                    "replayed_counter",
                    format!("counter {counter} is not above the last one used ({last}): replayed"),
                ));
            }
        }
        let mut next = p.clone();
        next.version = p.version.saturating_add(1);
        if let Some(counter) = spend.counter {
            next.counter = Some(counter);
        }
        // The PIN, when this amount needs it: a wrong one is counted (and may lock the card),
        // written before anything else is judged.
        if let (Some(limit), Some(hash)) = (p.pin_limit_msat, p.pin_hash) {
            if spend.amount_msat >= limit {
                let Some(pin) = spend.pin else {
                    return Err(PayerError::refused(
                        "pin_required",
                        format!("a PIN is required from {limit} msat"),
                    ));
                };
                let given =
                    lnedge_wire::keys::card_pin_hash(gateway.device_master_key(), &p.id, pin);
                if !bool::from(given.ct_eq(&hash)) {
                    next.pin_failures = p.pin_failures.saturating_add(1);
                    let locked = next.pin_failures >= settings.pin_max_failures;
                    if locked {
                        next.state = PayerState::Locked;
                    }
                    match gateway.store().put_payer(&next).await {
                        Err(StoreError::Conflict) => continue,
                        other => other?,
                    }
                    return Err(if locked {
                        PayerError::refused("card_locked", "wrong PIN; the card is now locked")
                    } else {
                        PayerError::refused(
                            "wrong_pin",
                            format!(
                                "wrong PIN ({} of {} tries left)",
                                settings.pin_max_failures.saturating_sub(next.pin_failures),
                                settings.pin_max_failures
                            ),
                        )
                    });
                }
                next.pin_failures = 0;
            }
        }
        if spend.amount_msat > p.per_payment_msat {
            return Err(PayerError::refused(
                "over_payment_limit",
                format!(
                    "{} msat is above this {}'s per-payment limit of {} msat",
                    spend.amount_msat,
                    p.kind.as_str(),
                    p.per_payment_msat
                ),
            ));
        }
        let today = spent_today(&p, now);
        let total = today.saturating_add(spend.amount_msat);
        if total > p.per_day_msat {
            return Err(PayerError::refused(
                "over_daily_limit",
                format!(
                    "{} msat would bring today's spend to {total} msat, above the daily limit of {} msat",
                    spend.amount_msat, p.per_day_msat
                ),
            ));
        }
        next.day = now / DAY_SECS;
        next.day_spent_msat = total;
        match gateway.store().put_payer(&next).await {
            Ok(()) => return Ok(next),
            Err(StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(StoreError::Conflict.into())
}

/// Gives a reservation back (a payment that definitely failed, or an invoice already paid).
/// A reservation of an earlier day is not given back (that day's spend no longer counts).
pub(crate) async fn release(gateway: &Arc<Parts>, payer: DeviceId, amount_msat: u64, day: u64) {
    for _ in 0..MAX_ROUNDS {
        let p = match gateway.store().payer(payer).await {
            Ok(Some(p)) => p,
            Ok(None) => return,
            Err(e) => {
                tracing::error!(error = %e, "releasing a payer reservation: the store failed");
                return;
            }
        };
        if p.day != day {
            return;
        }
        let next = PayerRecord {
            day_spent_msat: p.day_spent_msat.saturating_sub(amount_msat),
            version: p.version.saturating_add(1),
            ..p
        };
        match gateway.store().put_payer(&next).await {
            Ok(()) => return,
            Err(StoreError::Conflict) => continue,
            Err(e) => {
                tracing::error!(error = %e, "releasing a payer reservation: the store failed");
                return;
            }
        }
    }
}

fn outcome_unknown(e: &BackendError) -> bool {
    matches!(
        e,
        BackendError::Payment(PayFailure::Timeout { .. })
            | BackendError::Unavailable(_)
            | BackendError::Storage(_)
    )
}

/// Step 2 (see the module): records the payment once under its hash, then pays it. `reserved`
/// is the payer as [`reserve`] wrote it.
pub(crate) async fn pay_once(
    gateway: &Arc<Parts>,
    settings: &PayerSettings,
    reserved: &PayerRecord,
    counter: u32,
    invoice: &Bolt11Invoice,
    amount_msat: u64,
) -> Result<PayerPaymentRecord, PayerError> {
    let mut record = PayerPaymentRecord {
        payment_hash: *invoice.payment_hash().as_ref(),
        payer_id: reserved.id,
        kind: reserved.kind,
        counter,
        amount_msat,
        fee_msat: None,
        state: PayerPaymentState::Pending,
        invoice: invoice.to_string(),
        failure: None,
        created_at: gateway.now_secs(),
        settled_at: None,
        version: 1,
    };
    if let Err(e) = gateway.store().insert_payer_payment(&record).await {
        release(gateway, reserved.id, amount_msat, reserved.day).await;
        return Err(match e {
            StoreError::HashTaken => PayerError::refused(
                "invoice_already_paid",
                "this invoice was already presented for payment",
            ),
            e => e.into(),
        });
    }
    let request = PayRequest {
        invoice: invoice.clone(),
        amount_msat: None,
        max_fee_msat: settings.max_fee_msat(amount_msat),
        timeout: Duration::from_secs(settings.pay_timeout_secs),
        max_total_cltv_expiry_delta: None,
    };
    let hash = hex::encode(record.payment_hash);
    let result = gateway.owner().pay(request).await;
    record.version = 2;
    record.settled_at = Some(gateway.now_secs());
    let answer = match result {
        Ok(outcome) => {
            record.state = PayerPaymentState::Paid;
            record.fee_msat = outcome.fee_paid_msat;
            tracing::info!(payment_hash = %hash, amount_msat, kind = reserved.kind.as_str(), "payer payment paid");
            Ok(())
        }
        Err(e) if outcome_unknown(&e) => {
            tracing::warn!(payment_hash = %hash, error = %e, "payer payment outcome unknown; stays pending");
            return Err(PayerError::PaymentPending);
        }
        Err(e) => {
            record.state = PayerPaymentState::Failed;
            record.failure = Some(e.to_string());
            release(gateway, reserved.id, amount_msat, reserved.day).await;
            tracing::warn!(payment_hash = %hash, error = %e, "payer payment failed; reservation released");
            Err(PayerError::PaymentFailed(e.to_string()))
        }
    };
    if let Err(e) = gateway.store().put_payer_payment(&record).await {
        tracing::error!(payment_hash = %hash, error = %e, "recording a payer payment's outcome failed");
    }
    answer.map(|()| record)
}

/// Whether `kind` may use `p` (a card's routes never spend a device's budget and back).
pub(crate) fn check_kind(p: &PayerRecord, kind: PayerKind) -> Result<(), PayerError> {
    if p.kind == kind {
        Ok(())
    } else {
        Err(PayerError::not_found("unknown_payer", format!("{} is not a {}", p.id, kind.as_str())))
    }
}

/// Settles payments left `pending` (their outcome was unknown when they were sent) from what
/// the owner's node now knows: paid → `paid`; failed → `failed` and the reservation released;
/// still in flight or unknown to the node → left for the next round. Answers how many settled.
pub(crate) async fn resolve_pending(gateway: &Arc<Parts>) -> Result<u64, StoreError> {
    let mut settled = 0;
    for mut payment in gateway.store().pending_payer_payments(PENDING_BATCH).await? {
        let hash = lnedge_node::PaymentHash(payment.payment_hash);
        let status = match gateway.owner().payment_status(hash).await {
            Ok(Some(status)) => status,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(error = %e, "resolving pending payer payments: the node did not answer");
                return Ok(settled);
            }
        };
        payment.version = payment.version.saturating_add(1);
        payment.settled_at = Some(gateway.now_secs());
        match status {
            lnedge_node::PaymentStatus::Pending => continue,
            lnedge_node::PaymentStatus::Succeeded(outcome) => {
                payment.state = PayerPaymentState::Paid;
                payment.fee_msat = outcome.fee_paid_msat;
            }
            lnedge_node::PaymentStatus::Failed { reason } => {
                payment.state = PayerPaymentState::Failed;
                payment.failure = Some(reason);
            }
        }
        match gateway.store().put_payer_payment(&payment).await {
            Ok(()) => {}
            Err(StoreError::Conflict) => continue, // another replica settled it
            Err(e) => return Err(e),
        }
        if payment.state == PayerPaymentState::Failed {
            let day = payment.created_at / DAY_SECS;
            release(gateway, payment.payer_id, payment.amount_msat, day).await;
        }
        settled += 1;
    }
    Ok(settled)
}
