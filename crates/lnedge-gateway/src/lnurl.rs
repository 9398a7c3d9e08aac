//! What every LNURL endpoint of the gateway shares: LUD-01 bech32 encoding, LUD-17 scheme links
//! and the LUD-01 error body.
//!
//! # Errors answer HTTP 200
//!
//! LUD-01 defines errors as the body `{"status":"ERROR","reason":"…"}` and says nothing of the
//! HTTP status. Wallets read the body; several (and the `lnurl-rs` client) treat any non-2xx
//! status as a transport failure and never show the reason. So the wallet-facing LNURL routes
//! answer errors with **200** and that body, plus a stable machine-readable `code` (an extra
//! field wallets ignore) for operators, metrics and tests. Admin and JSON API routes keep real
//! status codes (the HTTP layer's `ApiError`).

use bech32::{Bech32, Hrp};

/// The human-readable part of a LUD-01 `LNURL…` string.
const HRP: &str = "lnurl";

/// Encodes `url` as a LUD-01 `LNURL1…` string (bech32, upper case: QR alphanumeric mode).
///
/// # Panics
///
/// Never for URLs under 1 000 bytes (every URL this gateway builds); a longer one is a bug and
/// panics in debug builds only, returning an empty string in release builds.
pub fn encode(url: &str) -> String {
    let hrp = Hrp::parse_unchecked(HRP);
    match bech32::encode_upper::<Bech32>(hrp, url.as_bytes()) {
        Ok(s) => s,
        Err(e) => {
            debug_assert!(false, "LNURL too long to encode: {e}");
            String::new()
        }
    }
}

/// Why a string is not a LUD-01 `LNURL…`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Not valid bech32.
    #[error("not a bech32 string: {0}")]
    Bech32(String),
    /// Valid bech32 with another human-readable part.
    #[error("bech32 prefix is {0:?}, expected \"lnurl\"")]
    WrongPrefix(String),
    /// The data is not UTF-8.
    #[error("the encoded URL is not UTF-8")]
    NotUtf8,
}

/// Decodes a LUD-01 `LNURL…` string (either case) into its URL.
pub fn decode(lnurl: &str) -> Result<String, DecodeError> {
    let (hrp, data) =
        bech32::decode(lnurl.trim()).map_err(|e| DecodeError::Bech32(e.to_string()))?;
    if !hrp.as_str().eq_ignore_ascii_case(HRP) {
        return Err(DecodeError::WrongPrefix(hrp.as_str().to_owned()));
    }
    String::from_utf8(data).map_err(|_| DecodeError::NotUtf8)
}

/// The LUD-17 schemes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lud17 {
    /// `lnurlw://` — withdraw.
    Withdraw,
    /// `lnurlp://` — pay.
    Pay,
    /// `keyauth://` — LNURL-auth.
    Auth,
}

impl Lud17 {
    fn scheme(self) -> &'static str {
        match self {
            Lud17::Withdraw => "lnurlw",
            Lud17::Pay => "lnurlp",
            Lud17::Auth => "keyauth",
        }
    }
}

/// Rewrites an `https://` URL (or an `http://` one of a `.onion` host) as a LUD-17 link
/// (`lnurlw://host/path?…`): wallets put the `https` back (`http` for `.onion`). `None` for
/// any other URL — a plain `http://` link would come back as `https://` and fail, so such a
/// gateway hands out its LUD-01 `LNURL…` only (`lnedge_proto::envelope::lud17_round_trips`).
pub fn lud17(url: &str, kind: Lud17) -> Option<String> {
    if !lnedge_proto::envelope::lud17_round_trips(url) {
        return None;
    }
    let rest = url.get(url.find("://")? + 3..)?;
    Some(format!("{}://{rest}", kind.scheme()))
}

/// A LUD-01 error answer: HTTP 200, `{"status":"ERROR","reason":…,"code":…}` (see the module
/// docs for why 200; the HTTP layer writes the body).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LnurlError {
    /// Stable machine-readable code (`voucher_used`, `stale_counter`…).
    pub code: &'static str,
    /// What the wallet shows the user.
    pub reason: String,
}

impl LnurlError {
    /// An error with this code and reason.
    pub fn new(code: &'static str, reason: impl Into<String>) -> Self {
        LnurlError { code, reason: reason.into() }
    }
}

impl std::fmt::Display for LnurlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.code, self.reason)
    }
}

impl std::error::Error for LnurlError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lud01_round_trip_matches_the_spec_example() {
        // The example of LUD-01.
        let url = "https://service.com/api?q=3fc3645b439ce8e7f2553a69e5267081d96dcd340693afabe04be7b0ccd178df";
        let expected = "LNURL1DP68GURN8GHJ7UM9WFMXJCM99E3K7MF0V9CXJ0M385EKVCENXC6R2C35XVUKXEFCV5MKVV34X5EKZD3EV56NYD3HXQURZEPEXEJXXEPNXSCRVWFNV9NXZCN9XQ6XYEFHVGCXXCMYXYMNSERXFQ5FNS";
        assert_eq!(encode(url), expected);
        assert_eq!(decode(expected).as_deref(), Ok(url));
        assert_eq!(decode(&expected.to_lowercase()).as_deref(), Ok(url));
    }

    #[test]
    fn decode_names_the_problem() {
        assert!(matches!(decode("LNURL1XYZ"), Err(DecodeError::Bech32(_))));
        let other = bech32::encode::<Bech32>(Hrp::parse_unchecked("lnbc"), b"x").unwrap();
        assert_eq!(decode(&other), Err(DecodeError::WrongPrefix("lnbc".into())));
    }

    #[test]
    fn lud17_links() {
        assert_eq!(
            lud17("https://gw.example/r?v=1", Lud17::Withdraw).as_deref(),
            Some("lnurlw://gw.example/r?v=1")
        );
        assert_eq!(lud17("http://127.0.0.1:8080/p", Lud17::Pay), None, "clients map it to https");
        assert_eq!(lud17("http://gw.lan/p", Lud17::Pay), None);
        assert_eq!(
            lud17("http://abcdef.onion/p", Lud17::Pay).as_deref(),
            Some("lnurlp://abcdef.onion/p")
        );
        assert_eq!(lud17("ftp://x", Lud17::Auth), None);
    }
}
