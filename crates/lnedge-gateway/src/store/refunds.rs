//! Storage for refunds of failed vends (LNURL-withdraw vouchers), proofs of payment, sessions and LNURL-auth (issue #5).
//!
//! Part of [`GatewayStore`](super::GatewayStore) (a supertrait), implemented by both stores in
//! `sqlite/refunds.rs` and `postgres/refunds.rs`, with its schema in migration `0002_refunds.sql`.

use async_trait::async_trait;

/// Storage for refunds of failed vends (LNURL-withdraw vouchers), proofs of payment, sessions and LNURL-auth (issue #5).
#[async_trait]
pub trait RefundStore: Send + Sync {}
