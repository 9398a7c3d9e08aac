//! [`RelayStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection, OptionalExtension};

use super::{backend, begin, commit, hash32, to_i64, to_u32, to_u64, SqliteStore};
use crate::store::relay::{PayeeRecord, RelayFilter, RelayPayment, RelayState, RelayStore};
use crate::store::StoreError;

const COLUMNS: &str = "payment_hash, payee_id, state, version, amount_msat, description, bolt11,
    created_at, expires_at, held_amount_msat, claim_deadline_height, held_at, fee_msat,
    claim_bolt11, attempts, preimage, notified, notify_attempts, next_notify_at, reason,
    updated_at";

fn opt_i64(value: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_i64(v, what)).transpose()
}

fn write(conn: &Connection, verb: &str, p: &RelayPayment, tail: &str) -> Result<usize, StoreError> {
    let sql = format!(
        "{verb} relay_payments ({COLUMNS}) VALUES
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
          ?20, ?21) {tail}"
    );
    conn.execute(
        &sql,
        params![
            &p.payment_hash[..],
            p.payee_id,
            p.state.name(),
            to_i64(p.version, "version")?,
            to_i64(p.amount_msat, "amount_msat")?,
            p.description,
            p.bolt11,
            to_i64(p.created_at, "created_at")?,
            to_i64(p.expires_at, "expires_at")?,
            opt_i64(p.held_amount_msat, "held_amount_msat")?,
            p.claim_deadline_height.map(i64::from),
            opt_i64(p.held_at, "held_at")?,
            opt_i64(p.fee_msat, "fee_msat")?,
            p.claim_bolt11,
            i64::from(p.attempts),
            p.preimage.as_ref().map(|x| x.to_vec()),
            p.notified,
            i64::from(p.notify_attempts),
            to_i64(p.next_notify_at, "next_notify_at")?,
            p.reason,
            to_i64(p.updated_at, "updated_at")?,
        ],
    )
    .map_err(|e| backend(&format!("storing relay payment {}", hex::encode(p.payment_hash)), e))
}

type Row = (
    (Vec<u8>, String, String, i64, i64, String, String, i64, i64, Option<i64>),
    (Option<i64>, Option<i64>, Option<i64>, Option<String>, i64, Option<Vec<u8>>, bool, i64),
    (i64, Option<String>, i64),
);

fn row(r: &rusqlite::Row<'_>) -> rusqlite::Result<Row> {
    Ok((
        (
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
        ),
        (
            r.get(10)?,
            r.get(11)?,
            r.get(12)?,
            r.get(13)?,
            r.get(14)?,
            r.get(15)?,
            r.get(16)?,
            r.get(17)?,
        ),
        (r.get(18)?, r.get(19)?, r.get(20)?),
    ))
}

fn from_row(row: Row) -> Result<RelayPayment, StoreError> {
    let (
        (hash, payee_id, state, version, amount, description, bolt11, created, expires, held),
        rest,
        tail,
    ) = row;
    let (deadline, held_at, fee, claim_bolt11, attempts, preimage, notified, notify_attempts) =
        rest;
    let (next_notify_at, reason, updated_at) = tail;
    let opt_u64 = |v: Option<i64>, what: &str| v.map(|v| to_u64(v, what)).transpose();
    Ok(RelayPayment {
        payment_hash: hash32(&hash)?,
        payee_id,
        state: RelayState::from_name(&state).ok_or_else(|| {
            StoreError::Backend(format!("stored relay state {state:?} is unknown"))
        })?,
        version: to_u64(version, "version")?,
        amount_msat: to_u64(amount, "amount_msat")?,
        description,
        bolt11,
        created_at: to_u64(created, "created_at")?,
        expires_at: to_u64(expires, "expires_at")?,
        held_amount_msat: opt_u64(held, "held_amount_msat")?,
        claim_deadline_height: deadline.map(|d| to_u32(d, "claim_deadline_height")).transpose()?,
        held_at: opt_u64(held_at, "held_at")?,
        fee_msat: opt_u64(fee, "fee_msat")?,
        claim_bolt11,
        attempts: to_u32(attempts, "attempts")?,
        preimage: preimage.map(|p| hash32(&p)).transpose()?,
        notified,
        notify_attempts: to_u32(notify_attempts, "notify_attempts")?,
        next_notify_at: to_u64(next_notify_at, "next_notify_at")?,
        reason,
        updated_at: to_u64(updated_at, "updated_at")?,
    })
}

