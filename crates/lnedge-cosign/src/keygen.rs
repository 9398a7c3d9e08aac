//! Two-party key generation (DKLs23's distributed key generation with 2 of 2 parties).
//!
//! Neither party ever holds the joint secret key: each ends with a [`KeyShare`], and a signature
//! under the joint key needs both shares (see [`crate::sign`]). The exchange is two round trips
//! on a link the device opens:
//!
//! 1. device → gateway [`KeygenStart`] (the device's polynomial fragment for the gateway);
//!    gateway → device [`KeygenReply`] (its fragment for the device and its commitments);
//! 2. device → gateway [`KeygenFinish`] (the device's commitments and its revealed proof);
//!    gateway → device [`KeygenDone`] (the gateway's revealed proof and the joint key).
//!
//! A party reveals its discrete-log proof only after it holds the other's commitment, which the
//! types enforce ([`KeygenParty::reveal`] takes the peer's [`KeygenCommit`]).
//!
//! The fragments are secret: the link must be confidential and authenticated (TLS, or the
//! device's own encrypted session), as for any other key material.

use std::collections::BTreeMap;
use std::fmt;

use bitcoin::secp256k1::PublicKey;

use dkls23::protocols::dkg::{
    BroadcastDerivationPhase2to4, BroadcastDerivationPhase3to4, ProofCommitment,
    TransmitInitMulPhase3to4, TransmitInitZeroSharePhase2to4, TransmitInitZeroSharePhase3to4,
};
use dkls23::protocols::{Parameters, Party};
use dkls23::utilities::hashes::HashOutput;
use dkls23::utilities::proofs::DLogProof;
use dkls23::DkgSession;
use k256::{Scalar, Secp256k1};
use serde::{Deserialize, Serialize};

use crate::error::CosignError;
use crate::share::KeyShare;
use crate::Role;

/// A party's commitments after phase 2 (its discrete-log proof stays hidden until phase 3).
#[derive(Clone, Serialize, Deserialize)]
pub struct KeygenCommit {
    commitment: HashOutput,
    zero: Vec<TransmitInitZeroSharePhase2to4>,
    derivation: BroadcastDerivationPhase2to4,
}

/// A party's phase-3 messages and its revealed discrete-log proof.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeygenReveal {
    proof: DLogProof<Secp256k1>,
    zero: Vec<TransmitInitZeroSharePhase3to4>,
    multiplication: Vec<TransmitInitMulPhase3to4<Secp256k1>>,
    derivation: BroadcastDerivationPhase3to4,
}

/// Device → gateway, first message: the session and the device's fragment for the gateway.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeygenStart {
    /// Fresh random id of this key generation (both parties bind every message to it).
    pub session_id: [u8; 32],
    fragment: Scalar,
}

/// Gateway → device: the gateway's fragment for the device and its commitments.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeygenReply {
    fragment: Scalar,
    commit: KeygenCommit,
}

/// Device → gateway, second message: the device's commitments and its revealed proof.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeygenFinish {
    commit: KeygenCommit,
    reveal: KeygenReveal,
}

/// Gateway → device: the gateway's revealed proof and the joint public key it computed.
#[derive(Clone, Serialize, Deserialize)]
pub struct KeygenDone {
    reveal: KeygenReveal,
    /// The joint public key as the gateway computed it.
    pub public_key: PublicKey,
}

/// One party's side of a key generation, phase by phase.
pub struct KeygenParty {
    role: Role,
    session: DkgSession<Secp256k1>,
    own_fragment: Scalar,
    own_proof: Option<ProofCommitment<Secp256k1>>,
    own_commit: Option<KeygenCommit>,
    peer_fragment: Option<Scalar>,
    peer_commit: Option<KeygenCommit>,
    own_reveal: Option<KeygenReveal>,
}

impl fmt::Debug for KeygenParty {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeygenParty").field("role", &self.role).finish_non_exhaustive()
    }
}

impl KeygenParty {
    /// Starts this party's side: phase 1. Returns the fragment to send to the other party.
    pub fn new(role: Role, session_id: [u8; 32]) -> (KeygenParty, Scalar) {
        let parameters = Parameters::new(2, 2).expect("2-of-2 is a valid threshold");
        let session = DkgSession::new(parameters, role.index(), session_id.to_vec());
        let fragments = session.phase1();
        let own_fragment = fragments[slot(role)];
        let for_peer = fragments[slot(role.peer())];
        let party = KeygenParty {
            role,
            session,
            own_fragment,
            own_proof: None,
            own_commit: None,
            peer_fragment: None,
            peer_commit: None,
            own_reveal: None,
        };
        (party, for_peer)
    }

    /// Phase 2 with the other party's fragment: this party's commitments.
    pub fn commit(&mut self, peer_fragment: Scalar) -> Result<KeygenCommit, CosignError> {
        let mut fragments = [Scalar::ZERO; 2];
        fragments[slot(self.role)] = self.own_fragment;
        fragments[slot(self.role.peer())] = peer_fragment;
        let (proof, zero, derivation) = self.session.phase2(&fragments)?;
        let commit = KeygenCommit { commitment: proof.commitment, zero, derivation };
        self.own_proof = Some(proof);
        self.own_commit = Some(commit.clone());
        self.peer_fragment = Some(peer_fragment);
        Ok(commit)
    }

