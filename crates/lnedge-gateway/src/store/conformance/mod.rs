//! The conformance suite every [`GatewayStore`] implementation must pass.
//!
//! Each scenario is a `pub async fn` taking the store; [`run_all`] runs them in turn. They panic
//! with a message naming the scenario and the store on the first failure (they are for tests).
//! Every scenario makes fresh random ids, so the suite can run any number of times against one
//! database that other runs (or other data) share.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

pub mod deputy;
pub mod jobs;
pub mod operators;
pub mod payers;
pub mod rate;
pub mod refunds;
pub mod relay;
pub mod sync_batch;
pub mod sync_reads;

use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};

use lnedge_wire::sync::SyncReport;

use super::report::{collect_report_records, ReportRecord};
use super::{
    EntryChange, EntryRecord, FiatQuote, GatewayStore, PaymentRecord, PoolRecord, Price,
    ProductRecord, StoreError, SyncCommit,
};
use crate::sync::{apply_reports, SyncError, SyncOutcome};

/// Runs every scenario against `store`.
pub async fn run_all(store: &dyn GatewayStore) {
    devices_and_products(store).await;
    duplicate_and_unknown_device(store).await;
    seq_allocation(store).await;
    pools_and_entries(store).await;
    sync_forward_and_idempotent(store).await;
    sync_replay(store).await;
    sync_regressions(store).await;
    sync_all_or_nothing(store).await;
    sync_commit_compares_and_swaps(store).await;
    sync_reads::run_all(store).await;
    sync_batch::run_all(store).await;
    // After the syncs, so that counters other than 0 are compared too.
    entries_by_device_in_report_order(store).await;
    payments(store).await;
    refunds::run_all(store).await;
    deputy::run_all(store).await;
    relay::run_all(store).await;
    rate::run_all(store).await;
    jobs::run_all(store).await;
    payers::run_all(store).await;
    operators::run_all(store).await;
    // Last: over everything the scenarios before left (payments, refunds, deputy sales, payers).
    report_records_in_report_order(store).await;
}

async fn report_records(store: &dyn GatewayStore, streamed: bool) -> Vec<ReportRecord> {
    let (out, mut records) = tokio::sync::mpsc::channel(4);
    let reading = async move {
        let mut all = Vec::new();
        while let Some(record) = records.recv().await {
            all.push(record);
        }
        all
    };
    let sending = async move {
        if streamed {
            store.report_records(out).await
        } else {
            collect_report_records(store, &out).await
        }
    };
    let (sent, all) = tokio::join!(sending, reading);
    sent.unwrap_or_else(|e| panic!("[{}] report records: {e}", store.name()));
    all
}

/// The payment of `entry` at `paid_at`, quoted in `currency` at `rate_per_btc` (source "fixed").
fn payment_of(
    entry: &EntryRecord,
    paid_at: u64,
    currency: &str,
    rate_per_btc: f64,
) -> PaymentRecord {
    PaymentRecord {
        payment_hash: entry.payment_hash,
        amount_msat: entry.amount_msat,
        paid_at,
        quote: Some(FiatQuote { currency: currency.into(), rate_per_btc, source: "fixed".into() }),
    }
}

