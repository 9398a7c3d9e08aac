//! The deputy terminal image.

#![no_std]
#![no_main]

use lnedge_firmware::{deputy, serve, stack};

#[cortex_m_rt::entry]
fn main() -> ! {
    stack::paint();
    let mut uart = lnedge_firmware::board::Uart::init();
    let mut terminal = deputy::Terminal::boot(&mut uart);
    serve(move |uart, ticks, word, end| terminal.command(uart, ticks, word, end))
}
