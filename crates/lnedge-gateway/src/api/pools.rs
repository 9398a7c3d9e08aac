//! Pool provisioning and pool files.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lnedge_wire::pools::{Job, ProvisionedPool, ProvisionedProduct};
use serde::Deserialize;

use super::devices::{parse_device_id, parse_pool_id};
use super::error::{parse_json, ApiError};
use super::{ApiBody, ApiPath, AppState};
use crate::provision::PoolPlan;

/// `POST /v1/devices/{id}/pools` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvisionRequest {
    entries_per_product: u32,
    expiry_days: u32,
}

/// Pools of at most this many entries are provisioned within the request (201); larger ones
/// run as a background job (202, see [`jobs`](super::jobs)).
pub const MAX_SYNC_PROVISION_ENTRIES: u64 = 200;

/// What `POST /v1/devices/{id}/pools` answers: the pool (201) or its job (202).
#[derive(serde::Serialize)]
#[serde(untagged)]
pub(crate) enum Provisioned {
    /// 201: provisioned within the request.
    Pool(ProvisionedPool),
    /// 202: provisioning in the background.
    Job(Job),
}

/// `POST /v1/devices/{id}/pools` → 201 [`ProvisionedPool`] for a small pool, 202 running
/// [`Job`] for a large one (see [`MAX_SYNC_PROVISION_ENTRIES`]). Every check that can refuse
/// the request (4xx) runs before answering either way.
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<Provisioned>), ApiError> {
    let plan = prepare(&state, &id, &body).await?;
    let total = plan.total_entries();
    if total <= MAX_SYNC_PROVISION_ENTRIES {
        let pool = build(&state, &plan, |_, _| {}).await?;
        return Ok((StatusCode::CREATED, Json(Provisioned::Pool(pool))));
    }
    let job_id = start_job(&state, plan).await;
    Ok((StatusCode::ACCEPTED, Json(Provisioned::Job(super::jobs::running(&job_id, total)))))
}

/// Builds `plan`'s pool in a background task that reports its progress in [`AppState::jobs`]
/// (the API for large pools, the dashboard for every pool: its progress bar reads the job),
/// published to the store so that every replica can show it; answers the job's id.
pub(crate) async fn start_job(state: &AppState, plan: PoolPlan) -> String {
    let job_id = state.jobs.start(plan.total_entries());
    state.jobs.publish(&job_id).await;
    let task_state = state.clone();
    let task_job = job_id.clone();
    tokio::spawn(async move {
        let jobs = task_state.jobs.clone();
        let built = build(&task_state, &plan, |done, total| jobs.progress(&task_job, done, total));
        tokio::pin!(built);
        let mut tick = tokio::time::interval(super::jobs::PUBLISH_INTERVAL);
        let mut published = 0;
        let result = loop {
            tokio::select! {
                result = &mut built => break result,
                _ = tick.tick() => {
                    let done = jobs.done(&task_job).unwrap_or(0);
                    if done != published {
                        published = done;
                        jobs.publish(&task_job).await;
                    }
                }
            }
        };
        if let Err(e) = &result {
            tracing::warn!(job = %task_job, pool = %plan.pool_id, error = %e, "provisioning job failed");
        }
        jobs.finish(&task_job, result);
        jobs.publish(&task_job).await;
    });
    job_id
}

/// Parses a provisioning request and plans it (every refusal happens here).
async fn prepare(state: &AppState, id: &str, body: &[u8]) -> Result<PoolPlan, ApiError> {
    let device_id = parse_device_id("id", id)?;
    let req: ProvisionRequest = parse_json(body)?;
    Ok(state.gateway.pools().plan(device_id, req.entries_per_product, req.expiry_days).await?)
}

/// Builds and stores the pool of `plan` and returns its description.
async fn build(
    state: &AppState,
    plan: &PoolPlan,
    progress: impl FnMut(u64, u64),
) -> Result<ProvisionedPool, ApiError> {
    let built = state.gateway.pools().build(plan, progress).await?;
    let (record, device_id) = (&built.pool, plan.device_id);
    state.metrics.provisioned_entries.inc_by(built.entries as u64);
    Ok(ProvisionedPool {
        pool_id: record.id.to_string(),
        device_id: device_id.to_string(),
        entries: built.entries as u64,
        bytes: record.bytes.len() as u64,
        bolt11_bytes: built.bolt11_bytes,
        owner_node_id: hex::encode(built.owner_node_id),
        created_at: record.created_at,
        expires_at: record.expires_at,
        products: plan
            .products
            .iter()
            .map(|p| ProvisionedProduct {
                id: p.id,
                price_msat: p.price_msat,
                first_seq: p.first_seq,
            })
            .collect(),
        file: format!("/v1/devices/{device_id}/pools/{}/file", record.id),
    })
}

/// `GET /v1/devices/{id}/pools/{pool_id}/file` → the pool file (`application/octet-stream`).
pub(crate) async fn file(
    State(state): State<AppState>,
    ApiPath((id, pool_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let device_id = parse_device_id("id", &id)?;
    let pool_id = parse_pool_id("pool_id", &pool_id)?;
    let pool = state.gateway.pools().file(device_id, pool_id).await?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{pool_id}.pool\"")),
        ],
        pool.bytes,
    )
        .into_response())
}
