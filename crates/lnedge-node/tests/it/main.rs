//! Integration tests of lnedge-node: one binary, one module per concern.

mod cln;
mod conformance;
mod ldk_regtest;
mod lnd;
mod peer_messages;
#[cfg(feature = "real-lnd")]
mod real_lnd;
mod sandbox;
