//! Bolt Card: NTAG 424 DNA SUN readings (the `p` and `c` of a card's LNURL-withdraw URL) and
//! the deterministic key scheme, as the Bolt Card specification has them (issue #14; the
//! checked formulas are in `../shared/design/REFERENCE.md`, the vectors in
//! `tests/data/boltcard-vectors.json`).
//!
//! - [`sun`]: `p = AES-128-CBC(K1, IV 0, 0xC7 ‖ UID(7) ‖ counter(3, little-endian) ‖ 5 random)`,
//!   `c` = the odd-indexed bytes of `CMAC(Ks, "")` with `Ks = CMAC(K2, 3CC300010080 ‖ UID ‖
//!   counter)`. [`verify`] decrypts, checks the tag and the MAC in constant time and answers the
//!   UID and counter; the caller must then require the counter to be above the card's last one
//!   and store it before answering. [`read`] makes a reading (a card simulator).
//! - [`keys`]: the DETERMINISTIC scheme: `K1 = PRF(IssuerKey, 2d003f77)` shared by all cards,
//!   `CardKey = PRF(IssuerKey, 2d003f75 ‖ UID ‖ Version_le32)` and K0, K2, K3, K4 from it,
//!   `ID = PRF(IssuerKey, 2d003f7b ‖ UID)`; PRF = AES-CMAC.
//!
//! No allocation; `no_std`.

pub mod keys;
pub mod sun;

pub use keys::{card_id, card_keys, issuer_k1, CardKeys};
pub use sun::{check_mac, decrypt, read, verify, SunError, SunReading};

#[cfg(test)]
mod tests;
