//! The vending machine: a verified invoice pool, its claim ledger on flash, and a dispenser.
//!
//! Sale, fully offline: [`VendingMachine::offer`] picks a fresh entry of the product and returns
//! its BOLT 11 invoice (rebuilt from the pool); the customer pays it with any wallet; the
//! customer presents the payment's preimage ([`VendingMachine::present`]); the machine checks
//! `SHA256(preimage)` against its pool, records the claim on flash (read back) **before** the
//! motor runs, runs the motor, and records the outcome. A failed vend yields a refund voucher.
//!
//! The machine's directory holds `enrolment.txt` (device id, owner node id), `pool.bin` (the
//! current pool; no secret in it) and `ledger.flash` (the claim ledger). Older pools and their
//! ledgers move to `archive/<pool id>/` when a new pool is installed.

use std::path::{Path, PathBuf};

use lnedge_device_core::vend::{self, Refusal, VendFailure, Vended};
use lnedge_proto::ledger::{Counts, EntryState, LedgerError, PendingClaim};
use lnedge_proto::pool::{Pool, PoolError};
use lnedge_proto::{DeviceId, PoolId};
use lnedge_wire::sync::{SignedUpload, SyncRequest};

use crate::claim::{parse_claim, Claim, ClaimInput, ClaimParseError};
use crate::flash::{FlashImage, NorError};
use crate::ledger::{PersistentLedger, PersistentLedgerError};
use crate::voucher::{attested_voucher_text, RefundVoucher};

/// Drives the motor (or valve, or lock) that hands out a product.
pub trait Dispenser {
    /// Hands out one unit of `product`. `Err` means the customer got nothing.
    fn dispense(&mut self, product: u16) -> Result<(), DispenseFailure>;
}

/// Why a vend failed mechanically.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("the dispenser failed: {0}")]
pub struct DispenseFailure(pub String);

/// A simulated motor that can be told to jam.
#[derive(Debug, Default)]
pub struct SimulatedMotor {
    jams: u32,
    /// Products handed out so far.
    pub dispensed: Vec<u16>,
}

impl SimulatedMotor {
    /// The next `n` vends jam.
    pub fn jam_next(&mut self, n: u32) {
        self.jams = self.jams.saturating_add(n);
    }
}

impl Dispenser for SimulatedMotor {
    fn dispense(&mut self, product: u16) -> Result<(), DispenseFailure> {
        if self.jams > 0 {
            self.jams -= 1;
            return Err(DispenseFailure(format!("motor of slot {product} jammed")));
        }
        self.dispensed.push(product);
        Ok(())
    }
}

/// Who the device is and whose node it takes pools from; fixed at enrolment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Enrolment {
    /// The device's id.
    pub device_id: DeviceId,
    /// The owner's node id: the only key whose invoices the device accepts.
    pub owner_node_id: [u8; 33],
}

/// Why the machine refused something.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum VendError {
    /// Reading or writing the machine's directory failed.
    #[error("{what} {path}: {source}")]
    Io {
        /// What was being done.
        what: &'static str,
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// `enrolment.txt` is missing or malformed.
    #[error("enrolment file {path}: {detail}")]
    Enrolment {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        detail: String,
    },
    /// The machine has no pool installed.
    #[error("no invoice pool is installed: install one first")]
    NoPool,
    /// The pool is malformed, tampered with, or not signed by the enrolled owner.
    #[error("pool refused: {0}")]
    PoolRefused(PoolError),
    /// The pool is for another device.
    #[error("pool refused: it is for device {pool_device}, this is device {this_device}")]
    PoolForAnotherDevice {
        /// The pool's device.
        pool_device: DeviceId,
        /// This device.
        this_device: DeviceId,
    },
    /// The presented bytes are not a claim.
    #[error("not a payment proof: {0}")]
    InvalidClaim(ClaimParseError),
    /// Refused by the vend rules before anything was written: unknown product, sold out, a
    /// claim for another machine or pool, a preimage that pays no invoice here.
    #[error(transparent)]
    Refused(Refusal),
    /// The payment was already used.
    #[error("this payment was already used (invoice {index} is {state})")]
    AlreadyUsed {
        /// The pool entry.
        index: u32,
        /// Its state.
        state: EntryState,
    },
    /// The ledger on flash failed.
    #[error(transparent)]
    Ledger(PersistentLedgerError),
}

