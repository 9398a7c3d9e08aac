//! The sales report read with one cursor (issue #17), the same SQL and decoding for SQLite and
//! PostgreSQL: entries joined with their payments and refunds, and deputy sales, merged in
//! report order by the database (`UNION ALL … ORDER BY`, sorted with bounded memory); then the
//! payers' payments.

use super::deputy::SALE_COLUMNS;
use super::{aliased, payers, Columns, Prefixed, ENTRY_COLUMNS, PAYMENT_COLUMNS};
use crate::store::refunds::RefundState;
use crate::store::report::ReportRecord;
use crate::store::StoreError;

/// Entries (with payment and refund) and deputy sales, in report order.
pub(crate) fn records_sql() -> String {
    format!(
        "SELECT p.device_id AS k_device, 0 AS k_part, p.created_at AS k1, p.ord AS k2,
                e.idx AS k3, {entry}, {payment}, r.state AS refund_state, {no_sale}
         FROM entries e JOIN pools p ON p.id = e.pool_id
         LEFT JOIN payments pay ON pay.payment_hash = e.payment_hash
         LEFT JOIN refunds r ON r.payment_hash = e.payment_hash
         UNION ALL
         SELECT d.device_id, 1, d.counter, 0, 0, {no_entry}, {no_payment}, NULL, {sale}
         FROM deputy_sales d
         ORDER BY k_device, k_part, k1, k2, k3",
        entry = aliased(Some("e"), ENTRY_COLUMNS, "e_"),
        payment = aliased(Some("pay"), PAYMENT_COLUMNS, "pay_"),
        no_sale = aliased(None, SALE_COLUMNS, "d_"),
        no_entry = aliased(None, ENTRY_COLUMNS, "e_"),
        no_payment = aliased(None, PAYMENT_COLUMNS, "pay_"),
        sale = aliased(Some("d"), SALE_COLUMNS, "d_"),
    )
}

/// A row of [`records_sql`].
pub(crate) fn record(row: &impl Columns) -> Result<ReportRecord, StoreError> {
    if row.int("k_part")? != 0 {
        return Ok(ReportRecord::Deputy(super::deputy::sale(&Prefixed(row, "d_"))?));
    }
    let payment = match row.bytes_or_null("pay_payment_hash")? {
        Some(_) => Some(super::payment(&Prefixed(row, "pay_"))?),
        None => None,
    };
    let refund = match row.text_or_null("refund_state")? {
        Some(state) => Some(RefundState::parse(&state)?),
        None => None,
    };
    Ok(ReportRecord::Entry {
        device_id: row.device_id("k_device")?,
        entry: super::entry(&Prefixed(row, "e_"))?,
        payment,
        refund,
    })
}

/// The payers' payments, oldest first (as `payer_payments` lists them).
pub(crate) fn payer_payments_sql() -> String {
    format!(
        "SELECT {} FROM payer_payments ORDER BY created_at, payment_hash",
        payers::PAYMENT_COLUMNS
    )
}

/// A row of [`payer_payments_sql`].
pub(crate) fn payer_record(row: &impl Columns) -> Result<ReportRecord, StoreError> {
    Ok(ReportRecord::Payer(payers::payment(row)?))
}
