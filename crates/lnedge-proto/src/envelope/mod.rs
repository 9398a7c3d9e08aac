//! The offline data transmission envelope (PROTOCOLS.md §4, seed 002).
//!
//! Everything carried between an offline device and a phone or terminal is one envelope:
//! `type (1 byte) ‖ payload`. The type byte names both the message and its version; the table of
//! type bytes is [`type_byte`] (and `docs/protocols/envelope.md`). Integers are big-endian.
//!
//! | type | message | payload |
//! | --- | --- | --- |
//! | `0x01` | [`Claim`] without context | preimage (32) |
//! | `0x02` | [`Claim`] with context | preimage (32) ‖ device id (16) ‖ pool id (8) ‖ entry index (u32) |
//! | `0x03` | [`RefundVoucher`] | device id (16) ‖ pool id (8) ‖ entry index (u32) ‖ payment hash (32) ‖ amount msat (u64) ‖ counter (u32) |
//! | `0x04` | [`PoolTopUp`] | length (u32) ‖ pool bytes (length) |
//! | `0x10` | [`DeputyClaim`] | device id (16) ‖ sale counter (u64) ‖ claim tag (16) |
//! | `0x20` | [`PayerToken`] | an invoice-bound payer token ([`crate::payer`], 118 bytes) |
//!
//! Encodings of an envelope:
//! * raw bytes: [`Envelope::decode`] (zero-copy, no alloc), [`Envelope::encode_into`],
//!   `Envelope::to_vec` (alloc) — also the BLE characteristic payload;
//! * text for QR codes: bech32m with HRP `lnedge`, upper case for QR alphanumeric mode
//!   ([`Envelope::write_text`], [`decode_text`], module [`text`]);
//! * NFC NDEF: module [`ndef`] (an external record `lnedge.org:env`, plus URI records);
//! * keypad: a claim typed as 64 hex digits ([`parse_keypad_claim`]).
//!
//! Every decoder returns a typed error and never panics, on any input.

use core::fmt;

pub use crate::deputy::claim::{DeputyClaim, DEPUTY_CLAIM_LEN};
pub use crate::payer::PayerToken;
use crate::{DeviceId, PoolId};

pub mod ndef;
pub mod text;

#[doc(hidden)]
pub mod fuzz;

#[cfg(all(test, feature = "alloc"))]
mod tests;

pub use text::{
    decode_text, lud17_round_trips, parse_keypad_claim, KeypadCode, KeypadError, Lud17Error,
    TextCase, TextError, TEXT_MAX_ENVELOPE_LEN,
};
#[cfg(feature = "alloc")]
pub use text::{lud17_to_url, refund_lnurlw, refund_url};

/// The type bytes of the envelope: the first byte of every envelope.
///
/// Ranges: `0x00` is never valid (a zeroed buffer is not a message); `0x01..=0x0F` the invoice
/// pool mechanism (PROTOCOLS.md §1); `0x10..=0x1F` the deputy mechanism (§2, `0x10` implemented);
/// `0x20..=0x2F` reserved for payer authorization (§3); `0x30..=0x7F` unassigned;
/// `0x80..=0xFF` reserved for a future envelope version with a longer header. Every byte that is
/// not implemented decodes as [`EnvelopeError::UnknownType`].
pub mod type_byte {
    /// [`Claim`](super::Claim) carrying only the preimage (what a wallet shows).
    pub const CLAIM: u8 = 0x01;
    /// [`Claim`](super::Claim) with its context (device, pool, entry index).
    pub const CLAIM_WITH_CONTEXT: u8 = 0x02;
    /// [`RefundVoucher`](super::RefundVoucher).
    pub const REFUND_VOUCHER: u8 = 0x03;
    /// [`PoolTopUp`](super::PoolTopUp) (NFC or BLE only: too big for a QR code).
    pub const POOL_TOP_UP: u8 = 0x04;
    /// [`DeputyClaim`](super::DeputyClaim): a deputy sale's claim (PROTOCOLS.md §2, D1 step 4).
    pub const DEPUTY_CLAIM: u8 = 0x10;
    /// [`PayerToken`](crate::payer::PayerToken): an invoice-bound payer token (PROTOCOLS.md §3).
    pub const PAYER_AUTHORIZATION: u8 = 0x20;
}

