//! The sales report's records read with one cursor (issue #17): entries joined with their
//! payments and refunds, and deputy sales, merged in report order by SQLite (`UNION ALL …
//! ORDER BY`, which sorts with bounded memory, spilling to temporary files), then the payers'
//! payments. Each record is sent as it is read, so memory stays flat however large the books.

use rusqlite::Connection;
use tokio::sync::mpsc::Sender;

use super::backend;
use crate::store::codec::deputy::SALE_COLUMNS;
use crate::store::codec::{
    self, aliased, payers, Columns, Prefixed, ENTRY_COLUMNS, PAYMENT_COLUMNS,
};
use crate::store::refunds::RefundState;
use crate::store::report::ReportRecord;
use crate::store::StoreError;

/// Sends every record into `out` in report order (see
/// [`collect_report_records`](crate::store::report::collect_report_records)); stops early,
/// without error, when the receiver is gone. Runs on a blocking thread.
pub(super) fn send_records(
    conn: &Connection,
    out: &Sender<ReportRecord>,
) -> Result<(), StoreError> {
    let sql = format!(
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
    );
    let what = "reading the sales report";
    let mut stmt = conn.prepare(&sql).map_err(|e| backend(what, e))?;
    let mut rows = stmt.query([]).map_err(|e| backend(what, e))?;
    while let Some(row) = rows.next().map_err(|e| backend(what, e))? {
        let record = if row.int("k_part")? == 0 {
            let payment = match row.bytes_or_null("pay_payment_hash")? {
                Some(_) => Some(codec::payment(&Prefixed(row, "pay_"))?),
                None => None,
            };
            let refund = match row.text_or_null("refund_state")? {
                Some(state) => Some(RefundState::parse(&state)?),
                None => None,
            };
            ReportRecord::Entry {
                device_id: row.device_id("k_device")?,
                entry: codec::entry(&Prefixed(row, "e_"))?,
                payment,
                refund,
            }
        } else {
            ReportRecord::Deputy(codec::deputy::sale(&Prefixed(row, "d_"))?)
        };
        if out.blocking_send(record).is_err() {
            return Ok(()); // the reader is gone
        }
    }
    let what = "reading the payers' payments";
    let mut stmt = conn
        .prepare(&format!(
            "SELECT {} FROM payer_payments ORDER BY created_at, payment_hash",
            payers::PAYMENT_COLUMNS
        ))
        .map_err(|e| backend(what, e))?;
    let mut rows = stmt.query([]).map_err(|e| backend(what, e))?;
    while let Some(row) = rows.next().map_err(|e| backend(what, e))? {
        if out.blocking_send(ReportRecord::Payer(payers::payment(row)?)).is_err() {
            return Ok(());
        }
    }
    Ok(())
}
