//! The store: 64 KiB of NOR flash holding the enrolment, the pool and the claim ledger.
//!
//! On QEMU's mps2-an386 there is no flash controller, so [`EmuNor`] emulates NOR flash over a
//! RAM region that the test harness loads before boot and saves after a power cut: an erase
//! sets 4 KiB sectors to `0xFF`, a write can only clear bits and clears them **one bit per
//! store**, so a power cut (the emulator stopped at any instruction) can leave a byte half
//! programmed, as real NOR can. On a real board this file becomes a driver for the MCU's flash
//! behind the same `embedded-storage` traits.
//!
//! ```text
//! 0x0000  enrolment  "LNFW" ‖ version 1 ‖ mode ‖ 0xFF 0xFF ‖ the mode's record
//!         vending:   device id (16) ‖ owner node id (33)
//!         deputy:    device id (16) ‖ seal key (32) ‖ claim key (32) ‖ URL length ‖ gateway URL
//! vending: 0x0100..0x1000 the ids of every pool ever installed (8 bytes each, appended)
//!          two slots, each a pool and its ledger; a new pool goes into the slot not in use
//! 0x1000  slot 0     +0x0000 install number u32 LE (written last) ‖ length u32 LE ‖ pool bytes
//!                    +0x6C00 the pool's claim ledger (docs/protocols/ledger.md)  up to 1 KiB
//! 0x8000  slot 1     the same
//! deputy:
//! 0x1000  terminal   lnedge_device_core::deputy layout                 48.3 KiB
//! ```

use core::ptr::{read_volatile, write_volatile};

use embedded_storage::nor_flash::{
    ErrorType, MultiwriteNorFlash, NorFlash, NorFlashError, NorFlashErrorKind, ReadNorFlash,
};

/// Where the store is mapped.
pub const BASE: usize = 0x0010_0000;
/// Its size.
pub const SIZE: u32 = 0x1_0000;
/// Erase sector.
pub const SECTOR: u32 = 0x1000;
/// Enrolment record.
pub const ENROLMENT: u32 = 0x0000;
/// The log of installed pool ids (vending): 8 bytes each, appended, never erased but by
/// `ENROL`.
pub const INSTALLED: u32 = 0x0100;
/// End of the log.
pub const INSTALLED_END: u32 = 0x1000;
/// Where the two pool slots start.
pub const SLOTS: [u32; 2] = [0x1000, 0x8000];
/// Size of a slot: the pool area, then the ledger.
pub const SLOT_SIZE: u32 = 0x7000;
/// Offset of the pool bytes in a slot (after the install number and the length).
pub const SLOT_POOL: u32 = 8;
/// Offset of the ledger in a slot (the pool area ends there): 27 KiB of pool (about 210
/// entries), 1 KiB of ledger (up to 992 entries).
pub const SLOT_LEDGER: u32 = 0x6C00;

/// Where the deputy terminal's records start.
pub const DEPUTY: u32 = 0x1000;

const MAGIC: &[u8; 4] = b"LNFW";
const VERSION: u8 = 1;
/// Bytes of the enrolment record's header.
const RECORD_AT: u32 = 8;

/// The enrolment record of `mode` (`b'V'` vending, `b'D'` deputy), `len` bytes after the
/// header, if the store holds one.
pub fn enrolment(mode: u8, len: usize) -> Option<&'static [u8]> {
    let head = EmuNor::mapped(ENROLMENT, RECORD_AT as usize)?;
    if head.get(..4)? != MAGIC || head.get(4) != Some(&VERSION) || head.get(5) != Some(&mode) {
        return None;
    }
    EmuNor::mapped(ENROLMENT + RECORD_AT, len)
}