/// Length of a payer token envelope: type byte ‖ token.
pub const PAYER_TOKEN_ENVELOPE_LEN: usize = 1 + crate::payer::TOKEN_LEN;

/// Length of a claim envelope without context: type byte ‖ preimage.
pub const CLAIM_LEN: usize = 1 + 32;
/// Length of a claim envelope with context: type ‖ preimage ‖ device ‖ pool ‖ index.
pub const CLAIM_WITH_CONTEXT_LEN: usize = 1 + 32 + 16 + 8 + 4;
/// Length of a refund voucher envelope.
pub const REFUND_VOUCHER_LEN: usize = 1 + 16 + 8 + 4 + 32 + 8 + 4;
/// Length of a pool top-up envelope's header (type ‖ u32 length), before the pool bytes.
pub const POOL_TOP_UP_HEADER_LEN: usize = 1 + 4;

/// Where a claimed entry lives: which device, which pool, which entry of the pool.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ClaimContext {
    /// The device the customer paid at.
    pub device_id: DeviceId,
    /// The pool the invoice came from.
    pub pool_id: PoolId,
    /// The entry's index in the pool.
    pub entry_index: u32,
}

/// A claim (customer → device): the payment preimage the wallet got when it paid, with the
/// optional context of the invoice it paid, so that a device can tell "a claim for another
/// device" from "a claim for no entry of mine".
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Claim {
    /// The payment preimage: `SHA256(preimage)` is the invoice's payment hash.
    pub preimage: [u8; 32],
    /// Where the paid invoice came from, when the sender knows it.
    pub context: Option<ClaimContext>,
}

impl Claim {
    /// A claim carrying only a preimage.
    pub const fn bare(preimage: [u8; 32]) -> Self {
        Claim { preimage, context: None }
    }

    /// `SHA256(preimage)`: the payment hash this claim answers.
    pub fn payment_hash(&self) -> [u8; 32] {
        use sha2::Digest;
        sha2::Sha256::digest(self.preimage).into()
    }

    /// The claim's context names a device other than `device`. A bare claim is never for
    /// another device (the device looks its payment hash up instead).
    pub fn is_for_other_device(&self, device: &DeviceId) -> bool {
        self.context.is_some_and(|c| c.device_id != *device)
    }
}

/// A refund voucher (device → customer, shown as a QR code when the motor failed). It names the
/// failed entry; the gateway serves it as an LNURL-withdraw once the device's ledger says
/// *failed*. It holds no secret: the claimant proves payment separately (PROTOCOLS.md §6).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct RefundVoucher {
    /// The device whose vend failed.
    pub device_id: DeviceId,
    /// The pool of the failed entry.
    pub pool_id: PoolId,
    /// The failed entry's index in the pool.
    pub entry_index: u32,
    /// The payment hash of the entry's invoice.
    pub payment_hash: [u8; 32],
    /// The amount paid, in millisatoshis.
    pub amount_msat: u64,
    /// A device-local counter, increasing with every voucher the device issues.
    pub counter: u32,
}

/// A pool top-up (operator's phone → device): the pool file, opaque here (its format and checks
/// live in [`crate::pool`]). Usually far bigger than one QR code holds: NFC and BLE only.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PoolTopUp<'a> {
    /// The pool file's bytes.
    pub pool: &'a [u8],
}

/// One decoded envelope, borrowing variable-length parts from the input.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Envelope<'a> {
    /// A claim (type `0x01` or `0x02`, by whether it has a context).
    Claim(Claim),
    /// A refund voucher (type `0x03`).
    RefundVoucher(RefundVoucher),
    /// A pool top-up (type `0x04`).
    PoolTopUp(PoolTopUp<'a>),
    /// A deputy sale's claim (type `0x10`).
    DeputyClaim(DeputyClaim),
    /// An invoice-bound payer token (type `0x20`), its tag not checked yet.
    PayerToken(PayerToken),
}

