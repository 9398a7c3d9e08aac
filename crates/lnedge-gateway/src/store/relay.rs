//! Storage for the async relay's persistent state machine for offline payees (issue #7).
//!
//! Part of [`GatewayStore`](super::GatewayStore) (a supertrait), implemented by both stores in
//! `sqlite/relay.rs` and `postgres/relay.rs`, with its schema in migration `0004_relay.sql`.
//!
//! # Contract
//!
//! * A committed hash belongs to one payee and is used by at most one relay payment, ever:
//!   [`take_unused_hash`](RelayStore::take_unused_hash) hands each hash out once, also to
//!   concurrent callers and replicas sharing one database.
//! * A relay payment is changed only by [`update_relay_payment`](RelayStore::update_relay_payment),
//!   an optimistic compare-and-set on its [`version`](RelayPayment::version): a writer that read
//!   an older version loses and must re-read. So two drivers (or a driver and a request handler)
//!   never overwrite each other's transition.
//! * The stores do not judge transitions: the relay's state machine does
//!   ([`RelayState::may_become`]).

use async_trait::async_trait;

use super::StoreError;

/// Where a relay payment stands. Final states: [`Settled`](Self::Settled),
/// [`Cancelled`](Self::Cancelled), [`Expired`](Self::Expired).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum RelayState {
    /// A hold invoice was issued for the payee's hash; not paid yet.
    Offered,
    /// The payer's HTLCs are held by the gateway's node; the payee is being woken.
    Held,
    /// The payee handed in an invoice for the hash; the gateway is paying it (persisted before
    /// the payment is sent).
    Forwarding,
    /// The payee was paid and the held HTLCs were settled with the preimage.
    Settled,
    /// An operator cancelled it early: no claim is accepted any more, and the driver fails the
    /// payer's HTLCs back (→ [`Cancelled`](Self::Cancelled)), also after a crash in between.
    Cancelling,
    /// Failed back: the payee's payment failed for good, or the operator cancelled.
    Cancelled,
    /// Failed back because a deadline came (claim deadline, maximum hold time, invoice expiry).
    Expired,
}

impl RelayState {
    /// Every state, in order.
    pub const ALL: [RelayState; 7] = [
        RelayState::Offered,
        RelayState::Held,
        RelayState::Forwarding,
        RelayState::Settled,
        RelayState::Cancelling,
        RelayState::Cancelled,
        RelayState::Expired,
    ];

    /// The lower-case name stored and shown in the API.
    pub fn name(self) -> &'static str {
        match self {
            RelayState::Offered => "offered",
            RelayState::Held => "held",
            RelayState::Forwarding => "forwarding",
            RelayState::Settled => "settled",
            RelayState::Cancelling => "cancelling",
            RelayState::Cancelled => "cancelled",
            RelayState::Expired => "expired",
        }
    }

    /// The state named `name`.
    pub fn from_name(name: &str) -> Option<RelayState> {
        RelayState::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Whether nothing more happens to a payment in this state.
    pub fn is_final(self) -> bool {
        matches!(self, RelayState::Settled | RelayState::Cancelled | RelayState::Expired)
    }

    /// Whether the state machine allows `self → next` (offered → held → forwarding → settled,
    /// forwarding → held after a failed attempt, any non-final state → cancelled | expired,
    /// except that a payment being forwarded is only cancelled once its payment failed; an
    /// operator's early cancel: offered | held → cancelling → cancelled, never while forwarding,
    /// since the payee may be paid already).
    pub fn may_become(self, next: RelayState) -> bool {
        use RelayState::*;
        matches!(
            (self, next),
            (Offered, Held)
                | (Held, Forwarding)
                | (Forwarding, Held)
                | (Forwarding, Settled)
                | (Offered | Held | Forwarding | Cancelling, Cancelled)
                | (Offered | Held, Expired)
                | (Offered | Held, Cancelling)
        )
    }
}

impl std::fmt::Display for RelayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

/// A payee enrolled with the relay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PayeeRecord {
    /// Its id: 32 lower-case hex characters.
    pub id: String,
    /// A name for the operator.
    pub name: String,
    /// Where to POST wake-up notifications (`None`: the payee polls).
    pub webhook_url: Option<String>,
    /// When it was enrolled (seconds since the Unix epoch).
    pub created_at: u64,
}

/// One payment relayed to a payee: the row of the relay's state machine.
#[derive(Clone, PartialEq, Eq)]
pub struct RelayPayment {
    /// The payee's hash (the key).
    pub payment_hash: [u8; 32],
    /// The payee.
    pub payee_id: String,
    /// Where it stands.
    pub state: RelayState,
    /// Bumped by every update (optimistic concurrency; 0 when inserted).
    pub version: u64,
    /// The amount the payer is asked for.
    pub amount_msat: u64,
    /// The invoice's description.
    pub description: String,
    /// The hold invoice given to the payer (empty until it is created).
    pub bolt11: String,
    /// When the relay payment was created (seconds since the Unix epoch).
    pub created_at: u64,
    /// When the hold invoice expires (seconds since the Unix epoch).
    pub expires_at: u64,
    /// Amount held, once held.
    pub held_amount_msat: Option<u64>,
    /// Block height by which the held HTLCs must be resolved, once held.
    pub claim_deadline_height: Option<u32>,
    /// When the HTLCs were seen held (seconds since the Unix epoch).
    pub held_at: Option<u64>,
    /// The relay's fee, once held.
    pub fee_msat: Option<u64>,
    /// The payee's invoice being paid (forwarding) or last tried.
    pub claim_bolt11: Option<String>,
    /// Downstream payment attempts so far.
    pub attempts: u32,
    /// The preimage, once the payee's payment succeeded.
    pub preimage: Option<[u8; 32]>,
    /// Whether the payee acknowledged a wake-up notification.
    pub notified: bool,
    /// Notification attempts so far.
    pub notify_attempts: u32,
    /// When to try the next notification (seconds since the Unix epoch).
    pub next_notify_at: u64,
    /// Why the payment ended as it did, or the last failure.
    pub reason: Option<String>,
    /// Last change (seconds since the Unix epoch).
    pub updated_at: u64,
}

