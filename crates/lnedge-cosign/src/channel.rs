//! What the device knows of its channel, and what it reads from a transaction it is asked to
//! co-sign: the funding input, the commitment number, the outputs that pay the device.
//!
//! The device never trusts the gateway's description of a transaction: it gets the whole
//! transaction and derives everything it checks from it and from the channel terms it pinned
//! when the channel opened. The scripts and numbers follow BOLT 3, computed with LDK's
//! `chan_utils` (the same code that builds the transactions on the gateway).

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{PublicKey, Secp256k1};
use bitcoin::sighash::{EcdsaSighashType, SighashCache};
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction};
use lightning::ln::chan_utils;
use lightning::ln::channel_keys::{
    DelayedPaymentBasepoint, DelayedPaymentKey, RevocationBasepoint, RevocationKey,
};
use lightning::types::features::ChannelTypeFeatures;
use serde::{Deserialize, Serialize};

use crate::error::CosignError;

/// BOLT 3: a commitment transaction's locktime starts with this byte…
const LOCKTIME_MARK: u32 = 0x20;
/// …and its input's sequence with this one.
const SEQUENCE_MARK: u32 = 0x80;

/// The terms of a channel the device pinned at open. A gateway cannot change them afterwards:
/// every check below derives from them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ChannelTerms {
    /// The funding output the channel's transactions spend.
    pub funding_outpoint: OutPoint,
    /// The funding output's value.
    pub funding_sat: u64,
    /// The joint (device + gateway) funding key.
    pub joint_funding_key: PublicKey,
    /// The bridge's funding key.
    pub counterparty_funding_key: PublicKey,
    /// The device's payment point: the key the bridge's commitments pay the device's balance to.
    pub device_payment_point: PublicKey,
    /// The bridge's payment point (with the device's, it obscures the commitment numbers).
    pub counterparty_payment_point: PublicKey,
    /// The bridge's revocation basepoint (with the device's per-commitment point, it makes the
    /// revocation key of the device's own commitments).
    pub counterparty_revocation_basepoint: PublicKey,
    /// The device side's delayed payment basepoint (the key of its own commitments' `to_local`).
    pub device_delayed_basepoint: PublicKey,
    /// The delay the bridge imposes on the device's `to_local` output (blocks).
    pub to_self_delay: u16,
    /// Whether the device's side opened (funded) the channel.
    pub device_is_opener: bool,
    /// Whether the channel uses anchor outputs (it changes the script that pays the device).
    pub anchors: bool,
    /// Where a cooperative close pays the device.
    pub device_close_script: ScriptBuf,
}

impl ChannelTerms {
    /// BOLT 3's funding redeem script: 2-of-2 of the joint key and the bridge's key.
    pub fn funding_redeem_script(&self) -> ScriptBuf {
        chan_utils::make_funding_redeemscript(
            &self.joint_funding_key,
            &self.counterparty_funding_key,
        )
    }

    /// The funding output's script (P2WSH of the redeem script).
    pub fn funding_script_pubkey(&self) -> ScriptBuf {
        self.funding_redeem_script().to_p2wsh()
    }

    /// The hash the joint key signs for `tx`: BIP 143 `SIGHASH_ALL` of its funding input. Fails
    /// unless `tx` has exactly one input and it spends the channel's funding output.
    pub fn sighash(&self, tx: &Transaction) -> Result<[u8; 32], CosignError> {
        self.check_spends_funding(tx)?;
        let hash = SighashCache::new(tx)
            .p2wsh_signature_hash(
                0,
                &self.funding_redeem_script(),
                Amount::from_sat(self.funding_sat),
                EcdsaSighashType::All,
            )
            .map_err(|e| CosignError::invalid("transaction", e.to_string()))?;
        Ok(hash.to_byte_array())
    }

    fn check_spends_funding(&self, tx: &Transaction) -> Result<(), CosignError> {
        match tx.input.as_slice() {
            [input] if input.previous_output == self.funding_outpoint => Ok(()),
            [input] => Err(CosignError::invalid(
                "transaction",
                format!("spends {}, not the channel's funding output", input.previous_output),
            )),
            inputs => Err(CosignError::invalid(
                "transaction",
                format!("has {} inputs; a channel transaction has exactly one", inputs.len()),
            )),
        }
    }

    /// The script the bridge's commitment transactions pay the device's balance to.
    pub fn device_payment_script(&self) -> ScriptBuf {
        let features = if self.anchors {
            ChannelTypeFeatures::anchors_zero_htlc_fee_and_dependencies()
        } else {
            ChannelTypeFeatures::only_static_remote_key()
        };
        chan_utils::get_countersigner_payment_script(&features, &self.device_payment_point)
    }

    /// The BOLT 3 commitment number a commitment transaction carries (obscured in its locktime
    /// and its input's sequence). `device_broadcasts` says whose commitment it is.
    pub fn commitment_number(
        &self,
        tx: &Transaction,
        device_broadcasts: bool,
    ) -> Result<u64, CosignError> {
        self.check_spends_funding(tx)?;
        let locktime = tx.lock_time.to_consensus_u32();
        let sequence = tx.input[0].sequence.0;
        if locktime >> 24 != LOCKTIME_MARK || sequence >> 24 != SEQUENCE_MARK {
            return Err(CosignError::invalid(
                "commitment transaction",
                "its locktime and sequence do not carry a BOLT 3 commitment number",
            ));
        }
        let obscured = (u64::from(sequence & 0xff_ffff) << 24) | u64::from(locktime & 0xff_ffff);
        let (broadcaster, countersignatory) = if device_broadcasts {
            (&self.device_payment_point, &self.counterparty_payment_point)
        } else {
            (&self.counterparty_payment_point, &self.device_payment_point)
        };
        let outbound_from_broadcaster = device_broadcasts == self.device_is_opener;
        let factor = chan_utils::get_commitment_transaction_number_obscure_factor(
            broadcaster,
            countersignatory,
            outbound_from_broadcaster,
        );
        Ok(obscured ^ factor)
    }

    /// The `to_local` script of the device's own commitment built on `per_commitment_point`.
    pub fn own_to_local_script(&self, per_commitment_point: &PublicKey) -> ScriptBuf {
        let ctx = Secp256k1::new();
        let revocation = RevocationKey::from_basepoint(
            &ctx,
            &RevocationBasepoint(self.counterparty_revocation_basepoint),
            per_commitment_point,
        );
        let delayed = DelayedPaymentKey::from_basepoint(
            &ctx,
            &DelayedPaymentBasepoint(self.device_delayed_basepoint),
            per_commitment_point,
        );
        chan_utils::get_revokeable_redeemscript(&revocation, self.to_self_delay, &delayed)
            .to_p2wsh()
    }

    /// What `tx` pays to `script`, in satoshis.
    pub fn paid_to(tx: &Transaction, script: &ScriptBuf) -> u64 {
        tx.output.iter().filter(|o| &o.script_pubkey == script).map(|o| o.value.to_sat()).sum()
    }
}
