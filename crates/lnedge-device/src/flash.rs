//! A model of NOR flash: bytes start erased (`0xFF`) and a write can only clear bits.
//!
//! [`FlashImage`] keeps the image in a file (`ledger.flash`) and fsyncs after every write;
//! [`MemFlash`] keeps it in memory. Both refuse a write that would set a bit
//! ([`FlashError::SetsBit`]) and can be armed with a [`PowerCut`]: the write that would perform the
//! n-th bit flip stops just before it, leaving a partly written byte, and every later call fails
//! with [`FlashError::PowerLost`] until the flash is reopened — a simulated torn write.

use std::fs::{self, File, OpenOptions};
use std::io::{self, Write};
use std::os::unix::fs::FileExt;
use std::path::{Path, PathBuf};

use lnedge_proto::ledger::{init_image, Header, Ledger, LedgerError};
use lnedge_proto::PoolId;

/// Errors of a flash store.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum FlashError {
    /// An I/O error on the image file.
    #[error("flash image {}: {what}: {source}", path.display())]
    Io {
        /// The image file.
        path: PathBuf,
        /// What was being done.
        what: &'static str,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The image file is not a ledger image of the expected pool.
    #[error("flash image {}: {source}", path.display())]
    Image {
        /// The image file.
        path: PathBuf,
        /// What is wrong with it.
        #[source]
        source: LedgerError,
    },
    /// The write would set a bit (0 → 1), which flash cannot do without an erase.
    #[error("write of {new:#04x} over {old:#04x} at offset {offset} would set a bit (flash only clears bits)")]
    SetsBit {
        /// Offset of the byte.
        offset: usize,
        /// The byte in flash.
        old: u8,
        /// The byte asked for.
        new: u8,
    },
    /// The offset is outside the flash.
    #[error("offset {offset} is outside the {len}-byte flash")]
    OutOfRange {
        /// Offset asked for.
        offset: usize,
        /// Size of the flash.
        len: usize,
    },
    /// Simulated power loss in the middle of a write.
    #[error(
        "power cut while writing {new:#04x} over {old:#04x} at offset {offset}: {left:#04x} left"
    )]
    PowerCut {
        /// Offset of the byte.
        offset: usize,
        /// The byte before.
        old: u8,
        /// The byte asked for.
        new: u8,
        /// The byte left in flash.
        left: u8,
    },
    /// Power was lost earlier; the flash must be reopened.
    #[error("power lost; reopen the flash")]
    PowerLost,
    /// The operation is not one this flash offers (the ledger never erases).
    #[error("this flash does not support {0}")]
    Unsupported(&'static str),
}

/// The order in which a write clears the bits of a byte (the hardware's is unknown).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum BitOrder {
    /// Bit 0 first.
    LowFirst,
    /// Bit 7 first.
    HighFirst,
}

/// A simulated power loss: the write that would perform bit flip number `after_bit_flips`
/// (counting from 0 since the cut was armed) stops before it.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct PowerCut {
    /// Bit flips that still happen before the power goes.
    pub after_bit_flips: u64,
    /// Order of the flips inside one byte.
    pub order: BitOrder,
}

/// Byte storage with flash semantics.
///
/// Contract: [`program`](Flash::program) MUST refuse a value that sets a bit and MUST be durable
/// when it returns `Ok`; reads MUST come from the medium (they are used to verify writes). A cut
/// write leaves a byte between the old and the new value (a subset of the bits cleared).
pub trait Flash {
    /// Size in bytes.
    fn len(&self) -> usize;
    /// True for a zero-sized flash.
    fn is_empty(&self) -> bool {
        self.len() == 0
    }
    /// Reads the whole flash.
    fn read_all(&mut self) -> Result<Vec<u8>, FlashError>;
    /// Reads one byte.
    fn read_byte(&mut self, offset: usize) -> Result<u8, FlashError>;
    /// Reads `buf.len()` bytes from `offset` (one at a time unless the flash does better).
    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), FlashError> {
        for (at, b) in (offset..).zip(buf.iter_mut()) {
            *b = self.read_byte(at)?;
        }
        Ok(())
    }
    /// Writes `value` at `offset`, which must only clear bits of the byte there.
    fn program(&mut self, offset: usize, value: u8) -> Result<(), FlashError>;
}

