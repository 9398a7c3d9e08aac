//! Every vector of `tests/data/boltcard-vectors.json` (Bolt Card's TEST_VECTORS.md and
//! DETERMINISTIC.md, NXP AN12196) verifies, and every negative case is refused.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

extern crate std;

use std::collections::BTreeMap;
use std::vec::Vec;

use serde_json::Value;

use super::keys::card_key;
use super::*;

const VECTORS: &str = include_str!("../../tests/data/boltcard-vectors.json");

fn vectors() -> Value {
    serde_json::from_str(VECTORS).expect("vectors")
}

fn bytes<const N: usize>(v: &Value) -> [u8; N] {
    hex::decode(v.as_str().expect("hex string")).expect("hex").try_into().expect("length")
}

#[test]
fn every_sun_vector_verifies_with_its_uid_and_counter() {
    let v = vectors();
    let all = v["sun_vectors"].as_array().expect("list");
    assert_eq!(all.len(), 4);
    for t in all {
        let reading = verify(&bytes(&t["K1"]), &bytes(&t["K2"]), &bytes(&t["p"]), &bytes(&t["c"]))
            .unwrap_or_else(|e| panic!("{}: {e}", t["id"]));
        assert_eq!(reading.uid, bytes::<7>(&t["expected"]["uid"]), "{}", t["id"]);
        assert_eq!(
            u64::from(reading.counter),
            t["expected"]["counter"].as_u64().unwrap(),
            "{}",
            t["id"]
        );
    }
}

#[test]
fn the_session_key_matches_nxp_an12196() {
    let v = vectors();
    let t = &v["session_key_vectors"][0];
    let uid: [u8; 7] = bytes(&t["uid"]);
    let counter: [u8; 3] = bytes(&t["counter_bytes_lsb_first"]);
    let ks = super::sun::cmac(
        &bytes(&t["KSDMFileRead"]),
        &[&[0x3C, 0xC3, 0x00, 0x01, 0x00, 0x80], &uid, &counter],
    );
    assert_eq!(ks, bytes::<16>(&t["KSesSDMFileReadMAC"]));
}

#[test]
fn the_deterministic_keys_match_the_published_vector() {
    let v = vectors();
    let t = &v["deterministic_key_vectors"][0];
    let issuer: [u8; 16] = bytes(&t["input"]["IssuerKey"]);
    let uid: [u8; 7] = bytes(&t["input"]["UID"]);
    let version = t["input"]["Version"].as_u64().unwrap() as u32;
    let e = &t["expected"];
    let keys = card_keys(&issuer, &uid, version);
    for (i, name) in ["K0", "K1", "K2", "K3", "K4"].iter().enumerate() {
        assert_eq!(keys.k[i], bytes::<16>(&e[*name]), "{name}");
    }
    assert_eq!(issuer_k1(&issuer), bytes::<16>(&e["K1"]));
    assert_eq!(card_id(&issuer, &uid), bytes::<16>(&e["ID"]));
    assert_eq!(card_key(&issuer, &uid, version), bytes::<16>(&e["CardKey"]));
    // Another version is another card.
    assert_ne!(card_keys(&issuer, &uid, version + 1).k[2], keys.k[2]);
    assert_eq!(std::format!("{keys:?}"), "CardKeys(<secret>)", "keys never in Debug");
}

#[test]
fn every_negative_case_is_refused() {
    let v = vectors();
    let by_id: BTreeMap<&str, &Value> = v["sun_vectors"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| (t["id"].as_str().unwrap(), t))
        .collect();
    let mut seen = 0;
    for t in v["negative_cases_derived"].as_array().unwrap() {
        let id = t["id"].as_str().unwrap();
        if let Some(sequence) = t["sequence"].as_array() {
            // The replay rule: only a counter above the last accepted one.
            let mut last: Option<u32> = None;
            let accepted: Vec<bool> = sequence
                .iter()
                .map(|s| {
                    let t = by_id[s.as_str().unwrap()];
                    let r = verify(
                        &bytes(&t["K1"]),
                        &bytes(&t["K2"]),
                        &bytes(&t["p"]),
                        &bytes(&t["c"]),
                    )
                    .unwrap();
                    let ok = last.is_none_or(|l| r.counter > l);
                    if ok {
                        last = Some(r.counter);
                    }
                    ok
                })
                .collect();
            let expected: Vec<bool> = t["expected_accept"]
                .as_array()
                .unwrap()
                .iter()
                .map(|b| b.as_bool().unwrap())
                .collect();
            assert_eq!(accepted, expected, "{id}");
        } else {
            let result =
                verify(&bytes(&t["K1"]), &bytes(&t["K2"]), &bytes(&t["p"]), &bytes(&t["c"]));
            let expected = if t["expected"]["picc_tag_valid"] == false {
                SunError::NotPiccData
            } else {
                SunError::BadMac
            };
            assert_eq!(result, Err(expected), "{id}");
        }
        seen += 1;
    }
    assert_eq!(seen, 4);
}

#[test]
fn a_simulated_card_reads_like_a_real_one() {
    // The simulator reproduces vector 1 byte for byte from its plaintext.
    let v = vectors();
    let t = &v["sun_vectors"][0];
    let plain: [u8; 16] = bytes(&t["expected"]["picc_data_plaintext_derived"]);
    let mut uid = [0u8; 7];
    uid.copy_from_slice(&plain[1..8]);
    let mut random = [0u8; 5];
    random.copy_from_slice(&plain[11..16]);
    let (p, c) = read(&bytes(&t["K1"]), &bytes(&t["K2"]), &uid, 3, &random);
    assert_eq!(p, bytes::<16>(&t["p"]));
    assert_eq!(c, bytes::<8>(&t["c"]));
    // And every later tap verifies with its counter.
    let keys = card_keys(&[7; 16], &uid, 1);
    for counter in [1u32, 2, 1000, 0xFF_FFFF] {
        let (p, c) = read(&keys.k[1], &keys.k[2], &uid, counter, &[counter as u8; 5]);
        assert_eq!(verify(&keys.k[1], &keys.k[2], &p, &c), Ok(SunReading { uid, counter }));
        let mut tampered = c;
        tampered[0] ^= 1;
        assert_eq!(verify(&keys.k[1], &keys.k[2], &p, &tampered), Err(SunError::BadMac));
    }
}
