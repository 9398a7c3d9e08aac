//! Pool tests: real signed invoices (lightning-invoice), the BOLT 11 spec vectors, tampering,
//! truncation and garbage, the no-preimage property, and the size target.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

extern crate std;
use std::string::{String, ToString};
use std::time::Duration;
use std::vec::Vec;
use std::{format, println, vec};

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning_invoice::{
    Currency, InvoiceBuilder, PaymentSecret, RouteHint, RouteHintHop, RoutingFees,
};
use proptest::prelude::*;

use super::*;
use crate::{DeviceId, PoolId};

const POOL_KEY: [u8; 32] = [7u8; 32];
const DEVICE: DeviceId = DeviceId([0xd1; 16]);
const POOL_ID: PoolId = PoolId([0, 0, 0, 0, 0, 0, 0, 1]);

fn owner_secret() -> SecretKey {
    SecretKey::from_slice(&[0x42; 32]).unwrap()
}

fn pubkey_bytes(sk: &SecretKey) -> [u8; 33] {
    PublicKey::from_secret_key(&Secp256k1::new(), sk).serialize()
}

/// What an LDK node puts in a vending invoice.
#[derive(Clone)]
struct Spec {
    currency: Currency,
    description: &'static str,
    amount_msat: Option<u64>,
    route_hint: bool,
}

fn cola() -> Spec {
    Spec {
        currency: Currency::Regtest,
        description: "cola",
        amount_msat: Some(2_500_000),
        route_hint: false,
    }
}

fn sign_invoice(sk: &SecretKey, spec: &Spec, hash: [u8; 32], secret: [u8; 32], ts: u64) -> String {
    let secp = Secp256k1::new();
    let mut b = InvoiceBuilder::new(spec.currency.clone())
        .description(spec.description.to_string())
        .payment_hash(sha256::Hash::from_byte_array(hash))
        .payment_secret(PaymentSecret(secret))
        .duration_since_epoch(Duration::from_secs(ts))
        .min_final_cltv_expiry_delta(144)
        .expiry_time(Duration::from_secs(30 * 24 * 3600))
        .payee_pub_key(PublicKey::from_secret_key(&secp, sk))
        .basic_mpp();
    if let Some(a) = spec.amount_msat {
        b = b.amount_milli_satoshis(a);
    }
    if spec.route_hint {
        let hop = RouteHintHop {
            src_node_id: PublicKey::from_secret_key(
                &secp,
                &SecretKey::from_slice(&[0x11; 32]).unwrap(),
            ),
            short_channel_id: 0x0001_0200_0300_0004,
            fees: RoutingFees { base_msat: 1000, proportional_millionths: 100 },
            cltv_expiry_delta: 40,
            htlc_minimum_msat: None,
            htlc_maximum_msat: None,
        };
        b = b.private_route(RouteHint(vec![hop]));
    }
    b.build_signed(|h| secp.sign_ecdsa_recoverable(h, sk)).unwrap().to_string()
}

fn secret_for(product: u16, seq: u32) -> [u8; 32] {
    let mut v = vec![0x5e];
    v.extend_from_slice(&product.to_be_bytes());
    v.extend_from_slice(&seq.to_be_bytes());
    sha256::Hash::hash(&v).to_byte_array()
}

struct Built {
    bytes: Vec<u8>,
    /// (product, seq, preimage, bolt11) in pool order.
    entries: Vec<(u16, u32, [u8; 32], String)>,
}

/// A pool with `products` = (id, spec, first_seq, count); timestamps step by `ts_step_per_10`
/// every ten entries from 1_700_000_000.
fn build(network: Network, products: &[(u16, Spec, u32, u32)]) -> Built {
    let sk = owner_secret();
    let mut builder = PoolBuilder::new(POOL_ID, DEVICE, pubkey_bytes(&sk), network);
    builder.refund_url_base("https://gw.example/refund");
    let mut entries = Vec::new();
    for (id, spec, first, count) in products {
        for k in 0..*count {
            let seq = first + k;
            let preimage = derive_preimage(&POOL_KEY, &DEVICE, *id, seq);
            let ts = 1_700_000_000 + u64::from(k / 10);
            let s = sign_invoice(&sk, spec, payment_hash(&preimage), secret_for(*id, seq), ts);
            builder.add(*id, seq, &s).unwrap();
            entries.push((*id, seq, preimage, s));
        }
    }
    entries.sort_by_key(|e| e.0);
    Built { bytes: builder.finish().unwrap(), entries }
}

