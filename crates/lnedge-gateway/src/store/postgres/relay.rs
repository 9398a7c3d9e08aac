//! [`RelayStore`] on PostgreSQL.

use async_trait::async_trait;
use deadpool_postgres::GenericClient;
use tokio_postgres::types::ToSql;
use tokio_postgres::Row;

use super::{get, hash32, pg, to_i64, to_u32, to_u64, PostgresStore};
use crate::store::relay::{PayeeRecord, RelayFilter, RelayPayment, RelayState, RelayStore};
use crate::store::StoreError;

const COLUMNS: &str = "payment_hash, payee_id, state, version, amount_msat, description, bolt11,
    created_at, expires_at, held_amount_msat, claim_deadline_height, held_at, fee_msat,
    claim_bolt11, attempts, preimage, notified, notify_attempts, next_notify_at, reason,
    updated_at";

fn opt_i64(value: Option<u64>, what: &str) -> Result<Option<i64>, StoreError> {
    value.map(|v| to_i64(v, what)).transpose()
}

/// The payment's columns, in [`COLUMNS`] order.
struct Columns {
    hash: Vec<u8>,
    payee_id: String,
    state: &'static str,
    version: i64,
    amount: i64,
    description: String,
    bolt11: String,
    created: i64,
    expires: i64,
    held: Option<i64>,
    deadline: Option<i64>,
    held_at: Option<i64>,
    fee: Option<i64>,
    claim_bolt11: Option<String>,
    attempts: i64,
    preimage: Option<Vec<u8>>,
    notified: bool,
    notify_attempts: i64,
    next_notify_at: i64,
    reason: Option<String>,
    updated: i64,
}

impl Columns {
    fn of(p: &RelayPayment) -> Result<Self, StoreError> {
        Ok(Columns {
            hash: p.payment_hash.to_vec(),
            payee_id: p.payee_id.clone(),
            state: p.state.name(),
            version: to_i64(p.version, "version")?,
            amount: to_i64(p.amount_msat, "amount_msat")?,
            description: p.description.clone(),
            bolt11: p.bolt11.clone(),
            created: to_i64(p.created_at, "created_at")?,
            expires: to_i64(p.expires_at, "expires_at")?,
            held: opt_i64(p.held_amount_msat, "held_amount_msat")?,
            deadline: p.claim_deadline_height.map(i64::from),
            held_at: opt_i64(p.held_at, "held_at")?,
            fee: opt_i64(p.fee_msat, "fee_msat")?,
            claim_bolt11: p.claim_bolt11.clone(),
            attempts: i64::from(p.attempts),
            preimage: p.preimage.map(|x| x.to_vec()),
            notified: p.notified,
            notify_attempts: i64::from(p.notify_attempts),
            next_notify_at: to_i64(p.next_notify_at, "next_notify_at")?,
            reason: p.reason.clone(),
            updated: to_i64(p.updated_at, "updated_at")?,
        })
    }

    fn params(&self) -> [&(dyn ToSql + Sync); 21] {
        [
            &self.hash,
            &self.payee_id,
            &self.state,
            &self.version,
            &self.amount,
            &self.description,
            &self.bolt11,
            &self.created,
            &self.expires,
            &self.held,
            &self.deadline,
            &self.held_at,
            &self.fee,
            &self.claim_bolt11,
            &self.attempts,
            &self.preimage,
            &self.notified,
            &self.notify_attempts,
            &self.next_notify_at,
            &self.reason,
            &self.updated,
        ]
    }
}

const PLACEHOLDERS: &str = "$1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16,
    $17, $18, $19, $20, $21";

fn from_row(row: &Row) -> Result<RelayPayment, StoreError> {
    let opt_u64 = |i: usize, what: &str| -> Result<Option<u64>, StoreError> {
        get::<Option<i64>>(row, i, what)?.map(|v| to_u64(v, what)).transpose()
    };
    let state: String = get(row, 2, "state")?;
    Ok(RelayPayment {
        payment_hash: hash32(&get::<Vec<u8>>(row, 0, "payment_hash")?)?,
        payee_id: get(row, 1, "payee_id")?,
        state: RelayState::from_name(&state).ok_or_else(|| {
            StoreError::Backend(format!("stored relay state {state:?} is unknown"))
        })?,
        version: to_u64(get(row, 3, "version")?, "version")?,
        amount_msat: to_u64(get(row, 4, "amount_msat")?, "amount_msat")?,
        description: get(row, 5, "description")?,
        bolt11: get(row, 6, "bolt11")?,
        created_at: to_u64(get(row, 7, "created_at")?, "created_at")?,
        expires_at: to_u64(get(row, 8, "expires_at")?, "expires_at")?,
        held_amount_msat: opt_u64(9, "held_amount_msat")?,
        claim_deadline_height: get::<Option<i64>>(row, 10, "claim_deadline_height")?
            .map(|d| to_u32(d, "claim_deadline_height"))
            .transpose()?,
        held_at: opt_u64(11, "held_at")?,
        fee_msat: opt_u64(12, "fee_msat")?,
        claim_bolt11: get(row, 13, "claim_bolt11")?,
        attempts: to_u32(get(row, 14, "attempts")?, "attempts")?,
        preimage: get::<Option<Vec<u8>>>(row, 15, "preimage")?.map(|p| hash32(&p)).transpose()?,
        notified: get(row, 16, "notified")?,
        notify_attempts: to_u32(get(row, 17, "notify_attempts")?, "notify_attempts")?,
        next_notify_at: to_u64(get(row, 18, "next_notify_at")?, "next_notify_at")?,
        reason: get(row, 19, "reason")?,
        updated_at: to_u64(get(row, 20, "updated_at")?, "updated_at")?,
    })
}

