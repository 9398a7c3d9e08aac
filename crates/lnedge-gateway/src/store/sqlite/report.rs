//! The sales report's records read with one cursor on a read-only connection (issue #17; the
//! SQL and decoding are shared with PostgreSQL: `codec::report`). Each record is sent as it is
//! read, so memory stays flat however large the books.

use rusqlite::Connection;
use tokio::sync::mpsc::Sender;

use super::backend;
use crate::store::codec::report;
use crate::store::report::ReportRecord;
use crate::store::StoreError;

/// How a row of one of the report's queries decodes.
type Decode = fn(&rusqlite::Row<'_>) -> Result<ReportRecord, StoreError>;

/// Sends every record into `out` in report order (see
/// [`collect_report_records`](crate::store::report::collect_report_records)); stops early,
/// without error, when the receiver is gone. Runs on a blocking thread.
pub(super) fn send_records(
    conn: &Connection,
    out: &Sender<ReportRecord>,
) -> Result<(), StoreError> {
    let parts: [(String, Decode); 2] = [
        (report::records_sql(), |r| report::record(r)),
        (report::payer_payments_sql(), |r| report::payer_record(r)),
    ];
    for (sql, decode) in parts {
        let what = "reading the sales report";
        let mut stmt = conn.prepare(&sql).map_err(|e| backend(what, e))?;
        let mut rows = stmt.query([]).map_err(|e| backend(what, e))?;
        while let Some(row) = rows.next().map_err(|e| backend(what, e))? {
            if out.blocking_send(decode(row)?).is_err() {
                return Ok(()); // the reader is gone
            }
        }
    }
    Ok(())
}