fn read(conn: &Connection, hash: &[u8; 32]) -> Result<Option<RelayPayment>, StoreError> {
    conn.query_row(
        &format!("SELECT {COLUMNS} FROM relay_payments WHERE payment_hash = ?1"),
        params![&hash[..]],
        row,
    )
    .optional()
    .map_err(|e| backend("reading relay payment", e))?
    .map(from_row)
    .transpose()
}

#[async_trait]
impl RelayStore for SqliteStore {
    async fn insert_payee(&self, payee: &PayeeRecord) -> Result<(), StoreError> {
        let payee = payee.clone();
        let created_at = to_i64(payee.created_at, "created_at")?;
        self.run(move |conn| {
            let inserted = conn
                .execute(
                    "INSERT INTO relay_payees (id, name, webhook_url, created_at)
                     VALUES (?1, ?2, ?3, ?4) ON CONFLICT (id) DO NOTHING",
                    params![payee.id, payee.name, payee.webhook_url, created_at],
                )
                .map_err(|e| backend("enrolling payee", e))?;
            if inserted == 0 {
                return Err(StoreError::Backend(format!("payee {} already exists", payee.id)));
            }
            Ok(())
        })
        .await
    }

    async fn payee(&self, id: &str) -> Result<Option<PayeeRecord>, StoreError> {
        let id = id.to_owned();
        self.run(move |conn| {
            let found = conn
                .query_row(
                    "SELECT id, name, webhook_url, created_at FROM relay_payees WHERE id = ?1",
                    params![id],
                    |r| {
                        Ok((
                            r.get::<_, String>(0)?,
                            r.get::<_, String>(1)?,
                            r.get::<_, Option<String>>(2)?,
                            r.get::<_, i64>(3)?,
                        ))
                    },
                )
                .optional()
                .map_err(|e| backend("reading payee", e))?;
            found
                .map(|(id, name, webhook_url, created)| {
                    Ok(PayeeRecord {
                        id,
                        name,
                        webhook_url,
                        created_at: to_u64(created, "created_at")?,
                    })
                })
                .transpose()
        })
        .await
    }

    async fn set_payee_webhook(&self, id: &str, url: Option<&str>) -> Result<bool, StoreError> {
        let (id, url) = (id.to_owned(), url.map(str::to_owned));
        self.run(move |conn| {
            conn.execute("UPDATE relay_payees SET webhook_url = ?2 WHERE id = ?1", params![id, url])
                .map(|n| n > 0)
                .map_err(|e| backend("setting the payee's webhook", e))
        })
        .await
    }

    async fn commit_hashes(
        &self,
        payee_id: &str,
        hashes: &[[u8; 32]],
        now: u64,
    ) -> Result<u32, StoreError> {
        let (payee_id, hashes) = (payee_id.to_owned(), hashes.to_vec());
        let now = to_i64(now, "now")?;
        self.run(move |conn| {
            let tx = begin(conn)?;
            let mut added = 0u32;
            for hash in &hashes {
                let owner: Option<String> = tx
                    .query_row(
                        "SELECT payee_id FROM relay_hashes WHERE payment_hash = ?1",
                        params![&hash[..]],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| backend("reading committed hash", e))?;
                match owner {
                    Some(owner) if owner == payee_id => {}
                    Some(_) => {
                        return Err(StoreError::Backend(format!(
                            "hash {} is committed by another payee",
                            hex::encode(hash)
                        )))
                    }
                    None => {
                        tx.execute(
                            "INSERT INTO relay_hashes (payment_hash, payee_id, committed_at, used)
                             VALUES (?1, ?2, ?3, 0)",
                            params![&hash[..], payee_id, now],
                        )
                        .map_err(|e| backend("committing hash", e))?;
                        added = added.saturating_add(1);
                    }
                }
            }
            commit(tx)?;
            Ok(added)
        })
        .await
    }