/// `report_records` (one query in SQLite and PostgreSQL) sends exactly what the five queries of the default
/// read, in the same order; a reader that stops early stops it without an error.
pub async fn report_records_in_report_order(store: &dyn GatewayStore) {
    let s = store.name();
    // A paid entry (with a quote) and an unpaid one of their own.
    let (_, _, entries) = device_with_pool(store, 2).await;
    let paid = payment_of(&entries[0], 1_700_000_500, "EUR", 61_000.0);
    assert!(store.record_payment(&paid).await.unwrap(), "[{s}] recording the sample payment");
    let refund = refunds::sample_refund(1_700_000_600, 1_800_000_000);
    let refund = super::refunds::RefundRecord { payment_hash: paid.payment_hash, ..refund };
    store.open_refund(&refund).await.unwrap_or_else(|e| panic!("[{s}] opening a refund: {e}"));
    let streamed = report_records(store, true).await;
    let collected = report_records(store, false).await;
    type Is = fn(&ReportRecord) -> bool;
    let kinds: [(&str, Is); 5] = [
        ("a paid entry", |r| matches!(r, ReportRecord::Entry { payment: Some(_), .. })),
        ("an unpaid entry", |r| matches!(r, ReportRecord::Entry { payment: None, .. })),
        ("a refunded entry", |r| matches!(r, ReportRecord::Entry { refund: Some(_), .. })),
        ("a deputy sale", |r| matches!(r, ReportRecord::Deputy(_))),
        ("a payer's payment", |r| matches!(r, ReportRecord::Payer(_))),
    ];
    for (kind, is) in kinds {
        assert!(streamed.iter().any(is), "[{s}] the sample has {kind}");
    }
    assert_eq!(streamed.len(), collected.len(), "[{s}] as many records");
    assert!(streamed == collected, "[{s}] the same records in the same order");
    let (out, mut records) = tokio::sync::mpsc::channel(1);
    let first = async move { records.recv().await };
    let (sent, first) = tokio::join!(store.report_records(out), first);
    assert!(sent.is_ok() && first.is_some(), "[{s}] a reader that stops early stops the read");
}

/// A fresh random device id.
pub fn new_device_id() -> DeviceId {
    DeviceId(rand::random())
}

/// A fresh random pool id.
pub fn new_pool_id() -> PoolId {
    PoolId(rand::random())
}

/// Two sample products: one priced in msat, one in euro cents.
pub fn sample_products() -> Vec<ProductRecord> {
    vec![
        ProductRecord { id: 1, description: "Coffee".into(), price: Price::Msat(150_000) },
        ProductRecord {
            id: 7,
            description: "Sparkling water".into(),
            price: Price::Fiat { currency: "EUR".into(), amount_minor: 250 },
        },
    ]
}

/// Enrols a fresh device with [`sample_products`] and returns its id.
pub async fn enrol(store: &dyn GatewayStore) -> DeviceId {
    let id = new_device_id();
    store
        .insert_device(id, "Lobby vending machine", &sample_products(), 1_700_000_000)
        .await
        .unwrap_or_else(|e| panic!("[{}] enrolling {id}: {e}", store.name()));
    id
}

/// A pool of `n` entries for `device` (product 1, seqs from 0, all `Unused`), with fresh random
/// payment hashes.
pub fn sample_pool(device: DeviceId, created_at: u64, n: u32) -> (PoolRecord, Vec<EntryRecord>) {
    let id = new_pool_id();
    let pool = PoolRecord {
        id,
        device_id: device,
        created_at,
        expires_at: created_at + 30 * 24 * 3600,
        bytes: (0..64u8).collect(),
    };
    let entries = (0..n)
        .map(|index| EntryRecord {
            pool_id: id,
            index,
            product: if index % 2 == 0 { 1 } else { 7 },
            seq: index,
            payment_hash: rand::random(),
            amount_msat: 150_000 + u64::from(index),
            state: EntryState::Unused,
        })
        .collect();
    (pool, entries)
}

/// Enrols a device and gives it a pool of `n` entries; returns the device, pool and entries.
pub async fn device_with_pool(
    store: &dyn GatewayStore,
    n: u32,
) -> (DeviceId, PoolRecord, Vec<EntryRecord>) {
    let device = enrol(store).await;
    let (pool, entries) = sample_pool(device, 1_700_000_100, n);
    store
        .insert_pool(&pool, &entries)
        .await
        .unwrap_or_else(|e| panic!("[{}] inserting pool {}: {e}", store.name(), pool.id));
    (device, pool, entries)
}

fn report(pool: PoolId, index: u32, state: EntryState) -> SyncReport {
    SyncReport { pool_id: pool, index, state }
}

async fn states(store: &dyn GatewayStore, pool: PoolId) -> Vec<EntryState> {
    store.entries(pool).await.unwrap().into_iter().map(|e| e.state).collect()
}

