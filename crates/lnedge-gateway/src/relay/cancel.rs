//! An operator cancels a relay payment early (the dashboard's button, `POST
//! /v1/relay/payments/{hash}/cancel`): the payer gets its money back before any deadline.
//!
//! The order keeps the relay's property (the gateway never pays a payee whose payer it refunded):
//! the payment is first moved to [`Cancelling`](RelayState::Cancelling) by the store's
//! compare-and-set, which a concurrent claim (held → forwarding, also a compare-and-set) cannot
//! both win; only then are the payer's HTLCs failed back. A payment already being forwarded is
//! refused: its payee may be paid already. A crash, or a node that does not answer, between the
//! two steps leaves the payment `cancelling`, which the driver finishes on its next look.

use super::{now_secs, Relay, RelayError};
use crate::store::relay::{RelayPayment, RelayState};

/// How often a cancel re-reads a payment that another writer changed meanwhile.
const CANCEL_ATTEMPTS: u32 = 3;

impl Relay {
    /// Cancels the relay payment `hash` early on behalf of `by` (an operator's name, recorded in
    /// the payment's reason): refuses a payment being forwarded or already final, marks it
    /// cancelling, fails the payer's HTLCs back and answers the payment as it then stands
    /// (`cancelled`, or `cancelling` if the node could not be reached; the driver retries).
    /// Cancelling a payment that is already cancelling tries the node again.
    pub async fn cancel(&self, hash: &[u8; 32], by: &str) -> Result<RelayPayment, RelayError> {
        let unknown = || RelayError::NotFound(hex::encode(hash));
        let mut attempt = 0;
        let marked = loop {
            attempt += 1;
            let payment = self.store.relay_payment(hash).await?.ok_or_else(unknown)?;
            match payment.state {
                RelayState::Offered | RelayState::Held => {}
                RelayState::Cancelling => break payment,
                state => {
                    let message = match state {
                        RelayState::Forwarding => {
                            "it is being forwarded to the payee, who may be paid already; it \
                             ends when that payment does"
                        }
                        _ => "it has ended already",
                    };
                    return Err(RelayError::WrongState {
                        hash: hex::encode(hash),
                        state,
                        message: format!("cannot be cancelled: {message}"),
                    });
                }
            }
            let mut next = payment.clone();
            next.state = RelayState::Cancelling;
            next.reason = Some(format!("cancelled early by operator {by}"));
            next.updated_at = now_secs();
            match self.store.update_relay_payment(&next).await? {
                Some(stored) => break stored,
                // The driver (or a claim) moved it meanwhile: look again.
                None if attempt < CANCEL_ATTEMPTS => continue,
                None => return Err(RelayError::Conflict(hex::encode(hash))),
            }
        };
        tracing::info!(hash = %hex::encode(hash), operator = by, "relay payment cancelled early");
        if let Err(e) = self.drive_hash(hash).await {
            // Marked: the driver fails the HTLCs back on its next look.
            tracing::warn!(hash = %hex::encode(hash), "failing a cancelled payment back: {e}");
            self.schedule()
                .plan(*hash, super::Plan { at_secs: Some(now_secs() + 1), at_height: None });
        }
        Ok(self.store.relay_payment(hash).await?.unwrap_or(marked))
    }
}
