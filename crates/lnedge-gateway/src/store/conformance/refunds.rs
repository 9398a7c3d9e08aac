//! Conformance scenarios of [`RefundStore`](crate::store::refunds::RefundStore).

use crate::store::GatewayStore;

/// Runs every scenario of this module.
pub async fn run_all(_store: &dyn GatewayStore) {}