    /// Phase 3, once the other party's commitments are here: reveals this party's proof.
    pub fn reveal(&mut self, peer_commit: KeygenCommit) -> Result<KeygenReveal, CosignError> {
        let proof =
            self.own_proof.as_ref().ok_or(CosignError::Unexpected("reveal before commit"))?;
        let (zero, multiplication, derivation) = self.session.phase3()?;
        let reveal = KeygenReveal { proof: proof.proof.clone(), zero, multiplication, derivation };
        self.peer_commit = Some(peer_commit);
        self.own_reveal = Some(reveal.clone());
        Ok(reveal)
    }

    /// Phase 4 with the other party's revealed proof: this party's key share.
    pub fn finish(self, peer_reveal: KeygenReveal) -> Result<KeyShare, CosignError> {
        let role = self.role;
        let peer = role.peer();
        let own_proof = self.own_proof.ok_or(CosignError::Unexpected("finish before commit"))?;
        let own_commit = self.own_commit.ok_or(CosignError::Unexpected("finish before commit"))?;
        let peer_commit =
            self.peer_commit.ok_or(CosignError::Unexpected("finish before reveal"))?;
        let own_reveal = self.own_reveal.ok_or(CosignError::Unexpected("finish before reveal"))?;
        let peer_proof = ProofCommitment {
            index: peer.index(),
            proof: peer_reveal.proof,
            commitment: peer_commit.commitment,
        };
        let mut proofs = vec![own_proof, peer_proof];
        proofs.sort_by_key(|p| p.index.as_u8());
        let bip2 = BTreeMap::from([
            (role.index(), own_commit.derivation),
            (peer.index(), peer_commit.derivation),
        ]);
        let bip3 = BTreeMap::from([
            (role.index(), own_reveal.derivation),
            (peer.index(), peer_reveal.derivation),
        ]);
        let (party, _package): (Party<Secp256k1>, _) = self.session.phase4(
            &proofs,
            &peer_commit.zero,
            &peer_reveal.zero,
            &peer_reveal.multiplication,
            &bip2,
            &bip3,
            |_| String::new(),
        )?;
        KeyShare::new(role, party)
    }
}

/// Where a role's entry sits in DKLs23's per-party vectors (index − 1).
fn slot(role: Role) -> usize {
    usize::from(role.index().as_u8()) - 1
}

/// The device's side of key generation.
#[derive(Debug)]
pub struct DeviceKeygen {
    party: KeygenParty,
}

impl DeviceKeygen {
    /// Starts a key generation with a fresh session id: send the [`KeygenStart`] to the gateway.
    pub fn start() -> (DeviceKeygen, KeygenStart) {
        let session_id: [u8; 32] = rand::random();
        let (party, fragment) = KeygenParty::new(Role::Device, session_id);
        (DeviceKeygen { party }, KeygenStart { session_id, fragment })
    }

    /// Takes the gateway's [`KeygenReply`]; send the [`KeygenFinish`] back.
    pub fn finish(
        mut self,
        reply: KeygenReply,
    ) -> Result<(DeviceKeygenLast, KeygenFinish), CosignError> {
        let commit = self.party.commit(reply.fragment)?;
        let reveal = self.party.reveal(reply.commit)?;
        Ok((DeviceKeygenLast { party: self.party }, KeygenFinish { commit, reveal }))
    }
}

/// The device's key generation waiting for the gateway's [`KeygenDone`].
#[derive(Debug)]
pub struct DeviceKeygenLast {
    party: KeygenParty,
}

impl DeviceKeygenLast {
    /// Takes the gateway's [`KeygenDone`]: the device's key share, once both parties agree on
    /// the joint key.
    pub fn done(self, done: KeygenDone) -> Result<KeyShare, CosignError> {
        let share = self.party.finish(done.reveal)?;
        if share.public_key() != done.public_key {
            return Err(CosignError::KeyMismatch);
        }
        Ok(share)
    }
}

/// The gateway's side of key generation.
#[derive(Debug)]
pub struct GatewayKeygen {
    party: KeygenParty,
}

impl GatewayKeygen {
    /// Answers the device's [`KeygenStart`] with a [`KeygenReply`].
    pub fn reply(start: KeygenStart) -> Result<(GatewayKeygen, KeygenReply), CosignError> {
        let (mut party, fragment) = KeygenParty::new(Role::Gateway, start.session_id);
        let commit = party.commit(start.fragment)?;
        Ok((GatewayKeygen { party }, KeygenReply { fragment, commit }))
    }

    /// Takes the device's [`KeygenFinish`]: the gateway's key share and the [`KeygenDone`] to
    /// send back.
    pub fn finish(mut self, finish: KeygenFinish) -> Result<(KeyShare, KeygenDone), CosignError> {
        let reveal = self.party.reveal(finish.commit)?;
        let share = self.party.finish(finish.reveal)?;
        let public_key = share.public_key();
        Ok((share, KeygenDone { reveal, public_key }))
    }
}

/// Runs both sides of a key generation in this process (the sandbox, tests and benchmarks):
/// `(device share, gateway share)`. A real device runs [`DeviceKeygen`] on its side of a link.
pub fn in_process() -> Result<(KeyShare, KeyShare), CosignError> {
    let (device, start) = DeviceKeygen::start();
    let (gateway, reply) = GatewayKeygen::reply(start)?;
    let (device, finish) = device.finish(reply)?;
    let (gateway_share, done) = gateway.finish(finish)?;
    Ok((device.done(done)?, gateway_share))
}
