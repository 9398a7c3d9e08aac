//! Device sync: a device uploads its ledger states, signed with its device key.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use lnedge_proto::ledger::EntryState;
use lnedge_wire::sync::{NewPool, SyncRequest, SyncResponse, MAX_REPORTS};

use super::auth::verify_sync_signature;
use super::devices::{load_device, parse_device_id};
use super::error::{parse_json, ApiError};
use super::{ApiBody, ApiPath, AppState};
use crate::store::StoreError;

/// `POST /v1/devices/{id}/sync` → 200 `{applied, unchanged, ignored_regressions, counter}`.
///
/// Order of checks: the device exists (404), the signature of the raw body verifies (401, before
/// any parsing), the device is enabled (403), the body parses (400), the counter is new (409).
pub(crate) async fn sync(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<Json<SyncResponse>, ApiError> {
    let result = sync_inner(&state, &id, &headers, &body).await;
    let outcome = match &result {
        Ok(_) => "applied",
        Err(e) if e.code == "replayed_sync" => "replayed",
        Err(e) if e.status == StatusCode::UNAUTHORIZED => "unauthorized",
        Err(_) => "rejected",
    };
    state.metrics.syncs.with_label_values(&[outcome]).inc();
    result
}

async fn sync_inner(
    state: &AppState,
    id: &str,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<Json<SyncResponse>, ApiError> {
    let device_id = parse_device_id("id", id)?;
    let device = load_device(state, device_id).await?;
    verify_sync_signature(state.gateway.device_master_key(), &device_id, headers, body)?;
    if !device.enabled {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "device_disabled",
            format!("device {device_id} is disabled"),
        ));
    }
    let req: SyncRequest = parse_json(body)?;
    if req.reports.len() > MAX_REPORTS {
        return Err(ApiError::field(
            "reports",
            format!("at most {MAX_REPORTS} reports per upload"),
        ));
    }
    let outcome = match state.gateway.store().apply_sync(device_id, req.counter, &req.reports).await
    {
        Ok(o) => o,
        Err(StoreError::ReplayedSync { counter, last, .. }) => {
            return Err(ApiError::new(
                StatusCode::CONFLICT,
                "replayed_sync",
                format!("sync counter {counter} is not above the last applied {last} (a replay)"),
            ))
        }
        Err(e) => return Err(e.into()),
    };
    let m = &state.metrics;
    m.sync_entries.with_label_values(&["applied"]).inc_by(outcome.applied.into());
    m.sync_entries.with_label_values(&["unchanged"]).inc_by(outcome.unchanged.into());
    m.sync_entries
        .with_label_values(&["ignored_regression"])
        .inc_by(outcome.ignored_regressions.into());
    tracing::info!(
        device = %device_id,
        counter = req.counter,
        applied = outcome.applied,
        unchanged = outcome.unchanged,
        ignored_regressions = outcome.ignored_regressions,
        "device synced"
    );
    let pools = new_pools(state, device_id, req.want_pool_files).await?;
    Ok(Json(SyncResponse {
        counter: req.counter,
        applied: outcome.applied,
        unchanged: outcome.unchanged,
        ignored_regressions: outcome.ignored_regressions,
        pools,
    }))
}

/// The device's pools newer than every pool it has ever reported (all of them if it has reported
/// none): provisioned but never seen in a sync, so the device should install them. A pool counts
/// as reported when any of its entries is not `Unused` in the store (this sync's reports are
/// already applied). Pools come from the store oldest first, so the walk goes from the newest
/// back to the first reported one.
async fn new_pools(
    state: &AppState,
    device_id: lnedge_proto::DeviceId,
    with_files: bool,
) -> Result<Vec<NewPool>, ApiError> {
    let mut fresh = Vec::new();
    for pool in state.gateway.store().pools(device_id).await?.into_iter().rev() {
        let entries = state.gateway.store().entries(pool.id).await?;
        if entries.iter().any(|e| e.state != EntryState::Unused) {
            break;
        }
        fresh.push(NewPool {
            pool_id: pool.id.to_string(),
            file: format!("/v1/devices/{device_id}/pools/{}/file", pool.id),
            entries: u32::try_from(entries.len()).unwrap_or(u32::MAX),
            hex: with_files.then(|| hex::encode(&pool.bytes)),
        });
    }
    fresh.reverse();
    Ok(fresh)
}
