//! Two-party signing with a [`KeyShare`]: a signature under the joint key needs both shares.
//!
//! The gateway asks, the device answers; two round trips, each party's share never leaves it:
//!
//! 1. gateway → device [`SignOpen`] (the request and the gateway's first message);
//!    device → gateway [`SignAccept`] (its first and second messages), sent only once the
//!    device has checked the request against its policy;
//! 2. gateway → device [`SignFinish`] (its second message and its share of the signature);
//!    device → gateway [`SignDone`] (the device's share of the signature).
//!
//! Both parties compute the message hash themselves and DKLs23 binds every message to it (and
//! to the `sign_id` and the joint key): a party that signs another hash makes the other abort.
//! DKLs23 0.6 has no message-independent presigning to do ahead of time (the hash is bound from
//! the first round), so a signature costs these two round trips.

use std::collections::BTreeMap;
use std::fmt;

use bitcoin::secp256k1::{ecdsa::Signature, Message, PublicKey, Secp256k1 as Ctx};
use dkls23::protocols::signing::{
    Broadcast3to4, KeepPhase1to2, KeepPhase2to3, SignData, TransmitPhase1to2, TransmitPhase2to3,
    UniqueKeep1to2, UniqueKeep2to3,
};
use dkls23::protocols::PartyIndex;
use k256::Secp256k1;
use serde::{Deserialize, Serialize};

use crate::error::CosignError;
use crate::share::KeyShare;

/// Gateway → device: what to sign (a request the device checks) and the gateway's first message.
#[derive(Clone, Serialize, Deserialize)]
pub struct SignOpen<R> {
    /// Fresh random id of this signature (both parties bind every message to it).
    pub sign_id: [u8; 32],
    /// What the gateway asks the device to sign; the device derives the hash from it.
    pub request: R,
    first: Vec<TransmitPhase1to2>,
}

/// Device → gateway: the device's first and second messages.
#[derive(Clone, Serialize, Deserialize)]
pub struct SignAccept {
    first: Vec<TransmitPhase1to2>,
    second: Vec<TransmitPhase2to3<Secp256k1>>,
}

/// Gateway → device: the gateway's second message and its share of the signature.
#[derive(Clone, Serialize, Deserialize)]
pub struct SignFinish {
    second: Vec<TransmitPhase2to3<Secp256k1>>,
    broadcast: Broadcast3to4<Secp256k1>,
}

/// Device → gateway: the device's share of the signature.
#[derive(Clone, Serialize, Deserialize)]
pub struct SignDone {
    broadcast: Broadcast3to4<Secp256k1>,
}

fn sign_data(share: &KeyShare, sign_id: [u8; 32], message_hash: [u8; 32]) -> SignData {
    SignData {
        sign_id: sign_id.to_vec(),
        counterparties: vec![share.role().peer().index()],
        message_hash,
    }
}

type Kept1 = (UniqueKeep1to2<Secp256k1>, BTreeMap<PartyIndex, KeepPhase1to2<Secp256k1>>);
type Kept2 = (UniqueKeep2to3<Secp256k1>, BTreeMap<PartyIndex, KeepPhase2to3<Secp256k1>>);

/// One party's signing session. It owns its state (not the share), so a device can keep it
/// between two requests of a request/response link; each step takes the share again.
struct Session {
    data: SignData,
    role: crate::Role,
    joint_key: PublicKey,
}

impl Session {
    fn new(share: &KeyShare, sign_id: [u8; 32], message_hash: [u8; 32]) -> Session {
        Session {
            data: sign_data(share, sign_id, message_hash),
            role: share.role(),
            joint_key: share.public_key(),
        }
    }

    fn check_share(&self, share: &KeyShare) -> Result<(), CosignError> {
        if share.role() != self.role || share.public_key() != self.joint_key {
            return Err(CosignError::Unexpected("a signing step with another key share"));
        }
        Ok(())
    }

    fn phase1(&self, share: &KeyShare) -> Result<(Kept1, Vec<TransmitPhase1to2>), CosignError> {
        let (unique, kept, transmit) = share.party().sign_phase1(&self.data)?;
        Ok(((unique, kept), transmit))
    }

    fn phase2(
        &self,
        share: &KeyShare,
        kept: Kept1,
        received: &[TransmitPhase1to2],
    ) -> Result<(Kept2, Vec<TransmitPhase2to3<Secp256k1>>), CosignError> {
        self.check_share(share)?;
        let (unique, kept, transmit) =
            share.party().sign_phase2(&self.data, kept.0, kept.1, received)?;
        Ok(((unique, kept), transmit))
    }

    fn phase3(
        &self,
        share: &KeyShare,
        kept: Kept2,
        received: &[TransmitPhase2to3<Secp256k1>],
    ) -> Result<(String, Broadcast3to4<Secp256k1>), CosignError> {
        self.check_share(share)?;
        Ok(share.party().sign_phase3(&self.data, kept.0, kept.1, received)?)
    }

