//! The PostgreSQL store: any number of gateway replicas on one database.
//!
//! A small `deadpool-postgres` pool of `tokio-postgres` connections (no TLS: the database is
//! expected on loopback or a private network). Concurrency between replicas rests on the
//! database, never on process-local locks:
//!
//! * [`allocate_seqs`](GatewayStore::allocate_seqs) is one `INSERT … ON CONFLICT DO UPDATE …
//!   RETURNING` statement, so two callers can never read the same counter;
//! * [`record_payment`](GatewayStore::record_payment) is `INSERT … ON CONFLICT DO NOTHING` on the
//!   payment hash;
//! * [`commit_sync`](GatewayStore::commit_sync) is a compare-and-swap in one transaction:
//!   `UPDATE … WHERE last_sync_counter = <read>` and `UPDATE entries … WHERE state = <read>`.
//!   Under READ COMMITTED a concurrent update of the same row waits for the first one's lock,
//!   re-reads the row and no longer matches, so the second of two replicas answers
//!   [`StoreError::Conflict`] and the engine reads again.
//!
//! Migrations are stepwise SQL files (`migrations/NNNN_name.sql`) recorded in a
//! `schema_version` table, run in one transaction under `pg_advisory_xact_lock` so that replicas
//! starting together migrate once.

mod batch;
mod deputy;
mod jobs;
mod operators;
mod payers;
mod rate;
mod refunds;
mod relay;
mod report;
mod sync;

use async_trait::async_trait;
use deadpool_postgres::{GenericClient, Manager, ManagerConfig, Object, Pool, RecyclingMethod};
use lnedge_proto::{DeviceId, PoolId};
use tokio_postgres::{NoTls, Row};

use super::codec::{
    self, check_entries, price_columns, state_code, to_i64, Columns, DEVICE_COLUMNS, ENTRY_COLUMNS,
    PAYMENT_COLUMNS, POOL_COLUMNS, PRODUCT_COLUMNS,
};
use super::{
    DeviceRecord, EntryRecord, GatewayStore, PaymentRecord, PoolRecord, ProductRecord, StoreError,
    SyncCommit,
};

/// The stepwise migrations; migration `i` (0-based) brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_refunds.sql"),
    include_str!("migrations/0003_deputy.sql"),
    include_str!("migrations/0004_relay.sql"),
    include_str!("migrations/0005_rate.sql"),
    include_str!("migrations/0006_payers.sql"),
    include_str!("migrations/0007_operators.sql"),
    include_str!("migrations/0008_last_sync_at.sql"),
    include_str!("migrations/0009_jobs.sql"),
];

/// The advisory lock key migrations hold (ASCII "lnedgemg").
const MIGRATION_LOCK: i64 = 0x6c6e_6564_6765_6d67;

/// Connections per store (per gateway replica) unless configured (`database_max_connections`).
pub const DEFAULT_MAX_CONNECTIONS: usize = 8;

/// The PostgreSQL implementation of [`GatewayStore`]. Cheap to clone (the pool is shared).
#[derive(Clone)]
pub struct PostgresStore {
    pool: Pool,
    /// The device sync's reads and commits, batched across concurrent syncs (`sync.rs`).
    sync: std::sync::Arc<sync::SyncBatchers>,
}

impl std::fmt::Debug for PostgresStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PostgresStore").field("status", &self.pool.status()).finish()
    }
}

/// A driver error as [`StoreError::Backend`], with the server's message when there is one.
fn pg(context: &str, e: tokio_postgres::Error) -> StoreError {
    match e.as_db_error() {
        Some(db) => StoreError::Backend(format!(
            "{context}: {} ({}){}",
            db.message(),
            db.code().code(),
            db.detail().map(|d| format!(": {d}")).unwrap_or_default()
        )),
        None => StoreError::Backend(format!("{context}: {e}")),
    }
}

impl Columns for Row {
    fn int_or_null(&self, column: &str) -> Result<Option<i64>, StoreError> {
        use tokio_postgres::types::Type;
        let read = |e| pg(&format!("reading column {column}"), e);
        let ty = self
            .columns()
            .iter()
            .find(|c| c.name() == column)
            .map(|c| c.type_().clone())
            .ok_or_else(|| StoreError::Backend(format!("the query has no column {column}")))?;
        Ok(match ty {
            Type::INT2 => self.try_get::<_, Option<i16>>(column).map_err(read)?.map(i64::from),
            Type::INT4 => self.try_get::<_, Option<i32>>(column).map_err(read)?.map(i64::from),
            _ => self.try_get::<_, Option<i64>>(column).map_err(read)?,
        })
    }
    fn bytes_or_null(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.try_get(column).map_err(|e| pg(&format!("reading column {column}"), e))
    }
    fn text_or_null(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.try_get(column).map_err(|e| pg(&format!("reading column {column}"), e))
    }
    fn real_or_null(&self, column: &str) -> Result<Option<f64>, StoreError> {
        self.try_get(column).map_err(|e| pg(&format!("reading column {column}"), e))
    }
    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        self.try_get(column).map_err(|e| pg(&format!("reading column {column}"), e))
    }
}

