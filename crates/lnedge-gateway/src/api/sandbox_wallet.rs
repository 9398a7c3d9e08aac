//! HTTP routes of the [sandbox wallet](crate::sandbox_wallet): routed only when the gateway runs
//! on a sandbox node and started the wallet (`AppState::sandbox_wallet`); admin token required.
//! Bodies and answers: [`lnedge_wire::sandbox_wallet`].
//!
//! | route | body → answer |
//! | --- | --- |
//! | `POST /v1/sandbox/wallet/pay` | `{invoice, amount_msat?}` → `{kind, amount_msat, fee_msat?, payment_hash, preimage, invoice, success_action?}` |
//! | `POST /v1/sandbox/wallet/withdraw` | `{lnurl, pin?}` → `{amount_msat, payment_hash, description}` |
//! | `POST /v1/sandbox/wallet/login` | `{lnurl}` → `{domain, linking_key, action?}` |
//! | `POST /v1/sandbox/wallet/invoice` | `{preimage, amount_msat, description, expiry_secs?}` → `{invoice, payment_hash}` |
//!
//! Errors: 400 `invalid_field` (not an invoice, not an LNURL, no amount), 422
//! `wrong_lnurl_kind` (e.g. a payRequest given to withdraw), `service_refused` (a LUD-01
//! error), `invoice_mismatch` (amount or description hash), `payment_failed`; 502
//! `service_unreachable`, `bad_service_answer`; 504 `not_paid`.

use std::sync::Arc;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lnedge_node::BackendError;
use lnedge_wire::sandbox_wallet::{
    InvoiceBody, Invoiced, LoggedIn, LoginBody, Paid, PayBody, WithdrawBody, Withdrawn,
    INVOICE_PATH, LOGIN_PATH, PAY_PATH, WITHDRAW_PATH,
};

use super::error::{parse_json, ApiError};
use super::route::{endpoint, Access, Endpoint};
use super::{ApiBody, AppState};
use crate::sandbox_wallet::{SandboxWallet, WalletError};

/// This module's route table, routed by [`app`](super::app) only when the state has a sandbox
/// wallet.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            "post",
            PAY_PATH,
            Access::Admin,
            "Sandbox only: the sandbox wallet pays a BOLT 11 invoice or an LNURL-pay (admin)",
            pay,
        ),
        endpoint(
            "post",
            WITHDRAW_PATH,
            Access::Admin,
            "Sandbox only: the sandbox wallet takes an LNURL-withdraw (admin)",
            withdraw,
        ),
        endpoint(
            "post",
            LOGIN_PATH,
            Access::Admin,
            "Sandbox only: the sandbox wallet answers an LNURL-auth login (admin)",
            login,
        ),
        endpoint(
            "post",
            INVOICE_PATH,
            Access::Admin,
            "Sandbox only: an invoice of the sandbox wallet's node for a preimage the caller holds (the relay's payee side; admin)",
            invoice,
        ),
    ]
}

impl From<WalletError> for ApiError {
    fn from(e: WalletError) -> Self {
        let message = e.to_string();
        match e {
            WalletError::Invalid { field, message } => ApiError::field(field, message),
            WalletError::Node(BackendError::InvalidInput { what, detail }) => {
                ApiError::field(what, detail)
            }
            WalletError::WrongKind { .. } => ApiError::unprocessable("wrong_lnurl_kind", message),
            WalletError::Refused(_) => ApiError::unprocessable("service_refused", message),
            WalletError::Mismatch(_) => ApiError::unprocessable("invoice_mismatch", message),
            WalletError::Node(_) => ApiError::unprocessable("payment_failed", message),
            WalletError::Unreachable { .. } => {
                ApiError::new(StatusCode::BAD_GATEWAY, "service_unreachable", message)
            }
            WalletError::BadAnswer(_) => {
                ApiError::new(StatusCode::BAD_GATEWAY, "bad_service_answer", message)
            }
            WalletError::NotPaid(_) => {
                ApiError::new(StatusCode::GATEWAY_TIMEOUT, "not_paid", message)
            }
            WalletError::Key(_) => ApiError::internal("sandbox wallet: linking key", &message),
        }
    }
}

/// The sandbox wallet, or 404 as for any unknown route (never reached: the routes exist only
/// with a wallet).
fn wallet(state: &AppState) -> Result<Arc<SandboxWallet>, ApiError> {
    state.sandbox_wallet.clone().ok_or_else(ApiError::route_not_found)
}

/// `POST /v1/sandbox/wallet/pay`.
async fn pay(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Json<Paid>, ApiError> {
    let body: PayBody = parse_json(&body)?;
    Ok(Json(wallet(&state)?.pay(&body.invoice, body.amount_msat).await?))
}

/// `POST /v1/sandbox/wallet/withdraw`.
async fn withdraw(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Json<Withdrawn>, ApiError> {
    let body: WithdrawBody = parse_json(&body)?;
    Ok(Json(wallet(&state)?.withdraw(&body.lnurl, body.pin.as_deref()).await?))
}

/// `POST /v1/sandbox/wallet/login`.
async fn login(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Json<LoggedIn>, ApiError> {
    let body: LoginBody = parse_json(&body)?;
    Ok(Json(wallet(&state)?.login(&body.lnurl).await?))
}

/// `POST /v1/sandbox/wallet/invoice`.
async fn invoice(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Json<Invoiced>, ApiError> {
    let body: InvoiceBody = parse_json(&body)?;
    let wallet = wallet(&state)?;
    Ok(Json(
        wallet
            .invoice(&body.preimage, body.amount_msat, &body.description, body.expiry_secs)
            .await?,
    ))
}
