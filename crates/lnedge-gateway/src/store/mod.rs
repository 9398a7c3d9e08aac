//! The gateway's storage contract, with two real implementations: SQLite (the default, one
//! file under the data directory) and PostgreSQL (several gateway replicas on one database).
//!
//! # Contract
//!
//! * Every method is atomic: it changes everything it says or nothing.
//! * Concurrency: any number of gateway replicas may share one PostgreSQL database.
//!   [`allocate_seqs`](GatewayStore::allocate_seqs) never hands the same sequence number out
//!   twice, and [`record_payment`](GatewayStore::record_payment) counts a payment once.
//! * Versioned compare-and-swap: a device's sync is stored by
//!   [`commit_sync`](GatewayStore::commit_sync), which applies only if the device's sync counter
//!   and every entry it changes are still what the caller read; otherwise it changes nothing and
//!   answers [`StoreError::Conflict`], and the caller reads again. The stores hold no rule of
//!   their own about which ledger moves are allowed: the engine decides
//!   ([`crate::sync`], on `lnedge-proto`'s ledger rules).
//! * Migrations are stepwise and run by `open`; a store opened on a newer schema refuses to run.
//! * Errors are typed: the caller's mistakes (unknown device, duplicate id, replay) are distinct
//!   from storage failures ([`StoreError::Backend`]).

use std::collections::BTreeMap;

use async_trait::async_trait;
use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};

pub(crate) mod codec;
#[cfg(any(test, feature = "test-utils"))]
pub mod conformance;
pub mod deputy;
pub mod jobs;
pub mod operators;
pub mod payers;
pub mod postgres;
pub mod rate;
pub mod refunds;
pub mod relay;
pub mod report;
pub mod sqlite;

pub use deputy::{BeginSale, ClaimMark, DeputySaleRecord, DeputyStatus, DeputyStore};
pub use jobs::{JobRecord, JobState, JobStore};
pub use operators::OperatorStore;
pub use payers::PayerStore;
pub use rate::{RateBucket, RateStore};
pub use refunds::RefundStore;
pub use relay::RelayStore;

/// How a product is priced.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Price {
    /// A fixed amount of millisatoshis.
    Msat(u64),
    /// An amount of a fiat currency in its minor unit (cents), converted at provisioning.
    Fiat {
        /// ISO 4217 code, upper case (`EUR`, `USD`, `CHF`).
        currency: String,
        /// Amount in the currency's minor unit.
        amount_minor: u64,
    },
}

/// A product of a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductRecord {
    /// The product's id on the device (slot / button).
    pub id: u16,
    /// What the customer's wallet shows.
    pub description: String,
    /// Its price.
    pub price: Price,
}

/// An enrolled device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceRecord {
    /// Its id.
    pub id: DeviceId,
    /// A name for the operator ("Lobby vending machine").
    pub name: String,
    /// Whether it may sync and get pools.
    pub enabled: bool,
    /// Its products.
    pub products: Vec<ProductRecord>,
    /// Highest sync counter applied so far (0: never synced).
    pub last_sync_counter: u64,
    /// When the last sync was applied (seconds since the Unix epoch); `None`: never synced.
    pub last_sync_at: Option<u64>,
    /// When it was enrolled (seconds since the Unix epoch).
    pub created_at: u64,
}

/// A pool handed to a device.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolRecord {
    /// The pool's id.
    pub id: PoolId,
    /// The device it is for.
    pub device_id: DeviceId,
    /// When it was provisioned (seconds since the Unix epoch).
    pub created_at: u64,
    /// When its invoices expire (seconds since the Unix epoch).
    pub expires_at: u64,
    /// The pool file.
    pub bytes: Vec<u8>,
}

/// One invoice of a pool, as the gateway tracks it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EntryRecord {
    /// The pool.
    pub pool_id: PoolId,
    /// The entry's index in the pool.
    pub index: u32,
    /// The product.
    pub product: u16,
    /// Its sequence number (what the preimage is derived from).
    pub seq: u32,
    /// The invoice's payment hash.
    pub payment_hash: [u8; 32],
    /// The invoice's amount in millisatoshis.
    pub amount_msat: u64,
    /// The state the device last reported (`Unused` until it syncs).
    pub state: EntryState,
}

/// An exchange rate captured when a payment was recorded.
#[derive(Debug, Clone, PartialEq)]
pub struct FiatQuote {
    /// ISO 4217 code.
    pub currency: String,
    /// Price of one bitcoin in the currency's major unit (e.g. 61 234.56 EUR per BTC).
    pub rate_per_btc: f64,
    /// Where the rate came from (`fixed`, a URL…).
    pub source: String,
}

/// A payment the owner's node settled for a pool invoice.
#[derive(Debug, Clone, PartialEq)]
pub struct PaymentRecord {
    /// The payment hash.
    pub payment_hash: [u8; 32],
    /// Amount received in millisatoshis.
    pub amount_msat: u64,
    /// When it settled (seconds since the Unix epoch).
    pub paid_at: u64,
    /// The exchange rate at that moment, when the product is priced in fiat or a rate source is
    /// configured.
    pub quote: Option<FiatQuote>,
}

