//! The channel signer: LDK's `InMemorySigner`, with the funding key's signatures, the
//! per-commitment points and the revocations of co-signed channels done with the device.

use std::collections::{BTreeMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, RwLock};

use bitcoin::secp256k1::{ecdsa::Signature, PublicKey, Secp256k1, SecretKey};
use bitcoin::{Transaction, Txid};
use lightning::ln::chan_utils::{
    ChannelPublicKeys, ChannelTransactionParameters, ClosingTransaction, CommitmentTransaction,
    HTLCOutputInCommitment, HolderCommitmentTransaction,
};
use lightning::ln::channel_keys::DelayedPaymentBasepoint;
use lightning::ln::msgs::UnsignedChannelAnnouncement;
use lightning::sign::ecdsa::EcdsaChannelSigner;
use lightning::sign::{ChannelSigner, HTLCDescriptor, InMemorySigner};
use lightning::types::payment::PaymentPreimage;
use lnedge_cosign::channel::ChannelTerms;
use lnedge_cosign::policy::{ldk_index, ChannelSignature};
use lnedge_cosign::CosignError;

use super::keys::{Cosigned, Wake};

/// How many points to fetch from the device at once (they are public; LDK asks one by one).
const POINTS_AHEAD: u8 = 8;

/// How many finished joint signatures a channel keeps. LDK may ask for the same transaction's
/// signature more than once (a force-closed channel's commitment is signed again for each
/// rebroadcast); the same hash gets the same signature without asking the device again.
const SIGNATURES_KEPT: usize = 16;

type All = bitcoin::secp256k1::All;

/// What every signer instance of one co-signed channel shares: the device's points, whether the
/// terms are pinned, and the joint signatures being made or ready for LDK to take.
pub(crate) struct SigningState {
    points: Mutex<BTreeMap<u64, PublicKey>>,
    pinned: Mutex<bool>,
    in_flight: Mutex<HashSet<[u8; 32]>>,
    ready: Mutex<VecDeque<([u8; 32], Signature)>>,
    wake: Arc<RwLock<Option<Wake>>>,
    unreachable: Arc<AtomicBool>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|p| p.into_inner())
}

impl SigningState {
    pub(super) fn new(
        wake: Arc<RwLock<Option<Wake>>>,
        unreachable: Arc<AtomicBool>,
    ) -> SigningState {
        SigningState {
            points: Mutex::new(BTreeMap::new()),
            pinned: Mutex::new(false),
            in_flight: Mutex::new(HashSet::new()),
            ready: Mutex::new(VecDeque::new()),
            wake,
            unreachable,
        }
    }

    /// The joint signature of `sighash`, if one was made.
    fn signed(&self, sighash: &[u8; 32]) -> Option<Signature> {
        lock(&self.ready).iter().find(|(hash, _)| hash == sighash).map(|(_, s)| *s)
    }

    /// Keeps a finished joint signature (the oldest beyond [`SIGNATURES_KEPT`] goes).
    fn keep(&self, sighash: [u8; 32], signature: Signature) {
        let mut ready = lock(&self.ready);
        ready.push_back((sighash, signature));
        while ready.len() > SIGNATURES_KEPT {
            ready.pop_front();
        }
    }

    fn wake(&self) {
        if let Some(wake) = self.wake.read().unwrap_or_else(|p| p.into_inner()).as_ref() {
            wake();
        }
    }
}

/// A channel's signer: plain `InMemorySigner` for ordinary channels; for a co-signed one, every
/// funding-key signature, per-commitment point and revocation comes through the device.
pub struct CosignedSigner {
    inner: InMemorySigner,
    cosigned: Option<Arc<Cosigned>>,
}

impl CosignedSigner {
    pub(super) fn new(inner: InMemorySigner, cosigned: Option<Arc<Cosigned>>) -> CosignedSigner {
        CosignedSigner { inner, cosigned }
    }

    /// Whether this channel is co-signed with a device.
    pub fn is_cosigned(&self) -> bool {
        self.cosigned.is_some()
    }

