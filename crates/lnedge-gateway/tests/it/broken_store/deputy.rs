//! [`DeputyStore`] of the broken store: every operation fails.

use async_trait::async_trait;
use lnedge_gateway::store::DeputyStore;

use super::BrokenStore;

#[async_trait]
impl DeputyStore for BrokenStore {}
