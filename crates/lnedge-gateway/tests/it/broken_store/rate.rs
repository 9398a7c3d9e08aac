//! [`RateStore`] of the broken store.

use async_trait::async_trait;
use lnedge_gateway::store::{RateBucket, RateStore, StoreError};

use super::{broken, BrokenStore};

#[async_trait]
impl RateStore for BrokenStore {
    async fn rate_bucket(&self, _: &str) -> Result<Option<RateBucket>, StoreError> {
        broken()
    }
    async fn put_rate_bucket(&self, _: &RateBucket) -> Result<(), StoreError> {
        broken()
    }
    async fn purge_rate_buckets(&self, _: u64) -> Result<u64, StoreError> {
        broken()
    }
}
