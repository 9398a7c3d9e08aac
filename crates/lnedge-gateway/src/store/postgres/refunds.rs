//! [`RefundStore`] on PostgreSQL. The claim is one `UPDATE … WHERE state = 'due'`: under READ
//! COMMITTED a second concurrent update waits for the first's row lock, re-reads the row, finds
//! it claimed and changes nothing, so exactly one claim wins on any number of replicas.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use lnedge_proto::{DeviceId, PoolId};

use super::{device_exists, pg, PostgresStore};
use crate::store::codec::refunds::{REFUND_COLUMNS, SESSION_COLUMNS};
use crate::store::codec::{self, opt_i64, to_i64, Columns, PAYMENT_COLUMNS, POOL_COLUMNS};
use crate::store::refunds::{
    AuthOutcome, ClaimOutcome, RefundFinish, RefundRecord, RefundStore, SessionRecord,
};
use crate::store::{PaymentRecord, PoolRecord, StoreError};

async fn read_refund(
    client: &impl GenericClient,
    column: &str,
    key: &[u8],
) -> Result<Option<RefundRecord>, StoreError> {
    client
        .query_opt(&format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE {column} = $1"), &[&key])
        .await
        .map_err(|e| pg("reading refund", e))?
        .as_ref()
        .map(codec::refunds::refund)
        .transpose()
}

#[async_trait]
impl RefundStore for PostgresStore {
    async fn recorded_payment(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<PaymentRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_hash = $1"),
                &[&&payment_hash[..]],
            )
            .await
            .map_err(|e| pg("reading payment", e))?;
        row.as_ref().map(codec::payment).transpose()
    }

    async fn pool_by_id(&self, id: PoolId) -> Result<Option<PoolRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {POOL_COLUMNS} FROM pools WHERE id = $1");
        let statement =
            client.prepare_cached(&sql).await.map_err(|e| pg("preparing the pool query", e))?;
        let row = client
            .query_opt(&statement, &[&&id.0[..]])
            .await
            .map_err(|e| pg(&format!("reading pool {id}"), e))?;
        row.as_ref().map(codec::pool).transpose()
    }

    async fn open_refund(&self, r: &RefundRecord) -> Result<RefundRecord, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO refunds ({REFUND_COLUMNS})
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14)
                     ON CONFLICT (payment_hash) DO NOTHING"
                ),
                &[
                    &&r.payment_hash[..],
                    &&r.device_id.0[..],
                    &&r.pool_id.0[..],
                    &i64::from(r.index),
                    &to_i64(r.amount_msat, "amount_msat")?,
                    &r.state.as_str(),
                    &r.attested,
                    &to_i64(r.created_at, "created_at")?,
                    &to_i64(r.expires_at, "expires_at")?,
                    &r.k1.as_ref().map(|k| &k[..]),
                    &r.claim_invoice,
                    &opt_i64(r.claimed_at, "claimed_at")?,
                    &opt_i64(r.paid_at, "paid_at")?,
                    &r.last_error,
                ],
            )
            .await
            .map_err(|e| pg("opening refund", e))?;
        read_refund(&client, "payment_hash", &r.payment_hash)
            .await?
            .ok_or_else(|| StoreError::Backend("refund vanished after insert".into()))
    }

    async fn refund(&self, payment_hash: &[u8; 32]) -> Result<Option<RefundRecord>, StoreError> {
        read_refund(&self.client().await?, "payment_hash", payment_hash).await
    }

    async fn refund_by_k1(&self, k1: &[u8; 32]) -> Result<Option<RefundRecord>, StoreError> {
        read_refund(&self.client().await?, "k1", k1).await
    }

    async fn bind_refund_k1(
        &self,
        payment_hash: &[u8; 32],
        k1: &[u8; 32],
    ) -> Result<Option<RefundRecord>, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE refunds SET k1 = $2 WHERE payment_hash = $1 AND k1 IS NULL",
                &[&&payment_hash[..], &&k1[..]],
            )
            .await
            .map_err(|e| pg("binding refund k1", e))?;
        read_refund(&client, "payment_hash", payment_hash).await
    }

    async fn claim_refund(
        &self,
        k1: &[u8; 32],
        invoice: &str,
        now: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        let now = to_i64(now, "now")?;
        let client = self.client().await?;
        client
            .execute(
                "UPDATE refunds SET state = 'expired'
                 WHERE k1 = $1 AND state = 'due' AND expires_at <= $2",
                &[&&k1[..], &now],
            )
            .await
            .map_err(|e| pg("expiring refund", e))?;
        let won = client
            .query_opt(
                &format!(
                    "UPDATE refunds SET state = 'claimed', claim_invoice = $2, claimed_at = $3,
                         last_error = NULL
                     WHERE k1 = $1 AND state = 'due' RETURNING {REFUND_COLUMNS}"
                ),
                &[&&k1[..], &invoice, &now],
            )
            .await
            .map_err(|e| pg("claiming refund", e))?;
        if let Some(row) = won {
            return Ok(ClaimOutcome::Claimed(codec::refunds::refund(&row)?));
        }
        Ok(match read_refund(&client, "k1", k1).await? {
            Some(r) => ClaimOutcome::NotDue(r),
            None => ClaimOutcome::UnknownK1,
        })
    }

    async fn finish_refund(
        &self,
        payment_hash: &[u8; 32],
        finish: &RefundFinish,
    ) -> Result<bool, StoreError> {
        let client = self.client().await?;
        let n = match finish {
            RefundFinish::Paid { paid_at } => {
                client
                    .execute(
                        "UPDATE refunds SET state = 'paid', paid_at = $2, last_error = NULL
                         WHERE payment_hash = $1 AND state = 'claimed'",
                        &[&&payment_hash[..], &to_i64(*paid_at, "paid_at")?],
                    )
                    .await
            }
            RefundFinish::Failed { error } => {
                client
                    .execute(
                        "UPDATE refunds SET state = 'due', claim_invoice = NULL,
                             claimed_at = NULL, last_error = $2
                         WHERE payment_hash = $1 AND state = 'claimed'",
                        &[&&payment_hash[..], error],
                    )
                    .await
            }
        }
        .map_err(|e| pg("finishing refund", e))?;
        Ok(n == 1)
    }

    async fn expire_refunds(&self, now: u64) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "UPDATE refunds SET state = 'expired' WHERE state = 'due' AND expires_at <= $1",
                &[&to_i64(now, "now")?],
            )
            .await
            .map_err(|e| pg("expiring refunds", e))
    }

    async fn refunds(&self) -> Result<Vec<RefundRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {REFUND_COLUMNS} FROM refunds ORDER BY created_at, payment_hash"),
                &[],
            )
            .await
            .map_err(|e| pg("reading refunds", e))?;
        rows.iter().map(codec::refunds::refund).collect()
    }

    async fn set_attestation(&self, device: DeviceId, enabled: bool) -> Result<(), StoreError> {
        let client = self.client().await?;
        if !device_exists(&client, &device).await? {
            return Err(StoreError::UnknownDevice(device));
        }
        let sql = if enabled {
            "INSERT INTO attested_devices (device_id) VALUES ($1) ON CONFLICT DO NOTHING"
        } else {
            "DELETE FROM attested_devices WHERE device_id = $1"
        };
        client
            .execute(sql, &[&&device.0[..]])
            .await
            .map_err(|e| pg(&format!("setting attestation of {device}"), e))?;
        Ok(())
    }

    async fn attestation_enabled(&self, device: DeviceId) -> Result<bool, StoreError> {
        let client = self.client().await?;
        client
            .query_opt("SELECT 1 FROM attested_devices WHERE device_id = $1", &[&&device.0[..]])
            .await
            .map(|r| r.is_some())
            .map_err(|e| pg(&format!("reading attestation of {device}"), e))
    }

    async fn issue_payment_session(&self, s: &SessionRecord) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        if let Some(hash) = &s.payment_hash {
            tx.execute("DELETE FROM sessions WHERE payment_hash = $1", &[&&hash[..]])
                .await
                .map_err(|e| pg("revoking earlier sessions", e))?;
        }
        tx.execute(
            &format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"),
            &[
                &&s.token_hash[..],
                &s.subject,
                &s.payment_hash.as_ref().map(|h| &h[..]),
                &to_i64(s.created_at, "created_at")?,
                &to_i64(s.expires_at, "expires_at")?,
            ],
        )
        .await
        .map_err(|e| pg("issuing session", e))?;
        tx.commit().await.map_err(|e| pg("committing", e))
    }

    async fn session(
        &self,
        token_hash: &[u8; 32],
        now: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = $1 AND expires_at > $2"
                ),
                &[&&token_hash[..], &to_i64(now, "now")?],
            )
            .await
            .map_err(|e| pg("reading session", e))?;
        row.as_ref().map(codec::refunds::session).transpose()
    }

    async fn insert_auth_challenge(
        &self,
        k1: &[u8; 32],
        token_hash: &[u8; 32],
        created_at: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let client = self.client().await?;
        client
            .execute(
                "INSERT INTO auth_challenges (k1, token_hash, created_at, expires_at)
                 VALUES ($1, $2, $3, $4)",
                &[
                    &&k1[..],
                    &&token_hash[..],
                    &to_i64(created_at, "created_at")?,
                    &to_i64(expires_at, "expires_at")?,
                ],
            )
            .await
            .map_err(|e| pg("storing LNURL-auth challenge", e))?;
        Ok(())
    }

    async fn purge_expired_auth(&self, before: u64) -> Result<u64, StoreError> {
        let before = to_i64(before, "before")?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        let mut purged = 0;
        for table in ["auth_challenges", "sessions"] {
            purged += tx
                .execute(&format!("DELETE FROM {table} WHERE expires_at < $1"), &[&before])
                .await
                .map_err(|e| pg(&format!("purging {table}"), e))?;
        }
        tx.commit().await.map_err(|e| pg("committing", e))?;
        Ok(purged)
    }

    async fn complete_auth(
        &self,
        k1: &[u8; 32],
        linking_key: &str,
        now: u64,
        session_expires_at: u64,
    ) -> Result<AuthOutcome, StoreError> {
        let (now, until) = (to_i64(now, "now")?, to_i64(session_expires_at, "expires_at")?);
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        let won = tx
            .query_opt(
                "UPDATE auth_challenges SET linking_key = $2
                 WHERE k1 = $1 AND linking_key IS NULL AND expires_at > $3 RETURNING token_hash",
                &[&&k1[..], &linking_key, &now],
            )
            .await
            .map_err(|e| pg("answering LNURL-auth challenge", e))?;
        let Some(row) = won else {
            let row = tx
                .query_opt("SELECT linking_key FROM auth_challenges WHERE k1 = $1", &[&&k1[..]])
                .await
                .map_err(|e| pg("reading LNURL-auth challenge", e))?;
            return Ok(match row {
                None => AuthOutcome::Unknown,
                Some(r) if r.text_or_null("linking_key")?.is_some() => AuthOutcome::Used,
                Some(_) => AuthOutcome::Expired,
            });
        };
        let token = row.bytes("token_hash")?;
        tx.execute(
            "INSERT INTO sessions (token_hash, subject, payment_hash, created_at, expires_at)
             VALUES ($1, $2, NULL, $3, $4)",
            &[&token, &format!("lnurl-auth:{linking_key}"), &now, &until],
        )
        .await
        .map_err(|e| pg("issuing LNURL-auth session", e))?;
        tx.commit().await.map_err(|e| pg("committing", e))?;
        Ok(AuthOutcome::Completed)
    }
}
