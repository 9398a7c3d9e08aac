//! [`OperatorStore`] of the broken store.

use async_trait::async_trait;
use lnedge_gateway::store::operators::{AuditRecord, OperatorRecord, SessionRecord};
use lnedge_gateway::store::{OperatorStore, StoreError};

use super::{broken, BrokenStore};

#[async_trait]
impl OperatorStore for BrokenStore {
    async fn insert_operator(&self, _: &OperatorRecord) -> Result<(), StoreError> {
        broken()
    }
    async fn operator(&self, _: &str) -> Result<Option<OperatorRecord>, StoreError> {
        broken()
    }
    async fn operator_by_linking_key(&self, _: &str) -> Result<Option<OperatorRecord>, StoreError> {
        broken()
    }
    async fn operators(&self) -> Result<Vec<OperatorRecord>, StoreError> {
        broken()
    }
    async fn put_operator(&self, _: &OperatorRecord) -> Result<(), StoreError> {
        broken()
    }
    async fn insert_operator_session(&self, _: &SessionRecord) -> Result<(), StoreError> {
        broken()
    }
    async fn operator_session(&self, _: &[u8; 32]) -> Result<Option<SessionRecord>, StoreError> {
        broken()
    }
    async fn delete_operator_session(&self, _: &[u8; 32]) -> Result<bool, StoreError> {
        broken()
    }
    async fn delete_operator_sessions_of(&self, _: &str) -> Result<u64, StoreError> {
        broken()
    }
    async fn purge_operator_sessions(&self, _: u64) -> Result<u64, StoreError> {
        broken()
    }
    async fn append_audit(&self, _: &AuditRecord) -> Result<u64, StoreError> {
        broken()
    }
    async fn audit_log(&self, _: Option<u64>, _: u32) -> Result<Vec<AuditRecord>, StoreError> {
        broken()
    }
}