/// One entry's move in a [`SyncCommit`]: stored only if the entry is still in `from`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EntryChange {
    /// The pool.
    pub pool_id: PoolId,
    /// The entry's index in the pool.
    pub index: u32,
    /// The state the caller read.
    pub from: EntryState,
    /// The state to store.
    pub to: EntryState,
}

/// What a sync's authentication reads of a device ([`GatewayStore::sync_state`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SyncState {
    /// Whether it may sync.
    pub enabled: bool,
    /// Its last applied sync counter.
    pub last_sync_counter: u64,
}

/// A pool as a sync plans from it ([`GatewayStore::pool_states`]): its owner and its entries'
/// states by index.
pub type PoolStates = (DeviceId, BTreeMap<u32, EntryState>);

/// A pool as the sync's top-up reads it ([`GatewayStore::pool_usage`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PoolUsage {
    /// The pool.
    pub pool: PoolRecord,
    /// How many entries it has.
    pub entries: u32,
    /// Whether any entry is not `Unused` (the device has reported the pool).
    pub any_used: bool,
}

/// A device's sync as the engine decided it: the counter moves from `last_counter` (what the
/// caller read) to `counter`, and each entry of `changes` moves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncCommit {
    /// The device.
    pub device: DeviceId,
    /// The sync counter the caller read (the compare of the compare-and-swap).
    pub last_counter: u64,
    /// The new sync counter.
    pub counter: u64,
    /// When the sync is applied (seconds since the Unix epoch): the device's `last_sync_at`.
    pub synced_at: u64,
    /// The entries that move, each at most once.
    pub changes: Vec<EntryChange>,
}

/// Why a store operation failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// No device with this id.
    #[error("unknown device {0}")]
    UnknownDevice(DeviceId),
    /// No pool with this id.
    #[error("unknown pool {0}")]
    UnknownPool(PoolId),
    /// A record changed since the caller read it (a compare-and-swap lost): nothing was
    /// changed; read again and retry.
    #[error("a record changed since it was read (concurrent update)")]
    Conflict,
    /// A device with this id is already enrolled.
    #[error("device {0} is already enrolled")]
    DuplicateDevice(DeviceId),
    /// A pool with this id exists.
    #[error("pool {0} already exists")]
    DuplicatePool(PoolId),
    /// A payment hash is already committed by another payee (which one is not said: a payee
    /// must not learn about another).
    #[error("a payment hash in this request is already committed")]
    HashTaken,
    /// A card UID is already bound to another payer.
    #[error("this card UID is already bound to another card")]
    UidTaken,
    /// An operator with this name exists.
    #[error("an operator named {0:?} exists")]
    OperatorTaken(String),
    /// This LNURL-auth linking key already belongs to another operator.
    #[error("this linking key already belongs to another operator")]
    LinkingKeyTaken,
    /// No operator with this name.
    #[error("no operator named {0:?}")]
    UnknownOperator(String),
    /// A session with this token hash exists (a token was drawn twice: never in practice).
    #[error("a session with this token exists")]
    SessionTaken,
    /// The database's schema is newer than this build understands.
    #[error("the database schema is version {found}, newer than this build's {supported}")]
    SchemaTooNew {
        /// Version found.
        found: i64,
        /// Highest version this build knows.
        supported: i64,
    },
    /// The database failed (connection, I/O, constraint the contract does not name).
    #[error("database error: {0}")]
    Backend(String),
}

