//! Vending mode: enrol, install a pool, offer, claim, vend — every rule from
//! `lnedge-device-core`, the same code the std runtime and its tests run.

use embedded_storage::nor_flash::NorFlash;
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
pub const MAX_ENTRIES: usize = 256;

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
    /// The slot in use: its pool and (in `ledger`) its claim ledger.
    active: Option<Slot>,
    ledger: Option<FlashLedger<EmuNor, LedgerBuf>>,
    spare: Option<LedgerBuf>,
}

/// A pool slot whose install completed (its install number is written).
#[derive(Clone, Copy)]
struct Slot {
    /// 0 or 1.
    index: usize,
    /// Install number: the higher one is the pool in use.
    seq: u32,
    /// Bytes of the pool.
    len: usize,
}

impl Slot {
    fn base(index: usize) -> u32 {
        store::SLOTS[index & 1]
    }

    /// The slot, if an install into it completed and its pool parses. A slot whose erase a
    /// power cut interrupted (the next install had begun) holds no pool.
    fn read(index: usize) -> Option<Slot> {
        let head = EmuNor::mapped(Self::base(index), store::SLOT_POOL as usize)?;
        let seq = u32::from_le_bytes(head.get(..4)?.try_into().ok()?);
        let len = u32::from_le_bytes(head.get(4..8)?.try_into().ok()?);
        let fits = len <= store::SLOT_LEDGER - store::SLOT_POOL;
        let slot = Slot { index, seq, len: len as usize };
        let parses = Pool::parse(slot.pool_bytes()?).is_ok();
        (seq != NO_POOL && len != NO_POOL && fits && parses).then_some(slot)
    }

    fn pool_bytes(&self) -> Option<&'static [u8]> {
        EmuNor::mapped(Self::base(self.index) + store::SLOT_POOL, self.len)
    }

    fn ledger_at(&self) -> u32 {
        Self::base(self.index) + store::SLOT_LEDGER
    }
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

/// Whether pool `id` was ever installed here (the log of installed ids), and where the log's
/// first free place is.
fn installed_before(id: &[u8; 8]) -> (bool, Option<u32>) {
    let mut at = store::INSTALLED;
    while at < store::INSTALLED_END {
        match EmuNor::mapped(at, 8) {
            Some(e) if e.iter().all(|b| *b == 0xFF) => return (false, Some(at)),
            Some(e) if e == id => return (true, None),
            Some(_) => at += 8,
            None => break,
        }
    }
    (false, None)
}

/// Appends pool `id` to the log of installed ids (unless it is there).
fn record_installed(id: &[u8; 8]) -> Result<(), &'static str> {
    match installed_before(id) {
        (true, _) => Ok(()),
        (false, Some(at)) => {
            let written = EmuNor::new().write(at, id).is_ok();
            match EmuNor::mapped(at, 8) {
                Some(e) if written && e == id => Ok(()),
                _ => Err("writing the log of installed pools failed"),
            }
        }
        (false, None) => {
            Err("this machine has installed as many pools as it can record: re-enrol it")
        }
    }
}

impl Machine {
    /// Reads the enrolment, the pool and its ledger from the store and reports on the UART: one
    /// `PENDING <index> <reason>` per claim a power cut left without an outcome (the motor is
    /// never run again for those), then `READY …`.
    pub fn boot(uart: &mut Uart, buf: &'static mut [u8; HEADER_LEN + MAX_ENTRIES]) -> Machine {
        let mut m = Machine {
            enrolment: read_enrolment(),
            active: None,
            ledger: None,
            spare: Some(LedgerBuf { buf, len: 0 }),
        };
        // The newest completed install whose ledger opens is the pool in use.
        let mut slots = [Slot::read(0), Slot::read(1)];
        if let [Some(a), Some(b)] = slots {
            if b.seq > a.seq {
                slots = [Some(b), Some(a)];
            }
        }
        if let Some(enrolment) = m.enrolment {
            for slot in slots.into_iter().flatten() {
                match m.open_pool(&enrolment, slot) {
                    Ok(()) => break,
                    Err(e) => put_err(uart, e),
                }
            }
            // A cut between an install's commit and its log entry: write the entry now.
            for slot in slots.into_iter().flatten() {
                if let Some(pool) = slot.pool_bytes().and_then(|b| Pool::parse(b).ok()) {
                    if let Err(e) = record_installed(&pool.pool_id().0) {
                        put_err(uart, e);
                    }
                }
            }
        }
        // The claims a power cut left pending come first; READY ends the boot report.
        m.put_pending(uart);
        uart.write_bytes(b"READY vending");
        if let Some(e) = m.enrolment {
            uart.write_bytes(b" device=");
            io::put_hex(uart, &e.device_id.0);
        }
        if let Some(ledger) = m.ledger.as_ref() {
            uart.write_bytes(b" pool=");
            io::put_hex(uart, &ledger.ledger().header().pool_id.0);
            uart.write_bytes(b" entries=");
            io::put_u64(uart, ledger.ledger().entry_count().into());
        }
        uart.write_bytes(b"\n");
        m
    }