/// Decodes every row with `decode`.
fn decode_all<T>(
    rows: &[Row],
    decode: impl Fn(&Row) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    rows.iter().map(decode).collect()
}

async fn read_products(
    client: &impl GenericClient,
    id: &DeviceId,
) -> Result<Vec<ProductRecord>, StoreError> {
    let sql =
        format!("SELECT {PRODUCT_COLUMNS} FROM products WHERE device_id = $1 ORDER BY position");
    let statement =
        client.prepare_cached(&sql).await.map_err(|e| pg("preparing the products query", e))?;
    let rows = client
        .query(&statement, &[&&id.0[..]])
        .await
        .map_err(|e| pg(&format!("reading products of {id}"), e))?;
    decode_all(&rows, codec::product)
}

async fn write_products(
    client: &impl GenericClient,
    id: &DeviceId,
    products: &[ProductRecord],
) -> Result<(), StoreError> {
    client
        .execute("DELETE FROM products WHERE device_id = $1", &[&&id.0[..]])
        .await
        .map_err(|e| pg(&format!("clearing products of {id}"), e))?;
    for (position, p) in products.iter().enumerate() {
        let (kind, msat, currency, amount) = price_columns(&p.price)?;
        let position = i32::try_from(position)
            .map_err(|_| StoreError::Backend(format!("device {id} has too many products")))?;
        client
            .execute(
                "INSERT INTO products
                     (device_id, id, position, description, price_kind, price_msat, currency,
                      amount_minor)
                 VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
                &[
                    &&id.0[..],
                    &i32::from(p.id),
                    &position,
                    &p.description,
                    &kind,
                    &msat,
                    &currency,
                    &amount,
                ],
            )
            .await
            .map_err(|e| pg(&format!("storing product {} of device {id}", p.id), e))?;
    }
    Ok(())
}

async fn device_from_row(
    client: &impl GenericClient,
    row: &Row,
) -> Result<DeviceRecord, StoreError> {
    let head = codec::device(row, Vec::new())?;
    Ok(DeviceRecord { products: read_products(client, &head.id).await?, ..head })
}

/// A connection of `pool`.
async fn pooled(pool: &Pool) -> Result<Object, StoreError> {
    pool.get().await.map_err(|e| StoreError::Backend(format!("connecting to PostgreSQL: {e}")))
}

async fn device_exists(client: &impl GenericClient, id: &DeviceId) -> Result<bool, StoreError> {
    client
        .query_opt("SELECT 1 FROM devices WHERE id = $1", &[&&id.0[..]])
        .await
        .map(|r| r.is_some())
        .map_err(|e| pg(&format!("looking up device {id}"), e))
}