/// Enrol, read back, list, disable and re-price devices (msat and fiat prices).
pub async fn devices_and_products(store: &dyn GatewayStore) {
    let s = store.name();
    let a = new_device_id();
    let b = new_device_id();
    store.insert_device(a, "A", &sample_products(), 100).await.unwrap();
    store.insert_device(b, "B", &[], 200).await.unwrap();

    let got = store.device(a).await.unwrap().unwrap_or_else(|| panic!("[{s}] device {a} missing"));
    assert_eq!(got.id, a, "[{s}] device id");
    assert_eq!(got.name, "A", "[{s}] device name");
    assert!(got.enabled, "[{s}] a new device is enabled");
    assert_eq!(got.products, sample_products(), "[{s}] products round-trip, in order");
    assert_eq!(got.last_sync_counter, 0, "[{s}] never synced");
    assert_eq!(got.created_at, 100, "[{s}] created_at");
    assert!(store.device(new_device_id()).await.unwrap().is_none(), "[{s}] unknown device is None");

    let all = store.devices().await.unwrap();
    assert!(all.windows(2).all(|w| w[0].id < w[1].id), "[{s}] devices() ordered by id");
    let ours: Vec<_> = all.iter().filter(|d| d.id == a || d.id == b).collect();
    assert_eq!(ours.len(), 2, "[{s}] devices() lists both new devices");
    assert!(ours.iter().any(|d| d.id == b && d.products.is_empty()), "[{s}] B has no products");
    assert!(
        ours.iter().any(|d| d.id == a && d.products == sample_products()),
        "[{s}] devices() gives A its products, in order"
    );

    store.set_device_enabled(a, false).await.unwrap();
    assert!(!store.device(a).await.unwrap().unwrap().enabled, "[{s}] disabled");
    store.set_device_enabled(a, true).await.unwrap();
    assert!(store.device(a).await.unwrap().unwrap().enabled, "[{s}] enabled again");

    let new_products = vec![
        ProductRecord {
            id: 3,
            description: "Chocolate".into(),
            price: Price::Fiat { currency: "CHF".into(), amount_minor: 320 },
        },
        ProductRecord { id: 2, description: "Tea".into(), price: Price::Msat(99_000) },
    ];
    store.set_products(a, &new_products).await.unwrap();
    assert_eq!(
        store.device(a).await.unwrap().unwrap().products,
        new_products,
        "[{s}] set_products replaces the list"
    );
    store.set_products(b, &[]).await.unwrap();
}

/// A second enrolment of one id is `DuplicateDevice`; updates of an unknown one `UnknownDevice`.
pub async fn duplicate_and_unknown_device(store: &dyn GatewayStore) {
    let s = store.name();
    let a = enrol(store).await;
    match store.insert_device(a, "again", &[], 5).await {
        Err(StoreError::DuplicateDevice(id)) => assert_eq!(id, a, "[{s}] duplicate names the id"),
        other => panic!("[{s}] duplicate enrolment: expected DuplicateDevice, got {other:?}"),
    }
    assert_eq!(
        store.device(a).await.unwrap().unwrap().name,
        "Lobby vending machine",
        "[{s}] a refused duplicate changes nothing"
    );

    let ghost = new_device_id();
    match store.set_device_enabled(ghost, false).await {
        Err(StoreError::UnknownDevice(id)) => assert_eq!(id, ghost),
        other => panic!("[{s}] set_device_enabled(unknown): expected UnknownDevice, got {other:?}"),
    }
    match store.set_products(ghost, &sample_products()).await {
        Err(StoreError::UnknownDevice(id)) => assert_eq!(id, ghost),
        other => panic!("[{s}] set_products(unknown): expected UnknownDevice, got {other:?}"),
    }
    match store.allocate_seqs(ghost, 1, 10).await {
        Err(StoreError::UnknownDevice(id)) => assert_eq!(id, ghost),
        other => panic!("[{s}] allocate_seqs(unknown): expected UnknownDevice, got {other:?}"),
    }
    match apply_reports(store, ghost, 1, &[]).await {
        Err(SyncError::UnknownDevice(id)) => assert_eq!(id, ghost),
        other => panic!("[{s}] sync of an unknown device: expected UnknownDevice, got {other:?}"),
    }
    let commit = SyncCommit {
        device: ghost,
        last_counter: 0,
        counter: 1,
        synced_at: 1_000,
        changes: vec![],
    };
    match store.commit_sync(&commit).await {
        Err(StoreError::UnknownDevice(id)) => assert_eq!(id, ghost),
        other => panic!("[{s}] commit_sync(unknown): expected UnknownDevice, got {other:?}"),
    }
    let (pool, entries) = sample_pool(ghost, 1, 2);
    match store.insert_pool(&pool, &entries).await {
        Err(StoreError::UnknownDevice(id)) => assert_eq!(id, ghost),
        other => panic!("[{s}] insert_pool(unknown device): expected UnknownDevice, got {other:?}"),
    }
    assert!(store.device(ghost).await.unwrap().is_none(), "[{s}] nothing was created");
}

