//! The claim ledger kept on NOR flash: [`FlashLedger`].
//!
//! The image (header + one byte per pool entry, `docs/protocols/ledger.md`) lives in the flash
//! at `base`; a copy in caller-provided storage (`S`: a `Vec<u8>` on a host, a slice of a static
//! buffer on a microcontroller) answers reads. Every transition is computed by the pure
//! [`Ledger`], programmed with [`nor::program_byte`], **read back from the flash** and only then
//! applied to the copy. After a failed write the ledger refuses every transition
//! ([`StoreError::NeedsReload`]) until [`FlashLedger::reload`] has read the flash again.

use core::ops::Range;

use embedded_storage::nor_flash::MultiwriteNorFlash;
use lnedge_proto::ledger::{
    init_image, ChangeSet, Counts, EntryState, Header, Ledger, LedgerError, PendingClaim, Reading,
    HEADER_LEN,
};
use lnedge_proto::PoolId;

use crate::nor::{self, ProgramError};

/// Errors of a [`FlashLedger`]; `E` is the flash driver's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError<E: core::fmt::Debug> {
    /// The transition is not allowed (e.g. [`LedgerError::AlreadyClaimed`]: "already used"), or
    /// the image on flash is not a ledger of the expected pool.
    #[error("claim ledger: {0}")]
    Ledger(#[from] LedgerError),
    /// The flash's read or write unit does not suit the ledger (see [`nor::geometry_ok`]).
    #[error("flash with read unit {read_size} and write unit {write_size} bytes cannot hold the claim ledger (needs byte reads and a power-of-two write unit of at most 16 bytes)")]
    Geometry {
        /// `ReadNorFlash::READ_SIZE`.
        read_size: usize,
        /// `NorFlash::WRITE_SIZE`.
        write_size: usize,
    },
    /// The storage given for the image has another length than the image.
    #[error("the claim ledger image is {needed} bytes, the buffer for it {given}")]
    Buffer {
        /// Bytes of the image.
        needed: usize,
        /// Bytes given.
        given: usize,
    },
    /// Reading the flash failed.
    #[error("reading the claim ledger at flash offset {offset}: {cause:?}")]
    Read {
        /// Flash offset.
        offset: u32,
        /// The driver's error.
        cause: E,
    },
    /// Writing a new ledger's header failed.
    #[error("writing the claim ledger's header at flash offset {offset}: {cause:?}")]
    Format {
        /// Flash offset.
        offset: u32,
        /// The driver's error.
        cause: E,
    },
    /// The flash write of a transition failed (possibly cut: the entry may be partly written).
    #[error("persisting entry {index} as {to} at flash offset {offset}: {cause:?}")]
    Write {
        /// The entry.
        index: u32,
        /// The state being written.
        to: EntryState,
        /// Flash offset of the entry byte.
        offset: u32,
        /// The driver's error.
        cause: E,
    },
    /// Reading back a write gave another byte than the one written.
    #[error(
        "entry {index} at flash offset {offset}: wrote {expected:#04x}, read back {found:#04x}"
    )]
    Verify {
        /// The entry.
        index: u32,
        /// Flash offset of the entry byte.
        offset: u32,
        /// The byte written.
        expected: u8,
        /// The byte read back.
        found: u8,
    },
    /// A previous write failed; [`FlashLedger::reload`] first.
    #[error("an earlier write failed; reload the ledger from flash first")]
    NeedsReload,
}

/// The header of the ledger image at `base`, read from the flash (to size the storage).
pub fn read_header<F: MultiwriteNorFlash>(
    flash: &mut F,
    base: u32,
) -> Result<Header, StoreError<F::Error>> {
    let mut bytes = [0u8; HEADER_LEN];
    read_into(flash, base, &mut bytes)?;
    Ok(Header::decode(&bytes)?)
}

/// The claim ledger of one pool, on a flash `F`, with its image copied into `S`.
#[derive(Debug)]
pub struct FlashLedger<F, S> {
    flash: F,
    base: u32,
    ledger: Ledger<S>,
    needs_reload: bool,
}

