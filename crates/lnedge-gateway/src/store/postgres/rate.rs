//! [`RateStore`] on PostgreSQL.

use async_trait::async_trait;

use super::{pg, PostgresStore};
use crate::store::codec::rate::{self, BUCKET_COLUMNS};
use crate::store::codec::to_i64;
use crate::store::rate::{RateBucket, RateStore};
use crate::store::StoreError;

#[async_trait]
impl RateStore for PostgresStore {
    async fn rate_bucket(&self, key: &str) -> Result<Option<RateBucket>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {BUCKET_COLUMNS} FROM rate_buckets WHERE key = $1"),
                &[&key],
            )
            .await
            .map_err(|e| pg("reading rate bucket", e))?;
        row.as_ref().map(rate::bucket).transpose()
    }

    async fn put_rate_bucket(&self, b: &RateBucket) -> Result<(), StoreError> {
        let (at, version) =
            (to_i64(b.updated_at_ms, "updated_at_ms")?, to_i64(b.version, "version")?);
        let client = self.client().await?;
        let changed = if b.version <= 1 {
            client
                .execute(
                    &format!(
                        "INSERT INTO rate_buckets ({BUCKET_COLUMNS}) VALUES ($1, $2, $3, $4)
                         ON CONFLICT (key) DO NOTHING"
                    ),
                    &[&b.key, &b.tokens, &at, &version],
                )
                .await
        } else {
            client
                .execute(
                    "UPDATE rate_buckets SET tokens = $2, updated_at_ms = $3, version = $4
                     WHERE key = $1 AND version = $5",
                    &[&b.key, &b.tokens, &at, &version, &(version - 1)],
                )
                .await
        }
        .map_err(|e| pg("writing rate bucket", e))?;
        if changed == 1 {
            Ok(())
        } else {
            Err(StoreError::Conflict)
        }
    }

    async fn purge_rate_buckets(&self, before_ms: u64) -> Result<u64, StoreError> {
        let before = to_i64(before_ms, "before_ms")?;
        let client = self.client().await?;
        client
            .execute("DELETE FROM rate_buckets WHERE updated_at_ms < $1", &[&before])
            .await
            .map_err(|e| pg("purging rate buckets", e))
    }
}
