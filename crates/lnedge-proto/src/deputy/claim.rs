//! Claims: what proves to a terminal, offline, that one sale was paid.
//!
//! ```text
//! mac        = HMAC-SHA256(claim_key, "claim" ‖ sale bytes)
//! full claim = mac[0..16], carried in envelope type 0x10 with the sale it names:
//!              0x10 ‖ device_id(16) ‖ counter(u64) ‖ mac[0..16]          (41 bytes)
//! short code = u64(mac[16..24]) mod 10^8, shown as 8 digits (keypads)
//! ```
//!
//! The gateway puts both into the LUD-10 AES success action, which only the payer can decrypt
//! (the key is the preimage it gets by paying). A routing node learns the preimage, but a
//! preimage is not a claim, and cannot be turned into one without the claim key. A claim names
//! its device and counter, so it is worthless at another terminal or for another sale. The
//! short code is 8 digits (10⁸ values); terminals allow [`MAX_CODE_TRIES`] tries per sale, so a
//! guesser wins with probability ≤ 5·10⁻⁸.

use core::fmt;

use subtle::ConstantTimeEq;

use super::keys::{hmac, TerminalKeys};
use super::sale::Sale;
use crate::DeviceId;

/// Bytes of the full claim's MAC.
pub const CLAIM_TAG_LEN: usize = 16;
/// Digits of the short code.
pub const SHORT_CODE_DIGITS: usize = 8;
/// Wrong short codes a terminal accepts per sale before locking that sale out.
pub const MAX_CODE_TRIES: u8 = 5;
/// Length of a deputy claim envelope: type ‖ device id ‖ counter ‖ tag.
pub const DEPUTY_CLAIM_LEN: usize = 1 + 16 + 8 + CLAIM_TAG_LEN;

const MODULUS: u64 = 100_000_000;

/// A full claim (envelope type `0x10`): the sale it names and its MAC.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct DeputyClaim {
    /// The terminal the sale was made at.
    pub device_id: DeviceId,
    /// The sale's counter at that terminal.
    pub counter: u64,
    /// `HMAC-SHA256(claim_key, "claim" ‖ sale)[0..16]`.
    pub tag: [u8; CLAIM_TAG_LEN],
}

/// An 8-digit code for keypads (displayed `1234-5678`).
#[derive(Clone, Copy, PartialEq, Eq, Hash)]
pub struct ShortCode(pub u32);

impl fmt::Display for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:04}-{:04}", self.0 / 10_000, self.0 % 10_000)
    }
}

impl fmt::Debug for ShortCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("ShortCode(<secret>)")
    }
}

impl ShortCode {
    /// Parses typed digits (spaces and dashes ignored); `None` unless exactly 8 digits.
    pub fn parse(text: &str) -> Option<ShortCode> {
        let mut value: u32 = 0;
        let mut digits = 0usize;
        for c in text.chars() {
            match c {
                ' ' | '-' => {}
                '0'..='9' => {
                    digits = digits.checked_add(1)?;
                    if digits > SHORT_CODE_DIGITS {
                        return None;
                    }
                    value = value.checked_mul(10)?.checked_add(c.to_digit(10)?)?;
                }
                _ => return None,
            }
        }
        (digits == SHORT_CODE_DIGITS).then_some(ShortCode(value))
    }

    /// Constant-time comparison.
    pub fn ct_eq(&self, other: &ShortCode) -> bool {
        bool::from(self.0.to_be_bytes().ct_eq(&other.0.to_be_bytes()))
    }
}

/// The full claim and short code of `sale` under `claim_key`.
pub fn claim_for(claim_key: &[u8; 32], sale: &Sale) -> (DeputyClaim, ShortCode) {
    let mac = hmac(claim_key, &[b"claim", &sale.to_bytes()]);
    let mut tag = [0u8; CLAIM_TAG_LEN];
    for (d, s) in tag.iter_mut().zip(mac.iter()) {
        *d = *s;
    }
    let mut code_bytes = [0u8; 8];
    for (d, s) in code_bytes.iter_mut().zip(mac.iter().skip(CLAIM_TAG_LEN)) {
        *d = *s;
    }
    // 2^64 / 10^8 ≈ 1.8·10^11: the modulo bias is below 10^-11.
    let code = u64::from_be_bytes(code_bytes) % MODULUS;
    (
        DeputyClaim { device_id: sale.device_id, counter: sale.counter, tag },
        ShortCode(u32::try_from(code).unwrap_or(0)),
    )
}

impl DeputyClaim {
    /// Whether this claim is the genuine claim of `sale` (same device, same counter, MAC equal in
    /// constant time).
    pub fn verify(&self, keys: &TerminalKeys, sale: &Sale) -> bool {
        if self.device_id != sale.device_id || self.counter != sale.counter {
            return false;
        }
        let (want, _) = claim_for(&keys.claim_key, sale);
        bool::from(want.tag.ct_eq(&self.tag))
    }
}
