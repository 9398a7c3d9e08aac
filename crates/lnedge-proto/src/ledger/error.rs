//! Errors of the claim ledger.

use core::fmt;

use super::EntryState;
use crate::PoolId;

/// Everything that can go wrong decoding a ledger image or computing a transition.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum LedgerError {
    /// The image is shorter than its header.
    TooShort {
        /// Length of the image in bytes.
        len: usize,
    },
    /// The image does not start with [`MAGIC`](super::MAGIC).
    BadMagic {
        /// The first four bytes found.
        found: [u8; 4],
    },
    /// A header version this code does not know.
    UnsupportedVersion {
        /// The version byte found.
        version: u8,
    },
    /// The header's check bytes do not match its contents (corrupt header).
    HeaderChecksum,
    /// A reserved header byte is not zero.
    ReservedNotZero {
        /// Offset of the byte in the image.
        offset: usize,
    },
    /// The image length does not match the entry count of its header.
    LengthMismatch {
        /// Entry count in the header.
        entries: u32,
        /// Length the header implies.
        expected_len: usize,
        /// Actual length.
        actual_len: usize,
    },
    /// The entry count cannot be addressed on this platform.
    TooManyEntries {
        /// Entry count asked for or found in the header.
        entries: u32,
    },
    /// The ledger belongs to another pool.
    WrongPool {
        /// The pool the caller expected.
        expected: PoolId,
        /// The pool in the ledger header.
        found: PoolId,
    },
    /// The ledger has another entry count than the pool.
    WrongEntryCount {
        /// The count the caller expected.
        expected: u32,
        /// The count in the ledger header.
        found: u32,
    },
    /// The entry index is not in the pool.
    IndexOutOfRange {
        /// The index asked for.
        index: u32,
        /// Number of entries in the ledger.
        entries: u32,
    },
    /// The entry was already claimed (the preimage is spent): answer "already used".
    AlreadyClaimed {
        /// The entry.
        index: u32,
        /// Its current state (claimed, dispensed or failed).
        state: EntryState,
    },
    /// `dispensed`/`failed` for an entry that is not claimed.
    NotClaimed {
        /// The entry.
        index: u32,
        /// Its current state (unused or offered).
        state: EntryState,
    },
    /// `dispensed`/`failed` for an entry whose outcome is already recorded.
    AlreadyResolved {
        /// The entry.
        index: u32,
        /// Its final state.
        state: EntryState,
    },
    /// A change set was computed against another byte than the one now in the image.
    StaleChangeSet {
        /// The entry.
        index: u32,
        /// The byte the change set expected.
        expected: u8,
        /// The byte found.
        found: u8,
    },
    /// A write would set a bit (0 → 1), which flash cannot do without an erase.
    NotMonotone {
        /// Offset in the image.
        offset: usize,
        /// The byte there.
        old: u8,
        /// The byte asked for.
        new: u8,
    },
}

impl fmt::Display for LedgerError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            LedgerError::TooShort { len } => {
                write!(f, "ledger image of {len} bytes is shorter than its {} byte header", super::HEADER_LEN)
            }
            LedgerError::BadMagic { found } => write!(f, "not a ledger image: magic {found:02x?}"),
            LedgerError::UnsupportedVersion { version } => {
                write!(f, "unsupported ledger version {version} (this code reads {})", super::VERSION)
            }
            LedgerError::HeaderChecksum => f.write_str("ledger header check bytes do not match (corrupt header)"),
            LedgerError::ReservedNotZero { offset } => {
                write!(f, "reserved ledger header byte at offset {offset} is not zero")
            }
            LedgerError::LengthMismatch { entries, expected_len, actual_len } => write!(
                f,
                "ledger image is {actual_len} bytes but its header says {entries} entries ({expected_len} bytes)"
            ),
            LedgerError::TooManyEntries { entries } => {
                write!(f, "ledger of {entries} entries is too large for this platform")
            }
            LedgerError::WrongPool { expected, found } => {
                write!(f, "ledger belongs to pool {found}, expected pool {expected}")
            }
            LedgerError::WrongEntryCount { expected, found } => {
                write!(f, "ledger has {found} entries, the pool has {expected}")
            }
            LedgerError::IndexOutOfRange { index, entries } => {
                write!(f, "entry {index} out of range (ledger has {entries} entries)")
            }
            LedgerError::AlreadyClaimed { index, state } => {
                write!(f, "entry {index} already used (state {state})")
            }
            LedgerError::NotClaimed { index, state } => {
                write!(f, "entry {index} is {state}, not claimed: no outcome can be recorded")
            }
            LedgerError::AlreadyResolved { index, state } => {
                write!(f, "entry {index} is already {state}")
            }
            LedgerError::StaleChangeSet { index, expected, found } => write!(
                f,
                "change set for entry {index} expected byte {expected:#04x}, found {found:#04x}"
            ),
            LedgerError::NotMonotone { offset, old, new } => write!(
                f,
                "write of {new:#04x} over {old:#04x} at offset {offset} would set a bit"
            ),
        }
    }
}

impl core::error::Error for LedgerError {}
