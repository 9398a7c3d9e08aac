//! Invoice-bound payer tokens (PROTOCOLS.md §3, mode (b); issue #14): a device that can compute
//! a MAC but has no connection of its own authorizes exactly one payment — one invoice (its
//! payment hash), of one amount, to one payee, before an expiry — and hands the token to the
//! merchant, whose point of sale passes token + invoice to the payer's gateway, which checks
//! and pays. A token read by the merchant (or anyone) cannot be spent on another invoice, for
//! another amount, to another payee, after expiry, or twice (the counter: the gateway accepts
//! each device's counters only upward and stores them before paying).
//!
//! ```text
//! body  = version (1, = 1) ‖ device id (16) ‖ counter (u32) ‖ payment hash (32)
//!         ‖ amount msat (u64) ‖ payee node id (33, compressed) ‖ expires at (u64, unix secs)
//! tag   = HMAC-SHA256(token key, "lnedge/payer/token/v1" ‖ body)[..16]
//! token = body ‖ tag                                   (118 bytes; envelope type 0x20)
//! token key = HMAC-SHA256(root, "lnedge/payer/token"),
//!             root = HMAC-SHA256(master, "lnedge/device" ‖ device id)   (as the deputy keys)
//! ```
//! Integers are big-endian. The gateway derives the key again from its master key (it stores
//! no per-device secret); the device holds only its token key.

use core::fmt;

use subtle::ConstantTimeEq;

use crate::deputy::keys::{hmac, root};
use crate::DeviceId;

/// The token format version this build writes and reads.
pub const TOKEN_VERSION: u8 = 1;
/// Length of the signed body.
pub const TOKEN_BODY_LEN: usize = 1 + 16 + 4 + 32 + 8 + 33 + 8;
/// Length of the tag (a truncated HMAC-SHA256: 128 bits).
pub const TOKEN_TAG_LEN: usize = 16;
/// Length of a token: body ‖ tag.
pub const TOKEN_LEN: usize = TOKEN_BODY_LEN + TOKEN_TAG_LEN;

const KEY_LABEL: &[u8] = b"lnedge/payer/token";
const TAG_LABEL: &[u8] = b"lnedge/payer/token/v1";

/// The key a payer device signs its tokens with (gateway and device). Secret: not in `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub struct PayerKey(pub [u8; 32]);

impl PayerKey {
    /// The token key of `device` under the gateway's `master` key.
    pub fn derive(master: &[u8; 32], device: &DeviceId) -> Self {
        PayerKey(hmac(&root(master, device), &[KEY_LABEL]))
    }
}

impl fmt::Debug for PayerKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PayerKey(<secret>)")
    }
}

/// What a token authorizes: one invoice, one amount, one payee, until an expiry.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Authorization {
    /// The paying device.
    pub device_id: DeviceId,
    /// The device's token counter (strictly increasing per device).
    pub counter: u32,
    /// The payment hash of the one invoice it pays.
    pub payment_hash: [u8; 32],
    /// The amount, in millisatoshis (the invoice must ask exactly this).
    pub amount_msat: u64,
    /// The payee's node id (33-byte compressed public key).
    pub payee: [u8; 33],
    /// Seconds since the Unix epoch after which the token is void.
    pub expires_at: u64,
}

/// A signed token.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PayerToken {
    /// What it authorizes.
    pub authorization: Authorization,
    /// The MAC over the body.
    pub tag: [u8; TOKEN_TAG_LEN],
}

/// Why a token is refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TokenError {
    /// Not [`TOKEN_LEN`] bytes.
    WrongLength {
        /// Bytes given.
        actual: usize,
    },
    /// A version this build does not read.
    UnknownVersion(u8),
    /// The tag does not verify with the device's key (forged, altered, or another device's).
    BadTag,
    /// The invoice's payment hash is not the one the token names.
    WrongInvoice,
    /// The invoice asks another amount.
    WrongAmount,
    /// The invoice pays another node.
    WrongPayee,
    /// The token expired.
    Expired,
}

impl fmt::Display for TokenError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            TokenError::WrongLength { actual } => {
                write!(f, "a payer token is {TOKEN_LEN} bytes, not {actual}")
            }
            TokenError::UnknownVersion(v) => write!(f, "unknown payer token version {v}"),
            TokenError::BadTag => f.write_str("the token's tag does not verify for its device"),
            TokenError::WrongInvoice => f.write_str("the token authorizes another invoice"),
            TokenError::WrongAmount => f.write_str("the token authorizes another amount"),
            TokenError::WrongPayee => f.write_str("the token authorizes another payee"),
            TokenError::Expired => f.write_str("the token expired"),
        }
    }
}

impl core::error::Error for TokenError {}

