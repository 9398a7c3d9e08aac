//! The driver: moves every payment that is not final one step on, from what the store and the
//! node say. Idempotent: running it twice, or after a crash at any point, does no harm.
//!
//! | state | the node says | → |
//! | --- | --- | --- |
//! | offered | held | held (amount, claim deadline, fee; the payee is to be woken) |
//! | offered | cancelled | cancelled |
//! | offered | open, invoice expired | cancel the hold invoice → expired |
//! | held | cancelled (the node failed it back) | expired |
//! | held | deadline within `cancel_margin`, or held longer than `max_hold_secs` | cancel → expired |
//! | held | otherwise | wake the payee (webhook with backoff) |
//! | forwarding | preimage known, or the payment succeeded | settle upstream → settled |
//! | forwarding | the payment failed | held again (attempts and time left) or cancel → cancelled |
//! | forwarding | the payment is pending | wait (its CLTV is bounded by the deadline) |
//! | forwarding | never sent (crash before `pay`) | send it now, if the CLTV budget allows; else cancel |
//! | cancelling (an operator's early cancel) | anything | cancel the hold invoice → cancelled |

use lnedge_node::{
    parse_invoice, BackendError, InvoiceState, PaymentHash, PaymentPreimage, PaymentStatus,
};

use super::schedule::Plan;
use super::{now_secs, Relay, RelayError};
use crate::store::relay::{RelayFilter, RelayPayment, RelayState};

/// A payment whose step failed is looked at again after this many seconds.
fn retry_soon() -> Plan {
    Plan { at_secs: Some(now_secs() + 1), at_height: None }
}

/// What one [`Relay::tick`] or [`Relay::pass`] did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct TickReport {
    /// Payments looked at.
    pub active: u32,
    /// Payments moved to another state.
    pub moved: u32,
    /// Payments whose step failed (logged; retried on the next tick).
    pub errors: u32,
}

impl Relay {
    /// A full pass: every payment that is not final, each checked with the node; the schedule
    /// is planned again from what the store says.
    pub async fn tick(&self) -> Result<TickReport, RelayError> {
        let height = self.height().await?;
        let filter = RelayFilter { payee_id: None, active_only: true };
        let schedule = self.schedule();
        // Cleared before the read: a plan made after it (an offer made meanwhile) is kept, and
        // the plans made from this read never postpone it (`plan_no_later`).
        schedule.clear();
        let payments = self.store.relay_payments(&filter).await?;
        let mut report = TickReport::default();
        for payment in payments {
            report.active = report.active.saturating_add(1);
            let before = payment.state;
            let hash = payment.payment_hash;
            match self.drive(payment.clone(), height).await {
                Ok(after) if after != before => {
                    report.moved = report.moved.saturating_add(1);
                    schedule.wake(hash);
                }
                Ok(_) => schedule.plan_no_later(hash, self.plan_for(&payment).await?),
                // Another writer (the payment task, a request) moved it first: look again.
                Err(RelayError::Conflict(_)) => schedule.wake(hash),
                Err(e) => {
                    report.errors = report.errors.saturating_add(1);
                    tracing::warn!(hash = %hex::encode(hash), "relay step: {e}");
                    schedule.plan(hash, retry_soon());
                }
            }
        }
        Ok(report)
    }

    /// A pass over what the schedule says is due at `height` (woken, or planned before now):
    /// costs what changed, not what is held.
    pub async fn pass(&self, height: u32) -> Result<TickReport, RelayError> {
        let mut report = TickReport::default();
        for hash in self.schedule().take_due(now_secs(), height) {
            report.active = report.active.saturating_add(1);
            match self.drive_at(&hash, height).await {
                Ok(Some((before, after))) if after != before => {
                    report.moved = report.moved.saturating_add(1)
                }
                Ok(_) | Err(RelayError::Conflict(_)) => {}
                Err(e) => {
                    report.errors = report.errors.saturating_add(1);
                    tracing::warn!(hash = %hex::encode(hash), "relay step: {e}");
                    self.schedule().plan(hash, retry_soon());
                }
            }
        }
        Ok(report)
    }

