//! [`PayerStore`] on PostgreSQL.

use async_trait::async_trait;
use lnedge_proto::DeviceId;
use tokio_postgres::error::SqlState;

use super::{pg, PostgresStore};
use crate::store::codec::payers::{
    self, PayerRow, PaymentRow, PAYER_COLUMNS, PAYMENT_COLUMNS, TAP_COLUMNS,
};
use crate::store::codec::to_i64;
use crate::store::payers::{PayerPaymentRecord, PayerRecord, PayerStore, TapRecord};
use crate::store::StoreError;

/// A write's error: a unique constraint other than the primary key is `taken`.
fn unique(context: &str, e: tokio_postgres::Error, taken: StoreError) -> StoreError {
    match e.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => taken,
        _ => pg(context, e),
    }
}

fn cas(changed: u64) -> Result<(), StoreError> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

impl PostgresStore {
    async fn payer_where(
        &self,
        clause: &str,
        value: &str,
        what: &str,
    ) -> Result<Option<PayerRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {PAYER_COLUMNS} FROM payers WHERE {clause} = $1"),
                &[&value],
            )
            .await
            .map_err(|e| pg(what, e))?;
        row.as_ref().map(payers::payer).transpose()
    }
}

#[async_trait]
impl PayerStore for PostgresStore {
    async fn payer(&self, id: DeviceId) -> Result<Option<PayerRecord>, StoreError> {
        self.payer_where("id", &hex::encode(id.0), "reading payer").await
    }

    async fn payer_by_uid(&self, uid: &[u8; 7]) -> Result<Option<PayerRecord>, StoreError> {
        self.payer_where("uid", &hex::encode(uid), "reading card by uid").await
    }

    async fn payer_by_program_code(
        &self,
        code_hash: &[u8; 32],
    ) -> Result<Option<PayerRecord>, StoreError> {
        self.payer_where(
            "program_code_hash",
            &hex::encode(code_hash),
            "reading card by programming code",
        )
        .await
    }

