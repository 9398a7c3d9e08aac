#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

extern crate std;

use std::string::{String, ToString};
use std::vec::Vec;
use std::{format, vec};

use proptest::prelude::*;

use super::ndef::{self, Message, NdefError, Uri};
use super::*;
use crate::{DeviceId, PoolId};

fn ctx_claim() -> Claim {
    Claim {
        preimage: [0x11; 32],
        context: Some(ClaimContext {
            device_id: DeviceId([0x22; 16]),
            pool_id: PoolId([0x33; 8]),
            entry_index: 0x0102_0304,
        }),
    }
}

fn voucher() -> RefundVoucher {
    RefundVoucher {
        device_id: DeviceId([0xd0; 16]),
        pool_id: PoolId([1, 2, 3, 4, 5, 6, 7, 8]),
        entry_index: 7,
        payment_hash: [0xab; 32],
        amount_msat: 250_000,
        counter: 42,
    }
}

const POOL_SMALL: &[u8] = &[9, 8, 7];

fn pool_big() -> Vec<u8> {
    (0..300u32).map(|i| (i % 251) as u8).collect()
}

/// One envelope of every type (and both claim variants).
fn samples(big: &[u8]) -> Vec<Envelope<'_>> {
    vec![
        Envelope::Claim(Claim::bare([0x5a; 32])),
        Envelope::Claim(ctx_claim()),
        Envelope::RefundVoucher(voucher()),
        Envelope::PoolTopUp(PoolTopUp { pool: &[] }),
        Envelope::PoolTopUp(PoolTopUp { pool: POOL_SMALL }),
        Envelope::PoolTopUp(PoolTopUp { pool: big }),
        Envelope::PayerToken(
            crate::payer::tests::authorization().sign(&crate::payer::PayerKey([9; 32])),
        ),
    ]
}

// ---------------------------------------------------------------- raw bytes

#[test]
fn envelope_round_trips_every_type() {
    let big = pool_big();
    for env in samples(&big) {
        let bytes = env.to_vec().unwrap();
        assert_eq!(bytes.len(), env.encoded_len().unwrap());
        assert_eq!(bytes[0], env.type_byte());
        assert_eq!(Envelope::decode(&bytes), Ok(env));
        let mut buf = [0u8; 400];
        let n = env.encode_into(&mut buf).unwrap();
        assert_eq!(&buf[..n], &bytes[..]);
    }
}

#[test]
fn known_answer_bytes() {
    let claim = Envelope::Claim(ctx_claim()).to_vec().unwrap();
    let mut want = vec![0x02];
    want.extend([0x11; 32]);
    want.extend([0x22; 16]);
    want.extend([0x33; 8]);
    want.extend([1, 2, 3, 4]);
    assert_eq!(claim, want);

    let v = Envelope::RefundVoucher(voucher()).to_vec().unwrap();
    let want = hex::decode(concat!(
        "03",
        "d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0d0", // device id
        "0102030405060708",                 // pool id
        "00000007",                         // entry index
        "abababababababababababababababababababababababababababababababab", // payment hash
        "000000000003d090",                 // amount_msat 250 000
        "0000002a",                         // counter 42
    ))
    .unwrap();
    assert_eq!(v, want);
    assert_eq!(v.len(), REFUND_VOUCHER_LEN);

    let p = Envelope::PoolTopUp(PoolTopUp { pool: POOL_SMALL }).to_vec().unwrap();
    assert_eq!(p, [0x04, 0, 0, 0, 3, 9, 8, 7]);
}

#[test]
fn decode_errors_are_typed() {
    assert_eq!(Envelope::decode(&[]), Err(EnvelopeError::Empty));
    for t in [0x00, 0x05, 0x0f, 0x11, 0x21, 0x80, 0xff] {
        assert_eq!(Envelope::decode(&[t, 1, 2]), Err(EnvelopeError::UnknownType(t)));
    }
    assert_eq!(
        Envelope::decode(&[0x01; 34]),
        Err(EnvelopeError::WrongLength { type_byte: 1, expected: 33, actual: 34 })
    );
    assert_eq!(
        Envelope::decode(&[0x04, 0, 0, 0, 4, 1, 2, 3]),
        Err(EnvelopeError::PoolLengthMismatch { declared: 4, actual: 3 })
    );
    assert_eq!(
        Envelope::decode(&[0x04, 0, 0, 0, 1, 1, 2]),
        Err(EnvelopeError::PoolLengthMismatch { declared: 1, actual: 2 })
    );
    let e = Envelope::decode(&[0x03, 0]).unwrap_err();
    assert_eq!(e.to_string(), "envelope of type 0x03 must be 73 bytes long, got 2");
}

