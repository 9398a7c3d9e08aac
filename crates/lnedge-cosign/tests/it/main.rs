//! lnedge-cosign's integration tests: whole exchanges between the two parties (every message
//! through its byte encoding, as on the device link), and the device's policy against
//! transactions built by LDK.

mod fixture;
mod funding;
mod policy;
mod protocol;
