//! lnedge vending machine firmware for a Cortex-M4F (QEMU `mps2-an386`).
//!
//! Boots, reads its enrolment, pool and claim ledger from the store (emulated NOR flash), says
//! `READY`, and then takes one command per line on UART0 (see `docs/firmware.md`). The rules of
//! a sale are `lnedge-device-core`'s: the claim is on flash and read back before the motor runs.

#![no_std]
#![no_main]

mod board;
mod io;
mod stack;
mod store;
mod vending;

use cortex_m_rt::entry;
use lnedge_proto::ledger::HEADER_LEN;

#[entry]
fn main() -> ! {
    stack::paint();
    let Some(p) = cortex_m::Peripherals::take() else { halt() };
    let ticks = board::Ticks::start(p.SYST);
    let mut uart = board::Uart::init();
    let Some(buf) = cortex_m::singleton!(: [u8; HEADER_LEN + vending::MAX_ENTRIES] = [0; HEADER_LEN + vending::MAX_ENTRIES])
    else {
        halt()
    };
    let mut machine = vending::Machine::boot(&mut uart, buf);
    let mut word = [0u8; 16];
    loop {
        let (w, end) = io::read_word(&mut uart, &mut word);
        match w {
            Some(w) => {
                let mut copy = [0u8; 16];
                let n = w.len();
                copy[..n].copy_from_slice(w);
                machine.command(&mut uart, &ticks, &copy[..n], end)
            }
            None => {
                io::skip_line(&mut uart, end);
                uart.write_bytes(b"ERR unknown command (too long)\n");
            }
        }
    }
}

fn halt() -> ! {
    loop {
        cortex_m::asm::wfi();
    }
}

#[panic_handler]
fn panic(_: &core::panic::PanicInfo) -> ! {
    // No formatting here: the message would pull in core::fmt for every panic site.
    let mut uart = board::Uart::init();
    uart.write_bytes(b"\nPANIC\n");
    halt()
}
