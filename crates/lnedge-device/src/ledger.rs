//! The claim ledger persisted on flash.

use std::ops::Range;
use std::path::Path;

use lnedge_proto::ledger::{
    ChangeSet, Counts, EntryState, Ledger, LedgerError, PendingClaim, Reading,
};
use lnedge_proto::PoolId;

use lnedge_device_core::{FlashLedger, StoreError};

use crate::flash::{Flash, FlashError, FlashImage, Nor, NorError};

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
///
/// The ledger logic is `lnedge_device_core::FlashLedger`, the same code the firmware runs; this
/// type adds the file-backed flash, the claims found pending on open, and std errors.
#[derive(Debug)]
pub struct PersistentLedger<F> {
    inner: FlashLedger<Nor<F>, Vec<u8>>,
    pending_after_crash: Vec<PendingClaim>,
}

impl From<StoreError<NorError>> for PersistentLedgerError {
    fn from(e: StoreError<NorError>) -> Self {
        match e {
            StoreError::Ledger(e) => PersistentLedgerError::Ledger(e),
            StoreError::Read { cause, .. } | StoreError::Format { cause, .. } => {
                PersistentLedgerError::Open(cause.0)
            }
            StoreError::Write { index, to, offset, cause } => {
                PersistentLedgerError::Write { index, to, offset: offset as usize, source: cause.0 }
            }
            StoreError::Verify { index, offset, expected, found } => {
                PersistentLedgerError::Verify { index, offset: offset as usize, expected, found }
            }
            StoreError::NeedsReload => PersistentLedgerError::NeedsReload,
            // Neither can happen here (a byte-wide flash, a buffer of the flash's length), but
            // an error is never dropped: say what it was.
            StoreError::Geometry { .. } => {
                PersistentLedgerError::Open(FlashError::Unsupported("this geometry"))
            }
            StoreError::Buffer { .. } => PersistentLedgerError::Open(FlashError::Unsupported(
                "a ledger image of another length",
            )),
            _ => PersistentLedgerError::Open(FlashError::Unsupported("an unknown store error")),
        }
    }
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
    /// entries, and nothing else) and records the claims pending from before
    /// ([`pending_after_crash`]).
    ///
    /// [`pending_after_crash`]: Self::pending_after_crash
    pub fn from_flash(
        flash: F,
        pool_id: PoolId,
        entries: u32,
    ) -> Result<Self, PersistentLedgerError> {
        // The whole flash is the image: a flash of another length is a LengthMismatch.
        let storage = vec![0u8; flash.len()];
        let inner = FlashLedger::open(Nor(flash), 0, storage, pool_id, entries)?;
        let pending_after_crash = inner.pending().collect();
        Ok(PersistentLedger { inner, pending_after_crash })
    }

    /// Re-reads the image from flash (after a failed write) and recomputes the pending claims.
    pub fn reload(&mut self) -> Result<(), PersistentLedgerError> {
        self.inner.reload()?;
        self.pending_after_crash = self.inner.pending().collect();
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
        self.inner.pending().collect()
    }

    /// The ledger as last written and verified.
    pub fn ledger(&self) -> &Ledger<Vec<u8>> {
        self.inner.ledger()
    }

    /// The state of entry `index`.
    pub fn state(&self, index: u32) -> Result<EntryState, LedgerError> {
        self.inner.state(index)
    }

    /// The byte and state of entry `index`.
    pub fn reading(&self, index: u32) -> Result<Reading, LedgerError> {
        self.inner.reading(index)
    }

    /// Entries per state.
    pub fn counts(&self) -> Counts {
        self.inner.counts()
    }

    /// The first unused entry in `range`.
    pub fn next_unused(&self, range: Range<u32>) -> Option<u32> {
        self.inner.next_unused(range)
    }

    /// The flash.
    pub fn flash(&self) -> &F {
        &self.inner.flash().0
    }

    /// The flash, e.g. to arm a power cut.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.inner.flash_mut().0
    }

    /// Gives the flash back.
    pub fn into_flash(self) -> F {
        self.inner.into_parts().0 .0
    }

    /// The core ledger, for the shared vend sequence (`lnedge_device_core::vend`).
    pub(crate) fn core_mut(&mut self) -> &mut FlashLedger<Nor<F>, Vec<u8>> {
        &mut self.inner
    }

    /// Offers entry `index` (unused → offered; offered again is a no-op).
    pub fn offer(&mut self, index: u32) -> Result<ChangeSet, PersistentLedgerError> {
        Ok(self.inner.offer(index)?)
    }

    /// Claims entry `index` (unused or offered → claimed), durably: when this returns `Ok` the
    /// claim is on flash and was read back, and the motor may run.
    pub fn claim(&mut self, index: u32) -> Result<ChangeSet, PersistentLedgerError> {
        Ok(self.inner.claim(index)?)
    }

    /// Records that claimed entry `index` was dispensed.
    pub fn dispensed(&mut self, index: u32) -> Result<ChangeSet, PersistentLedgerError> {
        Ok(self.inner.dispensed(index)?)
    }

    /// Records that the vend of claimed entry `index` failed (refundable).
    pub fn failed(&mut self, index: u32) -> Result<ChangeSet, PersistentLedgerError> {
        Ok(self.inner.failed(index)?)
    }
}
