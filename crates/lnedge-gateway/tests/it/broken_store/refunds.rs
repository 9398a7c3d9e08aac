//! [`RefundStore`] of the broken store: every operation fails.

use async_trait::async_trait;
use lnedge_gateway::store::RefundStore;

use super::BrokenStore;

#[async_trait]
impl RefundStore for BrokenStore {}
