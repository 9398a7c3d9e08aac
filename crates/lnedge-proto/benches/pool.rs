//! Invoice pool benchmarks: parse / find / write_bolt11 / verify_signatures of a 10 000-entry
//! pool of LDK-style regtest invoices.
#![allow(missing_docs, clippy::unwrap_used, clippy::expect_used, clippy::arithmetic_side_effects)]

use std::hint::black_box;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use criterion::{criterion_group, criterion_main, Criterion};
use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use lnedge_proto::pool::{derive_preimage, payment_hash, Network, Pool, PoolBuilder};
use lnedge_proto::{DeviceId, PoolId};

const ENTRIES: u32 = 10_000;

fn pool_bytes() -> Vec<u8> {
    let secp = Secp256k1::new();
    let sk = SecretKey::from_slice(&[0x42; 32]).unwrap();
    let pk = PublicKey::from_secret_key(&secp, &sk);
    let device = DeviceId([0xd1; 16]);
    let mut b = PoolBuilder::new(PoolId([1; 8]), device, pk.serialize(), Network::Regtest);
    for seq in 0..ENTRIES {
        let product = (seq % 4) as u16;
        let hash = payment_hash(&derive_preimage(&[7; 32], &device, product, seq));
        let inv = InvoiceBuilder::new(Currency::Regtest)
            .description(format!("product {product}"))
            .amount_milli_satoshis(2_500_000)
            .payment_hash(sha256::Hash::from_byte_array(hash))
            .payment_secret(PaymentSecret(sha256::Hash::hash(&seq.to_be_bytes()).to_byte_array()))
            .duration_since_epoch(Duration::from_secs(1_700_000_000 + u64::from(seq / 100)))
            .min_final_cltv_expiry_delta(144)
            .expiry_time(Duration::from_secs(30 * 24 * 3600))
            .payee_pub_key(pk)
            .basic_mpp()
            .build_signed(|h| secp.sign_ecdsa_recoverable(h, &sk))
            .unwrap()
            .to_string();
        b.add(product, seq / 4, &inv).unwrap();
    }
    b.finish().unwrap()
}

fn benches(c: &mut Criterion) {
    let bytes = pool_bytes();
    let pool = Pool::parse(&bytes).unwrap();
    assert_eq!(pool.len(), ENTRIES as usize);
    let last_hash = *pool.entry(pool.len() - 1).unwrap().payment_hash();
    let entry = pool.entry(5_000).unwrap();

    c.bench_function("parse 10k-entry pool", |b| {
        b.iter(|| Pool::parse(black_box(&bytes)).unwrap())
    });
    c.bench_function("find (last hash of 10k)", |b| {
        b.iter(|| pool.find(black_box(&last_hash)).unwrap())
    });
    c.bench_function("entry(5000)", |b| b.iter(|| pool.entry(black_box(5_000)).unwrap()));
    let mut s = String::with_capacity(400);
    c.bench_function("write_bolt11 (one entry)", |b| {
        b.iter(|| {
            s.clear();
            black_box(&entry).write_bolt11(&mut s).unwrap();
        })
    });
    let mut g = c.benchmark_group("verify");
    g.sample_size(10);
    g.bench_function("verify_signatures 10k-entry pool", |b| {
        b.iter(|| pool.verify_signatures().unwrap())
    });
    g.finish();
}

criterion_group!(pool_benches, benches);
criterion_main!(pool_benches);
