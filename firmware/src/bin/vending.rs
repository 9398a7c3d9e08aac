//! The vending machine image.

#![no_std]
#![no_main]

use lnedge_firmware::{halt, serve, stack, vending};
use lnedge_proto::ledger::HEADER_LEN;

const BUF: usize = HEADER_LEN + vending::MAX_ENTRIES;

#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    let Some(buf) = cortex_m::singleton!(: [u8; BUF] = [0; BUF]) else { halt() };
    let mut uart = lnedge_firmware::board::Uart::init();
    let mut machine = vending::Machine::boot(&mut uart, buf);
    serve(move |uart, ticks, word, end| machine.command(uart, ticks, word, end))
}
