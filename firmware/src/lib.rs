//! lnedge firmware for a Cortex-M4F (QEMU `mps2-an386`): the vending machine
//! (`src/bin/vending.rs`) and the deputy terminal (`src/bin/deputy.rs`), two images built from
//! this library so that each mode's size is its own.
//!
//! Each boots, reads its enrolment and state from the store (emulated NOR flash), says
//! `READY <mode>`, and then takes one command per line on UART0 (see `docs/firmware.md`). The
//! rules are `lnedge-device-core`'s, the same code the std runtime and its tests run.

#![no_std]

pub mod board;
pub mod deputy;
pub mod io;
pub mod mem;
pub mod say;
pub mod stack;
pub mod store;
pub mod vending;
pub mod verify;

use board::{Ticks, Uart};
use io::End;

/// Boots the board and serves commands forever: `command` gets each command word and whether
/// arguments follow it on the line.
pub fn serve(mut command: impl FnMut(&mut Uart, &Ticks, &[u8], End)) -> ! {
    let Some(p) = cortex_m::Peripherals::take() else { halt() };
    let ticks = Ticks::start(p.SYST);
    let mut uart = Uart::init();
    let mut word = [0u8; 16];
    loop {
        let (w, end) = io::read_word(&mut uart, &mut word);
        match w {
            Some(w) => {
                let mut copy = [0u8; 16];
                let n = w.len();
                copy[..n].copy_from_slice(w);
                match &copy[..n] {
                    b"STATS" => {
                        io::skip_line(&mut uart, end);
                        uart.write_bytes(b"STATS stack_peak=");
                        io::put_u64(&mut uart, stack::peak() as u64);
                        uart.write_bytes(b" static_ram=");
                        io::put_u64(&mut uart, stack::static_ram() as u64);
                        uart.write_bytes(b"\n");
                    }
                    word => command(&mut uart, &ticks, word, end),
                }
            }
            None => {
                io::skip_line(&mut uart, end);
                uart.write_bytes(b"ERR unknown command (too long)\n");
            }
        }
    }
}

/// Stops the CPU for good.
pub fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // No formatting here: the message would pull in core::fmt for every panic site.
    let mut uart = Uart::init();
    uart.write_bytes(b"\nPANIC\n");
    halt()
}