/// The gateway's storage. Each feature's storage is a supertrait in its own module
/// ([`RefundStore`], [`DeputyStore`], [`RelayStore`], [`RateStore`], [`PayerStore`],
/// [`OperatorStore`]).
#[async_trait]
pub trait GatewayStore:
    RefundStore
    + DeputyStore
    + RelayStore
    + RateStore
    + PayerStore
    + OperatorStore
    + JobStore
    + Send
    + Sync
{
    /// The implementation's name (`sqlite`, `postgres`).
    fn name(&self) -> &'static str;

    /// Enrols a device with its products.
    async fn insert_device(
        &self,
        id: DeviceId,
        name: &str,
        products: &[ProductRecord],
        created_at: u64,
    ) -> Result<(), StoreError>;

    /// A device, with its products.
    async fn device(&self, id: DeviceId) -> Result<Option<DeviceRecord>, StoreError>;

    /// A device's last applied sync counter (`None`: no such device): what a sync reads of the
    /// device. PostgreSQL answers it in one prepared query (issue #17); this default reads the
    /// whole record.
    async fn sync_counter(&self, id: DeviceId) -> Result<Option<u64>, StoreError> {
        Ok(self.device(id).await?.map(|d| d.last_sync_counter))
    }

    /// Whether a device is enabled and its last applied sync counter (`None`: no such device):
    /// what a sync's authentication reads. PostgreSQL batches it with the other syncs' reads;
    /// this default reads the whole record.
    async fn sync_state(&self, id: DeviceId) -> Result<Option<SyncState>, StoreError> {
        Ok(self
            .device(id)
            .await?
            .map(|d| SyncState { enabled: d.enabled, last_sync_counter: d.last_sync_counter }))
    }

    /// The owner and the entries' states of each of `pools` that exists (absent: no such
    /// pool): what a sync plans from. PostgreSQL answers with one query for all of them; this
    /// default reads each pool and its entries.
    async fn pool_states(
        &self,
        pools: &[PoolId],
    ) -> Result<BTreeMap<PoolId, PoolStates>, StoreError> {
        let mut read = BTreeMap::new();
        for id in pools {
            if read.contains_key(id) {
                continue;
            }
            if let Some(pool) = self.pool_by_id(*id).await? {
                let entries = self.entries(pool.id).await?;
                let states = entries.into_iter().map(|e| (e.index, e.state)).collect();
                read.insert(*id, (pool.device_id, states));
            }
        }
        Ok(read)
    }

    /// A device's pools, oldest first, each with how many entries it has and whether any of
    /// them is not `Unused`: what the sync's top-up reads. PostgreSQL answers with one query;
    /// this default reads each pool's entries.
    async fn pool_usage(&self, device: DeviceId) -> Result<Vec<PoolUsage>, StoreError> {
        let mut usage = Vec::new();
        for pool in self.pools(device).await? {
            let entries = self.entries(pool.id).await?;
            let any_used = entries.iter().any(|e| e.state != EntryState::Unused);
            let entries = u32::try_from(entries.len()).unwrap_or(u32::MAX);
            usage.push(PoolUsage { pool, entries, any_used });
        }
        Ok(usage)
    }

    /// Every device, ordered by id.
    async fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError>;

    /// Enables or disables a device.
    async fn set_device_enabled(&self, id: DeviceId, enabled: bool) -> Result<(), StoreError>;

    /// Replaces a device's products.
    async fn set_products(
        &self,
        id: DeviceId,
        products: &[ProductRecord],
    ) -> Result<(), StoreError>;

    /// Reserves `count` consecutive sequence numbers of `product` on `device` and returns the
    /// first. Safe under concurrent callers on one database: ranges never overlap.
    async fn allocate_seqs(
        &self,
        device: DeviceId,
        product: u16,
        count: u32,
    ) -> Result<u32, StoreError>;

    /// Stores a provisioned pool and its entries, atomically.
    async fn insert_pool(
        &self,
        pool: &PoolRecord,
        entries: &[EntryRecord],
    ) -> Result<(), StoreError>;

    /// The pools of a device, oldest first (without their bytes' content checked).
    async fn pools(&self, device: DeviceId) -> Result<Vec<PoolRecord>, StoreError>;

    /// The entries of a pool, by index.
    async fn entries(&self, pool: PoolId) -> Result<Vec<EntryRecord>, StoreError>;

    /// Every entry of every pool with the pool's device: by device id, then as
    /// [`pools`](Self::pools) orders a device's pools, then by index. The sales report's read:
    /// SQLite and PostgreSQL answer it in one query (issue #17); this default asks pool by pool.
    async fn entries_by_device(&self) -> Result<Vec<(DeviceId, EntryRecord)>, StoreError> {
        let mut out = Vec::new();
        for device in self.devices().await? {
            for pool in self.pools(device.id).await? {
                out.extend(self.entries(pool.id).await?.into_iter().map(|e| (device.id, e)));
            }
        }
        Ok(out)
    }

    /// Sends the sales report's records into `out` in report order (see
    /// [`report::collect_report_records`]) and returns once all are sent or `out`'s receiver is
    /// gone. SQLite and PostgreSQL read them with one query and send them as they read, so
    /// memory stays flat however large the books; this default (for other stores) reads them
    /// all first.
    async fn report_records(
        &self,
        out: tokio::sync::mpsc::Sender<report::ReportRecord>,
    ) -> Result<(), StoreError> {
        report::collect_report_records(self, &out).await
    }

    /// The entry whose invoice has this payment hash.
    async fn entry_by_hash(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<EntryRecord>, StoreError>;

    /// Stores a device's sync atomically if nothing it names changed since it was read:
    /// [`StoreError::Conflict`] (and no change at all) if the device's counter is no longer
    /// `last_counter` or an entry is no longer in its `from` state (or no longer exists);
    /// [`StoreError::UnknownDevice`] without the device.
    async fn commit_sync(&self, commit: &SyncCommit) -> Result<(), StoreError>;

    /// Records a settled payment; returns `false` if it was already recorded (nothing changes).
    async fn record_payment(&self, payment: &PaymentRecord) -> Result<bool, StoreError>;

    /// Every recorded payment, by time.
    async fn payments(&self) -> Result<Vec<PaymentRecord>, StoreError>;
}