fn three_products() -> Built {
    let chips = Spec { description: "chips, salted", amount_msat: Some(1_500_000), ..cola() };
    let water =
        Spec { description: "water 0.5 l", amount_msat: Some(990_000), route_hint: true, ..cola() };
    build(Network::Regtest, &[(7, water, 1000, 25), (1, cola(), 0, 40), (2, chips, 17, 30)])
}

#[test]
fn round_trip_real_invoices_several_products() {
    let b = three_products();
    let pool = Pool::parse(&b.bytes).unwrap();
    assert_eq!(pool.version(), 1);
    assert_eq!(pool.pool_id(), POOL_ID);
    assert_eq!(pool.device_id(), DEVICE);
    assert_eq!(pool.owner_node_id(), pubkey_bytes(&owner_secret()));
    assert_eq!(pool.network(), Network::Regtest);
    assert_eq!(pool.refund_url_base(), "https://gw.example/refund");
    assert_eq!(pool.len(), 95);
    let products: Vec<Product<'_>> = pool.products().collect();
    assert_eq!(products.iter().map(|p| p.id).collect::<Vec<_>>(), vec![1, 2, 7]);
    assert_eq!(products[0].amount_msat, Some(2_500_000));
    assert_eq!(products[0].description, Some("cola"));
    assert_eq!(products[0].hrp, "lnbcrt25u");
    assert_eq!((products[1].first_seq, products[1].entry_count), (17, 30));
    assert_eq!(products[2].description, Some("water 0.5 l"));
    assert_eq!(products[2].amount_msat, Some(990_000));

    for (i, (product, seq, preimage, s)) in b.entries.iter().enumerate() {
        let e = pool.entry(i).unwrap();
        assert_eq!((e.index(), e.product(), e.seq()), (i, *product, *seq));
        assert_eq!(e.payment_hash(), &payment_hash(preimage));
        assert_eq!(e.payment_secret(), &secret_for(*product, *seq));
        assert_eq!(&e.bolt11(), s, "entry {i}");
        let parsed: lightning_invoice::Bolt11Invoice = s.parse().unwrap();
        assert_eq!(e.timestamp(), parsed.duration_since_epoch().as_secs());
        let found = pool.find(&payment_hash(preimage)).unwrap();
        assert_eq!(found.index(), i);
    }
    assert!(pool.entry(pool.len()).is_none());
    assert!(pool.find(&[0u8; 32]).is_none());
    assert_eq!(pool.entries().count(), pool.len());
    pool.verify_signatures().unwrap();
    Pool::parse_verified(&b.bytes, &pubkey_bytes(&owner_secret())).unwrap();
}

#[test]
fn mainnet_and_no_amount_invoices_round_trip() {
    let donation = Spec {
        currency: Currency::Bitcoin,
        amount_msat: None,
        description: "tip jar",
        route_hint: false,
    };
    let coffee =
        Spec { currency: Currency::Bitcoin, amount_msat: Some(123_456_789), ..donation.clone() };
    let b = build(Network::Bitcoin, &[(3, donation, 5, 3), (4, coffee, 0, 3)]);
    let pool = Pool::parse_verified(&b.bytes, &pubkey_bytes(&owner_secret())).unwrap();
    let p: Vec<_> = pool.products().collect();
    assert_eq!(p[0].amount_msat, None);
    assert_eq!(p[1].amount_msat, Some(123_456_789));
    for (i, e) in pool.entries().enumerate() {
        assert_eq!(e.bolt11(), b.entries[i].3);
    }
}

