//! Channels whose funding key is a 2-of-2 between the gateway and a device (seed 001, LNGate;
//! `docs/adr/0023`).
//!
//! The node's [`SignerProvider`](lightning::sign::SignerProvider) is [`NodeKeys`]: LDK's
//! `KeysManager` for every channel, except those registered as co-signed ([`CosignRegistry`]),
//! whose signer ([`CosignedSigner`]) wraps the `InMemorySigner` LDK would have used and
//! - announces the joint key as the funding key, the device's payment point and delayed
//!   basepoint (so the device's balance pays the device's keys on chain), and the device's
//!   close script as the upfront shutdown script;
//! - gets every signature by the funding key (the bridge's commitments, the holder commitment
//!   at a force close, the cooperative close) jointly with the device, which checks each against
//!   its policy first;
//! - takes its per-commitment points from the device and asks the device to revoke, so the
//!   device alone knows which of its states are revoked.
//!
//! The bridge is an unmodified LDK node: it sees an ordinary private channel.

mod keys;
mod open;
mod service;
mod signer;

pub use keys::{CosignRegistry, Cosigned, NodeKeys};
pub(crate) use open::device_funding;
pub use service::{serve_device_requests, serve_device_requests_for, DeviceRoute};
pub use signer::CosignedSigner;
