//! The board: QEMU's `mps2-an386` (ARM MPS2+ FPGA board with the AN386 Cortex-M4 image).
//!
//! What a port to another Cortex-M4F board replaces is this file and `store.rs`: a byte UART
//! (here the CMSDK APB UART0), the motor output (here the FPGA I/O LED register, plus the
//! `MOTOR` line on the UART so a test can see it), and a cycle-ish counter (SysTick).

use core::ptr::{read_volatile, write_volatile};

use cortex_m::peripheral::syst::SystClkSource;
use cortex_m::peripheral::SYST;

const UART0: usize = 0x4000_4000;
const UART_DATA: usize = UART0;
const UART_STATE: usize = UART0 + 0x04;
const UART_CTRL: usize = UART0 + 0x08;
const UART_BAUDDIV: usize = UART0 + 0x10;
const STATE_TX_FULL: u32 = 1;
const STATE_RX_FULL: u32 = 2;

/// FPGA I/O: LED register (the motor output of this port).
const FPGAIO_LED: usize = 0x4002_8000;

/// SysTick ticks at the 25 MHz system clock; under `qemu -icount shift=0` one instruction is
/// one nanosecond of virtual time, so one tick is 40 instructions.
pub const INSTRUCTIONS_PER_TICK: u32 = 40;

/// UART0: polled, 8N1, no interrupts.
pub struct Uart(());

impl Uart {
    /// Enables TX and RX.
    pub fn init() -> Uart {
        // SAFETY: MMIO registers of the CMSDK UART of this board.
        unsafe {
            write_volatile(UART_BAUDDIV as *mut u32, 16);
            write_volatile(UART_CTRL as *mut u32, 0b11);
        }
        Uart(())
    }

    /// Sends one byte.
    pub fn write_byte(&mut self, b: u8) {
        // SAFETY: MMIO registers of the CMSDK UART of this board.
        unsafe {
            while read_volatile(UART_STATE as *const u32) & STATE_TX_FULL != 0 {}
            write_volatile(UART_DATA as *mut u32, u32::from(b));
        }
    }

    /// Sends bytes.
    pub fn write_bytes(&mut self, bytes: &[u8]) {
        for b in bytes {
            self.write_byte(*b);
        }
    }

    /// Waits for one byte.
    pub fn read_byte(&mut self) -> u8 {
        // SAFETY: MMIO registers of the CMSDK UART of this board.
        unsafe {
            while read_volatile(UART_STATE as *const u32) & STATE_RX_FULL == 0 {}
            read_volatile(UART_DATA as *const u32) as u8
        }
    }
}

impl core::fmt::Write for Uart {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        self.write_bytes(s.as_bytes());
        Ok(())
    }
}

/// Drives the motor of `product` for one vend. This port has no motor: it lights the LED
/// register for the time a motor would run (a busy wait of about `MOTOR_SPIN` loop rounds) and
/// reports success. (`Err(())` is the core's "the motor did not turn": a board with a sensor
/// has nothing more to say.)
#[allow(clippy::result_unit_err)]
pub fn run_motor(product: u16) -> Result<(), ()> {
    // SAFETY: MMIO register of this board's FPGA I/O block.
    unsafe { write_volatile(FPGAIO_LED as *mut u32, u32::from(product) | 1) };
    for _ in 0..MOTOR_SPIN {
        cortex_m::asm::nop();
    }
    // SAFETY: as above.
    unsafe { write_volatile(FPGAIO_LED as *mut u32, 0) };
    Ok(())
}

/// Loop rounds of a motor run: long enough that a power cut can land inside it.
const MOTOR_SPIN: u32 = 200_000;

/// A free-running 24-bit down-counter at the core clock.
pub struct Ticks(SYST);

impl Ticks {
    /// Starts SysTick free-running.
    pub fn start(mut syst: SYST) -> Ticks {
        syst.set_clock_source(SystClkSource::Core);
        syst.set_reload(0x00FF_FFFF);
        syst.clear_current();
        syst.enable_counter();
        Ticks(syst)
    }

    /// The counter now.
    pub fn now(&self) -> u32 {
        SYST::get_current()
    }

    /// Ticks since `start` (valid below 2^24 ticks).
    pub fn since(&self, start: u32) -> u32 {
        start.wrapping_sub(self.now()) & 0x00FF_FFFF
    }
}

extern "C" {
    fn DefaultHandler();
}

/// The interrupt vectors of this board: the CMSDK peripherals of the AN386 raise 32 interrupts
/// (none enabled by this firmware), so the table has 32 entries, not cortex-m-rt's 240 for an
/// unknown device (960 bytes of flash).
#[link_section = ".vector_table.interrupts"]
#[no_mangle]
#[used]
pub static __INTERRUPTS: [unsafe extern "C" fn(); 32] = [DefaultHandler; 32];
