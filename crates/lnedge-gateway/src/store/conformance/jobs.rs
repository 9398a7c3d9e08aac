//! Conformance scenarios of [`JobStore`](crate::store::jobs::JobStore).

use crate::store::jobs::{JobRecord, JobState};
use crate::store::GatewayStore;

/// Runs every scenario of this module.
pub async fn run_all(store: &dyn GatewayStore) {
    a_finished_job_is_never_changed_again(store).await;
}

/// A job is created, its progress only grows, its end is final (a late progress write changes
/// nothing), and finished jobs are purged by age while running ones stay.
pub async fn a_finished_job_is_never_changed_again(store: &dyn GatewayStore) {
    let id = hex::encode(rand::random::<[u8; 16]>());
    assert_eq!(store.job(&id).await.expect("read"), None);
    let running = JobRecord {
        id: id.clone(),
        state: JobState::Running,
        done: 0,
        total: 500,
        outcome_json: None,
        created_at: 1_000,
        updated_at: 1_000,
    };
    assert!(store.put_job(&running).await.expect("create"));
    assert_eq!(store.job(&id).await.expect("read"), Some(running.clone()));
    let at_300 = JobRecord { done: 300, updated_at: 1_002, ..running.clone() };
    assert!(store.put_job(&at_300).await.expect("progress"));
    let stale = JobRecord { done: 100, updated_at: 1_003, ..running.clone() };
    assert!(store.put_job(&stale).await.expect("late progress"));
    assert_eq!(store.job(&id).await.expect("read").expect("job").done, 300, "never backwards");

    let done = JobRecord {
        state: JobState::Done,
        done: 500,
        outcome_json: Some("{\"pool_id\":\"ab\"}".into()),
        updated_at: 1_010,
        ..running.clone()
    };
    assert!(store.put_job(&done).await.expect("finish"));
    let late = JobRecord { done: 450, updated_at: 1_011, ..running.clone() };
    assert!(!store.put_job(&late).await.expect("after the end"), "a finished job stays");
    assert_eq!(store.job(&id).await.expect("read"), Some(done.clone()));

    let other = JobRecord {
        id: hex::encode(rand::random::<[u8; 16]>()),
        updated_at: 900,
        ..running.clone()
    };
    assert!(store.put_job(&other).await.expect("create"));
    store.purge_jobs(1_005).await.expect("purge");
    assert!(store.job(&id).await.expect("read").is_some(), "finished at 1 010: kept");
    assert!(store.job(&other.id).await.expect("read").is_some(), "running: kept");
    assert!(store.purge_jobs(1_011).await.expect("purge") >= 1);
    assert_eq!(store.job(&id).await.expect("read"), None, "purged");
}