fn vectors() -> serde_json::Value {
    serde_json::from_str(include_str!("../../tests/data/bolt11-vectors.json")).unwrap()
}

fn network_of(code: &str) -> Network {
    match code {
        "bc" => Network::Bitcoin,
        "tb" => Network::Testnet,
        "tbs" => Network::Signet,
        "bcrt" => Network::Regtest,
        other => panic!("network {other}"),
    }
}

#[test]
fn bolt11_spec_vectors_rebuild_exactly() {
    let v = vectors();
    let owner: [u8; 33] =
        hex::decode(v["signing_key"]["pubkey"].as_str().unwrap()).unwrap().try_into().unwrap();
    let mut rebuilt = 0;
    for vec in v["valid"].as_array().unwrap() {
        let invoice = vec["invoice"].as_str().unwrap();
        let exp = &vec["expected"];
        let network = network_of(exp["network"].as_str().unwrap());
        let mut b = PoolBuilder::new(POOL_ID, DEVICE, owner, network);
        let res = b.add(9, 0, invoice);
        if invoice.bytes().any(|c| c.is_ascii_uppercase()) {
            // Impossible by design: the device writes lower case only (a display may upper-case
            // the string for a denser QR itself). The same invoice in lower case rebuilds.
            assert_eq!(res, Err(BuildError::NotLowercase { product: 9, seq: 0 }));
            continue;
        }
        if exp["signature"]["high_s"].as_bool().unwrap() {
            // Refused by design: a high-S signature recovers different keys in different
            // implementations (libsecp256k1 gives 02d013…, normalising ones 03e715…), and LDK /
            // libsecp256k1 wallets reject it on verification, so a device must not offer it.
            assert_eq!(res, Err(BuildError::HighS { product: 9, seq: 0 }));
            continue;
        }
        res.unwrap_or_else(|e| panic!("{}: {e}", vec["title"]));
        let bytes = b.finish().unwrap_or_else(|e| panic!("{}: {e}", vec["title"]));
        let pool = Pool::parse_verified(&bytes, &owner).unwrap();
        let e = pool.entry(0).unwrap();
        assert_eq!(e.bolt11(), invoice, "{}", vec["title"]);
        assert_eq!(hex::encode(e.payment_hash()), exp["payment_hash"].as_str().unwrap());
        assert_eq!(hex::encode(e.payment_secret()), exp["payment_secret"].as_str().unwrap());
        assert_eq!(e.timestamp(), exp["timestamp"].as_u64().unwrap());
        assert_eq!(
            hex::encode(e.signing_hash()),
            exp["signature"]["signing_data_sha256"].as_str().unwrap()
        );
        let p = pool.products().next().unwrap();
        assert_eq!(p.amount_msat, exp["amount_msat"].as_u64(), "{}", vec["title"]);
        assert_eq!(p.description, exp["description"].as_str(), "{}", vec["title"]);
        rebuilt += 1;
    }
    assert_eq!(rebuilt, 14, "all valid vectors but the upper-case and the high-S one rebuild");
}

#[test]
fn invalid_spec_vectors_never_panic_the_builder() {
    let v = vectors();
    let owner: [u8; 33] =
        hex::decode(v["signing_key"]["pubkey"].as_str().unwrap()).unwrap().try_into().unwrap();
    for vec in v["invalid"].as_array().unwrap() {
        let invoice = vec["invoice"].as_str().unwrap();
        for network in [Network::Bitcoin, Network::Testnet, Network::Signet, Network::Regtest] {
            let mut b = PoolBuilder::new(POOL_ID, DEVICE, owner, network);
            if b.add(1, 0, invoice).is_ok() {
                // Semantic errors (unknown required feature…) are the node's business; the
                // pool still must rebuild and verify exactly what it was given.
                let _ = b.finish();
            }
        }
    }
}

/// Position of `needle` in `hay` (unique in these tests).
fn position(hay: &[u8], needle: &[u8]) -> usize {
    hay.windows(needle.len()).position(|w| w == needle).unwrap()
}

