//! Rate-limit bucket rows ⇄ [`RateBucket`].

use super::Columns;
use crate::store::rate::RateBucket;
use crate::store::StoreError;

/// The columns of `rate_buckets`, in the order the writers bind them.
pub(crate) const BUCKET_COLUMNS: &str = "key, tokens, updated_at_ms, version";

/// A `rate_buckets` row.
pub(crate) fn bucket(row: &impl Columns) -> Result<RateBucket, StoreError> {
    Ok(RateBucket {
        key: row.text("key")?,
        tokens: row
            .real_or_null("tokens")?
            .ok_or_else(|| StoreError::Backend("rate_buckets.tokens is NULL".into()))?,
        updated_at_ms: row.u64("updated_at_ms")?,
        version: row.u64("version")?,
    })
}