/// Why an envelope could not be decoded or encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum EnvelopeError {
    /// No bytes at all.
    Empty,
    /// The type byte is not one this version implements (reserved or unassigned).
    UnknownType(u8),
    /// The payload is not the fixed length its type requires.
    WrongLength {
        /// The envelope's type byte.
        type_byte: u8,
        /// The length the type requires (whole envelope, type byte included).
        expected: usize,
        /// The length found.
        actual: usize,
    },
    /// A pool top-up's declared length disagrees with the bytes that follow it.
    PoolLengthMismatch {
        /// The length in the header.
        declared: u32,
        /// The number of pool bytes present.
        actual: usize,
    },
    /// A pool larger than `u32::MAX` bytes cannot be encoded.
    PoolTooLarge {
        /// The pool's length.
        len: usize,
    },
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl fmt::Display for EnvelopeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            EnvelopeError::Empty => write!(f, "empty envelope: no type byte"),
            EnvelopeError::UnknownType(t) => write!(f, "unknown envelope type byte 0x{t:02x}"),
            EnvelopeError::WrongLength { type_byte, expected, actual } => write!(
                f,
                "envelope of type 0x{type_byte:02x} must be {expected} bytes long, got {actual}"
            ),
            EnvelopeError::PoolLengthMismatch { declared, actual } => write!(
                f,
                "pool top-up declares {declared} pool bytes but {actual} follow the header"
            ),
            EnvelopeError::PoolTooLarge { len } => {
                write!(f, "pool of {len} bytes exceeds the u32 length field")
            }
            EnvelopeError::BufferTooSmall { needed, available } => {
                write!(f, "output buffer too small: {needed} bytes needed, {available} available")
            }
        }
    }
}

impl core::error::Error for EnvelopeError {}

/// Splits `N` bytes off the front of `bytes`.
fn take<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = bytes.split_first_chunk::<N>()?;
    *bytes = rest;
    Some(*head)
}

/// A cursor over a caller's buffer whose capacity was checked beforehand; still checks every
/// write.
struct Writer<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl<'o> Writer<'o> {
    fn new(out: &'o mut [u8]) -> Self {
        Writer { out, pos: 0 }
    }

    fn put(&mut self, bytes: &[u8]) -> Result<(), EnvelopeError> {
        let available = self.out.len();
        let end = self
            .pos
            .checked_add(bytes.len())
            .ok_or(EnvelopeError::BufferTooSmall { needed: usize::MAX, available })?;
        let dst = self
            .out
            .get_mut(self.pos..end)
            .ok_or(EnvelopeError::BufferTooSmall { needed: end, available })?;
        dst.copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }
}

