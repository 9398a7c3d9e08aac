//! The device's spending policy and its book of the channel: what it checks before it
//! contributes its share of any signature.
//!
//! The property (PROTOCOLS.md §7): the gateway cannot move the device's money without the
//! device. So the device co-signs a state only if
//! - it spends the channel's funding output (the terms pinned at open),
//! - for a bridge commitment: its number does not go back, and the device's balance in it fell
//!   by no more than what payments the device itself approved still allow (amount + fee cap);
//! - for the device's own commitment (a force close): it is not revoked — the device alone
//!   releases revocation secrets ([`ChannelBook::release_secret`]), so it knows, and it confirms
//!   the commitment's number by the `to_local` output built on its own per-commitment point
//!   (the number's obscuring factor comes from the bridge's payment point, which only the
//!   gateway vouches for);
//! - for a cooperative close: it pays the device its balance less at most the fee cap;
//!
//! and a payment is approved only within the per-payment limit, the daily budget and the payee
//! allow-list. Anything else is a [`Refusal`] naming the rule.

use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::Transaction;
use lightning::ln::chan_utils;
use serde::{Deserialize, Serialize};
use thiserror::Error;

use crate::channel::ChannelTerms;
use crate::error::CosignError;

/// BOLT 3 counts commitments up from 0; LDK's secret index counts down from 2⁴⁸ − 1.
const INITIAL_COMMITMENT_INDEX: u64 = (1 << 48) - 1;

/// Converts between BOLT 3's commitment number (counting up from 0, as in the transactions and
/// everywhere in this crate) and LDK's commitment index (counting down from 2⁴⁸ − 1, as LDK's
/// signer API takes it). The map is its own inverse.
pub fn ldk_index(number: u64) -> u64 {
    INITIAL_COMMITMENT_INDEX - (number & INITIAL_COMMITMENT_INDEX)
}

/// The device's spending rules, set by its owner (the gateway cannot change them).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Policy {
    /// The most one payment may send.
    pub max_payment_msat: u64,
    /// The most all payments approved in one day (UTC) may send together.
    pub daily_budget_msat: u64,
    /// The most a payment may cost beyond its amount (routing and commitment fees); also the
    /// most a cooperative close may take from the device's balance.
    pub fee_cap_msat: u64,
    /// If set, the only payees (node ids) the device pays.
    pub payees: Option<Vec<PublicKey>>,
}

/// What the gateway asks the device to co-sign for its channel.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChannelSignature {
    /// A commitment transaction for the bridge to hold (BOLT 2 `commitment_signed`).
    BridgeCommitment(Transaction),
    /// The device's own latest commitment, to broadcast: a force close.
    OwnCommitment(Transaction),
    /// A cooperative closing transaction.
    Closing(Transaction),
}

/// Why the device refused a payment or a signature.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Refusal {
    /// The transaction is not one of this channel's.
    #[error("not a transaction of this channel: {0}")]
    NotThisChannel(CosignError),
    /// A payment above the per-payment limit.
    #[error("payment of {amount_msat} msat is above the limit of {limit_msat} msat")]
    OverPaymentLimit {
        /// What was asked.
        amount_msat: u64,
        /// The policy's limit.
        limit_msat: u64,
    },
    /// A payment that would go over today's budget.
    #[error("payment of {amount_msat} msat would exceed today's budget ({left_msat} msat left)")]
    OverDailyBudget {
        /// What was asked.
        amount_msat: u64,
        /// What today's budget still allows.
        left_msat: u64,
    },
    /// A payee that is not on the allow-list.
    #[error("payee {payee} is not on the device's allow-list")]
    PayeeNotAllowed {
        /// The refused payee.
        payee: PublicKey,
    },
    /// A state that takes more from the device than its approved payments allow.
    #[error("the state moves {moves_msat} msat away from the device; approved payments allow {allowance_msat} msat")]
    MovesTooMuch {
        /// How much the state takes from the device.
        moves_msat: u64,
        /// What approved payments still allow.
        allowance_msat: u64,
    },
    /// A bridge commitment older than one already co-signed.
    #[error("commitment {number} is older than commitment {last}, already co-signed")]
    OlderState {
        /// The commitment asked for.
        number: u64,
        /// The newest one co-signed.
        last: u64,
    },
    /// The device's own commitment whose revocation secret it already released.
    #[error("own commitment {number} is revoked (every commitment below {revoked_below} is)")]
    Revoked {
        /// The commitment asked for.
        number: u64,
        /// The first commitment not revoked.
        revoked_below: u64,
    },
    /// An own commitment without a `to_local` output built on its number's per-commitment point:
    /// the device cannot tell it is not a revoked one.
    #[error("own commitment {number} has no to_local output built on its per-commitment point")]
    UnprovenNumber {
        /// The number the transaction claims.
        number: u64,
    },
    /// A revocation of a commitment the device co-signed to broadcast.
    #[error("commitment {number} was co-signed for broadcast: its secret is never released")]
    RevokeBroadcast {
        /// The commitment whose secret was asked for.
        number: u64,
    },
    /// A cooperative close that pays the device less than its balance allows.
    #[error("the close pays the device {paid_sat} sat; its balance is {balance_sat} sat and the fee cap {fee_cap_msat} msat")]
    CloseUnderpays {
        /// What the close pays the device.
        paid_sat: u64,
        /// The device's balance.
        balance_sat: u64,
        /// The policy's fee cap.
        fee_cap_msat: u64,
    },
    /// An invoice the device cannot pay as it is (unreadable, no amount, expired…).
    #[error("invoice refused: {0}")]
    BadInvoice(String),
    /// The channel is closed (or closing): no new state is co-signed.
    #[error("the channel is closed; no new state is co-signed")]
    Closed,
}