    /// Makes `slot` the pool in use: checks its pool is this machine's and opens its ledger,
    /// creating it on an erased ledger sector (a power cut between the pool's last write and
    /// the ledger's first).
    fn open_pool(&mut self, enrolment: &Enrolment, slot: Slot) -> Result<(), &'static str> {
        let bytes = slot.pool_bytes().ok_or("a stored pool is out of the store")?;
        let pool = Pool::parse_for_owner(bytes, &enrolment.owner)
            .map_err(|_| "a stored pool does not parse or is not the owner's: install it again")?;
        if pool.device_id() != enrolment.device_id {
            return Err("a stored pool is for another device: install this machine's");
        }
        let entries = u32::try_from(pool.len()).map_err(|_| "pool too large")?;
        if pool.len() > MAX_ENTRIES {
            return Err("the pool has more entries than this build holds");
        }
        let mut flash = EmuNor::new();
        let at = slot.ledger_at();
        let erased = EmuNor::mapped(at, HEADER_LEN).is_some_and(|h| h.iter().all(|b| *b == 0xFF));
        if !erased {
            // Checked here, so that `open` below can only fail on a flash read: a refused open
            // would keep the one ledger buffer.
            match read_header(&mut flash, at) {
                Ok(h) if h.pool_id == pool.pool_id() && h.entries == entries => {}
                _ => {
                    return Err(
                        "a claim ledger does not belong to its pool: install the pool again",
                    )
                }
            }
        }
        let mut storage = match (self.spare.take(), self.ledger.take()) {
            (Some(spare), None) => spare,
            (None, Some(inuse)) => {
                self.active = None;
                inuse.into_parts().1
            }
            _ => return Err("no ledger buffer: reboot"),
        };
        storage.len = HEADER_LEN + pool.len();
        let opened = if erased {
            FlashLedger::create(flash, at, storage, pool.pool_id(), entries)
        } else {
            FlashLedger::open(flash, at, storage, pool.pool_id(), entries)
        };
        match opened {
            Ok(ledger) => {
                self.ledger = Some(ledger);
                self.active = Some(slot);
                Ok(())
            }
            Err(_) => Err("the claim ledger cannot be read: reboot"),
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
        let bytes = self.active?.pool_bytes()?;
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
            b"REPORT" => {
                io::skip_line(uart, end);
                self.report(uart);
            }
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
        if !crate::verify::is_public_key(&owner) {
            // Every pool would be refused: say so now, while the operator is at the machine.
            return put_err(uart, "ENROL: the owner node id is not a public key");
        }
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

    /// `INSTALL <pool hex>`: the pool streams into the slot not in use (no RAM copy), every
    /// entry's signature is checked against the enrolled owner where it lies, then the slot's
    /// install number is written — last, so a power cut or a refused pool leaves the pool in
    /// use as it was. The slot written over held the pool before the one in use.
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
        let target = self.active.map_or(0, |s| 1 - s.index);
        let base = Slot::base(target);
        let mut flash = EmuNor::new();
        if flash.erase(base, base + store::SLOT_SIZE).is_err() {
            io::skip_line(uart, end);
            return put_err(uart, "erasing the pool slot failed");
        }
        let (len, bad) = receive_pool(uart, end, &mut flash, base);
        if let Some(bad) = bad {
            return put_err(uart, bad);
        }
        let Some(bytes) = EmuNor::mapped(base + store::SLOT_POOL, len) else {
            return put_err(uart, "pool too large");
        };
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
        if pool.len() > MAX_ENTRIES {
            return put_err(uart, "pool refused: more entries than this build holds");
        }
        // A fresh ledger for a pool this machine held would accept its used payments again.
        if self.pool().map(|(p, _)| p.pool_id()) == Some(pool.pool_id()) {
            return put_err(uart, "pool refused: it is the pool in use (its ledger stays)");
        }
        if installed_before(&pool.pool_id().0).0 {
            return put_err(
                uart,
                "pool refused: it was installed before (a top-up needs a new pool id)",
            );
        }
        let seq = self.active.map_or(1, |s| s.seq.saturating_add(1));
        let committed = flash
            .write(base + 4, &(len as u32).to_le_bytes())
            .and_then(|()| flash.write(base, &seq.to_le_bytes()));
        let Some(slot) = committed.ok().and_then(|()| Slot::read(target)) else {
            return put_err(uart, "writing the pool slot's header failed");
        };
        if let Err(e) = record_installed(&pool.pool_id().0) {
            return put_err(uart, e);
        }
        let previous = self.active;
        if let Err(e) = self.open_pool(&enrolment, slot) {
            put_err(uart, e);
            if let Some(previous) = previous {
                let _ = self.open_pool(&enrolment, previous);
            }
            return;
        }
        uart.write_bytes(b"OK installed pool=");
        io::put_hex(uart, &pool.pool_id().0);
        uart.write_bytes(b" entries=");
        io::put_u64(uart, pool.len() as u64);
        uart.write_bytes(b" verify_instructions=");
        io::put_u64(uart, u64::from(spent) * u64::from(INSTRUCTIONS_PER_TICK));
        uart.write_bytes(b"\n");
    }