// Written by hand (not `#[from]`): the inner error is part of the message, so it must not also
// be reported as the `source`, or error chains print it twice.
impl From<PoolError> for VendError {
    fn from(e: PoolError) -> Self {
        VendError::PoolRefused(e)
    }
}

impl From<Refusal> for VendError {
    fn from(r: Refusal) -> Self {
        VendError::Refused(r)
    }
}

impl From<VendFailure<NorError>> for VendError {
    fn from(f: VendFailure<NorError>) -> Self {
        match f {
            VendFailure::Refused(r) => r.into(),
            VendFailure::Store(e) => PersistentLedgerError::from(e).into(),
        }
    }
}

impl From<ClaimParseError> for VendError {
    fn from(e: ClaimParseError) -> Self {
        VendError::InvalidClaim(e)
    }
}

impl From<PersistentLedgerError> for VendError {
    fn from(e: PersistentLedgerError) -> Self {
        match e {
            PersistentLedgerError::Ledger(LedgerError::AlreadyClaimed { index, state }) => {
                VendError::AlreadyUsed { index, state }
            }
            other => VendError::Ledger(other),
        }
    }
}

/// An invoice offered to a customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Offer {
    /// The pool entry.
    pub index: u32,
    /// The product.
    pub product: u16,
    /// The BOLT 11 invoice to show (QR) or tap (NFC).
    pub bolt11: String,
    /// The price in millisatoshis.
    pub amount_msat: Option<u64>,
}

/// What happened to a valid claim.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum VendOutcome {
    /// The product was handed out.
    Dispensed {
        /// The pool entry.
        index: u32,
        /// The product.
        product: u16,
    },
    /// The motor failed: the customer paid and got nothing, and gets a refund voucher.
    Failed {
        /// The pool entry.
        index: u32,
        /// The product.
        product: u16,
        /// What the motor said.
        reason: String,
        /// The voucher.
        voucher: RefundVoucher,
        /// The voucher as QR text (a refund link when the pool names the gateway).
        voucher_text: String,
    },
}

/// A product as the machine shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductInfo {
    /// Product id (slot).
    pub id: u16,
    /// Description (as in the invoices).
    pub description: String,
    /// Price in millisatoshis.
    pub price_msat: Option<u64>,
    /// Invoices left to offer.
    pub available: u32,
}

pub use lnedge_wire::sync::SyncReport;

/// What a device uploads to its gateway when it is serviced or online.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SyncBatch {
    /// The device.
    pub device_id: DeviceId,
    /// Increases with every batch (replay protection).
    pub counter: u64,
    /// Every entry no longer unused.
    pub reports: Vec<SyncReport>,
}

impl SyncBatch {
    /// The body of `POST /v1/devices/{device_id}/sync`.
    pub fn request(&self) -> SyncRequest {
        SyncRequest::new(self.counter, self.reports.iter().copied())
    }

    /// The body, signed with the device's sync key (`lnedge_wire::keys::device_sync_key`): what
    /// the gateway accepts, as bytes plus the `X-Lnedge-Signature` value.
    pub fn signed(&self, sync_key: &[u8; 32]) -> SignedUpload {
        self.request().signed(sync_key)
    }
}

/// The vending machine.
#[derive(Debug)]
pub struct VendingMachine<D> {
    dir: PathBuf,
    enrolment: Enrolment,
    pool: Option<(Vec<u8>, PersistentLedger<FlashImage>)>,
    dispenser: D,
}

const ENROLMENT: &str = "enrolment.txt";
const POOL: &str = "pool.bin";
const LEDGER: &str = "ledger.flash";
const SYNC_COUNTER: &str = "sync-counter";
const ATTESTATION_KEY: &str = "attestation.key";

/// The attestation key in `dir`, if the machine was enrolled with one (hex in
/// `attestation.key`). An unreadable or malformed file counts as none: the voucher then goes
/// unattested and the refund waits for the next sync, which is safe.
fn attestation_key(dir: &Path) -> Option<[u8; 32]> {
    let text = std::fs::read_to_string(dir.join(ATTESTATION_KEY)).ok()?;
    let text = text.trim();
    let mut key = [0u8; 32];
    if text.len() != 64 {
        return None;
    }
    for (i, slot) in key.iter_mut().enumerate() {
        *slot = u8::from_str_radix(text.get(i * 2..i * 2 + 2)?, 16).ok()?;
    }
    Some(key)
}

