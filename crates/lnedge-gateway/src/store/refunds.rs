//! Storage for refunds of failed vends (LNURL-withdraw vouchers), proofs of payment, sessions and LNURL-auth (issue #5).
//!
//! Part of [`GatewayStore`](super::GatewayStore) (a supertrait), implemented by both stores in
//! `sqlite/refunds.rs` and `postgres/refunds.rs`, with its schema in migration `0002_refunds.sql`.
//!
//! # Contract
//!
//! * A refund is one row per payment hash; its state moves due → claimed → paid, due → expired,
//!   and back claimed → due only when the payout definitely failed
//!   ([`RefundFinish::Failed`]). [`claim_refund`](RefundStore::claim_refund) is a
//!   compare-and-set: of any number of concurrent claims of one refund (on any number of
//!   replicas sharing a database) exactly one gets [`ClaimOutcome::Claimed`].
//! * Session tokens and LNURL-auth tokens are stored as SHA-256 hashes only.
//! * [`complete_auth`](RefundStore::complete_auth) is single-use per challenge.

use async_trait::async_trait;
use lnedge_proto::{DeviceId, PoolId};

use super::{PaymentRecord, PoolRecord, StoreError};

/// Where a refund stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum RefundState {
    /// The gateway knows the vend failed and the entry was paid: the customer may claim it.
    Due,
    /// A claimant's invoice was accepted; the owner's node is paying it.
    Claimed,
    /// Paid back to the claimant.
    Paid,
    /// Not claimed before its expiry.
    Expired,
}

impl RefundState {
    /// A stable lower-case name (JSON, SQL).
    pub fn as_str(self) -> &'static str {
        match self {
            RefundState::Due => "due",
            RefundState::Claimed => "claimed",
            RefundState::Paid => "paid",
            RefundState::Expired => "expired",
        }
    }

    /// The state named by [`as_str`](Self::as_str).
    pub fn parse(name: &str) -> Result<Self, StoreError> {
        Ok(match name {
            "due" => RefundState::Due,
            "claimed" => RefundState::Claimed,
            "paid" => RefundState::Paid,
            "expired" => RefundState::Expired,
            other => {
                return Err(StoreError::Backend(format!(
                    "stored refund state {other:?} is unknown"
                )))
            }
        })
    }
}

/// One refund of a failed vend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefundRecord {
    /// The payment hash of the failed entry's invoice (the refund's key).
    pub payment_hash: [u8; 32],
    /// The device whose vend failed.
    pub device_id: DeviceId,
    /// The entry's pool.
    pub pool_id: PoolId,
    /// The entry's index.
    pub index: u32,
    /// What is refunded: what was paid for the entry, in millisatoshis.
    pub amount_msat: u64,
    /// Where it stands.
    pub state: RefundState,
    /// Due on the device's attested failure receipt (rather than its synced ledger).
    pub attested: bool,
    /// When the gateway opened it (seconds since the Unix epoch).
    pub created_at: u64,
    /// After this time a due refund expires.
    pub expires_at: u64,
    /// The LNURL-withdraw `k1` bound to it once the customer proved the payment.
    pub k1: Option<[u8; 32]>,
    /// The claimant's BOLT 11 invoice, once claimed.
    pub claim_invoice: Option<String>,
    /// When it was claimed.
    pub claimed_at: Option<u64>,
    /// When the payout completed.
    pub paid_at: Option<u64>,
    /// Why the last payout failed, if it did.
    pub last_error: Option<String>,
}

/// What [`claim_refund`](RefundStore::claim_refund) did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClaimOutcome {
    /// This call moved the refund due → claimed: the caller pays it.
    Claimed(RefundRecord),
    /// The refund is not due (claimed by another call, paid, or expired): nothing changed.
    NotDue(RefundRecord),
    /// No refund has this `k1`.
    UnknownK1,
}

/// How a claimed refund's payout ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RefundFinish {
    /// Paid (claimed → paid).
    Paid {
        /// When.
        paid_at: u64,
    },
    /// The payout definitely failed (claimed → due, the claim's invoice forgotten).
    Failed {
        /// Why.
        error: String,
    },
}

/// A session issued for a proof of payment or an LNURL-auth login.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the bearer token (the token itself is never stored).
    pub token_hash: [u8; 32],
    /// Who: `payment:<hex payment hash>` or `lnurl-auth:<hex linking key>`.
    pub subject: String,
    /// The payment hash the session is bound to (payment sessions).
    pub payment_hash: Option<[u8; 32]>,
    /// When issued (seconds since the Unix epoch).
    pub created_at: u64,
    /// When it stops being valid.
    pub expires_at: u64,
}

