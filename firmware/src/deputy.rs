//! Deputy terminal mode: an amount in, a sealed sale link (LNURL) out, the customer's claim or
//! 8-digit code in — `lnedge_device_core::deputy`, the code the std terminal runs.

use lnedge_device_core::deputy::{DeputyTerminal, Presented};
use lnedge_proto::deputy::{write_lnurl, Currency, TerminalKeys, UrlBuf};
use lnedge_proto::DeviceId;

use crate::board::{Ticks, Uart};
use crate::io::{self, End};
use crate::store::{self, EmuNor};

/// `ERR <what>`.
fn put_err(uart: &mut Uart, what: impl core::fmt::Display) {
    use core::fmt::Write as _;
    let _ = writeln!(uart, "ERR {what}");
}

/// Mode byte of a deputy terminal's enrolment.
pub const MODE_DEPUTY: u8 = b'D';
/// Longest gateway URL this build stores.
pub const MAX_URL: usize = 160;
const RECORD: usize = 16 + 32 + 32 + 1 + MAX_URL;

/// The terminal (or nothing yet, before enrolment).
pub struct Terminal {
    inner: Option<(DeputyTerminal<EmuNor>, &'static str)>,
}

fn load() -> Result<Option<(DeputyTerminal<EmuNor>, &'static str)>, &'static str> {
    let Some(rec) = store::enrolment(MODE_DEPUTY, RECORD) else { return Ok(None) };
    let field = |at: usize, len: usize| rec.get(at..at + len).ok_or("bad enrolment");
    let device: [u8; 16] = field(0, 16)?.try_into().map_err(|_| "bad enrolment")?;
    let seal_key: [u8; 32] = field(16, 32)?.try_into().map_err(|_| "bad enrolment")?;
    let claim_key: [u8; 32] = field(48, 32)?.try_into().map_err(|_| "bad enrolment")?;
    let url_len = usize::from(*rec.get(80).ok_or("bad enrolment")?);
    let url = core::str::from_utf8(field(81, url_len)?).map_err(|_| "bad enrolment")?;
    let keys = TerminalKeys { device_id: DeviceId(device), seal_key, claim_key };
    let terminal = DeputyTerminal::open(keys, EmuNor::new(), store::DEPUTY)
        .map_err(|_| "the store holds no deputy records of this device")?;
    Ok(Some((terminal, url)))
}

impl Terminal {
    /// Reads the enrolment and the sale records; says `READY deputy …`.
    pub fn boot(uart: &mut Uart) -> Terminal {
        let inner = load().unwrap_or_else(|e| {
            put_err(uart, e);
            None
        });
        uart.write_bytes(b"READY deputy");
        if let Some((t, _)) = &inner {
            uart.write_bytes(b" device=");
            io::put_hex(uart, &t.device_id().0);
            uart.write_bytes(b" counter=");
            io::put_u64(uart, t.counter());
        }
        uart.write_bytes(b"\n");
        Terminal { inner }
    }

    /// Runs one command (the word is read; `end` says whether arguments follow).
    pub fn command(&mut self, uart: &mut Uart, _ticks: &Ticks, word: &[u8], end: End) {
        let mut arg = [0u8; 320];
        let rest = io::read_rest(uart, end, &mut arg);
        let Some(rest) = rest.and_then(|r| core::str::from_utf8(r).ok()) else {
            return put_err(uart, "the line is too long or not text");
        };
        match word {
            b"ENROL" => self.enrol(uart, rest),
            b"SALE" => self.sale(uart, rest),
            b"CLAIM" | b"CODE" => {
                let Some((terminal, _)) = self.inner.as_mut() else {
                    return put_err(uart, "not enrolled: ENROL first");
                };
                let presented = if word == b"CODE" {
                    terminal.present_keypad(rest.trim())
                } else {
                    terminal.present_text(rest)
                };
                match presented {
                    Ok(p) => put_presented(uart, p),
                    Err(e) => put_err(uart, e),
                }
            }
            _ => {
                uart.write_bytes(b"ERR unknown command ");
                uart.write_bytes(word);
                uart.write_bytes(b"\n");
            }
        }
    }

    /// `ENROL <device id hex> <seal key hex> <claim key hex> <gateway URL>`.
    fn enrol(&mut self, uart: &mut Uart, rest: &str) {
        if self.inner.is_some() {
            return put_err(uart, "already enrolled (a terminal is enrolled once)");
        }
        let mut parts = rest.split_whitespace();
        let device = parts.next().and_then(|p| io::hex::<16>(p.as_bytes()));
        let seal = parts.next().and_then(|p| io::hex::<32>(p.as_bytes()));
        let claim = parts.next().and_then(|p| io::hex::<32>(p.as_bytes()));
        let url = parts.next().filter(|u| u.starts_with("http://") || u.starts_with("https://"));
        let (Some(device), Some(seal), Some(claim), Some(url)) = (device, seal, claim, url) else {
            return put_err(
                uart,
                "ENROL <device id: 32 hex> <seal key: 64 hex> <claim key: 64 hex> <gateway URL>",
            );
        };
        if url.len() > MAX_URL {
            return put_err(uart, "the gateway URL is longer than 160 characters");
        }
        let mut rec = [0xFFu8; RECORD];
        rec[..16].copy_from_slice(&device);
        rec[16..48].copy_from_slice(&seal);
        rec[48..80].copy_from_slice(&claim);
        rec[80] = url.len() as u8;
        rec[81..81 + url.len()].copy_from_slice(url.as_bytes());
        if let Err(e) = store::enrol(MODE_DEPUTY, &rec) {
            return put_err(uart, e);
        }
        match load() {
            Ok(Some(inner)) => {
                self.inner = Some(inner);
                uart.write_bytes(b"OK enrolled\n");
            }
            Ok(None) => put_err(uart, "the enrolment did not read back"),
            Err(e) => put_err(uart, e),
        }
    }

    /// `SALE <amount> [currency]` → `SALE <counter> <LNURL1…>` once the counter is on flash.
    fn sale(&mut self, uart: &mut Uart, rest: &str) {
        let Some((terminal, gateway)) = self.inner.as_mut() else {
            return put_err(uart, "not enrolled: ENROL first");
        };
        let mut parts = rest.split_whitespace();
        let Some(amount) = parts.next().and_then(|a| io::parse_u64(a.as_bytes())) else {
            return put_err(
                uart,
                "SALE <amount in the currency's smallest unit> [currency, default SAT]",
            );
        };
        let currency = match parts.next().map(Currency::parse) {
            None => Currency::SAT,
            Some(Ok(c)) => c,
            Some(Err(e)) => return put_err(uart, e),
        };
        let sale = match terminal.new_sale(amount, currency) {
            Ok(sale) => sale,
            Err(e) => return put_err(uart, e),
        };
        let mut url = UrlBuf::<256>::default();
        if sale.write_url(gateway, &mut url).is_err() {
            return put_err(uart, "the gateway URL is too long for a sale link");
        }
        uart.write_bytes(b"SALE ");
        io::put_u64(uart, sale.sale.counter);
        uart.write_bytes(b" ");
        if write_lnurl(uart, url.as_str()).is_err() {
            return put_err(uart, "the sale link does not encode");
        }
        uart.write_bytes(b"\n");
    }
}

fn put_presented(uart: &mut Uart, p: Presented) {
    let (word, counter): (&[u8], Option<u64>) = match p {
        Presented::Paid(sale) => (b"PAID", Some(sale.counter)),
        Presented::AlreadyPaid(sale) => (b"ALREADY-PAID", Some(sale.counter)),
        Presented::Wrong { counter, tries_left } => {
            uart.write_bytes(b"WRONG ");
            io::put_u64(uart, counter);
            uart.write_bytes(b" tries_left=");
            io::put_u64(uart, tries_left.into());
            uart.write_bytes(b"\n");
            return;
        }
        Presented::LockedOut { counter } => (b"LOCKED", Some(counter)),
        Presented::Forged { counter } => (b"FORGED", Some(counter)),
        Presented::OtherTerminal(device) => {
            uart.write_bytes(b"OTHER-TERMINAL ");
            io::put_hex(uart, &device.0);
            uart.write_bytes(b"\n");
            return;
        }
        Presented::UnknownSale(counter) => (b"UNKNOWN-SALE", Some(counter)),
        Presented::NoPendingSale => (b"NO-PENDING-SALE", None),
    };
    uart.write_bytes(word);
    if let Some(c) = counter {
        uart.write_bytes(b" ");
        io::put_u64(uart, c);
    }
    uart.write_bytes(b"\n");
}
