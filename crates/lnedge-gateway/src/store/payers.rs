//! Storage for payers (`crate::payers`): the operator's Bolt Cards and token-signing payer
//! devices, the single-use LNURL-withdraw sessions a card tap opens, and the payments made on
//! their behalf.
//!
//! Part of [`GatewayStore`](super::GatewayStore) (a supertrait), implemented by both stores in
//! `sqlite/payers.rs` and `postgres/payers.rs`, with its schema in migration `0006_payers.sql`.
//!
//! # Contract
//!
//! * A payer is changed only by [`put_payer`](PayerStore::put_payer), a compare-and-set on its
//!   [`version`](PayerRecord::version) (version 1 creates it). Its counter, its day's spend and
//!   its PIN failures are all in that one record, so two replicas racing for a card's daily
//!   limit or a device's counter never both win: the loser gets [`StoreError::Conflict`].
//!   A UID already bound to another payer is refused with [`StoreError::UidTaken`].
//! * A tap session is taken at most once: [`take_tap`](PayerStore::take_tap) marks it used and
//!   answers it to exactly one caller.
//! * A payment is recorded once per payment hash: a second
//!   [`insert_payer_payment`](PayerStore::insert_payer_payment) of the hash answers
//!   [`StoreError::HashTaken`]. So an invoice is paid at most once, whatever presents it again.
//! * The stores judge nothing (limits, counters, expiry, PINs): `crate::payers` does.

use async_trait::async_trait;
use lnedge_proto::DeviceId;

use super::StoreError;

/// What kind of payer a record is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayerKind {
    /// A Bolt Card (NTAG 424 DNA): SUN readings, LNURL-withdraw.
    Card,
    /// A device that signs invoice-bound tokens.
    Device,
}

impl PayerKind {
    /// `card` or `device`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayerKind::Card => "card",
            PayerKind::Device => "device",
        }
    }

    /// The kind named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "card" => Some(PayerKind::Card),
            "device" => Some(PayerKind::Device),
            _ => None,
        }
    }
}

/// Where a payer stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayerState {
    /// A card issued but not programmed yet (its UID is not known).
    Pending,
    /// Pays within its limits.
    Active,
    /// Disabled by the operator (can be enabled again).
    Disabled,
    /// Locked after too many wrong PINs (the operator enables it again).
    Locked,
    /// Wiped: its keys were handed out to reset the card; it never pays again.
    Wiped,
}

impl PayerState {
    /// A stable lower-case name (JSON, database).
    pub fn as_str(self) -> &'static str {
        match self {
            PayerState::Pending => "pending",
            PayerState::Active => "active",
            PayerState::Disabled => "disabled",
            PayerState::Locked => "locked",
            PayerState::Wiped => "wiped",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        [
            PayerState::Pending,
            PayerState::Active,
            PayerState::Disabled,
            PayerState::Locked,
            PayerState::Wiped,
        ]
        .into_iter()
        .find(|s| s.as_str() == name)
    }
}

/// A payer as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerRecord {
    /// Its id (a card's random handle; a device's id, which its tokens name).
    pub id: DeviceId,
    /// Card or device.
    pub kind: PayerKind,
    /// The operator's name for it.
    pub name: String,
    /// Where it stands.
    pub state: PayerState,
    /// A card's 7-byte UID, once programmed.
    pub uid: Option<[u8; 7]>,
    /// A card's key version (DETERMINISTIC scheme; raised at each programming).
    pub key_version: u32,
    /// SHA-256 of a pending card's one-time programming code.
    pub program_code_hash: Option<[u8; 32]>,
    /// When the programming code stops working (seconds since the Unix epoch).
    pub program_expires_at: u64,
    /// The last counter accepted (card taps, device tokens), if any.
    pub counter: Option<u32>,
    /// Most one payment may be, in millisatoshis.
    pub per_payment_msat: u64,
    /// Most all payments of one UTC day may add up to, in millisatoshis.
    pub per_day_msat: u64,
    /// A card's PIN is required from this amount up (millisatoshis), when it has a PIN.
    pub pin_limit_msat: Option<u64>,
    /// A keyed hash of the card's PIN (never the PIN).
    pub pin_hash: Option<[u8; 32]>,
    /// Wrong PINs in a row.
    pub pin_failures: u32,
    /// The UTC day (days since the Unix epoch) [`day_spent_msat`](Self::day_spent_msat) counts.
    pub day: u64,
    /// Spent or reserved on [`day`](Self::day), in millisatoshis.
    pub day_spent_msat: u64,
    /// When it was issued (seconds since the Unix epoch).
    pub created_at: u64,
    /// Version for compare-and-set; 1 for a new payer, one more on each write.
    pub version: u64,
}

