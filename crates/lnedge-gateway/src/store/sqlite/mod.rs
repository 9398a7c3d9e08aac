//! The SQLite store: one file under the gateway's data directory (the default).
//!
//! One connection behind a mutex, used from `spawn_blocking`; WAL journal, `synchronous=FULL`,
//! foreign keys on. Every write runs in one `BEGIN IMMEDIATE` transaction, so a second process
//! on the same file waits for the lock instead of interleaving. Migrations are stepwise SQL files
//! (`migrations/NNNN_name.sql`) tracked with `PRAGMA user_version`.

mod deputy;
mod refunds;
mod relay;

use std::path::Path;
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};
use rusqlite::{params, Connection, OptionalExtension, TransactionBehavior};

use super::{
    DeviceRecord, EntryRecord, FiatQuote, GatewayStore, PaymentRecord, PoolRecord, Price,
    ProductRecord, StoreError, SyncOutcome, SyncReport,
};

/// The stepwise migrations; migration `i` (0-based) brings the schema to version `i + 1`.
const MIGRATIONS: &[&str] = &[
    include_str!("migrations/0001_initial.sql"),
    include_str!("migrations/0002_refunds.sql"),
    include_str!("migrations/0003_deputy.sql"),
    include_str!("migrations/0004_relay.sql"),
];

/// How long a writer waits for another process's lock on the file.
const BUSY_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// The SQLite implementation of [`GatewayStore`]. Cheap to share behind an `Arc`.
#[derive(Debug, Clone)]
pub struct SqliteStore {
    conn: Arc<Mutex<Connection>>,
}

fn backend(context: &str, e: impl std::fmt::Display) -> StoreError {
    StoreError::Backend(format!("{context}: {e}"))
}

/// `u64` → SQL `BIGINT`, refusing values above `i64::MAX`.
pub(super) fn to_i64(value: u64, what: &str) -> Result<i64, StoreError> {
    i64::try_from(value).map_err(|_| {
        StoreError::Backend(format!("{what} {value} does not fit a signed 64-bit column"))
    })
}

/// SQL `BIGINT` → `u64`, refusing negative values (a corrupt row).
pub(super) fn to_u64(value: i64, what: &str) -> Result<u64, StoreError> {
    u64::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored {what} {value} is negative")))
}

/// SQL integer → `u32`, refusing values out of range (a corrupt row).
pub(super) fn to_u32(value: i64, what: &str) -> Result<u32, StoreError> {
    u32::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored {what} {value} is out of range")))
}

/// SQL integer → `u16`, refusing values out of range (a corrupt row).
pub(super) fn to_u16(value: i64, what: &str) -> Result<u16, StoreError> {
    u16::try_from(value)
        .map_err(|_| StoreError::Backend(format!("stored {what} {value} is out of range")))
}

/// The code a ledger state is stored as.
pub(super) fn state_code(state: EntryState) -> i16 {
    match state {
        EntryState::Unused => 0,
        EntryState::Offered => 1,
        EntryState::Claimed => 2,
        EntryState::Dispensed => 3,
        EntryState::Failed => 4,
    }
}

/// The ledger state a stored code stands for.
pub(super) fn state_from_code(code: i64) -> Result<EntryState, StoreError> {
    Ok(match code {
        0 => EntryState::Unused,
        1 => EntryState::Offered,
        2 => EntryState::Claimed,
        3 => EntryState::Dispensed,
        4 => EntryState::Failed,
        other => {
            return Err(StoreError::Backend(format!("stored ledger state code {other} is unknown")))
        }
    })
}

/// What a report does to an entry in `current`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Step {
    /// Same state.
    Unchanged,
    /// A forward move: store it.
    Forward,
    /// Backward (or sideways between final states): ignore it.
    Regression,
}

/// Classifies a report of `reported` for an entry the store holds in `current`.
pub(super) fn step(current: EntryState, reported: EntryState) -> Step {
    if current == reported {
        Step::Unchanged
    } else if current.may_become(reported) && reported.rank() > current.rank() {
        Step::Forward
    } else {
        Step::Regression
    }
}

impl SyncOutcome {
    /// Counts one report's step (saturating: a batch never holds 2³² reports).
    pub(super) fn count(&mut self, step: Step) {
        let slot = match step {
            Step::Unchanged => &mut self.unchanged,
            Step::Forward => &mut self.applied,
            Step::Regression => &mut self.ignored_regressions,
        };
        *slot = slot.saturating_add(1);
    }
}

