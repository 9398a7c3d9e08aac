//! [`DeputyStore`] on PostgreSQL. [`begin_deputy_sale`](DeputyStore::begin_deputy_sale) locks
//! the device's row first (`SELECT … FOR UPDATE`), so sales of one device are recorded one at a
//! time across replicas and the stale-counter check cannot race.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use lnedge_proto::DeviceId;

use super::{pg, PostgresStore};
use crate::store::codec::deputy::{status_code, status_from_code, SALE_COLUMNS};
use crate::store::codec::{self, opt_i64, quote_columns, to_i64, to_u64, Columns};
use crate::store::deputy::{BeginSale, ClaimMark, DeputySaleRecord, DeputyStatus, DeputyStore};
use crate::store::StoreError;

async fn read_sale(
    client: &impl GenericClient,
    device: &DeviceId,
    counter: i64,
) -> Result<Option<DeputySaleRecord>, StoreError> {
    client
        .query_opt(
            &format!(
                "SELECT {SALE_COLUMNS} FROM deputy_sales WHERE device_id = $1 AND counter = $2"
            ),
            &[&&device.0[..], &counter],
        )
        .await
        .map_err(|e| pg("reading deputy sale", e))?
        .as_ref()
        .map(codec::deputy::sale)
        .transpose()
}