fn check_geometry<F: MultiwriteNorFlash>() -> Result<(), StoreError<F::Error>> {
    if nor::geometry_ok(F::READ_SIZE, F::WRITE_SIZE) {
        Ok(())
    } else {
        Err(StoreError::Geometry { read_size: F::READ_SIZE, write_size: F::WRITE_SIZE })
    }
}

/// Offset `at` bytes after `base`, or an out-of-range ledger error.
fn flash_offset(base: u32, at: usize, entries: u32) -> Result<u32, LedgerError> {
    u32::try_from(at)
        .ok()
        .and_then(|at| base.checked_add(at))
        .ok_or(LedgerError::TooManyEntries { entries })
}

fn read_into<F: MultiwriteNorFlash>(
    flash: &mut F,
    base: u32,
    bytes: &mut [u8],
) -> Result<(), StoreError<F::Error>> {
    flash.read(base, bytes).map_err(|cause| StoreError::Read { offset: base, cause })
}

impl<F: MultiwriteNorFlash, S: AsRef<[u8]> + AsMut<[u8]>> FlashLedger<F, S> {
    /// Writes a new ledger for `entries` entries of `pool_id` at `base` (which must be erased)
    /// and opens it. `storage` must be exactly the image's length.
    pub fn create(
        mut flash: F,
        base: u32,
        mut storage: S,
        pool_id: PoolId,
        entries: u32,
    ) -> Result<Self, StoreError<F::Error>> {
        check_geometry::<F>()?;
        let needed = (Header { pool_id, entries })
            .image_len()
            .ok_or(LedgerError::TooManyEntries { entries })?;
        let given = storage.as_ref().len();
        if given != needed {
            return Err(StoreError::Buffer { needed, given });
        }
        init_image(storage.as_mut(), pool_id, entries)?;
        for (at, value) in storage.as_ref().iter().take(HEADER_LEN).enumerate() {
            let offset = flash_offset(base, at, entries)?;
            nor::program_byte(&mut flash, offset, *value)
                .map_err(|cause| StoreError::Format { offset, cause })?;
        }
        Self::open(flash, base, storage, pool_id, entries)
    }

    /// Reads the ledger at `base` (it must be a ledger of `pool_id` with `entries` entries)
    /// into `storage`, which must be exactly the image's length.
    pub fn open(
        mut flash: F,
        base: u32,
        mut storage: S,
        pool_id: PoolId,
        entries: u32,
    ) -> Result<Self, StoreError<F::Error>> {
        check_geometry::<F>()?;
        read_into(&mut flash, base, storage.as_mut())?;
        let ledger = Ledger::open_for_pool(storage, pool_id, entries)?;
        Ok(FlashLedger { flash, base, ledger, needs_reload: false })
    }

    /// Reads the image from flash again (after a failed write) and checks it is still this
    /// ledger. Until that succeeds, transitions stay refused.
    pub fn reload(&mut self) -> Result<(), StoreError<F::Error>> {
        let (flash, base) = (&mut self.flash, self.base);
        self.ledger.reread(|bytes| read_into(flash, base, bytes))?;
        self.needs_reload = false;
        Ok(())
    }

