//! Vending mode: enrol, install a pool, offer, claim, vend — every rule from
//! `lnedge-device-core`, the same code the std runtime and its tests run.

use embedded_storage::nor_flash::{NorFlash, ReadNorFlash};
use lnedge_device_core::claim::{parse_claim, ClaimInput};
use lnedge_device_core::ledger::read_header;
use lnedge_device_core::vend::{self, VendFailure, Vended};
use lnedge_device_core::FlashLedger;
use lnedge_proto::ledger::{EntryState, PendingClaim, PendingReason, HEADER_LEN};
use lnedge_proto::pool::Pool;
use lnedge_proto::DeviceId;

use crate::board::{self, Ticks, Uart, INSTRUCTIONS_PER_TICK};
use crate::io::{self, End};
use crate::say::Say;
use crate::store::{self, EmuNor};

/// Most pool entries this build holds (RAM for the ledger copy: 32 + this many bytes).
pub const MAX_ENTRIES: usize = 1024;

/// The ledger copy's RAM: one static buffer, handed to each ledger with the length it needs.
pub struct LedgerBuf {
    buf: &'static mut [u8; HEADER_LEN + MAX_ENTRIES],
    len: usize,
}

impl AsRef<[u8]> for LedgerBuf {
    fn as_ref(&self) -> &[u8] {
        self.buf.get(..self.len).unwrap_or(&[])
    }
}

impl AsMut<[u8]> for LedgerBuf {
    fn as_mut(&mut self) -> &mut [u8] {
        self.buf.get_mut(..self.len).unwrap_or(&mut [])
    }
}

/// Mode byte of a vending machine's enrolment.
pub const MODE_VENDING: u8 = b'V';
const NO_POOL: u32 = u32::MAX;

/// Who this machine is: fixed at enrolment.
#[derive(Clone, Copy)]
pub struct Enrolment {
    /// The device id.
    pub device_id: DeviceId,
    /// The only node whose invoices this machine accepts.
    pub owner: [u8; 33],
}

/// The vending machine.
pub struct Machine {
    enrolment: Option<Enrolment>,
    pool_len: Option<usize>,
    ledger: Option<FlashLedger<EmuNor, LedgerBuf>>,
    spare: Option<LedgerBuf>,
}

/// `ERR <what>` (see `say.rs`: no `core::fmt` in this image).
fn put_err(uart: &mut Uart, what: impl Say) {
    what.say(uart);
}

fn reason_name(r: PendingReason) -> &'static str {
    match r {
        PendingReason::ClaimCut => "claim-cut",
        PendingReason::Unresolved => "unresolved",
        PendingReason::DispensedCut => "dispensed-cut",
        PendingReason::FailedCut => "failed-cut",
    }
}

fn read_enrolment() -> Option<Enrolment> {
    let rec = store::enrolment(MODE_VENDING, 49)?;
    let device: [u8; 16] = rec.get(..16)?.try_into().ok()?;
    let owner: [u8; 33] = rec.get(16..49)?.try_into().ok()?;
    Some(Enrolment { device_id: DeviceId(device), owner })
}

fn stored_pool_len() -> Option<usize> {
    let mut len = [0u8; 4];
    EmuNor::new().read(store::POOL, &mut len).ok()?;
    let len = u32::from_le_bytes(len);
    (len != NO_POOL && len <= store::POOL_END - store::POOL - 4).then_some(len as usize)
}

fn pool_bytes(len: usize) -> Option<&'static [u8]> {
    EmuNor::mapped(store::POOL + 4, len)
}

