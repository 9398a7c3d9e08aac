//! Background jobs: large pool provisioning runs in a tokio task and reports progress here.
//!
//! The replica running a job keeps its progress in memory (the builder reports every invoice)
//! and **publishes** it to the store (`store/jobs.rs`) when it starts, about twice a second
//! while it runs, and when it ends; any replica answers `GET /v1/jobs/{id}` and the dashboard's
//! progress page from its memory or, for another replica's job, from the store. A job whose
//! replica stopped (its record not written for [`JOB_LOST_SECS`]) is reported failed. That is
//! safe: a pool is stored only once it is complete, so a lost (or failed) job leaves nothing
//! behind but unused sequence numbers — provision again.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lnedge_wire::error::ErrorDetail;
use lnedge_wire::pools::{Job as JobView, JobStatus, ProvisionedPool};

use super::error::ApiError;
use super::{ApiPath, AppState};
use crate::clock::now_secs;
use crate::store::jobs::{JobRecord, JobState};
use crate::store::GatewayStore;

/// Most finished jobs remembered in memory; the oldest finished ones are forgotten beyond this
/// (the store keeps them for [`FINISHED_JOB_KEEP_SECS`]).
pub const MAX_FINISHED_JOBS: usize = 1_000;

/// How long a finished job stays readable in the store.
pub const FINISHED_JOB_KEEP_SECS: u64 = 86_400;

/// A running job whose record was not written for this long is reported failed: the replica
/// running it stopped (it writes about twice a second).
pub const JOB_LOST_SECS: u64 = 60;

/// How often a running job's progress is published to the store.
pub const PUBLISH_INTERVAL: std::time::Duration = std::time::Duration::from_millis(500);

#[derive(Debug, Clone)]
enum Status {
    Running,
    Done(ProvisionedPool),
    Failed(ErrorDetail),
}

#[derive(Debug, Clone)]
struct Job {
    seq: u64,
    done: u64,
    total: u64,
    status: Status,
    created_at: u64,
}

/// The job table: this replica's jobs in memory, every replica's in the store.
#[derive(Default)]
pub struct Jobs {
    inner: Mutex<Inner>,
    /// Where jobs are published (none: this replica only, as in unit tests).
    store: Option<Arc<dyn GatewayStore>>,
}

impl std::fmt::Debug for Jobs {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Jobs").field("store", &self.store.as_ref().map(|s| s.name())).finish()
    }
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    jobs: HashMap<String, Job>,
}

impl Jobs {
    /// An empty table kept in this replica's memory only.
    pub fn new() -> Self {
        Self::default()
    }

