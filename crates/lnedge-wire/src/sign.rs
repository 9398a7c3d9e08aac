//! The signature headers and the three HMAC-SHA256 schemes that use them. Every verification
//! compares in constant time (`Mac::verify_slice`) and refuses tags of other lengths.
//!
//! * **Device uploads** (pool sync, deputy report): `X-Lnedge-Signature: hex(HMAC(device sync
//!   key, raw body))` ([`sign_body`], [`verify_body`]). The body's counter grows with every
//!   upload, so a captured upload replayed later is refused by the gateway.
//! * **Payee requests**: `X-Lnedge-Timestamp: <unix seconds>` and `X-Lnedge-Signature:
//!   hex(HMAC(payee key, METHOD "\n" path "\n" timestamp "\n" body))` ([`sign_request`]). The
//!   gateway refuses timestamps more than [`MAX_CLOCK_SKEW_SECS`] from its clock, and every payee
//!   operation is idempotent, so replaying one within that window changes nothing.
//! * **Wake-up webhooks** (gateway → payee): the same two headers with
//!   `hex(HMAC(payee key, "webhook\n" timestamp "\n" body))` ([`sign_webhook`]).

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying a signature (device uploads, payee requests, webhooks).
pub const SIGNATURE_HEADER: &str = "x-lnedge-signature";
/// The header carrying the signing time of payee requests and webhooks (Unix seconds).
pub const TIMESTAMP_HEADER: &str = "x-lnedge-timestamp";
/// How far a signed timestamp may be from the verifier's clock.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// Why a signature was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum SignatureError {
    /// The signature is not hex or does not verify.
    #[error("the signature does not verify")]
    Bad,
    /// The timestamp is too far from the verifier's clock.
    #[error(
        "the signed timestamp {timestamp} is more than {MAX_CLOCK_SKEW_SECS} s away from {now}"
    )]
    Stale {
        /// The signed timestamp.
        timestamp: u64,
        /// The verifier's clock.
        now: u64,
    },
}

fn mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

fn check(m: HmacSha256, signature: &str) -> Result<(), SignatureError> {
    let tag = hex::decode(signature.trim()).map_err(|_| SignatureError::Bad)?;
    m.verify_slice(&tag).map_err(|_| SignatureError::Bad)
}

fn check_time(timestamp: u64, now: u64) -> Result<(), SignatureError> {
    if timestamp.abs_diff(now) > MAX_CLOCK_SKEW_SECS {
        return Err(SignatureError::Stale { timestamp, now });
    }
    Ok(())
}

/// The [`SIGNATURE_HEADER`] value of a device upload: lower-case hex of `HMAC(key, body)`.
pub fn sign_body(key: &[u8; 32], body: &[u8]) -> String {
    let mut m = mac(key);
    m.update(body);
    hex::encode(m.finalize().into_bytes())
}

/// Checks a device upload's signature in constant time.
pub fn verify_body(key: &[u8; 32], body: &[u8], signature: &str) -> Result<(), SignatureError> {
    let mut m = mac(key);
    m.update(body);
    check(m, signature)
}

fn request_mac(
    key: &[u8; 32],
    method: &str,
    path: &str,
    timestamp: u64,
    body: &[u8],
) -> HmacSha256 {
    let mut m = mac(key);
    m.update(method.as_bytes());
    m.update(b"\n");
    m.update(path.as_bytes());
    m.update(b"\n");
    m.update(timestamp.to_string().as_bytes());
    m.update(b"\n");
    m.update(body);
    m
}

/// The signature of a payee request (lower-case hex).
pub fn sign_request(
    key: &[u8; 32],
    method: &str,
    path: &str,
    timestamp: u64,
    body: &[u8],
) -> String {
    hex::encode(request_mac(key, method, path, timestamp, body).finalize().into_bytes())
}

/// Checks a payee request's signature (constant time), then its timestamp against `now`.
pub fn verify_request(
    key: &[u8; 32],
    method: &str,
    path: &str,
    timestamp: u64,
    body: &[u8],
    signature: &str,
    now: u64,
) -> Result<(), SignatureError> {
    check(request_mac(key, method, path, timestamp, body), signature)?;
    check_time(timestamp, now)
}

fn webhook_mac(key: &[u8; 32], timestamp: u64, body: &[u8]) -> HmacSha256 {
    let mut m = mac(key);
    m.update(b"webhook\n");
    m.update(timestamp.to_string().as_bytes());
    m.update(b"\n");
    m.update(body);
    m
}

/// The signature of a webhook body (lower-case hex).
pub fn sign_webhook(key: &[u8; 32], timestamp: u64, body: &[u8]) -> String {
    hex::encode(webhook_mac(key, timestamp, body).finalize().into_bytes())
}

/// Checks a webhook's signature (constant time), then its timestamp against `now`.
pub fn verify_webhook(
    key: &[u8; 32],
    timestamp: u64,
    body: &[u8],
    signature: &str,
    now: u64,
) -> Result<(), SignatureError> {
    check(webhook_mac(key, timestamp, body), signature)?;
    check_time(timestamp, now)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::keys::payee_key;

    #[test]
    fn uploads_verify_only_with_the_right_key_and_body() {
        let key = [7u8; 32];
        let body = br#"{"counter":1,"reports":[]}"#;
        let sig = sign_body(&key, body);
        assert_eq!(verify_body(&key, body, &sig), Ok(()));
        assert_eq!(verify_body(&key, b"{}", &sig), Err(SignatureError::Bad));
        assert_eq!(verify_body(&[8; 32], body, &sig), Err(SignatureError::Bad));
        assert_eq!(verify_body(&key, body, &sig[..62]), Err(SignatureError::Bad), "short tag");
        assert_eq!(verify_body(&key, body, "zz"), Err(SignatureError::Bad), "not hex");
    }

    #[test]
    fn requests_verify_only_unchanged_and_fresh() {
        let key = payee_key(&[1; 32], "abc");
        let sig = sign_request(&key, "POST", "/v1/payees/abc/claims", 1000, b"{}");
        assert!(
            verify_request(&key, "POST", "/v1/payees/abc/claims", 1000, b"{}", &sig, 1100).is_ok()
        );
        let bad = |m, p, t, b: &[u8], now| verify_request(&key, m, p, t, b, &sig, now);
        assert_eq!(
            bad("GET", "/v1/payees/abc/claims", 1000, b"{}", 1000),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            bad("POST", "/v1/payees/abd/claims", 1000, b"{}", 1000),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            bad("POST", "/v1/payees/abc/claims", 1001, b"{}", 1000),
            Err(SignatureError::Bad)
        );
        assert_eq!(
            bad("POST", "/v1/payees/abc/claims", 1000, b"{ }", 1000),
            Err(SignatureError::Bad)
        );
        assert!(matches!(
            bad("POST", "/v1/payees/abc/claims", 1000, b"{}", 2000),
            Err(SignatureError::Stale { .. })
        ));
        assert_eq!(
            verify_request(&key, "POST", "/p", 1, b"", "zz", 1),
            Err(SignatureError::Bad),
            "not hex"
        );
    }

    #[test]
    fn webhooks_are_not_requests_nor_uploads() {
        let key = [3; 32];
        let sig = sign_webhook(&key, 50, b"{}");
        assert!(verify_webhook(&key, 50, b"{}", &sig, 60).is_ok());
        assert!(verify_webhook(&[4; 32], 50, b"{}", &sig, 60).is_err());
        assert_ne!(sig, sign_request(&key, "POST", "", 50, b"{}"));
        assert_ne!(sig, sign_body(&key, b"{}"));
    }
}
