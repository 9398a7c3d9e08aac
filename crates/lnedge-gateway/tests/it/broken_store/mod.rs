//! A store whose every operation fails as a broken database would (failure injection). Each
//! feature's storage trait is implemented in its own file here.

mod deputy;
mod jobs;
mod operators;
mod payers;
mod rate;
mod refunds;
mod relay;

use async_trait::async_trait;
use lnedge_gateway::store::{
    DeviceRecord, EntryRecord, GatewayStore, PaymentRecord, PoolRecord, ProductRecord, StoreError,
    SyncCommit,
};
use lnedge_proto::{DeviceId, PoolId};

/// A store whose every operation fails as a broken database would (failure injection).
pub(crate) struct BrokenStore;

pub(crate) fn broken<T>() -> Result<T, StoreError> {
    Err(StoreError::Backend("disk I/O error at /secret/path/gateway.db".into()))
}

#[async_trait]
impl GatewayStore for BrokenStore {
    fn name(&self) -> &'static str {
        "broken"
    }
    async fn insert_device(
        &self,
        _: DeviceId,
        _: &str,
        _: &[ProductRecord],
        _: u64,
    ) -> Result<(), StoreError> {
        broken()
    }
    async fn device(&self, _: DeviceId) -> Result<Option<DeviceRecord>, StoreError> {
        broken()
    }
    async fn devices(&self) -> Result<Vec<DeviceRecord>, StoreError> {
        broken()
    }
    async fn set_device_enabled(&self, _: DeviceId, _: bool) -> Result<(), StoreError> {
        broken()
    }
    async fn set_products(&self, _: DeviceId, _: &[ProductRecord]) -> Result<(), StoreError> {
        broken()
    }
    async fn allocate_seqs(&self, _: DeviceId, _: u16, _: u32) -> Result<u32, StoreError> {
        broken()
    }
    async fn insert_pool(&self, _: &PoolRecord, _: &[EntryRecord]) -> Result<(), StoreError> {
        broken()
    }
    async fn pools(&self, _: DeviceId) -> Result<Vec<PoolRecord>, StoreError> {
        broken()
    }
    async fn entries(&self, _: PoolId) -> Result<Vec<EntryRecord>, StoreError> {
        broken()
    }
    async fn entry_by_hash(&self, _: &[u8; 32]) -> Result<Option<EntryRecord>, StoreError> {
        broken()
    }
    async fn commit_sync(&self, _: &SyncCommit) -> Result<(), StoreError> {
        broken()
    }
    async fn record_payment(&self, _: &PaymentRecord) -> Result<bool, StoreError> {
        broken()
    }
    async fn payments(&self) -> Result<Vec<PaymentRecord>, StoreError> {
        broken()
    }
}
