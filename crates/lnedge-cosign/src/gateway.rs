//! The gateway's side: its share and a link to the device, asking for what LDK's signer needs.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bitcoin::secp256k1::ecdsa::Signature;
use bitcoin::secp256k1::PublicKey;
use bitcoin::ScriptBuf;

use crate::channel::ChannelTerms;
use crate::error::CosignError;
use crate::link::{DeviceAnswer, DeviceLink, GatewayRequest};
use crate::policy::ChannelSignature;
use crate::share::KeyShare;
use crate::sign::GatewaySigning;
use crate::{decode, encode};

/// The device's keys for its channel, as it gave them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceChannelKeys {
    /// The key the bridge's commitments pay the device's balance to.
    pub payment_point: PublicKey,
    /// The basepoint of the device's own commitments' `to_local` key.
    pub delayed_basepoint: PublicKey,
    /// Where a cooperative close pays the device.
    pub close_script: ScriptBuf,
}

/// What the link carried so far.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct LinkStats {
    /// Requests sent.
    pub requests: u64,
    /// Bytes sent to the device.
    pub bytes_out: u64,
    /// Bytes received from the device.
    pub bytes_in: u64,
    /// Joint signatures completed.
    pub signatures: u64,
}

/// The gateway's co-signer for one device's channel.
pub struct GatewayCosigner {
    share: std::sync::RwLock<Arc<KeyShare>>,
    link: Arc<dyn DeviceLink>,
    meter: Meter,
}

/// Counts what the link carries, and asks.
#[derive(Default)]
struct Meter {
    requests: AtomicU64,
    bytes_out: AtomicU64,
    bytes_in: AtomicU64,
    signatures: AtomicU64,
}

impl Meter {
    fn call(
        &self,
        link: &dyn DeviceLink,
        request: &GatewayRequest,
    ) -> Result<DeviceAnswer, CosignError> {
        let bytes = encode(request);
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.bytes_out.fetch_add(bytes.len() as u64, Ordering::Relaxed);
        let answer = link.call(&bytes).map_err(|e| CosignError::Link(e.0))?;
        self.bytes_in.fetch_add(answer.len() as u64, Ordering::Relaxed);
        match decode::<DeviceAnswer>("device answer", &answer)? {
            DeviceAnswer::Refused(reason) => {
                tracing::warn!(%reason, "the device refused");
                Err(CosignError::Refused(reason))
            }
            DeviceAnswer::Failed(reason) => Err(CosignError::Link(reason)),
            answer => Ok(answer),
        }
    }
}

impl std::fmt::Debug for GatewayCosigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayCosigner")
            .field("joint_key", &self.share().public_key())
            .finish_non_exhaustive()
    }
}

impl GatewayCosigner {
    /// The gateway's share of a joint key and the link to the device holding the other.
    pub fn new(share: KeyShare, link: Arc<dyn DeviceLink>) -> GatewayCosigner {
        GatewayCosigner {
            share: std::sync::RwLock::new(Arc::new(share)),
            link,
            meter: Meter::default(),
        }
    }

    /// Enrols the device at the other end of `link`: generates its joint key with it (three
    /// round trips, see [`crate::enrol`]) and returns the gateway's co-signer, whose
    /// [`GatewayCosigner::stats`] count the enrolment's bytes. Keep [`GatewayCosigner::share_bytes`]
    /// (secret) to sign again after a restart.
    pub fn enrol(link: Arc<dyn DeviceLink>) -> Result<GatewayCosigner, CosignError> {
        let meter = Meter::default();
        let start = match meter.call(&*link, &GatewayRequest::KeygenBegin)? {
            DeviceAnswer::KeygenStart(start) => *start,
            _ => return Err(CosignError::Unexpected("an answer that does not start a key")),
        };
        let (keygen, reply) = crate::keygen::GatewayKeygen::reply(start)?;
        let finish = match meter.call(&*link, &GatewayRequest::KeygenReply(Box::new(reply)))? {
            DeviceAnswer::KeygenFinish(finish) => *finish,
            _ => return Err(CosignError::Unexpected("an answer that does not finish a key")),
        };
        let (share, done) = keygen.finish(finish)?;
        match meter.call(&*link, &GatewayRequest::KeygenDone(Box::new(done)))? {
            DeviceAnswer::KeyStored { joint_key } if joint_key == share.public_key() => {}
            DeviceAnswer::KeyStored { .. } => return Err(CosignError::KeyMismatch),
            _ => return Err(CosignError::Unexpected("an answer that does not store the key")),
        }
        Ok(GatewayCosigner { share: std::sync::RwLock::new(Arc::new(share)), link, meter })
    }

    /// The gateway's share as bytes, to store (secret) and give back to
    /// [`GatewayCosigner::new`] after a restart.
    pub fn share_bytes(&self) -> Vec<u8> {
        self.share().to_bytes()
    }

