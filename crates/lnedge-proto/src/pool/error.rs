//! Errors of pool decoding and verification.

use core::fmt;

/// Why a pool was refused. Offsets are byte offsets into the pool; `index` is an entry's global
/// index (products' entries in order).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum PoolError {
    /// The input is empty.
    Empty,
    /// The first byte is not a version this decoder knows.
    UnsupportedVersion(u8),
    /// The input ends before `what` (which starts at `offset`) is complete.
    Truncated {
        /// What was being read.
        what: &'static str,
        /// Where it starts.
        offset: usize,
    },
    /// Bytes follow the last product.
    TrailingBytes {
        /// Offset of the first extra byte.
        offset: usize,
    },
    /// The owner node id is not a compressed secp256k1 public key.
    InvalidOwnerKey,
    /// The network byte is unknown.
    UnknownNetwork(u8),
    /// The refund URL base is not UTF-8.
    InvalidRefundUrl,
    /// The pool has no product.
    NoProducts,
    /// Product ids must be strictly ascending (this also rules out duplicates).
    ProductsNotAscending {
        /// The product id out of order.
        product: u16,
    },
    /// A product has no entry.
    EmptyProduct {
        /// The product.
        product: u16,
    },
    /// `first_seq + entry_count - 1` does not fit in a `u32`.
    SeqOverflow {
        /// The product.
        product: u16,
    },
    /// A product's entries do not fit in memory addresses of this platform.
    TooLarge {
        /// The product.
        product: u16,
    },
    /// A product's HRP is not `ln` + the header network's currency + a valid amount.
    InvalidHrp {
        /// The product.
        product: u16,
    },
    /// A product's field template is malformed.
    InvalidTemplate {
        /// The product.
        product: u16,
        /// What is wrong.
        reason: &'static str,
    },
    /// The timestamp base or width of a product is out of range.
    InvalidTimestamp {
        /// The product.
        product: u16,
    },
    /// An entry's timestamp does not fit BOLT 11's 35 bits.
    TimestampOutOfRange {
        /// The entry.
        index: usize,
    },
    /// Padding bits at the end of a product's metadata column are not zero.
    NonZeroPadding {
        /// The product.
        product: u16,
    },
    /// An entry's signature is not a valid secp256k1 signature (r or s zero or out of range, or
    /// no key recoverable).
    InvalidSignature {
        /// The entry.
        index: usize,
    },
    /// An entry's signature is not low-S normalised (wallets built on libsecp256k1 reject it).
    HighS {
        /// The entry.
        index: usize,
    },
    /// An entry's signature is not the owner node's: it recovers another key, or does not verify under
    /// the owner's ([`Pool::verify_owner_signatures`](crate::pool::Pool::verify_owner_signatures)).
    SignerMismatch {
        /// The entry.
        index: usize,
    },
    /// The pool's owner node id is not the one the device was enrolled with.
    WrongOwner {
        /// The enrolled owner.
        expected: [u8; 33],
        /// The pool's owner.
        found: [u8; 33],
    },
}

pub(crate) struct Hex<'a>(pub(crate) &'a [u8]);

impl fmt::Display for Hex<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for b in self.0 {
            write!(f, "{b:02x}")?;
        }
        Ok(())
    }
}

impl fmt::Display for PoolError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PoolError::Empty => f.write_str("pool is empty"),
            PoolError::UnsupportedVersion(v) => write!(f, "unsupported pool format version {v}"),
            PoolError::Truncated { what, offset } => {
                write!(f, "pool truncated: {what} at byte {offset} is incomplete")
            }
            PoolError::TrailingBytes { offset } => {
                write!(f, "unexpected bytes after the last product at byte {offset}")
            }
            PoolError::InvalidOwnerKey => {
                f.write_str("owner node id is not a compressed secp256k1 public key")
            }
            PoolError::UnknownNetwork(b) => write!(f, "unknown network byte {b}"),
            PoolError::InvalidRefundUrl => f.write_str("refund url base is not utf-8"),
            PoolError::NoProducts => f.write_str("pool has no product"),
            PoolError::ProductsNotAscending { product } => {
                write!(f, "product {product} is out of order or duplicated")
            }
            PoolError::EmptyProduct { product } => write!(f, "product {product} has no entry"),
            PoolError::SeqOverflow { product } => {
                write!(f, "product {product}: sequence numbers overflow u32")
            }
            PoolError::TooLarge { product } => {
                write!(f, "product {product}: entry count too large for this platform")
            }
            PoolError::InvalidHrp { product } => write!(
                f,
                "product {product}: invoice prefix does not match the network or has a bad amount"
            ),
            PoolError::InvalidTemplate { product, reason } => {
                write!(f, "product {product}: invalid field template: {reason}")
            }
            PoolError::InvalidTimestamp { product } => {
                write!(f, "product {product}: timestamp base or width out of range")
            }
            PoolError::TimestampOutOfRange { index } => {
                write!(f, "entry {index}: timestamp does not fit in 35 bits")
            }
            PoolError::NonZeroPadding { product } => {
                write!(f, "product {product}: non-zero padding bits in the metadata column")
            }
            PoolError::InvalidSignature { index } => {
                write!(f, "entry {index}: invalid signature")
            }
            PoolError::HighS { index } => {
                write!(f, "entry {index}: signature is not low-s normalised")
            }
            PoolError::SignerMismatch { index } => {
                write!(f, "entry {index}: signature is not by the owner node (does not recover or verify under its id)")
            }
            PoolError::WrongOwner { expected, found } => {
                write!(f, "pool owner {} is not the enrolled owner {}", Hex(found), Hex(expected))
            }
        }
    }
}

impl core::error::Error for PoolError {}