/// The device's book of its channel: the pinned terms, its secret commitment seed, and what it
/// co-signed so far. The device persists it before every answer it sends.
#[derive(Clone, Serialize, Deserialize)]
pub struct ChannelBook {
    terms: ChannelTerms,
    commitment_seed: [u8; 32],
    /// The device's balance in the last bridge commitment it co-signed.
    balance_sat: u64,
    last_bridge_commitment: Option<u64>,
    revoked_below: u64,
    broadcast: Option<u64>,
    closed: bool,
    allowance_msat: u64,
    day: u64,
    approved_today_msat: u64,
}

impl std::fmt::Debug for ChannelBook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ChannelBook")
            .field("funding", &self.terms.funding_outpoint)
            .field("balance_sat", &self.balance_sat)
            .field("last_bridge_commitment", &self.last_bridge_commitment)
            .field("revoked_below", &self.revoked_below)
            .field("allowance_msat", &self.allowance_msat)
            .field("closed", &self.closed)
            .finish_non_exhaustive()
    }
}

impl ChannelBook {
    /// Opens the book of a channel whose funding gave the device `balance_sat`.
    /// `commitment_seed` is the device's secret for its per-commitment secrets (derive it for
    /// this purpose and this channel only).
    pub fn new(terms: ChannelTerms, commitment_seed: [u8; 32], balance_sat: u64) -> ChannelBook {
        ChannelBook {
            terms,
            commitment_seed,
            balance_sat,
            last_bridge_commitment: None,
            revoked_below: 0,
            broadcast: None,
            closed: false,
            allowance_msat: 0,
            day: 0,
            approved_today_msat: 0,
        }
    }

    /// The pinned terms.
    pub fn terms(&self) -> &ChannelTerms {
        &self.terms
    }

    /// The device's balance in the last bridge commitment it co-signed.
    pub fn balance_sat(&self) -> u64 {
        self.balance_sat
    }

    /// What approved payments may still take from the device.
    pub fn allowance_msat(&self) -> u64 {
        self.allowance_msat
    }

    /// Approves a payment the device itself wants to make (`day`: days since the epoch, UTC).
    /// On success the states that pay it (amount + fee cap) may be co-signed.
    pub fn approve_payment(
        &mut self,
        policy: &Policy,
        amount_msat: u64,
        payee: &PublicKey,
        day: u64,
    ) -> Result<(), Refusal> {
        if self.closed {
            return Err(Refusal::Closed);
        }
        if amount_msat > policy.max_payment_msat {
            return Err(Refusal::OverPaymentLimit {
                amount_msat,
                limit_msat: policy.max_payment_msat,
            });
        }
        if let Some(payees) = &policy.payees {
            if !payees.contains(payee) {
                return Err(Refusal::PayeeNotAllowed { payee: *payee });
            }
        }
        let spent_today = if day == self.day { self.approved_today_msat } else { 0 };
        let left_msat = policy.daily_budget_msat.saturating_sub(spent_today);
        if amount_msat > left_msat {
            return Err(Refusal::OverDailyBudget { amount_msat, left_msat });
        }
        self.day = day;
        self.approved_today_msat = spent_today + amount_msat;
        self.allowance_msat = self.allowance_msat.saturating_add(amount_msat + policy.fee_cap_msat);
        Ok(())
    }

