#![allow(clippy::unwrap_used, clippy::indexing_slicing, clippy::expect_used)]

use super::*;
use crate::PoolId;

fn proof() -> CompactProof {
    CompactProof { preimage: [7; 32], payment_secret: [9; 32] }
}

#[test]
fn compact_proofs_round_trip_as_bytes_and_text() {
    let p = proof();
    assert_eq!(CompactProof::decode(&p.encode()), Ok(p));
    let text = p.to_text();
    assert!(text.starts_with("lnproof1"), "{text}");
    assert_eq!(CompactProof::decode_text(&text), Ok(p));
    assert_eq!(CompactProof::decode_text(&text.to_uppercase()), Ok(p));
    assert!(!format!("{p:?}").contains("07"), "Debug hides the secrets");
}

#[test]
fn malformed_proofs_get_typed_errors() {
    assert_eq!(CompactProof::decode(&[]), Err(ProofError::WrongLength { actual: 0 }));
    let mut bytes = proof().encode();
    bytes[0] = 2;
    assert_eq!(CompactProof::decode(&bytes), Err(ProofError::UnknownVersion(2)));
    assert_eq!(CompactProof::decode_text("lnbc1xyz"), Err(ProofError::NotProofText));
    let envelope =
        crate::envelope::Envelope::Claim(crate::envelope::Claim::bare([1; 32])).to_text().unwrap();
    assert_eq!(CompactProof::decode_text(&envelope), Err(ProofError::NotProofText));
}

#[test]
fn a_routing_node_and_a_bystander_both_fail() {
    let p = proof();
    let hash = p.payment_hash();
    let secret = p.payment_secret;
    assert_eq!(p.check(&secret), Ok(()));
    // A routing node knows the preimage (and hash), not the secret.
    let routing = CompactProof { preimage: p.preimage, payment_secret: [0; 32] };
    assert_eq!(routing.check(&secret), Err(ProofError::SecretMismatch));
    // A bystander knows the invoice (hash and secret), not the preimage.
    assert_eq!(check(&[0; 32], &secret, &hash, &secret), Err(ProofError::PreimageMismatch));
}

#[test]
fn attestation_tags_bind_key_and_every_field() {
    let key = attestation_key(&[1; 32], &DeviceId([2; 16]));
    assert_ne!(key, attestation_key(&[1; 32], &DeviceId([3; 16])), "per device");
    let v = RefundVoucher {
        device_id: DeviceId([2; 16]),
        pool_id: PoolId([3; 8]),
        entry_index: 4,
        payment_hash: [5; 32],
        amount_msat: 6_000,
        counter: 1,
    };
    let tag = attestation_tag(&key, &v);
    assert!(verify_attestation(&key, &v, &tag));
    assert!(!verify_attestation(&key, &v, &tag[..15]));
    assert!(!verify_attestation(&[0; 32], &v, &tag));
    let other = RefundVoucher { amount_msat: 6_001, ..v };
    assert!(!verify_attestation(&key, &other, &tag));
    let other = RefundVoucher { entry_index: 5, ..v };
    assert!(!verify_attestation(&key, &other, &tag));
}

proptest::proptest! {
    #[test]
    fn decoders_never_panic(bytes in proptest::collection::vec(proptest::num::u8::ANY, 0..80), text in ".{0,140}") {
        let _ = CompactProof::decode(&bytes);
        let _ = CompactProof::decode_text(&text);
    }

    #[test]
    fn proofs_round_trip(preimage in proptest::array::uniform32(proptest::num::u8::ANY), secret in proptest::array::uniform32(proptest::num::u8::ANY)) {
        let p = CompactProof { preimage, payment_secret: secret };
        proptest::prop_assert_eq!(CompactProof::decode(&p.encode()), Ok(p));
        proptest::prop_assert_eq!(CompactProof::decode_text(&p.to_text()), Ok(p));
        proptest::prop_assert_eq!(p.check(&secret), Ok(()));
    }
}
