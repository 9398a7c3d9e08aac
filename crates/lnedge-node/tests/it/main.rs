//! Integration tests of lnedge-node: one binary, one module per concern.

mod cln;
mod conformance;
mod cosigned;
mod ldk_regtest;
mod lnd;
mod peer_messages;
#[cfg(any(feature = "real-lnd", feature = "real-cln"))]
mod real_node;
mod sandbox;