/// A card tap: the single-use LNURL-withdraw session a valid reading opens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TapRecord {
    /// SHA-256 of the session's `k1` (the `k1` itself is a bearer secret, not stored).
    pub k1_hash: [u8; 32],
    /// The card.
    pub payer_id: DeviceId,
    /// The reading's counter.
    pub counter: u32,
    /// When the session stops working (seconds since the Unix epoch).
    pub expires_at: u64,
    /// Whether a callback took it.
    pub used: bool,
}

/// Where a payer's payment stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum PayerPaymentState {
    /// Sent to the node; outcome not known yet.
    Pending,
    /// Paid: the payee released the preimage.
    Paid,
    /// Failed for good: nothing was paid, the reservation was released.
    Failed,
}

impl PayerPaymentState {
    /// `pending`, `paid` or `failed`.
    pub fn as_str(self) -> &'static str {
        match self {
            PayerPaymentState::Pending => "pending",
            PayerPaymentState::Paid => "paid",
            PayerPaymentState::Failed => "failed",
        }
    }

    /// The state named `name`.
    pub fn parse(name: &str) -> Option<Self> {
        match name {
            "pending" => Some(PayerPaymentState::Pending),
            "paid" => Some(PayerPaymentState::Paid),
            "failed" => Some(PayerPaymentState::Failed),
            _ => None,
        }
    }
}

/// A payment made for a payer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayerPaymentRecord {
    /// The invoice's payment hash (paid at most once).
    pub payment_hash: [u8; 32],
    /// Who paid.
    pub payer_id: DeviceId,
    /// Card (tap) or device (token).
    pub kind: PayerKind,
    /// The tap's or the token's counter.
    pub counter: u32,
    /// The amount paid to the payee, in millisatoshis.
    pub amount_msat: u64,
    /// Routing fees, once known.
    pub fee_msat: Option<u64>,
    /// Where it stands.
    pub state: PayerPaymentState,
    /// The BOLT 11 invoice.
    pub invoice: String,
    /// Why it failed, when it did.
    pub failure: Option<String>,
    /// When it was asked for (seconds since the Unix epoch).
    pub created_at: u64,
    /// When it was paid or failed.
    pub settled_at: Option<u64>,
    /// Version for compare-and-set.
    pub version: u64,
}

/// Payers, taps and their payments (see the module's contract).
#[async_trait]
pub trait PayerStore: Send + Sync {
    /// The payer `id`, if any.
    async fn payer(&self, id: DeviceId) -> Result<Option<PayerRecord>, StoreError>;

    /// The card with UID `uid`, if any.
    async fn payer_by_uid(&self, uid: &[u8; 7]) -> Result<Option<PayerRecord>, StoreError>;

    /// The pending card whose programming code hashes to `code_hash`, if any.
    async fn payer_by_program_code(
        &self,
        code_hash: &[u8; 32],
    ) -> Result<Option<PayerRecord>, StoreError>;

    /// Every payer, oldest first.
    async fn payers(&self) -> Result<Vec<PayerRecord>, StoreError>;

    /// Writes `payer` if the stored one still has version `payer.version - 1` (or, for version
    /// 1, if there is none); else [`StoreError::Conflict`]. A UID another payer holds:
    /// [`StoreError::UidTaken`]. Nothing changes on an error.
    async fn put_payer(&self, payer: &PayerRecord) -> Result<(), StoreError>;

    /// Records a new tap session.
    async fn insert_tap(&self, tap: &TapRecord) -> Result<(), StoreError>;

    /// Marks the unused session `k1_hash` used and answers it (as it was before), or `None` if
    /// there is no such session or it was used already: exactly one caller gets it.
    async fn take_tap(&self, k1_hash: &[u8; 32]) -> Result<Option<TapRecord>, StoreError>;

    /// Deletes the sessions that expired before `before`; answers how many went.
    async fn purge_taps(&self, before: u64) -> Result<u64, StoreError>;

    /// Records a new payment; [`StoreError::HashTaken`] if its hash has one already.
    async fn insert_payer_payment(&self, payment: &PayerPaymentRecord) -> Result<(), StoreError>;

    /// Writes `payment` if the stored one still has version `payment.version - 1`; else
    /// [`StoreError::Conflict`].
    async fn put_payer_payment(&self, payment: &PayerPaymentRecord) -> Result<(), StoreError>;

    /// The payment of `payment_hash`, if any.
    async fn payer_payment(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<PayerPaymentRecord>, StoreError>;

    /// The payments still `pending`, oldest first, at most `limit` of them (what housekeeping
    /// settles: an indexed read, not a scan of every payment ever made).
    async fn pending_payer_payments(
        &self,
        limit: u32,
    ) -> Result<Vec<PayerPaymentRecord>, StoreError>;

    /// The payments of `payer` (every payer's with `None`), oldest first, at most `limit`
    /// newest of them.
    async fn payer_payments(
        &self,
        payer: Option<DeviceId>,
        limit: u32,
    ) -> Result<Vec<PayerPaymentRecord>, StoreError>;
}