/// A price as (kind, msat, currency, amount_minor) columns.
pub(super) type PriceColumns = (i16, Option<i64>, Option<String>, Option<i64>);

/// Splits a price into its columns.
pub(super) fn price_columns(price: &Price) -> Result<PriceColumns, StoreError> {
    Ok(match price {
        Price::Msat(msat) => (0, Some(to_i64(*msat, "price_msat")?), None, None),
        Price::Fiat { currency, amount_minor } => {
            (1, None, Some(currency.clone()), Some(to_i64(*amount_minor, "amount_minor")?))
        }
    })
}

/// Rebuilds a price from its columns.
pub(super) fn price_from_columns(
    kind: i64,
    msat: Option<i64>,
    currency: Option<String>,
    amount_minor: Option<i64>,
) -> Result<Price, StoreError> {
    match (kind, msat, currency, amount_minor) {
        (0, Some(msat), _, _) => Ok(Price::Msat(to_u64(msat, "price_msat")?)),
        (1, _, Some(currency), Some(amount)) => {
            Ok(Price::Fiat { currency, amount_minor: to_u64(amount, "amount_minor")? })
        }
        (kind, ..) => {
            Err(StoreError::Backend(format!("stored price of kind {kind} is incomplete")))
        }
    }
}

/// A stored 16-byte device id.
pub(super) fn device_id(bytes: &[u8]) -> Result<DeviceId, StoreError> {
    <[u8; 16]>::try_from(bytes).map(DeviceId).map_err(|_| {
        StoreError::Backend(format!("stored device id has {} bytes, not 16", bytes.len()))
    })
}

/// A stored 8-byte pool id.
pub(super) fn pool_id(bytes: &[u8]) -> Result<PoolId, StoreError> {
    <[u8; 8]>::try_from(bytes).map(PoolId).map_err(|_| {
        StoreError::Backend(format!("stored pool id has {} bytes, not 8", bytes.len()))
    })
}

/// A stored 32-byte payment hash.
pub(super) fn hash32(bytes: &[u8]) -> Result<[u8; 32], StoreError> {
    <[u8; 32]>::try_from(bytes).map_err(|_| {
        StoreError::Backend(format!("stored payment hash has {} bytes, not 32", bytes.len()))
    })
}

/// Checks that every entry of a pool names that pool.
pub(super) fn check_entries(pool: &PoolRecord, entries: &[EntryRecord]) -> Result<(), StoreError> {
    match entries.iter().find(|e| e.pool_id != pool.id) {
        Some(e) => Err(StoreError::Backend(format!(
            "entry {} names pool {}, not the pool {} being inserted",
            e.index, e.pool_id, pool.id
        ))),
        None => Ok(()),
    }
}

type EntryRow = (Vec<u8>, i64, i64, i64, Vec<u8>, i64, i64);

const ENTRY_COLUMNS: &str = "pool_id, idx, product, seq, payment_hash, amount_msat, state";

fn entry_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<EntryRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?, r.get(5)?, r.get(6)?))
}

fn entry_from_row(row: EntryRow) -> Result<EntryRecord, StoreError> {
    let (pool, index, product, seq, hash, amount, state) = row;
    Ok(EntryRecord {
        pool_id: pool_id(&pool)?,
        index: to_u32(index, "entry index")?,
        product: to_u16(product, "product id")?,
        seq: to_u32(seq, "sequence number")?,
        payment_hash: hash32(&hash)?,
        amount_msat: to_u64(amount, "amount_msat")?,
        state: state_from_code(state)?,
    })
}

fn read_products(conn: &Connection, id: &DeviceId) -> Result<Vec<ProductRecord>, StoreError> {
    let mut stmt = conn
        .prepare_cached(
            "SELECT id, description, price_kind, price_msat, currency, amount_minor
             FROM products WHERE device_id = ?1 ORDER BY position",
        )
        .map_err(|e| backend("preparing products query", e))?;
    let rows = stmt
        .query_map(params![&id.0[..]], |r| {
            Ok((
                r.get::<_, i64>(0)?,
                r.get::<_, String>(1)?,
                r.get::<_, i64>(2)?,
                r.get::<_, Option<i64>>(3)?,
                r.get::<_, Option<String>>(4)?,
                r.get::<_, Option<i64>>(5)?,
            ))
        })
        .map_err(|e| backend("reading products", e))?;
    let mut out = Vec::new();
    for row in rows {
        let (pid, description, kind, msat, currency, amount) =
            row.map_err(|e| backend("reading products", e))?;
        out.push(ProductRecord {
            id: to_u16(pid, "product id")?,
            description,
            price: price_from_columns(kind, msat, currency, amount)?,
        });
    }
    Ok(out)
}

