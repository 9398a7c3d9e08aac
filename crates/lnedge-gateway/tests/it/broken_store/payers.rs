//! [`PayerStore`] of the broken store.

use async_trait::async_trait;
use lnedge_gateway::store::payers::{PayerPaymentRecord, PayerRecord, PayerStore, TapRecord};
use lnedge_gateway::store::StoreError;
use lnedge_proto::DeviceId;

use super::{broken, BrokenStore};

#[async_trait]
impl PayerStore for BrokenStore {
    async fn payer(&self, _: DeviceId) -> Result<Option<PayerRecord>, StoreError> {
        broken()
    }
    async fn payer_by_uid(&self, _: &[u8; 7]) -> Result<Option<PayerRecord>, StoreError> {
        broken()
    }
    async fn payer_by_program_code(&self, _: &[u8; 32]) -> Result<Option<PayerRecord>, StoreError> {
        broken()
    }
    async fn payers(&self) -> Result<Vec<PayerRecord>, StoreError> {
        broken()
    }
    async fn put_payer(&self, _: &PayerRecord) -> Result<(), StoreError> {
        broken()
    }
    async fn insert_tap(&self, _: &TapRecord) -> Result<(), StoreError> {
        broken()
    }
    async fn take_tap(&self, _: &[u8; 32]) -> Result<Option<TapRecord>, StoreError> {
        broken()
    }
    async fn purge_taps(&self, _: u64) -> Result<u64, StoreError> {
        broken()
    }
    async fn insert_payer_payment(&self, _: &PayerPaymentRecord) -> Result<(), StoreError> {
        broken()
    }
    async fn put_payer_payment(&self, _: &PayerPaymentRecord) -> Result<(), StoreError> {
        broken()
    }
    async fn payer_payment(&self, _: &[u8; 32]) -> Result<Option<PayerPaymentRecord>, StoreError> {
        broken()
    }
    async fn pending_payer_payments(&self, _: u32) -> Result<Vec<PayerPaymentRecord>, StoreError> {
        broken()
    }
    async fn payer_payments(
        &self,
        _: Option<DeviceId>,
        _: u32,
    ) -> Result<Vec<PayerPaymentRecord>, StoreError> {
        broken()
    }
}