    /// An empty table that publishes its jobs to `store` and reads other replicas' from it.
    pub fn with_store(store: Arc<dyn GatewayStore>) -> Self {
        Jobs { inner: Mutex::default(), store: Some(store) }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Registers a running job of `total` steps; returns its id (32 hex characters).
    pub(crate) fn start(&self, total: u64) -> String {
        let id = hex::encode(rand::random::<[u8; 16]>());
        let mut inner = self.lock();
        inner.next_seq += 1;
        let seq = inner.next_seq;
        let job = Job { seq, done: 0, total, status: Status::Running, created_at: now_secs() };
        inner.jobs.insert(id.clone(), job);
        id
    }

    /// Records progress (never backwards).
    pub(crate) fn progress(&self, id: &str, done: u64, total: u64) {
        if let Some(job) = self.lock().jobs.get_mut(id) {
            job.done = job.done.max(done);
            job.total = total;
        }
    }

    /// Marks a job finished: `Ok(result)` done, `Err(error)` failed.
    pub(crate) fn finish(&self, id: &str, result: Result<ProvisionedPool, ApiError>) {
        let mut inner = self.lock();
        if let Some(job) = inner.jobs.get_mut(id) {
            job.status = match result {
                Ok(pool) => {
                    job.done = job.total;
                    Status::Done(pool)
                }
                Err(e) => Status::Failed(ErrorDetail {
                    code: e.code.to_owned(),
                    message: e.message,
                    field: None,
                }),
            };
        }
        // Forget the oldest finished jobs beyond the bound.
        let mut finished: Vec<(u64, String)> = inner
            .jobs
            .iter()
            .filter(|(_, j)| !matches!(j.status, Status::Running))
            .map(|(k, j)| (j.seq, k.clone()))
            .collect();
        if finished.len() > MAX_FINISHED_JOBS {
            finished.sort();
            let excess = finished.len() - MAX_FINISHED_JOBS;
            for (_, k) in finished.into_iter().take(excess) {
                inner.jobs.remove(&k);
            }
        }
    }

    /// Writes this replica's job `id` as it stands to the store (a failure is logged: the
    /// job goes on, and other replicas see it again at the next write). After its end, also
    /// purges the jobs finished more than [`FINISHED_JOB_KEEP_SECS`] ago.
    pub(crate) async fn publish(&self, id: &str) {
        let Some(store) = &self.store else { return };
        let Some(job) = self.lock().jobs.get(id).cloned() else { return };
        let (state, outcome_json) = match &job.status {
            Status::Running => (JobState::Running, None),
            Status::Done(pool) => (JobState::Done, serde_json::to_string(pool).ok()),
            Status::Failed(error) => (JobState::Failed, serde_json::to_string(error).ok()),
        };
        let now = now_secs();
        let record = JobRecord {
            id: id.to_owned(),
            state,
            done: job.done,
            total: job.total,
            outcome_json,
            created_at: job.created_at,
            updated_at: now,
        };
        if let Err(e) = store.put_job(&record).await {
            tracing::warn!(job = %id, error = %e, "publishing a provisioning job's progress");
        }
        if state != JobState::Running {
            if let Err(e) = store.purge_jobs(now.saturating_sub(FINISHED_JOB_KEEP_SECS)).await {
                tracing::warn!(error = %e, "purging old provisioning jobs");
            }
        }
    }

    /// How many steps of this replica's job `id` are done (`None`: not this replica's).
    pub(crate) fn done(&self, id: &str) -> Option<u64> {
        self.lock().jobs.get(id).map(|j| j.done)
    }

    /// The view of a job (`GET /v1/jobs/{job_id}`): this replica's from memory, another's from
    /// the store; `None` if unknown.
    pub async fn view(&self, id: &str) -> Result<Option<JobView>, ApiError> {
        if let Some(view) = self.local_view(id) {
            return Ok(Some(view));
        }
        let Some(store) = &self.store else { return Ok(None) };
        let Some(record) = store.job(id).await? else { return Ok(None) };
        Ok(Some(stored_view(&record, now_secs())))
    }

    fn local_view(&self, id: &str) -> Option<JobView> {
        let inner = self.lock();
        let job = inner.jobs.get(id)?;
        let (status, pool, error) = match &job.status {
            Status::Running => (JobStatus::Running, None, None),
            Status::Done(pool) => (JobStatus::Done, Some(pool.clone()), None),
            Status::Failed(error) => (JobStatus::Failed, None, Some(error.clone())),
        };
        Some(JobView { status, done: job.done, pool, error, ..running(id, job.total) })
    }
}

/// The view of a job read from the store at `now`: a running one whose replica stopped writing
/// is reported failed (`job_lost`).
fn stored_view(record: &JobRecord, now: u64) -> JobView {
    let base = JobView { done: record.done, ..running(&record.id, record.total) };
    let outcome = record.outcome_json.as_deref().unwrap_or("");
    match record.state {
        JobState::Running if now > record.updated_at.saturating_add(JOB_LOST_SECS) => JobView {
            status: JobStatus::Failed,
            error: Some(ErrorDetail {
                code: "job_lost".into(),
                message: format!(
                    "the replica running this job stopped reporting {} s ago, at {} of {}; \
                     nothing was stored: provision again",
                    now - record.updated_at,
                    record.done,
                    record.total
                ),
                field: None,
            }),
            ..base
        },
        JobState::Running => base,
        JobState::Done => {
            JobView { status: JobStatus::Done, pool: serde_json::from_str(outcome).ok(), ..base }
        }
        JobState::Failed => JobView {
            status: JobStatus::Failed,
            error: Some(serde_json::from_str(outcome).unwrap_or_else(|_| ErrorDetail {
                code: "job_failed".into(),
                message: "the job failed (its error could not be read back)".into(),
                field: None,
            })),
            ..base
        },
    }
}

/// A job just started: `running`, nothing done (the 202 answer of a large provisioning).
pub(crate) fn running(id: &str, total: u64) -> JobView {
    JobView {
        job_id: id.to_owned(),
        status: JobStatus::Running,
        done: 0,
        total,
        job: format!("/v1/jobs/{id}"),
        pool: None,
        error: None,
    }
}

/// `GET /v1/jobs/{job_id}` → `{job_id, status, done, total, pool?, error?}`; 404 `unknown_job`.
pub(crate) async fn show(
    State(state): State<AppState>,
    ApiPath(job_id): ApiPath<String>,
) -> Result<Json<JobView>, ApiError> {
    state.jobs.view(&job_id).await?.map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_job",
            format!("no job {job_id} (finished jobs are kept for a day)"),
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(state: JobState, updated_at: u64, outcome_json: Option<&str>) -> JobRecord {
        JobRecord {
            id: "ab".repeat(16),
            state,
            done: 40,
            total: 80,
            outcome_json: outcome_json.map(str::to_owned),
            created_at: 1_000,
            updated_at,
        }
    }

    #[test]
    fn another_replicas_job_reads_back_and_a_silent_one_is_lost() {
        let live = stored_view(&record(JobState::Running, 1_000, None), 1_000 + JOB_LOST_SECS);
        assert_eq!((live.status, live.done, live.total), (JobStatus::Running, 40, 80));
        let lost = stored_view(&record(JobState::Running, 1_000, None), 1_001 + JOB_LOST_SECS);
        assert_eq!(lost.status, JobStatus::Failed);
        assert_eq!(lost.error.expect("error").code, "job_lost");
        let error = r#"{"code":"node_failed","message":"the node","field":null}"#;
        let failed = stored_view(&record(JobState::Failed, 1_000, Some(error)), 5_000);
        assert_eq!(failed.error.expect("error").code, "node_failed");
        let garbled = stored_view(&record(JobState::Failed, 1_000, Some("{")), 5_000);
        assert_eq!(garbled.error.expect("error").code, "job_failed");
    }
}
