//! The sales report's records read with one cursor (issue #17; the SQL and decoding are shared
//! with SQLite: `codec::report`): the rows are decoded and sent as they arrive, and the
//! server waits (TCP backpressure) while the reader is behind, so memory stays flat however
//! large the books.

use futures_util::{pin_mut, TryStreamExt};
use tokio::sync::mpsc::Sender;
use tokio_postgres::Row;

use super::{pg, PostgresStore};
use crate::store::codec::report;
use crate::store::report::ReportRecord;
use crate::store::StoreError;

/// How a row of one of the report's queries decodes.
type Decode = fn(&Row) -> Result<ReportRecord, StoreError>;

/// No query parameters (`query_raw` takes them as an iterator).
const NO_PARAMS: [&(dyn tokio_postgres::types::ToSql + Sync); 0] = [];

impl PostgresStore {
    /// Sends every record into `out` in report order; stops early, without error, when the
    /// receiver is gone.
    pub(super) async fn send_report_records(
        &self,
        out: &Sender<ReportRecord>,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        let parts: [(String, Decode); 2] = [
            (report::records_sql(), |r| report::record(r)),
            (report::payer_payments_sql(), |r| report::payer_record(r)),
        ];
        for (sql, decode) in parts {
            let what = "reading the sales report";
            let rows = client.query_raw(sql.as_str(), NO_PARAMS).await.map_err(|e| pg(what, e))?;
            pin_mut!(rows);
            while let Some(row) = rows.try_next().await.map_err(|e| pg(what, e))? {
                if out.send(decode(&row)?).await.is_err() {
                    return Ok(()); // the reader is gone
                }
            }
        }
        Ok(())
    }
}
