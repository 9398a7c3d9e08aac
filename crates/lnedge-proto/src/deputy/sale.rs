//! The sale and its sealed payload.
//!
//! ```text
//! sale   (36 bytes) = version(1) ‖ device_id(16) ‖ counter(u64) ‖ amount(u64) ‖ currency(3)
//! sealed (36 bytes) = version(1) ‖ counter(u64) ‖ ChaCha20-Poly1305(amount ‖ currency)(11) ‖ tag(16)
//!   key   = seal key of the device
//!   nonce = 0x00000000 ‖ counter (big-endian): unique per key as long as counters never repeat
//!   AAD   = "lnedge/deputy" ‖ version ‖ device_id ‖ counter
//! ```
//!
//! The device id travels in the URL path and is bound by the AAD: a payload sealed for one
//! device does not open as another's. Integers are big-endian.

use chacha20poly1305::aead::AeadInPlace;
use chacha20poly1305::{ChaCha20Poly1305, KeyInit};

use super::keys::TerminalKeys;
use super::DeputyError;
use crate::DeviceId;

/// The payload version this build writes and reads.
pub const VERSION: u8 = 1;
/// Length of a sale's canonical bytes ([`Sale::to_bytes`]).
pub const SALE_LEN: usize = 1 + 16 + 8 + 8 + 3;
/// Length of a sealed payload.
pub const SEALED_LEN: usize = 1 + 8 + 11 + 16;

const AAD_LABEL: &[u8] = b"lnedge/deputy";

/// A currency code: `SAT` (amounts in satoshis) or an ISO 4217 fiat code (amounts in its minor
/// unit: cents of `EUR`).
#[derive(Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct Currency(pub [u8; 3]);

impl Currency {
    /// Satoshis.
    pub const SAT: Currency = Currency(*b"SAT");

    /// A code from three upper-case ASCII letters.
    pub fn new(code: [u8; 3]) -> Result<Self, DeputyError> {
        if code.iter().all(u8::is_ascii_uppercase) {
            Ok(Currency(code))
        } else {
            Err(DeputyError::BadCurrency(code))
        }
    }

    /// A code from text (any case), e.g. `"eur"`.
    pub fn parse(text: &str) -> Result<Self, DeputyError> {
        let bytes = text.as_bytes();
        let code: [u8; 3] = bytes.try_into().map_err(|_| {
            let mut shown = [b'?'; 3];
            for (d, s) in shown.iter_mut().zip(bytes) {
                *d = *s;
            }
            DeputyError::BadCurrency(shown)
        })?;
        Currency::new(code.map(|b| b.to_ascii_uppercase()))
    }

    /// The code as text.
    pub fn as_str(&self) -> &str {
        // Only ever built from upper-case ASCII.
        core::str::from_utf8(&self.0).unwrap_or("???")
    }

    /// Whether amounts are satoshis (not a fiat currency).
    pub fn is_sat(&self) -> bool {
        *self == Currency::SAT
    }
}

impl core::fmt::Display for Currency {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl core::fmt::Debug for Currency {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(f, "Currency({})", self.as_str())
    }
}

/// One sale a terminal asks to be paid.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Sale {
    /// The terminal.
    pub device_id: DeviceId,
    /// The terminal's sale counter (from 1, strictly increasing, persisted before use).
    pub counter: u64,
    /// The amount, in satoshis ([`Currency::SAT`]) or the fiat currency's minor unit.
    pub amount: u64,
    /// The amount's currency.
    pub currency: Currency,
}

fn nonce(counter: u64) -> [u8; 12] {
    let mut n = [0u8; 12];
    let c = counter.to_be_bytes();
    for (d, s) in n.iter_mut().skip(4).zip(c) {
        *d = s;
    }
    n
}

fn aad(device: &DeviceId, counter: u64) -> [u8; 13 + 1 + 16 + 8] {
    let mut out = [0u8; 13 + 1 + 16 + 8];
    let parts: [&[u8]; 4] = [AAD_LABEL, &[VERSION], &device.0, &counter.to_be_bytes()];
    let mut it = out.iter_mut();
    for part in parts {
        for (s, d) in part.iter().zip(it.by_ref()) {
            *d = *s;
        }
    }
    out
}

fn split<const N: usize>(bytes: &mut &[u8]) -> Option<[u8; N]> {
    let (head, rest) = bytes.split_first_chunk::<N>()?;
    *bytes = rest;
    Some(*head)
}

