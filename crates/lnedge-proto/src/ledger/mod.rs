//! The claim ledger: one state byte per pool entry, advanced only by clearing bits.
//!
//! Each entry of an invoice pool goes `unused → offered → claimed → dispensed | failed`. The
//! ledger is a pure state machine: [`Ledger::offer`], [`Ledger::claim`], [`Ledger::dispensed`] and
//! [`Ledger::failed`] compute a [`ChangeSet`] ("write this byte at this offset") without touching
//! the storage; a store (a flash image in `lnedge-device`, a database at the gateway) persists it.
//!
//! On NOR flash a write can only clear bits, so every state is the previous one with more bits
//! cleared (see [`EntryState::encoding`]) and a write cut by a power loss leaves a byte between
//! the two, which [`EntryState::decode`] maps to a safe state: the entry is never offered again
//! once a claim started, and a claim whose outcome was not fully written stays *pending*
//! ([`Ledger::pending`]) until someone resolves it. `docs/protocols/ledger.md` has the rules.
//!
//! The image is a 32-byte [`Header`] (magic, version, pool id, entry count, check bytes) followed
//! by one byte per entry; [`decode_image`] validates any byte string.
//!
//! ```
//! use lnedge_proto::ledger::{new_image, EntryState, Ledger};
//! use lnedge_proto::PoolId;
//!
//! let mut ledger = Ledger::open(new_image(PoolId([7; 8]), 4)?)?;
//! let i = ledger.next_unused(0..4).unwrap_or_default();
//! let offer = ledger.offer(i)?;
//! ledger.apply(&offer)?; // a device writes offer.value at offer.offset, then reads it back
//! // ... the customer pays and presents the preimage of entry i ...
//! let claim = ledger.claim(i)?;
//! ledger.apply(&claim)?; // persisted and read back BEFORE the motor runs
//! // ... the motor runs ...
//! let done = ledger.dispensed(i)?;
//! ledger.apply(&done)?;
//! assert_eq!(ledger.state(i)?, EntryState::Dispensed);
//! assert!(ledger.claim(i).is_err()); // "already used"
//! # Ok::<(), lnedge_proto::ledger::LedgerError>(())
//! ```

mod error;
mod header;
mod machine;
mod state;

pub use error::LedgerError;
pub use header::{entry_offset, Header, HEADER_LEN, MAGIC, VERSION};
#[cfg(feature = "alloc")]
pub use machine::new_image;
pub use machine::{decode_image, init_image, ChangeSet, Counts, Ledger, LedgerView, PendingClaim};
pub use state::{EntryState, PendingReason, Reading, ERASED};

#[cfg(test)]
mod tests;
