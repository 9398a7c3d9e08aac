//! [`RefundStore`] on SQLite. Every write is one `BEGIN IMMEDIATE` transaction, so the
//! compare-and-set of a claim is serialised by the database lock (also across processes).

use async_trait::async_trait;
use lnedge_proto::{DeviceId, PoolId};
use rusqlite::{params, Connection, OptionalExtension};

use super::{backend, begin, commit, query_all, query_opt, SqliteStore};
use crate::store::codec::refunds::{REFUND_COLUMNS, SESSION_COLUMNS};
use crate::store::codec::{self, opt_i64, to_i64, Columns, PAYMENT_COLUMNS, POOL_COLUMNS};
use crate::store::refunds::{
    AuthOutcome, ClaimOutcome, RefundFinish, RefundRecord, RefundStore, SessionRecord,
};
use crate::store::{PaymentRecord, PoolRecord, StoreError};

fn read_refund(
    conn: &Connection,
    column: &str,
    key: &[u8],
) -> Result<Option<RefundRecord>, StoreError> {
    query_opt(
        conn,
        &format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE {column} = ?1"),
        params![key],
        "reading refund",
        |r| codec::refunds::refund(r),
    )
}

#[async_trait]
impl RefundStore for SqliteStore {
    async fn recorded_payment(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<PaymentRecord>, StoreError> {
        let hash = *payment_hash;
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {PAYMENT_COLUMNS} FROM payments WHERE payment_hash = ?1"),
                params![&hash[..]],
                "reading payment",
                |r| codec::payment(r),
            )
        })
        .await
    }

    async fn pool_by_id(&self, id: PoolId) -> Result<Option<PoolRecord>, StoreError> {
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {POOL_COLUMNS} FROM pools WHERE id = ?1"),
                params![&id.0[..]],
                &format!("reading pool {id}"),
                |r| codec::pool(r),
            )
        })
        .await
    }

    async fn open_refund(&self, refund: &RefundRecord) -> Result<RefundRecord, StoreError> {
        let r = refund.clone();
        self.run(move |conn| {
            let tx = begin(conn)?;
            tx.execute(
                &format!(
                    "INSERT INTO refunds ({REFUND_COLUMNS})
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)
                     ON CONFLICT (payment_hash) DO NOTHING"
                ),
                params![
                    &r.payment_hash[..],
                    &r.device_id.0[..],
                    &r.pool_id.0[..],
                    r.index,
                    to_i64(r.amount_msat, "amount_msat")?,
                    r.state.as_str(),
                    r.attested,
                    to_i64(r.created_at, "created_at")?,
                    to_i64(r.expires_at, "expires_at")?,
                    r.k1.as_ref().map(|k| &k[..]),
                    r.claim_invoice,
                    opt_i64(r.claimed_at, "claimed_at")?,
                    opt_i64(r.paid_at, "paid_at")?,
                    r.last_error,
                ],
            )
            .map_err(|e| backend("opening refund", e))?;
            let stored = read_refund(&tx, "payment_hash", &r.payment_hash)?
                .ok_or_else(|| StoreError::Backend("refund vanished after insert".into()))?;
            commit(tx)?;
            Ok(stored)
        })
        .await
    }

    async fn refund(&self, payment_hash: &[u8; 32]) -> Result<Option<RefundRecord>, StoreError> {
        let hash = *payment_hash;
        self.run(move |conn| read_refund(conn, "payment_hash", &hash)).await
    }

    async fn refund_by_k1(&self, k1: &[u8; 32]) -> Result<Option<RefundRecord>, StoreError> {
        let k1 = *k1;
        self.run(move |conn| read_refund(conn, "k1", &k1)).await
    }

    async fn bind_refund_k1(
        &self,
        payment_hash: &[u8; 32],
        k1: &[u8; 32],
    ) -> Result<Option<RefundRecord>, StoreError> {
        let (hash, k1) = (*payment_hash, *k1);
        self.run(move |conn| {
            let tx = begin(conn)?;
            tx.execute(
                "UPDATE refunds SET k1 = ?2 WHERE payment_hash = ?1 AND k1 IS NULL",
                params![&hash[..], &k1[..]],
            )
            .map_err(|e| backend("binding refund k1", e))?;
            let stored = read_refund(&tx, "payment_hash", &hash)?;
            commit(tx)?;
            Ok(stored)
        })
        .await
    }

    async fn claim_refund(
        &self,
        k1: &[u8; 32],
        invoice: &str,
        now: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        let (k1, invoice, now) = (*k1, invoice.to_owned(), to_i64(now, "now")?);
        self.run(move |conn| {
            let tx = begin(conn)?;
            tx.execute(
                "UPDATE refunds SET state = 'expired'
                 WHERE k1 = ?1 AND state = 'due' AND expires_at <= ?2",
                params![&k1[..], now],
            )
            .map_err(|e| backend("expiring refund", e))?;
            let won = tx
                .execute(
                    "UPDATE refunds SET state = 'claimed', claim_invoice = ?2, claimed_at = ?3,
                         last_error = NULL
                     WHERE k1 = ?1 AND state = 'due'",
                    params![&k1[..], invoice, now],
                )
                .map_err(|e| backend("claiming refund", e))?;
            let stored = read_refund(&tx, "k1", &k1)?;
            commit(tx)?;
            Ok(match stored {
                None => ClaimOutcome::UnknownK1,
                Some(r) if won == 1 => ClaimOutcome::Claimed(r),
                Some(r) => ClaimOutcome::NotDue(r),
            })
        })
        .await
    }

    async fn finish_refund(
        &self,
        payment_hash: &[u8; 32],
        finish: &RefundFinish,
    ) -> Result<bool, StoreError> {
        let (hash, finish) = (*payment_hash, finish.clone());
        self.run(move |conn| {
            let n = match finish {
                RefundFinish::Paid { paid_at } => conn.execute(
                    "UPDATE refunds SET state = 'paid', paid_at = ?2, last_error = NULL
                     WHERE payment_hash = ?1 AND state = 'claimed'",
                    params![&hash[..], to_i64(paid_at, "paid_at")?],
                ),
                RefundFinish::Failed { error } => conn.execute(
                    "UPDATE refunds SET state = 'due', claim_invoice = NULL, claimed_at = NULL,
                         last_error = ?2
                     WHERE payment_hash = ?1 AND state = 'claimed'",
                    params![&hash[..], error],
                ),
            }
            .map_err(|e| backend("finishing refund", e))?;
            Ok(n == 1)
        })
        .await
    }

    async fn expire_refunds(&self, now: u64) -> Result<u64, StoreError> {
        let now = to_i64(now, "now")?;
        self.run(move |conn| {
            let n = conn
                .execute(
                    "UPDATE refunds SET state = 'expired' WHERE state = 'due' AND expires_at <= ?1",
                    params![now],
                )
                .map_err(|e| backend("expiring refunds", e))?;
            Ok(n as u64)
        })
        .await
    }

    async fn refunds(&self) -> Result<Vec<RefundRecord>, StoreError> {
        self.read_many(move |conn| {
            query_all(
                conn,
                &format!("SELECT {REFUND_COLUMNS} FROM refunds ORDER BY created_at, payment_hash"),
                [],
                "reading refunds",
                |r| codec::refunds::refund(r),
            )
        })
        .await
    }

    async fn set_attestation(&self, device: DeviceId, enabled: bool) -> Result<(), StoreError> {
        self.run(move |conn| {
            let tx = begin(conn)?;
            if !super::device_exists(&tx, &device)? {
                return Err(StoreError::UnknownDevice(device));
            }
            let sql = if enabled {
                "INSERT INTO attested_devices (device_id) VALUES (?1) ON CONFLICT DO NOTHING"
            } else {
                "DELETE FROM attested_devices WHERE device_id = ?1"
            };
            tx.execute(sql, params![&device.0[..]])
                .map_err(|e| backend(&format!("setting attestation of {device}"), e))?;
            commit(tx)
        })
        .await
    }

    async fn attestation_enabled(&self, device: DeviceId) -> Result<bool, StoreError> {
        self.run(move |conn| {
            conn.query_row(
                "SELECT 1 FROM attested_devices WHERE device_id = ?1",
                params![&device.0[..]],
                |_| Ok(()),
            )
            .optional()
            .map(|o| o.is_some())
            .map_err(|e| backend(&format!("reading attestation of {device}"), e))
        })
        .await
    }

    async fn issue_payment_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let s = session.clone();
        self.run(move |conn| {
            let tx = begin(conn)?;
            if let Some(hash) = &s.payment_hash {
                tx.execute("DELETE FROM sessions WHERE payment_hash = ?1", params![&hash[..]])
                    .map_err(|e| backend("revoking earlier sessions", e))?;
            }
            tx.execute(
                &format!("INSERT INTO sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
                params![
                    &s.token_hash[..],
                    s.subject,
                    s.payment_hash.as_ref().map(|h| &h[..]),
                    to_i64(s.created_at, "created_at")?,
                    to_i64(s.expires_at, "expires_at")?,
                ],
            )
            .map_err(|e| backend("issuing session", e))?;
            commit(tx)
        })
        .await
    }

    async fn session(
        &self,
        token_hash: &[u8; 32],
        now: u64,
    ) -> Result<Option<SessionRecord>, StoreError> {
        let (hash, now) = (*token_hash, to_i64(now, "now")?);
        self.run(move |conn| {
            query_opt(
                conn,
                &format!(
                    "SELECT {SESSION_COLUMNS} FROM sessions WHERE token_hash = ?1 AND expires_at > ?2"
                ),
                params![&hash[..], now],
                "reading session",
                |r| codec::refunds::session(r),
            )
        })
        .await
    }

    async fn insert_auth_challenge(
        &self,
        k1: &[u8; 32],
        token_hash: &[u8; 32],
        created_at: u64,
        expires_at: u64,
    ) -> Result<(), StoreError> {
        let (k1, token) = (*k1, *token_hash);
        let (created, expires) =
            (to_i64(created_at, "created_at")?, to_i64(expires_at, "expires_at")?);
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO auth_challenges (k1, token_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4)",
                params![&k1[..], &token[..], created, expires],
            )
            .map_err(|e| backend("storing LNURL-auth challenge", e))?;
            Ok(())
        })
        .await
    }

    async fn purge_expired_auth(&self, before: u64) -> Result<u64, StoreError> {
        let before = to_i64(before, "before")?;
        self.run(move |conn| {
            let tx = begin(conn)?;
            let mut purged = 0;
            for table in ["auth_challenges", "sessions"] {
                purged += tx
                    .execute(&format!("DELETE FROM {table} WHERE expires_at < ?1"), params![before])
                    .map_err(|e| backend(&format!("purging {table}"), e))?;
            }
            commit(tx)?;
            Ok(purged as u64)
        })
        .await
    }

    async fn complete_auth(
        &self,
        k1: &[u8; 32],
        linking_key: &str,
        now: u64,
        session_expires_at: u64,
    ) -> Result<AuthOutcome, StoreError> {
        let (k1, key) = (*k1, linking_key.to_owned());
        let (now, until) = (to_i64(now, "now")?, to_i64(session_expires_at, "expires_at")?);
        self.run(move |conn| {
            let tx = begin(conn)?;
            let row = query_opt(
                &tx,
                "SELECT token_hash, expires_at, linking_key FROM auth_challenges WHERE k1 = ?1",
                params![&k1[..]],
                "reading LNURL-auth challenge",
                |r| {
                    Ok((
                        r.bytes("token_hash")?,
                        r.int("expires_at")?,
                        r.text_or_null("linking_key")?,
                    ))
                },
            )?;
            let Some((token, expires, used)) = row else {
                return Ok(AuthOutcome::Unknown);
            };
            if used.is_some() {
                return Ok(AuthOutcome::Used);
            }
            if expires <= now {
                return Ok(AuthOutcome::Expired);
            }
            tx.execute(
                "UPDATE auth_challenges SET linking_key = ?2 WHERE k1 = ?1 AND linking_key IS NULL",
                params![&k1[..], key],
            )
            .map_err(|e| backend("answering LNURL-auth challenge", e))?;
            tx.execute(
                "INSERT INTO sessions (token_hash, subject, payment_hash, created_at, expires_at)
                 VALUES (?1, ?2, NULL, ?3, ?4)",
                params![&token[..], format!("lnurl-auth:{key}"), now, until],
            )
            .map_err(|e| backend("issuing LNURL-auth session", e))?;
            commit(tx)?;
            Ok(AuthOutcome::Completed)
        })
        .await
    }
}
