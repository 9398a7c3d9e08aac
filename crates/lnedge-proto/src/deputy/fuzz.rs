//! Fuzz entry points of the deputy decoders. They panic only when a round trip is broken (a
//! bug): that is their job.

#![allow(clippy::panic)]

use super::{Sale, TerminalKeys};
use crate::DeviceId;

/// Sealed payload: open under a fixed key; whatever opens must re-seal to exactly the input
/// (sealing is deterministic: the nonce is the counter).
pub fn open(bytes: &[u8]) {
    let device = DeviceId([0x42; 16]);
    let keys = TerminalKeys::derive(&[7; 32], device);
    let _ = Sale::peek_counter(bytes);
    if let Ok(sale) = Sale::open(device, &keys.seal_key, bytes) {
        match sale.seal(&keys) {
            Ok(again) => assert!(again.as_slice() == bytes, "deputy payload re-sealing differs"),
            Err(e) => panic!("an opened sale does not seal again: {e}"),
        }
    }
}