    /// When the driver must look at `payment` again if nothing wakes it before.
    async fn plan_for(&self, payment: &RelayPayment) -> Result<Plan, RelayError> {
        let shared = &self.settings.shared;
        let hash = payment.payment_hash;
        Ok(match payment.state {
            // Held or failed back on the node: the watcher wakes it. The invoice's expiry (or,
            // with no invoice issued, the minute it is given) ends it otherwise.
            RelayState::Offered => {
                let at = if payment.bolt11.is_empty() {
                    payment.created_at.saturating_add(61)
                } else {
                    payment.expires_at
                };
                Plan { at_secs: Some(at), at_height: None }
            }
            RelayState::Held => {
                let held_at = payment.held_at.unwrap_or(payment.created_at);
                let mut at = held_at.saturating_add(self.settings.max_hold_secs);
                let webhook =
                    self.store.payee(&payment.payee_id).await?.and_then(|p| p.webhook_url);
                if webhook.is_some() && !payment.notified && !shared.notifying.contains(&hash) {
                    // Due now, yet not being delivered: every webhook slot was busy. Next second.
                    at = at.min(payment.next_notify_at.max(now_secs() + 1));
                }
                let at_height = payment
                    .claim_deadline_height
                    .map(|d| d.saturating_sub(self.settings.cancel_margin_blocks));
                Plan { at_secs: Some(at), at_height }
            }
            // Being paid by this process: its task drives it when the payment ends. Otherwise
            // (another process's, or one sent before a restart) ask the node every second.
            RelayState::Forwarding if shared.paying.contains(&hash) => Plan::default(),
            RelayState::Forwarding => Plan { at_secs: Some(now_secs() + 1), at_height: None },
            // Still cancelling after a look: the node did not answer. Next second.
            RelayState::Cancelling => retry_soon(),
            _ => Plan::default(),
        })
    }

    /// Drives one payment (re-read from the store) one step on.
    pub async fn drive_hash(&self, hash: &[u8; 32]) -> Result<Option<RelayState>, RelayError> {
        let height = self.height().await?;
        Ok(self.drive_at(hash, height).await?.map(|(_, after)| after))
    }

    /// Drives one payment (re-read from the store) one step on at `height`, and plans its next
    /// look; its state before and after.
    async fn drive_at(
        &self,
        hash: &[u8; 32],
        height: u32,
    ) -> Result<Option<(RelayState, RelayState)>, RelayError> {
        let Some(payment) = self.store.relay_payment(hash).await? else { return Ok(None) };
        let before = payment.state;
        if before.is_final() {
            return Ok(Some((before, before)));
        }
        let result = self.drive(payment, height).await;
        if let Some(now) = self.store.relay_payment(hash).await? {
            self.schedule().plan(*hash, self.plan_for(&now).await?);
        }
        result.map(|after| Some((before, after)))
    }

    /// Stores `next` (compare-and-set); a lost race is not an error: the next tick re-reads.
    async fn save(&self, mut next: RelayPayment) -> Result<RelayState, RelayError> {
        next.updated_at = now_secs();
        match self.store.update_relay_payment(&next).await? {
            Some(stored) => {
                tracing::info!(
                    hash = %hex::encode(stored.payment_hash),
                    state = %stored.state,
                    reason = stored.reason.as_deref().unwrap_or(""),
                    "relay payment"
                );
                Ok(stored.state)
            }
            None => Err(RelayError::Conflict(hex::encode(next.payment_hash))),
        }
    }

    async fn end(
        &self,
        payment: &RelayPayment,
        state: RelayState,
        reason: String,
    ) -> Result<RelayState, RelayError> {
        debug_assert!(payment.state.may_become(state));
        let mut next = payment.clone();
        next.state = state;
        next.reason = Some(reason);
        self.save(next).await
    }

    /// Fails the payer's HTLCs back and ends the payment in `state`.
    async fn cancel_upstream(
        &self,
        payment: &RelayPayment,
        state: RelayState,
        reason: String,
    ) -> Result<RelayState, RelayError> {
        match self.node.cancel_hold_invoice(PaymentHash(payment.payment_hash)).await {
            Ok(()) | Err(BackendError::UnknownPaymentHash(_)) => {}
            Err(e) => return Err(e.into()),
        }
        self.end(payment, state, reason).await
    }

