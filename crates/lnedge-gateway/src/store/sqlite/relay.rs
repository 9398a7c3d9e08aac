//! [`RelayStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::{params, Connection};

use super::{backend, begin, commit, query_all, query_one, query_opt, SqliteStore};
use crate::store::codec::relay::{self, PaymentValues, PAYEE_COLUMNS, PAYMENT_COLUMNS};
use crate::store::codec::{to_i64, to_u64, Columns};
use crate::store::relay::{PayeeRecord, RelayFilter, RelayPayment, RelayStore};
use crate::store::StoreError;

fn write(conn: &Connection, verb: &str, p: &RelayPayment, tail: &str) -> Result<usize, StoreError> {
    let sql = format!(
        "{verb} relay_payments ({PAYMENT_COLUMNS}) VALUES
         (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18, ?19,
          ?20, ?21) {tail}"
    );
    let v = PaymentValues::of(p)?;
    conn.execute(
        &sql,
        params![
            v.payment_hash,
            v.payee_id,
            v.state,
            v.version,
            v.amount_msat,
            v.description,
            v.bolt11,
            v.created_at,
            v.expires_at,
            v.held_amount_msat,
            v.claim_deadline_height,
            v.held_at,
            v.fee_msat,
            v.claim_bolt11,
            v.attempts,
            v.preimage,
            v.notified,
            v.notify_attempts,
            v.next_notify_at,
            v.reason,
            v.updated_at,
        ],
    )
    .map_err(|e| backend(&format!("storing relay payment {}", hex::encode(p.payment_hash)), e))
}

fn read(conn: &Connection, hash: &[u8; 32]) -> Result<Option<RelayPayment>, StoreError> {
    query_opt(
        conn,
        &format!("SELECT {PAYMENT_COLUMNS} FROM relay_payments WHERE payment_hash = ?1"),
        params![&hash[..]],
        "reading relay payment",
        |r| relay::payment(r),
    )
}

#[async_trait]
impl RelayStore for SqliteStore {
    async fn insert_payee(&self, payee: &PayeeRecord) -> Result<(), StoreError> {
        let payee = payee.clone();
        let created_at = to_i64(payee.created_at, "created_at")?;
        self.run(move |conn| {
            let inserted = conn
                .execute(
                    &format!(
                        "INSERT INTO relay_payees ({PAYEE_COLUMNS}) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (id) DO NOTHING"
                    ),
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
            query_opt(
                conn,
                &format!("SELECT {PAYEE_COLUMNS} FROM relay_payees WHERE id = ?1"),
                params![id],
                "reading payee",
                |r| relay::payee(r),
            )
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
                let owner = query_opt(
                    &tx,
                    "SELECT payee_id FROM relay_hashes WHERE payment_hash = ?1",
                    params![&hash[..]],
                    "reading committed hash",
                    |r| r.text("payee_id"),
                )?;
                match owner {
                    Some(owner) if owner == payee_id => {}
                    Some(_) => return Err(StoreError::HashTaken),
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
            let n = query_one(
                conn,
                "SELECT COUNT(*) AS n FROM relay_hashes WHERE payee_id = ?1 AND used = 0",
                params![payee_id],
                "counting unused hashes",
                |r| r.int("n"),
            )?;
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
            let hash = query_opt(
                &tx,
                "SELECT payment_hash FROM relay_hashes WHERE payee_id = ?1 AND used = 0
                 ORDER BY committed_at, payment_hash LIMIT 1",
                params![payment.payee_id],
                "finding an unused hash",
                |r| r.hash32("payment_hash"),
            )?;
            let Some(hash) = hash else { return Ok(None) };
            payment.payment_hash = hash;
            tx.execute(
                "UPDATE relay_hashes SET used = 1 WHERE payment_hash = ?1",
                params![&hash[..]],
            )
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
        self.read_many(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {PAYMENT_COLUMNS} FROM relay_payments
                     WHERE (?1 IS NULL OR payee_id = ?1)
                       AND (?2 = 0 OR state NOT IN ('settled', 'cancelled', 'expired'))
                     ORDER BY created_at, payment_hash"
                ),
                params![filter.payee_id, filter.active_only],
                "listing relay payments",
                |r| relay::payment(r),
            )
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
            let current = query_opt(
                &tx,
                "SELECT version FROM relay_payments WHERE payment_hash = ?1",
                params![&next.payment_hash[..]],
                "reading relay payment version",
                |r| r.int("version"),
            )?;
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
