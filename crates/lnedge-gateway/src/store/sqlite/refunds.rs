//! [`RefundStore`] on SQLite. Every write is one `BEGIN IMMEDIATE` transaction, so the
//! compare-and-set of a claim is serialised by the database lock (also across processes).

use async_trait::async_trait;
use lnedge_proto::{DeviceId, PoolId};
use rusqlite::{params, Connection, OptionalExtension};

use super::{backend, begin, commit, device_id, hash32, pool_id, to_i64, to_u32, to_u64};
use super::{query_opt, SqliteStore};
use crate::store::codec::{self, PAYMENT_COLUMNS, POOL_COLUMNS};
use crate::store::refunds::{
    AuthOutcome, ClaimOutcome, RefundFinish, RefundRecord, RefundState, RefundStore, SessionRecord,
};
use crate::store::{PaymentRecord, PoolRecord, StoreError};

const REFUND_COLUMNS: &str = "payment_hash, device_id, pool_id, idx, amount_msat, state, \
     attested, created_at, expires_at, k1, claim_invoice, claimed_at, paid_at, last_error";

type RefundRow = (
    Vec<u8>,
    Vec<u8>,
    Vec<u8>,
    i64,
    i64,
    String,
    bool,
    i64,
    i64,
    Option<Vec<u8>>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    Option<String>,
);

fn refund_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<RefundRow> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
        r.get(10)?,
        r.get(11)?,
        r.get(12)?,
        r.get(13)?,
    ))
}

fn refund_from_row(row: RefundRow) -> Result<RefundRecord, StoreError> {
    let (hash, dev, pool, idx, amount, state, attested, created, expires, k1, inv, cl, paid, err) =
        row;
    Ok(RefundRecord {
        payment_hash: hash32(&hash)?,
        device_id: device_id(&dev)?,
        pool_id: pool_id(&pool)?,
        index: to_u32(idx, "entry index")?,
        amount_msat: to_u64(amount, "amount_msat")?,
        state: RefundState::parse(&state)?,
        attested,
        created_at: to_u64(created, "created_at")?,
        expires_at: to_u64(expires, "expires_at")?,
        k1: k1.map(|k| hash32(&k)).transpose()?,
        claim_invoice: inv,
        claimed_at: cl.map(|t| to_u64(t, "claimed_at")).transpose()?,
        paid_at: paid.map(|t| to_u64(t, "paid_at")).transpose()?,
        last_error: err,
    })
}

fn read_refund(
    conn: &Connection,
    column: &str,
    key: &[u8],
) -> Result<Option<RefundRecord>, StoreError> {
    conn.query_row(
        &format!("SELECT {REFUND_COLUMNS} FROM refunds WHERE {column} = ?1"),
        params![key],
        refund_row,
    )
    .optional()
    .map_err(|e| backend("reading refund", e))?
    .map(refund_from_row)
    .transpose()
}

fn opt_i64(value: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_i64(v, what)).transpose()
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
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {REFUND_COLUMNS} FROM refunds ORDER BY created_at, payment_hash"
                ))
                .map_err(|e| backend("preparing refunds query", e))?;
            let rows = stmt.query_map([], refund_row).map_err(|e| backend("reading refunds", e))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(refund_from_row(row.map_err(|e| backend("reading refunds", e))?)?);
            }
            Ok(out)
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
                "INSERT INTO sessions (token_hash, subject, payment_hash, created_at, expires_at)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
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
            let row = conn
                .query_row(
                    "SELECT token_hash, subject, payment_hash, created_at, expires_at
                     FROM sessions WHERE token_hash = ?1 AND expires_at > ?2",
                    params![&hash[..], now],
                    |r| {
                        Ok((
                            r.get::<_, Vec<u8>>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<Vec<u8>>>(2)?,
                            r.get::<_, i64>(3)?,
                            r.get::<_, i64>(4)?,
                        ))
                    },
                )
                .optional()
                .map_err(|e| backend("reading session", e))?;
            row.map(|(token, subject, payment, created, expires)| {
                Ok(SessionRecord {
                    token_hash: hash32(&token)?,
                    subject,
                    payment_hash: payment.map(|p| hash32(&p)).transpose()?,
                    created_at: to_u64(created, "created_at")?,
                    expires_at: to_u64(expires, "expires_at")?,
                })
            })
            .transpose()
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
            let row: Option<(Vec<u8>, i64, Option<String>)> = tx
                .query_row(
                    "SELECT token_hash, expires_at, linking_key FROM auth_challenges WHERE k1 = ?1",
                    params![&k1[..]],
                    |r| Ok((r.get(0)?, r.get(1)?, r.get(2)?)),
                )
                .optional()
                .map_err(|e| backend("reading LNURL-auth challenge", e))?;
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