    pub(super) async fn drive(
        &self,
        payment: RelayPayment,
        height: u32,
    ) -> Result<RelayState, RelayError> {
        match payment.state {
            RelayState::Offered => self.drive_offered(payment).await,
            RelayState::Held => self.drive_held(payment, height).await,
            RelayState::Forwarding => self.drive_forwarding(payment, height).await,
            RelayState::Cancelling => {
                let reason = payment.reason.clone().unwrap_or_else(|| "cancelled early".into());
                self.cancel_upstream(&payment, RelayState::Cancelled, reason).await
            }
            final_state => Ok(final_state),
        }
    }

    async fn drive_offered(&self, payment: RelayPayment) -> Result<RelayState, RelayError> {
        let now = now_secs();
        if payment.bolt11.is_empty() {
            // A crash between taking the hash and storing the invoice: the invoice was never
            // given to anyone. Give the request a minute, then end it.
            if now > payment.created_at.saturating_add(60) {
                return self
                    .cancel_upstream(
                        &payment,
                        RelayState::Cancelled,
                        "no invoice was issued".into(),
                    )
                    .await;
            }
            return Ok(payment.state);
        }
        match self.node.invoice_state(PaymentHash(payment.payment_hash)).await? {
            InvoiceState::Held { amount_msat, claim_deadline_height } => {
                let mut next = payment.clone();
                next.state = RelayState::Held;
                next.held_amount_msat = Some(amount_msat);
                next.claim_deadline_height = claim_deadline_height;
                next.held_at = Some(now);
                next.fee_msat = Some(self.settings.fee_msat(amount_msat));
                next.next_notify_at = now;
                let state = self.save(next).await?;
                // Wake the payee at once rather than on the next tick.
                if let Some(stored) = self.store.relay_payment(&payment.payment_hash).await? {
                    self.notify_if_due(&stored).await?;
                }
                Ok(state)
            }
            InvoiceState::Cancelled => {
                self.end(&payment, RelayState::Cancelled, "the node failed the invoice back".into())
                    .await
            }
            InvoiceState::Open if now >= payment.expires_at => {
                self.cancel_upstream(
                    &payment,
                    RelayState::Expired,
                    "the invoice expired unpaid".into(),
                )
                .await
            }
            InvoiceState::Open => Ok(payment.state),
            InvoiceState::Settled { .. } => {
                // Cannot happen: only the relay settles, and it records forwarding first.
                tracing::error!(hash = %hex::encode(payment.payment_hash), "offered payment settled on the node");
                Ok(payment.state)
            }
        }
    }

    async fn drive_held(
        &self,
        payment: RelayPayment,
        height: u32,
    ) -> Result<RelayState, RelayError> {
        let hash = PaymentHash(payment.payment_hash);
        if matches!(self.node.invoice_state(hash).await?, InvoiceState::Cancelled) {
            return self
                .end(&payment, RelayState::Expired, "the node failed the HTLCs back".into())
                .await;
        }
        if let Some(deadline) = payment.claim_deadline_height {
            if deadline.saturating_sub(height) <= self.settings.cancel_margin_blocks {
                let reason = format!(
                    "the payee did not claim in time: height {height}, claim deadline {deadline}, \
                     cancel margin {} blocks",
                    self.settings.cancel_margin_blocks
                );
                return self.cancel_upstream(&payment, RelayState::Expired, reason).await;
            }
        }
        let held_at = payment.held_at.unwrap_or(payment.created_at);
        if now_secs() >= held_at.saturating_add(self.settings.max_hold_secs) {
            let reason = format!("held longer than {} s", self.settings.max_hold_secs);
            return self.cancel_upstream(&payment, RelayState::Expired, reason).await;
        }
        self.notify_if_due(&payment).await?;
        Ok(payment.state)
    }

