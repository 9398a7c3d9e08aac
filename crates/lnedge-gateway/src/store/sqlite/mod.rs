//! The SQLite store: one file under the gateway's data directory (the default).
//!
//! One connection on a group-committing writer thread ([`lnedge_node::group_commit`], ADR 0020):
//! calls that arrive together run one after the other in one `BEGIN IMMEDIATE` transaction, each
//! in its own savepoint, and are answered after its single commit. WAL journal,
//! `synchronous=FULL`, foreign keys on: an acknowledged write is on disk, and a second process
//! on the same file waits for the lock instead of interleaving. Short lookups go through
//! the writer too; lists and the report's reads run on two read-only connections of their own
//! in the blocking pool, so they see what is committed and never hold up the writes.
//! Migrations are stepwise SQL files (`migrations/NNNN_name.sql`) tracked with
//! `PRAGMA user_version`.

mod deputy;
mod jobs;
mod operators;
mod payers;
mod rate;
mod refunds;
mod relay;
mod report;

use std::path::Path;
use std::sync::Arc;

use async_trait::async_trait;
use lnedge_node::group_commit::{GroupCommit, GroupCommitError, Readers};
use lnedge_proto::{DeviceId, PoolId};
use rusqlite::{params, Connection, OptionalExtension, Savepoint, TransactionBehavior};

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

/// How long a writer waits for another process's lock on the file.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The SQLite implementation of [`GatewayStore`]. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    writer: Arc<GroupCommit>,
    /// `None` in memory (one connection only: reads go through the writer).
    readers: Option<Arc<Readers>>,
}

/// Read-only connections of a file store (two: one per core of the machines it is sized for).
const READERS: usize = 2;

impl From<GroupCommitError> for StoreError {
    fn from(e: GroupCommitError) -> Self {
        StoreError::Backend(e.to_string())
    }
}

fn backend(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{context}: {e}"))
}

use super::codec::{
    self, check_entries, price_columns, state_code, to_i64, Columns, DEVICE_COLUMNS, ENTRY_COLUMNS,
    PAYMENT_COLUMNS, POOL_COLUMNS,
};

impl Columns for rusqlite::Row<'_> {
    fn int_or_null(&self, column: &str) -> Result<Option<i64>, StoreError> {
        self.get(column).map_err(|e| backend(&format!("reading column {column}"), e))
    }
    fn bytes_or_null(&self, column: &str) -> Result<Option<Vec<u8>>, StoreError> {
        self.get(column).map_err(|e| backend(&format!("reading column {column}"), e))
    }
    fn text_or_null(&self, column: &str) -> Result<Option<String>, StoreError> {
        self.get(column).map_err(|e| backend(&format!("reading column {column}"), e))
    }
    fn real_or_null(&self, column: &str) -> Result<Option<f64>, StoreError> {
        self.get(column).map_err(|e| backend(&format!("reading column {column}"), e))
    }
    fn flag(&self, column: &str) -> Result<bool, StoreError> {
        self.get(column).map_err(|e| backend(&format!("reading column {column}"), e))
    }
}

/// Runs a query and decodes every row with `decode`; `what` names it in errors.
pub(super) fn query_all<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    what: &str,
    decode: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Vec<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| backend(what, e))?;
    let mut rows = stmt.query(params).map_err(|e| backend(what, e))?;
    let mut out = Vec::new();
    while let Some(row) = rows.next().map_err(|e| backend(what, e))? {
        out.push(decode(row)?);
    }
    Ok(out)
}

/// Runs a query and decodes its first row, if any.
pub(super) fn query_opt<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    what: &str,
    decode: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<Option<T>, StoreError> {
    let mut stmt = conn.prepare_cached(sql).map_err(|e| backend(what, e))?;
    let mut rows = stmt.query(params).map_err(|e| backend(what, e))?;
    rows.next().map_err(|e| backend(what, e))?.map(decode).transpose()
}

