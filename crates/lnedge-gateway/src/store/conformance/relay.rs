//! Conformance scenarios of [`RelayStore`](crate::store::relay::RelayStore).

use crate::store::GatewayStore;

/// Runs every scenario of this module.
pub async fn run_all(_store: &dyn GatewayStore) {}
