//! Refunds of failed vends (LNURL-withdraw, LUD-03/17), proofs of payment (PROTOCOLS.md §6), receipts and sessions for web apps, and LNURL-auth (LUD-04): issue #5.
//!
//! * `proof` — verifying `(invoice, preimage)` against the owner's node and the gateway's
//!   records (what routing nodes and bystanders cannot forge);
//! * `payout` — a refund voucher becomes a due refund, bound to a single-use LNURL-withdraw
//!   `k1`; a claim is a compare-and-set; the owner's node pays; claimed refunds are driven to
//!   completion after a restart ([`Refunds::resume`]);
//! * [`lnurl_auth`] — LUD-04 signature checks;
//! * [`limit`] — the per-client budget of failed proof verifications;
//! * [`page`] — the HTML page a refund QR opens.
//!
//! docs/refunds.md walks through the flows; docs/adr/0006 and 0007 record the decisions.

use std::sync::Arc;

use lnedge_proto::envelope::RefundVoucher;

use crate::engine::parts::Parts;
use crate::limits::Budget;
use crate::store::refunds::{RefundRecord, RefundState};

mod error;
pub mod lnurl_auth;
pub mod page;
pub(crate) mod payout;
pub(crate) mod proof;
pub mod sessions;

pub use error::RefundError;
pub use payout::{parse_voucher, OpenedRefund};
pub use proof::{ProofFailure, VerifiedProof};
pub use sessions::{IssuedSession, LoginError};

/// The operator's settings of this feature (part of the [`GatewaySettings`](crate::engine::GatewaySettings)).
#[derive(Debug, Clone)]
pub struct RefundSettings {
    /// How long a refund stays claimable after the gateway opened it, in seconds.
    pub expiry_secs: u64,
    /// The most the owner's node pays in routing fees for one refund, in millisatoshis.
    pub max_fee_msat: u64,
    /// How long one payout attempt waits for its outcome, in seconds (a payout still in flight
    /// after that stays *claimed* and is finished by [`Refunds::resume`]).
    pub pay_timeout_secs: u64,
    /// How long a session issued for a proof of payment or an LNURL-auth login lives, in seconds.
    pub session_ttl_secs: u64,
    /// How long an LNURL-auth challenge can be answered, in seconds.
    pub auth_challenge_ttl_secs: u64,
    /// Failed proof verifications per client (burst and budget per minute), shared by every
    /// replica (`gateway.limits()`, scope `proof-failures`).
    pub proof_failures: Budget,
    /// LNURL-auth challenges a client may ask for (`GET /v1/auth/lnurl`; each one is a row),
    /// shared by every replica (scope `auth-challenge`).
    pub auth_challenges: Budget,
}

impl Default for RefundSettings {
    fn default() -> Self {
        RefundSettings {
            expiry_secs: 30 * 24 * 3600,
            max_fee_msat: 50_000,
            pay_timeout_secs: 60,
            session_ttl_secs: 30 * 24 * 3600,
            auth_challenge_ttl_secs: 600,
            proof_failures: Budget::per_minute(10),
            auth_challenges: Budget::per_minute(30),
        }
    }
}

/// SHA-256 of a bearer token: what the store keeps.
pub(crate) fn token_hash(token: &str) -> [u8; 32] {
    use sha2::{Digest, Sha256};
    Sha256::digest(token.as_bytes()).into()
}

/// 32 random bytes as hex (session tokens, k1 values).
pub(crate) fn random_hex() -> ([u8; 32], String) {
    let bytes: [u8; 32] = rand::random();
    (bytes, hex::encode(bytes))
}

/// Parses 64 hex digits (a `k1`, a preimage), surrounding whitespace ignored.
pub fn hex32(text: &str) -> Option<[u8; 32]> {
    let bytes = hex::decode(text.trim()).ok()?;
    <[u8; 32]>::try_from(bytes.as_slice()).ok()
}

/// A fresh LNURL-auth challenge ([`Refunds::issue_auth_challenge`]).
#[derive(Clone)]
pub struct IssuedChallenge {
    /// The challenge the wallet signs.
    pub k1: [u8; 32],
    /// The session token the web page keeps (secret; live once a wallet signs).
    pub token: String,
    /// When the challenge stops being answerable (seconds since the Unix epoch).
    pub expires_at: u64,
}