#[async_trait]
impl RelayStore for PostgresStore {
    async fn insert_payee(&self, payee: &PayeeRecord) -> Result<(), StoreError> {
        let created_at = to_i64(payee.created_at, "created_at")?;
        let client = self.client().await?;
        let inserted = client
            .execute(
                "INSERT INTO relay_payees (id, name, webhook_url, created_at)
                 VALUES ($1, $2, $3, $4) ON CONFLICT (id) DO NOTHING",
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
            .query_opt(
                "SELECT id, name, webhook_url, created_at FROM relay_payees WHERE id = $1",
                &[&id],
            )
            .await
            .map_err(|e| pg("reading payee", e))?;
        row.map(|r| {
            Ok(PayeeRecord {
                id: get(&r, 0, "id")?,
                name: get(&r, 1, "name")?,
                webhook_url: get(&r, 2, "webhook_url")?,
                created_at: to_u64(get(&r, 3, "created_at")?, "created_at")?,
            })
        })
        .transpose()
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
            let owner: String = tx
                .query_one(
                    "SELECT payee_id FROM relay_hashes WHERE payment_hash = $1",
                    &[&&hash[..]],
                )
                .await
                .map_err(|e| pg("reading committed hash", e))?
                .try_get(0)
                .map_err(|e| pg("reading committed hash", e))?;
            if owner != payee_id {
                return Err(StoreError::Backend(format!(
                    "hash {} is committed by another payee",
                    hex::encode(hash)
                )));
            }
        }
        tx.commit().await.map_err(|e| pg("committing", e))?;
        Ok(added)
    }

    async fn unused_hash_count(&self, payee_id: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        let n: i64 = client
            .query_one(
                "SELECT COUNT(*) FROM relay_hashes WHERE payee_id = $1 AND NOT used",
                &[&payee_id],
            )
            .await
            .map_err(|e| pg("counting unused hashes", e))?
            .try_get(0)
            .map_err(|e| pg("counting unused hashes", e))?;
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
        payment.payment_hash = hash32(&get::<Vec<u8>>(&row, 0, "payment_hash")?)?;
        tx.execute(
            "UPDATE relay_hashes SET used = TRUE WHERE payment_hash = $1",
            &[&&payment.payment_hash[..]],
        )
        .await
        .map_err(|e| pg("using hash", e))?;
        let columns = Columns::of(&payment)?;
        tx.execute(
            &format!("INSERT INTO relay_payments ({COLUMNS}) VALUES ({PLACEHOLDERS})"),
            &columns.params(),
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
                &format!("SELECT {COLUMNS} FROM relay_payments WHERE payment_hash = $1"),
                &[&&hash[..]],
            )
            .await
            .map_err(|e| pg("reading relay payment", e))?
            .map(|r| from_row(&r))
            .transpose()
    }

    async fn relay_payments(&self, filter: &RelayFilter) -> Result<Vec<RelayPayment>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {COLUMNS} FROM relay_payments
                     WHERE ($1::TEXT IS NULL OR payee_id = $1)
                       AND (NOT $2 OR state NOT IN ('settled', 'cancelled', 'expired'))
                     ORDER BY created_at, payment_hash"
                ),
                &[&filter.payee_id, &filter.active_only],
            )
            .await
            .map_err(|e| pg("listing relay payments", e))?;
        rows.iter().map(from_row).collect()
    }

    async fn update_relay_payment(
        &self,
        payment: &RelayPayment,
    ) -> Result<Option<RelayPayment>, StoreError> {
        let mut next = payment.clone();
        next.version = payment.version.saturating_add(1);
        let expected = to_i64(payment.version, "version")?;
        let columns = Columns::of(&next)?;
        let mut params = columns.params().to_vec();
        params.push(&expected);
        let client = self.client().await?;
        let updated = client
            .execute(
                &format!(
                    "UPDATE relay_payments SET ({COLUMNS}) = ({PLACEHOLDERS})
                     WHERE payment_hash = $1 AND version = $22"
                ),
                &params,
            )
            .await
            .map_err(|e| pg("updating relay payment", e))?;
        Ok((updated == 1).then_some(next))
    }
}
