//! Refreshing a joint key: both parties' shares change, the joint public key does not
//! (DKLs23's complete refresh: a key generation of a polynomial whose constant term is zero,
//! whose points correct the old shares, with the multiplication state set up anew).
//!
//! A share stolen before a refresh is useless with the other party's share after it. Both new
//! shares carry the next epoch; the gateway opens (two round trips, as key generation):
//!
//! 1. gateway → device [`RefreshOpen`]; device → gateway [`RefreshReply`];
//! 2. gateway → device [`RefreshFinish`]; device → gateway [`RefreshDone`].
//!
//! The device keeps its new share beside the old one until the gateway first signs with the
//! new epoch (see `device.rs`): a refresh interrupted anywhere leaves a pair that still signs.

use std::collections::BTreeMap;

use dkls23::protocols::dkg::{
    KeepInitMulPhase3to4, KeepInitZeroSharePhase2to3, KeepInitZeroSharePhase3to4, ProofCommitment,
    TransmitInitMulPhase3to4, TransmitInitZeroSharePhase2to4, TransmitInitZeroSharePhase3to4,
};
use dkls23::protocols::PartyIndex;
use dkls23::utilities::hashes::HashOutput;
use dkls23::utilities::proofs::DLogProof;
use k256::{Scalar, Secp256k1};
use serde::{Deserialize, Serialize};

use crate::error::CosignError;
use crate::share::KeyShare;
use crate::Role;

/// A party's commitments (its proof stays hidden until it holds the other's).
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshCommit {
    commitment: HashOutput,
    zero: Vec<TransmitInitZeroSharePhase2to4>,
}

/// A party's revealed proof and its phase-3 messages.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshReveal {
    proof: DLogProof<Secp256k1>,
    zero: Vec<TransmitInitZeroSharePhase3to4>,
    multiplication: Vec<TransmitInitMulPhase3to4<Secp256k1>>,
}

/// Gateway → device: a fresh refresh id and the gateway's fragment for the device.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshOpen {
    /// Fresh random id of this refresh.
    pub refresh_id: [u8; 32],
    fragment: Scalar,
}

/// Device → gateway: the device's fragment for the gateway and its commitments.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshReply {
    fragment: Scalar,
    commit: RefreshCommit,
}

/// Gateway → device: the gateway's commitments and revealed proof.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshFinish {
    commit: RefreshCommit,
    reveal: RefreshReveal,
}

/// Device → gateway: the device's revealed proof.
#[derive(Clone, Serialize, Deserialize)]
pub struct RefreshDone {
    reveal: RefreshReveal,
}

type Zero2 = BTreeMap<PartyIndex, KeepInitZeroSharePhase2to3>;
type Zero3 = BTreeMap<PartyIndex, KeepInitZeroSharePhase3to4>;
type Mul3 = BTreeMap<PartyIndex, KeepInitMulPhase3to4<Secp256k1>>;

/// One party's side of a refresh (it owns its state; each step takes the share again).
struct RefreshParty {
    role: Role,
    sid: Vec<u8>,
    own_fragment: Scalar,
    correction: Option<Scalar>,
    own_proof: Option<ProofCommitment<Secp256k1>>,
    zero2: Option<Zero2>,
    own_zero2: Vec<TransmitInitZeroSharePhase2to4>,
    peer_commit: Option<RefreshCommit>,
    kept3: Option<(Zero3, Mul3)>,
}

fn slot(role: Role) -> usize {
    usize::from(role.index().as_u8()) - 1
}

impl RefreshParty {
    fn new(share: &KeyShare, refresh_id: [u8; 32]) -> (RefreshParty, Scalar) {
        let fragments = share.party().refresh_complete_phase1();
        let role = share.role();
        let party = RefreshParty {
            role,
            sid: refresh_id.to_vec(),
            own_fragment: fragments[slot(role)],
            correction: None,
            own_proof: None,
            zero2: None,
            own_zero2: Vec::new(),
            peer_commit: None,
            kept3: None,
        };
        (party, fragments[slot(role.peer())])
    }

    fn commit(&mut self, share: &KeyShare, peer_fragment: Scalar) -> RefreshCommit {
        let mut fragments = [Scalar::ZERO; 2];
        fragments[slot(self.role)] = self.own_fragment;
        fragments[slot(self.role.peer())] = peer_fragment;
        let (correction, proof, zero_keep, zero) =
            share.party().refresh_complete_phase2(&self.sid, &fragments);
        let commit = RefreshCommit { commitment: proof.commitment, zero: zero.clone() };
        self.correction = Some(correction);
        self.own_proof = Some(proof);
        self.zero2 = Some(zero_keep);
        self.own_zero2 = zero;
        commit
    }