/// Any [`Flash`] seen through the `embedded-storage` NOR-flash traits, so that the no_std core
/// (`lnedge_device_core`, which the firmware runs too) drives it: byte reads and writes, a
/// write only clears bits ([`MultiwriteNorFlash`](embedded_storage::nor_flash::MultiwriteNorFlash)),
/// no erase.
#[derive(Debug)]
pub struct Nor<F>(pub F);

/// A [`FlashError`] as an `embedded-storage` error.
#[derive(Debug)]
pub struct NorError(pub FlashError);

impl embedded_storage::nor_flash::NorFlashError for NorError {
    fn kind(&self) -> embedded_storage::nor_flash::NorFlashErrorKind {
        match self.0 {
            FlashError::OutOfRange { .. } => {
                embedded_storage::nor_flash::NorFlashErrorKind::OutOfBounds
            }
            _ => embedded_storage::nor_flash::NorFlashErrorKind::Other,
        }
    }
}

impl<F: Flash> embedded_storage::nor_flash::ErrorType for Nor<F> {
    type Error = NorError;
}

impl<F: Flash> embedded_storage::nor_flash::ReadNorFlash for Nor<F> {
    const READ_SIZE: usize = 1;

    fn read(&mut self, offset: u32, bytes: &mut [u8]) -> Result<(), NorError> {
        self.0.read(offset as usize, bytes).map_err(NorError)
    }

    fn capacity(&self) -> usize {
        self.0.len()
    }
}

impl<F: Flash> embedded_storage::nor_flash::NorFlash for Nor<F> {
    const WRITE_SIZE: usize = 1;
    const ERASE_SIZE: usize = 1;

    fn erase(&mut self, _from: u32, _to: u32) -> Result<(), NorError> {
        Err(NorError(FlashError::Unsupported("erase")))
    }

    fn write(&mut self, offset: u32, bytes: &[u8]) -> Result<(), NorError> {
        for (at, b) in (offset as usize..).zip(bytes) {
            self.0.program(at, *b).map_err(NorError)?;
        }
        Ok(())
    }
}

impl<F: Flash> embedded_storage::nor_flash::MultiwriteNorFlash for Nor<F> {}

/// Programs `bytes` at `offset` one byte at a time, reading each back: a write the flash did
/// not keep (a bit that would have to go from 0 to 1) is an error, not a silent difference.
/// The counters of the deputy terminal and the payer device are written this way before
/// anything is shown.
pub(crate) fn program_all<F: Flash>(
    flash: &mut F,
    offset: usize,
    bytes: &[u8],
) -> Result<(), FlashError> {
    for (at, b) in (offset..).zip(bytes) {
        flash.program(at, *b)?;
        if flash.read_byte(at)? != *b {
            return Err(FlashError::OutOfRange { offset: at, len: flash.len() });
        }
    }
    Ok(())
}

/// Reads `buf.len()` bytes at `offset` of a flash file of `len` bytes.
fn read_file_at(
    file: &File,
    path: &Path,
    len: usize,
    offset: usize,
    buf: &mut [u8],
) -> Result<(), FlashError> {
    if offset.checked_add(buf.len()).is_none_or(|end| end > len) {
        return Err(FlashError::OutOfRange { offset, len });
    }
    file.read_exact_at(buf, offset as u64).map_err(|source| FlashError::Io {
        path: path.to_owned(),
        what: "reading",
        source,
    })
}

/// Power-cut bookkeeping shared by both flashes.
#[derive(Clone, Debug, Default)]
struct Fault {
    cut: Option<PowerCut>,
    flips: u64,
    dead: bool,
}

