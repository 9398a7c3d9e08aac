//! Provisioning job rows ⇄ [`JobRecord`].

use super::Columns;
use crate::store::jobs::{JobRecord, JobState};
use crate::store::StoreError;

/// The columns of `provision_jobs`, in the order the writers bind them.
pub(crate) const JOB_COLUMNS: &str = "id, state, done, total, outcome, created_at, updated_at";

/// A `provision_jobs` row.
pub(crate) fn job(row: &impl Columns) -> Result<JobRecord, StoreError> {
    let state = row.text("state")?;
    Ok(JobRecord {
        id: row.text("id")?,
        state: JobState::from_name(&state)
            .ok_or_else(|| StoreError::Backend(format!("provision_jobs.state {state:?}")))?,
        done: row.u64("done")?,
        total: row.u64("total")?,
        outcome_json: row.text_or_null("outcome")?,
        created_at: row.u64("created_at")?,
        updated_at: row.u64("updated_at")?,
    })
}
