//! Integration tests of lnedge-node: one binary, one module per concern.

mod conformance;
mod ldk_regtest;
mod lnd;
mod peer_messages;
mod sandbox;
