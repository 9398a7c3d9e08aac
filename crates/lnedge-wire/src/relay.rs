//! The JSON bodies of the async relay's payee routes and of the wake-up webhook, shared by the
//! gateway (which answers them) and the payee agent (which sends them).

use serde::{Deserialize, Serialize};

/// `POST /v1/payees` (admin) body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RegisterRequest {
    /// A name for the operator.
    pub name: String,
}

/// `POST /v1/payees` answer. `payee_key` is secret: the payee keeps it, the gateway does not.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Registration {
    /// The payee's id.
    pub payee_id: String,
    /// The payee's key (64 hex characters).
    pub payee_key: String,
    /// The name the operator gave.
    pub name: String,
}

impl std::fmt::Debug for Registration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Registration")
            .field("payee_id", &self.payee_id)
            .field("payee_key", &"<secret>")
            .field("name", &self.name)
            .finish()
    }
}

/// `POST /v1/payees/{id}/hashes` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitRequest {
    /// Payment hashes (64 hex characters each) whose preimages the payee keeps.
    pub payment_hashes: Vec<String>,
}

/// `POST /v1/payees/{id}/hashes` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CommitResult {
    /// How many hashes were new.
    pub added: u32,
    /// How many committed hashes no payment has used yet.
    pub unused: u64,
}

/// `PUT /v1/payees/{id}/wake` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeRequest {
    /// Where to POST wake-up notifications; `null` to only poll.
    pub webhook_url: Option<String>,
}

/// `PUT /v1/payees/{id}/wake` answer: the webhook now set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeResult {
    /// The payee.
    pub payee_id: String,
    /// Where wake-up notifications go; `null`: the payee only polls.
    pub webhook_url: Option<String>,
}

/// One payment waiting for (or being completed by) the payee.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingPayment {
    /// The payment hash (hex).
    pub payment_hash: String,
    /// `held` (waiting for a claim) or `forwarding` (being paid).
    pub state: String,
    /// What the payer was asked for.
    pub amount_msat: u64,
    /// What the gateway holds.
    pub held_amount_msat: u64,
    /// What the payee's invoice must ask for: held minus the relay's fee.
    pub claim_amount_msat: u64,
    /// The invoice's description.
    pub description: String,
    /// The claim must be paid (the payee's node must release the preimage) before this height.
    pub claim_deadline_height: Option<u32>,
}

/// `GET /v1/payees/{id}/pending` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PendingList {
    /// The gateway node's block height.
    pub current_height: u32,
    /// The payments.
    pub payments: Vec<PendingPayment>,
}

/// `POST /v1/payees/{id}/claims` body.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimRequest {
    /// The payee's BOLT 11 invoice for a held payment's hash and its `claim_amount_msat`.
    pub bolt11: String,
}

/// `POST /v1/payees/{id}/claims` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimAccepted {
    /// The payment hash (hex).
    pub payment_hash: String,
    /// The relay payment's state after the claim (`forwarding`, or `settled` when the payment
    /// completed while the request was answered).
    pub state: String,
}

/// The body of a wake-up webhook (signed with [`sign_webhook`](crate::sign::sign_webhook)).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WakeNotification {
    /// The payee.
    pub payee_id: String,
    /// The held payment's hash (hex).
    pub payment_hash: String,
    /// What the gateway holds.
    pub held_amount_msat: u64,
    /// What the payee's invoice must ask for.
    pub claim_amount_msat: u64,
    /// The claim must complete before this height.
    pub claim_deadline_height: Option<u32>,
}