impl Machine {
    /// Reads the enrolment, the pool and its ledger from the store and reports on the UART: one
    /// `PENDING <index> <reason>` per claim a power cut left without an outcome (the motor is
    /// never run again for those), then `READY …`.
    pub fn boot(uart: &mut Uart, buf: &'static mut [u8; HEADER_LEN + MAX_ENTRIES]) -> Machine {
        let mut m = Machine {
            enrolment: read_enrolment(),
            pool_len: None,
            ledger: None,
            spare: Some(LedgerBuf { buf, len: 0 }),
        };
        if let (Some(enrolment), Some(len)) = (m.enrolment, stored_pool_len()) {
            match m.open_pool(&enrolment, len) {
                Ok(()) => m.pool_len = Some(len),
                Err(e) => put_err(uart, e),
            }
        }
        // The claims a power cut left pending come first; READY ends the boot report.
        m.put_pending(uart);
        uart.write_bytes(b"READY vending");
        if let Some(e) = m.enrolment {
            uart.write_bytes(b" device=");
            io::put_hex(uart, &e.device_id.0);
        }
        if let (Some(len), Some(ledger)) = (m.pool_len, m.ledger.as_ref()) {
            uart.write_bytes(b" pool=");
            io::put_hex(uart, &ledger.ledger().header().pool_id.0);
            uart.write_bytes(b" entries=");
            io::put_u64(uart, ledger.ledger().entry_count().into());
            let _ = len;
        }
        uart.write_bytes(b"\n");
        m
    }