#[test]
fn every_prefix_and_extension_fails_cleanly() {
    let big = pool_big();
    for env in samples(&big) {
        let bytes = env.to_vec().unwrap();
        for n in 0..bytes.len() {
            assert!(Envelope::decode(&bytes[..n]).is_err(), "prefix {n} of {env:?} decoded");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert!(Envelope::decode(&longer).is_err());
    }
}

#[test]
fn encode_into_small_buffer_fails() {
    let env = Envelope::RefundVoucher(voucher());
    for n in 0..REFUND_VOUCHER_LEN {
        let mut buf = vec![0u8; n];
        assert_eq!(
            env.encode_into(&mut buf),
            Err(EnvelopeError::BufferTooSmall { needed: REFUND_VOUCHER_LEN, available: n })
        );
    }
}

#[test]
fn claim_helpers() {
    let c = ctx_claim();
    assert!(c.is_for_other_device(&DeviceId([0; 16])));
    assert!(!c.is_for_other_device(&DeviceId([0x22; 16])));
    assert!(!Claim::bare([0; 32]).is_for_other_device(&DeviceId([0; 16])));
    // SHA256 of 32 zero bytes.
    assert_eq!(
        hex::encode(Claim::bare([0; 32]).payment_hash()),
        "66687aadf862bd776c8fc18b8e9f8e20089714856ee233b3902a591d0d5f2925"
    );
}

// ---------------------------------------------------------------- text

/// BIP-350 reference implementation output for `0x01 ‖ 00 01 … 1f` under HRP `lnedge`.
const KAT_TEXT: &str = "lnedge1qyqqzqsrqszsvpcgpy9qkrqdpc83qygjzv2p29shrqv35xcur50p7mju6t3";

fn kat_claim() -> Envelope<'static> {
    let mut p = [0u8; 32];
    for (i, b) in p.iter_mut().enumerate() {
        *b = i as u8;
    }
    Envelope::Claim(Claim::bare(p))
}

#[test]
fn text_known_answer() {
    assert_eq!(kat_claim().to_text_case(TextCase::Lower).unwrap(), KAT_TEXT);
    assert_eq!(kat_claim().to_text().unwrap(), KAT_TEXT.to_uppercase());
    assert_eq!(decode_text(KAT_TEXT), Ok(kat_claim()));
    assert_eq!(decode_text(&KAT_TEXT.to_uppercase()), Ok(kat_claim()));
    assert_eq!(kat_claim().text_len(), Ok(KAT_TEXT.len()));
}

#[test]
fn text_round_trips() {
    for env in
        [Envelope::Claim(Claim::bare([0xfe; 32])), Envelope::Claim(ctx_claim()), voucher().into()]
    {
        let upper = env.to_text().unwrap();
        assert!(upper.starts_with("LNEDGE1"), "{upper}");
        assert!(upper.bytes().all(|b| b.is_ascii_uppercase() || b.is_ascii_digit()));
        let lower = env.to_text_case(TextCase::Lower).unwrap();
        assert_eq!(lower, upper.to_lowercase());
        assert_eq!(decode_text(&upper), Ok(env));
        assert_eq!(decode_text(&lower), Ok(env));
        assert_eq!(decode_text(&format!("  lnedge:{upper}\n")), Ok(env));
        assert_eq!(decode_text(&format!("LIGHTNING:{upper}")), Ok(env));
        assert!(upper.len() <= text::TEXT_MAX_LEN);
    }
}

#[test]
fn text_refuses_pool_top_ups_and_oversize() {
    let env = Envelope::PoolTopUp(PoolTopUp { pool: POOL_SMALL });
    assert_eq!(env.to_text(), Err(TextError::NfcOnly { type_byte: 0x04 }));
    // A hand-built bech32m text of a 2-byte pool top-up (BIP-350 reference code).
    assert_eq!(
        decode_text("lnedge1qsqqqqqz42assmrtyw"),
        Err(TextError::NfcOnly { type_byte: 0x04 })
    );
    let long = format!("LNEDGE1{}", "Q".repeat(text::TEXT_MAX_LEN));
    assert!(matches!(decode_text(&long), Err(TextError::TooLong { .. })));
}