    /// The joint signature of `tx`, asynchronously (LDK 0.2's asynchronous signing): the first
    /// call starts the co-signature with the device on its own thread and answers `Err(())` —
    /// "not yet" to LDK, which holds the channel's update; once the device has answered, the
    /// node is told (`signer_unblocked`), LDK asks again and gets the signature. A refusal or
    /// an unreachable device leaves LDK waiting: nothing is signed, nothing moves, and
    /// [`SandboxNode::retry_signatures`](crate::sandbox::SandboxNode::retry_signatures) asks
    /// again. The terms go to the device once, before the channel's first signature.
    fn cosign(
        &self,
        cosigned: &Arc<Cosigned>,
        params: &ChannelTransactionParameters,
        request: fn(Transaction) -> ChannelSignature,
        tx: &Transaction,
    ) -> Result<Signature, ()> {
        let terms = terms(cosigned, params).ok_or(())?;
        let sighash = terms
            .sighash(tx)
            .map_err(|e| tracing::error!(error = %e, "not a channel transaction"))?;
        let state = &cosigned.state;
        if let Some(signature) = state.signed(&sighash) {
            return Ok(signature);
        }
        if !lock(&state.in_flight).insert(sighash) {
            return Err(());
        }
        // A signing thread keeps its signature before it leaves `in_flight`: one that finished
        // since the look above is found now.
        if let Some(signature) = state.signed(&sighash) {
            lock(&state.in_flight).remove(&sighash);
            return Ok(signature);
        }
        let (cosigned, tx) = (cosigned.clone(), tx.clone());
        std::thread::spawn(move || {
            let state = &cosigned.state;
            let signed =
                pin(&cosigned, terms).and_then(|()| cosigned.cosigner.sign(request(tx), sighash));
            match &signed {
                Ok(signature) => state.keep(sighash, *signature),
                Err(CosignError::Refused(_)) => {}
                Err(e) => {
                    tracing::warn!(error = %e, "co-signature failed; asked again once the device answers");
                    state.unreachable.store(true, Ordering::SeqCst);
                }
            }
            lock(&state.in_flight).remove(&sighash);
            if signed.is_ok() {
                state.wake();
            }
        });
        Err(())
    }
}

/// Sends the channel's terms to the device once (it pins them).
fn pin(cosigned: &Cosigned, terms: ChannelTerms) -> Result<(), CosignError> {
    let mut pinned = lock(&cosigned.state.pinned);
    if !*pinned {
        cosigned.cosigner.pin_terms(terms, cosigned.opening_balance_sat).inspect_err(
            |e| tracing::warn!(error = %e, "the device did not pin the channel's terms"),
        )?;
        *pinned = true;
    }
    Ok(())
}

/// The device's view of the channel, from LDK's parameters (complete once funding is known).
fn terms(cosigned: &Cosigned, params: &ChannelTransactionParameters) -> Option<ChannelTerms> {
    let counterparty = params.counterparty_parameters.as_ref()?;
    Some(ChannelTerms {
        funding_outpoint: params.funding_outpoint?.into_bitcoin_outpoint(),
        funding_sat: params.channel_value_satoshis,
        joint_funding_key: params.holder_pubkeys.funding_pubkey,
        counterparty_funding_key: counterparty.pubkeys.funding_pubkey,
        device_payment_point: params.holder_pubkeys.payment_point,
        counterparty_payment_point: counterparty.pubkeys.payment_point,
        counterparty_revocation_basepoint: counterparty.pubkeys.revocation_basepoint.0,
        device_delayed_basepoint: params.holder_pubkeys.delayed_payment_basepoint.0,
        to_self_delay: counterparty.selected_contest_delay,
        device_is_opener: params.is_outbound_from_holder,
        anchors: params.channel_type_features.supports_anchors_zero_fee_htlc_tx(),
        device_close_script: cosigned.device_keys.close_script.clone(),
    })
}

