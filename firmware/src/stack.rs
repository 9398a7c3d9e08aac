//! Stack painting: the stack is filled with a pattern at boot; the deepest word no longer
//! holding it is the peak stack use since boot.

const PAINT: u32 = 0xC0DE_57AC;

extern "C" {
    static mut __sheap: u32;
    static _stack_start: u32;
}

fn bounds() -> (usize, usize) {
    // Linker symbols of cortex-m-rt; only their addresses are taken.
    (core::ptr::addr_of!(__sheap) as usize, core::ptr::addr_of!(_stack_start) as usize)
}

/// Paints from the end of the static data up to a little below the current stack pointer.
/// Called first thing in `main`.
#[inline(never)]
pub fn paint() {
    let (bottom, _) = bounds();
    let sp = cortex_m::register::msp::read() as usize;
    let mut p = bottom;
    while p + 64 < sp {
        // SAFETY: between the end of .bss/.data and the live stack: unused memory.
        unsafe { core::ptr::write_volatile(p as *mut u32, PAINT) };
        p += 4;
    }
}

/// The deepest stack use since boot, in bytes.
pub fn peak() -> usize {
    let (bottom, top) = bounds();
    let mut p = bottom;
    // SAFETY: reads of the painted, word-aligned region below the stack top.
    while p < top && unsafe { core::ptr::read_volatile(p as *const u32) } == PAINT {
        p += 4;
    }
    top - p
}

/// Static RAM (`.data` + `.bss`), in bytes.
pub fn static_ram() -> usize {
    extern "C" {
        static __sdata: u32;
    }
    // A linker symbol; only its address is taken.
    let start = core::ptr::addr_of!(__sdata) as usize;
    bounds().0 - start
}