fn write_products(
    tx: &rusqlite::Transaction<'_>,
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

type DeviceRow = (Vec<u8>, String, bool, i64, i64);

const DEVICE_COLUMNS: &str = "id, name, enabled, last_sync_counter, created_at";

fn device_row(r: &rusqlite::Row<'_>) -> rusqlite::Result<DeviceRow> {
    Ok((r.get(0)?, r.get(1)?, r.get(2)?, r.get(3)?, r.get(4)?))
}

fn device_from_row(conn: &Connection, row: DeviceRow) -> Result<DeviceRecord, StoreError> {
    let (id, name, enabled, counter, created_at) = row;
    let id = device_id(&id)?;
    Ok(DeviceRecord {
        id,
        name,
        enabled,
        products: read_products(conn, &id)?,
        last_sync_counter: to_u64(counter, "sync counter")?,
        created_at: to_u64(created_at, "created_at")?,
    })
}

fn device_exists(conn: &Connection, id: &DeviceId) -> Result<bool, StoreError> {
    conn.query_row("SELECT 1 FROM devices WHERE id = ?1", params![&id.0[..]], |_| Ok(()))
        .optional()
        .map(|o| o.is_some())
        .map_err(|e| backend("looking up device", e))
}

fn begin(conn: &mut Connection) -> Result<rusqlite::Transaction<'_>, StoreError> {
    conn.transaction_with_behavior(TransactionBehavior::Immediate)
        .map_err(|e| backend("starting transaction", e))
}

fn commit(tx: rusqlite::Transaction<'_>) -> Result<(), StoreError> {
    tx.commit().map_err(|e| backend("committing", e))
}

