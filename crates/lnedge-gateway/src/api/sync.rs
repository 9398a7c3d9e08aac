//! Device sync: a device uploads its ledger states, signed with its device key.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use lnedge_proto::ledger::EntryState;
use serde::Deserialize;
use serde_json::{json, Value};

use super::auth::verify_sync_signature;
use super::devices::{load_device, parse_device_id, parse_pool_id};
use super::error::{parse_json, ApiError};
use super::{ApiBody, ApiPath, AppState};
use crate::store::{EntryReport, StoreError};

/// Most reports in one upload.
pub const MAX_REPORTS: usize = 10_000;

/// `POST /v1/devices/{id}/sync` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct SyncRequest {
    counter: u64,
    reports: Vec<ReportInput>,
    /// Include the new pools' bytes (hex) in the answer, to top up in the same exchange.
    #[serde(default)]
    want_pool_files: bool,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ReportInput {
    pool_id: String,
    index: u32,
    state: String,
}

/// The body a device (or the operator's phone relaying for it) uploads to
/// `POST /v1/devices/{id}/sync`: `{"counter": n, "reports": [{"pool_id", "index", "state"}]}`.
/// Sign the returned bytes with [`sign_sync`](super::sign_sync).
pub fn sync_request_body(
    counter: u64,
    reports: impl IntoIterator<Item = (lnedge_proto::PoolId, u32, EntryState)>,
) -> Vec<u8> {
    sync_request_body_with(counter, reports, false)
}

/// [`sync_request_body`], optionally asking for the new pools' files (`"want_pool_files": true`:
/// the answer's `pools[].hex` holds each new pool file, hex-encoded).
pub fn sync_request_body_with(
    counter: u64,
    reports: impl IntoIterator<Item = (lnedge_proto::PoolId, u32, EntryState)>,
    want_pool_files: bool,
) -> Vec<u8> {
    let reports: Vec<serde_json::Value> = reports
        .into_iter()
        .filter(|(_, _, state)| *state != EntryState::Unused)
        .map(|(pool, index, state)| {
            serde_json::json!({"pool_id": pool.to_string(), "index": index, "state": state.name()})
        })
        .collect();
    let mut body = serde_json::json!({"counter": counter, "reports": reports});
    if want_pool_files {
        body["want_pool_files"] = true.into();
    }
    body.to_string().into_bytes()
}

fn parse_state(field: &str, text: &str) -> Result<EntryState, ApiError> {
    match text {
        "offered" => Ok(EntryState::Offered),
        "claimed" => Ok(EntryState::Claimed),
        "dispensed" => Ok(EntryState::Dispensed),
        "failed" => Ok(EntryState::Failed),
        other => Err(ApiError::field(
            field,
            format!("`{other}` is not one of offered, claimed, dispensed, failed"),
        )),
    }
}

/// `POST /v1/devices/{id}/sync` → 200 `{applied, unchanged, ignored_regressions, counter}`.
///
/// Order of checks: the device exists (404), the signature of the raw body verifies (401, before
/// any parsing), the device is enabled (403), the body parses (400), the counter is new (409).
pub(crate) async fn sync(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<Json<Value>, ApiError> {
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
) -> Result<Json<Value>, ApiError> {
    let device_id = parse_device_id("id", id)?;
    let device = load_device(state, device_id).await?;
    verify_sync_signature(&state.device_master_key, &device_id, headers, body)?;
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
    let mut reports = Vec::with_capacity(req.reports.len());
    for (i, r) in req.reports.iter().enumerate() {
        reports.push(EntryReport {
            pool_id: parse_pool_id(&format!("reports[{i}].pool_id"), &r.pool_id)?,
            index: r.index,
            state: parse_state(&format!("reports[{i}].state"), &r.state)?,
        });
    }
    let outcome = match state.store.apply_sync(device_id, req.counter, &reports).await {
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
    Ok(Json(json!({
        "counter": req.counter,
        "applied": outcome.applied,
        "unchanged": outcome.unchanged,
        "ignored_regressions": outcome.ignored_regressions,
        "pools": pools,
    })))
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
) -> Result<Vec<Value>, ApiError> {
    let mut fresh = Vec::new();
    for pool in state.store.pools(device_id).await?.into_iter().rev() {
        let entries = state.store.entries(pool.id).await?;
        if entries.iter().any(|e| e.state != EntryState::Unused) {
            break;
        }
        let mut v = json!({
            "pool_id": pool.id.to_string(),
            "file": format!("/v1/devices/{device_id}/pools/{}/file", pool.id),
            "entries": entries.len(),
        });
        if with_files {
            v["hex"] = hex::encode(&pool.bytes).into();
        }
        fresh.push(v);
    }
    fresh.reverse();
    Ok(fresh)
}