    async fn unused_hash_count(&self, payee_id: &str) -> Result<u64, StoreError> {
        let payee_id = payee_id.to_owned();
        self.run(move |conn| {
            let n: i64 = conn
                .query_row(
                    "SELECT COUNT(*) FROM relay_hashes WHERE payee_id = ?1 AND used = 0",
                    params![payee_id],
                    |r| r.get(0),
                )
                .map_err(|e| backend("counting unused hashes", e))?;
            to_u64(n, "count")
        })
        .await
    }

    async fn take_unused_hash(
        &self,
        template: &RelayPayment,
    ) -> Result<Option<RelayPayment>, StoreError> {
        let mut payment = template.clone();
        self.run(move |conn| {
            let tx = begin(conn)?;
            let hash: Option<Vec<u8>> = tx
                .query_row(
                    "SELECT payment_hash FROM relay_hashes WHERE payee_id = ?1 AND used = 0
                     ORDER BY committed_at, payment_hash LIMIT 1",
                    params![payment.payee_id],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| backend("finding an unused hash", e))?;
            let Some(hash) = hash else { return Ok(None) };
            payment.payment_hash = hash32(&hash)?;
            tx.execute("UPDATE relay_hashes SET used = 1 WHERE payment_hash = ?1", params![hash])
                .map_err(|e| backend("using hash", e))?;
            write(&tx, "INSERT INTO", &payment, "")?;
            commit(tx)?;
            Ok(Some(payment))
        })
        .await
    }

    async fn relay_payment(&self, hash: &[u8; 32]) -> Result<Option<RelayPayment>, StoreError> {
        let hash = *hash;
        self.run(move |conn| read(conn, &hash)).await
    }

    async fn relay_payments(&self, filter: &RelayFilter) -> Result<Vec<RelayPayment>, StoreError> {
        let filter = filter.clone();
        self.run(move |conn| {
            let sql = format!(
                "SELECT {COLUMNS} FROM relay_payments
                 WHERE (?1 IS NULL OR payee_id = ?1)
                   AND (?2 = 0 OR state NOT IN ('settled', 'cancelled', 'expired'))
                 ORDER BY created_at, payment_hash"
            );
            let mut stmt = conn.prepare(&sql).map_err(|e| backend("listing relay payments", e))?;
            let rows = stmt
                .query_map(params![filter.payee_id, filter.active_only], row)
                .map_err(|e| backend("listing relay payments", e))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| backend("listing relay payments", e))?;
            rows.into_iter().map(from_row).collect()
        })
        .await
    }

    async fn update_relay_payment(
        &self,
        payment: &RelayPayment,
    ) -> Result<Option<RelayPayment>, StoreError> {
        let mut next = payment.clone();
        next.version = payment.version.saturating_add(1);
        let expected = to_i64(payment.version, "version")?;
        self.run(move |conn| {
            let tx = begin(conn)?;
            let current: Option<i64> = tx
                .query_row(
                    "SELECT version FROM relay_payments WHERE payment_hash = ?1",
                    params![&next.payment_hash[..]],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| backend("reading relay payment version", e))?;
            if current != Some(expected) {
                return Ok(None);
            }
            write(&tx, "INSERT OR REPLACE INTO", &next, "")?;
            commit(tx)?;
            Ok(Some(next))
        })
        .await
    }
}