#[test]
fn text_errors_say_what_was_wrong() {
    assert_eq!(decode_text(""), Err(TextError::Empty));
    assert_eq!(decode_text("  lnedge: "), Err(TextError::Empty));
    let mixed = format!("LNEDGE1{}", &KAT_TEXT[7..]);
    assert_eq!(decode_text(&mixed), Err(TextError::MixedCase));
    // One character changed.
    let mut typo = String::from(KAT_TEXT);
    typo.replace_range(20..21, if &KAT_TEXT[20..21] == "q" { "p" } else { "q" });
    assert_eq!(decode_text(&typo), Err(TextError::BadChecksum));
    // Same data, bech32 (not bech32m) checksum.
    assert_eq!(
        decode_text("lnedge1qyqqzqsrqszsvpcgpy9qkrqdpc83qygjzv2p29shrqv35xcur50p7wwvkwn"),
        Err(TextError::BadChecksum)
    );
    // Same data, HRP of a mainnet invoice.
    assert_eq!(
        decode_text("lnbc1qyqqzqsrqszsvpcgpy9qkrqdpc83qygjzv2p29shrqv35xcur50p7tqnzru"),
        Err(TextError::WrongHrp)
    );
    assert_eq!(decode_text("lnedgeqqqq"), Err(TextError::MissingSeparator));
    assert!(matches!(decode_text("lnedge1"), Err(TextError::NoData | TextError::TooShort)));
    assert_eq!(decode_text("lnedge1qqqq"), Err(TextError::TooShort));
    assert_eq!(decode_text("lnedge1qqqqbqqqqqq"), Err(TextError::InvalidChar('b')));
    // A 0x10 type (deputy claim) of the wrong length, with a valid checksum.
    assert_eq!(
        decode_text("lnedge1zqqqqqqqqqqqqqqmgvew4"),
        Err(TextError::Envelope(EnvelopeError::WrongLength {
            type_byte: 0x10,
            expected: 41,
            actual: 9
        }))
    );
    assert_eq!(
        TextError::WrongHrp.to_string(),
        "text is bech32 but not an lnedge envelope (prefix is not \"lnedge\")"
    );
}

#[test]
fn every_prefix_of_text_fails() {
    for env in [Envelope::Claim(ctx_claim()), voucher().into()] {
        let t = env.to_text().unwrap();
        for n in 0..t.len() {
            assert!(decode_text(&t[..n]).is_err(), "prefix {n} decoded");
        }
    }
}

#[test]
fn bare_hex_preimage_is_a_claim() {
    let hex64 = "00112233445566778899aabbccddeeff00112233445566778899AABBCCDDEEFF";
    let want = hex::decode(hex64).unwrap();
    match decode_text(hex64) {
        Ok(Envelope::Claim(Claim { preimage, context: None })) => {
            assert_eq!(&preimage[..], &want[..])
        }
        other => panic!("{other:?}"),
    }
    assert!(decode_text(&hex64[..63]).is_err());
    assert!(decode_text(&format!("{hex64}0")).is_err());
}

// ---------------------------------------------------------------- keypad

#[test]
fn keypad_claims() {
    let p: [u8; 32] = core::array::from_fn(|i| (i * 7) as u8);
    let code = KeypadCode(&p).to_string();
    assert_eq!(code.len(), 64 + 15);
    assert!(code.starts_with("0007-0E15-"));
    assert_eq!(parse_keypad_claim(&code), Ok(Claim::bare(p)));
    let spaced = code.replace('-', " ").to_lowercase();
    assert_eq!(parse_keypad_claim(&spaced), Ok(Claim::bare(p)));
    assert_eq!(parse_keypad_claim(&code.replace('-', "")), Ok(Claim::bare(p)));
    assert_eq!(parse_keypad_claim("12-34"), Err(KeypadError::WrongLength { digits: 4 }));
    assert_eq!(
        parse_keypad_claim(&format!("{code}0")),
        Err(KeypadError::WrongLength { digits: 65 })
    );
    assert_eq!(parse_keypad_claim("00-1G"), Err(KeypadError::InvalidChar { ch: 'G', position: 4 }));
    assert_eq!(parse_keypad_claim(""), Err(KeypadError::WrongLength { digits: 0 }));
}

