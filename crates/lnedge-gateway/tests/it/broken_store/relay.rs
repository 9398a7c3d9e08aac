//! [`RelayStore`] of the broken store: every operation fails.

use async_trait::async_trait;
use lnedge_gateway::store::relay::{PayeeRecord, RelayFilter, RelayPayment};
use lnedge_gateway::store::{RelayStore, StoreError};

use super::{broken, BrokenStore};

#[async_trait]
impl RelayStore for BrokenStore {
    async fn insert_payee(&self, _: &PayeeRecord) -> Result<(), StoreError> {
        broken()
    }
    async fn payee(&self, _: &str) -> Result<Option<PayeeRecord>, StoreError> {
        broken()
    }
    async fn set_payee_webhook(&self, _: &str, _: Option<&str>) -> Result<bool, StoreError> {
        broken()
    }
    async fn commit_hashes(&self, _: &str, _: &[[u8; 32]], _: u64) -> Result<u32, StoreError> {
        broken()
    }
    async fn unused_hash_count(&self, _: &str) -> Result<u64, StoreError> {
        broken()
    }
    async fn take_unused_hash(&self, _: &RelayPayment) -> Result<Option<RelayPayment>, StoreError> {
        broken()
    }
    async fn relay_payment(&self, _: &[u8; 32]) -> Result<Option<RelayPayment>, StoreError> {
        broken()
    }
    async fn relay_payments(&self, _: &RelayFilter) -> Result<Vec<RelayPayment>, StoreError> {
        broken()
    }
    async fn update_relay_payment(
        &self,
        _: &RelayPayment,
    ) -> Result<Option<RelayPayment>, StoreError> {
        broken()
    }
}
