//! Fuzz the proof-of-payment decoders (bytes and `lnproof1…` text): no input may panic, and
//! whatever decodes must encode back to the same proof.
#![no_main]

use lnedge_proto::proof::CompactProof;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(proof) = CompactProof::decode(data) {
        assert_eq!(&proof.encode()[..], data, "bytes round trip");
        assert_eq!(CompactProof::decode_text(&proof.to_text()), Ok(proof), "text round trip");
    }
    if let Ok(text) = core::str::from_utf8(data) {
        if let Ok(proof) = CompactProof::decode_text(text) {
            assert_eq!(CompactProof::decode(&proof.encode()), Ok(proof), "text → bytes");
        }
    }
});
