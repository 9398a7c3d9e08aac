//! Two-party ECDSA co-signing of a Lightning channel's funding key between a paying device and
//! the gateway that runs the channel for it (seed 001, "LNGate"; `docs/adr/0023`).
//!
//! - [`keygen`]: the device and the gateway generate a joint secp256k1 key; each keeps a
//!   [`KeyShare`] and nobody ever holds the whole secret.
//! - [`sign`]: a signature under the joint key needs both shares; the device contributes its
//!   share only after its own checks.
//! - [`channel`] and [`policy`]: what the device reads from a transaction it is asked to sign,
//!   and the rules it checks before it signs.
//!
//! - [`enrol`]: a new device and its gateway make the joint key over the device link.
//! - [`link`], [`device`] and [`gateway`]: the device link's requests and answers, the device's
//!   wallet that serves them, and the gateway's co-signer that asks; [`tcp`] carries them and
//!   [`host`] runs a device in this process.
//!
//! This crate is the one home of what the device and the gateway exchange: both sides' state
//! machines and every message, encoded with [`encode`] / [`decode`].

pub mod channel;
pub mod device;
pub mod enrol;
pub mod error;
pub mod gateway;
pub mod host;
pub mod keygen;
pub mod link;
pub mod policy;
pub mod refresh;
mod role;
mod share;
pub mod sign;
pub mod tcp;
mod wire;

pub use error::CosignError;
pub use role::Role;
pub use share::KeyShare;
pub use wire::{decode, encode};
