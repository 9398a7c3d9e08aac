//! The pure state machine over a ledger image.

use core::ops::Range;

use super::header::entry_offset;
use super::{EntryState, Header, LedgerError, PendingReason, Reading, HEADER_LEN};
use crate::PoolId;

/// One transition to persist: write `value` at `offset` of the image.
///
/// `value` only clears bits of `old` (it is `old & to.encoding()`), so it is a legal flash
/// program over the byte the change set was computed from. A change set with
/// `old == value` ([`is_noop`](Self::is_noop)) needs no write (offering an offered entry).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct ChangeSet {
    /// The entry.
    pub index: u32,
    /// Its state before.
    pub from: EntryState,
    /// Its state after the write.
    pub to: EntryState,
    /// Offset of the entry byte in the image.
    pub offset: usize,
    /// The byte before.
    pub old: u8,
    /// The byte to write.
    pub value: u8,
}

impl ChangeSet {
    /// True when nothing has to be written.
    pub const fn is_noop(&self) -> bool {
        self.old == self.value
    }
}

/// Entries per state (and how many bytes carry the trace of a cut write).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub struct Counts {
    /// Entries never offered.
    pub unused: u32,
    /// Entries offered, not claimed.
    pub offered: u32,
    /// Entries claimed without a recorded outcome (pending).
    pub claimed: u32,
    /// Entries dispensed.
    pub dispensed: u32,
    /// Entries failed (refundable).
    pub failed: u32,
    /// Entries whose byte is not canonical (a write to them was cut).
    pub torn: u32,
}

/// A claimed entry without a recorded outcome.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PendingClaim {
    /// The entry.
    pub index: u32,
    /// What the entry byte says happened.
    pub reason: PendingReason,
}

/// The claim ledger: a header and one state byte per pool entry, over any byte storage.
///
/// Read-only operations need `S: AsRef<[u8]>`; transitions are computed as [`ChangeSet`]s
/// without touching the storage. A store persists the change set and either re-reads its image
/// or calls [`apply`](Ledger::apply) (needs `S: AsMut<[u8]>`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Ledger<S> {
    image: S,
    header: Header,
}

/// A read-only ledger over borrowed bytes.
pub type LedgerView<'a> = Ledger<&'a [u8]>;

/// Decodes and validates a whole ledger image (header, check bytes, length). Never panics on any
/// input; the entry of a fuzz target.
pub fn decode_image(bytes: &[u8]) -> Result<LedgerView<'_>, LedgerError> {
    Ledger::open(bytes)
}

/// Writes a fresh (all entries unused) image into `buf`, which must be exactly
/// `HEADER_LEN + entries` bytes long.
pub fn init_image(buf: &mut [u8], pool_id: PoolId, entries: u32) -> Result<(), LedgerError> {
    let header = Header { pool_id, entries };
    let expected_len = header.image_len().ok_or(LedgerError::TooManyEntries { entries })?;
    if buf.len() != expected_len {
        return Err(LedgerError::LengthMismatch { entries, expected_len, actual_len: buf.len() });
    }
    let (head, body) = buf.split_at_mut(HEADER_LEN.min(expected_len));
    head.copy_from_slice(&header.encode());
    body.fill(super::ERASED);
    Ok(())
}

/// A fresh image (all entries unused) for `entries` entries of pool `pool_id`.
#[cfg(feature = "alloc")]
pub fn new_image(pool_id: PoolId, entries: u32) -> Result<alloc::vec::Vec<u8>, LedgerError> {
    let len =
        (Header { pool_id, entries }).image_len().ok_or(LedgerError::TooManyEntries { entries })?;
    let mut image = alloc::vec![super::ERASED; len];
    init_image(&mut image, pool_id, entries)?;
    Ok(image)
}