impl<'a> Envelope<'a> {
    /// Decodes one envelope from exactly `bytes` (no trailing bytes allowed), borrowing the
    /// pool bytes of a top-up. Never panics.
    pub fn decode(bytes: &'a [u8]) -> Result<Self, EnvelopeError> {
        let (&ty, payload) = bytes.split_first().ok_or(EnvelopeError::Empty)?;
        let wrong_length =
            |expected| EnvelopeError::WrongLength { type_byte: ty, expected, actual: bytes.len() };
        match ty {
            type_byte::CLAIM => {
                let preimage: [u8; 32] = payload.try_into().map_err(|_| wrong_length(CLAIM_LEN))?;
                Ok(Envelope::Claim(Claim::bare(preimage)))
            }
            type_byte::CLAIM_WITH_CONTEXT => {
                if bytes.len() != CLAIM_WITH_CONTEXT_LEN {
                    return Err(wrong_length(CLAIM_WITH_CONTEXT_LEN));
                }
                let mut r = payload;
                let fields = (|| {
                    Some(Claim {
                        preimage: take::<32>(&mut r)?,
                        context: Some(ClaimContext {
                            device_id: DeviceId(take::<16>(&mut r)?),
                            pool_id: PoolId(take::<8>(&mut r)?),
                            entry_index: u32::from_be_bytes(take::<4>(&mut r)?),
                        }),
                    })
                })();
                fields.map(Envelope::Claim).ok_or(wrong_length(CLAIM_WITH_CONTEXT_LEN))
            }
            type_byte::REFUND_VOUCHER => {
                if bytes.len() != REFUND_VOUCHER_LEN {
                    return Err(wrong_length(REFUND_VOUCHER_LEN));
                }
                let mut r = payload;
                let fields = (|| {
                    Some(RefundVoucher {
                        device_id: DeviceId(take::<16>(&mut r)?),
                        pool_id: PoolId(take::<8>(&mut r)?),
                        entry_index: u32::from_be_bytes(take::<4>(&mut r)?),
                        payment_hash: take::<32>(&mut r)?,
                        amount_msat: u64::from_be_bytes(take::<8>(&mut r)?),
                        counter: u32::from_be_bytes(take::<4>(&mut r)?),
                    })
                })();
                fields.map(Envelope::RefundVoucher).ok_or(wrong_length(REFUND_VOUCHER_LEN))
            }
            type_byte::POOL_TOP_UP => {
                let mut r = payload;
                let declared = take::<4>(&mut r)
                    .map(u32::from_be_bytes)
                    .ok_or(wrong_length(POOL_TOP_UP_HEADER_LEN))?;
                if usize::try_from(declared).ok() != Some(r.len()) {
                    return Err(EnvelopeError::PoolLengthMismatch { declared, actual: r.len() });
                }
                Ok(Envelope::PoolTopUp(PoolTopUp { pool: r }))
            }
            type_byte::DEPUTY_CLAIM => {
                if bytes.len() != DEPUTY_CLAIM_LEN {
                    return Err(wrong_length(DEPUTY_CLAIM_LEN));
                }
                let mut r = payload;
                let fields = (|| {
                    Some(DeputyClaim {
                        device_id: DeviceId(take::<16>(&mut r)?),
                        counter: u64::from_be_bytes(take::<8>(&mut r)?),
                        tag: take::<16>(&mut r)?,
                    })
                })();
                fields.map(Envelope::DeputyClaim).ok_or(wrong_length(DEPUTY_CLAIM_LEN))
            }
            type_byte::PAYER_AUTHORIZATION => {
                if bytes.len() != PAYER_TOKEN_ENVELOPE_LEN {
                    return Err(wrong_length(PAYER_TOKEN_ENVELOPE_LEN));
                }
                PayerToken::parse(payload)
                    .map(Envelope::PayerToken)
                    .map_err(|_| wrong_length(PAYER_TOKEN_ENVELOPE_LEN))
            }
            other => Err(EnvelopeError::UnknownType(other)),
        }
    }

    /// The envelope's type byte.
    pub fn type_byte(&self) -> u8 {
        match self {
            Envelope::Claim(Claim { context: None, .. }) => type_byte::CLAIM,
            Envelope::Claim(Claim { context: Some(_), .. }) => type_byte::CLAIM_WITH_CONTEXT,
            Envelope::RefundVoucher(_) => type_byte::REFUND_VOUCHER,
            Envelope::PoolTopUp(_) => type_byte::POOL_TOP_UP,
            Envelope::DeputyClaim(_) => type_byte::DEPUTY_CLAIM,
            Envelope::PayerToken(_) => type_byte::PAYER_AUTHORIZATION,
        }
    }