impl PostgresStore {
    /// Connects to the database at `url` (`postgres://user@host:port/db`), creating and
    /// migrating its schema if needed.
    ///
    /// Fails with [`StoreError::SchemaTooNew`] if a newer build migrated the database.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        Self::connect_with(url, DEFAULT_MAX_CONNECTIONS).await
    }

    /// [`connect`](Self::connect) with at most `max_connections` connections (at least one).
    pub async fn connect_with(url: &str, max_connections: usize) -> Result<Self, StoreError> {
        let config: tokio_postgres::Config =
            url.parse().map_err(|e| pg("parsing the PostgreSQL URL", e))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig { recycling_method: RecyclingMethod::Fast },
        );
        let pool = Pool::builder(manager)
            .max_size(max_connections.max(1))
            .build()
            .map_err(|e| StoreError::Backend(format!("building the connection pool: {e}")))?;
        let sync = std::sync::Arc::new(sync::SyncBatchers::spawn(&pool));
        let store = PostgresStore { pool, sync };
        store.migrate().await?;
        Ok(store)
    }

    /// The schema version this build writes.
    pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

    async fn client(&self) -> Result<Object, StoreError> {
        pooled(&self.pool).await
    }

    async fn migrate(&self) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting migration", e))?;
        tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
            .await
            .map_err(|e| pg("taking the migration lock", e))?;
        tx.batch_execute(
            "CREATE TABLE IF NOT EXISTS schema_version (
                 version BIGINT PRIMARY KEY,
                 applied_at TIMESTAMPTZ NOT NULL DEFAULT now()
             )",
        )
        .await
        .map_err(|e| pg("creating schema_version", e))?;
        let found: Option<i64> = tx
            .query_one("SELECT MAX(version) FROM schema_version", &[])
            .await
            .map_err(|e| pg("reading schema version", e))?
            .try_get(0)
            .map_err(|e| pg("reading schema version", e))?;
        let found = found.unwrap_or(0);
        if found > Self::SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew { found, supported: Self::SCHEMA_VERSION });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(found).unwrap_or(0)) {
            let to = i64::try_from(i).unwrap_or(i64::MAX).saturating_add(1);
            tx.batch_execute(sql).await.map_err(|e| pg(&format!("migrating to schema {to}"), e))?;
            tx.execute("INSERT INTO schema_version (version) VALUES ($1)", &[&to])
                .await
                .map_err(|e| pg(&format!("recording schema {to}"), e))?;
        }
        tx.commit().await.map_err(|e| pg("committing migrations", e))
    }
}

/// A read-only REPEATABLE READ transaction: one consistent snapshot for reads that take several
/// queries (a device and its products, every device).
async fn snapshot(
    client: &mut deadpool_postgres::Client,
) -> Result<deadpool_postgres::Transaction<'_>, StoreError> {
    client
        .build_transaction()
        .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
        .read_only(true)
        .start()
        .await
        .map_err(|e| pg("starting transaction", e))
}

/// Every entry with its pool's device, in report order (one query).
const ENTRIES_BY_DEVICE: &str =
    "SELECT e.pool_id, e.idx, e.product, e.seq, e.payment_hash, e.amount_msat, e.state,
                    p.device_id
             FROM entries e JOIN pools p ON p.id = e.pool_id
             ORDER BY p.device_id, p.created_at, p.ord, e.idx";

