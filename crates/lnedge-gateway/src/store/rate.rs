//! Storage for the rate limits of open routes (`crate::limits`): one token bucket per client and
//! scope, shared by every replica on one database.
//!
//! Part of [`GatewayStore`](super::GatewayStore) (a supertrait), implemented by both stores in
//! `sqlite/rate.rs` and `postgres/rate.rs`, with its schema in migration `0005_rate.sql`.
//!
//! # Contract
//!
//! * A bucket is changed only by [`put_rate_bucket`](RateStore::put_rate_bucket), a
//!   compare-and-set on its [`version`](RateBucket::version): a writer that read an older
//!   version gets [`StoreError::Conflict`] and must read again. So two replicas spending from one
//!   client's bucket at once never both spend its last token.
//! * The stores do not compute refills or judge budgets: `crate::limits` does.

use async_trait::async_trait;

use super::StoreError;

/// A token bucket as stored.
#[derive(Debug, Clone, PartialEq)]
pub struct RateBucket {
    /// `scope:client` (`auth-challenge:203.0.113.7`).
    pub key: String,
    /// Tokens left at `updated_at_ms`.
    pub tokens: f64,
    /// When `tokens` was computed (milliseconds since the Unix epoch).
    pub updated_at_ms: u64,
    /// Version for compare-and-set; 1 for a new bucket, one more on each write.
    pub version: u64,
}

/// Rate-limit buckets (see the module's contract).
#[async_trait]
pub trait RateStore: Send + Sync {
    /// The bucket of `key`, if any.
    async fn rate_bucket(&self, key: &str) -> Result<Option<RateBucket>, StoreError>;

    /// Writes `bucket` if the stored one still has version `bucket.version - 1` (or, for
    /// version 1, if there is none); else [`StoreError::Conflict`] and nothing changes.
    async fn put_rate_bucket(&self, bucket: &RateBucket) -> Result<(), StoreError>;

    /// Deletes the buckets last written before `before_ms` (full again by then); answers how
    /// many went.
    async fn purge_rate_buckets(&self, before_ms: u64) -> Result<u64, StoreError>;
}
