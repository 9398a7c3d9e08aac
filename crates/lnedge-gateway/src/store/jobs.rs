//! Storage for the provisioning jobs' progress (`api/jobs.rs`), so that every replica behind a
//! load balancer shows a job's progress bar, whichever replica runs it.
//!
//! Part of [`GatewayStore`](super::GatewayStore) (a supertrait), implemented by both stores in
//! `sqlite/jobs.rs` and `postgres/jobs.rs`, with its schema in migration `0009_jobs.sql`.
//!
//! # Contract
//!
//! * [`put_job`](JobStore::put_job) creates a job or changes a **running** one: a finished job
//!   (done or failed) is never changed again, and a job's `done` never goes down. So a late
//!   progress write cannot undo the end of a job.
//! * The stores keep the outcome as the JSON text they are given; they do not read it.

use async_trait::async_trait;

use super::StoreError;

/// Where a job stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JobState {
    /// Being built by the replica that started it.
    Running,
    /// Built and stored; the outcome is the pool's description.
    Done,
    /// Failed; the outcome is the error.
    Failed,
}

impl JobState {
    /// The lower-case name stored.
    pub fn name(self) -> &'static str {
        match self {
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    /// The state named `name`.
    pub fn from_name(name: &str) -> Option<JobState> {
        [JobState::Running, JobState::Done, JobState::Failed].into_iter().find(|s| s.name() == name)
    }
}

/// A job as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct JobRecord {
    /// Its id (32 hex characters).
    pub id: String,
    /// Where it stands.
    pub state: JobState,
    /// Steps done (invoices created).
    pub done: u64,
    /// Steps in all.
    pub total: u64,
    /// The outcome as JSON (the pool's description, or the error), once finished.
    pub outcome_json: Option<String>,
    /// When it started (seconds since the Unix epoch).
    pub created_at: u64,
    /// Its last write (seconds since the Unix epoch): a running job whose replica stopped stops
    /// being written.
    pub updated_at: u64,
}

/// Provisioning jobs (see the module's contract).
#[async_trait]
pub trait JobStore: Send + Sync {
    /// Creates `job`, or replaces the stored one if that is still running (keeping the larger
    /// `done`); answers whether anything was written.
    async fn put_job(&self, job: &JobRecord) -> Result<bool, StoreError>;

    /// The job `id`, if any.
    async fn job(&self, id: &str) -> Result<Option<JobRecord>, StoreError>;

    /// Deletes the jobs last written before `before` that are finished; answers how many went.
    async fn purge_jobs(&self, before: u64) -> Result<u64, StoreError>;
}
