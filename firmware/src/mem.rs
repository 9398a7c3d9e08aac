//! The C memory routines, small: compiler_builtins' versions are tuned for speed (about 1.9 KB
//! for memcpy, memset and the ARM EABI entry points); these are about 0.2 KB, copy words when
//! both sides allow it, and are fast enough for a machine that moves a few hundred bytes per
//! command (ADR 0021, decision 8). compiler_builtins defines its versions weak, so these win at
//! link time. Every access is volatile so that the compiler cannot recognise a loop here as a
//! memcpy or memset and call the function from itself.

use core::ptr::{read_volatile, write_volatile};

/// Copies `n` bytes, a word at a time while both pointers are word-aligned.
///
/// # Safety
/// `src` readable and `dst` writable for `n` bytes; the ranges do not overlap.
unsafe fn copy(dst: *mut u8, src: *const u8, n: usize) {
    let mut i = 0;
    if (dst as usize | src as usize) & 3 == 0 {
        while i + 4 <= n {
            write_volatile(dst.add(i).cast::<u32>(), read_volatile(src.add(i).cast::<u32>()));
            i += 4;
        }
    }
    while i < n {
        write_volatile(dst.add(i), read_volatile(src.add(i)));
        i += 1;
    }
}

/// Fills `n` bytes with `byte`, a word at a time while the pointer is word-aligned.
///
/// # Safety
/// `dst` writable for `n` bytes.
unsafe fn fill(dst: *mut u8, byte: u8, n: usize) {
    let mut i = 0;
    if dst as usize & 3 == 0 {
        let word = u32::from(byte) * 0x0101_0101;
        while i + 4 <= n {
            write_volatile(dst.add(i).cast::<u32>(), word);
            i += 4;
        }
    }
    while i < n {
        write_volatile(dst.add(i), byte);
        i += 1;
    }
}

/// C's `memcpy`.
///
/// # Safety
/// As [`copy`].
#[no_mangle]
pub unsafe extern "C" fn memcpy(dst: *mut u8, src: *const u8, n: usize) -> *mut u8 {
    copy(dst, src, n);
    dst
}

/// C's `memset`.
///
/// # Safety
/// As [`fill`].
#[no_mangle]
pub unsafe extern "C" fn memset(dst: *mut u8, c: i32, n: usize) -> *mut u8 {
    fill(dst, c as u8, n);
    dst
}

/// ARM EABI `__aeabi_memcpy` (and its 4- and 8-byte-aligned forms below).
///
/// # Safety
/// As [`copy`].
#[no_mangle]
pub unsafe extern "C" fn __aeabi_memcpy(dst: *mut u8, src: *const u8, n: usize) {
    copy(dst, src, n);
}

/// ARM EABI `__aeabi_memcpy4`.
///
/// # Safety
/// As [`copy`].
#[no_mangle]
pub unsafe extern "C" fn __aeabi_memcpy4(dst: *mut u8, src: *const u8, n: usize) {
    copy(dst, src, n);
}

/// ARM EABI `__aeabi_memcpy8`.
///
/// # Safety
/// As [`copy`].
#[no_mangle]
pub unsafe extern "C" fn __aeabi_memcpy8(dst: *mut u8, src: *const u8, n: usize) {
    copy(dst, src, n);
}

/// ARM EABI `__aeabi_memset` (note the order: length, then the byte).
///
/// # Safety
/// As [`fill`].
#[no_mangle]
pub unsafe extern "C" fn __aeabi_memset(dst: *mut u8, n: usize, c: i32) {
    fill(dst, c as u8, n);
}

/// ARM EABI `__aeabi_memset4`.
///
/// # Safety
/// As [`fill`].
#[no_mangle]
pub unsafe extern "C" fn __aeabi_memset4(dst: *mut u8, n: usize, c: i32) {
    fill(dst, c as u8, n);
}

/// ARM EABI `__aeabi_memset8`.
///
/// # Safety
/// As [`fill`].
#[no_mangle]
pub unsafe extern "C" fn __aeabi_memset8(dst: *mut u8, n: usize, c: i32) {
    fill(dst, c as u8, n);
}

/// ARM EABI `__aeabi_memclr`.
///
/// # Safety
/// As [`fill`].
#[no_mangle]
pub unsafe extern "C" fn __aeabi_memclr(dst: *mut u8, n: usize) {
    fill(dst, 0, n);
}

/// ARM EABI `__aeabi_memclr4`.
///
/// # Safety
/// As [`fill`].
#[no_mangle]
pub unsafe extern "C" fn __aeabi_memclr4(dst: *mut u8, n: usize) {
    fill(dst, 0, n);
}

/// ARM EABI `__aeabi_memclr8`.
///
/// # Safety
/// As [`fill`].
#[no_mangle]
pub unsafe extern "C" fn __aeabi_memclr8(dst: *mut u8, n: usize) {
    fill(dst, 0, n);
}
