//! A channel between a device (with its gateway) and a bridge, and its transactions as LDK
//! builds them (`chan_utils::CommitmentTransaction`, `build_closing_transaction`).

use bitcoin::hashes::Hash;
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use bitcoin::{Amount, OutPoint, ScriptBuf, Transaction, Txid};
use lightning::chain::transaction::OutPoint as LdkOutPoint;
use lightning::ln::chan_utils::{
    self, ChannelPublicKeys, ChannelTransactionParameters, CommitmentTransaction,
    CounterpartyChannelTransactionParameters, HTLCOutputInCommitment,
};
use lightning::ln::channel_keys::{DelayedPaymentBasepoint, HtlcBasepoint, RevocationBasepoint};
use lightning::types::features::ChannelTypeFeatures;
use lightning::types::payment::PaymentHash;
use lnedge_cosign::channel::ChannelTerms;
use lnedge_cosign::policy::{ChannelBook, Policy};

/// LDK counts commitment numbers down from here.
const INITIAL: u64 = (1 << 48) - 1;
/// The channel's capacity.
pub(crate) const FUNDING_SAT: u64 = 1_000_000;
/// What the device put in at open.
pub(crate) const DEVICE_SAT: u64 = 600_000;

fn key(seed: u8) -> PublicKey {
    PublicKey::from_secret_key(&Secp256k1::new(), &SecretKey::from_slice(&[seed; 32]).unwrap())
}

fn pubkeys(seed: u8, funding: PublicKey) -> ChannelPublicKeys {
    ChannelPublicKeys {
        funding_pubkey: funding,
        revocation_basepoint: RevocationBasepoint::from(key(seed + 1)),
        payment_point: key(seed + 2),
        delayed_payment_basepoint: DelayedPaymentBasepoint::from(key(seed + 3)),
        htlc_basepoint: HtlcBasepoint::from(key(seed + 4)),
    }
}

/// A channel the device opened to a bridge.
pub(crate) struct Channel {
    pub(crate) params: ChannelTransactionParameters,
    pub(crate) terms: ChannelTerms,
}

impl Channel {
    /// A channel whose holder funding key is `joint_key`; `device_is_opener` picks the funder.
    pub(crate) fn new(joint_key: PublicKey, device_is_opener: bool, anchors: bool) -> Channel {
        let funding_outpoint = OutPoint { txid: Txid::from_byte_array([7; 32]), vout: 0 };
        let holder = pubkeys(10, joint_key);
        let bridge = pubkeys(20, key(20));
        let channel_type_features = if anchors {
            ChannelTypeFeatures::anchors_zero_htlc_fee_and_dependencies()
        } else {
            ChannelTypeFeatures::only_static_remote_key()
        };
        let params = ChannelTransactionParameters {
            holder_pubkeys: holder.clone(),
            holder_selected_contest_delay: 144,
            is_outbound_from_holder: device_is_opener,
            counterparty_parameters: Some(CounterpartyChannelTransactionParameters {
                pubkeys: bridge.clone(),
                selected_contest_delay: 144,
            }),
            funding_outpoint: Some(LdkOutPoint { txid: funding_outpoint.txid, index: 0 }),
            splice_parent_funding_txid: None,
            channel_type_features,
            channel_value_satoshis: FUNDING_SAT,
        };
        let terms = ChannelTerms {
            funding_outpoint,
            funding_sat: FUNDING_SAT,
            joint_funding_key: joint_key,
            counterparty_funding_key: bridge.funding_pubkey,
            device_payment_point: holder.payment_point,
            counterparty_payment_point: bridge.payment_point,
            counterparty_revocation_basepoint: bridge.revocation_basepoint.0,
            device_delayed_basepoint: holder.delayed_payment_basepoint.0,
            // The delay the bridge selected applies to the holder's to_local.
            to_self_delay: 144,
            device_is_opener,
            anchors,
            device_close_script: close_script(),
        };
        Channel { params, terms }
    }

    /// The device's book of this channel, with the policy of the tests.
    pub(crate) fn book(&self) -> ChannelBook {
        ChannelBook::new(self.terms.clone(), [42; 32], DEVICE_SAT)
    }

    /// The bridge's commitment `number` with these balances and HTLCs offered by the device.
    pub(crate) fn bridge_commitment(
        &self,
        number: u64,
        device_sat: u64,
        htlcs_msat: &[u64],
    ) -> Transaction {
        let htlcs = htlcs_msat
            .iter()
            .enumerate()
            .map(|(i, &amount_msat)| HTLCOutputInCommitment {
                // The bridge receives them: not offered by the broadcaster.
                offered: false,
                amount_msat,
                cltv_expiry: 500 + i as u32,
                payment_hash: PaymentHash([i as u8 + 1; 32]),
                transaction_output_index: None,
            })
            .collect();
        let htlc_sat: u64 = htlcs_msat.iter().sum::<u64>() / 1000;
        let bridge_sat = FUNDING_SAT - device_sat - htlc_sat - 1_000;
        CommitmentTransaction::new(
            INITIAL - number,
            &key(99),
            bridge_sat,
            device_sat,
            253,
            htlcs,
            &self.params.as_counterparty_broadcastable(),
            &Secp256k1::new(),
        )
        .trust()
        .built_transaction()
        .transaction
        .clone()
    }

    /// The device's own commitment `number`, built on `per_commitment_point`.
    pub(crate) fn own_commitment(
        &self,
        number: u64,
        per_commitment_point: &PublicKey,
        device_sat: u64,
    ) -> Transaction {
        CommitmentTransaction::new(
            INITIAL - number,
            per_commitment_point,
            device_sat,
            FUNDING_SAT - device_sat - 1_000,
            253,
            Vec::new(),
            &self.params.as_holder_broadcastable(),
            &Secp256k1::new(),
        )
        .trust()
        .built_transaction()
        .transaction
        .clone()
    }

    /// A cooperative close paying the device `device_sat`.
    pub(crate) fn closing(&self, device_sat: u64) -> Transaction {
        chan_utils::build_closing_transaction(
            Amount::from_sat(device_sat),
            Amount::from_sat(FUNDING_SAT - device_sat - 500),
            close_script(),
            ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::hash(&key(30).serialize())),
            self.terms.funding_outpoint,
        )
    }
}

fn close_script() -> ScriptBuf {
    ScriptBuf::new_p2wpkh(&bitcoin::WPubkeyHash::hash(&key(40).serialize()))
}

/// 50,000 sat per payment, 120,000 a day, 2,000 sat of fees, payee `payee()` only.
pub(crate) fn policy() -> Policy {
    Policy {
        max_payment_msat: 50_000_000,
        daily_budget_msat: 120_000_000,
        fee_cap_msat: 2_000_000,
        payees: Some(vec![payee()]),
    }
}

/// The allowed payee.
pub(crate) fn payee() -> PublicKey {
    key(50)
}

/// Another node.
pub(crate) fn stranger() -> PublicKey {
    key(60)
}
