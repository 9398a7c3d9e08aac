//! [`JobStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::params;

use super::{backend, query_opt, SqliteStore};
use crate::store::codec::jobs::{self, JOB_COLUMNS};
use crate::store::codec::to_i64;
use crate::store::jobs::{JobRecord, JobStore};
use crate::store::StoreError;

#[async_trait]
impl JobStore for SqliteStore {
    async fn put_job(&self, job: &JobRecord) -> Result<bool, StoreError> {
        let j = job.clone();
        let (done, total) = (to_i64(j.done, "done")?, to_i64(j.total, "total")?);
        let (created, updated) =
            (to_i64(j.created_at, "created_at")?, to_i64(j.updated_at, "updated_at")?);
        self.run(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO provision_jobs ({JOB_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)
                     ON CONFLICT (id) DO UPDATE SET state = excluded.state,
                         done = MAX(provision_jobs.done, excluded.done), total = excluded.total,
                         outcome = excluded.outcome, updated_at = excluded.updated_at
                     WHERE provision_jobs.state = 'running'"
                ),
                params![j.id, j.state.name(), done, total, j.outcome_json, created, updated],
            )
            .map(|n| n == 1)
            .map_err(|e| backend("writing provisioning job", e))
        })
        .await
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let id = id.to_owned();
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {JOB_COLUMNS} FROM provision_jobs WHERE id = ?1"),
                params![id],
                "reading provisioning job",
                |r| jobs::job(r),
            )
        })
        .await
    }

    async fn purge_jobs(&self, before: u64) -> Result<u64, StoreError> {
        let before = to_i64(before, "before")?;
        self.run(move |conn| {
            conn.execute(
                "DELETE FROM provision_jobs WHERE updated_at < ?1 AND state <> 'running'",
                params![before],
            )
            .map(|n| n as u64)
            .map_err(|e| backend("purging provisioning jobs", e))
        })
        .await
    }
}