impl<S: AsRef<[u8]>> Ledger<S> {
    /// Validates the image (header, check bytes, length) and wraps it.
    pub fn open(image: S) -> Result<Self, LedgerError> {
        let bytes = image.as_ref();
        let header = Header::decode(bytes)?;
        let expected_len =
            header.image_len().ok_or(LedgerError::TooManyEntries { entries: header.entries })?;
        if bytes.len() != expected_len {
            return Err(LedgerError::LengthMismatch {
                entries: header.entries,
                expected_len,
                actual_len: bytes.len(),
            });
        }
        Ok(Ledger { image, header })
    }

    /// [`open`](Self::open), and checks that the ledger belongs to `pool_id` with `entries`
    /// entries ([`LedgerError::WrongPool`], [`LedgerError::WrongEntryCount`]).
    pub fn open_for_pool(image: S, pool_id: PoolId, entries: u32) -> Result<Self, LedgerError> {
        let ledger = Self::open(image)?;
        ledger.check_pool(pool_id, entries)?;
        Ok(ledger)
    }

    /// Checks that this ledger belongs to `pool_id` with `entries` entries.
    pub fn check_pool(&self, pool_id: PoolId, entries: u32) -> Result<(), LedgerError> {
        if self.header.pool_id != pool_id {
            return Err(LedgerError::WrongPool { expected: pool_id, found: self.header.pool_id });
        }
        if self.header.entries != entries {
            return Err(LedgerError::WrongEntryCount {
                expected: entries,
                found: self.header.entries,
            });
        }
        Ok(())
    }

    /// The header.
    pub fn header(&self) -> Header {
        self.header
    }

    /// Number of entries.
    pub fn entry_count(&self) -> u32 {
        self.header.entries
    }

    /// The whole image.
    pub fn as_bytes(&self) -> &[u8] {
        self.image.as_ref()
    }

    /// The storage back.
    pub fn into_inner(self) -> S {
        self.image
    }

    fn entry_bytes(&self) -> &[u8] {
        self.image.as_ref().get(HEADER_LEN..).unwrap_or(&[])
    }

    fn locate(&self, index: u32) -> Result<(usize, u8), LedgerError> {
        let out_of_range = LedgerError::IndexOutOfRange { index, entries: self.header.entries };
        let offset = entry_offset(index).ok_or(out_of_range)?;
        let byte = self.image.as_ref().get(offset).copied().ok_or(out_of_range)?;
        Ok((offset, byte))
    }

    /// The raw byte and decoded state of entry `index`.
    pub fn reading(&self, index: u32) -> Result<Reading, LedgerError> {
        self.locate(index).map(|(_, byte)| Reading::of(byte))
    }

    /// The state of entry `index`.
    pub fn state(&self, index: u32) -> Result<EntryState, LedgerError> {
        self.reading(index).map(|r| r.state)
    }