#[async_trait]
impl DeputyStore for PostgresStore {
    async fn begin_deputy_sale(&self, sale: &DeputySaleRecord) -> Result<BeginSale, StoreError> {
        let counter = to_i64(sale.counter, "deputy counter")?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        tx.query_opt("SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", &[&&sale.device_id.0[..]])
            .await
            .map_err(|e| pg(&format!("locking device {}", sale.device_id), e))?
            .ok_or(StoreError::UnknownDevice(sale.device_id))?;
        if let Some(existing) = read_sale(&tx, &sale.device_id, counter).await? {
            return Ok(BeginSale::Existing(existing));
        }
        let highest = tx
            .query_one(
                "SELECT MAX(counter) AS highest FROM deputy_sales WHERE device_id = $1",
                &[&&sale.device_id.0[..]],
            )
            .await
            .map_err(|e| pg("reading highest deputy counter", e))?
            .int_or_null("highest")?;
        if let Some(highest) = highest.filter(|h| *h >= counter) {
            return Ok(BeginSale::Stale { highest: to_u64(highest, "deputy counter")? });
        }
        let (qc, qr, qs) = quote_columns(sale.quote.as_ref());
        let amount = to_i64(sale.amount, "deputy amount")?;
        let amount_msat = to_i64(sale.amount_msat, "amount_msat")?;
        let created_at = to_i64(sale.created_at, "created_at")?;
        let paid_at = opt_i64(sale.paid_at, "paid_at")?;
        let claimed_at = opt_i64(sale.claimed_at, "claimed_at")?;
        tx.execute(
            &format!(
                "INSERT INTO deputy_sales ({SALE_COLUMNS})
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)"
            ),
            &[
                &&sale.device_id.0[..],
                &counter,
                &amount,
                &sale.currency,
                &amount_msat,
                &qc,
                &qr,
                &qs,
                &&sale.payment_hash[..],
                &created_at,
                &sale.invoice,
                &status_code(sale.status),
                &paid_at,
                &claimed_at,
            ],
        )
        .await
        .map_err(|e| pg("recording deputy sale", e))?;
        tx.commit().await.map_err(|e| pg("committing deputy sale", e))?;
        Ok(BeginSale::Created)
    }

    async fn deputy_sale(
        &self,
        device: DeviceId,
        counter: u64,
    ) -> Result<Option<DeputySaleRecord>, StoreError> {
        let counter = to_i64(counter, "deputy counter")?;
        read_sale(&self.client().await?, &device, counter).await
    }

    async fn deputy_sale_by_hash(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<DeputySaleRecord>, StoreError> {
        self.client()
            .await?
            .query_opt(
                &format!("SELECT {SALE_COLUMNS} FROM deputy_sales WHERE payment_hash = $1"),
                &[&&payment_hash[..]],
            )
            .await
            .map_err(|e| pg("reading deputy sale by hash", e))?
            .as_ref()
            .map(codec::deputy::sale)
            .transpose()
    }

    async fn set_deputy_invoice(
        &self,
        device: DeviceId,
        counter: u64,
        invoice: &str,
    ) -> Result<String, StoreError> {
        let counter = to_i64(counter, "deputy counter")?;
        // One statement: the first invoice written wins; the answer is the stored one.
        let row = self
            .client()
            .await?
            .query_opt(
                "UPDATE deputy_sales SET invoice = COALESCE(invoice, $3)
                 WHERE device_id = $1 AND counter = $2 RETURNING invoice",
                &[&&device.0[..], &counter, &invoice],
            )
            .await
            .map_err(|e| pg("storing deputy invoice", e))?;
        match row {
            Some(row) => row
                .text_or_null("invoice")?
                .ok_or_else(|| StoreError::Backend("stored deputy invoice vanished".into())),
            None => {
                Err(StoreError::Backend(format!("no deputy sale {counter} of device {device}")))
            }
        }
    }

    async fn mark_deputy_paid(
        &self,
        payment_hash: &[u8; 32],
        paid_at: u64,
    ) -> Result<bool, StoreError> {
        let paid_at = to_i64(paid_at, "paid_at")?;
        let n = self
            .client()
            .await?
            .execute(
                "UPDATE deputy_sales SET status = 1, paid_at = $2
                 WHERE payment_hash = $1 AND status = 0",
                &[&&payment_hash[..], &paid_at],
            )
            .await
            .map_err(|e| pg("marking deputy sale paid", e))?;
        Ok(n == 1)
    }

    async fn mark_deputy_claimed(
        &self,
        device: DeviceId,
        counter: u64,
        claimed_at: u64,
    ) -> Result<ClaimMark, StoreError> {
        let counter = to_i64(counter, "deputy counter")?;
        let claimed_at = to_i64(claimed_at, "claimed_at")?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        let row = tx
            .query_opt(
                "SELECT status FROM deputy_sales WHERE device_id = $1 AND counter = $2 FOR UPDATE",
                &[&&device.0[..], &counter],
            )
            .await
            .map_err(|e| pg("reading deputy status", e))?;
        let status = match row {
            Some(row) => Some(status_from_code(row.int("status")?)?),
            None => None,
        };
        let mark = match status {
            None => ClaimMark::Unknown,
            Some(DeputyStatus::Requested) => ClaimMark::NotPaid,
            Some(DeputyStatus::Claimed) => ClaimMark::AlreadyClaimed,
            Some(DeputyStatus::Paid) => {
                tx.execute(
                    "UPDATE deputy_sales SET status = 2, claimed_at = $3
                     WHERE device_id = $1 AND counter = $2 AND status = 1",
                    &[&&device.0[..], &counter, &claimed_at],
                )
                .await
                .map_err(|e| pg("marking deputy sale claimed", e))?;
                ClaimMark::Claimed
            }
        };
        tx.commit().await.map_err(|e| pg("committing deputy claim", e))?;
        Ok(mark)
    }

    async fn deputy_sales(
        &self,
        device: Option<DeviceId>,
        limit: u32,
    ) -> Result<Vec<DeputySaleRecord>, StoreError> {
        let id = device.map(|d| d.0.to_vec());
        let limit = i64::from(limit);
        let rows = self
            .client()
            .await?
            .query(
                &format!(
                    "SELECT {SALE_COLUMNS} FROM deputy_sales
                     WHERE ($1::BYTEA IS NULL OR device_id = $1)
                     ORDER BY created_at DESC, device_id, counter DESC LIMIT $2"
                ),
                &[&id, &limit],
            )
            .await
            .map_err(|e| pg("reading deputy sales", e))?;
        rows.iter().map(codec::deputy::sale).collect()
    }
}
