//! [`RelayStore`] of the broken store: every operation fails.

use async_trait::async_trait;
use lnedge_gateway::store::RelayStore;

use super::BrokenStore;

#[async_trait]
impl RelayStore for BrokenStore {}
