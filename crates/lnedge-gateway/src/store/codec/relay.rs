//! The rows of the relay store ([`RelayStore`](crate::store::relay::RelayStore)):
//! `relay_payments` and `relay_payees`.

use super::{opt_i64, to_i64, Columns};
use crate::store::relay::{PayeeRecord, RelayPayment, RelayState};
use crate::store::StoreError;

/// The columns of a relay payment, in the order of [`PaymentValues`]' fields, for `SELECT`s,
/// `INSERT`s and `UPDATE`s.
pub(crate) const PAYMENT_COLUMNS: &str =
    "payment_hash, payee_id, state, version, amount_msat, description, bolt11,
    created_at, expires_at, held_amount_msat, claim_deadline_height, held_at, fee_msat,
    claim_bolt11, attempts, preimage, notified, notify_attempts, next_notify_at, reason,
    updated_at";

/// A `relay_payments` row.
pub(crate) fn payment(row: &impl Columns) -> Result<RelayPayment, StoreError> {
    let state = row.text("state")?;
    Ok(RelayPayment {
        payment_hash: row.hash32("payment_hash")?,
        payee_id: row.text("payee_id")?,
        state: RelayState::from_name(&state).ok_or_else(|| {
            StoreError::Backend(format!("stored relay state {state:?} is unknown"))
        })?,
        version: row.u64("version")?,
        amount_msat: row.u64("amount_msat")?,
        description: row.text("description")?,
        bolt11: row.text("bolt11")?,
        created_at: row.u64("created_at")?,
        expires_at: row.u64("expires_at")?,
        held_amount_msat: row.u64_or_null("held_amount_msat")?,
        claim_deadline_height: row.u32_or_null("claim_deadline_height")?,
        held_at: row.u64_or_null("held_at")?,
        fee_msat: row.u64_or_null("fee_msat")?,
        claim_bolt11: row.text_or_null("claim_bolt11")?,
        attempts: row.u32("attempts")?,
        preimage: row.hash32_or_null("preimage")?,
        notified: row.flag("notified")?,
        notify_attempts: row.u32("notify_attempts")?,
        next_notify_at: row.u64("next_notify_at")?,
        reason: row.text_or_null("reason")?,
        updated_at: row.u64("updated_at")?,
    })
}

/// A relay payment as the values of its columns ([`PAYMENT_COLUMNS`], in that order), each
/// backend binding them with its own placeholders.
pub(crate) struct PaymentValues {
    /// `payment_hash`.
    pub(crate) payment_hash: Vec<u8>,
    /// `payee_id`.
    pub(crate) payee_id: String,
    /// `state`, by its name.
    pub(crate) state: &'static str,
    /// `version`.
    pub(crate) version: i64,
    /// `amount_msat`.
    pub(crate) amount_msat: i64,
    /// `description`.
    pub(crate) description: String,
    /// `bolt11`.
    pub(crate) bolt11: String,
    /// `created_at`.
    pub(crate) created_at: i64,
    /// `expires_at`.
    pub(crate) expires_at: i64,
    /// `held_amount_msat`.
    pub(crate) held_amount_msat: Option<i64>,
    /// `claim_deadline_height`.
    pub(crate) claim_deadline_height: Option<i64>,
    /// `held_at`.
    pub(crate) held_at: Option<i64>,
    /// `fee_msat`.
    pub(crate) fee_msat: Option<i64>,
    /// `claim_bolt11`.
    pub(crate) claim_bolt11: Option<String>,
    /// `attempts`.
    pub(crate) attempts: i64,
    /// `preimage`.
    pub(crate) preimage: Option<Vec<u8>>,
    /// `notified`.
    pub(crate) notified: bool,
    /// `notify_attempts`.
    pub(crate) notify_attempts: i64,
    /// `next_notify_at`.
    pub(crate) next_notify_at: i64,
    /// `reason`.
    pub(crate) reason: Option<String>,
    /// `updated_at`.
    pub(crate) updated_at: i64,
}

impl PaymentValues {
    /// The values of `p`'s columns, refusing a number that does not fit its column.
    pub(crate) fn of(p: &RelayPayment) -> Result<Self, StoreError> {
        Ok(PaymentValues {
            payment_hash: p.payment_hash.to_vec(),
            payee_id: p.payee_id.clone(),
            state: p.state.name(),
            version: to_i64(p.version, "version")?,
            amount_msat: to_i64(p.amount_msat, "amount_msat")?,
            description: p.description.clone(),
            bolt11: p.bolt11.clone(),
            created_at: to_i64(p.created_at, "created_at")?,
            expires_at: to_i64(p.expires_at, "expires_at")?,
            held_amount_msat: opt_i64(p.held_amount_msat, "held_amount_msat")?,
            claim_deadline_height: p.claim_deadline_height.map(i64::from),
            held_at: opt_i64(p.held_at, "held_at")?,
            fee_msat: opt_i64(p.fee_msat, "fee_msat")?,
            claim_bolt11: p.claim_bolt11.clone(),
            attempts: i64::from(p.attempts),
            preimage: p.preimage.map(|x| x.to_vec()),
            notified: p.notified,
            notify_attempts: i64::from(p.notify_attempts),
            next_notify_at: to_i64(p.next_notify_at, "next_notify_at")?,
            reason: p.reason.clone(),
            updated_at: to_i64(p.updated_at, "updated_at")?,
        })
    }
}

/// The columns [`payee`] reads.
pub(crate) const PAYEE_COLUMNS: &str = "id, name, webhook_url, created_at";

/// A `relay_payees` row.
pub(crate) fn payee(row: &impl Columns) -> Result<PayeeRecord, StoreError> {
    Ok(PayeeRecord {
        id: row.text("id")?,
        name: row.text("name")?,
        webhook_url: row.text_or_null("webhook_url")?,
        created_at: row.u64("created_at")?,
    })
}
