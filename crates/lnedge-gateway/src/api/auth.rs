//! Authentication: the operator's admin token (its changes audited as `admin-token`), and
//! per-device HMAC signatures on sync uploads.
//!
//! # Device sync signatures
//!
//! The scheme is the devices' and the gateway's shared contract, in `lnedge_wire::sign` (keys in
//! `lnedge_wire::keys`); the engine checks it ([`crate::sync`]) before the body is parsed.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::Method;
use axum::middleware::Next;
use axum::response::Response;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;
use crate::operators::ADMIN_TOKEN_ACTOR;

/// Middleware of the admin routes: `Authorization: Bearer <admin token>`, compared in constant
/// time (both sides hashed first, so the comparison leaks neither content nor length).
pub(crate) async fn require_admin(
    State(state): State<AppState>,
    request: Request,
    next: Next,
) -> Result<Response, ApiError> {
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .and_then(|(scheme, token)| scheme.eq_ignore_ascii_case("bearer").then_some(token))
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing_token",
                "an `Authorization: Bearer <admin token>` header is required",
            )
        })?;
    let want = Sha256::digest(state.admin_token.as_bytes());
    let got = Sha256::digest(presented.trim().as_bytes());
    if state.admin_token.is_empty() || !bool::from(want.ct_eq(&got)) {
        return Err(ApiError::unauthorized("bad_token", "the admin token is not valid"));
    }
    let changes = !matches!(*request.method(), Method::GET | Method::HEAD | Method::OPTIONS);
    let (method, path) = (request.method().clone(), request.uri().path().to_owned());
    let response = next.run(request).await;
    // Every change made with the admin token goes to the audit log too (the dashboard's
    // changes are logged with the operator's name by the dashboard).
    if changes && response.status().is_success() {
        let action = format!("api {method}");
        let detail = response.status().as_u16().to_string();
        let operators = state.gateway.operators();
        if let Err(e) = operators.audit(ADMIN_TOKEN_ACTOR, &action, &path, &detail).await {
            tracing::error!(error = %e, %path, "the audit log refused an API change");
        }
    }
    Ok(response)
}