    /// The share the gateway signs with now.
    fn share(&self) -> Arc<KeyShare> {
        self.share.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// The joint funding key.
    pub fn joint_key(&self) -> PublicKey {
        self.share().public_key()
    }

    /// The epoch of the shares the gateway signs with.
    pub fn epoch(&self) -> u32 {
        self.share().epoch()
    }

    /// Refreshes both shares with the device (two round trips); the joint key stays. The gateway
    /// signs with its new share from now on, which tells the device to switch too.
    pub fn refresh(&self) -> Result<(), CosignError> {
        let share = self.share();
        let (session, open) = crate::refresh::GatewayRefresh::open(&share);
        let reply = match self.call(&GatewayRequest::RefreshOpen(open))? {
            DeviceAnswer::RefreshReply(reply) => reply,
            _ => return Err(CosignError::Unexpected("an answer that is not a refresh reply")),
        };
        let (session, finish) = session.finish(&share, reply)?;
        let done = match self.call(&GatewayRequest::RefreshFinish(finish))? {
            DeviceAnswer::RefreshDone(done) => done,
            _ => return Err(CosignError::Unexpected("an answer that is not a refresh's end")),
        };
        let refreshed = session.done(&share, done)?;
        *self.share.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(refreshed);
        Ok(())
    }

    /// What the link carried so far.
    pub fn stats(&self) -> LinkStats {
        LinkStats {
            requests: self.meter.requests.load(Ordering::Relaxed),
            bytes_out: self.meter.bytes_out.load(Ordering::Relaxed),
            bytes_in: self.meter.bytes_in.load(Ordering::Relaxed),
            signatures: self.meter.signatures.load(Ordering::Relaxed),
        }
    }

    fn call(&self, request: &GatewayRequest) -> Result<DeviceAnswer, CosignError> {
        self.meter.call(&*self.link, request)
    }

    /// Asks the device for its keys for the channel.
    pub fn channel_keys(&self) -> Result<DeviceChannelKeys, CosignError> {
        match self.call(&GatewayRequest::ChannelKeys)? {
            DeviceAnswer::ChannelKeys { payment_point, delayed_basepoint, close_script } => {
                Ok(DeviceChannelKeys { payment_point, delayed_basepoint, close_script })
            }
            _ => Err(CosignError::Unexpected("an answer that is not the device's keys")),
        }
    }

    /// Asks the device to fund the channel: `value_sat` to the P2WSH of `redeem_script`.
    pub fn fund(
        &self,
        value_sat: u64,
        redeem_script: ScriptBuf,
    ) -> Result<bitcoin::Transaction, CosignError> {
        match self.call(&GatewayRequest::Fund { value_sat, redeem_script })? {
            DeviceAnswer::Funding(tx) => Ok(tx),
            _ => Err(CosignError::Unexpected("an answer that is not a funding transaction")),
        }
    }

    /// Sends the channel's terms for the device to pin.
    pub fn pin_terms(
        &self,
        terms: ChannelTerms,
        opening_balance_sat: u64,
    ) -> Result<(), CosignError> {
        match self.call(&GatewayRequest::Terms { terms: Box::new(terms), opening_balance_sat })? {
            DeviceAnswer::TermsPinned => Ok(()),
            _ => Err(CosignError::Unexpected("an answer that is not a pinning")),
        }
    }

    /// Co-signs `request`, whose funding-input hash the gateway computed as `sighash`: two
    /// round trips; the device checks the request against its policy first.
    pub fn sign(
        &self,
        request: ChannelSignature,
        sighash: [u8; 32],
    ) -> Result<Signature, CosignError> {
        let share = self.share();
        let (session, open) = GatewaySigning::open(&share, request, sighash)?;
        let sign_id = open.sign_id;
        let accept = match self.call(&GatewayRequest::Sign { epoch: share.epoch(), open })? {
            DeviceAnswer::Accept(accept) => accept,
            _ => return Err(CosignError::Unexpected("an answer that is not a signing acceptance")),
        };
        let (session, finish) = session.finish(&share, accept)?;
        let done = match self.call(&GatewayRequest::Finish { sign_id, finish })? {
            DeviceAnswer::Done(done) => done,
            _ => return Err(CosignError::Unexpected("an answer that is not a signature share")),
        };
        let signature = session.done(&share, done)?;
        self.meter.signatures.fetch_add(1, Ordering::Relaxed);
        Ok(signature)
    }

    /// The device's per-commitment points for its own commitments `from .. from + count`.
    pub fn points(&self, from: u64, count: u8) -> Result<Vec<PublicKey>, CosignError> {
        match self.call(&GatewayRequest::Points { from, count })? {
            DeviceAnswer::Points(points) => Ok(points),
            _ => Err(CosignError::Unexpected("an answer that is not points")),
        }
    }

    /// Asks the device to revoke own commitment `number`: its secret.
    pub fn revoke(&self, number: u64) -> Result<[u8; 32], CosignError> {
        match self.call(&GatewayRequest::Revoke { number })? {
            DeviceAnswer::Secret(secret) => Ok(secret),
            _ => Err(CosignError::Unexpected("an answer that is not a secret")),
        }
    }
}