    /// Claimed entries without an outcome: paid sales whose vend may or may not have happened.
    /// Resolve each with [`dispensed`](Self::dispensed) or [`failed`](Self::failed) (refund);
    /// never re-run the motor for them.
    pub fn pending(&self) -> impl Iterator<Item = PendingClaim> + '_ {
        self.ledger.pending()
    }

    /// The ledger as last written and verified.
    pub fn ledger(&self) -> &Ledger<S> {
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

    /// The flash, e.g. to arm a simulated power cut.
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Gives the flash and the storage back.
    pub fn into_parts(self) -> (F, S) {
        (self.flash, self.ledger.into_inner())
    }

    /// Persists `change`: program, read back, compare, then update the copy.
    fn persist(&mut self, change: ChangeSet) -> Result<ChangeSet, StoreError<F::Error>> {
        if change.is_noop() {
            return Ok(change);
        }
        let ChangeSet { index, to, offset, value, .. } = change;
        let entries = self.ledger.entry_count();
        let offset = flash_offset(self.base, offset, entries)?;
        self.needs_reload = true;
        nor::program_verified(&mut self.flash, offset, value).map_err(|e| match e {
            ProgramError::Flash(cause) => StoreError::Write { index, to, offset, cause },
            ProgramError::NotKept { found } => {
                StoreError::Verify { index, offset, expected: value, found }
            }
        })?;
        self.ledger.apply(&change)?;
        self.needs_reload = false;
        Ok(change)
    }

    fn step(
        &mut self,
        op: fn(&Ledger<S>, u32) -> Result<ChangeSet, LedgerError>,
        index: u32,
    ) -> Result<ChangeSet, StoreError<F::Error>> {
        if self.needs_reload {
            return Err(StoreError::NeedsReload);
        }
        let change = op(&self.ledger, index)?;
        self.persist(change)
    }

    /// Offers entry `index` (unused → offered; offered again is a no-op).
    pub fn offer(&mut self, index: u32) -> Result<ChangeSet, StoreError<F::Error>> {
        self.step(Ledger::offer, index)
    }

    /// Claims entry `index` (unused or offered → claimed), durably: when this returns `Ok` the
    /// claim is on flash and was read back, and the motor may run.
    pub fn claim(&mut self, index: u32) -> Result<ChangeSet, StoreError<F::Error>> {
        self.step(Ledger::claim, index)
    }

    /// Records that claimed entry `index` was dispensed.
    pub fn dispensed(&mut self, index: u32) -> Result<ChangeSet, StoreError<F::Error>> {
        self.step(Ledger::dispensed, index)
    }

    /// Records that the vend of claimed entry `index` failed (refundable).
    pub fn failed(&mut self, index: u32) -> Result<ChangeSet, StoreError<F::Error>> {
        self.step(Ledger::failed, index)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use embedded_storage::nor_flash::{
        ErrorType, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
    };
    use lnedge_proto::ledger::PendingReason;

    /// NOR flash in RAM with a `W`-byte write unit; a write ANDs (clears bits only). Can be
    /// told to stop after `budget` more bytes, leaving the rest of the write undone.
    #[derive(Debug, Clone)]
    pub(crate) struct RamNor<const W: usize> {
        pub(crate) bytes: Vec<u8>,
        pub(crate) budget: Option<usize>,
    }

    #[derive(Debug, Clone, Copy, PartialEq, Eq)]
    pub(crate) enum RamNorError {
        OutOfBounds,
        PowerCut,
    }

    impl NorFlashError for RamNorError {
        fn kind(&self) -> NorFlashErrorKind {
            match self {
                RamNorError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
                RamNorError::PowerCut => NorFlashErrorKind::Other,
            }
        }
    }

    impl<const W: usize> RamNor<W> {
        pub(crate) fn new(len: usize) -> Self {
            RamNor { bytes: vec![0xFF; len], budget: None }
        }
    }

    impl<const W: usize> ErrorType for RamNor<W> {
        type Error = RamNorError;
    }

    impl<const W: usize> ReadNorFlash for RamNor<W> {
        const READ_SIZE: usize = 1;
        fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), RamNorError> {
            let at = offset as usize;
            let src = self.bytes.get(at..at + bytes.len()).ok_or(RamNorError::OutOfBounds)?;
            bytes.copy_from_slice(src);
            Ok(())
        }
        fn capacity(&self) -> usize {
            self.bytes.len()
        }
    }

    impl<const W: usize> NorFlash for RamNor<W> {
        const WRITE_SIZE: usize = W;
        const ERASE_SIZE: usize = 256;
        fn erase(&mut self, from: u32, to: u32) -> Result<(), RamNorError> {
            let range = self.bytes.get_mut(from as usize..to as usize);
            range.ok_or(RamNorError::OutOfBounds)?.fill(0xFF);
            Ok(())
        }
        fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), RamNorError> {
            assert_eq!(offset as usize % W, 0, "unaligned write");
            assert_eq!(bytes.len() % W, 0, "partial unit");
            for (at, b) in (offset as usize..).zip(bytes) {
                if let Some(left) = self.budget.as_mut() {
                    if *left == 0 {
                        return Err(RamNorError::PowerCut);
                    }
                    *left -= 1;
                }
                let slot = self.bytes.get_mut(at).ok_or(RamNorError::OutOfBounds)?;
                *slot &= *b;
            }
            Ok(())
        }
    }

    impl<const W: usize> embedded_storage::nor_flash::MultiwriteNorFlash for RamNor<W> {}

    const POOL: PoolId = PoolId([7; 8]);

    fn fresh<const W: usize>(entries: u32) -> FlashLedger<RamNor<W>, Vec<u8>> {
        let len = HEADER_LEN + entries as usize;
        FlashLedger::create(RamNor::<W>::new(64 + len + 64), 64, vec![0; len], POOL, entries)
            .expect("create")
    }

    #[test]
    fn transitions_are_on_flash_and_survive_reopening() {
        let mut ledger = fresh::<4>(5);
        ledger.offer(1).expect("offer");
        ledger.claim(1).expect("claim");
        ledger.claim(2).expect("claim");
        ledger.dispensed(1).expect("dispensed");
        let (flash, _) = ledger.into_parts();
        let reopened =
            FlashLedger::open(flash, 64, vec![0; HEADER_LEN + 5], POOL, 5).expect("reopen");
        assert_eq!(reopened.state(1), Ok(EntryState::Dispensed));
        assert_eq!(reopened.state(2), Ok(EntryState::Claimed));
        let pending: Vec<_> = reopened.pending().collect();
        assert_eq!(pending.len(), 1);
        assert_eq!(pending[0].index, 2);
        assert_eq!(pending[0].reason, PendingReason::Unresolved);
        // The bytes before `base` were never touched.
        assert!(reopened.flash().bytes[..64].iter().all(|b| *b == 0xFF));
    }

    #[test]
    fn a_used_entry_is_refused_and_a_failed_write_needs_a_reload() {
        let mut ledger = fresh::<1>(3);
        ledger.claim(0).expect("claim");
        assert!(matches!(
            ledger.claim(0),
            Err(StoreError::Ledger(LedgerError::AlreadyClaimed { index: 0, .. }))
        ));
        ledger.flash_mut().budget = Some(0);
        assert!(matches!(
            ledger.claim(1),
            Err(StoreError::Write { index: 1, cause: RamNorError::PowerCut, .. })
        ));
        assert!(matches!(ledger.claim(2), Err(StoreError::NeedsReload)));
        ledger.flash_mut().budget = None;
        ledger.reload().expect("reload");
        assert_eq!(ledger.state(1), Ok(EntryState::Unused), "the cut write never happened");
        ledger.claim(1).expect("claim after reload");
    }

    #[test]
    fn a_ledger_of_another_pool_or_size_is_refused() {
        let (flash, _) = fresh::<1>(3).into_parts();
        let err = FlashLedger::open(flash.clone(), 64, vec![0; HEADER_LEN + 3], PoolId([8; 8]), 3)
            .expect_err("other pool");
        assert!(matches!(err, StoreError::Ledger(LedgerError::WrongPool { .. })), "{err}");
        let err = FlashLedger::open(flash, 64, vec![0; HEADER_LEN + 4], POOL, 4).expect_err("size");
        assert!(matches!(err, StoreError::Ledger(_)), "{err}");
        let err =
            FlashLedger::create(RamNor::<1>::new(64), 0, vec![0; 10], POOL, 3).expect_err("buffer");
        assert_eq!(err.to_string(), "the claim ledger image is 35 bytes, the buffer for it 10");
    }
}
