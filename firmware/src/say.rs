//! Error lines without `core::fmt`: each error the vending image can meet, said in a few words
//! with the numbers that matter (the entry, the product, the pool). Formatting machinery and
//! every library error's `Display` stay out of the image (16 KB of the 62 KB it took; ADR 0021).
//!
//! The hosts' messages (lnedge-proto's `Display`) stay the reference; these are the short form a
//! device prints. An error kind this file does not know yet is still reported, by its area.

use lnedge_device_core::claim::ClaimParseError;
use lnedge_device_core::ledger::StoreError;
use lnedge_device_core::vend::Refusal;
use lnedge_proto::envelope::{EnvelopeError, TextError};
use lnedge_proto::ledger::LedgerError;
use lnedge_proto::pool::PoolError;

use crate::board::Uart;
use crate::io;
use crate::store::EmuNorError;

/// One piece of an error line.
pub enum Part<'a> {
    /// Text.
    T(&'a str),
    /// A number.
    N(u64),
    /// Bytes in hex.
    H(&'a [u8]),
}

use Part::{H, N, T};

/// Writes `ERR ` and the parts, then the end of the line.
pub fn err(uart: &mut Uart, parts: &[Part<'_>]) {
    uart.write_bytes(b"ERR ");
    for p in parts {
        match p {
            T(t) => uart.write_bytes(t.as_bytes()),
            N(n) => io::put_u64(uart, *n),
            H(h) => io::put_hex(uart, h),
        }
    }
    uart.write_bytes(b"\n");
}

/// Something that can say what went wrong.
pub trait Say {
    /// Writes the error line.
    fn say(&self, uart: &mut Uart);
}

impl Say for &str {
    fn say(&self, uart: &mut Uart) {
        err(uart, &[T(self)]);
    }
}

impl Say for PoolError {
    fn say(&self, uart: &mut Uart) {
        let pre = T("pool refused: ");
        let n = |v: usize| N(v as u64);
        match *self {
            PoolError::Empty => err(uart, &[pre, T("empty")]),
            PoolError::UnsupportedVersion(v) => {
                err(uart, &[pre, T("format version "), N(v.into())])
            }
            PoolError::Truncated { what, offset } => {
                err(uart, &[pre, T("truncated: "), T(what), T(" at byte "), n(offset)])
            }
            PoolError::TrailingBytes { offset } => {
                err(uart, &[pre, T("bytes after the end at "), n(offset)])
            }
            PoolError::InvalidOwnerKey => err(uart, &[pre, T("owner key is not a public key")]),
            PoolError::UnknownNetwork(b) => err(uart, &[pre, T("unknown network "), N(b.into())]),
            PoolError::InvalidSignature { index } => {
                err(uart, &[pre, T("entry "), n(index), T(": invalid signature")])
            }
            PoolError::HighS { index } => {
                err(uart, &[pre, T("entry "), n(index), T(": high-S signature")])
            }
            PoolError::SignerMismatch { index } => {
                err(uart, &[pre, T("entry "), n(index), T(": not signed by the owner")])
            }
            PoolError::TimestampOutOfRange { index } => {
                err(uart, &[pre, T("entry "), n(index), T(": bad timestamp")])
            }
            PoolError::WrongOwner { found, .. } => {
                err(uart, &[pre, T("owner "), H(&found), T(" is not the enrolled owner")])
            }
            PoolError::ProductsNotAscending { product }
            | PoolError::EmptyProduct { product }
            | PoolError::SeqOverflow { product }
            | PoolError::TooLarge { product }
            | PoolError::InvalidHrp { product }
            | PoolError::InvalidTimestamp { product }
            | PoolError::NonZeroPadding { product } => {
                err(uart, &[pre, T("product "), N(product.into()), T(" is malformed")])
            }
            PoolError::InvalidTemplate { product, reason } => {
                err(uart, &[pre, T("product "), N(product.into()), T(": "), T(reason)])
            }
            _ => err(uart, &[pre, T("malformed")]),
        }
    }
}

impl Say for LedgerError {
    fn say(&self, uart: &mut Uart) {
        let pre = T("claim ledger: ");
        match *self {
            LedgerError::AlreadyClaimed { index, state } => err(
                uart,
                &[
                    pre,
                    T("entry "),
                    N(index.into()),
                    T(" already used (state "),
                    T(state.name()),
                    T(")"),
                ],
            ),
            LedgerError::NotClaimed { index, state } => err(
                uart,
                &[
                    pre,
                    T("entry "),
                    N(index.into()),
                    T(" is "),
                    T(state.name()),
                    T(", not claimed"),
                ],
            ),
            LedgerError::AlreadyResolved { index, state } => {
                err(uart, &[pre, T("entry "), N(index.into()), T(" is already "), T(state.name())])
            }
            LedgerError::IndexOutOfRange { index, entries } => err(
                uart,
                &[
                    pre,
                    T("entry "),
                    N(index.into()),
                    T(" out of range ("),
                    N(entries.into()),
                    T(" entries)"),
                ],
            ),
            LedgerError::WrongPool { found, .. } => {
                err(uart, &[pre, T("belongs to pool "), H(&found.0)])
            }
            _ => err(uart, &[pre, T("the image on flash is not this pool's ledger")]),
        }
    }
}

impl Say for StoreError<EmuNorError> {
    fn say(&self, uart: &mut Uart) {
        match self {
            StoreError::Ledger(e) => e.say(uart),
            StoreError::Write { index, offset, .. } => err(
                uart,
                &[
                    T("flash write of entry "),
                    N((*index).into()),
                    T(" failed at "),
                    N((*offset).into()),
                ],
            ),
            StoreError::Verify { index, .. } => {
                err(uart, &[T("flash did not keep the write of entry "), N((*index).into())])
            }
            StoreError::NeedsReload => err(uart, &[T("an earlier flash write failed: reboot")]),
            _ => err(uart, &[T("flash: the claim ledger cannot be read")]),
        }
    }
}

impl Say for Refusal {
    fn say(&self, uart: &mut Uart) {
        match self {
            Refusal::ClaimForAnotherDevice { claim_device, .. } => err(
                uart,
                &[T("this payment is for machine "), H(&claim_device.0), T(", not this one")],
            ),
            Refusal::ClaimForAnotherPool { claim_pool, .. } => err(
                uart,
                &[
                    T("this payment is for invoice pool "),
                    H(&claim_pool.0),
                    T(", not this machine's"),
                ],
            ),
            Refusal::UnknownPayment { .. } => {
                err(uart, &[T("this preimage pays no invoice of this machine")])
            }
            Refusal::UnknownProduct(p) => {
                err(uart, &[T("product "), N((*p).into()), T(" is not sold by this machine")])
            }
            Refusal::SoldOut(p) => err(
                uart,
                &[T("product "), N((*p).into()), T(" is sold out: the pool needs a top-up")],
            ),
            _ => err(uart, &[T("refused")]),
        }
    }
}

impl Say for ClaimParseError {
    fn say(&self, uart: &mut Uart) {
        let pre = T("not a payment proof: ");
        match self {
            ClaimParseError::Text(e) => {
                let why = match e {
                    TextError::InvalidChar(_) => "not a preimage (64 hex) nor envelope text",
                    TextError::MixedCase => "envelope text mixes upper and lower case",
                    TextError::BadChecksum => "envelope text has a bad checksum (misread?)",
                    TextError::WrongHrp => "bech32 text but not an lnedge envelope",
                    TextError::Envelope(EnvelopeError::UnknownType(_)) => "unknown envelope type",
                    TextError::Envelope(_) => "the envelope inside is invalid",
                    TextError::TooLong { .. } | TextError::EnvelopeTooLong { .. } => "too long",
                    _ => "not a preimage (64 hex) nor envelope text",
                };
                err(uart, &[pre, T(why)])
            }
            ClaimParseError::NotAClaim(what) => err(uart, &[pre, T("this is a "), T(what)]),
            _ => err(uart, &[pre, T("unreadable")]),
        }
    }
}
