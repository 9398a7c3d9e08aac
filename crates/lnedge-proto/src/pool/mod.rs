//! Invoice pools (PROTOCOLS.md §1, seed 000: "vending machine without secret keys").
//!
//! The owner's Lightning node pre-signs `N` BOLT 11 invoices per product for a device. The pool
//! file stores, per product, a *template* (the human-readable part and every tagged field that is
//! the same for all entries, in the node's original order, with placeholders where the payment
//! hash `p` and payment secret `s` go) and, per entry, only what differs: payment hash, payment
//! secret, timestamp and the recoverable signature. The device rebuilds each BOLT 11 string byte
//! for byte with [`Entry::write_bolt11`] and holds no secret: preimages are derived by the
//! operator ([`derive_preimage`]) and never leave the gateway.
//!
//! The byte layout (format v1) is documented in `docs/protocols/pool-format.md`.
//!
//! * [`Pool::parse`] validates every length and structure up front and borrows the bytes
//!   (no allocation); [`Pool::verify_signatures`] / [`Pool::parse_verified`] check that every entry
//!   recovers the enrolled owner node id.
//! * [`PoolBuilder`] (feature `alloc`) turns the node's invoices into a pool and proves that the
//!   device will rebuild every one of them exactly.

mod bolt11;
mod derive;
mod error;
mod wire;

#[cfg(feature = "alloc")]
mod builder;

#[cfg(test)]
mod tests;

pub use derive::{derive_preimage, payment_hash};
pub use error::PoolError;
pub use wire::{Entries, Entry, Pool, Product, Products};

#[cfg(feature = "alloc")]
pub use builder::{BuildError, PoolBuilder};

/// The format version this module writes and reads (first byte of a pool).
pub const FORMAT_VERSION: u8 = 1;

/// The Bitcoin network a pool's invoices are for; it fixes the invoices' HRP prefix.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Network {
    /// Bitcoin mainnet (`lnbc`).
    Bitcoin,
    /// Testnet (`lntb`).
    Testnet,
    /// Signet (`lntbs`).
    Signet,
    /// Regtest (`lnbcrt`).
    Regtest,
}

impl Network {
    /// The BOLT 11 HRP prefix (`ln` + currency) of this network's invoices.
    pub fn hrp_prefix(self) -> &'static str {
        match self {
            Network::Bitcoin => "lnbc",
            Network::Testnet => "lntb",
            Network::Signet => "lntbs",
            Network::Regtest => "lnbcrt",
        }
    }

    /// The byte that encodes this network in a pool header.
    pub fn to_byte(self) -> u8 {
        match self {
            Network::Bitcoin => 0,
            Network::Testnet => 1,
            Network::Signet => 2,
            Network::Regtest => 3,
        }
    }

    /// The network a pool header byte encodes, if any.
    pub fn from_byte(b: u8) -> Option<Self> {
        match b {
            0 => Some(Network::Bitcoin),
            1 => Some(Network::Testnet),
            2 => Some(Network::Signet),
            3 => Some(Network::Regtest),
            _ => None,
        }
    }
}

impl core::fmt::Display for Network {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            Network::Bitcoin => "bitcoin",
            Network::Testnet => "testnet",
            Network::Signet => "signet",
            Network::Regtest => "regtest",
        })
    }
}
