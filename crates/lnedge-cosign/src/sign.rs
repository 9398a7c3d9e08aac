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

use std::fmt;

use bitcoin::secp256k1::{ecdsa::Signature, Message, PublicKey, Secp256k1 as Ctx};
use dkls23::protocols::signing::{
    Broadcast3to4, SignData, TransmitPhase1to2, TransmitPhase2to3,
};
use dkls23::SignSession;
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

/// The gateway's side of one signature.
pub struct GatewaySigning<'a> {
    share: &'a KeyShare,
    session: SignSession<'a, Secp256k1>,
    message_hash: [u8; 32],
}

impl fmt::Debug for GatewaySigning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewaySigning").finish_non_exhaustive()
    }
}

impl<'a> GatewaySigning<'a> {
    /// Opens a signature of `message_hash` (which the gateway computed from `request`, as the
    /// device will).
    pub fn open<R>(
        share: &'a KeyShare,
        request: R,
        message_hash: [u8; 32],
    ) -> Result<(GatewaySigning<'a>, SignOpen<R>), CosignError> {
        let sign_id: [u8; 32] = rand::random();
        let (session, first) =
            SignSession::new(share.party(), sign_data(share, sign_id, message_hash))?;
        Ok((GatewaySigning { share, session, message_hash }, SignOpen { sign_id, request, first }))
    }

    /// Takes the device's [`SignAccept`]; send the [`SignFinish`].
    pub fn finish(
        mut self,
        accept: SignAccept,
    ) -> Result<(GatewaySigningLast<'a>, SignFinish), CosignError> {
        let second = self.session.phase2(&accept.first)?;
        let broadcast = self.session.phase3(&accept.second)?;
        let last = GatewaySigningLast {
            share: self.share,
            session: self.session,
            own: broadcast.clone(),
            message_hash: self.message_hash,
        };
        Ok((last, SignFinish { second, broadcast }))
    }
}

/// The gateway's side of one signature, waiting for the device's [`SignDone`].
pub struct GatewaySigningLast<'a> {
    share: &'a KeyShare,
    session: SignSession<'a, Secp256k1>,
    own: Broadcast3to4<Secp256k1>,
    message_hash: [u8; 32],
}

impl fmt::Debug for GatewaySigningLast<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GatewaySigningLast").finish_non_exhaustive()
    }
}

impl GatewaySigningLast<'_> {
    /// Takes the device's [`SignDone`]: the joint signature, checked against the joint key.
    pub fn done(self, done: SignDone) -> Result<Signature, CosignError> {
        let signature = self.session.phase4(&[self.own, done.broadcast], true)?;
        checked(&self.share.public_key(), &self.message_hash, &signature.to_bytes())
    }
}

/// The device's side of one signature.
pub struct DeviceSigning<'a> {
    share: &'a KeyShare,
    session: SignSession<'a, Secp256k1>,
    message_hash: [u8; 32],
}

impl fmt::Debug for DeviceSigning<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeviceSigning").finish_non_exhaustive()
    }
}

impl<'a> DeviceSigning<'a> {
    /// Accepts a gateway's [`SignOpen`] for `message_hash`, which the device computed itself
    /// from the request after its policy approved it. The caller must not get here otherwise.
    pub fn accept<R>(
        share: &'a KeyShare,
        open: &SignOpen<R>,
        message_hash: [u8; 32],
    ) -> Result<(DeviceSigning<'a>, SignAccept), CosignError> {
        let (mut session, first) =
            SignSession::new(share.party(), sign_data(share, open.sign_id, message_hash))?;
        let second = session.phase2(&open.first)?;
        Ok((DeviceSigning { share, session, message_hash }, SignAccept { first, second }))
    }

    /// Takes the gateway's [`SignFinish`]: the [`SignDone`] to send, and the joint signature
    /// (the device can check it too, and keep it as a receipt).
    pub fn finish(mut self, finish: SignFinish) -> Result<(SignDone, Signature), CosignError> {
        let own = self.session.phase3(&finish.second)?;
        let signature = self.session.phase4(&[own.clone(), finish.broadcast], true)?;
        let signature = checked(&self.share.public_key(), &self.message_hash, &signature.to_bytes())?;
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
