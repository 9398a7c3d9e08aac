//! [`RefundStore`] of the broken store: every operation fails.

use async_trait::async_trait;
use lnedge_gateway::store::refunds::{
    AuthOutcome, ClaimOutcome, RefundFinish, RefundRecord, SessionRecord,
};
use lnedge_gateway::store::{PaymentRecord, PoolRecord, RefundStore, StoreError};
use lnedge_proto::{DeviceId, PoolId};

use super::{broken, BrokenStore};

#[async_trait]
impl RefundStore for BrokenStore {
    async fn recorded_payment(&self, _: &[u8; 32]) -> Result<Option<PaymentRecord>, StoreError> {
        broken()
    }
    async fn pool_by_id(&self, _: PoolId) -> Result<Option<PoolRecord>, StoreError> {
        broken()
    }
    async fn open_refund(&self, _: &RefundRecord) -> Result<RefundRecord, StoreError> {
        broken()
    }
    async fn refund(&self, _: &[u8; 32]) -> Result<Option<RefundRecord>, StoreError> {
        broken()
    }
    async fn refund_by_k1(&self, _: &[u8; 32]) -> Result<Option<RefundRecord>, StoreError> {
        broken()
    }
    async fn bind_refund_k1(
        &self,
        _: &[u8; 32],
        _: &[u8; 32],
    ) -> Result<Option<RefundRecord>, StoreError> {
        broken()
    }
    async fn claim_refund(
        &self,
        _: &[u8; 32],
        _: &str,
        _: u64,
    ) -> Result<ClaimOutcome, StoreError> {
        broken()
    }
    async fn finish_refund(&self, _: &[u8; 32], _: &RefundFinish) -> Result<bool, StoreError> {
        broken()
    }
    async fn expire_refunds(&self, _: u64) -> Result<u64, StoreError> {
        broken()
    }
    async fn refunds(&self) -> Result<Vec<RefundRecord>, StoreError> {
        broken()
    }
    async fn set_attestation(&self, _: DeviceId, _: bool) -> Result<(), StoreError> {
        broken()
    }
    async fn attestation_enabled(&self, _: DeviceId) -> Result<bool, StoreError> {
        broken()
    }
    async fn issue_payment_session(&self, _: &SessionRecord) -> Result<(), StoreError> {
        broken()
    }
    async fn session(&self, _: &[u8; 32], _: u64) -> Result<Option<SessionRecord>, StoreError> {
        broken()
    }
    async fn insert_auth_challenge(
        &self,
        _: &[u8; 32],
        _: &[u8; 32],
        _: u64,
        _: u64,
    ) -> Result<(), StoreError> {
        broken()
    }
    async fn purge_expired_auth(&self, _: u64) -> Result<u64, StoreError> {
        broken()
    }

    async fn complete_auth(
        &self,
        _: &[u8; 32],
        _: &str,
        _: u64,
        _: u64,
    ) -> Result<AuthOutcome, StoreError> {
        broken()
    }
}
