//! [`JobStore`] on PostgreSQL.

use async_trait::async_trait;

use super::{pg, PostgresStore};
use crate::store::codec::jobs::{self, JOB_COLUMNS};
use crate::store::codec::to_i64;
use crate::store::jobs::{JobRecord, JobStore};
use crate::store::StoreError;

#[async_trait]
impl JobStore for PostgresStore {
    async fn put_job(&self, j: &JobRecord) -> Result<bool, StoreError> {
        let (done, total) = (to_i64(j.done, "done")?, to_i64(j.total, "total")?);
        let (created, updated) =
            (to_i64(j.created_at, "created_at")?, to_i64(j.updated_at, "updated_at")?);
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO provision_jobs ({JOB_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)
                     ON CONFLICT (id) DO UPDATE SET state = excluded.state,
                         done = GREATEST(provision_jobs.done, excluded.done),
                         total = excluded.total, outcome = excluded.outcome,
                         updated_at = excluded.updated_at
                     WHERE provision_jobs.state = 'running'"
                ),
                &[&j.id, &j.state.name(), &done, &total, &j.outcome_json, &created, &updated],
            )
            .await
            .map(|n| n == 1)
            .map_err(|e| pg("writing provisioning job", e))
    }

    async fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(&format!("SELECT {JOB_COLUMNS} FROM provision_jobs WHERE id = $1"), &[&id])
            .await
            .map_err(|e| pg("reading provisioning job", e))?;
        row.as_ref().map(jobs::job).transpose()
    }

    async fn purge_jobs(&self, before: u64) -> Result<u64, StoreError> {
        let before = to_i64(before, "before")?;
        let client = self.client().await?;
        client
            .execute(
                "DELETE FROM provision_jobs WHERE updated_at < $1 AND state <> 'running'",
                &[&before],
            )
            .await
            .map_err(|e| pg("purging provisioning jobs", e))
    }
}