    /// Every entry with its reading, in index order.
    pub fn readings(&self) -> impl Iterator<Item = (u32, Reading)> + '_ {
        (0u32..).zip(self.entry_bytes().iter().map(|b| Reading::of(*b)))
    }

    /// Claimed entries without a recorded outcome, in index order. After a restart these are the
    /// sales whose outcome is unknown; never re-run the motor for them automatically.
    pub fn pending(&self) -> impl Iterator<Item = PendingClaim> + '_ {
        self.readings().filter_map(|(index, r)| {
            r.pending_reason().map(|reason| PendingClaim { index, reason })
        })
    }

    /// Entries per state.
    pub fn counts(&self) -> Counts {
        let mut c = Counts::default();
        for (_, r) in self.readings() {
            let slot = match r.state {
                EntryState::Unused => &mut c.unused,
                EntryState::Offered => &mut c.offered,
                EntryState::Claimed => &mut c.claimed,
                EntryState::Dispensed => &mut c.dispensed,
                EntryState::Failed => &mut c.failed,
            };
            *slot = slot.saturating_add(1);
            if !r.is_canonical() {
                c.torn = c.torn.saturating_add(1);
            }
        }
        c
    }

    /// The first unused entry in `range` (e.g. a product's slice of the pool), if any.
    pub fn next_unused(&self, range: Range<u32>) -> Option<u32> {
        let start = usize::try_from(range.start).ok()?;
        let end = usize::try_from(range.end).ok()?;
        let bytes = self.entry_bytes();
        let slice = bytes.get(start..end.min(bytes.len()))?;
        let pos = slice.iter().position(|b| EntryState::decode(*b) == EntryState::Unused)?;
        u32::try_from(pos).ok()?.checked_add(range.start)
    }

    fn change(
        &self,
        index: u32,
        from: EntryState,
        to: EntryState,
    ) -> Result<ChangeSet, LedgerError> {
        let (offset, old) = self.locate(index)?;
        let value = if from == to { old } else { old & to.encoding() };
        Ok(ChangeSet { index, from, to, offset, old, value })
    }

    /// Show entry `index` to a customer: unused → offered; offered → offered is a no-op change
    /// set. A claimed (or later) entry cannot be offered: [`LedgerError::AlreadyClaimed`].
    pub fn offer(&self, index: u32) -> Result<ChangeSet, LedgerError> {
        let state = self.state(index)?;
        match state {
            EntryState::Unused | EntryState::Offered => {
                self.change(index, state, EntryState::Offered)
            }
            _ => Err(LedgerError::AlreadyClaimed { index, state }),
        }
    }

    /// A customer presented the preimage of entry `index`: unused or offered → claimed. Persist
    /// it (and read it back) **before** running the motor.
    pub fn claim(&self, index: u32) -> Result<ChangeSet, LedgerError> {
        let state = self.state(index)?;
        match state {
            EntryState::Unused | EntryState::Offered => {
                self.change(index, state, EntryState::Claimed)
            }
            _ => Err(LedgerError::AlreadyClaimed { index, state }),
        }
    }

    fn resolve(&self, index: u32, to: EntryState) -> Result<ChangeSet, LedgerError> {
        let state = self.state(index)?;
        match state {
            EntryState::Claimed => self.change(index, state, to),
            EntryState::Unused | EntryState::Offered => {
                Err(LedgerError::NotClaimed { index, state })
            }
            EntryState::Dispensed | EntryState::Failed => {
                Err(LedgerError::AlreadyResolved { index, state })
            }
        }
    }

    /// The product of claimed entry `index` was released: claimed → dispensed.
    pub fn dispensed(&self, index: u32) -> Result<ChangeSet, LedgerError> {
        self.resolve(index, EntryState::Dispensed)
    }

    /// The vend of claimed entry `index` failed: claimed → failed (refundable).
    pub fn failed(&self, index: u32) -> Result<ChangeSet, LedgerError> {
        self.resolve(index, EntryState::Failed)
    }
}

impl<S: AsRef<[u8]> + AsMut<[u8]>> Ledger<S> {
    /// Fills the image again with what `read` puts there (the flash's bytes, after a write
    /// that failed part-way) and checks that it is still this ledger: same header, same length.
    /// If `read` or the check fails the ledger must not be trusted until a `reread` succeeds.
    pub fn reread<E: From<LedgerError>>(
        &mut self,
        read: impl FnOnce(&mut [u8]) -> Result<(), E>,
    ) -> Result<(), E> {
        read(self.image.as_mut())?;
        let header = Header::decode(self.image.as_ref())?;
        self.check_pool(header.pool_id, header.entries)?;
        Ok(())
    }

    /// Applies a change set to the image held in memory (what the flash program does).
    ///
    /// Refuses a change set computed against another byte ([`LedgerError::StaleChangeSet`]) or
    /// one that would set a bit ([`LedgerError::NotMonotone`]).
    pub fn apply(&mut self, change: &ChangeSet) -> Result<(), LedgerError> {
        let (offset, old) = self.locate(change.index)?;
        if old != change.old || offset != change.offset {
            return Err(LedgerError::StaleChangeSet {
                index: change.index,
                expected: change.old,
                found: old,
            });
        }
        if change.value & !old != 0 {
            return Err(LedgerError::NotMonotone { offset, old, new: change.value });
        }
        if let Some(b) = self.image.as_mut().get_mut(offset) {
            *b = change.value;
        }
        Ok(())
    }
}