/// Allocations are consecutive, per (device, product), and never overlap.
pub async fn seq_allocation(store: &dyn GatewayStore) {
    let s = store.name();
    let a = enrol(store).await;
    let b = enrol(store).await;
    let first = store.allocate_seqs(a, 1, 10).await.unwrap();
    assert_eq!(first, 0, "[{s}] the first allocation starts at 0");
    assert_eq!(store.allocate_seqs(a, 1, 5).await.unwrap(), 10, "[{s}] then 10");
    assert_eq!(store.allocate_seqs(a, 1, 1).await.unwrap(), 15, "[{s}] then 15");
    assert_eq!(store.allocate_seqs(a, 7, 3).await.unwrap(), 0, "[{s}] per product");
    assert_eq!(store.allocate_seqs(b, 1, 3).await.unwrap(), 0, "[{s}] per device");
    assert_eq!(store.allocate_seqs(a, 1, 0).await.unwrap(), 16, "[{s}] count 0 reserves nothing");
    assert_eq!(store.allocate_seqs(a, 1, 4).await.unwrap(), 16, "[{s}] …so the next starts there");
}

/// A pool and its entries round-trip; lookups by hash; a second insert is `DuplicatePool`.
pub async fn pools_and_entries(store: &dyn GatewayStore) {
    let s = store.name();
    let device = enrol(store).await;
    let (older, older_entries) = sample_pool(device, 1_000, 3);
    let (newer, newer_entries) = sample_pool(device, 2_000, 6);
    // Inserted newest first: pools() orders by time, not insertion.
    store.insert_pool(&newer, &newer_entries).await.unwrap();
    store.insert_pool(&older, &older_entries).await.unwrap();

    let pools = store.pools(device).await.unwrap();
    assert_eq!(pools, vec![older.clone(), newer.clone()], "[{s}] pools(), oldest first");
    assert!(store.pools(new_device_id()).await.unwrap().is_empty(), "[{s}] no pools of a stranger");
    assert_eq!(store.entries(newer.id).await.unwrap(), newer_entries, "[{s}] entries by index");
    assert!(store.entries(new_pool_id()).await.unwrap().is_empty(), "[{s}] unknown pool: none");

    let e = &newer_entries[4];
    assert_eq!(
        store.entry_by_hash(&e.payment_hash).await.unwrap().as_ref(),
        Some(e),
        "[{s}] entry_by_hash"
    );
    assert!(store.entry_by_hash(&rand::random()).await.unwrap().is_none(), "[{s}] unknown hash");

    let (_, other_entries) = sample_pool(device, 3_000, 2);
    let dup_entries: Vec<_> =
        other_entries.into_iter().map(|e| EntryRecord { pool_id: newer.id, ..e }).collect();
    match store.insert_pool(&newer, &dup_entries).await {
        Err(StoreError::DuplicatePool(id)) => assert_eq!(id, newer.id),
        other => panic!("[{s}] inserting a pool twice: expected DuplicatePool, got {other:?}"),
    }
    assert_eq!(
        store.entries(newer.id).await.unwrap(),
        newer_entries,
        "[{s}] a refused pool changes nothing"
    );
    assert!(
        store.entry_by_hash(&dup_entries[0].payment_hash).await.unwrap().is_none(),
        "[{s}] no entry of the refused pool was stored"
    );
}