#[test]
fn tampered_entries_are_named() {
    let b = three_products();
    let pool = Pool::parse(&b.bytes).unwrap();
    for target in [0usize, 41, 94] {
        let e = pool.entry(target).unwrap();
        for (what, field) in [
            ("signature", &e.signature()[..]),
            ("hash", &e.payment_hash()[..]),
            ("secret", &e.payment_secret()[..]),
        ] {
            let mut bad = b.bytes.clone();
            let at = position(&bad, field) + 5;
            bad[at] ^= 0x10;
            let p = Pool::parse(&bad).unwrap();
            // The owner-key check names the same entry.
            let lite = p.verify_owner_signatures().unwrap_err();
            assert!(lite.to_string().contains(&format!("entry {target}")), "{what}: {lite}");
            assert!(Pool::parse_owner_verified(&bad, &pool.owner_node_id()).is_err());
            let err = p.verify_signatures().unwrap_err();
            match err {
                PoolError::SignerMismatch { index }
                | PoolError::InvalidSignature { index }
                | PoolError::HighS { index } => {
                    assert_eq!(index, target, "{what}: {err}")
                }
                other => panic!("{what}: {other}"),
            }
            assert!(err.to_string().contains(&format!("entry {target}")), "{err}");
            assert!(Pool::parse_verified(&bad, &pool.owner_node_id()).is_err());
        }
    }
}

#[test]
fn an_altered_recovery_id_fails_recovery_but_not_the_owner_key_check() {
    let b = three_products();
    let pool = Pool::parse(&b.bytes).unwrap();
    pool.verify_owner_signatures().unwrap();
    Pool::parse_owner_verified(&b.bytes, &pool.owner_node_id()).unwrap();
    // The recovery ids follow the signatures of their section; change entry 0's.
    let last_of_first = pool.products().next().unwrap().entry_count as usize - 1;
    let recids_at = position(&b.bytes, &pool.entry(last_of_first).unwrap().signature()[..]) + 64;
    let want = pool.entry(0).unwrap().recovery_id();
    let bad = (0..8)
        .find_map(|bit| {
            let mut bad = b.bytes.clone();
            bad[recids_at] ^= 1 << bit;
            let p = Pool::parse(&bad).ok()?;
            (p.entry(0)?.recovery_id() != want).then_some(bad)
        })
        .expect("a bit of entry 0's recovery id");
    let p = Pool::parse(&bad).unwrap();
    // Recovery finds another key; the signature still verifies under the owner's (ADR 0021).
    assert!(matches!(
        p.verify_signatures(),
        Err(PoolError::SignerMismatch { index: 0 } | PoolError::InvalidSignature { index: 0 })
    ));
    p.verify_owner_signatures().unwrap();
}

#[test]
fn wrong_owner_is_refused() {
    let b = build(Network::Regtest, &[(1, cola(), 0, 3)]);
    let other = pubkey_bytes(&SecretKey::from_slice(&[0x43; 32]).unwrap());
    let err = Pool::parse_verified(&b.bytes, &other).unwrap_err();
    assert_eq!(
        err,
        PoolError::WrongOwner { expected: other, found: pubkey_bytes(&owner_secret()) }
    );
    assert!(err.to_string().starts_with("pool owner "));

    // A pool claiming the enrolled owner but signed by someone else fails verification.
    let mut forged = b.bytes.clone();
    forged[25..58].copy_from_slice(&other);
    assert_eq!(
        Pool::parse_verified(&forged, &other).unwrap_err(),
        PoolError::SignerMismatch { index: 0 }
    );

    // The builder refuses invoices of another node.
    let mut builder = PoolBuilder::new(POOL_ID, DEVICE, other, Network::Regtest);
    builder.add(1, 0, &b.entries[0].3).unwrap();
    assert!(matches!(builder.finish(), Err(BuildError::Signature { product: 1, seq: 0, .. })));
}

