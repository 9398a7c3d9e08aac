//! Conformance scenarios of what a sync reads ([`GatewayStore::sync_state`],
//! [`GatewayStore::pool_states`], [`GatewayStore::pool_usage`]): the one-query reads of a
//! store say what its records say.

use lnedge_proto::ledger::EntryState;
use lnedge_proto::PoolId;

use super::{device_with_pool, sample_pool};
use crate::store::{EntryChange, GatewayStore, SyncCommit, SyncState};

/// Runs every scenario of this module.
pub async fn run_all(store: &dyn GatewayStore) {
    the_sync_reads_say_what_the_records_say(store).await;
}

/// A device with two pools (the older one reported): its flag, both pools' owners and states
/// (a pool named twice read once, an unknown one absent), and their usage oldest first.
pub async fn the_sync_reads_say_what_the_records_say(store: &dyn GatewayStore) {
    let s = store.name();
    let (device, old, _) = device_with_pool(store, 3).await;
    let (new, new_entries) = sample_pool(device, 1_700_000_900, 2);
    store.insert_pool(&new, &new_entries).await.unwrap_or_else(|e| panic!("[{s}] pool: {e}"));
    let commit = SyncCommit {
        device,
        last_counter: 0,
        counter: 1,
        synced_at: 1_700_001_000,
        changes: vec![EntryChange {
            pool_id: old.id,
            index: 1,
            from: EntryState::Unused,
            to: EntryState::Dispensed,
        }],
    };
    store.commit_sync(&commit).await.unwrap_or_else(|e| panic!("[{s}] commit: {e}"));

    let state = |enabled| Some(SyncState { enabled, last_sync_counter: 1 });
    assert_eq!(store.sync_state(device).await.unwrap(), state(true), "[{s}]");
    store.set_device_enabled(device, false).await.unwrap();
    assert_eq!(store.sync_state(device).await.unwrap(), state(false), "[{s}]");
    let ghost = super::new_device_id();
    assert_eq!(store.sync_state(ghost).await.unwrap(), None, "[{s}] unknown device");

    let unknown = PoolId([0xee; 8]);
    let read = store.pool_states(&[old.id, unknown, new.id, old.id]).await.unwrap();
    assert_eq!(read.len(), 2, "[{s}] the unknown pool is absent: {read:?}");
    let (owner, states) = &read[&old.id];
    assert_eq!(*owner, device, "[{s}]");
    let expected = [(0, EntryState::Unused), (1, EntryState::Dispensed), (2, EntryState::Unused)];
    assert_eq!(states.iter().map(|(i, st)| (*i, *st)).collect::<Vec<_>>(), expected, "[{s}]");
    assert_eq!(read[&new.id].1.len(), 2, "[{s}]");
    assert!(store.pool_states(&[]).await.unwrap().is_empty(), "[{s}] nothing named");

    let usage = store.pool_usage(device).await.unwrap();
    let seen: Vec<_> = usage.iter().map(|u| (u.pool.id, u.entries, u.any_used)).collect();
    assert_eq!(seen, [(old.id, 3, true), (new.id, 2, false)], "[{s}] oldest first");
    assert_eq!(usage[1].pool.bytes, new.bytes, "[{s}] with the pool's bytes");
    assert!(store.pool_usage(ghost).await.unwrap().is_empty(), "[{s}]");
}