impl Fault {
    /// The byte a write of `new` over `old` leaves, and whether the power went during it.
    fn program(&mut self, old: u8, new: u8) -> (u8, bool) {
        let Some(cut) = self.cut else {
            return (new, false);
        };
        let mut byte = old;
        let bits: [u8; 8] = match cut.order {
            BitOrder::LowFirst => [1, 2, 4, 8, 16, 32, 64, 128],
            BitOrder::HighFirst => [128, 64, 32, 16, 8, 4, 2, 1],
        };
        for bit in bits {
            if old & !new & bit == 0 {
                continue;
            }
            if self.flips >= cut.after_bit_flips {
                self.dead = true;
                return (byte, true);
            }
            self.flips = self.flips.saturating_add(1);
            byte &= !bit;
        }
        (byte, false)
    }
}

/// Checks a flash write; returns `Err` for a bit set.
fn check_monotone(offset: usize, old: u8, new: u8) -> Result<(), FlashError> {
    if new & !old != 0 {
        return Err(FlashError::SetsBit { offset, old, new });
    }
    Ok(())
}

/// Flash in memory (tests, simulator).
#[derive(Clone, Debug)]
pub struct MemFlash {
    bytes: Vec<u8>,
    fault: Fault,
}

impl MemFlash {
    /// A fresh ledger image for `entries` entries of `pool_id`: header, then erased entries.
    pub fn new_ledger(pool_id: PoolId, entries: u32) -> Result<Self, LedgerError> {
        Ok(MemFlash {
            bytes: lnedge_proto::ledger::new_image(pool_id, entries)?,
            fault: Fault::default(),
        })
    }

    /// Flash holding `bytes` as they are.
    pub fn from_bytes(bytes: Vec<u8>) -> Self {
        MemFlash { bytes, fault: Fault::default() }
    }

    /// The contents.
    pub fn bytes(&self) -> &[u8] {
        &self.bytes
    }

    /// Arms (or disarms) a power cut; resets the flip counter.
    pub fn set_power_cut(&mut self, cut: Option<PowerCut>) {
        self.fault = Fault { cut, flips: 0, dead: false };
    }

    /// Bit flips performed since the cut was armed (counts only while armed).
    pub fn bit_flips(&self) -> u64 {
        self.fault.flips
    }

    /// Power comes back: the same contents, no cut armed.
    pub fn reboot(self) -> Self {
        MemFlash::from_bytes(self.bytes)
    }
}

impl Flash for MemFlash {
    fn len(&self) -> usize {
        self.bytes.len()
    }

    fn read_all(&mut self) -> Result<Vec<u8>, FlashError> {
        if self.fault.dead {
            return Err(FlashError::PowerLost);
        }
        Ok(self.bytes.clone())
    }

    fn read_byte(&mut self, offset: usize) -> Result<u8, FlashError> {
        if self.fault.dead {
            return Err(FlashError::PowerLost);
        }
        let len = self.bytes.len();
        self.bytes.get(offset).copied().ok_or(FlashError::OutOfRange { offset, len })
    }

    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), FlashError> {
        if self.fault.dead {
            return Err(FlashError::PowerLost);
        }
        let len = self.bytes.len();
        let src = offset.checked_add(buf.len()).and_then(|end| self.bytes.get(offset..end));
        buf.copy_from_slice(src.ok_or(FlashError::OutOfRange { offset, len })?);
        Ok(())
    }

    fn program(&mut self, offset: usize, value: u8) -> Result<(), FlashError> {
        if self.fault.dead {
            return Err(FlashError::PowerLost);
        }
        let len = self.bytes.len();
        let slot = self.bytes.get_mut(offset).ok_or(FlashError::OutOfRange { offset, len })?;
        let old = *slot;
        check_monotone(offset, old, value)?;
        let (left, cut) = self.fault.program(old, value);
        *slot = left;
        if cut {
            return Err(FlashError::PowerCut { offset, old, new: value, left });
        }
        Ok(())
    }
}

/// Flash emulated by a file: every write is one byte `pwrite` followed by `fdatasync`.
#[derive(Debug)]
pub struct FlashImage {
    path: PathBuf,
    file: File,
    len: usize,
    fault: Fault,
}