    /// Checks a signature request against the book and the policy. On success returns the hash
    /// the device signs (computed here, from the transaction) and records the new state.
    pub fn check(
        &mut self,
        policy: &Policy,
        request: &ChannelSignature,
    ) -> Result<[u8; 32], Refusal> {
        match request {
            ChannelSignature::BridgeCommitment(tx) => self.check_bridge_commitment(policy, tx),
            ChannelSignature::OwnCommitment(tx) => self.check_own_commitment(tx),
            ChannelSignature::Closing(tx) => self.check_closing(policy, tx),
        }
    }

    fn check_bridge_commitment(
        &mut self,
        policy: &Policy,
        tx: &Transaction,
    ) -> Result<[u8; 32], Refusal> {
        if self.closed {
            return Err(Refusal::Closed);
        }
        let sighash = self.terms.sighash(tx).map_err(Refusal::NotThisChannel)?;
        let number = self.terms.commitment_number(tx, false).map_err(Refusal::NotThisChannel)?;
        if let Some(last) = self.last_bridge_commitment {
            if number < last {
                return Err(Refusal::OlderState { number, last });
            }
        }
        let balance_sat = ChannelTerms::paid_to(tx, &self.terms.device_payment_script());
        let moves_msat = self.balance_sat.saturating_sub(balance_sat).saturating_mul(1000);
        // The first commitment may take the commitment fee (up to the fee cap) from the opening
        // balance; every later move needs an approved payment.
        let opening_msat =
            if self.last_bridge_commitment.is_none() { policy.fee_cap_msat } else { 0 };
        let allowance_msat = self.allowance_msat + opening_msat;
        if moves_msat > allowance_msat {
            return Err(Refusal::MovesTooMuch { moves_msat, allowance_msat });
        }
        self.allowance_msat -= moves_msat - moves_msat.min(opening_msat);
        self.balance_sat = balance_sat;
        self.last_bridge_commitment = Some(number);
        Ok(sighash)
    }

    fn check_own_commitment(&mut self, tx: &Transaction) -> Result<[u8; 32], Refusal> {
        let sighash = self.terms.sighash(tx).map_err(Refusal::NotThisChannel)?;
        let number = self.terms.commitment_number(tx, true).map_err(Refusal::NotThisChannel)?;
        if number < self.revoked_below {
            return Err(Refusal::Revoked { number, revoked_below: self.revoked_below });
        }
        // The number is read with the bridge's payment point, which only the gateway vouches
        // for: confirm it with the device's own per-commitment point, which a commitment of
        // another number cannot carry.
        let to_local = self.terms.own_to_local_script(&self.per_commitment_point(number));
        if ChannelTerms::paid_to(tx, &to_local) == 0 {
            return Err(Refusal::UnprovenNumber { number });
        }
        self.broadcast = Some(number);
        self.closed = true;
        Ok(sighash)
    }

    fn check_closing(&mut self, policy: &Policy, tx: &Transaction) -> Result<[u8; 32], Refusal> {
        let sighash = self.terms.sighash(tx).map_err(Refusal::NotThisChannel)?;
        let paid_sat = ChannelTerms::paid_to(tx, &self.terms.device_close_script);
        let takes_msat = self.balance_sat.saturating_sub(paid_sat).saturating_mul(1000);
        if takes_msat > policy.fee_cap_msat {
            return Err(Refusal::CloseUnderpays {
                paid_sat,
                balance_sat: self.balance_sat,
                fee_cap_msat: policy.fee_cap_msat,
            });
        }
        self.closed = true;
        Ok(sighash)
    }

    /// The per-commitment point of the device's own commitment `number` (public: the gateway
    /// may ask ahead).
    pub fn per_commitment_point(&self, number: u64) -> PublicKey {
        commitment_point(&self.commitment_seed, number)
    }

    /// Releases the secret of own commitment `number`, which revokes it and every older one:
    /// from now on the device refuses to co-sign any of them for broadcast.
    pub fn release_secret(&mut self, number: u64) -> Result<[u8; 32], Refusal> {
        if self.broadcast.is_some_and(|b| b <= number) {
            return Err(Refusal::RevokeBroadcast { number });
        }
        self.revoked_below = self.revoked_below.max(number + 1);
        Ok(self.secret(number).secret_bytes())
    }

    fn secret(&self, number: u64) -> SecretKey {
        commitment_secret(&self.commitment_seed, number)
    }
}

/// The secret of own commitment `number` (BOLT 3's per-commitment secret from a seed).
fn commitment_secret(seed: &[u8; 32], number: u64) -> SecretKey {
    let raw = chan_utils::build_commitment_secret(seed, ldk_index(number));
    SecretKey::from_slice(&raw).expect("a SHA-256 output is a valid key but with negligible odds")
}

/// The per-commitment point of own commitment `number` for a commitment seed.
pub fn commitment_point(seed: &[u8; 32], number: u64) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::signing_only(), &commitment_secret(seed, number))
}
