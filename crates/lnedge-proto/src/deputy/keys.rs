//! Per-device, per-purpose keys (the way Bolt Card issuers derive card keys: the gateway stores
//! no per-device secret).
//!
//! ```text
//! root     = HMAC-SHA256(master, "lnedge/device" ‖ device_id)
//! seal     = HMAC-SHA256(root, "lnedge/deputy/seal")      terminal + gateway
//! claim    = HMAC-SHA256(root, "lnedge/deputy/claim")     terminal + gateway
//! preimage = HMAC-SHA256(root, "lnedge/deputy/preimage")  gateway only
//! ```
//!
//! The terminal holds `seal` and `claim` only ([`TerminalKeys`]). Extracting them lets an
//! attacker make that terminal accept forged claims (goods from that terminal), never learn a
//! preimage: preimages would let a routing node settle an HTLC without forwarding it, i.e. take
//! money. `root` never leaves the gateway either.

use core::fmt;

use hmac::{Hmac, Mac};
use sha2::Sha256;

use super::sale::{Sale, SALE_LEN};
use crate::DeviceId;

type HmacSha256 = Hmac<Sha256>;

/// `HMAC-SHA256(key, parts[0] ‖ parts[1] ‖ …)`.
pub(crate) fn hmac(key: &[u8], parts: &[&[u8]]) -> [u8; 32] {
    // HMAC accepts keys of every length: `new_from_slice` cannot fail.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => return [0; 32],
    };
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// Label of the root derivation.
const ROOT_LABEL: &[u8] = b"lnedge/device";
const SEAL_LABEL: &[u8] = b"lnedge/deputy/seal";
const CLAIM_LABEL: &[u8] = b"lnedge/deputy/claim";
const PREIMAGE_LABEL: &[u8] = b"lnedge/deputy/preimage";

/// The device's root key (gateway only).
pub(crate) fn root(master: &[u8; 32], device: &DeviceId) -> [u8; 32] {
    hmac(master, &[ROOT_LABEL, &device.0])
}

/// The keys a deputy terminal holds: written into it at enrolment, recomputed by the gateway.
/// Secret: `Debug` prints neither.
#[derive(Clone, PartialEq, Eq)]
pub struct TerminalKeys {
    /// The device these keys belong to.
    pub device_id: DeviceId,
    /// Seals sale payloads (ChaCha20-Poly1305 key).
    pub seal_key: [u8; 32],
    /// Derives claims (HMAC-SHA256 key).
    pub claim_key: [u8; 32],
}

impl TerminalKeys {
    /// The terminal keys of `device` under the gateway's `master` key.
    pub fn derive(master: &[u8; 32], device: DeviceId) -> Self {
        let root = root(master, &device);
        TerminalKeys {
            device_id: device,
            seal_key: hmac(&root, &[SEAL_LABEL]),
            claim_key: hmac(&root, &[CLAIM_LABEL]),
        }
    }
}

impl fmt::Debug for TerminalKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TerminalKeys")
            .field("device_id", &self.device_id)
            .field("seal_key", &"<secret>")
            .field("claim_key", &"<secret>")
            .finish()
    }
}

/// The payment preimage of `sale` (gateway only):
/// `HMAC-SHA256(preimage_key, "preimage" ‖ sale bytes)`.
pub fn preimage_for(master: &[u8; 32], sale: &Sale) -> [u8; 32] {
    let key = hmac(&root(master, &sale.device_id), &[PREIMAGE_LABEL]);
    let bytes: [u8; SALE_LEN] = sale.to_bytes();
    hmac(&key, &[b"preimage", &bytes])
}