/// Runs a query that answers one row (an aggregate) and decodes it.
pub(super) fn query_one<T>(
    conn: &Connection,
    sql: &str,
    params: impl rusqlite::Params,
    what: &str,
    decode: impl Fn(&rusqlite::Row<'_>) -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    query_opt(conn, sql, params, what, decode)?
        .ok_or_else(|| backend(what, rusqlite::Error::QueryReturnedNoRows))
}

fn read_products(conn: &Connection, id: &DeviceId) -> Result<Vec<ProductRecord>, StoreError> {
    query_all(
        conn,
        &format!(
            "SELECT {} FROM products WHERE device_id = ?1 ORDER BY position",
            codec::PRODUCT_COLUMNS
        ),
        params![&id.0[..]],
        &format!("reading products of {id}"),
        |r| codec::product(r),
    )
}

fn write_products(
    tx: &Connection,
    id: &DeviceId,
    products: &[ProductRecord],
) -> Result<(), StoreError> {
    tx.execute("DELETE FROM products WHERE device_id = ?1", params![&id.0[..]])
        .map_err(|e| backend("clearing products", e))?;
    let mut stmt = tx
        .prepare_cached(
            "INSERT INTO products
                 (device_id, id, position, description, price_kind, price_msat, currency,
                  amount_minor)
             VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
        )
        .map_err(|e| backend("preparing product insert", e))?;
    for (position, p) in products.iter().enumerate() {
        let (kind, msat, currency, amount) = price_columns(&p.price)?;
        let position = to_i64(position as u64, "product position")?;
        stmt.execute(params![
            &id.0[..],
            p.id,
            position,
            p.description,
            kind,
            msat,
            currency,
            amount
        ])
        .map_err(|e| backend(&format!("storing product {} of device {id}", p.id), e))?;
    }
    Ok(())
}

/// Reads devices (their rows, then each one's products).
fn read_devices(
    conn: &Connection,
    filter: &str,
    params: impl rusqlite::Params,
) -> Result<Vec<DeviceRecord>, StoreError> {
    let heads = query_all(
        conn,
        &format!("SELECT {DEVICE_COLUMNS} FROM devices {filter}"),
        params,
        "reading devices",
        |r| codec::device(r, Vec::new()),
    )?;
    heads
        .into_iter()
        .map(|d| Ok(DeviceRecord { products: read_products(conn, &d.id)?, ..d }))
        .collect()
}

fn device_exists(conn: &Connection, id: &DeviceId) -> Result<bool, StoreError> {
    conn.query_row("SELECT 1 FROM devices WHERE id = ?1", params![&id.0[..]], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
        .map_err(|e| backend("looking up device", e))
}

/// Starts a call's all-or-nothing unit of work (a savepoint inside the batch's transaction).
fn begin<'a>(conn: &'a mut Savepoint<'_>) -> Result<Savepoint<'a>, StoreError> {
    conn.savepoint().map_err(|e| backend("starting a savepoint", e))
}

/// Keeps what the unit of work did; it is stored when the batch commits, before the answer.
fn commit(tx: Savepoint<'_>) -> Result<(), StoreError> {
    tx.commit().map_err(|e| backend("releasing a savepoint", e))
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the store in the file at `path`.
    ///
    /// Fails with [`StoreError::SchemaTooNew`] if the file was written by a newer build.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        // Refund `k1` values live here: the directory 0700 and the file 0600 before SQLite
        // opens it (SQLite gives the WAL and SHM files the database file's mode).
        let private =
            |e: lnedge_node::private_fs::PrivateFsError| StoreError::Backend(e.to_string());
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            lnedge_node::private_fs::create_dir(dir).map_err(private)?;
        }
        lnedge_node::private_fs::create_file(path).map_err(private)?;
        let conn = Connection::open(path)
            .map_err(|e| backend(&format!("opening {}", path.display()), e))?;
        conn.busy_timeout(BUSY_TIMEOUT).map_err(|e| backend("setting busy timeout", e))?;
        // `journal_mode` answers with a row, so it is read rather than executed.
        let mode: String = conn
            .query_row("PRAGMA journal_mode=WAL", [], |r| r.get(0))
            .map_err(|e| backend("enabling WAL", e))?;
        if !mode.eq_ignore_ascii_case("wal") {
            return Err(StoreError::Backend(format!(
                "{}: journal mode is {mode}, WAL could not be enabled",
                path.display()
            )));
        }
        let mut store = Self::init(conn)?;
        let readers = Readers::open(path, READERS, BUSY_TIMEOUT)
            .map_err(|e| backend(&format!("opening {} for reading", path.display()), e))?;
        store.readers = Some(Arc::new(readers));
        Ok(store)
    }

    /// A store that lives in memory only (tests of the components above it).
    pub fn in_memory() -> Result<Self, StoreError> {
        let conn =
            Connection::open_in_memory().map_err(|e| backend("opening in-memory database", e))?;
        Self::init(conn)
    }

    fn init(mut conn: Connection) -> Result<Self, StoreError> {
        conn.execute_batch("PRAGMA synchronous=FULL; PRAGMA foreign_keys=ON;")
            .map_err(|e| backend("setting pragmas", e))?;
        Self::migrate(&mut conn)?;
        let writer = GroupCommit::start(conn, "lnedge-sqlite")
            .map_err(|e| backend("starting the database writer thread", e))?;
        Ok(SqliteStore { writer: Arc::new(writer), readers: None })
    }

    /// The schema version this build writes.
    pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

    fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
        let tx = conn
            .transaction_with_behavior(TransactionBehavior::Immediate)
            .map_err(|e| backend("starting the migration", e))?;
        let version: i64 = tx
            .query_row("PRAGMA user_version", [], |r| r.get(0))
            .map_err(|e| backend("reading schema version", e))?;
        if version > Self::SCHEMA_VERSION {
            return Err(StoreError::SchemaTooNew {
                found: version,
                supported: Self::SCHEMA_VERSION,
            });
        }
        for (i, sql) in MIGRATIONS.iter().enumerate().skip(usize::try_from(version).unwrap_or(0)) {
            let to = i.saturating_add(1);
            tx.execute_batch(sql).map_err(|e| backend(&format!("migrating to schema {to}"), e))?;
            tx.execute_batch(&format!("PRAGMA user_version = {to}"))
                .map_err(|e| backend(&format!("recording schema {to}"), e))?;
        }
        tx.commit().map_err(|e| backend("committing the migration", e))
    }

    /// Runs `f` in the writer's next batch (its own savepoint; reads see every earlier call)
    /// and answers after the batch is committed.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Savepoint<'_>) -> Result<T, StoreError> + Send + 'static,
    {
        self.writer.call(f).await
    }

    /// Runs the read `f` whose length grows with the data (lists, the report's reads) on a
    /// read-only connection in the blocking pool: a consistent snapshot of what is committed
    /// (every write answered before this call was made) that neither holds an async worker nor
    /// delays the writer's batches. (Short lookups go through the writer with the writes: on
    /// this machine that was faster than a hop to another thread — ADR 0020.) Through the writer
    /// for an in-memory store.
    async fn read_many<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&Connection) -> Result<T, StoreError> + Send + 'static,
    {
        match &self.readers {
            Some(readers) => {
                let readers = Arc::clone(readers);
                tokio::task::spawn_blocking(move || readers.read(f))
                    .await
                    .map_err(|e| backend("sqlite reader task", e))?
            }
            None => self.writer.call(move |sp| f(sp)).await,
        }
    }
}