    /// `REPORT`: per slot holding a pool, `REPORT slot=<k> install=<n> pool=<id> ledger=<hex>`
    /// (the claim ledger image as on flash, for a service tool to sync), the pool in use first,
    /// then `REPORT end`.
    #[inline(never)]
    fn report(&self, uart: &mut Uart) {
        let first = self.active.map_or(0, |s| s.index);
        for index in [first, 1 - first] {
            let Some(slot) = Slot::read(index) else { continue };
            let Some(pool) = slot.pool_bytes().and_then(|b| Pool::parse(b).ok()) else { continue };
            uart.write_bytes(b"REPORT slot=");
            io::put_u64(uart, index as u64);
            uart.write_bytes(b" install=");
            io::put_u64(uart, slot.seq.into());
            uart.write_bytes(b" pool=");
            io::put_hex(uart, &pool.pool_id().0);
            uart.write_bytes(b" ledger=");
            let image = read_header(&mut EmuNor::new(), slot.ledger_at())
                .ok()
                .and_then(|h| EmuNor::mapped(slot.ledger_at(), h.image_len()?));
            match image {
                Some(image) => io::put_hex(uart, image),
                None => uart.write_bytes(b"none"),
            }
            uart.write_bytes(b"\n");
        }
        uart.write_bytes(b"REPORT end\n");
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
        let claim = match parse_claim(ClaimInput::Text(text.trim_ascii())) {
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

/// Streams hex into the pool area of the slot at `base`; returns the length and what was wrong, if anything.
fn receive_pool(
    uart: &mut Uart,
    end: End,
    flash: &mut EmuNor,
    base: u32,
) -> (usize, Option<&'static str>) {
    if end == End::Line {
        return (0, Some("INSTALL <pool bytes in hex>"));
    }
    let capacity = (store::SLOT_LEDGER - store::SLOT_POOL) as usize;
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
                if flash.write(base + store::SLOT_POOL + len as u32, &[(h << 4) | v]).is_err() {
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
