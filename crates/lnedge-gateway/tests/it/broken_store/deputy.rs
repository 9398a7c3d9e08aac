//! [`DeputyStore`] of the broken store: every operation fails.

use async_trait::async_trait;
use lnedge_gateway::store::{BeginSale, ClaimMark, DeputySaleRecord, DeputyStore, StoreError};
use lnedge_proto::DeviceId;

use super::{broken, BrokenStore};

#[async_trait]
impl DeputyStore for BrokenStore {
    async fn begin_deputy_sale(&self, _: &DeputySaleRecord) -> Result<BeginSale, StoreError> {
        broken()
    }
    async fn deputy_sale(
        &self,
        _: DeviceId,
        _: u64,
    ) -> Result<Option<DeputySaleRecord>, StoreError> {
        broken()
    }
    async fn deputy_sale_by_hash(
        &self,
        _: &[u8; 32],
    ) -> Result<Option<DeputySaleRecord>, StoreError> {
        broken()
    }
    async fn set_deputy_invoice(&self, _: DeviceId, _: u64, _: &str) -> Result<String, StoreError> {
        broken()
    }
    async fn mark_deputy_paid(&self, _: &[u8; 32], _: u64) -> Result<bool, StoreError> {
        broken()
    }
    async fn mark_deputy_claimed(
        &self,
        _: DeviceId,
        _: u64,
        _: u64,
    ) -> Result<ClaimMark, StoreError> {
        broken()
    }
    async fn deputy_sales(
        &self,
        _: Option<DeviceId>,
        _: u32,
    ) -> Result<Vec<DeputySaleRecord>, StoreError> {
        broken()
    }
}
