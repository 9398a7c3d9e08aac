#![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]

extern crate std;
use std::string::{String, ToString};

use super::*;
use crate::envelope::{decode_text, Envelope, EnvelopeError, TextCase};
use crate::DeviceId;

const MASTER: [u8; 32] = [7; 32];
const D1: DeviceId = DeviceId([1; 16]);
const D2: DeviceId = DeviceId([2; 16]);

fn sale(counter: u64, amount: u64) -> Sale {
    Sale { device_id: D1, counter, amount, currency: Currency::parse("eur").unwrap() }
}

#[test]
fn seal_open_round_trip_and_layout() {
    let keys = TerminalKeys::derive(&MASTER, D1);
    let s = sale(42, 420);
    let sealed = s.seal(&keys).unwrap();
    assert_eq!(sealed.len(), SEALED_LEN);
    assert_eq!(sealed[0], VERSION);
    assert_eq!(Sale::peek_counter(&sealed), Ok(42));
    assert_eq!(Sale::open(D1, &keys.seal_key, &sealed), Ok(s));
    // The amount is not in the clear.
    assert!(!sealed.windows(8).any(|w| w == 420u64.to_be_bytes()));
}

#[test]
fn tampered_payloads_do_not_open() {
    let keys = TerminalKeys::derive(&MASTER, D1);
    let sealed = sale(3, 420).seal(&keys).unwrap();
    for i in 0..SEALED_LEN {
        let mut bad = sealed;
        bad[i] ^= 0x01;
        let err = Sale::open(D1, &keys.seal_key, &bad).unwrap_err();
        let want = if i == 0 {
            DeputyError::UnknownVersion(VERSION ^ 1)
        } else {
            DeputyError::NotAuthentic
        };
        assert_eq!(err, want, "byte {i}");
    }
    // Sealed for D1, presented as D2 (with D2's key, or with D1's key under D2's id).
    let other = TerminalKeys::derive(&MASTER, D2);
    assert_eq!(Sale::open(D2, &other.seal_key, &sealed), Err(DeputyError::NotAuthentic));
    assert_eq!(Sale::open(D2, &keys.seal_key, &sealed), Err(DeputyError::NotAuthentic));
    assert_eq!(
        Sale::open(D1, &keys.seal_key, &sealed[..10]),
        Err(DeputyError::WrongLength { expected: SEALED_LEN, actual: 10 })
    );
    assert!(sale(1, 1).seal(&other).is_err(), "keys of another device refuse to seal");
}

#[test]
fn bad_sales_are_refused() {
    let keys = TerminalKeys::derive(&MASTER, D1);
    assert_eq!(sale(0, 1).seal(&keys), Err(DeputyError::ZeroCounter));
    assert_eq!(sale(1, 0).seal(&keys), Err(DeputyError::ZeroAmount));
    assert_eq!(Currency::parse("eu"), Err(DeputyError::BadCurrency(*b"eu?")));
    assert_eq!(Currency::parse("e1r"), Err(DeputyError::BadCurrency(*b"E1R")));
    assert!(Currency::parse("sat").unwrap().is_sat());
}

#[test]
fn keys_are_per_device_and_per_purpose() {
    let a = TerminalKeys::derive(&MASTER, D1);
    let b = TerminalKeys::derive(&MASTER, D2);
    assert_ne!(a.seal_key, b.seal_key);
    assert_ne!(a.seal_key, a.claim_key);
    let p = preimage_for(&MASTER, &sale(1, 5));
    assert_ne!(p, a.seal_key);
    assert_ne!(p, a.claim_key);
    assert_ne!(p, preimage_for(&MASTER, &sale(2, 5)));
    assert!(std::format!("{a:?}").contains("<secret>"));
}

#[test]
fn claims_name_their_sale() {
    let keys = TerminalKeys::derive(&MASTER, D1);
    let s = sale(9, 420);
    let (claim, code) = claim_for(&keys.claim_key, &s);
    assert!(claim.verify(&keys, &s));
    assert!(!claim.verify(&keys, &sale(10, 420)), "claim for another sale");
    assert!(!claim.verify(&keys, &sale(9, 421)), "claim for another amount");
    let other = TerminalKeys::derive(&MASTER, D2);
    let s2 = Sale { device_id: D2, ..s };
    assert!(!claim.verify(&other, &s2), "claim for another terminal");
    let mut forged = claim;
    forged.tag[15] ^= 1;
    assert!(!forged.verify(&keys, &s));
    // The preimage is not a claim.
    let preimage = preimage_for(&MASTER, &s);
    assert_ne!(&preimage[..16], &claim.tag[..]);

    let text = code.to_string();
    assert_eq!(text.len(), 9);
    assert_eq!(ShortCode::parse(&text), Some(code));
    assert_eq!(ShortCode::parse(&text.replace('-', " ")), Some(code));
    assert_eq!(ShortCode::parse("1234567"), None);
    assert_eq!(ShortCode::parse("123456789"), None);
    assert_eq!(ShortCode::parse("1234567x"), None);
    assert!(code.ct_eq(&code));
}

