//! Background jobs: large pool provisioning runs in a tokio task and reports progress here.
//!
//! Jobs live in memory, **per replica**, and are lost on restart. That is safe: a pool is stored
//! only once it is complete, so a lost (or failed) job leaves nothing behind but unused sequence
//! numbers — provision again.

use std::collections::HashMap;
use std::sync::Mutex;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lnedge_wire::error::ErrorDetail;
use lnedge_wire::pools::{Job as JobView, JobStatus, ProvisionedPool};

use super::error::ApiError;
use super::{ApiPath, AppState};

/// Most finished jobs remembered; the oldest finished ones are forgotten beyond this.
pub const MAX_FINISHED_JOBS: usize = 1_000;

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
}

/// The in-memory job table of one replica.
#[derive(Debug, Default)]
pub struct Jobs {
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    next_seq: u64,
    jobs: HashMap<String, Job>,
}

impl Jobs {
    /// An empty table.
    pub fn new() -> Self {
        Self::default()
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
        inner.jobs.insert(id.clone(), Job { seq, done: 0, total, status: Status::Running });
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

    /// The view of a job (`GET /v1/jobs/{job_id}`), or `None` if unknown.
    pub fn view(&self, id: &str) -> Option<JobView> {
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
    state.jobs.view(&job_id).map(Json).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            "unknown_job",
            format!(
                "no job {job_id} on this replica (jobs are kept in memory and lost on restart)"
            ),
        )
    })
}
