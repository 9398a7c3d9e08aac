//! The rows of the deputy store ([`DeputyStore`](crate::store::deputy::DeputyStore)):
//! `deputy_sales`, and the codes a sale's status is stored as.

use super::{quote, to_u64, Columns};
use crate::store::deputy::{DeputySaleRecord, DeputyStatus};
use crate::store::StoreError;

/// The columns [`sale`] reads, for `SELECT`s and `INSERT`s.
pub(crate) const SALE_COLUMNS: &str = "device_id, counter, amount, currency, amount_msat, \
     quote_currency, quote_rate_per_btc, quote_source, payment_hash, created_at, invoice, \
     status, paid_at, claimed_at";

/// The code a sale's status is stored as.
pub(crate) fn status_code(status: DeputyStatus) -> i16 {
    match status {
        DeputyStatus::Requested => 0,
        DeputyStatus::Paid => 1,
        DeputyStatus::Claimed => 2,
    }
}

/// The status a stored code stands for.
pub(crate) fn status_from_code(code: i64) -> Result<DeputyStatus, StoreError> {
    match code {
        0 => Ok(DeputyStatus::Requested),
        1 => Ok(DeputyStatus::Paid),
        2 => Ok(DeputyStatus::Claimed),
        other => Err(StoreError::Backend(format!("stored deputy status {other} is unknown"))),
    }
}

/// A `deputy_sales` row.
pub(crate) fn sale(row: &impl Columns) -> Result<DeputySaleRecord, StoreError> {
    let quote = quote(row, "deputy")?;
    Ok(DeputySaleRecord {
        device_id: row.device_id("device_id")?,
        counter: to_u64(row.int("counter")?, "deputy counter")?,
        amount: to_u64(row.int("amount")?, "deputy amount")?,
        currency: row.text("currency")?,
        amount_msat: row.u64("amount_msat")?,
        quote,
        payment_hash: row.hash32("payment_hash")?,
        created_at: row.u64("created_at")?,
        invoice: row.text_or_null("invoice")?,
        status: status_from_code(row.int("status")?)?,
        paid_at: row.u64_or_null("paid_at")?,
        claimed_at: row.u64_or_null("claimed_at")?,
    })
}
