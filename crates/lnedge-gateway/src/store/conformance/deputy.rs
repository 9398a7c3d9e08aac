//! Conformance scenarios of [`DeputyStore`](crate::store::deputy::DeputyStore).

use crate::store::GatewayStore;

/// Runs every scenario of this module.
pub async fn run_all(_store: &dyn GatewayStore) {}
