//! The `lnedge` binary as a user runs it: one integration-test binary, one module per command.

mod cli;
mod device_sync;