    /// Opens the ledger of the stored pool (creating it on an erased ledger sector: a power cut
    /// between the pool's last write and the ledger's first).
    fn open_pool(&mut self, enrolment: &Enrolment, len: usize) -> Result<(), &'static str> {
        let bytes = pool_bytes(len).ok_or("the stored pool is out of the store")?;
        let pool =
            Pool::parse(bytes).map_err(|_| "the stored pool does not parse: install it again")?;
        if pool.owner_node_id() != enrolment.owner || pool.device_id() != enrolment.device_id {
            return Err("the stored pool is not this machine's: install it again");
        }
        let entries = u32::try_from(pool.len()).map_err(|_| "pool too large")?;
        let mut storage = self.spare.take().ok_or("no ledger buffer")?;
        storage.len = HEADER_LEN + pool.len();
        if storage.len > HEADER_LEN + MAX_ENTRIES {
            self.spare = Some(storage);
            return Err("the pool has more entries than this build holds");
        }
        let mut flash = EmuNor::new();
        let erased = read_header(&mut flash, store::LEDGER).is_err()
            && EmuNor::mapped(store::LEDGER, HEADER_LEN)
                .is_some_and(|h| h.iter().all(|b| *b == 0xFF));
        let opened = if erased {
            FlashLedger::create(flash, store::LEDGER, storage, pool.pool_id(), entries)
        } else {
            FlashLedger::open(flash, store::LEDGER, storage, pool.pool_id(), entries)
        };
        match opened {
            Ok(ledger) => {
                self.ledger = Some(ledger);
                Ok(())
            }
            // The buffer went into the failed open; a fresh one is not to be had: this is a
            // store that needs a new pool (INSTALL erases and starts again).
            Err(_) => {
                Err("the claim ledger does not belong to the stored pool: install the pool again")
            }
        }
    }

    fn put_pending(&self, uart: &mut Uart) {
        if let Some(ledger) = &self.ledger {
            for PendingClaim { index, reason, .. } in ledger.pending() {
                uart.write_bytes(b"PENDING ");
                io::put_u64(uart, index.into());
                uart.write_bytes(b" ");
                uart.write_bytes(reason_name(reason).as_bytes());
                uart.write_bytes(b"\n");
            }
        }
    }

    fn pool(&self) -> Option<(Pool<'static>, Enrolment)> {
        let bytes = pool_bytes(self.pool_len?)?;
        Some((Pool::parse(bytes).ok()?, self.enrolment?))
    }

    /// Runs one command (the word is read; `end` says whether arguments follow). Each command
    /// has its own function and its own buffers, so that the deep paths (a signature check at
    /// install, a claim) never carry another command's stack frame.
    pub fn command(&mut self, uart: &mut Uart, ticks: &Ticks, word: &[u8], end: End) {
        match word {
            b"ENROL" => self.enrol_line(uart, end),
            b"INSTALL" => self.install(uart, ticks, end),
            b"OFFER" => self.offer_line(uart, end),
            b"CLAIM" => self.claim_line(uart, ticks, end, false),
            b"MEASURE" => self.claim_line(uart, ticks, end, true),
            b"RESOLVE" => self.resolve_line(uart, end),
            b"STATE" => self.state_line(uart, end),
            b"STATUS" => {
                io::skip_line(uart, end);
                self.status(uart);
            }
            _ => {
                io::skip_line(uart, end);
                uart.write_bytes(b"ERR unknown command ");
                uart.write_bytes(word);
                uart.write_bytes(b"\n");
            }
        }
    }

    #[inline(never)]
    fn enrol_line(&mut self, uart: &mut Uart, end: End) {
        let mut arg = [0u8; 120];
        match io::read_rest(uart, end, &mut arg) {
            Some(rest) => self.enrol(uart, rest),
            None => put_err(uart, "ENROL <device id: 32 hex> <owner node id: 66 hex>"),
        }
    }

    #[inline(never)]
    fn offer_line(&mut self, uart: &mut Uart, end: End) {
        let mut arg = [0u8; 8];
        let product = io::read_rest(uart, end, &mut arg).and_then(io::parse_u64);
        match product.and_then(|p| u16::try_from(p).ok()) {
            Some(p) => self.offer(uart, p),
            None => put_err(uart, "OFFER <product number>"),
        }
    }

    #[inline(never)]
    fn claim_line(&mut self, uart: &mut Uart, ticks: &Ticks, end: End, measure_only: bool) {
        let mut arg = [0u8; 320];
        let Some(text) = io::read_rest(uart, end, &mut arg) else {
            return put_err(uart, "the claim is longer than 320 characters");
        };
        let Ok(text) = core::str::from_utf8(text) else {
            return put_err(uart, "the claim is not text");
        };
        self.claim(uart, ticks, text, measure_only);
    }

    #[inline(never)]
    fn resolve_line(&mut self, uart: &mut Uart, end: End) {
        let mut arg = [0u8; 24];
        let rest = io::read_rest(uart, end, &mut arg).unwrap_or(&[]);
        self.resolve(uart, rest);
    }

    #[inline(never)]
    fn state_line(&mut self, uart: &mut Uart, end: End) {
        let mut arg = [0u8; 12];
        let index = io::read_rest(uart, end, &mut arg).and_then(io::parse_u64);
        self.state(uart, index.and_then(|i| u32::try_from(i).ok()));
    }

    fn enrol(&mut self, uart: &mut Uart, rest: &[u8]) {
        if self.enrolment.is_some() {
            return put_err(uart, "already enrolled (a machine is enrolled once)");
        }
        let mut parts = rest.split(|b| *b == b' ').filter(|p| !p.is_empty());
        let device = parts.next().and_then(io::hex::<16>);
        let owner = parts.next().and_then(io::hex::<33>);
        let (Some(device), Some(owner)) = (device, owner) else {
            return put_err(uart, "ENROL <device id: 32 hex> <owner node id: 66 hex>");
        };
        let mut rec = [0u8; 49];
        rec[..16].copy_from_slice(&device);
        rec[16..].copy_from_slice(&owner);
        if let Err(e) = store::enrol(MODE_VENDING, &rec) {
            return put_err(uart, e);
        }
        self.enrolment = read_enrolment();
        if self.enrolment.is_none() {
            return put_err(uart, "the enrolment did not read back");
        }
        uart.write_bytes(b"OK enrolled\n");
    }

    /// `INSTALL <pool hex>`: the pool streams into its slot (no RAM copy), then every entry's
    /// signature is checked against the enrolled owner where it lies. The length word is written
    /// last, so a power cut leaves no pool rather than half of one.
    #[inline(never)]
    fn install(&mut self, uart: &mut Uart, ticks: &Ticks, end: End) {
        let Some(enrolment) = self.enrolment else {
            io::skip_line(uart, end);
            return put_err(uart, "not enrolled: ENROL first");
        };
        if self.ledger.as_ref().is_some_and(|l| l.pending().next().is_some()) {
            io::skip_line(uart, end);
            return put_err(uart, "claims are pending: RESOLVE them before a new pool");
        }
        if let Some(ledger) = self.ledger.take() {
            let (_, mut storage) = ledger.into_parts();
            storage.len = 0;
            self.spare = Some(storage);
        }
        self.pool_len = None;
        let mut flash = EmuNor::new();
        if flash.erase(store::POOL, store::LEDGER_END).is_err() {
            io::skip_line(uart, end);
            return put_err(uart, "erasing the pool slot failed");
        }
        let (len, bad) = self.receive_pool(uart, end, &mut flash);
        if let Some(bad) = bad {
            return put_err(uart, bad);
        }
        let Some(bytes) = pool_bytes(len) else { return put_err(uart, "pool too large") };
        let start = ticks.now();
        let verified = crate::verify::parse_owner_verified(bytes, &enrolment.owner);
        let spent = ticks.since(start);
        let pool = match verified {
            Ok(pool) => pool,
            Err(e) => return put_err(uart, e),
        };
        if pool.device_id() != enrolment.device_id {
            return put_err(uart, "pool refused: it is for another device");
        }
        if flash.write(store::POOL, &(len as u32).to_le_bytes()).is_err() {
            return put_err(uart, "writing the pool length failed");
        }
        if let Err(e) = self.open_pool(&enrolment, len) {
            return put_err(uart, e);
        }
        self.pool_len = Some(len);
        uart.write_bytes(b"OK installed pool=");
        io::put_hex(uart, &pool.pool_id().0);
        uart.write_bytes(b" entries=");
        io::put_u64(uart, pool.len() as u64);
        uart.write_bytes(b" verify_instructions=");
        io::put_u64(uart, u64::from(spent) * u64::from(INSTRUCTIONS_PER_TICK));
        uart.write_bytes(b"\n");
    }

    /// Streams hex into the pool slot; returns the length and what was wrong, if anything.
    fn receive_pool(
        &mut self,
        uart: &mut Uart,
        end: End,
        flash: &mut EmuNor,
    ) -> (usize, Option<&'static str>) {
        if end == End::Line {
            return (0, Some("INSTALL <pool bytes in hex>"));
        }
        let capacity = (store::POOL_END - store::POOL - 4) as usize;
        let (mut len, mut high, mut bad) = (0usize, None::<u8>, None);
        loop {
            let c = uart.read_byte();
            if c == b'\n' || c == b'\r' {
                break;
            }
            if bad.is_some() {
                continue;
            }
            let Some(v) = io::nibble(c) else {
                bad = Some("the pool is not hex");
                continue;
            };
            match high.take() {
                None => high = Some(v),
                Some(h) if len < capacity => {
                    if flash.write(store::POOL + 4 + len as u32, &[(h << 4) | v]).is_err() {
                        bad = Some("writing the pool failed");
                    }
                    len += 1;
                }
                Some(_) => bad = Some("the pool does not fit this machine's pool slot"),
            }
        }
        if bad.is_none() && high.is_some() {
            bad = Some("the pool hex has an odd number of digits");
        }
        (len, bad)
    }

    fn offer(&mut self, uart: &mut Uart, product: u16) {
        let (Some((pool, _)), Some(ledger)) = (self.pool(), self.ledger.as_mut()) else {
            return put_err(uart, "no invoice pool is installed: install one first");
        };
        match vend::offer(&pool, ledger, product) {
            Ok(entry) => {
                uart.write_bytes(b"OFFER ");
                io::put_u64(uart, entry.index() as u64);
                uart.write_bytes(b" ");
                let _ = entry.write_bolt11(uart);
                uart.write_bytes(b"\n");
            }
            Err(VendFailure::Refused(r)) => put_err(uart, r),
            Err(VendFailure::Store(e)) => put_err(uart, e),
        }
    }

    fn claim(&mut self, uart: &mut Uart, ticks: &Ticks, text: &str, measure_only: bool) {
        let (Some((pool, enrolment)), Some(ledger)) = (self.pool(), self.ledger.as_mut()) else {
            return put_err(uart, "no invoice pool is installed: install one first");
        };
        let start = ticks.now();
        let claim = match parse_claim(ClaimInput::Text(text.trim())) {
            Ok(claim) => claim,
            Err(e) => return put_err(uart, e),
        };
        let entry = match vend::locate(&pool, enrolment.device_id, &claim) {
            Ok(entry) => entry,
            Err(e) => return put_err(uart, e),
        };
        let spent = ticks.since(start);
        if measure_only {
            uart.write_bytes(b"MEASURE index=");
            io::put_u64(uart, entry.index() as u64);
            uart.write_bytes(b" instructions=");
            io::put_u64(uart, u64::from(spent) * u64::from(INSTRUCTIONS_PER_TICK));
            uart.write_bytes(b"\n");
            return;
        }
        let vended = vend::vend(ledger, &entry, |product| {
            // The claim is on flash and was read back: only now the motor may run.
            uart.write_bytes(b"MOTOR ");
            io::put_u64(uart, product.into());
            uart.write_bytes(b" ");
            io::put_u64(uart, entry.index() as u64);
            uart.write_bytes(b"\n");
            board::run_motor(product)
        });
        match vended {
            Ok(Vended::Dispensed { index, product }) => {
                uart.write_bytes(b"VENDED ");
                io::put_u64(uart, index.into());
                uart.write_bytes(b" ");
                io::put_u64(uart, product.into());
                uart.write_bytes(b"\n");
            }
            Ok(Vended::Failed { index, .. }) => {
                uart.write_bytes(b"FAILED ");
                io::put_u64(uart, index.into());
                uart.write_bytes(b" refund due\n");
            }
            Err(e) => put_err(uart, e),
        }
    }

    fn resolve(&mut self, uart: &mut Uart, rest: &[u8]) {
        let Some(ledger) = self.ledger.as_mut() else {
            return put_err(uart, "no invoice pool is installed");
        };
        let mut parts = rest.split(|b| *b == b' ').filter(|p| !p.is_empty());
        let index = parts.next().and_then(io::parse_u64).and_then(|i| u32::try_from(i).ok());
        let done = match (index, parts.next()) {
            (Some(i), Some(b"dispensed")) => ledger.dispensed(i),
            (Some(i), Some(b"failed")) => ledger.failed(i),
            _ => return put_err(uart, "RESOLVE <index> dispensed|failed"),
        };
        match done {
            Ok(_) => uart.write_bytes(b"OK resolved\n"),
            Err(e) => {
                put_err(uart, e);
                let _ = ledger.reload();
            }
        }
    }

    /// `STATE <index>` → `STATE <index> <state> <byte in hex>`.
    fn state(&self, uart: &mut Uart, index: Option<u32>) {
        let (Some(ledger), Some(index)) = (&self.ledger, index) else {
            return put_err(uart, "STATE <index> (with a pool installed)");
        };
        match ledger.reading(index) {
            Ok(r) => {
                uart.write_bytes(b"STATE ");
                io::put_u64(uart, index.into());
                uart.write_bytes(b" ");
                uart.write_bytes(r.state.name().as_bytes());
                uart.write_bytes(b" ");
                io::put_hex(uart, &[r.byte]);
                uart.write_bytes(b"\n");
            }
            Err(e) => put_err(uart, e),
        }
    }

    fn status(&self, uart: &mut Uart) {
        let Some(ledger) = &self.ledger else {
            return put_err(uart, "no invoice pool is installed");
        };
        let c = ledger.counts();
        uart.write_bytes(b"STATUS");
        for (name, n) in [
            (EntryState::Unused, c.unused),
            (EntryState::Offered, c.offered),
            (EntryState::Claimed, c.claimed),
            (EntryState::Dispensed, c.dispensed),
            (EntryState::Failed, c.failed),
        ] {
            uart.write_bytes(b" ");
            uart.write_bytes(name.name().as_bytes());
            uart.write_bytes(b"=");
            io::put_u64(uart, n.into());
        }
        uart.write_bytes(b"\n");
        self.put_pending(uart);
    }
}