impl ChannelSigner for CosignedSigner {
    fn get_per_commitment_point(
        &self,
        idx: u64,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<PublicKey, ()> {
        let Some(cosigned) = &self.cosigned else {
            return self.inner.get_per_commitment_point(idx, secp_ctx);
        };
        let number = ldk_index(idx);
        let mut points = lock(&cosigned.state.points);
        if let Some(point) = points.get(&number) {
            return Ok(*point);
        }
        let fetched = cosigned
            .cosigner
            .points(number, POINTS_AHEAD)
            .map_err(|e| tracing::warn!(error = %e, "no per-commitment point from the device"))?;
        points.retain(|n, _| *n + u64::from(POINTS_AHEAD) >= number);
        points.extend((number..).zip(fetched));
        points.get(&number).copied().ok_or(())
    }

    fn release_commitment_secret(&self, idx: u64) -> Result<[u8; 32], ()> {
        match &self.cosigned {
            None => self.inner.release_commitment_secret(idx),
            Some(cosigned) => cosigned
                .cosigner
                .revoke(ldk_index(idx))
                .map_err(|e| tracing::warn!(error = %e, "the device did not revoke")),
        }
    }

    fn validate_holder_commitment(
        &self,
        holder_tx: &HolderCommitmentTransaction,
        outbound_htlc_preimages: Vec<PaymentPreimage>,
    ) -> Result<(), ()> {
        self.inner.validate_holder_commitment(holder_tx, outbound_htlc_preimages)
    }

    fn validate_counterparty_revocation(&self, idx: u64, secret: &SecretKey) -> Result<(), ()> {
        self.inner.validate_counterparty_revocation(idx, secret)
    }

    fn pubkeys(&self, secp_ctx: &Secp256k1<All>) -> ChannelPublicKeys {
        let mut keys = self.inner.pubkeys(secp_ctx);
        if let Some(cosigned) = &self.cosigned {
            keys.funding_pubkey = cosigned.cosigner.joint_key();
            keys.payment_point = cosigned.device_keys.payment_point;
            keys.delayed_payment_basepoint =
                DelayedPaymentBasepoint::from(cosigned.device_keys.delayed_basepoint);
        }
        keys
    }

    fn new_funding_pubkey(
        &self,
        splice_parent_funding_txid: Txid,
        secp_ctx: &Secp256k1<All>,
    ) -> PublicKey {
        match &self.cosigned {
            // Splices would need a jointly derived key: co-signed channels are never spliced,
            // and the joint key keeps a splice from ever signing alone.
            Some(cosigned) => cosigned.cosigner.joint_key(),
            None => self.inner.new_funding_pubkey(splice_parent_funding_txid, secp_ctx),
        }
    }

    fn channel_keys_id(&self) -> [u8; 32] {
        self.inner.channel_keys_id()
    }
}

impl EcdsaChannelSigner for CosignedSigner {
    fn sign_counterparty_commitment(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        commitment_tx: &CommitmentTransaction,
        inbound_htlc_preimages: Vec<PaymentPreimage>,
        outbound_htlc_preimages: Vec<PaymentPreimage>,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<(Signature, Vec<Signature>), ()> {
        // The HTLC signatures use the gateway's HTLC key; the funding signature `InMemorySigner`
        // makes with its own funding key is not the channel's and is dropped.
        let (own, htlc_signatures) = self.inner.sign_counterparty_commitment(
            channel_parameters,
            commitment_tx,
            inbound_htlc_preimages,
            outbound_htlc_preimages,
            secp_ctx,
        )?;
        let Some(cosigned) = &self.cosigned else {
            return Ok((own, htlc_signatures));
        };
        let tx = &commitment_tx.trust().built_transaction().transaction;
        let joint =
            self.cosign(cosigned, channel_parameters, ChannelSignature::BridgeCommitment, tx)?;
        Ok((joint, htlc_signatures))
    }

    fn sign_holder_commitment(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        commitment_tx: &HolderCommitmentTransaction,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        let Some(cosigned) = &self.cosigned else {
            return self.inner.sign_holder_commitment(channel_parameters, commitment_tx, secp_ctx);
        };
        let tx = &commitment_tx.trust().built_transaction().transaction;
        self.cosign(cosigned, channel_parameters, ChannelSignature::OwnCommitment, tx)
    }

    fn sign_justice_revoked_output(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        justice_tx: &Transaction,
        input: usize,
        amount: u64,
        per_commitment_key: &SecretKey,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.inner.sign_justice_revoked_output(
            channel_parameters,
            justice_tx,
            input,
            amount,
            per_commitment_key,
            secp_ctx,
        )
    }

    fn sign_justice_revoked_htlc(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        justice_tx: &Transaction,
        input: usize,
        amount: u64,
        per_commitment_key: &SecretKey,
        htlc: &HTLCOutputInCommitment,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.inner.sign_justice_revoked_htlc(
            channel_parameters,
            justice_tx,
            input,
            amount,
            per_commitment_key,
            htlc,
            secp_ctx,
        )
    }

    fn sign_holder_htlc_transaction(
        &self,
        htlc_tx: &Transaction,
        input: usize,
        htlc_descriptor: &HTLCDescriptor,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.inner.sign_holder_htlc_transaction(htlc_tx, input, htlc_descriptor, secp_ctx)
    }

    fn sign_counterparty_htlc_transaction(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        htlc_tx: &Transaction,
        input: usize,
        amount: u64,
        per_commitment_point: &PublicKey,
        htlc: &HTLCOutputInCommitment,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        self.inner.sign_counterparty_htlc_transaction(
            channel_parameters,
            htlc_tx,
            input,
            amount,
            per_commitment_point,
            htlc,
            secp_ctx,
        )
    }

    fn sign_closing_transaction(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        closing_tx: &ClosingTransaction,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        let Some(cosigned) = &self.cosigned else {
            return self.inner.sign_closing_transaction(channel_parameters, closing_tx, secp_ctx);
        };
        let tx = closing_tx.trust().built_transaction();
        self.cosign(cosigned, channel_parameters, ChannelSignature::Closing, tx)
    }

    fn sign_holder_keyed_anchor_input(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        anchor_tx: &Transaction,
        input: usize,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        if self.cosigned.is_some() {
            // Co-signed channels have no anchors (the device refuses their terms).
            return Err(());
        }
        self.inner.sign_holder_keyed_anchor_input(channel_parameters, anchor_tx, input, secp_ctx)
    }

    fn sign_channel_announcement_with_funding_key(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        msg: &UnsignedChannelAnnouncement,
        secp_ctx: &Secp256k1<All>,
    ) -> Result<Signature, ()> {
        if self.cosigned.is_some() {
            // Co-signed channels are private: an announcement would need a synchronous joint
            // signature, and the device has no policy for it.
            return Err(());
        }
        self.inner.sign_channel_announcement_with_funding_key(channel_parameters, msg, secp_ctx)
    }

    fn sign_splice_shared_input(
        &self,
        channel_parameters: &ChannelTransactionParameters,
        tx: &Transaction,
        input_index: usize,
        secp_ctx: &Secp256k1<All>,
    ) -> Signature {
        // For a co-signed channel this is a signature by a key that is not the channel's: the
        // splice cannot complete (see `new_funding_pubkey`).
        self.inner.sign_splice_shared_input(channel_parameters, tx, input_index, secp_ctx)
    }
}
