//! Signatures between a payee and the gateway (the scheme both sides implement).
//!
//! * The payee's key is `HMAC-SHA256(master, "lnedge/relay-payee" ‖ payee_id)`
//!   ([`payee_key`]): the gateway derives it from its master key (nothing per payee is stored)
//!   and hands it to the payee once, at registration.
//! * A payee request carries `X-Lnedge-Timestamp: <unix seconds>` and
//!   `X-Lnedge-Signature: hex(HMAC-SHA256(key, METHOD "\n" path "\n" timestamp "\n" body))`
//!   ([`sign_request`]). The gateway refuses timestamps more than [`MAX_CLOCK_SKEW_SECS`] away
//!   from its clock, so a captured request is only good for a few minutes, and every payee
//!   operation is idempotent, so replaying it within that window changes nothing.
//! * A wake-up webhook carries the same two headers, with
//!   `hex(HMAC-SHA256(key, "webhook\n" timestamp "\n" body))` ([`sign_webhook`]), so the payee
//!   can check that the gateway sent it.

use hmac::{Hmac, Mac};
use sha2::Sha256;

type HmacSha256 = Hmac<Sha256>;

/// The header carrying a signature.
pub const SIGNATURE_HEADER: &str = "x-lnedge-signature";
/// The header carrying the signing time (seconds since the Unix epoch).
pub const TIMESTAMP_HEADER: &str = "x-lnedge-timestamp";
/// How far a signed timestamp may be from the verifier's clock.
pub const MAX_CLOCK_SKEW_SECS: u64 = 300;

/// Domain separator of the payee-key derivation.
const PAYEE_KEY_LABEL: &[u8] = b"lnedge/relay-payee";

fn mac(key: &[u8]) -> HmacSha256 {
    HmacSha256::new_from_slice(key).expect("HMAC takes keys of any length")
}

/// A payee's key: `HMAC-SHA256(master, "lnedge/relay-payee" ‖ payee_id)`.
pub fn payee_key(master: &[u8; 32], payee_id: &str) -> [u8; 32] {
    let mut m = mac(master);
    m.update(PAYEE_KEY_LABEL);
    m.update(payee_id.as_bytes());
    m.finalize().into_bytes().into()
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

fn check_time(timestamp: u64, now: u64) -> Result<(), SignatureError> {
    if timestamp.abs_diff(now) > MAX_CLOCK_SKEW_SECS {
        return Err(SignatureError::Stale { timestamp, now });
    }
    Ok(())
}

/// Checks a payee request's signature (constant time) and timestamp.
pub fn verify_request(
    key: &[u8; 32],
    method: &str,
    path: &str,
    timestamp: u64,
    body: &[u8],
    signature: &str,
    now: u64,
) -> Result<(), SignatureError> {
    let tag = hex::decode(signature.trim()).map_err(|_| SignatureError::Bad)?;
    // `verify_slice` compares in constant time.
    request_mac(key, method, path, timestamp, body)
        .verify_slice(&tag)
        .map_err(|_| SignatureError::Bad)?;
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

/// Checks a webhook's signature (constant time) and timestamp.
pub fn verify_webhook(
    key: &[u8; 32],
    timestamp: u64,
    body: &[u8],
    signature: &str,
    now: u64,
) -> Result<(), SignatureError> {
    let tag = hex::decode(signature.trim()).map_err(|_| SignatureError::Bad)?;
    webhook_mac(key, timestamp, body).verify_slice(&tag).map_err(|_| SignatureError::Bad)?;
    check_time(timestamp, now)
}

/// Seconds since the Unix epoch.
pub fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_verify_only_unchanged_and_fresh() {
        let key = payee_key(&[1; 32], "abc");
        assert_ne!(key, payee_key(&[1; 32], "abd"), "keys differ per payee");
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
    fn webhooks_are_not_requests() {
        let key = [3; 32];
        let sig = sign_webhook(&key, 50, b"{}");
        assert!(verify_webhook(&key, 50, b"{}", &sig, 60).is_ok());
        assert!(verify_webhook(&[4; 32], 50, b"{}", &sig, 60).is_err());
        assert_ne!(sig, sign_request(&key, "POST", "", 50, b"{}"));
    }
}
