//! HTTP routes of the [co-signed wallets](crate::cosigned) (the threshold device wallet):
//! routed only when the gateway runs on a sandbox node (`AppState::cosigned`); admin token
//! required. Bodies and answers: [`lnedge_wire::cosigned`].
//!
//! | route | body → answer |
//! | --- | --- |
//! | `POST /v1/sandbox/cosigned` | `{device}` → 201 `{id, device, joint_key, signatures, link_bytes}` |
//! | `GET /v1/sandbox/cosigned` | → `{payment_service, wallets: […]}` |
//! | `POST /v1/sandbox/cosigned/{id}/channel` | `{capacity_sat}` → the wallet with its `channel` |
//! | `POST /v1/sandbox/deposit` | `{script, amount_sat}` → `{outpoint, amount_sat}` |
//!
//! Errors: 400 `invalid_field` (naming `device`, `script`, `amount_sat`, `capacity_sat` or
//! `id`); 404 `unknown_wallet`; 409 `channel_exists`; 502 `device_failed` (the device did not
//! answer, refused, or could not fund: its reason is in the message); 422 `node_failed`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lnedge_node::BackendError;
use lnedge_wire::cosigned::{
    CosignedList, CosignedWallet, DepositBody, Deposited, EnrolBody, OpenBody, CHANNEL_PATH,
    DEPOSIT_PATH, WALLETS_PATH,
};

use super::error::{parse_json, ApiError};
use super::route::{endpoint, Access, Endpoint};
use super::{ApiBody, ApiPath, AppState};
use crate::cosigned::{CosignedError, CosignedWallets};

/// This module's route table, routed by [`app`](super::app) only when the state has co-signed
/// wallets.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            "post",
            WALLETS_PATH,
            Access::Admin,
            "Sandbox only: enrol a wallet device, making its joint key over its link (admin)",
            enrol,
        ),
        endpoint(
            "get",
            WALLETS_PATH,
            Access::Admin,
            "Sandbox only: the enrolled wallet devices and the payment service (admin)",
            list,
        ),
        endpoint(
            "post",
            CHANNEL_PATH,
            Access::Admin,
            "Sandbox only: open a wallet device's co-signed channel, funded by the device (admin)",
            open_channel,
        ),
        endpoint(
            "post",
            DEPOSIT_PATH,
            Access::Admin,
            "Sandbox only: pay coins to an output script on the sandbox chain (admin)",
            deposit,
        ),
    ]
}

impl From<CosignedError> for ApiError {
    fn from(e: CosignedError) -> Self {
        let message = e.to_string();
        match e {
            CosignedError::Invalid { field, message } => ApiError::field(field, message),
            CosignedError::UnknownWallet(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_wallet", message)
            }
            CosignedError::ChannelExists(_) => {
                ApiError::new(StatusCode::CONFLICT, "channel_exists", message)
            }
            CosignedError::Device(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "device_failed", message)
            }
            CosignedError::Node(BackendError::InvalidInput { what, detail }) => {
                ApiError::field(what, detail)
            }
            CosignedError::Node(_) => ApiError::unprocessable("node_failed", message),
        }
    }
}

/// The co-signed wallets, or 404 as for any unknown route (never reached: the routes exist
/// only with them).
fn wallets(state: &AppState) -> Result<Arc<CosignedWallets>, ApiError> {
    state.cosigned.clone().ok_or_else(ApiError::route_not_found)
}

/// `POST /v1/sandbox/cosigned`.
async fn enrol(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<CosignedWallet>), ApiError> {
    let body: EnrolBody = parse_json(&body)?;
    Ok((StatusCode::CREATED, Json(wallets(&state)?.enrol(&body.device).await?)))
}

/// `GET /v1/sandbox/cosigned`.
async fn list(State(state): State<AppState>) -> Result<Json<CosignedList>, ApiError> {
    Ok(Json(wallets(&state)?.list()))
}

/// `POST /v1/sandbox/cosigned/{id}/channel`.
async fn open_channel(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<u32>,
    ApiBody(body): ApiBody,
) -> Result<Json<CosignedWallet>, ApiError> {
    let body: OpenBody = parse_json(&body)?;
    Ok(Json(wallets(&state)?.open_channel(id, body.capacity_sat).await?))
}

/// `POST /v1/sandbox/deposit`.
async fn deposit(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Json<Deposited>, ApiError> {
    let body: DepositBody = parse_json(&body)?;
    Ok(Json(wallets(&state)?.deposit(&body.script, body.amount_sat).await?))
}