    /// The encoded length in bytes, type byte included.
    pub fn encoded_len(&self) -> Result<usize, EnvelopeError> {
        match self {
            Envelope::Claim(Claim { context: None, .. }) => Ok(CLAIM_LEN),
            Envelope::Claim(Claim { context: Some(_), .. }) => Ok(CLAIM_WITH_CONTEXT_LEN),
            Envelope::RefundVoucher(_) => Ok(REFUND_VOUCHER_LEN),
            Envelope::DeputyClaim(_) => Ok(DEPUTY_CLAIM_LEN),
            Envelope::PayerToken(_) => Ok(PAYER_TOKEN_ENVELOPE_LEN),
            Envelope::PoolTopUp(p) => {
                let len = p.pool.len();
                if u32::try_from(len).is_err() {
                    return Err(EnvelopeError::PoolTooLarge { len });
                }
                POOL_TOP_UP_HEADER_LEN.checked_add(len).ok_or(EnvelopeError::PoolTooLarge { len })
            }
        }
    }

    /// Encodes into the front of `out`; returns the number of bytes written. Fails with
    /// [`EnvelopeError::BufferTooSmall`] before writing anything if `out` is too short.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, EnvelopeError> {
        let needed = self.encoded_len()?;
        if out.len() < needed {
            return Err(EnvelopeError::BufferTooSmall { needed, available: out.len() });
        }
        let mut w = Writer::new(out);
        w.put(&[self.type_byte()])?;
        match self {
            Envelope::Claim(c) => {
                w.put(&c.preimage)?;
                if let Some(ctx) = &c.context {
                    w.put(&ctx.device_id.0)?;
                    w.put(&ctx.pool_id.0)?;
                    w.put(&ctx.entry_index.to_be_bytes())?;
                }
            }
            Envelope::RefundVoucher(v) => {
                w.put(&v.device_id.0)?;
                w.put(&v.pool_id.0)?;
                w.put(&v.entry_index.to_be_bytes())?;
                w.put(&v.payment_hash)?;
                w.put(&v.amount_msat.to_be_bytes())?;
                w.put(&v.counter.to_be_bytes())?;
            }
            Envelope::PoolTopUp(p) => {
                let len = u32::try_from(p.pool.len())
                    .map_err(|_| EnvelopeError::PoolTooLarge { len: p.pool.len() })?;
                w.put(&len.to_be_bytes())?;
                w.put(p.pool)?;
            }
            Envelope::DeputyClaim(c) => {
                w.put(&c.device_id.0)?;
                w.put(&c.counter.to_be_bytes())?;
                w.put(&c.tag)?;
            }
            Envelope::PayerToken(t) => {
                w.put(&t.to_bytes())?;
            }
        }
        Ok(w.pos)
    }

    /// Encodes into a new vector.
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> Result<alloc::vec::Vec<u8>, EnvelopeError> {
        let mut v = alloc::vec![0u8; self.encoded_len()?];
        let n = self.encode_into(&mut v)?;
        v.truncate(n);
        Ok(v)
    }

    /// The envelope with no borrowed parts, if it has none (every type but a pool top-up).
    pub fn to_static(&self) -> Option<Envelope<'static>> {
        match *self {
            Envelope::Claim(c) => Some(Envelope::Claim(c)),
            Envelope::RefundVoucher(v) => Some(Envelope::RefundVoucher(v)),
            Envelope::PoolTopUp(_) => None,
            Envelope::DeputyClaim(c) => Some(Envelope::DeputyClaim(c)),
            Envelope::PayerToken(t) => Some(Envelope::PayerToken(t)),
        }
    }
}

impl From<Claim> for Envelope<'_> {
    fn from(c: Claim) -> Self {
        Envelope::Claim(c)
    }
}

impl From<DeputyClaim> for Envelope<'_> {
    fn from(c: DeputyClaim) -> Self {
        Envelope::DeputyClaim(c)
    }
}

impl From<RefundVoucher> for Envelope<'_> {
    fn from(v: RefundVoucher) -> Self {
        Envelope::RefundVoucher(v)
    }
}

impl<'a> From<PoolTopUp<'a>> for Envelope<'a> {
    fn from(p: PoolTopUp<'a>) -> Self {
        Envelope::PoolTopUp(p)
    }
}
