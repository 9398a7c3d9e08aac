//! [`DeputyStore`] on SQLite.

use async_trait::async_trait;
use lnedge_proto::DeviceId;
use rusqlite::{params, Connection};

use super::{backend, begin, commit, device_exists, query_all, query_one, query_opt, SqliteStore};
use crate::store::codec::deputy::{status_code, status_from_code, SALE_COLUMNS};
use crate::store::codec::{self, opt_i64, quote_columns, to_i64, to_u64, Columns};
use crate::store::deputy::{BeginSale, ClaimMark, DeputySaleRecord, DeputyStatus, DeputyStore};
use crate::store::StoreError;

fn read_sale(
    conn: &Connection,
    device: &DeviceId,
    counter: i64,
) -> Result<Option<DeputySaleRecord>, StoreError> {
    query_opt(
        conn,
        &format!("SELECT {SALE_COLUMNS} FROM deputy_sales WHERE device_id = ?1 AND counter = ?2"),
        params![&device.0[..], counter],
        "reading deputy sale",
        |r| codec::deputy::sale(r),
    )
}

#[async_trait]
impl DeputyStore for SqliteStore {
    async fn begin_deputy_sale(&self, sale: &DeputySaleRecord) -> Result<BeginSale, StoreError> {
        let sale = sale.clone();
        self.run(move |conn| {
            let counter = to_i64(sale.counter, "deputy counter")?;
            let tx = begin(conn)?;
            if !device_exists(&tx, &sale.device_id)? {
                return Err(StoreError::UnknownDevice(sale.device_id));
            }
            if let Some(existing) = read_sale(&tx, &sale.device_id, counter)? {
                return Ok(BeginSale::Existing(existing));
            }
            let highest = query_one(
                &tx,
                "SELECT MAX(counter) AS highest FROM deputy_sales WHERE device_id = ?1",
                params![&sale.device_id.0[..]],
                "reading highest deputy counter",
                |r| r.int_or_null("highest"),
            )?;
            if let Some(highest) = highest.filter(|h| *h >= counter) {
                return Ok(BeginSale::Stale { highest: to_u64(highest, "deputy counter")? });
            }
            let (qc, qr, qs) = quote_columns(sale.quote.as_ref());
            tx.execute(
                &format!(
                    "INSERT INTO deputy_sales ({SALE_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)"
                ),
                params![
                    &sale.device_id.0[..],
                    counter,
                    to_i64(sale.amount, "deputy amount")?,
                    sale.currency,
                    to_i64(sale.amount_msat, "amount_msat")?,
                    qc,
                    qr,
                    qs,
                    &sale.payment_hash[..],
                    to_i64(sale.created_at, "created_at")?,
                    sale.invoice,
                    status_code(sale.status),
                    opt_i64(sale.paid_at, "paid_at")?,
                    opt_i64(sale.claimed_at, "claimed_at")?,
                ],
            )
            .map_err(|e| backend("recording deputy sale", e))?;
            commit(tx)?;
            Ok(BeginSale::Created)
        })
        .await
    }

    async fn deputy_sale(
        &self,
        device: DeviceId,
        counter: u64,
    ) -> Result<Option<DeputySaleRecord>, StoreError> {
        let counter = to_i64(counter, "deputy counter")?;
        self.run(move |conn| read_sale(conn, &device, counter)).await
    }

    async fn deputy_sale_by_hash(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<DeputySaleRecord>, StoreError> {
        let hash = *payment_hash;
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {SALE_COLUMNS} FROM deputy_sales WHERE payment_hash = ?1"),
                params![&hash[..]],
                "reading deputy sale by hash",
                |r| codec::deputy::sale(r),
            )
        })
        .await
    }

    async fn set_deputy_invoice(
        &self,
        device: DeviceId,
        counter: u64,
        invoice: &str,
    ) -> Result<String, StoreError> {
        let counter = to_i64(counter, "deputy counter")?;
        let invoice = invoice.to_owned();
        self.run(move |conn| {
            let tx = begin(conn)?;
            tx.execute(
                "UPDATE deputy_sales SET invoice = ?3
                 WHERE device_id = ?1 AND counter = ?2 AND invoice IS NULL",
                params![&device.0[..], counter, invoice],
            )
            .map_err(|e| backend("storing deputy invoice", e))?;
            let stored = query_opt(
                &tx,
                "SELECT invoice FROM deputy_sales WHERE device_id = ?1 AND counter = ?2",
                params![&device.0[..], counter],
                "reading deputy invoice",
                |r| r.text_or_null("invoice"),
            )?;
            commit(tx)?;
            stored.flatten().ok_or_else(|| {
                StoreError::Backend(format!("no deputy sale {counter} of device {device}"))
            })
        })
        .await
    }

    async fn mark_deputy_paid(
        &self,
        payment_hash: &[u8; 32],
        paid_at: u64,
    ) -> Result<bool, StoreError> {
        let hash = *payment_hash;
        let paid_at = to_i64(paid_at, "paid_at")?;
        self.run(move |conn| {
            let n = conn
                .execute(
                    "UPDATE deputy_sales SET status = 1, paid_at = ?2
                     WHERE payment_hash = ?1 AND status = 0",
                    params![&hash[..], paid_at],
                )
                .map_err(|e| backend("marking deputy sale paid", e))?;
            Ok(n == 1)
        })
        .await
    }

    async fn mark_deputy_claimed(
        &self,
        device: DeviceId,
        counter: u64,
        claimed_at: u64,
    ) -> Result<ClaimMark, StoreError> {
        let counter = to_i64(counter, "deputy counter")?;
        let claimed_at = to_i64(claimed_at, "claimed_at")?;
        self.run(move |conn| {
            let tx = begin(conn)?;
            let status = query_opt(
                &tx,
                "SELECT status FROM deputy_sales WHERE device_id = ?1 AND counter = ?2",
                params![&device.0[..], counter],
                "reading deputy status",
                |r| r.int("status"),
            )?;
            let mark = match status.map(status_from_code).transpose()? {
                None => ClaimMark::Unknown,
                Some(DeputyStatus::Requested) => ClaimMark::NotPaid,
                Some(DeputyStatus::Claimed) => ClaimMark::AlreadyClaimed,
                Some(DeputyStatus::Paid) => {
                    tx.execute(
                        "UPDATE deputy_sales SET status = 2, claimed_at = ?3
                         WHERE device_id = ?1 AND counter = ?2 AND status = 1",
                        params![&device.0[..], counter, claimed_at],
                    )
                    .map_err(|e| backend("marking deputy sale claimed", e))?;
                    ClaimMark::Claimed
                }
            };
            commit(tx)?;
            Ok(mark)
        })
        .await
    }

    async fn deputy_sales(
        &self,
        device: Option<DeviceId>,
        limit: u32,
    ) -> Result<Vec<DeputySaleRecord>, StoreError> {
        self.read_many(move |conn| {
            let id = device.map(|d| d.0.to_vec());
            query_all(
                conn,
                &format!(
                    "SELECT {SALE_COLUMNS} FROM deputy_sales
                     WHERE (?1 IS NULL OR device_id = ?1)
                     ORDER BY created_at DESC, device_id, counter DESC LIMIT ?2"
                ),
                params![id, i64::from(limit)],
                "reading deputy sales",
                |r| codec::deputy::sale(r),
            )
        })
        .await
    }
}
