//! Storage for the async relay's persistent state machine for offline payees (issue #7).
//!
//! Part of [`GatewayStore`](super::GatewayStore) (a supertrait), implemented by both stores in
//! `sqlite/relay.rs` and `postgres/relay.rs`, with its schema in migration `0004_relay.sql`.

use async_trait::async_trait;

/// Storage for the async relay's persistent state machine for offline payees (issue #7).
#[async_trait]
pub trait RelayStore: Send + Sync {}