/// Erases the whole store and writes the enrolment `record` of `mode`.
pub fn enrol(mode: u8, record: &[u8]) -> Result<(), &'static str> {
    let mut flash = EmuNor::new();
    let head = [MAGIC[0], MAGIC[1], MAGIC[2], MAGIC[3], VERSION, mode, 0xFF, 0xFF];
    flash
        .erase(0, SIZE)
        .and_then(|()| flash.write(ENROLMENT + RECORD_AT, record))
        .and_then(|()| flash.write(ENROLMENT, &head))
        .map_err(|_| "writing the enrolment failed")?;
    // The header goes last: a cut leaves no enrolment rather than half of one.
    match enrolment(mode, record.len()) {
        Some(stored) if stored == record => Ok(()),
        _ => Err("the enrolment did not read back"),
    }
}

/// Errors of the emulated flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EmuNorError {
    /// Outside the store.
    OutOfBounds,
    /// An erase not on sector boundaries.
    NotAligned,
}

impl NorFlashError for EmuNorError {
    fn kind(&self) -> NorFlashErrorKind {
        match self {
            EmuNorError::OutOfBounds => NorFlashErrorKind::OutOfBounds,
            EmuNorError::NotAligned => NorFlashErrorKind::NotAligned,
        }
    }
}

/// NOR flash emulated over the store region (see the module docs).
pub struct EmuNor(());

impl EmuNor {
    /// The store. There is one; the caller keeps it unique (hence no `Default`).
    #[allow(clippy::new_without_default)]
    pub const fn new() -> EmuNor {
        EmuNor(())
    }

    fn check(offset: u32, len: usize) -> Result<usize, EmuNorError> {
        let end = (offset as usize).checked_add(len).ok_or(EmuNorError::OutOfBounds)?;
        if end > SIZE as usize {
            return Err(EmuNorError::OutOfBounds);
        }
        Ok(BASE + offset as usize)
    }

    /// The store's bytes `offset..offset+len`, read in place (flash is memory-mapped). Must not
    /// be held across a write or erase of the same range.
    pub fn mapped(offset: u32, len: usize) -> Option<&'static [u8]> {
        let at = Self::check(offset, len).ok()?;
        // SAFETY: the range lies inside the store region, which nothing else maps; callers
        // never hold it across a write of the range (the pool slot is written only while no
        // slice of it exists).
        Some(unsafe { core::slice::from_raw_parts(at as *const u8, len) })
    }
}

impl ErrorType for EmuNor {
    type Error = EmuNorError;
}

impl ReadNorFlash for EmuNor {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), EmuNorError> {
        let at = Self::check(offset, bytes.len())?;
        for (i, b) in bytes.iter_mut().enumerate() {
            // SAFETY: inside the store region (checked above).
            *b = unsafe { read_volatile((at + i) as *const u8) };
        }
        Ok(())
    }

    fn capacity(&self) -> usize {
        SIZE as usize
    }
}

impl NorFlash for EmuNor {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = SECTOR as usize;

    fn erase(&mut self, from: u32, to: u32) -> Result<(), EmuNorError> {
        if !from.is_multiple_of(SECTOR) || !to.is_multiple_of(SECTOR) || to < from {
            return Err(EmuNorError::NotAligned);
        }
        let at = Self::check(from, (to - from) as usize)?;
        for i in 0..(to - from) as usize {
            // SAFETY: inside the store region (checked above).
            unsafe { write_volatile((at + i) as *mut u8, 0xFF) };
        }
        Ok(())
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), EmuNorError> {
        let at = Self::check(offset, bytes.len())?;
        for (i, new) in bytes.iter().enumerate() {
            let p = (at + i) as *mut u8;
            // SAFETY: inside the store region (checked above).
            let mut byte = unsafe { read_volatile(p) };
            // One bit per store, low bit first: a cut leaves a partly programmed byte.
            for bit in 0..8 {
                let mask = 1u8 << bit;
                if byte & mask != 0 && new & mask == 0 {
                    byte &= !mask;
                    // SAFETY: as above.
                    unsafe { write_volatile(p, byte) };
                }
            }
        }
        Ok(())
    }
}

impl MultiwriteNorFlash for EmuNor {}