#[async_trait]
impl GatewayStore for PostgresStore {
    fn name(&self) -> &'static str {
        "postgres"
    }

    async fn insert_device(
        &self,
        id: DeviceId,
        name: &str,
        products: &[ProductRecord],
        created_at: u64,
    ) -> Result<(), StoreError> {
        let created_at = to_i64(created_at, "created_at")?;
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        let inserted = tx
            .execute(
                "INSERT INTO devices (id, name, enabled, last_sync_counter, created_at)
                 VALUES ($1, $2, TRUE, 0, $3) ON CONFLICT (id) DO NOTHING",
                &[&&id.0[..], &name, &created_at],
            )
            .await
            .map_err(|e| pg(&format!("enrolling device {id}"), e))?;
        if inserted == 0 {
            return Err(StoreError::DuplicateDevice(id));
        }
        write_products(&tx, &id, products).await?;
        tx.commit().await.map_err(|e| pg("committing", e))
    }

    async fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        let mut client = self.client().await?;
        // One snapshot for the device and its products.
        let tx = snapshot(&mut client).await?;
        let sql = format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = $1");
        let statement =
            tx.prepare_cached(&sql).await.map_err(|e| pg("preparing the device query", e))?;
        let row = tx
            .query_opt(&statement, &[&&id.0[..]])
            .await
            .map_err(|e| pg(&format!("reading device {id}"), e))?;
        match row {
            Some(row) => Ok(Some(device_from_row(&tx, &row).await?)),
            None => Ok(None),
        }
    }

    async fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        let mut client = self.client().await?;
        let tx = snapshot(&mut client).await?;
        let rows = tx
            .query(&format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id"), &[])
            .await
            .map_err(|e| pg("reading devices", e))?;
        // Every device's products in one query, not one per device (issue #17).
        let product_rows = tx
            .query(
                &format!(
                    "SELECT device_id, {PRODUCT_COLUMNS} FROM products ORDER BY device_id, position"
                ),
                &[],
            )
            .await
            .map_err(|e| pg("reading products", e))?;
        let mut products: std::collections::HashMap<DeviceId, Vec<ProductRecord>> =
            std::collections::HashMap::new();
        for row in &product_rows {
            products.entry(row.device_id("device_id")?).or_default().push(codec::product(row)?);
        }
        rows.iter()
            .map(|row| {
                let head = codec::device(row, Vec::new())?;
                Ok(DeviceRecord { products: products.remove(&head.id).unwrap_or_default(), ..head })
            })
            .collect()
    }

    async fn sync_counter(&self, id: DeviceId) -> Result<Option<u64>, StoreError> {
        Ok(self.sync.device(id).await?.map(|(_, counter)| counter))
    }

    async fn sync_state(
        &self,
        id: DeviceId,
    ) -> Result<Option<crate::store::SyncState>, StoreError> {
        let read = self.sync.device(id).await?;
        Ok(read.map(|(enabled, last_sync_counter)| crate::store::SyncState {
            enabled,
            last_sync_counter,
        }))
    }

    async fn pool_states(
        &self,
        pools: &[PoolId],
    ) -> Result<std::collections::BTreeMap<PoolId, crate::store::PoolStates>, StoreError> {
        self.sync.pool_states(pools).await
    }

    async fn pool_usage(
        &self,
        device: DeviceId,
    ) -> Result<Vec<crate::store::PoolUsage>, StoreError> {
        self.sync.pool_usage(device).await
    }

    async fn set_device_enabled(&self, id: DeviceId, enabled: bool) -> Result<(), StoreError> {
        let client = self.client().await?;
        let n = client
            .execute("UPDATE devices SET enabled = $2 WHERE id = $1", &[&&id.0[..], &enabled])
            .await
            .map_err(|e| pg(&format!("updating device {id}"), e))?;
        if n == 0 {
            return Err(StoreError::UnknownDevice(id));
        }
        Ok(())
    }

    async fn set_products(
        &self,
        id: DeviceId,
        products: &[ProductRecord],
    ) -> Result<(), StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        // Locks the device row: two replicas replacing the products take turns.
        let found = tx
            .query_opt("SELECT 1 FROM devices WHERE id = $1 FOR UPDATE", &[&&id.0[..]])
            .await
            .map_err(|e| pg(&format!("locking device {id}"), e))?;
        if found.is_none() {
            return Err(StoreError::UnknownDevice(id));
        }
        write_products(&tx, &id, products).await?;
        tx.commit().await.map_err(|e| pg("committing", e))
    }

    async fn allocate_seqs(
        &self,
        device: DeviceId,
        product: u16,
        count: u32,
    ) -> Result<u32, StoreError> {
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        if !device_exists(&tx, &device).await? {
            return Err(StoreError::UnknownDevice(device));
        }
        // One statement: the row lock it takes is held until commit, so no other caller can
        // read the same `next_seq`.
        let first: i64 = tx
            .query_one(
                "INSERT INTO seqs AS s (device_id, product, next_seq) VALUES ($1, $2, $3)
                 ON CONFLICT (device_id, product) DO UPDATE SET next_seq = s.next_seq + $3
                 RETURNING next_seq - $3",
                &[&&device.0[..], &i32::from(product), &i64::from(count)],
            )
            .await
            .map_err(|e| pg(&format!("allocating sequence numbers of {device}/{product}"), e))?
            .try_get(0)
            .map_err(|e| pg("reading the allocated sequence number", e))?;
        let first = u32::try_from(first).map_err(|_| {
            StoreError::Backend(format!("sequence numbers of {device}/{product} are exhausted"))
        })?;
        if first.checked_add(count).is_none() {
            return Err(StoreError::Backend(format!(
                "allocating {count} sequence numbers of {device}/{product} from {first} would overflow"
            )));
        }
        tx.commit().await.map_err(|e| pg("committing", e))?;
        Ok(first)
    }

    async fn insert_pool(
        &self,
        pool: &PoolRecord,
        entries: &[EntryRecord],
    ) -> Result<(), StoreError> {
        check_entries(pool, entries)?;
        let created_at = to_i64(pool.created_at, "created_at")?;
        let expires_at = to_i64(pool.expires_at, "expires_at")?;
        let mut idx = Vec::with_capacity(entries.len());
        let mut product = Vec::with_capacity(entries.len());
        let mut seq = Vec::with_capacity(entries.len());
        let mut hash = Vec::with_capacity(entries.len());
        let mut amount = Vec::with_capacity(entries.len());
        let mut state = Vec::with_capacity(entries.len());
        let mut rank = Vec::with_capacity(entries.len());
        for e in entries {
            idx.push(i64::from(e.index));
            product.push(i32::from(e.product));
            seq.push(i64::from(e.seq));
            hash.push(e.payment_hash.to_vec());
            amount.push(to_i64(e.amount_msat, "amount_msat")?);
            state.push(state_code(e.state));
            rank.push(i16::from(e.state.rank()));
        }
        let mut client = self.client().await?;
        let tx = client.transaction().await.map_err(|e| pg("starting transaction", e))?;
        if !device_exists(&tx, &pool.device_id).await? {
            return Err(StoreError::UnknownDevice(pool.device_id));
        }
        let inserted = tx
            .execute(
                "INSERT INTO pools (id, device_id, created_at, expires_at, bytes)
                 VALUES ($1, $2, $3, $4, $5) ON CONFLICT (id) DO NOTHING",
                &[&&pool.id.0[..], &&pool.device_id.0[..], &created_at, &expires_at, &pool.bytes],
            )
            .await
            .map_err(|e| pg(&format!("storing pool {}", pool.id), e))?;
        if inserted == 0 {
            return Err(StoreError::DuplicatePool(pool.id));
        }
        tx.execute(
            &format!(
                "INSERT INTO entries ({ENTRY_COLUMNS}, state_rank)
                 SELECT $1, * FROM UNNEST($2::BIGINT[], $3::INTEGER[], $4::BIGINT[], $5::BYTEA[],
                                          $6::BIGINT[], $7::SMALLINT[], $8::SMALLINT[])"
            ),
            &[&&pool.id.0[..], &idx, &product, &seq, &hash, &amount, &state, &rank],
        )
        .await
        .map_err(|e| pg(&format!("storing the entries of pool {}", pool.id), e))?;
        tx.commit().await.map_err(|e| pg("committing", e))
    }

    async fn pools(&self, device: DeviceId) -> Result<Vec<PoolRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {POOL_COLUMNS} FROM pools WHERE device_id = $1 ORDER BY created_at, ord"
                ),
                &[&&device.0[..]],
            )
            .await
            .map_err(|e| pg(&format!("reading pools of {device}"), e))?;
        decode_all(&rows, codec::pool)
    }

    async fn entries(&self, pool: PoolId) -> Result<Vec<EntryRecord>, StoreError> {
        let client = self.client().await?;
        let sql = format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE pool_id = $1 ORDER BY idx");
        let statement =
            client.prepare_cached(&sql).await.map_err(|e| pg("preparing the entries query", e))?;
        let rows = client
            .query(&statement, &[&&pool.0[..]])
            .await
            .map_err(|e| pg(&format!("reading entries of pool {pool}"), e))?;
        decode_all(&rows, codec::entry)
    }

    async fn entries_by_device(&self) -> Result<Vec<(DeviceId, EntryRecord)>, StoreError> {
        let client = self.client().await?;
        let rows =
            client.query(ENTRIES_BY_DEVICE, &[]).await.map_err(|e| pg("reading every entry", e))?;
        decode_all(&rows, |r| Ok((r.device_id("device_id")?, codec::entry(r)?)))
    }

    async fn report_records(
        &self,
        out: tokio::sync::mpsc::Sender<crate::store::report::ReportRecord>,
    ) -> Result<(), StoreError> {
        self.send_report_records(&out).await
    }

    async fn entry_by_hash(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<EntryRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE payment_hash = $1"),
                &[&&payment_hash[..]],
            )
            .await
            .map_err(|e| pg("looking up entry by payment hash", e))?;
        row.as_ref().map(codec::entry).transpose()
    }

    async fn commit_sync(&self, commit: &SyncCommit) -> Result<(), StoreError> {
        self.sync.commit(commit).await
    }

    async fn record_payment(&self, payment: &PaymentRecord) -> Result<bool, StoreError> {
        let amount = to_i64(payment.amount_msat, "amount_msat")?;
        let paid_at = to_i64(payment.paid_at, "paid_at")?;
        let (currency, rate, source) = codec::quote_columns(payment.quote.as_ref());
        let client = self.client().await?;
        let n = client
            .execute(
                &format!(
                    "INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (payment_hash) DO NOTHING"
                ),
                &[&&payment.payment_hash[..], &amount, &paid_at, &currency, &rate, &source],
            )
            .await
            .map_err(|e| pg("recording payment", e))?;
        Ok(n == 1)
    }

    async fn payments(&self) -> Result<Vec<PaymentRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(
                &format!("SELECT {PAYMENT_COLUMNS} FROM payments ORDER BY paid_at, payment_hash"),
                &[],
            )
            .await
            .map_err(|e| pg("reading payments", e))?;
        decode_all(&rows, codec::payment)
    }
}
