//! Waking the payee: a webhook POST with a signed body, retried with exponential backoff until
//! the payee answers 2xx. Polling `GET /v1/payees/{id}/pending` works whether or not a webhook
//! is set or delivered.
//!
//! Deliveries run in the background (at most [`MAX_CONCURRENT_WEBHOOKS`] at once, one per
//! payment at a time), so payees whose webhooks hang — a sleeping device often does — never
//! slow down the driver's pass, which must keep failing payers back on time.

use std::sync::Arc;

use lnedge_wire::relay::WakeNotification;
use lnedge_wire::sign::sign_webhook;
use lnedge_wire::{SIGNATURE_HEADER, TIMESTAMP_HEADER};

use super::{now_secs, Relay, RelayError};
use crate::store::relay::{RelayPayment, RelayState};

/// Webhook deliveries in flight at once, per process.
pub const MAX_CONCURRENT_WEBHOOKS: usize = 32;

impl Relay {
    /// Starts delivering the wake-up webhook of a held payment in the background if one is set
    /// and due and none is in flight for it; the task records the outcome (delivered, or the
    /// time of the next attempt).
    pub(super) async fn notify_if_due(&self, payment: &RelayPayment) -> Result<(), RelayError> {
        let now = now_secs();
        if payment.state != RelayState::Held || payment.notified || payment.next_notify_at > now {
            return Ok(());
        }
        let Some(payee) = self.store.payee(&payment.payee_id).await? else { return Ok(()) };
        let Some(url) = payee.webhook_url else { return Ok(()) };
        let shared = &self.settings.shared;
        if !shared.notifying.start(payment.payment_hash) {
            return Ok(()); // a delivery for this payment is in flight
        }
        let Ok(permit) = Arc::clone(&shared.webhook_slots).try_acquire_owned() else {
            // Every slot is busy: the driver plans another look in a second.
            shared.notifying.done(&payment.payment_hash);
            return Ok(());
        };
        let relay = self.clone();
        let payment = payment.clone();
        let task = tokio::spawn(async move {
            let hash = payment.payment_hash;
            if let Err(e) = relay.deliver(&payment, &payee.id, &url).await {
                tracing::warn!(hash = %hex::encode(hash), "recording a webhook delivery: {e}");
            }
            relay.settings.shared.notifying.done(&hash);
            drop(permit);
            // Plan the next look from what the delivery recorded (its backoff).
            relay.settings.shared.schedule.wake(hash);
        });
        shared.track(task.abort_handle());
        Ok(())
    }

    /// One webhook delivery, and its outcome recorded on the payment.
    async fn deliver(
        &self,
        payment: &RelayPayment,
        payee_id: &str,
        url: &str,
    ) -> Result<(), RelayError> {
        let now = now_secs();
        let body = WakeNotification {
            payee_id: payee_id.to_owned(),
            payment_hash: hex::encode(payment.payment_hash),
            held_amount_msat: payment.held_msat(),
            claim_amount_msat: payment.claim_amount_msat(),
            claim_deadline_height: payment.claim_deadline_height,
        };
        let bytes = serde_json::to_vec(&body).expect("wire types serialize");
        let key = zeroize::Zeroizing::new(self.payee_key(payee_id));
        let signature = sign_webhook(&key, now, &bytes);
        let sent = self
            .http
            .post(url)
            .header(TIMESTAMP_HEADER, now.to_string())
            .header(SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(bytes)
            .send()
            .await;
        let delivered = match sent {
            Ok(response) if response.status().is_success() => true,
            Ok(response) => {
                tracing::info!(payee = %payee_id, status = %response.status(), "webhook refused");
                false
            }
            Err(e) => {
                tracing::info!(payee = %payee_id, "webhook failed: {e}");
                false
            }
        };
        let mut next = payment.clone();
        next.notify_attempts = next.notify_attempts.saturating_add(1);
        if delivered {
            next.notified = true;
        } else {
            let backoff = 1u64
                .checked_shl(next.notify_attempts.min(20))
                .unwrap_or(u64::MAX)
                .min(self.settings.webhook_max_backoff_secs);
            next.next_notify_at = now.saturating_add(backoff);
        }
        next.updated_at = now_secs();
        // A lost race (the payee claimed meanwhile) needs no retry.
        let _ = self.store.update_relay_payment(&next).await?;
        Ok(())
    }
}