    async fn payers(&self) -> Result<Vec<PayerRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(&format!("SELECT {PAYER_COLUMNS} FROM payers ORDER BY created_at, id"), &[])
            .await
            .map_err(|e| pg("listing payers", e))?;
        rows.iter().map(payers::payer).collect()
    }

    async fn put_payer(&self, payer: &PayerRecord) -> Result<(), StoreError> {
        let r = PayerRow::of(payer)?;
        let client = self.client().await?;
        let values: [&(dyn tokio_postgres::types::ToSql + Sync); 18] = [
            &r.id,
            &r.kind,
            &r.name,
            &r.state,
            &r.uid,
            &r.key_version,
            &r.program_code_hash,
            &r.program_expires_at,
            &r.counter,
            &r.per_payment_msat,
            &r.per_day_msat,
            &r.pin_limit_msat,
            &r.pin_hash,
            &r.pin_failures,
            &r.day,
            &r.day_spent_msat,
            &r.created_at,
            &r.version,
        ];
        let changed = if r.version <= 1 {
            client
                .execute(
                    &format!(
                        "INSERT INTO payers ({PAYER_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, \
                         $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, $18)
                         ON CONFLICT (id) DO NOTHING"
                    ),
                    &values,
                )
                .await
        } else {
            client
                .execute(
                    "UPDATE payers SET kind = $2, name = $3, state = $4, uid = $5,
                         key_version = $6, program_code_hash = $7, program_expires_at = $8,
                         counter = $9, per_payment_msat = $10, per_day_msat = $11,
                         pin_limit_msat = $12, pin_hash = $13, pin_failures = $14, day = $15,
                         day_spent_msat = $16, created_at = $17, version = $18
                     WHERE id = $1 AND version = $18::BIGINT - 1",
                    &values,
                )
                .await
        }
        .map_err(|e| unique("writing payer", e, StoreError::UidTaken))?;
        cas(changed)
    }

    async fn insert_tap(&self, tap: &TapRecord) -> Result<(), StoreError> {
        let expires = to_i64(tap.expires_at, "expires_at")?;
        let client = self.client().await?;
        client
            .execute(
                &format!("INSERT INTO payer_taps ({TAP_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"),
                &[
                    &hex::encode(tap.k1_hash),
                    &hex::encode(tap.payer_id.0),
                    &i64::from(tap.counter),
                    &expires,
                    &tap.used,
                ],
            )
            .await
            .map(drop)
            .map_err(|e| pg("recording tap", e))
    }

    async fn take_tap(&self, k1_hash: &[u8; 32]) -> Result<Option<TapRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "UPDATE payer_taps SET used = TRUE WHERE k1_hash = $1 AND NOT used
                     RETURNING {TAP_COLUMNS}"
                ),
                &[&hex::encode(k1_hash)],
            )
            .await
            .map_err(|e| pg("taking tap", e))?;
        row.as_ref().map(|r| payers::tap(r).map(|t| TapRecord { used: false, ..t })).transpose()
    }

    async fn purge_taps(&self, before: u64) -> Result<u64, StoreError> {
        let before = to_i64(before, "before")?;
        let client = self.client().await?;
        client
            .execute("DELETE FROM payer_taps WHERE expires_at < $1", &[&before])
            .await
            .map_err(|e| pg("purging taps", e))
    }

    async fn insert_payer_payment(&self, payment: &PayerPaymentRecord) -> Result<(), StoreError> {
        let r = PaymentRow::of(payment)?;
        let client = self.client().await?;
        let changed = client
            .execute(
                &format!(
                    "INSERT INTO payer_payments ({PAYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, \
                     $6, $7, $8, $9, $10, $11, $12)
                     ON CONFLICT (payment_hash) DO NOTHING"
                ),
                &[
                    &r.payment_hash,
                    &r.payer_id,
                    &r.kind,
                    &r.counter,
                    &r.amount_msat,
                    &r.fee_msat,
                    &r.state,
                    &r.invoice,
                    &r.failure,
                    &r.created_at,
                    &r.settled_at,
                    &r.version,
                ],
            )
            .await
            .map_err(|e| pg("recording payer payment", e))?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::HashTaken)
        }
    }

    async fn put_payer_payment(&self, payment: &PayerPaymentRecord) -> Result<(), StoreError> {
        let r = PaymentRow::of(payment)?;
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE payer_payments SET fee_msat = $2, state = $3, failure = $4,
                     settled_at = $5, version = $6
                 WHERE payment_hash = $1 AND version = $6::BIGINT - 1",
                &[&r.payment_hash, &r.fee_msat, &r.state, &r.failure, &r.settled_at, &r.version],
            )
            .await
            .map_err(|e| pg("updating payer payment", e))?;
        cas(changed)
    }

    async fn payer_payment(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<PayerPaymentRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {PAYMENT_COLUMNS} FROM payer_payments WHERE payment_hash = $1"),
                &[&hex::encode(payment_hash)],
            )
            .await
            .map_err(|e| pg("reading payer payment", e))?;
        row.as_ref().map(payers::payment).transpose()
    }

    async fn pending_payer_payments(
        &self,
        limit: u32,
    ) -> Result<Vec<PayerPaymentRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payer_payments WHERE state = 'pending'
                     ORDER BY created_at, payment_hash LIMIT $1"
                ),
                &[&i64::from(limit)],
            )
            .await
            .map_err(|e| pg("listing pending payer payments", e))?;
        rows.iter().map(payers::payment).collect()
    }

    async fn payer_payments(
        &self,
        payer: Option<DeviceId>,
        limit: u32,
    ) -> Result<Vec<PayerPaymentRecord>, StoreError> {
        let payer = payer.map(|p| hex::encode(p.0));
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payer_payments
                     WHERE $1::TEXT IS NULL OR payer_id = $1
                     ORDER BY created_at DESC, payment_hash DESC LIMIT $2"
                ),
                &[&payer, &i64::from(limit)],
            )
            .await
            .map_err(|e| pg("listing payer payments", e))?;
        let mut out = rows.iter().map(payers::payment).collect::<Result<Vec<_>, _>>()?;
        out.reverse();
        Ok(out)
    }
}