// ---------------------------------------------------------------- URLs

/// `lud17_schemes` of shared/testdata/lnurl-vectors.json.
const LUD17: &[(&str, &str)] = &[
    (
        "lnurlw://card.example.com/ln?p=4E2E289D945A66BB13377A728884E867&c=E19CCB1FED8892CE",
        "https://card.example.com/ln?p=4E2E289D945A66BB13377A728884E867&c=E19CCB1FED8892CE",
    ),
    (
        "lnurlp://example.com/.well-known/lnurlp/alice",
        "https://example.com/.well-known/lnurlp/alice",
    ),
    ("keyauth://example.onion/auth?tag=login&k1=00", "http://example.onion/auth?tag=login&k1=00"),
    ("lnurlw://127.0.0.1:8080/ln?p=00&c=00", "http://127.0.0.1:8080/ln?p=00&c=00"),
];

#[test]
fn lud17_vectors() {
    for (input, url) in LUD17 {
        assert_eq!(lud17_to_url(input).as_deref(), Some(*url), "{input}");
    }
    assert_eq!(lud17_to_url("https://example.com"), None);
}

#[test]
fn refund_urls() {
    let v = voucher();
    let text = Envelope::RefundVoucher(v).to_text_case(TextCase::Lower).unwrap();
    let url = refund_url("https://gw.example/refund/abc", &v);
    assert_eq!(url, format!("https://gw.example/refund/abc?v={text}"));
    assert_eq!(
        refund_url("https://gw.example/r?d=1", &v),
        format!("https://gw.example/r?d=1&v={text}")
    );
    // The voucher comes back out of the URL's `v`.
    let param = url.split("?v=").nth(1).unwrap();
    assert_eq!(decode_text(param), Ok(Envelope::RefundVoucher(v)));

    let lnurlw = refund_lnurlw("https://gw.example/refund/abc", &v).unwrap();
    assert_eq!(lnurlw, format!("lnurlw://gw.example/refund/abc?v={text}"));
    assert_eq!(lud17_to_url(&lnurlw), Some(url));

    let onion = refund_lnurlw("http://abcdef.onion/r", &v).unwrap();
    assert_eq!(lud17_to_url(&onion), Some(refund_url("http://abcdef.onion/r", &v)));
    let local = refund_lnurlw("http://127.0.0.1:8080/r", &v).unwrap();
    assert!(local.starts_with("lnurlw://127.0.0.1:8080/r?v=lnedge1"));
    assert_eq!(refund_lnurlw("http://gw.example/r", &v), Err(Lud17Error::NotHttps));
    assert_eq!(refund_lnurlw("ftp://gw.example/r", &v), Err(Lud17Error::NotHttps));
}

// ---------------------------------------------------------------- NDEF

#[test]
fn ndef_known_answers() {
    // The NFC Forum URI RTD example: one short well-known record, code 0x04 = "https://".
    let m = Message::from_uri("https://example.com").to_vec().unwrap();
    assert_eq!(m, [&[0xd1, 0x01, 0x0c, 0x55, 0x04][..], b"example.com"].concat());
    assert_eq!(ndef::decode(&m).unwrap().uri.unwrap().to_string(), "https://example.com");

    // "https://www." is the longest matching prefix (code 0x02).
    let m = Message::from_uri("https://www.example.com").to_vec().unwrap();
    assert_eq!(m[..5], [0xd1, 0x01, 0x0c, 0x55, 0x02]);

    // A lightning: invoice has no abbreviation: code 0x00 and the full text.
    let m = Message::from_uri("lightning:lnbc1").to_vec().unwrap();
    assert_eq!(m, [&[0xd1, 0x01, 0x10, 0x55, 0x00][..], b"lightning:lnbc1"].concat());

    // One short external record: 0xD4 = MB|ME|SR|TNF 4, type length 14, payload length 33.
    let claim = Envelope::Claim(Claim::bare([0x11; 32]));
    let m = Message::from_envelope(claim).to_vec().unwrap();
    let mut want = vec![0xd4, 0x0e, 0x21];
    want.extend(b"lnedge.org:env");
    want.push(0x01);
    want.extend([0x11; 32]);
    assert_eq!(m, want);

    // URI then envelope: 0x91 = MB|SR|TNF 1, 0x54 = ME|SR|TNF 4.
    let both = Message { uri: Some(Uri::new("lnurlw://a.example/r")), envelope: Some(claim) };
    let m = both.to_vec().unwrap();
    let mut want = vec![0x91, 0x01, 0x15, 0x55, 0x00];
    want.extend(b"lnurlw://a.example/r");
    want.extend([0x54, 0x0e, 0x21]);
    want.extend(b"lnedge.org:env");
    want.push(0x01);
    want.extend([0x11; 32]);
    assert_eq!(m, want);
    assert_eq!(ndef::decode(&m), Ok(both));

    // A 300-byte pool: a normal (long) record, 0xC4 = MB|ME|TNF 4, 4-byte length 305.
    let big = pool_big();
    let m = Message::from_envelope(PoolTopUp { pool: &big }.into()).to_vec().unwrap();
    assert_eq!(m[..6], [0xc4, 0x0e, 0x00, 0x00, 0x01, 0x31]);
    assert_eq!(m[20..25], [0x04, 0x00, 0x00, 0x01, 0x2c]);
}

