//! Conformance scenario of concurrent sync commits (PostgreSQL batches them, SQLite's group
//! commit does too): each commit gets its own answer, whatever else shares its batch.

use lnedge_proto::ledger::EntryState;

use super::{device_with_pool, new_device_id};
use crate::store::{EntryChange, GatewayStore, StoreError, SyncCommit};

/// Runs every scenario of this module.
pub async fn run_all(store: &dyn GatewayStore) {
    for round in 0..3 {
        concurrent_commits_each_get_their_own_answer(store, round).await;
    }
}

fn commit(
    device: lnedge_proto::DeviceId,
    pool: lnedge_proto::PoolId,
    from: EntryState,
) -> SyncCommit {
    SyncCommit {
        device,
        last_counter: 0,
        counter: 1,
        synced_at: 1_700_002_000,
        changes: (0..3)
            .map(|index| EntryChange { pool_id: pool, index, from, to: EntryState::Claimed })
            .collect(),
    }
}

/// Twenty devices commit at once, among them one whose commit read a stale entry state (a lost
/// race: nothing of it is stored), one device committing twice from the same counter (one
/// wins), and an unknown device: every other commit is stored whole.
pub async fn concurrent_commits_each_get_their_own_answer(store: &dyn GatewayStore, round: u32) {
    let s = store.name();
    let mut fleet = Vec::new();
    for _ in 0..20 {
        let (device, pool, _) = device_with_pool(store, 3).await;
        fleet.push((device, pool.id));
    }
    let mut commits: Vec<SyncCommit> =
        fleet.iter().map(|(d, p)| commit(*d, *p, EntryState::Unused)).collect();
    commits[0] = commit(fleet[0].0, fleet[0].1, EntryState::Offered); // stale: they are unused
    commits.push(commit(fleet[1].0, fleet[1].1, EntryState::Unused)); // device 1 again
    commits.push(commit(new_device_id(), fleet[2].1, EntryState::Unused)); // unknown device
    let answers =
        futures_util::future::join_all(commits.iter().map(|c| store.commit_sync(c))).await;

    assert!(matches!(answers[0], Err(StoreError::Conflict)), "[{s}] {round}: {:?}", answers[0]);
    let states = |pool| async move {
        store.entries(pool).await.unwrap().into_iter().map(|e| e.state).collect::<Vec<_>>()
    };
    assert_eq!(states(fleet[0].1).await, [EntryState::Unused; 3], "[{s}] {round}: nothing stored");
    assert_eq!(store.sync_counter(fleet[0].0).await.unwrap(), Some(0), "[{s}] {round}");
    let twice = [&answers[1], &answers[20]];
    assert_eq!(twice.iter().filter(|a| a.is_ok()).count(), 1, "[{s}] {round}: {twice:?}");
    assert!(twice.iter().any(|a| matches!(a, Err(StoreError::Conflict))), "[{s}] {round}");
    assert!(matches!(answers[21], Err(StoreError::UnknownDevice(_))), "[{s}] {round}");
    for (i, (device, pool)) in fleet.iter().enumerate().skip(1) {
        if i > 1 {
            assert!(answers[i].is_ok(), "[{s}] {round}: device {i}: {:?}", answers[i]);
        }
        assert_eq!(states(*pool).await, [EntryState::Claimed; 3], "[{s}] {round}: device {i}");
        assert_eq!(store.sync_counter(*device).await.unwrap(), Some(1), "[{s}] {round}");
    }
}