#[test]
fn builder_rejects_mismatches_with_typed_errors() {
    let sk = owner_secret();
    let mk = |spec: &Spec, seq: u32| {
        let pre = derive_preimage(&POOL_KEY, &DEVICE, 1, seq);
        sign_invoice(&sk, spec, payment_hash(&pre), secret_for(1, seq), 1_700_000_000)
    };
    let mut b = PoolBuilder::new(POOL_ID, DEVICE, pubkey_bytes(&sk), Network::Regtest);
    b.add(1, 0, &mk(&cola(), 0)).unwrap();
    let err = b.add(1, 1, &mk(&Spec { description: "pepsi", ..cola() }, 1)).unwrap_err();
    assert_eq!(err, BuildError::TemplateMismatch { product: 1, seq: 1, field: 'd' });
    assert!(err.to_string().contains("field `d`"), "{err}");
    let err = b.add(1, 1, &mk(&Spec { amount_msat: Some(1), ..cola() }, 1)).unwrap_err();
    assert!(matches!(err, BuildError::HrpMismatch { product: 1, seq: 1, .. }), "{err}");
    let err = b.add(1, 1, &mk(&Spec { route_hint: true, ..cola() }, 1)).unwrap_err();
    assert_eq!(err, BuildError::TemplateMismatch { product: 1, seq: 1, field: 'r' });
    let err = b.add(1, 2, &mk(&cola(), 2)).unwrap_err();
    assert_eq!(err, BuildError::NonConsecutiveSeq { product: 1, expected: 1, found: 2 });
    let err = b.add(1, 1, &mk(&cola(), 0)).unwrap_err();
    assert_eq!(err, BuildError::DuplicatePaymentHash { product: 1, seq: 1 });
    let err = b.add(2, 0, &mk(&Spec { currency: Currency::Bitcoin, ..cola() }, 5)).unwrap_err();
    assert!(matches!(err, BuildError::WrongHrp { product: 2, seq: 0, .. }), "{err}");
    let mut s = mk(&cola(), 6);
    s.pop();
    s.push('q');
    assert!(matches!(b.add(2, 0, &s), Err(BuildError::Bech32 { .. })));
    assert!(matches!(
        b.add(2, 0, "lnbcrt1qqqqqqqq"),
        Err(BuildError::Bech32 { .. } | BuildError::TooShort { .. })
    ));
    b.add(1, 1, &mk(&cola(), 1)).unwrap();
    assert_eq!(Pool::parse(&b.finish().unwrap()).unwrap().len(), 2);
    assert_eq!(
        PoolBuilder::new(POOL_ID, DEVICE, pubkey_bytes(&sk), Network::Regtest).finish(),
        Err(BuildError::Empty)
    );
}

#[test]
fn every_prefix_fails_cleanly() {
    let b = build(
        Network::Regtest,
        &[(1, cola(), 0, 4), (2, Spec { route_hint: true, ..cola() }, 0, 3)],
    );
    assert!(Pool::parse(&b.bytes).is_ok());
    for n in 0..b.bytes.len() {
        let err = Pool::parse(&b.bytes[..n]).unwrap_err();
        assert!(!err.to_string().is_empty());
    }
    let mut longer = b.bytes.clone();
    longer.push(0);
    assert_eq!(
        Pool::parse(&longer).unwrap_err(),
        PoolError::TrailingBytes { offset: b.bytes.len() }
    );
    assert_eq!(Pool::parse(&[]).unwrap_err(), PoolError::Empty);
    assert_eq!(Pool::parse(&[2]).unwrap_err(), PoolError::UnsupportedVersion(2));
}

/// Exercises every accessor of whatever parsed.
fn exercise(bytes: &[u8]) {
    if let Ok(pool) = Pool::parse(bytes) {
        let _ = pool.products().count();
        let mut s = String::new();
        for e in pool.entries() {
            s.clear();
            e.write_bolt11(&mut s).unwrap();
            let _ = pool.find(e.payment_hash());
        }
        let _ = pool.entry(usize::MAX);
        let _ = pool.verify_signatures();
    }
}

