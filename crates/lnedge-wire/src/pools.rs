//! Pool provisioning answers: `POST /v1/devices/{id}/pools` answers 201 with the
//! [`ProvisionedPool`] or, for a large pool, 202 with a running [`Job`], which
//! `GET /v1/jobs/{job_id}` answers until it is done (with the pool) or failed.

use serde::{Deserialize, Serialize};

use crate::error::ErrorDetail;

/// A pool just provisioned on the owner's node and stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedPool {
    /// The pool (16 hex characters).
    pub pool_id: String,
    /// Its device (32 hex characters).
    pub device_id: String,
    /// How many invoices (entries) it holds.
    pub entries: u64,
    /// The pool file's size in bytes.
    pub bytes: u64,
    /// What the same invoices take as BOLT 11 text, in bytes (to compare with `bytes`).
    pub bolt11_bytes: u64,
    /// The owner node id that signed the invoices (66 hex characters).
    pub owner_node_id: String,
    /// When it was made (seconds since the Unix epoch).
    pub created_at: u64,
    /// When its invoices expire (seconds since the Unix epoch).
    pub expires_at: u64,
    /// Each product's price and first sequence number in the pool.
    pub products: Vec<ProvisionedProduct>,
    /// The path of the pool file (`GET` it with the admin token).
    pub file: String,
}

/// A product of a [`ProvisionedPool`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProvisionedProduct {
    /// The product's number on the device.
    pub id: u16,
    /// Its price in the pool, in millisatoshis.
    pub price_msat: u64,
    /// The sequence number of its first entry.
    pub first_seq: u32,
}

/// Where a provisioning [`Job`] is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobStatus {
    /// Still provisioning.
    Running,
    /// Finished: the job has its `pool`.
    Done,
    /// Failed: the job has its `error`.
    Failed,
}

/// A background provisioning job (per gateway replica, in memory).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Job {
    /// The job's id (32 hex characters).
    pub job_id: String,
    /// Running, done or failed.
    pub status: JobStatus,
    /// Entries provisioned so far.
    pub done: u64,
    /// Entries to provision.
    pub total: u64,
    /// The path to poll (`/v1/jobs/{job_id}`).
    pub job: String,
    /// The pool, once done; absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pool: Option<ProvisionedPool>,
    /// Why it failed (`code`, `message`); absent otherwise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub error: Option<ErrorDetail>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_running_job_has_neither_pool_nor_error() {
        let job = Job {
            job_id: "ab".into(),
            status: JobStatus::Running,
            done: 0,
            total: 300,
            job: "/v1/jobs/ab".into(),
            pool: None,
            error: None,
        };
        let text = serde_json::to_string(&job).unwrap();
        assert_eq!(
            text,
            r#"{"job_id":"ab","status":"running","done":0,"total":300,"job":"/v1/jobs/ab"}"#
        );
        assert_eq!(serde_json::from_str::<Job>(&text).unwrap(), job);
        let failed = Job {
            status: JobStatus::Failed,
            error: Some(ErrorDetail { code: "c".into(), message: "m".into(), field: None }),
            ..job
        };
        assert_eq!(
            serde_json::to_string(&failed).unwrap(),
            r#"{"job_id":"ab","status":"failed","done":0,"total":300,"job":"/v1/jobs/ab","error":{"code":"c","message":"m"}}"#
        );
    }
}