/// `entries_by_device` (one query in SQLite and PostgreSQL) answers exactly what asking device
/// by device, pool by pool does, in the same order; `sync_counter` what `device` says.
pub async fn entries_by_device_in_report_order(store: &dyn GatewayStore) {
    let s = store.name();
    for _ in 0..2 {
        let device = enrol(store).await;
        let (newer, newer_entries) = sample_pool(device, 9_000, 4);
        let (older, older_entries) = sample_pool(device, 8_000, 3);
        store.insert_pool(&newer, &newer_entries).await.unwrap();
        store.insert_pool(&older, &older_entries).await.unwrap();
    }
    let mut asked = Vec::new();
    for device in store.devices().await.unwrap() {
        assert_eq!(
            store.sync_counter(device.id).await.unwrap(),
            Some(device.last_sync_counter),
            "[{s}] sync_counter"
        );
        for pool in store.pools(device.id).await.unwrap() {
            let entries = store.entries(pool.id).await.unwrap();
            asked.extend(entries.into_iter().map(|e| (device.id, e)));
        }
    }
    assert!(asked.len() >= 14, "[{s}] the sample is there");
    let devices = store.devices().await.unwrap();
    assert!(devices.iter().any(|d| d.last_sync_counter > 0), "[{s}] a synced device is compared");
    assert_eq!(store.entries_by_device().await.unwrap(), asked, "[{s}] entries_by_device");
    assert_eq!(store.sync_counter(new_device_id()).await.unwrap(), None, "[{s}] no such device");
}

/// Forward moves apply; the same batch again (with a new counter) is all `unchanged`.
pub async fn sync_forward_and_idempotent(store: &dyn GatewayStore) {
    let s = store.name();
    let (device, pool, _) = device_with_pool(store, 5).await;
    let batch = [
        report(pool.id, 0, EntryState::Offered),
        report(pool.id, 1, EntryState::Claimed),
        report(pool.id, 2, EntryState::Dispensed),
        report(pool.id, 3, EntryState::Failed),
    ];
    let out = apply_reports(store, device, 1, &batch).await.unwrap();
    assert_eq!(out, SyncOutcome { applied: 4, unchanged: 0, ignored_regressions: 0 }, "[{s}]");
    assert_eq!(
        states(store, pool.id).await,
        [
            EntryState::Offered,
            EntryState::Claimed,
            EntryState::Dispensed,
            EntryState::Failed,
            EntryState::Unused
        ],
        "[{s}] states after the first sync"
    );
    assert_eq!(store.device(device).await.unwrap().unwrap().last_sync_counter, 1, "[{s}] counter");

    let again = apply_reports(store, device, 2, &batch).await.unwrap();
    assert_eq!(
        again,
        SyncOutcome { applied: 0, unchanged: 4, ignored_regressions: 0 },
        "[{s}] re-applying a batch changes nothing"
    );
    assert_eq!(store.device(device).await.unwrap().unwrap().last_sync_counter, 2, "[{s}] counter");

    let more = [report(pool.id, 0, EntryState::Dispensed), report(pool.id, 1, EntryState::Claimed)];
    let out = apply_reports(store, device, 10, &more).await.unwrap();
    assert_eq!(out, SyncOutcome { applied: 1, unchanged: 1, ignored_regressions: 0 }, "[{s}]");
    assert_eq!(
        apply_reports(store, device, 11, &[]).await.unwrap(),
        SyncOutcome::default(),
        "[{s}] an empty batch"
    );
    assert_eq!(store.device(device).await.unwrap().unwrap().last_sync_counter, 11, "[{s}]");
}

/// A batch whose counter is not above the last one is `Replayed` and changes nothing.
pub async fn sync_replay(store: &dyn GatewayStore) {
    let s = store.name();
    let (device, pool, _) = device_with_pool(store, 3).await;
    apply_reports(store, device, 5, &[report(pool.id, 0, EntryState::Offered)]).await.unwrap();
    for old in [5, 4, 0] {
        match apply_reports(store, device, old, &[report(pool.id, 1, EntryState::Claimed)]).await {
            Err(SyncError::Replayed { counter, last }) => {
                assert_eq!((counter, last), (old, 5), "[{s}] replay fields");
            }
            other => panic!("[{s}] counter {old} after 5: expected Replayed, got {other:?}"),
        }
    }
    assert_eq!(
        states(store, pool.id).await[1],
        EntryState::Unused,
        "[{s}] a replay changes nothing"
    );
    assert_eq!(store.device(device).await.unwrap().unwrap().last_sync_counter, 5, "[{s}]");
}