    async fn drive_forwarding(
        &self,
        payment: RelayPayment,
        height: u32,
    ) -> Result<RelayState, RelayError> {
        let hash = payment.payment_hash;
        if self.settings.shared.paying.contains(&hash) {
            return Ok(payment.state); // this process is paying it right now
        }
        if let Some(preimage) = payment.preimage {
            return self.settle(&payment, preimage).await;
        }
        let mut status = self.forward.payment_status(PaymentHash(hash)).await?;
        if status.is_none() && self.has_forward_node() {
            // Sent before a forwarding node was configured? Then the holding node has it, and
            // sending it again from the new node could pay the payee twice.
            status = self.node.payment_status(PaymentHash(hash)).await?;
        }
        match status {
            Some(PaymentStatus::Succeeded(outcome)) => {
                // Keep the preimage first: settling can then be retried after any crash.
                let mut next = payment.clone();
                next.preimage = Some(outcome.preimage.0);
                next.updated_at = now_secs();
                let stored = self
                    .store
                    .update_relay_payment(&next)
                    .await?
                    .ok_or_else(|| RelayError::Conflict(hex::encode(hash)))?;
                self.settle(&stored, outcome.preimage.0).await
            }
            Some(PaymentStatus::Pending) => Ok(payment.state),
            Some(PaymentStatus::Failed { reason }) => {
                let budget = self.cltv_budget(&payment, height);
                let time_left = budget > self.settings.route_budget_blocks;
                if payment.attempts < self.settings.max_attempts && time_left {
                    let mut next = payment.clone();
                    next.state = RelayState::Held;
                    next.reason = Some(format!("attempt {} failed: {reason}", payment.attempts));
                    next.notified = false;
                    next.next_notify_at = now_secs();
                    self.save(next).await
                } else {
                    let why = format!(
                        "paying the payee failed ({reason}) after {} attempts",
                        payment.attempts
                    );
                    self.cancel_upstream(&payment, RelayState::Cancelled, why).await
                }
            }
            None => self.resend(payment, height).await,
        }
    }

    /// Forwarding was persisted but the payment never reached the node (a crash in between):
    /// send it now if the CLTV budget still allows, else fail the payer back.
    async fn resend(&self, payment: RelayPayment, height: u32) -> Result<RelayState, RelayError> {
        let hash = payment.payment_hash;
        let invoice = payment.claim_bolt11.as_deref().map(parse_invoice);
        let Some(Ok(invoice)) = invoice else {
            return self
                .cancel_upstream(
                    &payment,
                    RelayState::Cancelled,
                    "the stored claim is unreadable".into(),
                )
                .await;
        };
        let budget = self.cltv_budget(&payment, height);
        let needed = u32::try_from(invoice.min_final_cltv_expiry_delta())
            .unwrap_or(u32::MAX)
            .saturating_add(self.settings.route_budget_blocks);
        if budget < needed || invoice.is_expired() {
            let why = format!(
                "the claim could not be sent in time ({budget} blocks left, {needed} needed)"
            );
            return self.cancel_upstream(&payment, RelayState::Cancelled, why).await;
        }
        if !self.settings.shared.paying.start(hash) {
            return Ok(payment.state);
        }
        let fee = payment.fee_msat.unwrap_or(0);
        self.spawn_pay(hash, invoice, payment.claim_amount_msat(), fee, budget);
        Ok(payment.state)
    }

    async fn settle(
        &self,
        payment: &RelayPayment,
        preimage: [u8; 32],
    ) -> Result<RelayState, RelayError> {
        match self.node.settle_hold_invoice(PaymentPreimage(preimage)).await {
            Ok(()) => {
                let mut next = payment.clone();
                next.state = RelayState::Settled;
                next.preimage = Some(preimage);
                next.reason = None;
                self.save(next).await
            }
            Err(BackendError::WrongInvoiceState { state, .. }) if state != "held" => {
                if state == "settled" {
                    let mut next = payment.clone();
                    next.state = RelayState::Settled;
                    next.preimage = Some(preimage);
                    return self.save(next).await;
                }
                // The node failed the payer back before the preimage arrived: the payee was
                // paid, the payer refunded, the gateway bears the loss. The CLTV bound exists
                // to prevent this; it is logged loudly.
                tracing::error!(
                    hash = %hex::encode(payment.payment_hash),
                    "upstream HTLCs were failed back before the preimage arrived: the relay lost the payment"
                );
                self.end(
                    payment,
                    RelayState::Cancelled,
                    format!("upstream was {state} before the preimage arrived"),
                )
                .await
            }
            Err(e) => Err(e.into()),
        }
    }
}