impl FlashImage {
    /// Opens the ledger image at `path`, creating it (header + erased entries) if it does not
    /// exist. Creation is atomic: written to `<path>.tmp`, synced, renamed, directory synced.
    /// An existing image must belong to `pool_id` and have `entries` entries.
    pub fn open(path: impl AsRef<Path>, pool_id: PoolId, entries: u32) -> Result<Self, FlashError> {
        let path = path.as_ref().to_path_buf();
        let io = |what| {
            let path = path.clone();
            move |source| FlashError::Io { path, what, source }
        };
        if !path.exists() {
            let len = (Header { pool_id, entries })
                .image_len()
                .ok_or(LedgerError::TooManyEntries { entries })
                .map_err(|source| FlashError::Image { path: path.clone(), source })?;
            let mut image = vec![0u8; len];
            init_image(&mut image, pool_id, entries)
                .map_err(|source| FlashError::Image { path: path.clone(), source })?;
            let mut tmp_name = path.clone().into_os_string();
            tmp_name.push(".tmp");
            let tmp = PathBuf::from(tmp_name);
            let mut f = File::create(&tmp).map_err(io("creating"))?;
            f.write_all(&image).map_err(io("writing the fresh image"))?;
            f.sync_all().map_err(io("syncing the fresh image"))?;
            drop(f);
            fs::rename(&tmp, &path).map_err(io("renaming the fresh image into place"))?;
            let dir = path.parent().filter(|p| !p.as_os_str().is_empty()).unwrap_or(Path::new("."));
            File::open(dir).and_then(|d| d.sync_all()).map_err(io("syncing the directory"))?;
        }
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(io("opening"))?;
        let len = usize::try_from(file.metadata().map_err(io("reading metadata"))?.len())
            .unwrap_or(usize::MAX);
        let mut flash = FlashImage { path, file, len, fault: Fault::default() };
        let bytes = flash.read_all()?;
        Ledger::open_for_pool(&bytes[..], pool_id, entries)
            .map_err(|source| FlashError::Image { path: flash.path.clone(), source })?;
        Ok(flash)
    }

    /// The image file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    /// Arms (or disarms) a power cut for later [`program`](Flash::program) calls; resets the flip
    /// counter.
    pub fn set_power_cut(&mut self, cut: Option<PowerCut>) {
        self.fault = Fault { cut, flips: 0, dead: false };
    }

    /// Bit flips performed since the cut was armed.
    pub fn bit_flips(&self) -> u64 {
        self.fault.flips
    }

    /// Writes `new` at `offset` but loses power after `cut_after_bits` bit flips (clearing bits
    /// from bit 0 up): the partly written byte is synced to the file and the image is dead until
    /// reopened. If the write needs no more flips than that it completes and returns `Ok`.
    pub fn write_with_power_cut(
        &mut self,
        offset: usize,
        new: u8,
        cut_after_bits: u32,
    ) -> Result<(), FlashError> {
        self.set_power_cut(Some(PowerCut {
            after_bit_flips: u64::from(cut_after_bits),
            order: BitOrder::LowFirst,
        }));
        let result = self.program(offset, new);
        if !self.fault.dead {
            self.set_power_cut(None);
        }
        result
    }

    fn io(&self, what: &'static str) -> impl FnOnce(io::Error) -> FlashError + '_ {
        move |source| FlashError::Io { path: self.path.clone(), what, source }
    }
}

impl Flash for FlashImage {
    fn len(&self) -> usize {
        self.len
    }

    fn read_all(&mut self) -> Result<Vec<u8>, FlashError> {
        if self.fault.dead {
            return Err(FlashError::PowerLost);
        }
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, 0).map_err(self.io("reading the image"))?;
        Ok(buf)
    }

