//! Deputy sales (PROTOCOLS.md §2, D1): a terminal with no connection sells any amount, and knows
//! — by checking a claim the customer's wallet shows after paying — that this exact sale was
//! paid. Everything here is `no_std` without `alloc`.
//!
//! * [`keys`] — per-device keys derived from the gateway's master key, one per purpose:
//!   `root = HMAC-SHA256(master, "lnedge/device" ‖ D)`, then `seal`, `claim` (given to the
//!   terminal: [`TerminalKeys`]) and `preimage` (never leaves the gateway).
//! * [`sale`] — the sale ([`Sale`]: device, counter, amount, currency) and its sealed form
//!   (ChaCha20-Poly1305, nonce = counter, [`SEALED_LEN`] bytes).
//! * [`claim`] — what proves a sale was paid: a 16-byte MAC carried in envelope type `0x10`
//!   ([`DeputyClaim`]) for QR/NFC, and an 8-digit [`ShortCode`] for keypads.
//! * [`amount`] — the ISO 4217 minor-unit table ([`minor_unit_digits`]) and amounts as people
//!   read them ([`DisplayAmount`]: `4.20 EUR`), shared by the gateway and the device simulator.
//! * [`link`] — the sale's URL (`…/v1/deputy/<D>?p=<base64url>`), its LUD-01 `LNURL1…` and
//!   LUD-17 `lnurlp://` forms, written into any `fmt::Write` sink (a fixed buffer on a device).
//!
//! The wire formats are described in `docs/protocols/deputy.md`.

pub mod amount;
pub mod claim;
#[doc(hidden)]
pub mod fuzz;
pub mod keys;
pub mod link;
pub mod sale;

#[cfg(all(test, feature = "std"))]
mod tests;

use core::fmt;

pub use amount::{minor_unit_digits, DisplayAmount};
pub use claim::{claim_for, DeputyClaim, ShortCode, CLAIM_TAG_LEN, SHORT_CODE_DIGITS};
pub use keys::{preimage_for, TerminalKeys};
pub use link::{base64url_len, write_base64url, write_lnurl, write_lud17, write_sale_url, UrlBuf};
pub use sale::{Currency, Sale, SALE_LEN, SEALED_LEN, VERSION};

/// Why a deputy payload, claim or link could not be made or read.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum DeputyError {
    /// The sealed payload is not [`SEALED_LEN`] bytes long.
    WrongLength {
        /// Bytes expected.
        expected: usize,
        /// Bytes found.
        actual: usize,
    },
    /// The payload's version byte is not one this build reads.
    UnknownVersion(u8),
    /// The payload does not authenticate under this device's key: forged, tampered with
    /// (amount, currency, counter) or sealed for another device.
    NotAuthentic,
    /// A currency code that is not three upper-case ASCII letters.
    BadCurrency([u8; 3]),
    /// Counter 0 is never used (the first sale is counter 1).
    ZeroCounter,
    /// The amount is zero.
    ZeroAmount,
    /// The output buffer is too small.
    BufferTooSmall,
}

impl fmt::Display for DeputyError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            DeputyError::WrongLength { expected, actual } => {
                write!(f, "sealed sale must be {expected} bytes, got {actual}")
            }
            DeputyError::UnknownVersion(v) => write!(f, "unknown sale payload version {v}"),
            DeputyError::NotAuthentic => {
                write!(f, "the sale payload does not authenticate for this device")
            }
            DeputyError::BadCurrency(c) => write!(
                f,
                "currency code {:?} is not three upper-case letters",
                core::str::from_utf8(&c).unwrap_or("<not UTF-8>")
            ),
            DeputyError::ZeroCounter => write!(f, "sale counter 0 is never valid"),
            DeputyError::ZeroAmount => write!(f, "sale amount must be positive"),
            DeputyError::BufferTooSmall => write!(f, "output buffer too small"),
        }
    }
}

impl core::error::Error for DeputyError {}