proptest! {
    #[test]
    fn random_bytes_never_panic(bytes in proptest::collection::vec(any::<u8>(), 0..600)) {
        exercise(&bytes);
        let mut v = vec![1u8];
        v.extend_from_slice(&bytes);
        exercise(&v);
    }

    #[test]
    fn mutated_pools_never_panic(edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..4)) {
        let b = build(Network::Regtest, &[(1, cola(), 0, 2), (2, Spec { route_hint: true, ..cola() }, 0, 2)]);
        let mut bytes = b.bytes;
        for (at, v) in edits {
            let n = bytes.len();
            bytes[at % n] = v;
        }
        exercise(&bytes);
    }
}

#[test]
fn the_pool_holds_no_preimage() {
    let b = three_products();
    let preimages: std::collections::BTreeSet<[u8; 32]> = b.entries.iter().map(|e| e.2).collect();
    assert_eq!(preimages.len(), b.entries.len());
    for w in b.bytes.windows(32) {
        assert!(!preimages.contains(w), "a preimage is readable from the pool");
    }
    // …while every payment hash is there (the device can check claims).
    let pool = Pool::parse(&b.bytes).unwrap();
    for (_, _, pre, _) in &b.entries {
        assert!(pool.find(&payment_hash(pre)).is_some());
    }
    // And the derivation is what PROTOCOLS.md §1 says: HMAC(pool_key, "lnedge/pool" ‖ D ‖ P ‖ i).
    use hmac::{Hmac, Mac};
    let mut mac = <Hmac<sha2::Sha256> as Mac>::new_from_slice(&POOL_KEY).unwrap();
    mac.update(b"lnedge/pool");
    mac.update(&DEVICE.0);
    mac.update(&7u16.to_be_bytes());
    mac.update(&1000u32.to_be_bytes());
    assert_eq!(
        <[u8; 32]>::from(mac.finalize().into_bytes()),
        derive_preimage(&POOL_KEY, &DEVICE, 7, 1000)
    );
}

/// (pool bytes, summed BOLT 11 characters) of an `n`-entry one-product pool.
fn sizes(network: Network, spec: Spec, n: u32) -> (usize, usize) {
    let b = build(network, &[(1, spec, 0, n)]);
    (b.bytes.len(), b.entries.iter().map(|e| e.3.len()).sum())
}

#[test]
fn size_is_at_most_40_percent_of_bolt11() {
    // Entries are 128 incompressible bytes (hash, secret, r‖s) + 2 bits of recovery id + the
    // timestamp (≈1 bit each for invoices made in a batch); the header is amortised.
    for (name, network, spec, check) in [
        ("regtest cola 2500 sat, n/d/x/c/9/s/p", Network::Regtest, cola(), true),
        (
            "mainnet cola 2500 sat, n/d/x/c/9/s/p",
            Network::Bitcoin,
            Spec { currency: Currency::Bitcoin, ..cola() },
            false,
        ),
        (
            "regtest cola + 1-hop route hint",
            Network::Regtest,
            Spec { route_hint: true, ..cola() },
            true,
        ),
    ] {
        let (small, _) = sizes(network, spec.clone(), 200);
        let (bytes, chars) = sizes(network, spec.clone(), 1000);
        let invoice_len = chars as f64 / 1000.0;
        let marginal = (bytes - small) as f64 / 800.0;
        let ratio = bytes as f64 / chars as f64;
        println!(
            "{name}: invoice {invoice_len:.0} chars; 1000-entry pool {bytes} bytes = {:.2} bytes/entry, \
             ratio {ratio:.4}; marginal {marginal:.2} bytes/entry, ratio {:.4}",
            bytes as f64 / 1000.0,
            marginal / invoice_len
        );
        if check {
            assert!(ratio <= 0.40, "{name}: ratio {ratio:.4}");
            assert!(marginal / invoice_len <= 0.40, "{name}: marginal ratio");
        }
    }
}