    fn reveal(
        &mut self,
        share: &KeyShare,
        peer_commit: RefreshCommit,
    ) -> Result<RefreshReveal, CosignError> {
        let proof =
            self.own_proof.as_ref().ok_or(CosignError::Unexpected("reveal before commit"))?;
        let zero2 = self.zero2.as_ref().ok_or(CosignError::Unexpected("reveal before commit"))?;
        let (zero3, zero, mul_keep, multiplication) =
            share.party().refresh_complete_phase3(&self.sid, zero2);
        self.kept3 = Some((zero3, mul_keep));
        self.peer_commit = Some(peer_commit);
        Ok(RefreshReveal { proof: proof.proof.clone(), zero, multiplication })
    }

    fn finish(self, share: &KeyShare, peer_reveal: RefreshReveal) -> Result<KeyShare, CosignError> {
        let missing = CosignError::Unexpected("finish before reveal");
        let correction = self.correction.ok_or(missing.clone())?;
        let own_proof = self.own_proof.ok_or(missing.clone())?;
        let peer_commit = self.peer_commit.ok_or(missing.clone())?;
        let (zero3, mul_keep) = self.kept3.ok_or(missing)?;
        let peer_proof = ProofCommitment {
            index: self.role.peer().index(),
            proof: peer_reveal.proof,
            commitment: peer_commit.commitment,
        };
        let mut proofs = vec![own_proof, peer_proof];
        proofs.sort_by_key(|p| p.index.as_u8());
        let party = share.party().refresh_complete_phase4(
            &self.sid,
            &correction,
            &proofs,
            &zero3,
            &peer_commit.zero,
            &peer_reveal.zero,
            &mul_keep,
            &peer_reveal.multiplication,
        )?;
        let refreshed = KeyShare::at_epoch(self.role, party, share.epoch() + 1)?;
        if refreshed.public_key() != share.public_key() {
            return Err(CosignError::KeyMismatch);
        }
        Ok(refreshed)
    }
}

/// The gateway's side of a refresh.
pub struct GatewayRefresh {
    party: RefreshParty,
}

impl GatewayRefresh {
    /// Opens a refresh of `share`: send the [`RefreshOpen`].
    pub fn open(share: &KeyShare) -> (GatewayRefresh, RefreshOpen) {
        let refresh_id: [u8; 32] = rand::random();
        let (party, fragment) = RefreshParty::new(share, refresh_id);
        (GatewayRefresh { party }, RefreshOpen { refresh_id, fragment })
    }

    /// Takes the device's [`RefreshReply`]; send the [`RefreshFinish`].
    pub fn finish(
        mut self,
        share: &KeyShare,
        reply: RefreshReply,
    ) -> Result<(GatewayRefresh, RefreshFinish), CosignError> {
        let commit = self.party.commit(share, reply.fragment);
        let reveal = self.party.reveal(share, reply.commit)?;
        Ok((self, RefreshFinish { commit, reveal }))
    }

    /// Takes the device's [`RefreshDone`]: the gateway's new share (next epoch, same key).
    pub fn done(self, share: &KeyShare, done: RefreshDone) -> Result<KeyShare, CosignError> {
        self.party.finish(share, done.reveal)
    }
}

/// The device's side of a refresh, between its two answers.
pub struct DeviceRefresh {
    party: RefreshParty,
}

impl DeviceRefresh {
    /// Answers the gateway's [`RefreshOpen`] with a [`RefreshReply`].
    pub fn reply(share: &KeyShare, open: RefreshOpen) -> (DeviceRefresh, RefreshReply) {
        let (mut party, fragment) = RefreshParty::new(share, open.refresh_id);
        let commit = party.commit(share, open.fragment);
        (DeviceRefresh { party }, RefreshReply { fragment, commit })
    }

    /// Takes the gateway's [`RefreshFinish`]: the device's new share and the [`RefreshDone`].
    pub fn finish(
        mut self,
        share: &KeyShare,
        finish: RefreshFinish,
    ) -> Result<(KeyShare, RefreshDone), CosignError> {
        let reveal = self.party.reveal(share, finish.commit)?;
        let refreshed = self.party.finish(share, finish.reveal)?;
        Ok((refreshed, RefreshDone { reveal }))
    }
}