    /// The joint signature from both parties' broadcasts, verified by libsecp256k1.
    fn phase4(
        &self,
        share: &KeyShare,
        x_coord: &str,
        broadcasts: &[Broadcast3to4<Secp256k1>],
    ) -> Result<Signature, CosignError> {
        self.check_share(share)?;
        let (s_hex, _) = share.party().sign_phase4(&self.data, x_coord, broadcasts, true)?;
        let mut compact = [0u8; 64];
        let (r, s) = compact.split_at_mut(32);
        hex::decode_to_slice(x_coord, r).map_err(|_| CosignError::BadSignature)?;
        hex::decode_to_slice(&s_hex, s).map_err(|_| CosignError::BadSignature)?;
        checked(&self.joint_key, &self.data.message_hash, &compact)
    }
}

/// The gateway's side of one signature.
pub struct GatewaySigning {
    session: Session,
    kept: Kept1,
}

impl fmt::Debug for GatewaySigning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewaySigning").finish_non_exhaustive()
    }
}

impl GatewaySigning {
    /// Opens a signature of `message_hash` (which the gateway computed from `request`, as the
    /// device will).
    pub fn open<R>(
        share: &KeyShare,
        request: R,
        message_hash: [u8; 32],
    ) -> Result<(GatewaySigning, SignOpen<R>), CosignError> {
        let sign_id: [u8; 32] = rand::random();
        let session = Session::new(share, sign_id, message_hash);
        let (kept, first) = session.phase1(share)?;
        Ok((GatewaySigning { session, kept }, SignOpen { sign_id, request, first }))
    }

    /// Takes the device's [`SignAccept`]; send the [`SignFinish`].
    pub fn finish(
        self,
        share: &KeyShare,
        accept: SignAccept,
    ) -> Result<(GatewaySigningLast, SignFinish), CosignError> {
        let (kept, second) = self.session.phase2(share, self.kept, &accept.first)?;
        let (x_coord, broadcast) = self.session.phase3(share, kept, &accept.second)?;
        let last = GatewaySigningLast { session: self.session, x_coord, own: broadcast.clone() };
        Ok((last, SignFinish { second, broadcast }))
    }
}

/// The gateway's side of one signature, waiting for the device's [`SignDone`].
pub struct GatewaySigningLast {
    session: Session,
    x_coord: String,
    own: Broadcast3to4<Secp256k1>,
}

impl fmt::Debug for GatewaySigningLast {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewaySigningLast").finish_non_exhaustive()
    }
}

impl GatewaySigningLast {
    /// Takes the device's [`SignDone`]: the joint signature, checked against the joint key.
    pub fn done(self, share: &KeyShare, done: SignDone) -> Result<Signature, CosignError> {
        self.session.phase4(share, &self.x_coord, &[self.own, done.broadcast])
    }
}

/// The device's side of one signature, between its two answers.
pub struct DeviceSigning {
    session: Session,
    kept: Kept2,
}

impl fmt::Debug for DeviceSigning {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceSigning").finish_non_exhaustive()
    }
}

impl DeviceSigning {
    /// Accepts a gateway's [`SignOpen`] for `message_hash`, which the device computed itself
    /// from the request after its policy approved it. The caller must not get here otherwise.
    pub fn accept<R>(
        share: &KeyShare,
        open: &SignOpen<R>,
        message_hash: [u8; 32],
    ) -> Result<(DeviceSigning, SignAccept), CosignError> {
        let session = Session::new(share, open.sign_id, message_hash);
        let (kept, first) = session.phase1(share)?;
        let (kept, second) = session.phase2(share, kept, &open.first)?;
        Ok((DeviceSigning { session, kept }, SignAccept { first, second }))
    }

    /// Takes the gateway's [`SignFinish`]: the [`SignDone`] to send, and the joint signature
    /// (the device checks it too, and may keep it as a receipt).
    pub fn finish(
        self,
        share: &KeyShare,
        finish: SignFinish,
    ) -> Result<(SignDone, Signature), CosignError> {
        let (x_coord, own) = self.session.phase3(share, self.kept, &finish.second)?;
        let signature = self.session.phase4(share, &x_coord, &[own.clone(), finish.broadcast])?;
        Ok((SignDone { broadcast: own }, signature))
    }
}

/// The signature as libsecp256k1's type, verified by libsecp256k1 under the joint key.
fn checked(key: &PublicKey, hash: &[u8; 32], compact: &[u8; 64]) -> Result<Signature, CosignError> {
    let signature = Signature::from_compact(compact).map_err(|_| CosignError::BadSignature)?;
    Ctx::verification_only()
        .verify_ecdsa(&Message::from_digest(*hash), &signature, key)
        .map_err(|_| CosignError::BadSignature)?;
    Ok(signature)
}
