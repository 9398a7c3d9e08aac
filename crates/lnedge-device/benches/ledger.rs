//! Cost of one ledger transition: the pure state machine, and `PersistentLedger::claim` on a
//! real file (one byte `pwrite` + `fdatasync` + read-back).
//!
//! `cargo bench -p lnedge-device --bench ledger`

#![allow(missing_docs)]

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion};
use lnedge_device::PersistentLedger;
use lnedge_proto::ledger::{new_image, Ledger};
use lnedge_proto::PoolId;

const POOL: PoolId = PoolId([0xBE, 0xAC, 0, 0, 0, 0, 0, 1]);

fn entries_for(iters: u64) -> u32 {
    u32::try_from(iters).expect("fewer than 2^32 iterations")
}

fn pure(c: &mut Criterion) {
    let mut g = c.benchmark_group("pure");
    let ledger = Ledger::open(new_image(POOL, 4096).unwrap()).unwrap();
    let mut i = 0u32;
    g.bench_function("claim_changeset", |b| {
        b.iter(|| {
            i = (i + 1) % 4096;
            black_box(&ledger).claim(black_box(i)).unwrap()
        })
    });
    g.bench_function("claim_and_apply", |b| {
        b.iter_custom(|iters| {
            let n = entries_for(iters);
            let mut l = Ledger::open(new_image(POOL, n).unwrap()).unwrap();
            let start = Instant::now();
            for i in 0..n {
                let change = l.claim(black_box(i)).unwrap();
                l.apply(&change).unwrap();
            }
            start.elapsed()
        })
    });
    g.finish();
}

fn file(c: &mut Criterion) {
    let dir = tempfile::tempdir_in(
        std::env::var_os("LEDGER_BENCH_DIR").unwrap_or_else(|| std::env::temp_dir().into()),
    )
    .unwrap();
    let mut g = c.benchmark_group("file");
    g.sample_size(50).measurement_time(Duration::from_secs(10));
    let mut run = 0u32;
    g.bench_function("persistent_claim_fsync", |b| {
        b.iter_custom(|iters| {
            run += 1;
            let n = entries_for(iters);
            let path = dir.path().join(format!("ledger-{run}.flash"));
            let mut l = PersistentLedger::open(&path, POOL, n).unwrap();
            let start = Instant::now();
            for i in 0..n {
                l.claim(black_box(i)).unwrap();
            }
            let elapsed = start.elapsed();
            drop(l);
            std::fs::remove_file(&path).unwrap();
            elapsed
        })
    });
    g.finish();
}

criterion_group!(benches, pure, file);
criterion_main!(benches);
