//! # lnedge-testnodes
//!
//! Test servers that follow the published APIs of Lightning node daemons that cannot run on
//! lnedge's machines, so that lnedge's clients for them run the backend conformance suite
//! (`crates/lnedge-node/tests/it/conformance.rs`). They are written from the daemons' published
//! definitions and quote the daemons' documented error strings; they are not the daemons, and
//! `docs/backends.md` says what only a real daemon can check (`scripts/check-backend.sh` runs
//! the suite against one).
//!
//! * [`lnd`]: LND's REST gateway (`lnrpc`, `invoicesrpc`, `routerrpc`) over TLS with a macaroon.
//! * [`cln`]: Core Lightning's `lightning-rpc` socket, hosting lnedge's real plugin
//!   (`lnedge-cln-hold`) over the plugin protocol.

pub mod channel;
pub mod cln;
pub mod lnd;
