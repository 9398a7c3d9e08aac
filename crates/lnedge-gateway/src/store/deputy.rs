//! Storage for deputy sales (issue #6): one row per sale a terminal asked to be paid, keyed by
//! (device, counter), with the amount, its conversion to msat at the rate of the moment, the
//! invoice and where the sale stands (requested → paid → claimed).
//!
//! Part of [`GatewayStore`](super::GatewayStore) (a supertrait), implemented by both stores in
//! `sqlite/deputy.rs` and `postgres/deputy.rs`, with its schema in migration `0003_deputy.sql`.
//!
//! # Contract
//!
//! * [`begin_deputy_sale`](DeputyStore::begin_deputy_sale) is atomic per device, also across
//!   replicas on one PostgreSQL database: of two sales of one device it records one counter at a
//!   time, and refuses a counter at or below the device's highest recorded counter
//!   ([`BeginSale::Stale`]) unless it is that very sale ([`BeginSale::Existing`]).
//! * Status only moves forward: requested → paid → claimed. Marking twice changes nothing.

use async_trait::async_trait;
use lnedge_proto::DeviceId;

use super::{FiatQuote, StoreError};

/// Where a deputy sale stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum DeputyStatus {
    /// A wallet fetched the sale (and maybe got an invoice); not paid yet.
    Requested,
    /// The owner's node settled the invoice.
    Paid,
    /// The terminal accepted the claim and reported it at its sync.
    Claimed,
}

impl DeputyStatus {
    /// The name used in JSON (`requested`, `paid`, `claimed`; SQL stores a code).
    pub fn as_str(self) -> &'static str {
        match self {
            DeputyStatus::Requested => "requested",
            DeputyStatus::Paid => "paid",
            DeputyStatus::Claimed => "claimed",
        }
    }
}

/// One deputy sale.
#[derive(Debug, Clone, PartialEq)]
pub struct DeputySaleRecord {
    /// The terminal.
    pub device_id: DeviceId,
    /// The terminal's sale counter.
    pub counter: u64,
    /// The amount the terminal asked, in `currency` units (sat, or the fiat minor unit).
    pub amount: u64,
    /// `SAT` or an ISO 4217 code.
    pub currency: String,
    /// The amount invoiced, in millisatoshis.
    pub amount_msat: u64,
    /// The exchange rate the fiat amount was converted at (`None` for `SAT`).
    pub quote: Option<FiatQuote>,
    /// The payment hash of the sale's invoice (`SHA256(preimage)`).
    pub payment_hash: [u8; 32],
    /// When a wallet first fetched the sale (seconds since the Unix epoch).
    pub created_at: u64,
    /// The BOLT 11 invoice, once the callback created it.
    pub invoice: Option<String>,
    /// Where it stands.
    pub status: DeputyStatus,
    /// When the node settled it.
    pub paid_at: Option<u64>,
    /// When the terminal reported it claimed.
    pub claimed_at: Option<u64>,
}

/// What [`DeputyStore::begin_deputy_sale`] did.
#[derive(Debug, Clone, PartialEq)]
#[allow(clippy::large_enum_variant)] // one value per wallet fetch: boxing buys nothing
pub enum BeginSale {
    /// A new sale was recorded.
    Created,
    /// The device already has a sale with this counter (a wallet fetching again): it is returned
    /// unchanged.
    Existing(DeputySaleRecord),
    /// The counter is at or below the highest one the device used for another sale.
    Stale {
        /// The device's highest recorded counter.
        highest: u64,
    },
}

/// What [`DeputyStore::mark_deputy_claimed`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimMark {
    /// Paid → claimed.
    Claimed,
    /// It was already claimed.
    AlreadyClaimed,
    /// The sale exists but is not paid: a terminal accepting an unpaid sale (a compromised
    /// terminal key, or a bug) — reported to the operator, not recorded as claimed.
    NotPaid,
    /// No such sale.
    Unknown,
}

/// Storage for deputy sales (see the module contract).
#[async_trait]
pub trait DeputyStore: Send + Sync {
    /// Records a sale a wallet fetched, unless its counter is stale or it exists.
    /// [`StoreError::UnknownDevice`] if the device is not enrolled.
    async fn begin_deputy_sale(&self, sale: &DeputySaleRecord) -> Result<BeginSale, StoreError>;

    /// One sale.
    async fn deputy_sale(
        &self,
        device: DeviceId,
        counter: u64,
    ) -> Result<Option<DeputySaleRecord>, StoreError>;

    /// The sale whose invoice has this payment hash.
    async fn deputy_sale_by_hash(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<DeputySaleRecord>, StoreError>;

    /// Stores the sale's invoice if it has none yet; returns the invoice stored afterwards (the
    /// first one written wins, so concurrent callbacks answer the same invoice).
    async fn set_deputy_invoice(
        &self,
        device: DeviceId,
        counter: u64,
        invoice: &str,
    ) -> Result<String, StoreError>;

    /// Requested → paid; `false` if it was already paid or claimed, or no sale has this hash.
    async fn mark_deputy_paid(
        &self,
        payment_hash: &[u8; 32],
        paid_at: u64,
    ) -> Result<bool, StoreError>;

    /// Paid → claimed (see [`ClaimMark`]).
    async fn mark_deputy_claimed(
        &self,
        device: DeviceId,
        counter: u64,
        claimed_at: u64,
    ) -> Result<ClaimMark, StoreError>;

    /// Sales, newest first (by device and counter), of one device or all.
    async fn deputy_sales(
        &self,
        device: Option<DeviceId>,
        limit: u32,
    ) -> Result<Vec<DeputySaleRecord>, StoreError>;
}
