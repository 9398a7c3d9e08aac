//! The device link: what the gateway asks the device and what the device answers, as bytes.
//!
//! The transport is a trait ([`DeviceLink`]): an in-process call in the sandbox and the tests,
//! HTTP or a WebSocket on a real device, BLE or MQTT later. Every message is postcard-encoded
//! ([`crate::encode`]), so what a payment costs on the link is the length of these bytes.

use bitcoin::secp256k1::PublicKey;
use bitcoin::{ScriptBuf, Transaction};
use serde::{Deserialize, Serialize};

use crate::channel::ChannelTerms;
use crate::keygen::{KeygenDone, KeygenFinish, KeygenReply, KeygenStart};
use crate::policy::ChannelSignature;
use crate::refresh::{RefreshDone, RefreshFinish, RefreshOpen, RefreshReply};
use crate::sign::{SignAccept, SignDone, SignFinish, SignOpen};

/// Gateway → device.
#[derive(Clone, Serialize, Deserialize)]
pub enum GatewayRequest {
    /// Enrolment, first round trip: the device starts a key generation of its joint key
    /// (see [`crate::enrol`]).
    KeygenBegin,
    /// Enrolment, second round trip: the gateway's fragment and commitments.
    KeygenReply(Box<KeygenReply>),
    /// Enrolment, third round trip: the gateway's revealed proof and the joint key; the device
    /// stores its share before it answers.
    KeygenDone(Box<KeygenDone>),
    /// The device's keys for a new channel (its payment point, delayed basepoint, close script).
    ChannelKeys,
    /// Fund the channel from the device's own coins: an output of `value_sat` to the P2WSH of
    /// `redeem_script`, which must be a BOLT 3 funding script with the device's joint key.
    Fund {
        /// The channel's capacity.
        value_sat: u64,
        /// The funding output's witness script (2-of-2 of the joint key and the bridge's).
        redeem_script: ScriptBuf,
    },
    /// The terms of the channel, sent once before its first signature: the device pins them.
    Terms {
        /// The channel's terms.
        terms: Box<ChannelTerms>,
        /// What the channel's funding gives the device.
        opening_balance_sat: u64,
    },
    /// Opens a co-signature of a channel transaction with the shares of `epoch`; the device
    /// checks it against its policy.
    Sign {
        /// The key shares' epoch (see [`crate::refresh`]).
        epoch: u32,
        /// The request and the gateway's first message.
        open: SignOpen<ChannelSignature>,
    },
    /// Opens a refresh of the joint key's shares.
    RefreshOpen(RefreshOpen),
    /// The second round of the refresh.
    RefreshFinish(RefreshFinish),
    /// The second round of the co-signature `sign_id`.
    Finish {
        /// Which signature.
        sign_id: [u8; 32],
        /// The gateway's second message.
        finish: SignFinish,
    },
    /// The per-commitment points of the device's own commitments `from .. from + count`.
    Points {
        /// The first commitment number.
        from: u64,
        /// How many.
        count: u8,
    },
    /// Revokes own commitment `number`: the device releases its secret.
    Revoke {
        /// The commitment to revoke.
        number: u64,
    },
}

/// Device → gateway.
#[derive(Clone, Serialize, Deserialize)]
pub enum DeviceAnswer {
    /// The device's first key generation message.
    KeygenStart(Box<KeygenStart>),
    /// The device's commitments and revealed proof.
    KeygenFinish(Box<KeygenFinish>),
    /// The device stored its share of this joint key: it is enrolled.
    KeyStored {
        /// The joint key, as the device computed it.
        joint_key: PublicKey,
    },
    /// The device's keys for its channel.
    ChannelKeys {
        /// The key the bridge's commitments pay the device's balance to.
        payment_point: PublicKey,
        /// The basepoint of the device's own commitments' `to_local` key.
        delayed_basepoint: PublicKey,
        /// Where a cooperative close pays the device.
        close_script: ScriptBuf,
    },
    /// The signed funding transaction (its first output is the channel's).
    Funding(Transaction),
    /// The terms are pinned.
    TermsPinned,
    /// The device's first and second signing messages.
    Accept(SignAccept),
    /// The device's share of the signature.
    Done(SignDone),
    /// The device's first refresh message.
    RefreshReply(RefreshReply),
    /// The device's last refresh message (its new share waits for the gateway's first use).
    RefreshDone(RefreshDone),
    /// Per-commitment points, in order.
    Points(Vec<PublicKey>),
    /// A released per-commitment secret.
    Secret([u8; 32]),
    /// The device refused: the reason, for both sides' logs.
    Refused(String),
    /// The request could not be served (malformed, unknown signature, protocol abort).
    Failed(String),
}

/// Device → gateway: what the device itself asks (on its own connection to the gateway).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum DeviceRequest {
    /// Pay this BOLT 11 invoice (which the device approved against its policy) from the
    /// device's channel, with at most `max_fee_msat` in routing fees.
    SendPayment {
        /// The joint key of the device's channel: the gateway pays from that channel only (a
        /// gateway with several devices finds the device's channel by it).
        joint_key: PublicKey,
        /// The invoice, as text.
        invoice: String,
        /// The most the device lets the route cost.
        max_fee_msat: u64,
    },
}

/// Gateway → device: the outcome of a [`DeviceRequest`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum GatewayAnswer {
    /// Paid: the preimage (the device checks it against the invoice's hash: its proof).
    PaymentSuccess {
        /// The payment's preimage.
        preimage: [u8; 32],
        /// What the route cost, if the node knows.
        fee_msat: Option<u64>,
    },
    /// Not paid (no route, a refusal on the way, a timeout): the reason.
    PaymentFailed(String),
}

/// Why the link did not carry a request.
#[derive(Debug, thiserror::Error, Clone, PartialEq, Eq)]
#[error("device link: {0}")]
pub struct LinkError(pub String);

/// A transport to one device: sends a request's bytes, returns the answer's bytes.
///
/// It is synchronous because LDK's signer calls are: the gateway calls it off the async workers.
pub trait DeviceLink: Send + Sync {
    /// Carries one request to the device and returns its answer.
    fn call(&self, request: &[u8]) -> Result<Vec<u8>, LinkError>;
}