/// Every entry with its pool's device, in report order (one query).
const ENTRIES_BY_DEVICE: &str =
    "SELECT e.pool_id, e.idx, e.product, e.seq, e.payment_hash, e.amount_msat, e.state,
                    p.device_id
             FROM entries e JOIN pools p ON p.id = e.pool_id
             ORDER BY p.device_id, p.created_at, p.ord, e.idx";

#[async_trait]

impl GatewayStore for SqliteStore {
    fn name(&self) -> &'static str {
        "sqlite"
    }

    async fn insert_device(
        &self,
        id: DeviceId,
        name: &str,
        products: &[ProductRecord],
        created_at: u64,
    ) -> Result<(), StoreError> {
        let name = name.to_owned();
        let products = products.to_vec();
        let created_at = to_i64(created_at, "created_at")?;
        self.run(move |conn| {
            let tx = begin(conn)?;
            let inserted = tx
                .execute(
                    "INSERT INTO devices (id, name, enabled, last_sync_counter, created_at)
                     VALUES (?1, ?2, 1, 0, ?3) ON CONFLICT (id) DO NOTHING",
                    params![&id.0[..], name, created_at],
                )
                .map_err(|e| backend(&format!("enrolling device {id}"), e))?;
            if inserted == 0 {
                return Err(StoreError::DuplicateDevice(id));
            }
            write_products(&tx, &id, &products)?;
            commit(tx)
        })
        .await
    }

    async fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        self.run(move |conn| Ok(read_devices(conn, "WHERE id = ?1", params![&id.0[..]])?.pop()))
            .await
    }

    async fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.read_many(move |conn| read_devices(conn, "ORDER BY id", [])).await
    }

    async fn set_device_enabled(&self, id: DeviceId, enabled: bool) -> Result<(), StoreError> {
        self.run(move |conn| {
            let n = conn
                .execute(
                    "UPDATE devices SET enabled = ?2 WHERE id = ?1",
                    params![&id.0[..], enabled],
                )
                .map_err(|e| backend(&format!("updating device {id}"), e))?;
            if n == 0 {
                return Err(StoreError::UnknownDevice(id));
            }
            Ok(())
        })
        .await
    }

    async fn set_products(
        &self,
        id: DeviceId,
        products: &[ProductRecord],
    ) -> Result<(), StoreError> {
        let products = products.to_vec();
        self.run(move |conn| {
            let tx = begin(conn)?;
            if !device_exists(&tx, &id)? {
                return Err(StoreError::UnknownDevice(id));
            }
            write_products(&tx, &id, &products)?;
            commit(tx)
        })
        .await
    }

    async fn allocate_seqs(
        &self,
        device: DeviceId,
        product: u16,
        count: u32,
    ) -> Result<u32, StoreError> {
        self.run(move |conn| {
            let tx = begin(conn)?;
            if !device_exists(&tx, &device)? {
                return Err(StoreError::UnknownDevice(device));
            }
            let first: i64 = tx
                .query_row(
                    "INSERT INTO seqs (device_id, product, next_seq) VALUES (?1, ?2, ?3)
                     ON CONFLICT (device_id, product) DO UPDATE SET next_seq = next_seq + ?3
                     RETURNING next_seq - ?3",
                    params![&device.0[..], product, i64::from(count)],
                    |r| r.get(0),
                )
                .map_err(|e| backend(&format!("allocating sequence numbers of {device}/{product}"), e))?;
            let first = u32::try_from(first).map_err(|_| {
                StoreError::Backend(format!("sequence numbers of {device}/{product} are exhausted"))
            })?;
            if first.checked_add(count).is_none() {
                return Err(StoreError::Backend(format!(
                    "allocating {count} sequence numbers of {device}/{product} from {first} would overflow"
                )));
            }
            commit(tx)?;
            Ok(first)
        })
        .await
    }

    async fn insert_pool(
        &self,
        pool: &PoolRecord,
        entries: &[EntryRecord],
    ) -> Result<(), StoreError> {
        check_entries(pool, entries)?;
        let pool = pool.clone();
        let entries = entries.to_vec();
        let created_at = to_i64(pool.created_at, "created_at")?;
        let expires_at = to_i64(pool.expires_at, "expires_at")?;
        self.run(move |conn| {
            let tx = begin(conn)?;
            if !device_exists(&tx, &pool.device_id)? {
                return Err(StoreError::UnknownDevice(pool.device_id));
            }
            let inserted = tx
                .execute(
                    "INSERT INTO pools (id, device_id, created_at, expires_at, bytes)
                     VALUES (?1, ?2, ?3, ?4, ?5) ON CONFLICT (id) DO NOTHING",
                    params![
                        &pool.id.0[..],
                        &pool.device_id.0[..],
                        created_at,
                        expires_at,
                        pool.bytes
                    ],
                )
                .map_err(|e| backend(&format!("storing pool {}", pool.id), e))?;
            if inserted == 0 {
                return Err(StoreError::DuplicatePool(pool.id));
            }
            {
                let mut stmt = tx
                    .prepare_cached(&format!(
                        "INSERT INTO entries ({ENTRY_COLUMNS}, state_rank)
                         VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)"
                    ))
                    .map_err(|e| backend("preparing entry insert", e))?;
                for e in &entries {
                    stmt.execute(params![
                        &e.pool_id.0[..],
                        e.index,
                        e.product,
                        e.seq,
                        &e.payment_hash[..],
                        to_i64(e.amount_msat, "amount_msat")?,
                        state_code(e.state),
                        e.state.rank(),
                    ])
                    .map_err(|err| {
                        backend(&format!("storing entry {} of pool {}", e.index, pool.id), err)
                    })?;
                }
            }
            commit(tx)
        })
        .await
    }

    async fn pools(&self, device: DeviceId) -> Result<Vec<PoolRecord>, StoreError> {
        self.run(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {POOL_COLUMNS} FROM pools WHERE device_id = ?1 ORDER BY created_at, ord"
                ),
                params![&device.0[..]],
                &format!("reading pools of {device}"),
                |r| codec::pool(r),
            )
        })
        .await
    }

    async fn entries(&self, pool: PoolId) -> Result<Vec<EntryRecord>, StoreError> {
        self.run(move |conn| {
            query_all(
                conn,
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE pool_id = ?1 ORDER BY idx"),
                params![&pool.0[..]],
                &format!("reading entries of pool {pool}"),
                |r| codec::entry(r),
            )
        })
        .await
    }

    async fn entries_by_device(&self) -> Result<Vec<(DeviceId, EntryRecord)>, StoreError> {
        self.read_many(move |conn| {
            query_all(conn, ENTRIES_BY_DEVICE, [], "reading every entry", |r| {
                Ok((r.device_id("device_id")?, codec::entry(r)?))
            })
        })
        .await
    }

    async fn entry_by_hash(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<EntryRecord>, StoreError> {
        let hash = *payment_hash;
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE payment_hash = ?1"),
                params![&hash[..]],
                "looking up entry by payment hash",
                |r| codec::entry(r),
            )
        })
        .await
    }

    async fn commit_sync(&self, sync: &SyncCommit) -> Result<(), StoreError> {
        let c = sync.clone();
        let last = to_i64(c.last_counter, "sync counter")?;
        let counter = to_i64(c.counter, "sync counter")?;
        let at = to_i64(c.synced_at, "synced_at")?;
        self.run(move |conn| {
            let tx = begin(conn)?;
            let device = c.device;
            let moved = tx
                .execute(
                    "UPDATE devices SET last_sync_counter = ?3, last_sync_at = ?4
                     WHERE id = ?1 AND last_sync_counter = ?2",
                    params![&device.0[..], last, counter, at],
                )
                .map_err(|e| backend(&format!("storing sync counter of {device}"), e))?;
            if moved == 0 {
                return Err(if device_exists(&tx, &device)? {
                    StoreError::Conflict
                } else {
                    StoreError::UnknownDevice(device)
                });
            }
            {
                let mut stmt = tx
                    .prepare_cached(
                        "UPDATE entries SET state = ?4, state_rank = ?5
                         WHERE pool_id = ?1 AND idx = ?2 AND state = ?3",
                    )
                    .map_err(|e| backend("preparing entry update", e))?;
                for e in &c.changes {
                    let n = stmt
                        .execute(params![
                            &e.pool_id.0[..],
                            e.index,
                            state_code(e.from),
                            state_code(e.to),
                            e.to.rank()
                        ])
                        .map_err(|err| {
                            backend(
                                &format!("updating entry {} of pool {}", e.index, e.pool_id),
                                err,
                            )
                        })?;
                    if n == 0 {
                        // Dropping the transaction rolls the counter back too.
                        return Err(StoreError::Conflict);
                    }
                }
            }
            commit(tx)
        })
        .await
    }

    async fn record_payment(&self, payment: &PaymentRecord) -> Result<bool, StoreError> {
        let p = payment.clone();
        let amount = to_i64(p.amount_msat, "amount_msat")?;
        let paid_at = to_i64(p.paid_at, "paid_at")?;
        let (currency, rate, source) = codec::quote_columns(p.quote.as_ref());
        self.run(move |conn| {
            let n = conn
                .execute(
                    &format!(
                        "INSERT INTO payments ({PAYMENT_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6)
                         ON CONFLICT (payment_hash) DO NOTHING"
                    ),
                    params![&p.payment_hash[..], amount, paid_at, currency, rate, source],
                )
                .map_err(|e| backend("recording payment", e))?;
            Ok(n == 1)
        })
        .await
    }

    async fn report_records(
        &self,
        out: tokio::sync::mpsc::Sender<crate::store::report::ReportRecord>,
    ) -> Result<(), StoreError> {
        self.read_many(move |conn| report::send_records(conn, &out)).await
    }

    async fn payments(&self) -> Result<Vec<PaymentRecord>, StoreError> {
        self.read_many(move |conn| {
            query_all(
                conn,
                &format!("SELECT {PAYMENT_COLUMNS} FROM payments ORDER BY paid_at, payment_hash"),
                [],
                "reading payments",
                |r| codec::payment(r),
            )
        })
        .await
    }
}
