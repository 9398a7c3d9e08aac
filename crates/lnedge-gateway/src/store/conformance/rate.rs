//! Conformance scenarios of [`RateStore`](crate::store::rate::RateStore).

use crate::store::rate::RateBucket;
use crate::store::{GatewayStore, StoreError};

/// Runs every scenario of this module.
pub async fn run_all(store: &dyn GatewayStore) {
    bucket_compare_and_set(store).await;
}

/// A bucket is created once, then changed only from the version read; stale writers get
/// `Conflict` and change nothing; old buckets are purged.
pub async fn bucket_compare_and_set(store: &dyn GatewayStore) {
    let key = format!("test:{}", hex::encode(rand::random::<[u8; 8]>()));
    assert_eq!(store.rate_bucket(&key).await.expect("read"), None);
    let first = RateBucket { key: key.clone(), tokens: 9.5, updated_at_ms: 1_000, version: 1 };
    store.put_rate_bucket(&first).await.expect("create");
    assert_eq!(store.rate_bucket(&key).await.expect("read"), Some(first.clone()));
    let racer = RateBucket { tokens: 1.0, ..first.clone() };
    assert!(
        matches!(store.put_rate_bucket(&racer).await, Err(StoreError::Conflict)),
        "created twice"
    );

    let second = RateBucket { tokens: 8.25, updated_at_ms: 2_000, version: 2, ..first.clone() };
    store.put_rate_bucket(&second).await.expect("update from version 1");
    let stale = RateBucket { tokens: 0.0, updated_at_ms: 2_500, version: 2, ..first.clone() };
    assert!(matches!(store.put_rate_bucket(&stale).await, Err(StoreError::Conflict)), "stale");
    assert_eq!(store.rate_bucket(&key).await.expect("read"), Some(second.clone()), "unchanged");

    assert!(store.purge_rate_buckets(1_500).await.expect("purge") < u64::MAX);
    assert!(store.rate_bucket(&key).await.expect("read").is_some(), "written at 2 000: kept");
    assert!(store.purge_rate_buckets(2_001).await.expect("purge") >= 1);
    assert_eq!(store.rate_bucket(&key).await.expect("read"), None, "purged");
}