/// Reports that would move a state backward are ignored and counted.
pub async fn sync_regressions(store: &dyn GatewayStore) {
    let s = store.name();
    let (device, pool, _) = device_with_pool(store, 4).await;
    let first = [
        report(pool.id, 0, EntryState::Claimed),
        report(pool.id, 1, EntryState::Dispensed),
        report(pool.id, 2, EntryState::Failed),
        report(pool.id, 3, EntryState::Offered),
    ];
    apply_reports(store, device, 1, &first).await.unwrap();
    let back = [
        report(pool.id, 0, EntryState::Offered), // claimed → offered: backward
        report(pool.id, 1, EntryState::Failed),  // dispensed → failed: not allowed
        report(pool.id, 2, EntryState::Unused),  // failed → unused: backward
        report(pool.id, 3, EntryState::Unused),  // offered → unused: backward
        report(pool.id, 3, EntryState::Claimed), // offered → claimed: forward
    ];
    let out = apply_reports(store, device, 2, &back).await.unwrap();
    assert_eq!(out, SyncOutcome { applied: 1, unchanged: 0, ignored_regressions: 4 }, "[{s}]");
    assert_eq!(
        states(store, pool.id).await,
        [EntryState::Claimed, EntryState::Dispensed, EntryState::Failed, EntryState::Claimed],
        "[{s}] regressions were ignored"
    );
}

/// A batch with one bad report (unknown pool, another device's pool, unknown entry) applies
/// nothing, not even its counter.
pub async fn sync_all_or_nothing(store: &dyn GatewayStore) {
    let s = store.name();
    let (device, pool, _) = device_with_pool(store, 3).await;
    let (other_device, other_pool, _) = device_with_pool(store, 3).await;
    apply_reports(store, device, 1, &[report(pool.id, 0, EntryState::Offered)]).await.unwrap();
    let good = [report(pool.id, 0, EntryState::Claimed), report(pool.id, 1, EntryState::Offered)];

    let ghost = new_pool_id();
    let mut batch = good.to_vec();
    batch.push(report(ghost, 0, EntryState::Offered));
    match apply_reports(store, device, 2, &batch).await {
        Err(SyncError::UnknownPool(p)) => assert_eq!(p, ghost),
        other => panic!("[{s}] unknown pool: expected UnknownPool, got {other:?}"),
    }

    let mut batch = good.to_vec();
    batch.push(report(other_pool.id, 0, EntryState::Offered));
    match apply_reports(store, device, 2, &batch).await {
        Err(SyncError::PoolOfAnotherDevice(p)) => assert_eq!(p, other_pool.id, "[{s}] field"),
        other => panic!("[{s}] another's pool: expected PoolOfAnotherDevice, got {other:?}"),
    }

    let mut batch = good.to_vec();
    batch.push(report(pool.id, 3, EntryState::Offered));
    match apply_reports(store, device, 2, &batch).await {
        Err(SyncError::UnknownEntry { pool: p, index }) => assert_eq!((p, index), (pool.id, 3)),
        other => panic!("[{s}] unknown entry: expected UnknownEntry, got {other:?}"),
    }

    assert_eq!(
        states(store, pool.id).await,
        [EntryState::Offered, EntryState::Unused, EntryState::Unused],
        "[{s}] nothing of a refused batch was applied"
    );
    assert!(
        states(store, other_pool.id).await.iter().all(|st| *st == EntryState::Unused),
        "[{s}] the other device's pool is untouched"
    );
    assert_eq!(
        store.device(device).await.unwrap().unwrap().last_sync_counter,
        1,
        "[{s}] nor its counter"
    );
    assert_eq!(store.device(other_device).await.unwrap().unwrap().last_sync_counter, 0, "[{s}]");
    let out = apply_reports(store, device, 2, &good).await.unwrap();
    assert_eq!(out.applied, 2, "[{s}] the same counter works once the batch is good");
}