impl std::fmt::Debug for RelayPayment {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RelayPayment")
            .field("payment_hash", &hex::encode(self.payment_hash))
            .field("payee_id", &self.payee_id)
            .field("state", &self.state)
            .field("version", &self.version)
            .field("amount_msat", &self.amount_msat)
            .field("held_amount_msat", &self.held_amount_msat)
            .field("claim_deadline_height", &self.claim_deadline_height)
            .field("attempts", &self.attempts)
            .field("preimage", &self.preimage.map(|_| "<known>"))
            .field("reason", &self.reason)
            .finish_non_exhaustive()
    }
}

impl RelayPayment {
    /// What the node holds (the invoice amount until HTLCs are held).
    pub fn held_msat(&self) -> u64 {
        self.held_amount_msat.unwrap_or(self.amount_msat)
    }

    /// What the payee's invoice must ask for: the held amount minus the relay's fee.
    pub fn claim_amount_msat(&self) -> u64 {
        self.held_msat().saturating_sub(self.fee_msat.unwrap_or(0))
    }

    /// A fresh offered payment (no invoice yet).
    pub fn offered(
        payment_hash: [u8; 32],
        payee_id: &str,
        amount_msat: u64,
        description: &str,
        created_at: u64,
        expires_at: u64,
    ) -> Self {
        RelayPayment {
            payment_hash,
            payee_id: payee_id.to_owned(),
            state: RelayState::Offered,
            version: 0,
            amount_msat,
            description: description.to_owned(),
            bolt11: String::new(),
            created_at,
            expires_at,
            held_amount_msat: None,
            claim_deadline_height: None,
            held_at: None,
            fee_msat: None,
            claim_bolt11: None,
            attempts: 0,
            preimage: None,
            notified: false,
            notify_attempts: 0,
            next_notify_at: 0,
            reason: None,
            updated_at: created_at,
        }
    }
}

/// Which relay payments to list.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RelayFilter {
    /// Only this payee's.
    pub payee_id: Option<String>,
    /// Only payments not in a final state.
    pub active_only: bool,
}

/// Storage for the async relay's persistent state machine for offline payees (issue #7).
#[async_trait]
pub trait RelayStore: Send + Sync {
    /// Enrols a payee; [`StoreError::Backend`] naming the id if it exists.
    async fn insert_payee(&self, payee: &PayeeRecord) -> Result<(), StoreError>;

    /// A payee.
    async fn payee(&self, id: &str) -> Result<Option<PayeeRecord>, StoreError>;

    /// Sets (or clears) a payee's webhook; `false` if there is no such payee.
    async fn set_payee_webhook(&self, id: &str, url: Option<&str>) -> Result<bool, StoreError>;

    /// Records hashes a payee committed to. Hashes it committed before are ignored; a hash
    /// committed by another payee fails the whole call. Returns how many were new.
    async fn commit_hashes(
        &self,
        payee_id: &str,
        hashes: &[[u8; 32]],
        now: u64,
    ) -> Result<u32, StoreError>;

    /// How many committed hashes of the payee no payment has used.
    async fn unused_hash_count(&self, payee_id: &str) -> Result<u64, StoreError>;

    /// Atomically takes one unused hash of `template.payee_id` (the oldest) and inserts
    /// `template` for it (its `payment_hash` is replaced). `None` if the payee has none left.
    async fn take_unused_hash(
        &self,
        template: &RelayPayment,
    ) -> Result<Option<RelayPayment>, StoreError>;

    /// A relay payment.
    async fn relay_payment(&self, hash: &[u8; 32]) -> Result<Option<RelayPayment>, StoreError>;

    /// Relay payments matching `filter`, oldest first.
    async fn relay_payments(&self, filter: &RelayFilter) -> Result<Vec<RelayPayment>, StoreError>;

    /// Replaces the stored payment if its version is still `payment.version`, and bumps the
    /// version. Returns the stored payment, or `None` if another writer got there first (or it
    /// does not exist).
    async fn update_relay_payment(
        &self,
        payment: &RelayPayment,
    ) -> Result<Option<RelayPayment>, StoreError>;
}

#[cfg(test)]
mod tests {
    use super::RelayState::{self, *};

    #[test]
    fn an_operator_cancels_only_before_forwarding_and_cancelling_only_ends() {
        for s in RelayState::ALL {
            assert_eq!(s.may_become(Cancelling), matches!(s, Offered | Held), "{s} → cancelling");
            assert_eq!(RelayState::from_name(s.name()), Some(s));
        }
        let from_cancelling: Vec<_> =
            RelayState::ALL.into_iter().filter(|&n| Cancelling.may_become(n)).collect();
        assert_eq!(from_cancelling, [Cancelled], "a cancelled payment is never claimed again");
        assert!(!Cancelling.is_final() && Cancelled.is_final());
        // A claim (held → forwarding) and a cancel (held → cancelling) start from the same state
        // and version: the store's compare-and-set lets one of them through.
        assert!(Held.may_become(Forwarding) && !Forwarding.may_become(Cancelling));
    }
}