fn ndef_samples(big: &[u8]) -> Vec<Message<'_>> {
    let mut out = vec![
        Message::from_uri(
            "lightning:lnbc2500u1pvjluezpp5qqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqqqsyqcyq5rqwzqfqypq",
        ),
        Message::from_uri("https://www.example.com/ä"),
    ];
    for env in samples(big) {
        out.push(Message::from_envelope(env));
        out.push(Message { uri: Some(Uri::new("lnurlw://gw.example/r?v=x")), envelope: Some(env) });
    }
    out
}

#[test]
fn ndef_round_trips_and_prefixes_fail() {
    let big = pool_big();
    for msg in ndef_samples(&big) {
        let bytes = msg.to_vec().unwrap();
        assert_eq!(ndef::decode(&bytes), Ok(msg));
        let mut buf = [0u8; 512];
        let n = msg.encode_into(&mut buf).unwrap();
        assert_eq!(&buf[..n], &bytes[..]);
        for k in 0..bytes.len() {
            assert!(ndef::decode(&bytes[..k]).is_err(), "prefix {k} decoded");
        }
        let mut longer = bytes.clone();
        longer.push(0);
        assert_eq!(ndef::decode(&longer), Err(NdefError::TrailingBytes { count: 1 }));
        assert!(matches!(
            msg.encode_into(&mut buf[..bytes.len() - 1]),
            Err(NdefError::BufferTooSmall { .. })
        ));
    }
    let empty = Message { uri: None, envelope: None };
    assert_eq!(empty.to_vec(), Err(NdefError::EmptyMessage));
}

#[test]
fn ndef_voucher_for_wallets_and_apps() {
    let v = voucher();
    let link = refund_lnurlw("https://gw.example/refund", &v).unwrap();
    let msg = Message { uri: Some(Uri::new(&link)), envelope: Some(v.into()) };
    let bytes = msg.to_vec().unwrap();
    let got = ndef::decode(&bytes).unwrap();
    assert_eq!(got.envelope, Some(Envelope::RefundVoucher(v)));
    let uri = got.uri.unwrap();
    assert!(uri.eq_str(&link));
    assert_eq!(uri.lightning_scheme(), Some("lnurlw:"));
}