impl SqliteStore {
    /// Opens (creating and migrating if needed) the store in the file at `path`.
    ///
    /// Fails with [`StoreError::SchemaTooNew`] if the file was written by a newer build.
    pub fn open(path: &Path) -> Result<Self, StoreError> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)
                .map_err(|e| backend(&format!("creating {}", dir.display()), e))?;
        }
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
        Self::init(conn)
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
        Ok(SqliteStore { conn: Arc::new(Mutex::new(conn)) })
    }

    /// The schema version this build writes.
    pub const SCHEMA_VERSION: i64 = MIGRATIONS.len() as i64;

    fn migrate(conn: &mut Connection) -> Result<(), StoreError> {
        let tx = begin(conn)?;
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
        commit(tx)
    }

    /// Runs `f` on the connection in the blocking pool.
    async fn run<T, F>(&self, f: F) -> Result<T, StoreError>
    where
        T: Send + 'static,
        F: FnOnce(&mut Connection) -> Result<T, StoreError> + Send + 'static,
    {
        let conn = Arc::clone(&self.conn);
        tokio::task::spawn_blocking(move || {
            // A panic while holding the lock cannot leave SQLite inconsistent (an open
            // transaction rolls back when dropped), so a poisoned lock is safe to reuse.
            let mut guard = conn.lock().unwrap_or_else(|p| p.into_inner());
            f(&mut guard)
        })
        .await
        .map_err(|e| backend("sqlite worker task", e))?
    }
}

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
        self.run(move |conn| {
            let tx = conn.transaction().map_err(|e| backend("starting transaction", e))?;
            let row = tx
                .query_row(
                    &format!("SELECT {DEVICE_COLUMNS} FROM devices WHERE id = ?1"),
                    params![&id.0[..]],
                    device_row,
                )
                .optional()
                .map_err(|e| backend(&format!("reading device {id}"), e))?;
            row.map(|row| device_from_row(&tx, row)).transpose()
        })
        .await
    }

    async fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        self.run(move |conn| {
            let tx = conn.transaction().map_err(|e| backend("starting transaction", e))?;
            let rows = {
                let mut stmt = tx
                    .prepare(&format!("SELECT {DEVICE_COLUMNS} FROM devices ORDER BY id"))
                    .map_err(|e| backend("preparing devices query", e))?;
                let rows = stmt
                    .query_map([], device_row)
                    .map_err(|e| backend("reading devices", e))?
                    .collect::<Result<Vec<_>, _>>()
                    .map_err(|e| backend("reading devices", e))?;
                rows
            };
            rows.into_iter().map(|row| device_from_row(&tx, row)).collect()
        })
        .await
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
            let mut stmt = conn
                .prepare_cached(
                    "SELECT id, device_id, created_at, expires_at, bytes FROM pools
                     WHERE device_id = ?1 ORDER BY created_at, ord",
                )
                .map_err(|e| backend("preparing pools query", e))?;
            let rows = stmt
                .query_map(params![&device.0[..]], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, Vec<u8>>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, i64>(3)?,
                        r.get::<_, Vec<u8>>(4)?,
                    ))
                })
                .map_err(|e| backend(&format!("reading pools of {device}"), e))?;
            let mut out = Vec::new();
            for row in rows {
                let (id, dev, created_at, expires_at, bytes) =
                    row.map_err(|e| backend(&format!("reading pools of {device}"), e))?;
                out.push(PoolRecord {
                    id: pool_id(&id)?,
                    device_id: device_id(&dev)?,
                    created_at: to_u64(created_at, "created_at")?,
                    expires_at: to_u64(expires_at, "expires_at")?,
                    bytes,
                });
            }
            Ok(out)
        })
        .await
    }

    async fn entries(&self, pool: PoolId) -> Result<Vec<EntryRecord>, StoreError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(&format!(
                    "SELECT {ENTRY_COLUMNS} FROM entries WHERE pool_id = ?1 ORDER BY idx"
                ))
                .map_err(|e| backend("preparing entries query", e))?;
            let rows = stmt
                .query_map(params![&pool.0[..]], entry_row)
                .map_err(|e| backend(&format!("reading entries of pool {pool}"), e))?;
            let mut out = Vec::new();
            for row in rows {
                out.push(entry_from_row(
                    row.map_err(|e| backend(&format!("reading entries of pool {pool}"), e))?,
                )?);
            }
            Ok(out)
        })
        .await
    }

    async fn entry_by_hash(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<EntryRecord>, StoreError> {
        let hash = *payment_hash;
        self.run(move |conn| {
            conn.query_row(
                &format!("SELECT {ENTRY_COLUMNS} FROM entries WHERE payment_hash = ?1"),
                params![&hash[..]],
                entry_row,
            )
            .optional()
            .map_err(|e| backend("looking up entry by payment hash", e))?
            .map(entry_from_row)
            .transpose()
        })
        .await
    }

    async fn apply_sync(
        &self,
        device: DeviceId,
        counter: u64,
        reports: &[SyncReport],
    ) -> Result<SyncOutcome, StoreError> {
        let reports = reports.to_vec();
        let counter_sql = to_i64(counter, "sync counter")?;
        self.run(move |conn| {
            let tx = begin(conn)?;
            let last: Option<i64> = tx
                .query_row(
                    "SELECT last_sync_counter FROM devices WHERE id = ?1",
                    params![&device.0[..]],
                    |r| r.get(0),
                )
                .optional()
                .map_err(|e| backend(&format!("reading sync counter of {device}"), e))?;
            let last = to_u64(last.ok_or(StoreError::UnknownDevice(device))?, "sync counter")?;
            if counter <= last {
                return Err(StoreError::ReplayedSync { device, counter, last });
            }
            let mut outcome = SyncOutcome::default();
            for report in &reports {
                let owner: Option<Vec<u8>> = tx
                    .query_row(
                        "SELECT device_id FROM pools WHERE id = ?1",
                        params![&report.pool_id.0[..]],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| backend(&format!("looking up pool {}", report.pool_id), e))?;
                let owner = owner.ok_or(StoreError::UnknownPool(report.pool_id))?;
                if owner[..] != device.0[..] {
                    return Err(StoreError::PoolOfAnotherDevice { pool: report.pool_id, device });
                }
                let current: Option<i64> = tx
                    .query_row(
                        "SELECT state FROM entries WHERE pool_id = ?1 AND idx = ?2",
                        params![&report.pool_id.0[..], report.index],
                        |r| r.get(0),
                    )
                    .optional()
                    .map_err(|e| {
                        backend(
                            &format!("reading entry {} of pool {}", report.index, report.pool_id),
                            e,
                        )
                    })?;
                let current = state_from_code(current.ok_or(StoreError::UnknownEntry {
                    pool: report.pool_id,
                    index: report.index,
                })?)?;
                let step = step(current, report.state);
                if step == Step::Forward {
                    tx.execute(
                        "UPDATE entries SET state = ?3, state_rank = ?4
                         WHERE pool_id = ?1 AND idx = ?2 AND state_rank < ?4",
                        params![
                            &report.pool_id.0[..],
                            report.index,
                            state_code(report.state),
                            report.state.rank()
                        ],
                    )
                    .map_err(|e| {
                        backend(
                            &format!("updating entry {} of pool {}", report.index, report.pool_id),
                            e,
                        )
                    })?;
                }
                outcome.count(step);
            }
            tx.execute(
                "UPDATE devices SET last_sync_counter = ?2 WHERE id = ?1",
                params![&device.0[..], counter_sql],
            )
            .map_err(|e| backend(&format!("storing sync counter of {device}"), e))?;
            commit(tx)?;
            Ok(outcome)
        })
        .await
    }

    async fn record_payment(&self, payment: &PaymentRecord) -> Result<bool, StoreError> {
        let p = payment.clone();
        let amount = to_i64(p.amount_msat, "amount_msat")?;
        let paid_at = to_i64(p.paid_at, "paid_at")?;
        self.run(move |conn| {
            let (currency, rate, source) = match p.quote {
                Some(q) => (Some(q.currency), Some(q.rate_per_btc), Some(q.source)),
                None => (None, None, None),
            };
            let n = conn
                .execute(
                    "INSERT INTO payments
                         (payment_hash, amount_msat, paid_at, quote_currency, quote_rate_per_btc,
                          quote_source)
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6) ON CONFLICT (payment_hash) DO NOTHING",
                    params![&p.payment_hash[..], amount, paid_at, currency, rate, source],
                )
                .map_err(|e| backend("recording payment", e))?;
            Ok(n == 1)
        })
        .await
    }

    async fn payments(&self) -> Result<Vec<PaymentRecord>, StoreError> {
        self.run(move |conn| {
            let mut stmt = conn
                .prepare_cached(
                    "SELECT payment_hash, amount_msat, paid_at, quote_currency, quote_rate_per_btc,
                            quote_source
                     FROM payments ORDER BY paid_at, payment_hash",
                )
                .map_err(|e| backend("preparing payments query", e))?;
            let rows = stmt
                .query_map([], |r| {
                    Ok((
                        r.get::<_, Vec<u8>>(0)?,
                        r.get::<_, i64>(1)?,
                        r.get::<_, i64>(2)?,
                        r.get::<_, Option<String>>(3)?,
                        r.get::<_, Option<f64>>(4)?,
                        r.get::<_, Option<String>>(5)?,
                    ))
                })
                .map_err(|e| backend("reading payments", e))?;
            let mut out = Vec::new();
            for row in rows {
                let (hash, amount, paid_at, currency, rate, source) =
                    row.map_err(|e| backend("reading payments", e))?;
                out.push(payment_from_columns(&hash, amount, paid_at, currency, rate, source)?);
            }
            Ok(out)
        })
        .await
    }
}

/// Rebuilds a payment from its columns.
pub(super) fn payment_from_columns(
    hash: &[u8],
    amount: i64,
    paid_at: i64,
    currency: Option<String>,
    rate: Option<f64>,
    source: Option<String>,
) -> Result<PaymentRecord, StoreError> {
    let quote = match (currency, rate, source) {
        (Some(currency), Some(rate_per_btc), Some(source)) => {
            Some(FiatQuote { currency, rate_per_btc, source })
        }
        (None, None, None) => None,
        _ => return Err(StoreError::Backend("stored fiat quote is incomplete".into())),
    };
    Ok(PaymentRecord {
        payment_hash: hash32(hash)?,
        amount_msat: to_u64(amount, "amount_msat")?,
        paid_at: to_u64(paid_at, "paid_at")?,
        quote,
    })
}
