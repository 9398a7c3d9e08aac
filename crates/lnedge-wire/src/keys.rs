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

/// Domain separator of the Bolt Card issuer key.
pub const BOLTCARD_ISSUER_LABEL: &[u8] = b"lnedge/boltcard-issuer";
/// Domain separator of the key card PINs are hashed with.
pub const CARD_PIN_LABEL: &[u8] = b"lnedge/card-pin";

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

/// The Bolt Card issuer key (the DETERMINISTIC scheme's `IssuerKey`, AES-128): the first 16
/// bytes of `HMAC-SHA256(master, "lnedge/boltcard-issuer")`. Every card's keys derive from it
/// (`lnedge_proto::boltcard::card_keys`), so no card key is stored.
pub fn boltcard_issuer_key(master: &[u8; 32]) -> [u8; 16] {
    let full = derive(master, BOLTCARD_ISSUER_LABEL, b"");
    let mut key = [0u8; 16];
    key.copy_from_slice(&full[..16]);
    key
}

/// A card PIN's stored hash: `HMAC-SHA256(HMAC-SHA256(master, "lnedge/card-pin"), card_id ‖
/// pin)`. Keyed, so a leaked database does not give the PINs away by brute force without the
/// master key.
pub fn card_pin_hash(master: &[u8; 32], card: &DeviceId, pin: &str) -> [u8; 32] {
    let key = derive(master, CARD_PIN_LABEL, b"");
    let mut id_and_pin = card.0.to_vec();
    id_and_pin.extend_from_slice(pin.as_bytes());
    derive(&key, b"", &id_and_pin)
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