#[test]
fn ndef_decoder_walks_and_checks_records() {
    let claim_rec = |header: u8| {
        let mut r = vec![header, 0x0e, 0x21];
        r.extend(b"LNEDGE.ORG:ENV"); // external type names are case-insensitive
        r.push(0x01);
        r.extend([0x11; 32]);
        r
    };
    // An Android application record first (skipped), then the envelope; with an id (IL).
    let mut m = vec![0x94, 0x0f, 0x03];
    m.extend(b"android.com:pkg");
    m.extend(b"org");
    let mut with_id = vec![0x5c, 0x0e, 0x21, 0x02];
    with_id.extend(b"lnedge.org:env");
    with_id.extend(b"id");
    with_id.push(0x01);
    with_id.extend([0x11; 32]);
    m.extend(&with_id);
    let got = ndef::decode(&m).unwrap();
    assert_eq!(got.envelope, Some(Envelope::Claim(Claim::bare([0x11; 32]))));
    assert_eq!(got.uri, None);

    let records: Vec<_> = ndef::records(&m).collect::<Result<_, _>>().unwrap();
    assert_eq!(records.len(), 2);
    assert_eq!(records[1].id, b"id");
    assert_eq!(records[0].tnf(), ndef::TNF_EXTERNAL);

    assert!(ndef::decode(&claim_rec(0xd4)).is_ok());
    assert_eq!(ndef::decode(&claim_rec(0xf4)), Err(NdefError::ChunkedRecord));
    assert_eq!(ndef::decode(&claim_rec(0x54)), Err(NdefError::MissingMessageBegin));
    assert_eq!(ndef::decode(&claim_rec(0x94)), Err(NdefError::MissingMessageEnd));
    assert_eq!(ndef::decode(&claim_rec(0xd7)), Err(NdefError::ReservedTnf));
    assert_eq!(ndef::decode(&claim_rec(0xd6)), Err(NdefError::ChunkedRecord));
    assert_eq!(ndef::decode(&[]), Err(NdefError::Empty));
    let mut two_mb = claim_rec(0x94);
    two_mb.extend(claim_rec(0xd4));
    assert_eq!(ndef::decode(&two_mb), Err(NdefError::UnexpectedMessageBegin));
    let mut dup = claim_rec(0x94);
    dup.extend(claim_rec(0x54));
    assert_eq!(ndef::decode(&dup), Err(NdefError::DuplicateRecord));
    // The empty NDEF message (what a blank tag holds).
    assert_eq!(ndef::decode(&[0xd0, 0, 0]), Err(NdefError::NoLnedgeRecord));
    assert_eq!(ndef::decode(&[0xd0, 1, 0, b'x']), Err(NdefError::MalformedEmptyRecord));
    assert_eq!(ndef::decode(&[0xd1, 1, 0, b'U']), Err(NdefError::EmptyUriRecord));
    assert_eq!(ndef::decode(&[0xd1, 1, 2, b'U', 0x24, b'x']), Err(NdefError::UnknownUriCode(0x24)));
    assert_eq!(ndef::decode(&[0xd1, 1, 2, b'U', 0x00, 0xff]), Err(NdefError::UriNotUtf8));
    let mut bad_env = vec![0xd4, 0x0e, 0x02];
    bad_env.extend(b"lnedge.org:env");
    bad_env.extend([0x7f, 0x00]);
    assert_eq!(ndef::decode(&bad_env), Err(NdefError::Envelope(EnvelopeError::UnknownType(0x7f))));
    // A long record whose 4-byte length runs past the end.
    assert_eq!(ndef::decode(&[0xc4, 0x0e, 0xff, 0xff, 0xff, 0xff]), Err(NdefError::Truncated));
}

#[test]
fn uri_abbreviation() {
    assert_eq!(Uri::new("https://www.x").code(), 0x02);
    assert_eq!(Uri::new("http://x").code(), 0x03);
    assert_eq!(Uri::new("urn:epc:id:x").code(), 0x1e);
    assert_eq!(Uri::new("lightning:lnbc").code(), 0x00);
    assert_eq!(Uri::new("HTTPS://x").code(), 0x00);
    assert_eq!(Uri::new("https://x"), Uri::from_parts(0, "https://x").unwrap());
    assert_eq!(Uri::new("LIGHTNING:x").lightning_scheme(), Some("lightning:"));
    assert_eq!(Uri::new("https://x").lightning_scheme(), None);
}

// ---------------------------------------------------------------- property tests

/// (kind, hash/preimage, device id, pool id, index, amount, pool bytes).
type Parts = (u8, [u8; 32], [u8; 16], [u8; 8], u32, u64, Vec<u8>);

fn arb_envelope() -> impl Strategy<Value = Parts> {
    (
        0u8..4,
        any::<[u8; 32]>(),
        any::<[u8; 16]>(),
        any::<[u8; 8]>(),
        any::<u32>(),
        any::<u64>(),
        proptest::collection::vec(any::<u8>(), 0..600),
    )
}