/// Writes small valid pools as fuzzing seeds: `cargo test -p lnedge-proto write_fuzz_seeds -- --ignored`.
#[test]
#[ignore = "writes fuzz/seeds/pool_decode"]
fn write_fuzz_seeds() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../fuzz/seeds/pool_decode");
    std::fs::create_dir_all(&dir).unwrap();
    let seeds = [
        build(Network::Regtest, &[(1, cola(), 0, 2)]),
        build(
            Network::Regtest,
            &[(1, cola(), 0, 2), (2, Spec { route_hint: true, ..cola() }, 5, 2)],
        ),
        build(
            Network::Bitcoin,
            &[(3, Spec { currency: Currency::Bitcoin, amount_msat: None, ..cola() }, 0, 3)],
        ),
    ];
    for (i, b) in seeds.iter().enumerate() {
        std::fs::write(dir.join(format!("seed{i}")), &b.bytes).unwrap();
    }
}

#[test]
fn another_verifier_sees_every_entry_and_its_refusal_names_the_entry() {
    let b = three_products();
    let pool = Pool::parse(&b.bytes).unwrap();
    let owner = k256::ecdsa::VerifyingKey::from_sec1_bytes(&pool.owner_node_id()).unwrap();
    // A verifier of our own choosing (here k256's, as a device would plug in libsecp256k1's).
    let k256_verify = |hash: &[u8; 32], sig: &[u8; 64]| {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        k256::ecdsa::Signature::from_slice(sig)
            .is_ok_and(|s| owner.verify_prehash(hash, &s).is_ok())
    };
    let mut seen = 0;
    pool.verify_owner_signatures_with(|h, s| {
        seen += 1;
        k256_verify(h, s)
    })
    .unwrap();
    assert_eq!(seen, pool.len());
    let refused = pool.entry(41).unwrap().signing_hash();
    assert_eq!(
        pool.verify_owner_signatures_with(|h, s| *h != refused && k256_verify(h, s)),
        Err(PoolError::SignerMismatch { index: 41 })
    );
}

#[test]
fn a_high_s_signature_is_refused_before_another_verifier_sees_it() {
    let b = three_products();
    let pool = Pool::parse(&b.bytes).unwrap();
    let e = pool.entry(41).unwrap();
    let sig = k256::ecdsa::Signature::from_slice(e.signature()).unwrap();
    // The same signature with S replaced by n − S: valid for any verifier that accepts both.
    let high =
        k256::ecdsa::Signature::from_scalars(sig.r().to_bytes(), (-*sig.s()).to_bytes()).unwrap();
    assert!(high.normalize_s().is_some(), "n − S of a low S is high");
    let mut bad = b.bytes.clone();
    let at = position(&bad, e.signature());
    bad[at..at + 64].copy_from_slice(&high.to_bytes());
    let p = Pool::parse(&bad).unwrap();
    assert_eq!(p.verify_owner_signatures_with(|_, _| true), Err(PoolError::HighS { index: 41 }));
    assert_eq!(p.verify_owner_signatures(), Err(PoolError::HighS { index: 41 }));
}

#[test]
fn the_low_s_byte_rule_is_k256s_rule() {
    use k256::elliptic_curve::ff::PrimeField;
    let half = k256::Scalar::from_repr(super::wire::HALF_ORDER.into()).unwrap();
    let one = k256::Scalar::ONE;
    let mut cases = vec![one, half - one, half, half + one, -one, -half];
    let mut x = k256::Scalar::from(0x9e37_79b9_7f4a_7c15u64);
    for _ in 0..200 {
        x = x * x + one;
        cases.push(x);
    }
    for s in cases {
        let sig = k256::ecdsa::Signature::from_scalars(half.to_bytes(), s.to_bytes()).unwrap();
        let bytes: [u8; 64] = sig.to_bytes().into();
        assert_eq!(
            super::wire::s_is_low(&bytes),
            sig.normalize_s().is_none(),
            "S = {:x?}",
            s.to_bytes()
        );
    }
}
