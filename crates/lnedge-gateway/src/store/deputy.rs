//! Storage for deputy sales: sealed sale payloads, their counters and settlement (issue #6).
//!
//! Part of [`GatewayStore`](super::GatewayStore) (a supertrait), implemented by both stores in
//! `sqlite/deputy.rs` and `postgres/deputy.rs`, with its schema in migration `0003_deputy.sql`.

use async_trait::async_trait;

/// Storage for deputy sales: sealed sale payloads, their counters and settlement (issue #6).
#[async_trait]
pub trait DeputyStore: Send + Sync {}
