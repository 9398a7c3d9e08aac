//! Authentication: the operator's admin token, and per-device HMAC signatures on sync uploads.
//!
//! # Device sync signatures
//!
//! The scheme is the devices' and the gateway's shared contract, in `lnedge_wire::sign` (keys in
//! `lnedge_wire::keys`): each device holds its sync key (written at enrolment; the gateway
//! recomputes it from the master key, so no per-device secret is stored), and signs the raw body
//! of each upload in `X-Lnedge-Signature`, checked here in constant time before the body is
//! parsed. The body's `counter` must grow with every upload, so a replayed upload is refused.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sign::verify_body;
use lnedge_wire::SIGNATURE_HEADER;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;

/// Checks a device's signature of `body` in constant time (`lnedge_wire::sign`).
pub(crate) fn verify_sync_signature(
    master: &[u8; 32],
    device: &DeviceId,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let Some(value) = headers.get(SIGNATURE_HEADER) else {
        return Err(ApiError::unauthorized(
            "missing_signature",
            format!("the {SIGNATURE_HEADER} header is required on sync uploads"),
        ));
    };
    let bad = || ApiError::unauthorized("bad_signature", "the sync signature does not verify");
    let text = value.to_str().map_err(|_| bad())?;
    let key = zeroize::Zeroizing::new(device_sync_key(master, device));
    verify_body(&key, body, text).map_err(|_| bad())
}

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
    Ok(next.run(request).await)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn signatures_verify_only_with_the_right_key_and_body() {
        let master = [7u8; 32];
        let device = DeviceId([1; 16]);
        let key = device_sync_key(&master, &device);
        let body = br#"{"counter":1,"reports":[]}"#;
        let mut headers = HeaderMap::new();
        let signature = lnedge_wire::sign::sign_body(&key, body);
        headers.insert(SIGNATURE_HEADER, signature.parse().expect("header"));
        assert!(verify_sync_signature(&master, &device, &headers, body).is_ok());
        assert!(verify_sync_signature(&master, &device, &headers, b"{}").is_err());
        assert!(verify_sync_signature(&master, &DeviceId([2; 16]), &headers, body).is_err());
        let err =
            verify_sync_signature(&master, &device, &HeaderMap::new(), body).expect_err("none");
        assert_eq!(err.code, "missing_signature");
    }
}
