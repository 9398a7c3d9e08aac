//! [`RateStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::params;

use super::{backend, query_opt, SqliteStore};
use crate::store::codec::rate::{self, BUCKET_COLUMNS};
use crate::store::codec::to_i64;
use crate::store::rate::{RateBucket, RateStore};
use crate::store::StoreError;

#[async_trait]
impl RateStore for SqliteStore {
    async fn rate_bucket(&self, key: &str) -> Result<Option<RateBucket>, StoreError> {
        let key = key.to_owned();
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {BUCKET_COLUMNS} FROM rate_buckets WHERE key = ?1"),
                params![key],
                "reading rate bucket",
                |r| rate::bucket(r),
            )
        })
        .await
    }

    async fn put_rate_bucket(&self, bucket: &RateBucket) -> Result<(), StoreError> {
        let b = bucket.clone();
        let (at, version) =
            (to_i64(b.updated_at_ms, "updated_at_ms")?, to_i64(b.version, "version")?);
        self.run(move |conn| {
            let changed = if b.version <= 1 {
                conn.execute(
                    &format!(
                        "INSERT INTO rate_buckets ({BUCKET_COLUMNS}) VALUES (?1, ?2, ?3, ?4)
                         ON CONFLICT (key) DO NOTHING"
                    ),
                    params![b.key, b.tokens, at, version],
                )
            } else {
                conn.execute(
                    "UPDATE rate_buckets SET tokens = ?2, updated_at_ms = ?3, version = ?4
                     WHERE key = ?1 AND version = ?5",
                    params![b.key, b.tokens, at, version, version - 1],
                )
            }
            .map_err(|e| backend("writing rate bucket", e))?;
            if changed == 1 {
                Ok(())
            } else {
                Err(StoreError::Conflict)
            }
        })
        .await
    }

    async fn purge_rate_buckets(&self, before_ms: u64) -> Result<u64, StoreError> {
        let before = to_i64(before_ms, "before_ms")?;
        self.run(move |conn| {
            conn.execute("DELETE FROM rate_buckets WHERE updated_at_ms < ?1", params![before])
                .map(|n| n as u64)
                .map_err(|e| backend("purging rate buckets", e))
        })
        .await
    }
}