/// What [`complete_auth`](RefundStore::complete_auth) did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthOutcome {
    /// The challenge was open: the session is live.
    Completed,
    /// No such challenge.
    Unknown,
    /// The challenge was already answered.
    Used,
    /// The challenge expired.
    Expired,
}

/// Storage for refunds of failed vends (LNURL-withdraw vouchers), proofs of payment, sessions and LNURL-auth (issue #5).
#[async_trait]
pub trait RefundStore: Send + Sync {
    /// The payment recorded for this payment hash, if any (a point lookup).
    async fn recorded_payment(
        &self,
        payment_hash: &[u8; 32],
    ) -> Result<Option<PaymentRecord>, StoreError>;

    /// The pool with this id (to read an entry's payment secret from its file).
    async fn pool_by_id(&self, pool_id: PoolId) -> Result<Option<PoolRecord>, StoreError>;

    /// Opens `refund` (state due) unless one exists for its payment hash; returns the stored
    /// refund either way.
    async fn open_refund(&self, refund: &RefundRecord) -> Result<RefundRecord, StoreError>;

    /// The refund of this payment hash.
    async fn refund(&self, payment_hash: &[u8; 32]) -> Result<Option<RefundRecord>, StoreError>;

    /// The refund bound to this LNURL-withdraw `k1`.
    async fn refund_by_k1(&self, k1: &[u8; 32]) -> Result<Option<RefundRecord>, StoreError>;

    /// Binds `k1` to the refund unless it has one already; returns the refund (with the `k1`
    /// that is bound). `None` if there is no such refund.
    async fn bind_refund_k1(
        &self,
        payment_hash: &[u8; 32],
        k1: &[u8; 32],
    ) -> Result<Option<RefundRecord>, StoreError>;

    /// Compare-and-set due → claimed of the refund bound to `k1`, recording the claimant's
    /// invoice, if it is due and `now` is before its expiry (an expired one becomes expired).
    async fn claim_refund(
        &self,
        k1: &[u8; 32],
        invoice: &str,
        now: u64,
    ) -> Result<ClaimOutcome, StoreError>;

    /// Records how a claimed refund's payout ended. A refund that is not claimed is left alone
    /// (returns `false`).
    async fn finish_refund(
        &self,
        payment_hash: &[u8; 32],
        finish: &RefundFinish,
    ) -> Result<bool, StoreError>;

    /// Marks every due refund whose expiry is at or before `now` expired; returns how many.
    async fn expire_refunds(&self, now: u64) -> Result<u64, StoreError>;

    /// Every refund, oldest first.
    async fn refunds(&self) -> Result<Vec<RefundRecord>, StoreError>;

    /// Turns the device's attestation on or off (its failure receipts make refunds due at once).
    async fn set_attestation(&self, device: DeviceId, enabled: bool) -> Result<(), StoreError>;

    /// Whether the device was enrolled with attestation.
    async fn attestation_enabled(&self, device: DeviceId) -> Result<bool, StoreError>;

    /// Issues a session bound to a payment hash, revoking every earlier session of that payment
    /// (one live session per payment: re-presenting the proof recovers the session).
    async fn issue_payment_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session of this token hash, if it is live at `now`.
    async fn session(
        &self,
        token_hash: &[u8; 32],
        now: u64,
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Stores an LNURL-auth challenge and the hash of the session token its page holds.
    async fn insert_auth_challenge(
        &self,
        k1: &[u8; 32],
        token_hash: &[u8; 32],
        created_at: u64,
        expires_at: u64,
    ) -> Result<(), StoreError>;

    /// Deletes the LNURL-auth challenges and the sessions that expired before `before` (seconds
    /// since the Unix epoch); answers how many rows went. Open routes fill both tables, so the
    /// engine calls this on a schedule.
    async fn purge_expired_auth(&self, before: u64) -> Result<u64, StoreError>;

    /// Answers a challenge: once, before expiry, it makes the session of the challenge's token
    /// live for `linking_key` until `session_expires_at`.
    async fn complete_auth(
        &self,
        k1: &[u8; 32],
        linking_key: &str,
        now: u64,
        session_expires_at: u64,
    ) -> Result<AuthOutcome, StoreError>;
}
