//! Integration tests of lnedge-device (one binary).
mod firmware;
mod fixtures;
mod flash;
mod power_cut;
mod simulator;
