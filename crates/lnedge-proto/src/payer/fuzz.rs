//! Fuzz entry point of the payer token decoder. It panics only when a round trip is broken (a
//! bug): that is its job.

#![allow(clippy::panic)]

use super::{PayerKey, PayerToken, TokenError};

/// Any bytes: parsing never panics; whatever parses re-encodes to exactly the input, and its
/// tag check answers a typed result.
pub fn token(bytes: &[u8]) {
    if let Ok(token) = PayerToken::parse(bytes) {
        assert!(token.to_bytes().as_slice() == bytes, "payer token re-encoding differs");
        match token.verify(&PayerKey([7; 32])) {
            Ok(_) | Err(TokenError::BadTag) => {}
            Err(e) => panic!("verify answered {e} for a parsed token"),
        }
    }
}

/// Any 24 bytes as a Bolt Card reading (`p` ‖ `c`) under fixed keys: verification never panics.
pub fn sun(bytes: &[u8]) {
    let (Some(p), Some(c)) = (bytes.get(..16), bytes.get(16..24)) else { return };
    let (Ok(p), Ok(c)) = (<[u8; 16]>::try_from(p), <[u8; 8]>::try_from(c)) else { return };
    let _ = crate::boltcard::verify(&[1; 16], &[2; 16], &p, &c);
}

/// Any bytes as the payload of `initiate_payment` and of `reject_payment`: parsing never
/// panics, and whatever parses re-encodes to exactly the input.
pub fn peer(bytes: &[u8]) {
    use super::peer::{InitiatePayment, RejectPayment, MAX_PAYLOAD_LEN};
    let mut out = [0u8; 1024];
    if let Ok(m) = InitiatePayment::parse(bytes) {
        if bytes.len() <= out.len().min(MAX_PAYLOAD_LEN) {
            let n = m.encode_into(&mut out).unwrap_or_else(|e| panic!("re-encoding failed: {e}"));
            assert!(out.get(..n) == Some(bytes), "initiate_payment re-encoding differs");
        }
    }
    if let Ok(m) = RejectPayment::parse(bytes) {
        if bytes.len() <= out.len() {
            let n = m.encode_into(&mut out).unwrap_or_else(|e| panic!("re-encoding failed: {e}"));
            assert!(out.get(..n) == Some(bytes), "reject_payment re-encoding differs");
        }
    }
}