/// `commit_sync` stores only what is still as the caller read it: a stale counter or a stale
/// entry state is `Conflict` and changes nothing at all; a fresh commit stores everything.
pub async fn sync_commit_compares_and_swaps(store: &dyn GatewayStore) {
    let s = store.name();
    let (device, pool, _) = device_with_pool(store, 3).await;
    let change = |index, from, to| EntryChange { pool_id: pool.id, index, from, to };
    let first = SyncCommit {
        device,
        last_counter: 0,
        counter: 4,
        synced_at: 1_700_000_444,
        changes: vec![change(0, EntryState::Unused, EntryState::Claimed)],
    };
    assert_eq!(store.device(device).await.unwrap().unwrap().last_sync_at, None, "[{s}] never");
    store.commit_sync(&first).await.unwrap_or_else(|e| panic!("[{s}] a fresh commit: {e}"));
    let synced = store.device(device).await.unwrap().unwrap();
    assert_eq!((synced.last_sync_counter, synced.last_sync_at), (4, Some(1_700_000_444)), "[{s}]");

    // The same commit again: the counter it read (0) is stale.
    match store.commit_sync(&first).await {
        Err(StoreError::Conflict) => {}
        other => panic!("[{s}] stale counter: expected Conflict, got {other:?}"),
    }
    // A fresh counter, but one entry's `from` is stale (it is claimed, not unused): nothing of
    // the commit is stored, not its other entry, not its counter.
    let stale_entry = SyncCommit {
        device,
        last_counter: 4,
        counter: 5,
        synced_at: 1_700_000_555,
        changes: vec![
            change(1, EntryState::Unused, EntryState::Offered),
            change(0, EntryState::Unused, EntryState::Dispensed),
        ],
    };
    match store.commit_sync(&stale_entry).await {
        Err(StoreError::Conflict) => {}
        other => panic!("[{s}] stale entry: expected Conflict, got {other:?}"),
    }
    // An entry that does not exist cannot be swapped either.
    let ghost_entry = SyncCommit {
        device,
        last_counter: 4,
        counter: 5,
        synced_at: 1_700_000_555,
        changes: vec![change(9, EntryState::Unused, EntryState::Offered)],
    };
    match store.commit_sync(&ghost_entry).await {
        Err(StoreError::Conflict) => {}
        other => panic!("[{s}] missing entry: expected Conflict, got {other:?}"),
    }
    assert_eq!(
        states(store, pool.id).await,
        [EntryState::Claimed, EntryState::Unused, EntryState::Unused],
        "[{s}] refused commits changed no entry"
    );
    assert_eq!(
        store.device(device).await.unwrap().unwrap().last_sync_counter,
        4,
        "[{s}] nor the counter"
    );

    let fresh = SyncCommit {
        device,
        last_counter: 4,
        counter: 5,
        synced_at: 1_700_000_555,
        changes: vec![
            change(1, EntryState::Unused, EntryState::Offered),
            change(0, EntryState::Claimed, EntryState::Dispensed),
        ],
    };
    store.commit_sync(&fresh).await.unwrap_or_else(|e| panic!("[{s}] after re-reading: {e}"));
    assert_eq!(
        store.device(device).await.unwrap().unwrap().last_sync_at,
        Some(1_700_000_555),
        "[{s}] the time of the last sync that was stored"
    );
    assert_eq!(
        states(store, pool.id).await,
        [EntryState::Dispensed, EntryState::Offered, EntryState::Unused],
        "[{s}] the fresh commit stored every change"
    );
}

