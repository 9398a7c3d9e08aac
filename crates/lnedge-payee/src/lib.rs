//! # lnedge-payee
//!
//! The payee side of the lnedge async relay (the "Lightning Rod", `docs/relay.md`): a device
//! that is often offline (a sensor selling data, a charger that wakes hourly, a phone wallet)
//! can still be paid. It commits to payment hashes with the gateway and keeps their preimages;
//! the gateway holds payers' HTLCs for those hashes; when the device wakes it hands the gateway
//! an invoice of its own node for the same hash, the gateway pays it, learns the preimage from
//! that payment and settles the payer's HTLCs. The gateway can delay but never steal: only the
//! payee knows the preimages.
//!
//! * The signature scheme of payee requests and wake-up webhooks, and the JSON bodies, are the
//!   gateway's and the payee's shared contract: they live in `lnedge-wire` (`sign`, `relay`).
//! * [`PreimageFile`]: the preimages, on disk before any hash is committed.
//! * [`PayeeClient`]: signed calls to the gateway; [`PayeeAgent`]: wake, fetch, complete.

pub mod agent;
pub mod client;
pub mod preimages;

pub use agent::{AgentError, PayeeAgent, PayeeNode, WakeReport};
pub use client::{register, ClientError, PayeeClient};
pub use preimages::{PreimageError, PreimageFile};