impl Authorization {
    /// The signed body.
    pub fn body(&self) -> [u8; TOKEN_BODY_LEN] {
        let mut out = [0u8; TOKEN_BODY_LEN];
        let parts: [&[u8]; 7] = [
            &[TOKEN_VERSION],
            &self.device_id.0,
            &self.counter.to_be_bytes(),
            &self.payment_hash,
            &self.amount_msat.to_be_bytes(),
            &self.payee,
            &self.expires_at.to_be_bytes(),
        ];
        let mut rest: &mut [u8] = &mut out;
        for part in parts {
            let (head, tail) = rest.split_at_mut(part.len());
            head.copy_from_slice(part);
            rest = tail;
        }
        out
    }

    /// Signs the authorization with the device's key.
    pub fn sign(self, key: &PayerKey) -> PayerToken {
        PayerToken { authorization: self, tag: tag(key, &self.body()) }
    }
}

fn tag(key: &PayerKey, body: &[u8; TOKEN_BODY_LEN]) -> [u8; TOKEN_TAG_LEN] {
    let full = hmac(&key.0, &[TAG_LABEL, body]);
    let mut out = [0u8; TOKEN_TAG_LEN];
    for (o, b) in out.iter_mut().zip(full.iter()) {
        *o = *b;
    }
    out
}

/// The first `N` bytes of `r` (advancing it), if there are that many.
fn take<const N: usize>(r: &mut &[u8]) -> Option<[u8; N]> {
    let (head, tail) = r.split_at_checked(N)?;
    *r = tail;
    head.try_into().ok()
}

impl PayerToken {
    /// The token's bytes: body ‖ tag.
    pub fn to_bytes(&self) -> [u8; TOKEN_LEN] {
        let mut out = [0u8; TOKEN_LEN];
        let (body, tag) = out.split_at_mut(TOKEN_BODY_LEN);
        body.copy_from_slice(&self.authorization.body());
        tag.copy_from_slice(&self.tag);
        out
    }

    /// Parses a token (its tag not checked yet: [`PayerToken::verify`]). Never panics.
    pub fn parse(bytes: &[u8]) -> Result<Self, TokenError> {
        let bytes: &[u8; TOKEN_LEN] =
            bytes.try_into().map_err(|_| TokenError::WrongLength { actual: bytes.len() })?;
        let (version, rest) = bytes.split_first().ok_or(TokenError::WrongLength { actual: 0 })?;
        if *version != TOKEN_VERSION {
            return Err(TokenError::UnknownVersion(*version));
        }
        let mut r = rest;
        let short = TokenError::WrongLength { actual: bytes.len() };
        let device_id = DeviceId(take::<16>(&mut r).ok_or(short)?);
        let counter = u32::from_be_bytes(take::<4>(&mut r).ok_or(short)?);
        let payment_hash = take::<32>(&mut r).ok_or(short)?;
        let amount_msat = u64::from_be_bytes(take::<8>(&mut r).ok_or(short)?);
        let payee = take::<33>(&mut r).ok_or(short)?;
        let expires_at = u64::from_be_bytes(take::<8>(&mut r).ok_or(short)?);
        let tag = take::<TOKEN_TAG_LEN>(&mut r).ok_or(short)?;
        let authorization =
            Authorization { device_id, counter, payment_hash, amount_msat, payee, expires_at };
        Ok(PayerToken { authorization, tag })
    }

    /// Checks the tag with `key` (the token's device's key), in constant time.
    pub fn verify(&self, key: &PayerKey) -> Result<&Authorization, TokenError> {
        let expected = tag(key, &self.authorization.body());
        if bool::from(expected.ct_eq(&self.tag)) {
            Ok(&self.authorization)
        } else {
            Err(TokenError::BadTag)
        }
    }
}

impl Authorization {
    /// Checks that an invoice with `payment_hash`, `amount_msat` and `payee` is the one this
    /// authorization names, at `now` (seconds since the Unix epoch). The counter is the
    /// gateway's to judge (strictly above the device's last, stored before paying).
    pub fn check_invoice(
        &self,
        payment_hash: &[u8; 32],
        amount_msat: u64,
        payee: &[u8; 33],
        now: u64,
    ) -> Result<(), TokenError> {
        if !bool::from(self.payment_hash.ct_eq(payment_hash)) {
            return Err(TokenError::WrongInvoice);
        }
        if self.amount_msat != amount_msat {
            return Err(TokenError::WrongAmount);
        }
        if self.payee != *payee {
            return Err(TokenError::WrongPayee);
        }
        if now >= self.expires_at {
            return Err(TokenError::Expired);
        }
        Ok(())
    }
}

#[doc(hidden)]
pub mod fuzz;
pub mod peer;

#[cfg(test)]
pub(crate) mod tests;
