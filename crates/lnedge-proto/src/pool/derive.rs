//! Preimage derivation (operator side; never run on a device).

use hmac::digest::KeyInit;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

use crate::DeviceId;

/// Domain separator of pool preimages.
const DOMAIN: &[u8] = b"lnedge/pool";

/// `HMAC-SHA256(pool_key, "lnedge/pool" ‖ device ‖ product (BE) ‖ seq (BE))`.
///
/// `pool_key` is a gateway secret; `seq` is a per-device, per-product sequence that never repeats
/// across pools, so every preimage is used once. The device only ever sees
/// [`payment_hash`]`(preimage)`.
pub fn derive_preimage(pool_key: &[u8; 32], device: &DeviceId, product: u16, seq: u32) -> [u8; 32] {
    // HMAC pads keys shorter than the block size (64) with zeros; doing it here keeps the
    // infallible constructor.
    let mut key = [0u8; 64];
    for (k, b) in key.iter_mut().zip(pool_key.iter()) {
        *k = *b;
    }
    let mut mac = <Hmac<Sha256> as KeyInit>::new(&key.into());
    mac.update(DOMAIN);
    mac.update(&device.0);
    mac.update(&product.to_be_bytes());
    mac.update(&seq.to_be_bytes());
    mac.finalize().into_bytes().into()
}

/// `SHA-256(preimage)`: the payment hash an invoice commits to.
pub fn payment_hash(preimage: &[u8; 32]) -> [u8; 32] {
    Sha256::digest(preimage).into()
}
