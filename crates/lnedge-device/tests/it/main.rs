//! Integration tests of lnedge-device (one binary).
mod flash;
mod power_cut;
mod simulator;
