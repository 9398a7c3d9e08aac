//! Keys derived per purpose from one of the gateway's master secrets, so that nothing per device
//! or per payee is stored and a key leaked for one purpose is useless for another:
//! `key = HMAC-SHA256(master, label ‖ id)`.

use hmac::{Hmac, Mac};
use lnedge_proto::DeviceId;
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// Domain separator of a device's sync key.
pub const DEVICE_SYNC_LABEL: &[u8] = b"lnedge/device-sync";
/// Domain separator of a payee's key.
pub const RELAY_PAYEE_LABEL: &[u8] = b"lnedge/relay-payee";

/// `HMAC-SHA256(master, label ‖ id)`.
pub fn derive(master: &[u8; 32], label: &[u8], id: &[u8]) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(master).expect("HMAC takes keys of any length");
    mac.update(label);
    mac.update(id);
    mac.finalize().into_bytes().into()
}

/// The sync key of one device: `HMAC-SHA256(master, "lnedge/device-sync" ‖ device_id)`. The
/// device holds it (written at enrolment); the gateway recomputes it.
pub fn device_sync_key(master: &[u8; 32], device: &DeviceId) -> [u8; 32] {
    derive(master, DEVICE_SYNC_LABEL, &device.0)
}

/// A payee's key: `HMAC-SHA256(master, "lnedge/relay-payee" ‖ payee_id)`.
pub fn payee_key(master: &[u8; 32], payee_id: &str) -> [u8; 32] {
    derive(master, RELAY_PAYEE_LABEL, payee_id.as_bytes())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_differ_per_purpose_and_id() {
        let master = [7u8; 32];
        let device = DeviceId([1; 16]);
        assert_ne!(device_sync_key(&master, &device), device_sync_key(&master, &DeviceId([2; 16])));
        assert_ne!(payee_key(&master, "a"), payee_key(&master, "b"));
        // The same bytes under another label give another key.
        assert_ne!(
            derive(&master, DEVICE_SYNC_LABEL, b"x"),
            derive(&master, RELAY_PAYEE_LABEL, b"x")
        );
        assert_ne!(device_sync_key(&master, &device), device_sync_key(&[8; 32], &device));
    }
}
