//! lnedge-cosign's integration tests: whole exchanges between the two parties, every message
//! through its byte encoding as on the device link.

mod protocol;
