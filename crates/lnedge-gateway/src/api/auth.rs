//! Authentication: the operator's admin token, and per-device HMAC signatures on sync uploads.
//!
//! # Device sync signatures
//!
//! Each device holds `device_key = HMAC-SHA256(device_master_key, "lnedge/device-sync" ‖
//! device_id)` (written into it at enrolment; the gateway recomputes it from the master key, so
//! no per-device secret is stored). A sync upload carries the header
//! `X-Lnedge-Signature: hex(HMAC-SHA256(device_key, raw body bytes))`, checked in constant time
//! before the body is parsed. The body's `counter` must grow with every upload, so a captured
//! upload replayed later is refused.

use axum::extract::{Request, State};
use axum::http::header::AUTHORIZATION;
use axum::http::HeaderMap;
use axum::middleware::Next;
use axum::response::Response;
use hmac::{Hmac, Mac};
use lnedge_proto::DeviceId;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::ApiError;
use super::AppState;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying a device's signature of its sync upload.
pub const SIGNATURE_HEADER: &str = "x-lnedge-signature";

/// Domain separator of the device-key derivation.
const DEVICE_KEY_LABEL: &[u8] = b"lnedge/device-sync";

/// The sync key of one device: `HMAC-SHA256(master, "lnedge/device-sync" ‖ device_id)`.
pub fn device_sync_key(master: &[u8; 32], device: &DeviceId) -> [u8; 32] {
    let mut mac = HmacSha256::new_from_slice(master).expect("HMAC takes keys of any length");
    mac.update(DEVICE_KEY_LABEL);
    mac.update(&device.0);
    mac.finalize().into_bytes().into()
}

/// The value of [`SIGNATURE_HEADER`] for `body`: lower-case hex of `HMAC-SHA256(key, body)`.
pub fn sign_sync(key: &[u8; 32], body: &[u8]) -> String {
    let mut mac = HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length");
    mac.update(body);
    hex::encode(mac.finalize().into_bytes())
}

/// Checks a device's signature of `body` in constant time.
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
    let tag = hex::decode(text.trim()).map_err(|_| bad())?;
    let key = zeroize::Zeroizing::new(device_sync_key(master, device));
    let mut mac = HmacSha256::new_from_slice(&*key).expect("HMAC takes keys of any length");
    mac.update(body);
    // `verify_slice` compares in constant time (and refuses other lengths).
    mac.verify_slice(&tag).map_err(|_| bad())
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
        assert_ne!(key, device_sync_key(&master, &DeviceId([2; 16])), "keys differ per device");
        let body = br#"{"counter":1,"reports":[]}"#;
        let mut headers = HeaderMap::new();
        headers.insert(SIGNATURE_HEADER, sign_sync(&key, body).parse().expect("header"));
        assert!(verify_sync_signature(&master, &device, &headers, body).is_ok());
        assert!(verify_sync_signature(&master, &device, &headers, b"{}").is_err());
        assert!(verify_sync_signature(&master, &DeviceId([2; 16]), &headers, body).is_err());
        let err =
            verify_sync_signature(&master, &device, &HeaderMap::new(), body).expect_err("none");
        assert_eq!(err.code, "missing_signature");
    }
}