    fn read_byte(&mut self, offset: usize) -> Result<u8, FlashError> {
        if self.fault.dead {
            return Err(FlashError::PowerLost);
        }
        if offset >= self.len {
            return Err(FlashError::OutOfRange { offset, len: self.len });
        }
        let mut b = [0u8; 1];
        let pos = u64::try_from(offset).unwrap_or(u64::MAX);
        self.file.read_exact_at(&mut b, pos).map_err(self.io("reading a byte"))?;
        Ok(b[0])
    }

    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), FlashError> {
        if self.fault.dead {
            return Err(FlashError::PowerLost);
        }
        read_file_at(&self.file, &self.path, self.len, offset, buf)
    }

    fn program(&mut self, offset: usize, value: u8) -> Result<(), FlashError> {
        let old = self.read_byte(offset)?;
        check_monotone(offset, old, value)?;
        let (left, cut) = self.fault.program(old, value);
        let pos = u64::try_from(offset).unwrap_or(u64::MAX);
        if left != old {
            self.file.write_all_at(&[left], pos).map_err(self.io("writing a byte"))?;
            self.file.sync_data().map_err(self.io("syncing a write"))?;
        }
        if cut {
            return Err(FlashError::PowerCut { offset, old, new: value, left });
        }
        Ok(())
    }
}
/// Flash emulated by a plain file (created erased, all 0xFF, at the length asked): every write
/// is one byte `pwrite` followed by `fdatasync`, and a write that would set a bit is refused.
/// The deputy terminal and the payer device keep their images in one (`deputy::FLASH_LEN`,
/// `payer::FLASH_LEN` bytes).
#[derive(Debug)]
pub struct FileFlash {
    path: PathBuf,
    file: File,
    len: usize,
}

impl FileFlash {
    /// Opens the image at `path`, creating it erased with `len` bytes if absent (an existing
    /// file keeps its own length).
    pub fn open(path: impl AsRef<Path>, len: usize) -> Result<Self, FlashError> {
        let path = path.as_ref().to_path_buf();
        let io = |what: &'static str| {
            let path = path.clone();
            move |source: io::Error| FlashError::Io { path, what, source }
        };
        if !path.exists() {
            let tmp = path.with_extension("tmp");
            std::fs::write(&tmp, vec![0xFFu8; len]).map_err(io("creating"))?;
            File::open(&tmp).and_then(|f| f.sync_all()).map_err(io("syncing"))?;
            std::fs::rename(&tmp, &path).map_err(io("renaming into place"))?;
        }
        let file = OpenOptions::new().read(true).write(true).open(&path).map_err(io("opening"))?;
        let len = usize::try_from(file.metadata().map_err(io("reading metadata"))?.len())
            .unwrap_or(usize::MAX);
        Ok(FileFlash { path, file, len })
    }
}

impl Flash for FileFlash {
    fn len(&self) -> usize {
        self.len
    }

    fn read_all(&mut self) -> Result<Vec<u8>, FlashError> {
        let mut buf = vec![0u8; self.len];
        self.file.read_exact_at(&mut buf, 0).map_err(|source| FlashError::Io {
            path: self.path.clone(),
            what: "reading",
            source,
        })?;
        Ok(buf)
    }

    fn read_byte(&mut self, offset: usize) -> Result<u8, FlashError> {
        if offset >= self.len {
            return Err(FlashError::OutOfRange { offset, len: self.len });
        }
        let mut b = [0u8; 1];
        self.file.read_exact_at(&mut b, offset as u64).map_err(|source| FlashError::Io {
            path: self.path.clone(),
            what: "reading a byte",
            source,
        })?;
        Ok(b[0])
    }

    fn read(&mut self, offset: usize, buf: &mut [u8]) -> Result<(), FlashError> {
        read_file_at(&self.file, &self.path, self.len, offset, buf)
    }

    fn program(&mut self, offset: usize, value: u8) -> Result<(), FlashError> {
        let old = self.read_byte(offset)?;
        if value & !old != 0 {
            return Err(FlashError::SetsBit { offset, old, new: value });
        }
        let io = |source| FlashError::Io { path: self.path.clone(), what: "writing", source };
        self.file.write_all_at(&[value], offset as u64).map_err(io)?;
        self.file.sync_data().map_err(|source| FlashError::Io {
            path: self.path.clone(),
            what: "syncing",
            source,
        })
    }
}
