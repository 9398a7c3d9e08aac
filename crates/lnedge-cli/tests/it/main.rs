//! The `lnedge` binary as a user runs it: one integration-test binary, one module per command.

mod cards;
mod cli;
mod demo;
mod device_sync;
mod docs;
mod payer_sim;
mod support;
mod wallet;
mod wallet_device;