impl std::fmt::Debug for IssuedChallenge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssuedChallenge")
            .field("k1", &hex::encode(self.k1))
            .field("token", &"<secret>")
            .field("expires_at", &self.expires_at)
            .finish()
    }
}

/// How long after expiry a challenge or session is deleted.
pub const PURGE_GRACE_SECS: u64 = 3_600;

/// The refunds and proofs of a [`Gateway`](crate::engine::Gateway) ([`Gateway::refunds`](crate::engine::Gateway::refunds)).
#[derive(Debug, Clone, Copy)]
pub struct Refunds<'a> {
    gateway: &'a Arc<Parts>,
}

impl<'a> Refunds<'a> {
    pub(crate) fn new(gateway: &'a Arc<Parts>) -> Self {
        Refunds { gateway }
    }

    /// Verifies a proof of payment `(invoice, preimage)` (`proof`).
    pub async fn verify_proof(
        &self,
        invoice: &str,
        preimage_hex: &str,
    ) -> Result<VerifiedProof, RefundError> {
        proof::verify(self.gateway, invoice, preimage_hex).await
    }

    /// A voucher and a proof of payment → a due refund bound to a single-use `k1`
    /// (`payout`, step 1).
    pub async fn open(
        &self,
        voucher: &RefundVoucher,
        attestation: Option<&[u8]>,
        invoice: &str,
        preimage_hex: &str,
    ) -> Result<OpenedRefund, RefundError> {
        payout::open(self.gateway, voucher, attestation, invoice, preimage_hex).await
    }

    /// The wallet's LNURL-withdraw callback: claims the refund for the invoice `pr` (exactly
    /// the refund's amount) and pays it in the background (`payout`, step 2).
    pub async fn claim(&self, k1: &str, pr: &str) -> Result<RefundRecord, RefundError> {
        payout::claim(self.gateway, k1, pr).await
    }

    /// Pays a claimed refund and records the outcome (`payout`, step 3).
    pub async fn pay(&self, refund: &RefundRecord) -> RefundState {
        payout::pay(self.gateway, refund).await
    }

    /// Drives every claimed refund to completion (at start); payouts are idempotent.
    pub async fn resume(&self) -> Result<Vec<RefundState>, crate::store::StoreError> {
        payout::resume(self.gateway).await
    }

    /// Deletes LNURL-auth challenges and sessions that expired more than
    /// [`PURGE_GRACE_SECS`] ago (the grace keeps "expired" answers precise for a while);
    /// answers how many rows went. Idempotent, so every replica may run it.
    pub async fn purge_expired_auth(&self) -> Result<u64, crate::store::StoreError> {
        let before = self.gateway.now_secs().saturating_sub(PURGE_GRACE_SECS);
        self.gateway.store().purge_expired_auth(before).await
    }

    /// A fresh LNURL-auth challenge for `client`, spending one token of its
    /// [`auth_challenges`](RefundSettings::auth_challenges) budget (each challenge is a row;
    /// expired ones are purged by the gateway's housekeeping).
    pub async fn issue_auth_challenge(
        &self,
        client: &str,
    ) -> Result<IssuedChallenge, crate::limits::LimitError> {
        let settings = &self.gateway.settings().refunds;
        crate::limits::RateLimits::new(self.gateway)
            .spend("auth-challenge", client, settings.auth_challenges)
            .await?;
        let (k1, _) = random_hex();
        let (_, token) = random_hex();
        let now = self.gateway.now_secs();
        let expires_at = now.saturating_add(settings.auth_challenge_ttl_secs);
        self.gateway
            .store()
            .insert_auth_challenge(&k1, &token_hash(&token), now, expires_at)
            .await?;
        Ok(IssuedChallenge { k1, token, expires_at })
    }

    /// [`resume`](Self::resume), logging what it did (the gateway's start).
    pub async fn resume_logged(&self) {
        match self.resume().await {
            Ok(states) if states.is_empty() => {}
            Ok(states) => tracing::info!(?states, "claimed refunds resumed"),
            Err(e) => tracing::error!(error = %e, "resuming claimed refunds: the store failed"),
        }
    }
}
