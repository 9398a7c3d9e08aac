//! The rows of the refund store ([`RefundStore`](crate::store::refunds::RefundStore)):
//! `refunds` and `sessions`.

use super::{to_u32, Columns};
use crate::store::refunds::{RefundRecord, RefundState, SessionRecord};
use crate::store::StoreError;

/// The columns [`refund`] reads, for `SELECT`s, `RETURNING`s and `INSERT`s.
pub(crate) const REFUND_COLUMNS: &str = "payment_hash, device_id, pool_id, idx, amount_msat, \
     state, attested, created_at, expires_at, k1, claim_invoice, claimed_at, paid_at, last_error";

/// A `refunds` row.
pub(crate) fn refund(row: &impl Columns) -> Result<RefundRecord, StoreError> {
    Ok(RefundRecord {
        payment_hash: row.hash32("payment_hash")?,
        device_id: row.device_id("device_id")?,
        pool_id: row.pool_id("pool_id")?,
        index: to_u32(row.int("idx")?, "entry index")?,
        amount_msat: row.u64("amount_msat")?,
        state: RefundState::parse(&row.text("state")?)?,
        attested: row.flag("attested")?,
        created_at: row.u64("created_at")?,
        expires_at: row.u64("expires_at")?,
        k1: row.hash32_or_null("k1")?,
        claim_invoice: row.text_or_null("claim_invoice")?,
        claimed_at: row.u64_or_null("claimed_at")?,
        paid_at: row.u64_or_null("paid_at")?,
        last_error: row.text_or_null("last_error")?,
    })
}

/// The columns [`session`] reads.
pub(crate) const SESSION_COLUMNS: &str =
    "token_hash, subject, payment_hash, created_at, expires_at";

/// A `sessions` row.
pub(crate) fn session(row: &impl Columns) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        token_hash: row.hash32("token_hash")?,
        subject: row.text("subject")?,
        payment_hash: row.hash32_or_null("payment_hash")?,
        created_at: row.u64("created_at")?,
        expires_at: row.u64("expires_at")?,
    })
}
