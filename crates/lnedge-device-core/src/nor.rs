//! Byte writes on NOR flash that may be programmed again between erases.
//!
//! The claim ledger changes one byte at a time and only ever clears bits. On flash whose write
//! unit is larger than a byte (`WRITE_SIZE` of 4 on many MCUs) the byte is written inside its
//! aligned unit padded with `0xFF`: programming a 1 leaves a bit as it is, which is exactly what
//! [`MultiwriteNorFlash`] promises. Flash that cannot be written twice between erases (ECC
//! flash such as the STM32L4's) does not implement that trait and cannot hold the ledger.

use embedded_storage::nor_flash::{MultiwriteNorFlash, ReadNorFlash};

/// The largest write unit (bytes) the ledger supports.
pub const MAX_WRITE_SIZE: usize = 16;

/// Whether a flash's geometry suits the ledger: byte reads and a power-of-two write unit of at
/// most [`MAX_WRITE_SIZE`] bytes.
pub const fn geometry_ok(read_size: usize, write_size: usize) -> bool {
    read_size == 1 && write_size.is_power_of_two() && write_size <= MAX_WRITE_SIZE
}

/// Reads one byte.
pub fn read_byte<F: ReadNorFlash>(flash: &mut F, offset: u32) -> Result<u8, F::Error> {
    let mut byte = [0u8; 1];
    flash.read(offset, &mut byte)?;
    Ok(byte[0])
}

/// Programs `value` at `offset` (only its cleared bits take effect) as one write of the
/// aligned unit around it, every other byte of the unit `0xFF` (left as it is).
///
/// The caller has checked [`geometry_ok`]; a larger unit is clamped to [`MAX_WRITE_SIZE`].
pub fn program_byte<F: MultiwriteNorFlash>(
    flash: &mut F,
    offset: u32,
    value: u8,
) -> Result<(), F::Error> {
    let unit = F::WRITE_SIZE.clamp(1, MAX_WRITE_SIZE);
    // `unit` is a power of two ≤ 16, so the mask keeps offset's low bits.
    let within = (offset as usize) & (unit - 1);
    let start = offset - within as u32;
    let mut buf = [0xFFu8; MAX_WRITE_SIZE];
    if let Some(b) = buf.get_mut(within) {
        *b = value;
    }
    flash.write(start, buf.get(..unit).unwrap_or(&buf))
}

/// Why [`program_verified`] failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProgramError<E> {
    /// The driver's write or read failed (a write may be cut: the byte may be partly written).
    Flash(E),
    /// The byte read back is not the byte written.
    NotKept {
        /// The byte read back.
        found: u8,
    },
}

/// [`program_byte`], then reads the byte back: `Ok` only if the flash holds `value`.
pub fn program_verified<F: MultiwriteNorFlash>(
    flash: &mut F,
    offset: u32,
    value: u8,
) -> Result<(), ProgramError<F::Error>> {
    program_byte(flash, offset, value).map_err(ProgramError::Flash)?;
    match read_byte(flash, offset).map_err(ProgramError::Flash)? {
        found if found == value => Ok(()),
        found => Err(ProgramError::NotKept { found }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ledger::tests::RamNor;

    #[test]
    fn a_byte_in_a_wider_unit_leaves_its_neighbours() {
        let mut flash = RamNor::<4>::new(16);
        program_byte(&mut flash, 5, 0xF0).expect("write");
        program_byte(&mut flash, 6, 0x0F).expect("write");
        program_byte(&mut flash, 5, 0xC3).expect("write");
        assert_eq!(&flash.bytes[4..8], &[0xFF, 0xC0, 0x0F, 0xFF]);
        assert_eq!(read_byte(&mut flash, 5).expect("read"), 0xC0);
        assert!(geometry_ok(1, 4));
        assert!(!geometry_ok(1, 3));
        assert!(!geometry_ok(4, 4));
        assert!(!geometry_ok(1, 32));
    }
}