impl Sale {
    /// Checks the sale's fields.
    pub fn validate(&self) -> Result<(), DeputyError> {
        if self.counter == 0 {
            return Err(DeputyError::ZeroCounter);
        }
        if self.amount == 0 {
            return Err(DeputyError::ZeroAmount);
        }
        Currency::new(self.currency.0).map(|_| ())
    }

    /// The canonical bytes every derivation (preimage, claim) is computed over.
    pub fn to_bytes(&self) -> [u8; SALE_LEN] {
        let mut out = [0u8; SALE_LEN];
        let parts: [&[u8]; 5] = [
            &[VERSION],
            &self.device_id.0,
            &self.counter.to_be_bytes(),
            &self.amount.to_be_bytes(),
            &self.currency.0,
        ];
        let mut it = out.iter_mut();
        for part in parts {
            for (s, d) in part.iter().zip(it.by_ref()) {
                *d = *s;
            }
        }
        out
    }

    /// Seals the sale with the terminal's seal key. The caller MUST have persisted `counter` as
    /// used before showing the result (a nonce is never reused, also across power cuts).
    pub fn seal(&self, keys: &TerminalKeys) -> Result<[u8; SEALED_LEN], DeputyError> {
        self.validate()?;
        if keys.device_id != self.device_id {
            return Err(DeputyError::NotAuthentic);
        }
        let mut body = [0u8; 11];
        let mut it = body.iter_mut();
        for (s, d) in self.amount.to_be_bytes().into_iter().zip(it.by_ref()) {
            *d = s;
        }
        for (d, s) in it.zip(self.currency.0) {
            *d = s;
        }
        let cipher = ChaCha20Poly1305::new((&keys.seal_key).into());
        let tag = cipher
            .encrypt_in_place_detached(
                (&nonce(self.counter)).into(),
                &aad(&self.device_id, self.counter),
                &mut body,
            )
            .map_err(|_| DeputyError::BufferTooSmall)?;
        let mut out = [0u8; SEALED_LEN];
        let parts: [&[u8]; 4] =
            [&[VERSION], &self.counter.to_be_bytes(), &body, &<[u8; 16]>::from(tag)];
        let mut it = out.iter_mut();
        for part in parts {
            for (s, d) in part.iter().zip(it.by_ref()) {
                *d = *s;
            }
        }
        Ok(out)
    }

    /// The counter of a sealed payload, read before authenticating it (to look up state); only
    /// [`Sale::open`] tells whether it is genuine.
    pub fn peek_counter(sealed: &[u8]) -> Result<u64, DeputyError> {
        let mut r = sealed;
        let _version = split::<1>(&mut r);
        split::<8>(&mut r)
            .map(u64::from_be_bytes)
            .ok_or(DeputyError::WrongLength { expected: SEALED_LEN, actual: sealed.len() })
    }

    /// Opens and authenticates a sealed payload that claims to come from `device` (whose seal
    /// key is `seal_key`). Never panics.
    pub fn open(device: DeviceId, seal_key: &[u8; 32], sealed: &[u8]) -> Result<Sale, DeputyError> {
        if sealed.len() != SEALED_LEN {
            return Err(DeputyError::WrongLength { expected: SEALED_LEN, actual: sealed.len() });
        }
        let wrong = DeputyError::WrongLength { expected: SEALED_LEN, actual: sealed.len() };
        let mut r = sealed;
        let [version] = split::<1>(&mut r).ok_or(wrong)?;
        if version != VERSION {
            return Err(DeputyError::UnknownVersion(version));
        }
        let counter = u64::from_be_bytes(split::<8>(&mut r).ok_or(wrong)?);
        let mut body = split::<11>(&mut r).ok_or(wrong)?;
        let tag = split::<16>(&mut r).ok_or(wrong)?;
        let cipher = ChaCha20Poly1305::new(seal_key.into());
        cipher
            .decrypt_in_place_detached(
                (&nonce(counter)).into(),
                &aad(&device, counter),
                &mut body,
                (&tag).into(),
            )
            .map_err(|_| DeputyError::NotAuthentic)?;
        let mut b = body.as_slice();
        let amount = u64::from_be_bytes(split::<8>(&mut b).ok_or(wrong)?);
        let currency = Currency::new(split::<3>(&mut b).ok_or(wrong)?)?;
        let sale = Sale { device_id: device, counter, amount, currency };
        sale.validate()?;
        Ok(sale)
    }
}