/// Payments are recorded once (idempotent) and listed by time, quotes included.
pub async fn payments(store: &dyn GatewayStore) {
    let s = store.name();
    // Random times far in the past and in the future of real data, so the order check sees
    // ours interleaved with anything else in the database.
    let base: u64 = 1_600_000_000 + u64::from(rand::random::<u16>());
    let late = PaymentRecord {
        payment_hash: rand::random(),
        amount_msat: 150_000,
        paid_at: base + 20,
        quote: None,
    };
    let early = PaymentRecord {
        payment_hash: rand::random(),
        amount_msat: u64::try_from(i64::MAX).unwrap(),
        paid_at: base + 10,
        quote: Some(FiatQuote {
            currency: "EUR".into(),
            rate_per_btc: 61_234.56,
            source: "fixed".into(),
        }),
    };
    assert!(store.record_payment(&late).await.unwrap(), "[{s}] first record of a payment");
    assert!(store.record_payment(&early).await.unwrap(), "[{s}] first record of a payment");
    let changed = PaymentRecord { amount_msat: 1, paid_at: base, ..late.clone() };
    assert!(!store.record_payment(&changed).await.unwrap(), "[{s}] a second record is refused");
    assert!(!store.record_payment(&early).await.unwrap(), "[{s}] a second record is refused");

    let too_big =
        PaymentRecord { payment_hash: rand::random(), amount_msat: u64::MAX, ..late.clone() };
    match store.record_payment(&too_big).await {
        Err(StoreError::Backend(_)) => {}
        other => panic!("[{s}] amount above i64::MAX: expected Backend, got {other:?}"),
    }

    let all = store.payments().await.unwrap();
    assert!(all.windows(2).all(|w| w[0].paid_at <= w[1].paid_at), "[{s}] payments() by time");
    let ours: Vec<_> = all
        .into_iter()
        .filter(|p| p.payment_hash == late.payment_hash || p.payment_hash == early.payment_hash)
        .collect();
    assert_eq!(ours, vec![early, late], "[{s}] ours, first record kept, by time");
    assert!(
        !ours_contains(&store.payments().await.unwrap(), &too_big.payment_hash),
        "[{s}] the refused payment was not stored"
    );
}

fn ours_contains(payments: &[PaymentRecord], hash: &[u8; 32]) -> bool {
    payments.iter().any(|p| &p.payment_hash == hash)
}

/// What [`write_sample`] stored, to check with [`check_sample`] after reopening a store.
#[derive(Debug, Clone)]
pub struct Sample {
    /// The device.
    pub device: DeviceId,
    /// Its pool.
    pub pool: PoolRecord,
    /// The pool's entries as they should read after the sample's sync.
    pub entries: Vec<EntryRecord>,
    /// The payment recorded.
    pub payment: PaymentRecord,
    /// The next sequence number of product 1.
    pub next_seq: u32,
}

/// Writes a device, a pool, a sync, a payment and a seq allocation (for reopen tests).
pub async fn write_sample(store: &dyn GatewayStore) -> Sample {
    let (device, pool, mut entries) = device_with_pool(store, 4).await;
    apply_reports(store, device, 3, &[report(pool.id, 2, EntryState::Dispensed)]).await.unwrap();
    entries[2].state = EntryState::Dispensed;
    let payment = payment_of(&entries[2], 1_700_000_200, "USD", 70_000.5);
    assert!(store.record_payment(&payment).await.unwrap());
    let first = store.allocate_seqs(device, 1, 8).await.unwrap();
    Sample { device, pool, entries, payment, next_seq: first + 8 }
}

/// Checks that everything [`write_sample`] stored is there.
pub async fn check_sample(store: &dyn GatewayStore, sample: &Sample) {
    let s = store.name();
    let d =
        store.device(sample.device).await.unwrap().unwrap_or_else(|| panic!("[{s}] device lost"));
    assert_eq!(d.products, sample_products(), "[{s}] products kept");
    assert_eq!(d.last_sync_counter, 3, "[{s}] sync counter kept");
    assert_eq!(
        store.pools(sample.device).await.unwrap(),
        vec![sample.pool.clone()],
        "[{s}] pool kept"
    );
    assert_eq!(store.entries(sample.pool.id).await.unwrap(), sample.entries, "[{s}] entries kept");
    assert!(store.payments().await.unwrap().contains(&sample.payment), "[{s}] payment kept");
    assert!(!store.record_payment(&sample.payment).await.unwrap(), "[{s}] still recorded once");
    assert_eq!(
        store.allocate_seqs(sample.device, 1, 1).await.unwrap(),
        sample.next_seq,
        "[{s}] seq allocation continues where it was"
    );
    match apply_reports(store, sample.device, 3, &[]).await {
        Err(SyncError::Replayed { .. }) => {}
        other => panic!("[{s}] replay after reopen: expected Replayed, got {other:?}"),
    }
}
