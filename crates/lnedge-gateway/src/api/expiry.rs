//! `GET /v1/pools/expiring?within_days=N`: pools to re-provision.

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::Json;
use serde_json::{json, Value};

use super::error::ApiError;
use super::AppState;
use crate::expiry::{expiring_pools, DEFAULT_WITHIN_DAYS};

/// Largest `within_days`.
pub const MAX_WITHIN_DAYS: u64 = 365;

/// `GET /v1/pools/expiring?within_days=N` (1–365, default 7) →
/// `{"pools":[{device_id, pool_id, expires_at, expires_in_secs, unused_entries}]}`.
pub(crate) async fn expiring(
    State(state): State<AppState>,
    Query(query): Query<HashMap<String, String>>,
) -> Result<Json<Value>, ApiError> {
    let within_days = match query.get("within_days") {
        None => DEFAULT_WITHIN_DAYS,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=MAX_WITHIN_DAYS).contains(&n) => n,
            _ => {
                return Err(ApiError::field(
                    "within_days",
                    format!("{text:?} is not a whole number of days from 1 to {MAX_WITHIN_DAYS}"),
                ))
            }
        },
    };
    let pools = expiring_pools(
        state.gateway.store().as_ref(),
        within_days * 86_400,
        state.gateway.now_secs(),
    )
    .await?;
    let pools: Vec<Value> = pools
        .iter()
        .map(|p| {
            json!({
                "device_id": p.device_id.to_string(),
                "pool_id": p.pool_id.to_string(),
                "expires_at": p.expires_at,
                "expires_in_secs": p.expires_in_secs,
                "unused_entries": p.unused_entries,
            })
        })
        .collect();
    Ok(Json(json!({ "pools": pools })))
}