#[test]
fn claim_envelope_round_trips() {
    let keys = TerminalKeys::derive(&MASTER, D1);
    let (claim, _) = claim_for(&keys.claim_key, &sale(77, 1));
    let env = Envelope::DeputyClaim(claim);
    let bytes = env.to_vec().unwrap();
    assert_eq!(bytes.len(), claim::DEPUTY_CLAIM_LEN);
    assert_eq!(bytes[0], 0x10);
    assert_eq!(Envelope::decode(&bytes), Ok(env));
    assert_eq!(
        Envelope::decode(&bytes[..40]),
        Err(EnvelopeError::WrongLength { type_byte: 0x10, expected: 41, actual: 40 })
    );
    let text = env.to_text().unwrap();
    assert!(text.starts_with("LNEDGE1"), "{text}");
    assert_eq!(decode_text(&text), Ok(env));
    assert_eq!(decode_text(&env.to_text_case(TextCase::Lower).unwrap()), Ok(env));
}

#[test]
fn links_are_written_without_allocation() {
    let keys = TerminalKeys::derive(&MASTER, D1);
    let sealed = sale(1, 420).seal(&keys).unwrap();
    let mut url = UrlBuf::<256>::default();
    write_sale_url(&mut url, "https://gw.example/", &D1, &sealed).unwrap();
    let expected_len = "https://gw.example/v1/deputy/".len() + 32 + 3 + base64url_len(SEALED_LEN);
    assert_eq!(url.as_str().len(), expected_len);
    assert!(url.as_str().starts_with(&std::format!("https://gw.example/v1/deputy/{D1}?p=")));
    let mut lnurl = UrlBuf::<512>::default();
    write_lnurl(&mut lnurl, url.as_str()).unwrap();
    assert!(lnurl.as_str().starts_with("LNURL1"));
    let (hrp, data) = bech32::decode(lnurl.as_str()).unwrap();
    assert!(hrp.as_str().eq_ignore_ascii_case("lnurl"));
    assert_eq!(data, url.as_str().as_bytes());
    let mut lud17 = UrlBuf::<256>::default();
    write_lud17(&mut lud17, url.as_str()).unwrap();
    assert!(lud17.as_str().starts_with("lnurlp://gw.example/v1/deputy/"));
    let mut tiny = UrlBuf::<10>::default();
    assert!(write_sale_url(&mut tiny, "https://gw.example", &D1, &sealed).is_err());
}

#[test]
fn base64url_matches_rfc4648() {
    for (input, want) in [
        (&b""[..], ""),
        (b"f", "Zg"),
        (b"fo", "Zm8"),
        (b"foo", "Zm9v"),
        (b"foob", "Zm9vYg"),
        (b"fooba", "Zm9vYmE"),
        (b"foobar", "Zm9vYmFy"),
        (&[0xfb, 0xff, 0xfe], "-__-"),
    ] {
        let mut s = String::new();
        write_base64url(&mut s, input).unwrap();
        assert_eq!(s, want);
        assert_eq!(s.len(), base64url_len(input.len()));
    }
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn every_sale_round_trips(counter in 1u64.., amount in 1u64.., code in "[A-Z]{3}", device in any::<[u8; 16]>()) {
            let device = DeviceId(device);
            let keys = TerminalKeys::derive(&MASTER, device);
            let currency = Currency::parse(&code).unwrap();
            let sale = Sale { device_id: device, counter, amount, currency };
            let sealed = sale.seal(&keys).unwrap();
            prop_assert_eq!(Sale::open(device, &keys.seal_key, &sealed), Ok(sale));
            let (claim, _) = claim_for(&keys.claim_key, &sale);
            prop_assert!(claim.verify(&keys, &sale));
            let env = Envelope::DeputyClaim(claim);
            let bytes = env.to_vec().unwrap();
            prop_assert_eq!(Envelope::decode(&bytes), Ok(env));
        }

        #[test]
        fn genuine_payloads_pass_the_fuzz_round_trip(counter in 1u64.., amount in 1u64..) {
            let device = DeviceId([0x42; 16]);
            let keys = TerminalKeys::derive(&[7; 32], device);
            let sale = Sale { device_id: device, counter, amount, currency: Currency::SAT };
            super::super::fuzz::open(&sale.seal(&keys).unwrap());
        }

        #[test]
        fn opening_arbitrary_bytes_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..80)) {
            let keys = TerminalKeys::derive(&MASTER, D1);
            prop_assert!(Sale::open(D1, &keys.seal_key, &bytes).is_err());
            let _ = Sale::peek_counter(&bytes);
            super::super::fuzz::open(&bytes);
        }
    }
}