fn build<'a>((kind, h, d, p, i, a, pool): &'a Parts) -> Envelope<'a> {
    let ctx = ClaimContext { device_id: DeviceId(*d), pool_id: PoolId(*p), entry_index: *i };
    match kind {
        0 => Claim::bare(*h).into(),
        1 => Claim { preimage: *h, context: Some(ctx) }.into(),
        2 => RefundVoucher {
            device_id: DeviceId(*d),
            pool_id: PoolId(*p),
            entry_index: *i,
            payment_hash: *h,
            amount_msat: *a,
            counter: i.rotate_left(7),
        }
        .into(),
        _ => PoolTopUp { pool }.into(),
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..700)) {
        let _ = Envelope::decode(&bytes);
        let _ = ndef::decode(&bytes);
        fuzz::envelope(&bytes);
        fuzz::ndef(&bytes);
        fuzz::text(&bytes);
        let _ = ndef::records(&bytes).count();
    }

    #[test]
    fn random_strings_never_panic(s in ".{0,300}") {
        let _ = decode_text(&s);
        let _ = parse_keypad_claim(&s);
        let _ = lud17_to_url(&s);
        fuzz::text(s.as_bytes());
    }

    #[test]
    fn bech32ish_strings_never_panic(s in "(lnedge1|LNEDGE1|lnedge:)?[qpzry9x8gf2tvdw0s3jn54khce6mua7l1]{0,220}") {
        let _ = decode_text(&s);
        fuzz::text(s.as_bytes());
    }

    #[test]
    fn mutated_valid_encodings_never_panic(
        parts in arb_envelope(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4),
    ) {
        let env = build(&parts);
        let msg = Message { uri: Some(Uri::new("lnurlw://gw.example/r")), envelope: Some(env) };
        for mut bytes in [env.to_vec().unwrap(), msg.to_vec().unwrap()] {
            for (i, b) in &edits {
                let i = i % bytes.len();
                bytes[i] = *b;
            }
            fuzz::envelope(&bytes);
            fuzz::ndef(&bytes);
        }
        if let Ok(t) = env.to_text() {
            let mut t = t.into_bytes();
            for (i, b) in &edits {
                let i = i % t.len();
                t[i] = b"QPZRY9X8GF2TVDW0S3JN54KHCE6MUA7L1qp"[usize::from(*b) % 35];
            }
            fuzz::text(&t);
        }
    }

    #[test]
    fn every_encoding_round_trips(parts in arb_envelope()) {
        let env = build(&parts);
        let bytes = env.to_vec().unwrap();
        prop_assert_eq!(Envelope::decode(&bytes), Ok(env));
        let msg = Message { uri: Some(Uri::new("lightning:lnbc1x")), envelope: Some(env) };
        let nfc = msg.to_vec().unwrap();
        prop_assert_eq!(ndef::decode(&nfc), Ok(msg));
        match env {
            Envelope::PoolTopUp(_) => {
                prop_assert_eq!(env.to_text(), Err(TextError::NfcOnly { type_byte: 4 }));
            }
            _ => {
                prop_assert_eq!(decode_text(&env.to_text().unwrap()), Ok(env));
                prop_assert_eq!(decode_text(&env.to_text_case(TextCase::Lower).unwrap()), Ok(env));
            }
        }
        if let Envelope::Claim(c) = env {
            let code = KeypadCode(&c.preimage).to_string();
            prop_assert_eq!(parse_keypad_claim(&code), Ok(Claim::bare(c.preimage)));
            prop_assert_eq!(decode_text(&hex::encode(c.preimage)), Ok(Claim::bare(c.preimage).into()));
        }
        if let Envelope::RefundVoucher(v) = env {
            let url = refund_url("https://gw.example/r", &v);
            let param = url.split("?v=").nth(1).unwrap();
            prop_assert_eq!(decode_text(param), Ok(env));
        }
    }
}

#[test]
fn lud17_is_only_written_where_every_wallet_maps_it_back() {
    use crate::envelope::lud17_round_trips;
    assert!(lud17_round_trips("https://gw.example/v1/deputy/ab?p=x"));
    assert!(lud17_round_trips("HTTPS://gw.example/"));
    assert!(lud17_round_trips("http://abcdefghij.onion/r"));
    assert!(!lud17_round_trips("http://127.0.0.1:8080/r"), "clients map it to https");
    assert!(!lud17_round_trips("http://gw.lan/r"));
    assert!(!lud17_round_trips("/v1/auth/lnurl"), "a relative URL is no link at all");
    assert!(!lud17_round_trips(""));
}