fn io<'p>(what: &'static str, path: &'p Path) -> impl FnOnce(std::io::Error) -> VendError + 'p {
    move |source| VendError::Io { what, path: path.to_owned(), source }
}

impl<D: Dispenser> VendingMachine<D> {
    /// Enrols a new machine in `dir` (created if needed): it will accept pools for `device_id`
    /// signed by `owner_node_id` only.
    pub fn enrol(dir: &Path, enrolment: Enrolment, dispenser: D) -> Result<Self, VendError> {
        std::fs::create_dir_all(dir).map_err(io("creating", dir))?;
        let path = dir.join(ENROLMENT);
        let text = format!(
            "device={}\nowner={}\n",
            enrolment.device_id,
            hex_encode(&enrolment.owner_node_id)
        );
        write_atomically(&path, text.as_bytes())?;
        Self::open(dir, dispenser)
    }

    /// Opens an enrolled machine, its pool and its ledger. Claims left pending by a power cut
    /// are reported by [`pending`](Self::pending); the motor never re-runs for them.
    pub fn open(dir: &Path, dispenser: D) -> Result<Self, VendError> {
        let enrolment = read_enrolment(&dir.join(ENROLMENT))?;
        let pool_path = dir.join(POOL);
        let pool = match std::fs::read(&pool_path) {
            Ok(bytes) => {
                let parsed = Pool::parse(&bytes)?;
                if parsed.owner_node_id() != enrolment.owner_node_id {
                    return Err(PoolError::WrongOwner {
                        expected: enrolment.owner_node_id,
                        found: parsed.owner_node_id(),
                    }
                    .into());
                }
                let (id, len) = (parsed.pool_id(), parsed.len() as u32);
                let ledger = PersistentLedger::open(dir.join(LEDGER), id, len)?;
                Some((bytes, ledger))
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => None,
            Err(e) => return Err(io("reading", &pool_path)(e)),
        };
        Ok(VendingMachine { dir: dir.to_owned(), enrolment, pool, dispenser })
    }

    /// Installs a pool after checking it is for this device and that every entry is signed by
    /// the enrolled owner. The previous pool and its ledger move to `archive/<pool id>/`.
    pub fn install_pool(&mut self, bytes: Vec<u8>) -> Result<PoolId, VendError> {
        let pool = Pool::parse_verified(&bytes, &self.enrolment.owner_node_id)?;
        if pool.device_id() != self.enrolment.device_id {
            return Err(VendError::PoolForAnotherDevice {
                pool_device: pool.device_id(),
                this_device: self.enrolment.device_id,
            });
        }
        let (id, len) = (pool.pool_id(), pool.len() as u32);
        if let Some((old, _)) = &self.pool {
            let old_id = Pool::parse(old)?.pool_id();
            if old_id == id {
                // Already installed: keep it and its ledger as they are.
                return Ok(id);
            }
            let archive = self.dir.join("archive").join(old_id.to_string());
            std::fs::create_dir_all(&archive).map_err(io("creating", &archive))?;
            for name in [POOL, LEDGER] {
                let from = self.dir.join(name);
                std::fs::rename(&from, archive.join(name)).map_err(io("archiving", &from))?;
            }
            self.pool = None;
        }
        write_atomically(&self.dir.join(POOL), &bytes)?;
        let ledger = PersistentLedger::open(self.dir.join(LEDGER), id, len)?;
        self.pool = Some((bytes, ledger));
        Ok(id)
    }

    /// The enrolment.
    pub fn enrolment(&self) -> Enrolment {
        self.enrolment
    }

    /// Enrols the machine with its attestation key (the gateway's
    /// `POST /v1/devices/{id}/attestation`): from now on its refund vouchers carry a tag the
    /// gateway verifies, so refunds are due at once instead of at the next sync. The key is a
    /// secret of this machine; see docs/refunds.md for the trade-off.
    pub fn set_attestation_key(&mut self, key: [u8; 32]) -> Result<(), VendError> {
        write_atomically(&self.dir.join(ATTESTATION_KEY), hex_encode(&key).as_bytes())
    }

    /// The dispenser (e.g. to jam a simulated motor).
    pub fn dispenser_mut(&mut self) -> &mut D {
        &mut self.dispenser
    }

    fn parts(&self) -> Result<(Pool<'_>, &PersistentLedger<FlashImage>), VendError> {
        let (bytes, ledger) = self.pool.as_ref().ok_or(VendError::NoPool)?;
        Ok((Pool::parse(bytes)?, ledger))
    }

    /// The id of the installed pool.
    pub fn pool_id(&self) -> Result<PoolId, VendError> {
        Ok(self.parts()?.0.pool_id())
    }

    /// The products on sale and how many invoices each has left.
    pub fn products(&self) -> Result<Vec<ProductInfo>, VendError> {
        let (pool, ledger) = self.parts()?;
        let mut out = Vec::new();
        for p in pool.products() {
            let range = vend::product_range(&pool, p.id).unwrap_or(0..0);
            let available =
                range.filter(|i| matches!(ledger.state(*i), Ok(EntryState::Unused))).count() as u32;
            out.push(ProductInfo {
                id: p.id,
                description: p.description.unwrap_or("").to_owned(),
                price_msat: p.amount_msat,
                available,
            });
        }
        Ok(out)
    }

    /// Offers a fresh invoice for `product`. An entry once offered is never offered again (a
    /// customer who walked away may still pay it and claim later).
    pub fn offer(&mut self, product: u16) -> Result<Offer, VendError> {
        let (bytes, ledger) = self.pool.as_mut().ok_or(VendError::NoPool)?;
        let pool = Pool::parse(bytes)?;
        let entry = vend::offer(&pool, ledger.core_mut(), product).map_err(VendError::from)?;
        let index = entry.index() as u32;
        Ok(Offer { index, product, bolt11: entry.bolt11(), amount_msat: entry.amount_msat() })
    }

    /// Accepts a payment proof and vends: the claim is persisted before the motor runs.
    pub fn present(&mut self, input: ClaimInput<'_>) -> Result<VendOutcome, VendError> {
        let claim: Claim = parse_claim(input)?;
        let this_device = self.enrolment.device_id;
        let (bytes, ledger) = self.pool.as_mut().ok_or(VendError::NoPool)?;
        let pool = Pool::parse(bytes)?;
        let entry = vend::locate(&pool, this_device, &claim)?;
        let dispenser = &mut self.dispenser;
        let vended = vend::vend(ledger.core_mut(), &entry, |product| dispenser.dispense(product))
            .map_err(PersistentLedgerError::from)?;
        match vended {
            Vended::Dispensed { index, product } => Ok(VendOutcome::Dispensed { index, product }),
            Vended::Failed { index, product, reason: DispenseFailure(reason) } => {
                let voucher = RefundVoucher {
                    device_id: this_device,
                    pool_id: pool.pool_id(),
                    entry_index: index,
                    payment_hash: *entry.payment_hash(),
                    amount_msat: entry.amount_msat().unwrap_or(0),
                    counter: ledger.counts().failed,
                };
                let key = attestation_key(&self.dir);
                let voucher_text =
                    attested_voucher_text(&voucher, pool.refund_url_base(), key.as_ref());
                Ok(VendOutcome::Failed { index, product, reason, voucher, voucher_text })
            }
        }
    }

    /// Claims whose outcome was not recorded (a power cut between claim and outcome).
    pub fn pending(&self) -> Result<Vec<PendingClaim>, VendError> {
        Ok(self.parts()?.1.pending())
    }

    /// Resolves every pending claim as failed (the motor is never re-run: the customer may or
    /// may not have got the product, so the operator decides on the refund) and returns their
    /// vouchers.
    pub fn resolve_pending_as_failed(&mut self) -> Result<Vec<(RefundVoucher, String)>, VendError> {
        let device_id = self.enrolment.device_id;
        let (bytes, ledger) = self.pool.as_mut().ok_or(VendError::NoPool)?;
        let pool = Pool::parse(bytes)?;
        let mut vouchers = Vec::new();
        for claim in ledger.pending() {
            ledger.failed(claim.index)?;
            if let Some(entry) = pool.entry(claim.index as usize) {
                let voucher = RefundVoucher {
                    device_id,
                    pool_id: pool.pool_id(),
                    entry_index: claim.index,
                    payment_hash: *entry.payment_hash(),
                    amount_msat: entry.amount_msat().unwrap_or(0),
                    counter: ledger.counts().failed,
                };
                let key = attestation_key(&self.dir);
                let text = attested_voucher_text(&voucher, pool.refund_url_base(), key.as_ref());
                vouchers.push((voucher, text));
            }
        }
        Ok(vouchers)
    }

    /// The next sync batch: every entry of the current pool that is no longer unused, with a
    /// counter that is persisted before the batch is returned and increases with every call, so
    /// the gateway can refuse a replayed upload. Uploading the same ledger twice is harmless:
    /// states only move forward.
    pub fn sync_batch(&mut self) -> Result<SyncBatch, VendError> {
        let path = self.dir.join(SYNC_COUNTER);
        let last = match std::fs::read_to_string(&path) {
            Ok(text) => text.trim().parse::<u64>().map_err(|e| VendError::Enrolment {
                path: path.clone(),
                detail: format!("sync counter {text:?} is not a number ({e})"),
            })?,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => 0,
            Err(e) => return Err(io("reading", &path)(e)),
        };
        let counter = last.checked_add(1).ok_or_else(|| VendError::Enrolment {
            path: path.clone(),
            detail: "sync counter exhausted".into(),
        })?;
        write_atomically(&path, counter.to_string().as_bytes())?;
        let (pool, ledger) = self.parts()?;
        let mut reports = Vec::new();
        for index in 0..pool.len() as u32 {
            let state = ledger.state(index).map_err(PersistentLedgerError::from)?;
            if state != EntryState::Unused {
                reports.push(SyncReport { pool_id: pool.pool_id(), index, state });
            }
        }
        Ok(SyncBatch { device_id: self.enrolment.device_id, counter, reports })
    }

    /// Counts of the ledger's states.
    pub fn counts(&self) -> Result<Counts, VendError> {
        Ok(self.parts()?.1.counts())
    }

    /// The state of a pool entry.
    pub fn entry_state(&self, index: u32) -> Result<EntryState, VendError> {
        Ok(self.parts()?.1.state(index).map_err(PersistentLedgerError::from)?)
    }
}

fn hex_encode(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

fn hex_decode<const N: usize>(text: &str) -> Option<[u8; N]> {
    if text.len() != N * 2 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; N];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(text.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

fn read_enrolment(path: &Path) -> Result<Enrolment, VendError> {
    let bad = |detail: String| VendError::Enrolment { path: path.to_owned(), detail };
    let text =
        std::fs::read_to_string(path).map_err(|e| bad(format!("{e} (enrol the machine first)")))?;
    let mut device = None;
    let mut owner = None;
    for line in text.lines().map(str::trim).filter(|l| !l.is_empty()) {
        match line.split_once('=') {
            Some(("device", v)) => {
                device = Some(
                    hex_decode::<16>(v)
                        .ok_or_else(|| bad(format!("device id {v:?} is not 32 hex characters")))?,
                )
            }
            Some(("owner", v)) => {
                owner = Some(
                    hex_decode::<33>(v)
                        .ok_or_else(|| bad(format!("owner {v:?} is not 66 hex characters")))?,
                )
            }
            _ => return Err(bad(format!("unexpected line {line:?}"))),
        }
    }
    Ok(Enrolment {
        device_id: DeviceId(device.ok_or_else(|| bad("no device= line".into()))?),
        owner_node_id: owner.ok_or_else(|| bad("no owner= line".into()))?,
    })
}

/// Writes a file so that a crash leaves either the old or the new content.
fn write_atomically(path: &Path, bytes: &[u8]) -> Result<(), VendError> {
    use std::io::Write;
    let tmp = path.with_extension("tmp");
    let mut file = std::fs::File::create(&tmp).map_err(io("creating", &tmp))?;
    file.write_all(bytes).and_then(|()| file.sync_all()).map_err(io("writing", &tmp))?;
    std::fs::rename(&tmp, path).map_err(io("renaming", &tmp))?;
    if let Some(dir) = path.parent() {
        if let Ok(d) = std::fs::File::open(dir) {
            let _ = d.sync_all();
        }
    }
    Ok(())
}
