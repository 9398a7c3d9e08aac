//! [`RelayStore`] on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;

use super::{pg, PostgresStore};
use crate::store::codec::relay::{self, PaymentValues, PAYEE_COLUMNS, PAYMENT_COLUMNS};
use crate::store::codec::{to_i64, to_u64, Columns};
use crate::store::relay::{PayeeRecord, RelayFilter, RelayPayment, RelayStore};
use crate::store::StoreError;

/// The payment's values as parameters `$1` to `$21`, in [`PAYMENT_COLUMNS`] order.
fn params(v: &PaymentValues) -> [&(dyn ToSql + Sync); 21] {
    [
        &v.payment_hash,
        &v.payee_id,
        &v.state,
        &v.version,
        &v.amount_msat,
        &v.description,
        &v.bolt11,
        &v.created_at,
        &v.expires_at,
        &v.held_amount_msat,
        &v.claim_deadline_height,
        &v.held_at,
        &v.fee_msat,
        &v.claim_bolt11,
        &v.attempts,
        &v.preimage,
        &v.notified,
        &v.notify_attempts,
        &v.next_notify_at,
        &v.reason,
        &v.updated_at,
    ]
}

const PLACEHOLDERS: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
    $17, $18, $19, $20, $21";

#[async_trait]
impl RelayStore for PostgresStore {
    async fn insert_payee(&self, payee: &PayeeRecord) -> Result<(), StoreError> {
        let created_at = to_i64(payee.created_at, "created_at")?;
        let client = self.client().await?;
        let inserted = client
            .execute(
                &format!(
                    "INSERT INTO relay_payees ({PAYEE_COLUMNS}) VALUES ($1, $2, $3, $4)
                     ON CONFLICT (id) DO NOTHING"
                ),
                &[&payee.id, &payee.name, &payee.webhook_url, &created_at],
            )
            .await
            .map_err(|e| pg("enrolling payee", e))?;
        if inserted == 0 {
            return Err(StoreError::Backend(format!("payee {} already exists", payee.id)));
        }
        Ok(())
    }

    async fn payee(&self, id: &str) -> Result<Option<PayeeRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("SELECT {PAYEE_COLUMNS} FROM relay_payees WHERE id = $1"), &[&id])
            .await
            .map_err(|e| pg("reading payee", e))?;
        row.as_ref().map(relay::payee).transpose()
    }

    async fn set_payee_webhook(&self, id: &str, url: Option<&str>) -> Result<bool, StoreError> {
        let client = self.client().await?;
        client
            .execute("UPDATE relay_payees SET webhook_url = $2 WHERE id = $1", &[&id, &url])
            .await
            .map(|n| n > 0)
            .map_err(|e| pg("setting the payee's webhook", e))
    }

    async fn commit_hashes(
        &self,
        payee_id: &str,
        hashes: &[[u8; 32]],
        now: u64,
    ) -> Result<u32, StoreError> {
        let now = to_i64(now, "now")?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        let mut added = 0u32;
        for hash in hashes {
            let inserted = tx
                .execute(
                    "INSERT INTO relay_hashes (payment_hash, payee_id, committed_at, used)
                     VALUES ($1, $2, $3, FALSE) ON CONFLICT (payment_hash) DO NOTHING",
                    &[&&hash[..], &payee_id, &now],
                )
                .await
                .map_err(|e| pg("committing hash", e))?;
            if inserted == 1 {
                added = added.saturating_add(1);
                continue;
            }
            let owner = tx
                .query_one(
                    "SELECT payee_id FROM relay_hashes WHERE payment_hash = $1",
                    &[&&hash[..]],
                )
                .await
                .map_err(|e| pg("reading committed hash", e))?
                .text("payee_id")?;
            if owner != payee_id {
                return Err(StoreError::HashTaken);
            }
        }
        tx.commit().await.map_err(|e| pg("committing", e))?;
        Ok(added)
    }

    async fn unused_hash_count(&self, payee_id: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let n = client
            .query_one(
                "SELECT COUNT(*) AS n FROM relay_hashes WHERE payee_id = $1 AND NOT used",
                &[&payee_id],
            )
            .await
            .map_err(|e| pg("counting unused hashes", e))?
            .int("n")?;
        to_u64(n, "count")
    }

    async fn take_unused_hash(
        &self,
        template: &RelayPayment,
    ) -> Result<Option<RelayPayment>, StoreError> {
        let mut payment = template.clone();
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        // SKIP LOCKED: concurrent takers (other replicas) each get a different hash.
        let row = tx
            .query_opt(
                "SELECT payment_hash FROM relay_hashes WHERE payee_id = $1 AND NOT used
                 ORDER BY committed_at, payment_hash LIMIT 1 FOR UPDATE SKIP LOCKED",
                &[&payment.payee_id],
            )
            .await
            .map_err(|e| pg("finding an unused hash", e))?;
        let Some(row) = row else { return Ok(None) };
        payment.payment_hash = row.hash32("payment_hash")?;
        tx.execute(
            "UPDATE relay_hashes SET used = TRUE WHERE payment_hash = $1",
            &[&&payment.payment_hash[..]],
        )
        .await
        .map_err(|e| pg("using hash", e))?;
        let values = PaymentValues::of(&payment)?;
        tx.execute(
            &format!("INSERT INTO relay_payments ({PAYMENT_COLUMNS}) VALUES ({PLACEHOLDERS})"),
            &params(&values),
        )
        .await
        .map_err(|e| pg("storing relay payment", e))?;
        tx.commit().await.map_err(|e| pg("committing", e))?;
        Ok(Some(payment))
    }

    async fn relay_payment(&self, hash: &[u8; 32]) -> Result<Option<RelayPayment>, StoreError> {
        let client = self.client().await?;
        client
            .query_opt(
                &format!("SELECT {PAYMENT_COLUMNS} FROM relay_payments WHERE payment_hash = $1"),
                &[&&hash[..]],
            )
            .await
            .map_err(|e| pg("reading relay payment", e))?
            .as_ref()
            .map(relay::payment)
            .transpose()
    }

    async fn relay_payments(&self, filter: &RelayFilter) -> Result<Vec<RelayPayment>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {PAYMENT_COLUMNS} FROM relay_payments
                     WHERE ($1::TEXT IS NULL OR payee_id = $1)
                       AND (NOT $2 OR state NOT IN ('settled', 'cancelled', 'expired'))
                     ORDER BY created_at, payment_hash"
                ),
                &[&filter.payee_id, &filter.active_only],
            )
            .await
            .map_err(|e| pg("listing relay payments", e))?;
        rows.iter().map(relay::payment).collect()
    }

    async fn update_relay_payment(
        &self,
        payment: &RelayPayment,
    ) -> Result<Option<RelayPayment>, StoreError> {
        let mut next = payment.clone();
        next.version = payment.version.saturating_add(1);
        let expected = to_i64(payment.version, "version")?;
        let values = PaymentValues::of(&next)?;
        let mut args = params(&values).to_vec();
        args.push(&expected);
        let client = self.client().await?;
        let updated = client
            .execute(
                &format!(
                    "UPDATE relay_payments SET ({PAYMENT_COLUMNS}) = ({PLACEHOLDERS})
                     WHERE payment_hash = $1 AND version = $22"
                ),
                &args,
            )
            .await
            .map_err(|e| pg("updating relay payment", e))?;
        Ok((updated == 1).then_some(next))
    }
}
