//! The sale's link, written without allocation: `<base>/v1/deputy/<device hex>?p=<base64url>`,
//! as LUD-01 `LNURL1…` (bech32, upper case for QR alphanumeric mode) and LUD-17 `lnurlp://…`.
//!
//! With a 36-byte sealed payload the URL is `base + 94` characters (48 of base64url); for
//! `https://gw.example` the LNURL is 192 characters: a version-8 QR code at level M (version 6 at
//! level L), which a 128×128 screen shows.

use core::fmt::{self, Write};

use bech32::{Bech32, Hrp};

use super::DeputyError;
use crate::DeviceId;

const B64: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

/// Characters of the unpadded base64url encoding of `len` bytes.
pub const fn base64url_len(len: usize) -> usize {
    let rem = match len % 3 {
        0 => 0,
        1 => 2,
        _ => 3,
    };
    (len / 3).saturating_mul(4).saturating_add(rem)
}

fn b64(index: u8) -> char {
    B64.get(usize::from(index & 63)).map_or('A', |&b| char::from(b))
}

/// Writes `bytes` as unpadded base64url (RFC 4648 §5).
pub fn write_base64url<W: Write>(w: &mut W, bytes: &[u8]) -> fmt::Result {
    for chunk in bytes.chunks(3) {
        let b0 = chunk.first().copied().unwrap_or(0);
        let b1 = chunk.get(1).copied().unwrap_or(0);
        let b2 = chunk.get(2).copied().unwrap_or(0);
        w.write_char(b64(b0 >> 2))?;
        w.write_char(b64((b0 << 4) | (b1 >> 4)))?;
        if chunk.len() > 1 {
            w.write_char(b64((b1 << 2) | (b2 >> 6)))?;
        }
        if chunk.len() > 2 {
            w.write_char(b64(b2))?;
        }
    }
    Ok(())
}

/// Writes the sale URL: `<base>/v1/deputy/<device hex>?p=<base64url(sealed)>`; `base` is the
/// gateway's public URL without a trailing slash.
pub fn write_sale_url<W: Write>(
    w: &mut W,
    base: &str,
    device: &DeviceId,
    sealed: &[u8],
) -> fmt::Result {
    write!(w, "{}/v1/deputy/{device}?p=", base.trim_end_matches('/'))?;
    write_base64url(w, sealed)
}

/// Writes `url` as a LUD-01 `LNURL1…` string (upper case).
pub fn write_lnurl<W: Write>(w: &mut W, url: &str) -> Result<(), DeputyError> {
    bech32::encode_upper_to_fmt::<Bech32, W>(w, Hrp::parse_unchecked("lnurl"), url.as_bytes())
        .map_err(|_| DeputyError::BufferTooSmall)
}

/// Writes `url` as a LUD-17 `lnurlp://…` link. Only for a URL where that round-trips
/// ([`lud17_round_trips`](crate::envelope::lud17_round_trips)): callers check first.
pub fn write_lud17<W: Write>(w: &mut W, url: &str) -> fmt::Result {
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://")).unwrap_or(url);
    write!(w, "lnurlp://{rest}")
}

/// A fixed-capacity text buffer implementing `fmt::Write` (a device's display buffer).
#[derive(Clone)]
pub struct UrlBuf<const N: usize> {
    bytes: [u8; N],
    len: usize,
}

impl<const N: usize> Default for UrlBuf<N> {
    fn default() -> Self {
        UrlBuf { bytes: [0; N], len: 0 }
    }
}

impl<const N: usize> UrlBuf<N> {
    /// The text written so far.
    pub fn as_str(&self) -> &str {
        self.bytes.get(..self.len).and_then(|b| core::str::from_utf8(b).ok()).unwrap_or("")
    }

    /// Empties the buffer.
    pub fn clear(&mut self) {
        self.len = 0;
    }
}

impl<const N: usize> Write for UrlBuf<N> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(fmt::Error)?;
        self.bytes.get_mut(self.len..end).ok_or(fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}

impl<const N: usize> fmt::Debug for UrlBuf<N> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UrlBuf({:?})", self.as_str())
    }
}
