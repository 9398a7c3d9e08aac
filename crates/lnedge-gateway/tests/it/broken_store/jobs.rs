//! [`JobStore`] of the broken store.

use async_trait::async_trait;
use lnedge_gateway::store::jobs::{JobRecord, JobStore};
use lnedge_gateway::store::StoreError;

use super::{broken, BrokenStore};

#[async_trait]
impl JobStore for BrokenStore {
    async fn put_job(&self, _: &JobRecord) -> Result<bool, StoreError> {
        broken()
    }
    async fn job(&self, _: &str) -> Result<Option<JobRecord>, StoreError> {
        broken()
    }
    async fn purge_jobs(&self, _: u64) -> Result<u64, StoreError> {
        broken()
    }
}
