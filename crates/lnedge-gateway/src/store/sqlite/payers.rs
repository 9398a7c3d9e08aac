//! [`PayerStore`] on SQLite.

use async_trait::async_trait;
use lnedge_proto::DeviceId;
use rusqlite::params;

use super::{backend, query_all, query_opt, SqliteStore};
use crate::store::codec::payers::{
    self, PayerRow, PaymentRow, PAYER_COLUMNS, PAYMENT_COLUMNS, TAP_COLUMNS,
};
use crate::store::codec::to_i64;
use crate::store::payers::{PayerPaymentRecord, PayerRecord, PayerStore, TapRecord};
use crate::store::StoreError;

/// A write's error: a unique constraint other than the primary key is `taken`.
fn unique(context: &str, e: rusqlite::Error, taken: StoreError) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            taken
        }
        _ => backend(context, e),
    }
}

fn cas(changed: usize) -> Result<(), StoreError> {
    if changed == 1 {
        Ok(())
    } else {
        Err(StoreError::Conflict)
    }
}

#[async_trait]
impl PayerStore for SqliteStore {
    async fn payer(&self, id: DeviceId) -> Result<Option<PayerRecord>, StoreError> {
        let id = hex::encode(id.0);
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {PAYER_COLUMNS} FROM payers WHERE id = ?1"),
                params![id],
                "reading payer",
                |r| payers::payer(r),
            )
        })
        .await
    }

    async fn payer_by_uid(&self, uid: &[u8; 7]) -> Result<Option<PayerRecord>, StoreError> {
        let uid = hex::encode(uid);
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {PAYER_COLUMNS} FROM payers WHERE uid = ?1"),
                params![uid],
                "reading card by uid",
                |r| payers::payer(r),
            )
        })
        .await
    }

    async fn payer_by_program_code(
        &self,
        code_hash: &[u8; 32],
    ) -> Result<Option<PayerRecord>, StoreError> {
        let hash = hex::encode(code_hash);
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {PAYER_COLUMNS} FROM payers WHERE program_code_hash = ?1"),
                params![hash],
                "reading card by programming code",
                |r| payers::payer(r),
            )
        })
        .await
    }

    async fn payers(&self) -> Result<Vec<PayerRecord>, StoreError> {
        self.read_many(move |conn| {
            query_all(
                conn,
                &format!("SELECT {PAYER_COLUMNS} FROM payers ORDER BY created_at, id"),
                [],
                "listing payers",
                |r| payers::payer(r),
            )
        })
        .await
    }

    async fn put_payer(&self, payer: &PayerRecord) -> Result<(), StoreError> {
        let r = PayerRow::of(payer)?;
        self.run(move |conn| {
            let values = params![
                r.id,
                r.kind,
                r.name,
                r.state,
                r.uid,
                r.key_version,
                r.program_code_hash,
                r.program_expires_at,
                r.counter,
                r.per_payment_msat,
                r.per_day_msat,
                r.pin_limit_msat,
                r.pin_hash,
                r.pin_failures,
                r.day,
                r.day_spent_msat,
                r.created_at,
                r.version,
            ];
            let changed = if r.version <= 1 {
                conn.execute(
                    &format!(
                        "INSERT INTO payers ({PAYER_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, \
                         ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16, ?17, ?18)
                         ON CONFLICT (id) DO NOTHING"
                    ),
                    values,
                )
            } else {
                conn.execute(
                    "UPDATE payers SET kind = ?2, name = ?3, state = ?4, uid = ?5,
                         key_version = ?6, program_code_hash = ?7, program_expires_at = ?8,
                         counter = ?9, per_payment_msat = ?10, per_day_msat = ?11,
                         pin_limit_msat = ?12, pin_hash = ?13, pin_failures = ?14, day = ?15,
                         day_spent_msat = ?16, created_at = ?17, version = ?18
                     WHERE id = ?1 AND version = ?18 - 1",
                    values,
                )
            }
            .map_err(|e| unique("writing payer", e, StoreError::UidTaken))?;
            cas(changed)
        })
        .await
    }

    async fn insert_tap(&self, tap: &TapRecord) -> Result<(), StoreError> {
        let t = tap.clone();
        let expires = to_i64(t.expires_at, "expires_at")?;
        self.run(move |conn| {
            conn.execute(
                &format!("INSERT INTO payer_taps ({TAP_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"),
                params![
                    hex::encode(t.k1_hash),
                    hex::encode(t.payer_id.0),
                    i64::from(t.counter),
                    expires,
                    t.used
                ],
            )
            .map(drop)
            .map_err(|e| backend("recording tap", e))
        })
        .await
    }

    async fn take_tap(&self, k1_hash: &[u8; 32]) -> Result<Option<TapRecord>, StoreError> {
        let hash = hex::encode(k1_hash);
        self.run(move |conn| {
            query_opt(
                conn,
                &format!(
                    "UPDATE payer_taps SET used = 1 WHERE k1_hash = ?1 AND used = 0
                     RETURNING {TAP_COLUMNS}"
                ),
                params![hash],
                "taking tap",
                |r| payers::tap(r).map(|t| TapRecord { used: false, ..t }),
            )
        })
        .await
    }

    async fn purge_taps(&self, before: u64) -> Result<u64, StoreError> {
        let before = to_i64(before, "before")?;
        self.run(move |conn| {
            conn.execute("DELETE FROM payer_taps WHERE expires_at < ?1", params![before])
                .map(|n| n as u64)
                .map_err(|e| backend("purging taps", e))
        })
        .await
    }

    async fn insert_payer_payment(&self, payment: &PayerPaymentRecord) -> Result<(), StoreError> {
        let r = PaymentRow::of(payment)?;
        self.run(move |conn| {
            let changed = conn
                .execute(
                    &format!(
                        "INSERT INTO payer_payments ({PAYMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, \
                         ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)
                         ON CONFLICT (payment_hash) DO NOTHING"
                    ),
                    params![
                        r.payment_hash,
                        r.payer_id,
                        r.kind,
                        r.counter,
                        r.amount_msat,
                        r.fee_msat,
                        r.state,
                        r.invoice,
                        r.failure,
                        r.created_at,
                        r.settled_at,
                        r.version
                    ],
                )
                .map_err(|e| backend("recording payer payment", e))?;
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::HashTaken)
            }
        })
        .await
    }

    async fn put_payer_payment(&self, payment: &PayerPaymentRecord) -> Result<(), StoreError> {
        let r = PaymentRow::of(payment)?;
        self.run(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE payer_payments SET fee_msat = ?2, state = ?3, failure = ?4,
                         settled_at = ?5, version = ?6
                     WHERE payment_hash = ?1 AND version = ?6 - 1",
                    params![
                        r.payment_hash,
                        r.fee_msat,
                        r.state,
                        r.failure,
                        r.settled_at,
                        r.version
                    ],
                )
                .map_err(|e| backend("updating payer payment", e))?;
            cas(changed)
        })
        .await
    }

    async fn payer_payment(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<PayerPaymentRecord>, StoreError> {
        let hash = hex::encode(payment_hash);
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {PAYMENT_COLUMNS} FROM payer_payments WHERE payment_hash = ?1"),
                params![hash],
                "reading payer payment",
                |r| payers::payment(r),
            )
        })
        .await
    }

    async fn pending_payer_payments(
        &self,
        limit: u32,
    ) -> Result<Vec<PayerPaymentRecord>, StoreError> {
        self.read_many(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payer_payments WHERE state = 'pending'
                     ORDER BY created_at, payment_hash LIMIT ?1"
                ),
                params![i64::from(limit)],
                "listing pending payer payments",
                |r| payers::payment(r),
            )
        })
        .await
    }

    async fn payer_payments(
        &self,
        payer: Option<DeviceId>,
        limit: u32,
    ) -> Result<Vec<PayerPaymentRecord>, StoreError> {
        let payer = payer.map(|p| hex::encode(p.0));
        self.read_many(move |conn| {
            let mut rows = query_all(
                conn,
                &format!(
                    "SELECT {PAYMENT_COLUMNS} FROM payer_payments
                     WHERE ?1 IS NULL OR payer_id = ?1
                     ORDER BY created_at DESC, payment_hash DESC LIMIT ?2"
                ),
                params![payer, i64::from(limit)],
                "listing payer payments",
                |r| payers::payment(r),
            )?;
            rows.reverse();
            Ok(rows)
        })
        .await
    }
}
