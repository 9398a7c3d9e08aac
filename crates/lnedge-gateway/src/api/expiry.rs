//! `GET /v1/pools/expiring?within_days=N`: pools to re-provision.

use std::collections::HashMap;

use axum::extract::State;
use axum::Json;
use serde::Serialize;

use super::error::ApiError;
use super::AppState;
use crate::expiry::{ExpiringPool, DEFAULT_WITHIN_DAYS};

/// Largest `within_days`.
pub const MAX_WITHIN_DAYS: u64 = 365;

/// `GET /v1/pools/expiring` answer.
#[derive(Debug, Serialize)]
pub(crate) struct ExpiringList {
    pools: Vec<ExpiringBody>,
}

/// A pool to re-provision.
#[derive(Debug, Serialize)]
struct ExpiringBody {
    device_id: String,
    pool_id: String,
    expires_at: u64,
    expires_in_secs: i64,
    unused_entries: u32,
}

impl From<&ExpiringPool> for ExpiringBody {
    fn from(p: &ExpiringPool) -> Self {
        ExpiringBody {
            device_id: p.device_id.to_string(),
            pool_id: p.pool_id.to_string(),
            expires_at: p.expires_at,
            expires_in_secs: p.expires_in_secs,
            unused_entries: p.unused_entries,
        }
    }
}

/// `GET /v1/pools/expiring?within_days=N` (1–365, default 7) →
/// `{"pools":[{device_id, pool_id, expires_at, expires_in_secs, unused_entries}]}`.
pub(crate) async fn expiring(
    State(state): State<AppState>,
    super::ApiQuery(query): super::ApiQuery<HashMap<String, String>>,
) -> Result<Json<ExpiringList>, ApiError> {
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
    let pools = state.gateway.expiring_pools(within_days * 86_400).await?;
    Ok(Json(ExpiringList { pools: pools.iter().map(ExpiringBody::from).collect() }))
}
