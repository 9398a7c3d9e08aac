//! The claim ledger persisted on flash.

use std::ops::Range;
use std::path::Path;

use lnedge_proto::ledger::{
    ChangeSet, Counts, EntryState, Ledger, LedgerError, PendingClaim, Reading,
};
use lnedge_proto::PoolId;

use crate::flash::{Flash, FlashError, FlashImage};

/// Errors of [`PersistentLedger`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PersistentLedgerError {
    /// The transition is not allowed (e.g. [`LedgerError::AlreadyClaimed`]: "already used").
    #[error("claim ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// Opening or reading the flash failed.
    #[error("opening the claim ledger: {0}")]
    Open(#[source] FlashError),
    /// The flash write of a transition failed (possibly cut: the entry may be partly written).
    #[error("persisting entry {index} as {to} at offset {offset}: {source}")]
    Write {
        /// The entry.
        index: u32,
        /// The state being written.
        to: EntryState,
        /// Offset of the entry byte.
        offset: usize,
        /// The flash error.
        #[source]
        source: FlashError,
    },
    /// Reading back a write gave another byte than the one written.
    #[error("entry {index} at offset {offset}: wrote {expected:#04x}, read back {found:#04x}")]
    Verify {
        /// The entry.
        index: u32,
        /// Offset of the entry byte.
        offset: usize,
        /// The byte written.
        expected: u8,
        /// The byte read back.
        found: u8,
    },
    /// A previous write failed; the ledger must be [`reload`](PersistentLedger::reload)ed (or
    /// reopened after power comes back) before any other transition.
    #[error("an earlier write failed; reload the ledger from flash first")]
    NeedsReload,
}

/// The claim ledger of one pool on a [`Flash`]: each transition is one monotone byte write,
/// read back before the call returns `Ok`. Only after [`claim`](Self::claim) returned `Ok` may
/// the motor run.
#[derive(Debug)]
pub struct PersistentLedger<F> {
    flash: F,
    ledger: Ledger<Vec<u8>>,
    pending_after_crash: Vec<PendingClaim>,
    needs_reload: bool,
}

impl PersistentLedger<FlashImage> {
    /// Opens (creating if needed) the ledger file at `path` for `entries` entries of `pool_id`.
    pub fn open(
        path: impl AsRef<Path>,
        pool_id: PoolId,
        entries: u32,
    ) -> Result<Self, PersistentLedgerError> {
        let flash =
            FlashImage::open(path, pool_id, entries).map_err(PersistentLedgerError::Open)?;
        Self::from_flash(flash, pool_id, entries)
    }
}

impl<F: Flash> PersistentLedger<F> {
    /// Reads the ledger from `flash` (which must hold a ledger image of `pool_id` with `entries`
    /// entries) and records the claims pending from before ([`pending_after_crash`]).
    ///
    /// [`pending_after_crash`]: Self::pending_after_crash
    pub fn from_flash(
        mut flash: F,
        pool_id: PoolId,
        entries: u32,
    ) -> Result<Self, PersistentLedgerError> {
        let bytes = flash.read_all().map_err(PersistentLedgerError::Open)?;
        let ledger = Ledger::open_for_pool(bytes, pool_id, entries)?;
        let pending_after_crash = ledger.pending().collect();
        Ok(PersistentLedger { flash, ledger, pending_after_crash, needs_reload: false })
    }

    /// Re-reads the image from flash (after a failed write) and recomputes the pending claims.
    pub fn reload(&mut self) -> Result<(), PersistentLedgerError> {
        let header = self.ledger.header();
        let bytes = self.flash.read_all().map_err(PersistentLedgerError::Open)?;
        self.ledger = Ledger::open_for_pool(bytes, header.pool_id, header.entries)?;
        self.pending_after_crash = self.ledger.pending().collect();
        self.needs_reload = false;
        Ok(())
    }

    /// Claimed entries without an outcome found when the ledger was opened: paid sales whose
    /// vend may or may not have happened. Resolve each with [`dispensed`](Self::dispensed) or
    /// [`failed`](Self::failed) (refund); never re-run the motor for them automatically.
    pub fn pending_after_crash(&self) -> &[PendingClaim] {
        &self.pending_after_crash
    }

    /// Claimed entries without an outcome now.
    pub fn pending(&self) -> Vec<PendingClaim> {
        self.ledger.pending().collect()
    }

    /// The ledger as last written and verified.
    pub fn ledger(&self) -> &Ledger<Vec<u8>> {
        &self.ledger
    }

    /// The state of entry `index`.
    pub fn state(&self, index: u32) -> Result<EntryState, LedgerError> {
        self.ledger.state(index)
    }

    /// The byte and state of entry `index`.
    pub fn reading(&self, index: u32) -> Result<Reading, LedgerError> {
        self.ledger.reading(index)
    }

    /// Entries per state.
    pub fn counts(&self) -> Counts {
        self.ledger.counts()
    }

    /// The first unused entry in `range`.
    pub fn next_unused(&self, range: Range<u32>) -> Option<u32> {
        self.ledger.next_unused(range)
    }

    /// The flash.
    pub fn flash(&self) -> &F {
        &self.flash
    }

    /// The flash, e.g. to arm a power cut.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash back.
    pub fn into_flash(self) -> F {
        self.flash
    }

    /// Persists `change`: program, read back, compare, then update the in-memory ledger.
    fn persist(&mut self, change: ChangeSet) -> Result<ChangeSet, PersistentLedgerError> {
        if change.is_noop() {
            return Ok(change);
        }
        let ChangeSet { index, to, offset, value, .. } = change;
        self.needs_reload = true;
        self.flash.program(offset, value).map_err(|source| PersistentLedgerError::Write {
            index,
            to,
            offset,
            source,
        })?;
        let found = self
            .flash
            .read_byte(offset)
            .map_err(|source| PersistentLedgerError::Write { index, to, offset, source })?;
        if found != value {
            return Err(PersistentLedgerError::Verify { index, offset, expected: value, found });
        }
        self.ledger.apply(&change)?;
        self.needs_reload = false;
        Ok(change)
    }

    fn step(
        &mut self,
        op: fn(&Ledger<Vec<u8>>, u32) -> Result<ChangeSet, LedgerError>,
        index: u32,
    ) -> Result<ChangeSet, PersistentLedgerError> {
        if self.needs_reload {
            return Err(PersistentLedgerError::NeedsReload);
        }
        let change = op(&self.ledger, index)?;
        self.persist(change)
    }

    /// Offers entry `index` (unused → offered; offered again is a no-op).
    pub fn offer(&mut self, index: u32) -> Result<ChangeSet, PersistentLedgerError> {
        self.step(Ledger::offer, index)
    }

    /// Claims entry `index` (unused or offered → claimed), durably: when this returns `Ok` the
    /// claim is on flash and was read back, and the motor may run.
    pub fn claim(&mut self, index: u32) -> Result<ChangeSet, PersistentLedgerError> {
        self.step(Ledger::claim, index)
    }

    /// Records that claimed entry `index` was dispensed.
    pub fn dispensed(&mut self, index: u32) -> Result<ChangeSet, PersistentLedgerError> {
        self.step(Ledger::dispensed, index)
    }

    /// Records that the vend of claimed entry `index` failed (refundable).
    pub fn failed(&mut self, index: u32) -> Result<ChangeSet, PersistentLedgerError> {
        self.step(Ledger::failed, index)
    }
}
