//! Device sync: a device uploads its ledger states, signed with its device key.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::Json;
use lnedge_wire::sync::{SyncRequest, SyncResponse};
use lnedge_wire::SIGNATURE_HEADER;

use super::devices::parse_device_id;
use super::error::{parse_json, ApiError};
use super::{ApiBody, ApiPath, AppState};

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
    let sync = state.gateway.sync();
    let auth = sync.authenticate(device_id, body, signature(headers)).await?;
    let req: SyncRequest = parse_json(body)?;
    let answer = sync.apply(&auth, &req).await?;
    let m = &state.metrics;
    m.sync_entries.with_label_values(&["applied"]).inc_by(answer.applied.into());
    m.sync_entries.with_label_values(&["unchanged"]).inc_by(answer.unchanged.into());
    m.sync_entries
        .with_label_values(&["ignored_regression"])
        .inc_by(answer.ignored_regressions.into());
    Ok(Json(answer))
}

/// The `X-Lnedge-Signature` value, if present and text.
pub(crate) fn signature(headers: &HeaderMap) -> Option<&str> {
    headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok())
}
