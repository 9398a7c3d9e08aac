//! The deputy terminal: a point of sale with no connection that sells any amount
//! (PROTOCOLS.md §2, D1), on NOR flash, without a heap.
//!
//! A sale: [`DeputyTerminal::new_sale`] reserves the next counter **on flash first** (so a
//! nonce is never reused, also after a power cut), records the pending sale, and seals it; the
//! caller shows its link ([`NewSale::write_url`]). The customer pays with any LNURL wallet, which
//! decrypts the claim; the terminal checks it with [`DeputyTerminal::present_text`] (or
//! [`present_claim`](DeputyTerminal::present_claim) / [`present_code`](DeputyTerminal::present_code)):
//! the full claim (QR/NFC) or the 8-digit code (keypad; [`MAX_CODE_TRIES`] wrong codes lock that
//! sale out, counted on flash so a reboot does not reset them).
//!
//! This is the only device mode that holds a secret ([`TerminalKeys`]): extracting it lets an
//! attacker make this terminal accept forged claims (goods from this terminal), never take
//! money — the preimage key stays on the gateway. See `docs/deputy.md`.
//!
//! # Flash layout at `base` (NOR: bits only clear)
//!
//! ```text
//! header   32 bytes  "LNEDGEDP" ‖ version 1 ‖ device id (16) ‖ 0xFF…   (written at format)
//! counter  256 bytes thermometer: counter = number of cleared bits (bit 7 of byte 0 first)
//! slots    2048 × 24 bytes, slot k = sale counter k+1:
//!          counter u64 ‖ amount u64 ‖ currency (3) ‖ tries (thermometer) ‖ state ‖ marker ‖ 0xFF 0xFF
//!          marker 0x00 = fields complete; state 0xFF pending, 0x7F paid, 0x3F synced
//! ```

use embedded_storage::nor_flash::MultiwriteNorFlash;
use lnedge_proto::deputy::claim::MAX_CODE_TRIES;
use lnedge_proto::deputy::sale::SEALED_LEN;
use lnedge_proto::deputy::{
    claim_for, write_lud17, write_sale_url, Currency, DeputyClaim, DeputyError, Sale, ShortCode,
    TerminalKeys,
};
use lnedge_proto::envelope::{self, ndef, Envelope};
use lnedge_proto::DeviceId;

use crate::nor::{self, ProgramError};

const MAGIC: &[u8; 8] = b"LNEDGEDP";
const HEADER_LEN: u32 = 32;
const COUNTER_BYTES: u32 = 256;
/// Sales a formatted flash holds (one counter bit and one slot each).
pub const CAPACITY: u64 = (COUNTER_BYTES * 8) as u64;
const SLOT_LEN: u32 = 24;
const SLOTS_AT: u32 = HEADER_LEN + COUNTER_BYTES;
/// Bytes of flash a terminal uses from its base.
pub const FLASH_LEN: usize = (SLOTS_AT + SLOT_LEN * COUNTER_BYTES * 8) as usize;

const STATE_PENDING: u8 = 0xFF;
const STATE_PAID: u8 = 0x7F;
const STATE_SYNCED: u8 = 0x3F;

/// Why input is not a claim or a code.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum NotAClaim {
    /// A bare payment preimage: anyone on the route sees it, so it proves nothing here.
    #[error("a payment preimage proves nothing here (routing nodes see it); show the claim")]
    Preimage,
    /// Text that is neither a deputy claim nor 8 digits.
    #[error("neither a deputy claim nor an 8-digit code")]
    Unrecognised,
    /// Keypad input that is not 8 digits.
    #[error("expected 8 digits")]
    NotEightDigits,
    /// An NFC message that does not decode.
    #[error("NFC message: {0}")]
    Ndef(ndef::NdefError),
    /// An NFC message without a deputy claim.
    #[error("the NFC message carries no deputy claim")]
    NoDeputyClaim,
}

/// Errors of the terminal; `E` is the flash driver's error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum TerminalError<E: core::fmt::Debug> {
    /// The flash failed (or lost power): reopen the terminal.
    #[error("flash at offset {offset}: {cause:?}")]
    Flash {
        /// Flash offset.
        offset: u32,
        /// The driver's error.
        cause: E,
    },
    /// A write did not read back as written.
    #[error("flash at offset {offset}: wrote {expected:#04x}, read back {found:#04x}")]
    NotKept {
        /// Flash offset.
        offset: u32,
        /// The byte written.
        expected: u8,
        /// The byte read back.
        found: u8,
    },
    /// The flash holds another device's data or is not a deputy image.
    #[error("the flash is not a deputy image of device {0}")]
    WrongImage(DeviceId),
    /// Every counter of this flash is used: sync and erase (service).
    #[error("all {CAPACITY} sale counters of this flash are used")]
    Full,
    /// The sale is not valid (amount 0, bad currency…).
    #[error("{0}")]
    Sale(DeputyError),
    /// Input that is neither a claim nor an 8-digit code.
    #[error("not a claim or code: {0}")]
    NotAClaim(NotAClaim),
}

/// What presenting a claim did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Presented {
    /// The claim is genuine: the sale is paid (recorded on flash for sync). Deliver.
    Paid(Sale),
    /// The sale was already accepted before: do not deliver twice.
    AlreadyPaid(Sale),
    /// Wrong code; `tries_left` more before this sale locks.
    Wrong {
        /// The sale's counter.
        counter: u64,
        /// Tries left.
        tries_left: u8,
    },
    /// Too many wrong codes: this sale no longer accepts codes (a full claim still works).
    LockedOut {
        /// The sale's counter.
        counter: u64,
    },
    /// A full claim that does not verify (forged, or for another sale's amount).
    Forged {
        /// The counter it names.
        counter: u64,
    },
    /// A claim for another terminal.
    OtherTerminal(DeviceId),
    /// A claim naming a sale this terminal never made.
    UnknownSale(u64),
    /// A code was typed but no sale is pending.
    NoPendingSale,
}

/// A sale as recorded on flash.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SaleSlot {
    /// The sale.
    pub sale: Sale,
    /// Wrong codes typed so far.
    pub wrong_tries: u8,
    /// Paid (claim accepted).
    pub paid: bool,
    /// Acknowledged by the gateway.
    pub synced: bool,
}

/// A started sale: what to seal into the link.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NewSale {
    /// The sale (its counter is on flash).
    pub sale: Sale,
    /// The sealed sale payload the link carries.
    pub sealed: [u8; SEALED_LEN],
}

impl NewSale {
    /// Writes the sale's URL: the gateway's LUD-06 pay request for it. Show it as
    /// `LNURL1…` (`lnedge_proto::deputy::write_lnurl`, upper case: the QR code) and over NFC as
    /// [`write_sale_uri`].
    pub fn write_url(
        &self,
        gateway_url: &str,
        url: &mut impl core::fmt::Write,
    ) -> core::fmt::Result {
        write_sale_url(url, gateway_url, &self.sale.device_id, &self.sealed)
    }
}

/// The NFC URI and deep link of a sale URL: LUD-17 `lnurlp://…` where every wallet maps it
/// back (an `https` gateway, or `http` on `.onion`), else `lightning:LNURL1…`.
pub fn write_sale_uri(w: &mut impl core::fmt::Write, url: &str, lnurl: &str) -> core::fmt::Result {
    if envelope::lud17_round_trips(url) {
        write_lud17(w, url)
    } else {
        w.write_str("lightning:")?;
        w.write_str(lnurl)
    }
}

fn slot_offset(counter: u64) -> Option<u32> {
    let index = u32::try_from(counter.checked_sub(1)?).ok()?;
    SLOTS_AT.checked_add(index.checked_mul(SLOT_LEN)?)
}

/// A deputy point of sale on NOR flash at `base`.
pub struct DeputyTerminal<F> {
    keys: TerminalKeys,
    flash: F,
    base: u32,
    counter: u64,
}

impl<F> core::fmt::Debug for DeputyTerminal<F> {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.debug_struct("DeputyTerminal")
            .field("keys", &self.keys)
            .field("base", &self.base)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

impl<F: MultiwriteNorFlash> DeputyTerminal<F> {
    /// Opens the terminal at `base`, formatting an erased flash for `keys.device_id`.
    pub fn open(keys: TerminalKeys, flash: F, base: u32) -> Result<Self, TerminalError<F::Error>> {
        let fits =
            (base as usize).checked_add(FLASH_LEN).is_some_and(|end| end <= flash.capacity());
        if !fits || !nor::geometry_ok(F::READ_SIZE, F::WRITE_SIZE) {
            return Err(TerminalError::WrongImage(keys.device_id));
        }
        let mut header = [0xFFu8; HEADER_LEN as usize];
        header[..8].copy_from_slice(MAGIC);
        header[8] = 1;
        header[9..25].copy_from_slice(&keys.device_id.0);
        let mut t = DeputyTerminal { keys, flash, base, counter: 0 };
        let mut stored = [0u8; HEADER_LEN as usize];
        t.read(0, &mut stored)?;
        if stored.iter().all(|b| *b == 0xFF) {
            t.program(0, &header)?;
        } else if stored != header {
            return Err(TerminalError::WrongImage(t.keys.device_id));
        }
        let mut thermometer = [0u8; 32];
        for chunk in 0..COUNTER_BYTES / 32 {
            t.read(HEADER_LEN + chunk * 32, &mut thermometer)?;
            t.counter += thermometer.iter().map(|b| u64::from(b.count_zeros())).sum::<u64>();
        }
        Ok(t)
    }

    fn read(&mut self, at: u32, bytes: &mut [u8]) -> Result<(), TerminalError<F::Error>> {
        let offset = self.base + at;
        self.flash.read(offset, bytes).map_err(|cause| TerminalError::Flash { offset, cause })
    }

    fn read_byte(&mut self, at: u32) -> Result<u8, TerminalError<F::Error>> {
        let mut b = [0u8; 1];
        self.read(at, &mut b)?;
        Ok(b[0])
    }

    /// Programs `bytes` at `at`, one byte at a time, each read back.
    fn program(&mut self, at: u32, bytes: &[u8]) -> Result<(), TerminalError<F::Error>> {
        for (offset, &expected) in (self.base + at..).zip(bytes) {
            nor::program_verified(&mut self.flash, offset, expected).map_err(|e| match e {
                ProgramError::Flash(cause) => TerminalError::Flash { offset, cause },
                ProgramError::NotKept { found } => {
                    TerminalError::NotKept { offset, expected, found }
                }
            })?;
        }
        Ok(())
    }

    /// The device id.
    pub fn device_id(&self) -> DeviceId {
        self.keys.device_id
    }

    /// The last counter used (0: none yet).
    pub fn counter(&self) -> u64 {
        self.counter
    }

    /// The flash (tests: power cuts).
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// The flash, giving up the terminal (a reboot).
    pub fn into_flash(self) -> F {
        self.flash
    }

    /// Starts a sale: reserves the next counter on flash, records the pending sale, and seals
    /// it. Nothing is to be shown if this fails (a power cut burns at most a counter).
    pub fn new_sale(
        &mut self,
        amount: u64,
        currency: Currency,
    ) -> Result<NewSale, TerminalError<F::Error>> {
        let counter =
            self.counter.checked_add(1).filter(|c| *c <= CAPACITY).ok_or(TerminalError::Full)?;
        let sale = Sale { device_id: self.keys.device_id, counter, amount, currency };
        sale.validate().map_err(TerminalError::Sale)?;
        // 1. Reserve the counter: clear its bit (bit 7 of byte 0 is counter 1).
        let bit_index = u32::try_from(counter - 1).map_err(|_| TerminalError::Full)?;
        let at = HEADER_LEN + bit_index / 8;
        let old = self.read_byte(at)?;
        self.program(at, &[old & !(0x80u8 >> (bit_index % 8))])?;
        self.counter = counter;
        // 2. Record the pending sale, marker last.
        let offset = slot_offset(counter).ok_or(TerminalError::Full)?;
        let mut fields = [0u8; 19];
        fields[..8].copy_from_slice(&counter.to_be_bytes());
        fields[8..16].copy_from_slice(&amount.to_be_bytes());
        fields[16..19].copy_from_slice(&currency.0);
        self.program(offset, &fields)?;
        self.program(offset + 21, &[0x00])?;
        // 3. Seal.
        let sealed = sale.seal(&self.keys).map_err(TerminalError::Sale)?;
        Ok(NewSale { sale, sealed })
    }

    /// The sale recorded for `counter`, if its record is complete.
    pub fn slot(&mut self, counter: u64) -> Result<Option<SaleSlot>, TerminalError<F::Error>> {
        if counter == 0 || counter > self.counter {
            return Ok(None);
        }
        let Some(offset) = slot_offset(counter) else { return Ok(None) };
        let mut raw = [0u8; SLOT_LEN as usize];
        self.read(offset, &mut raw)?;
        if raw[21] != 0x00 {
            return Ok(None); // never completed (power cut while recording): never shown
        }
        let mut c = [0u8; 8];
        c.copy_from_slice(&raw[..8]);
        let mut a = [0u8; 8];
        a.copy_from_slice(&raw[8..16]);
        let sale = Sale {
            device_id: self.keys.device_id,
            counter: u64::from_be_bytes(c),
            amount: u64::from_be_bytes(a),
            currency: Currency([raw[16], raw[17], raw[18]]),
        };
        Ok(Some(SaleSlot {
            sale,
            wrong_tries: raw[19].count_zeros() as u8,
            paid: raw[20] != STATE_PENDING,
            synced: raw[20] == STATE_SYNCED,
        }))
    }

    /// The most recent sale with a complete record that is not paid.
    pub fn pending(&mut self) -> Result<Option<SaleSlot>, TerminalError<F::Error>> {
        let mut counter = self.counter;
        while counter > 0 {
            if let Some(slot) = self.slot(counter)? {
                return Ok((!slot.paid).then_some(slot));
            }
            counter -= 1;
        }
        Ok(None)
    }

    fn set_state(&mut self, counter: u64, state: u8) -> Result<(), TerminalError<F::Error>> {
        let offset = slot_offset(counter).ok_or(TerminalError::Full)? + 20;
        let old = self.read_byte(offset)?;
        self.program(offset, &[old & state])
    }

    fn accept(&mut self, slot: SaleSlot) -> Result<Presented, TerminalError<F::Error>> {
        if slot.paid {
            return Ok(Presented::AlreadyPaid(slot.sale));
        }
        self.set_state(slot.sale.counter, STATE_PAID)?;
        Ok(Presented::Paid(slot.sale))
    }

    /// Checks a full claim.
    pub fn present_claim(
        &mut self,
        claim: &DeputyClaim,
    ) -> Result<Presented, TerminalError<F::Error>> {
        if claim.device_id != self.keys.device_id {
            return Ok(Presented::OtherTerminal(claim.device_id));
        }
        let Some(slot) = self.slot(claim.counter)? else {
            return Ok(Presented::UnknownSale(claim.counter));
        };
        if !claim.verify(&self.keys, &slot.sale) {
            return Ok(Presented::Forged { counter: claim.counter });
        }
        self.accept(slot)
    }

    /// Checks a typed code against the pending sale: [`MAX_CODE_TRIES`] wrong codes lock it.
    pub fn present_code(&mut self, code: ShortCode) -> Result<Presented, TerminalError<F::Error>> {
        let Some(slot) = self.pending()? else { return Ok(Presented::NoPendingSale) };
        let counter = slot.sale.counter;
        if slot.wrong_tries >= MAX_CODE_TRIES {
            return Ok(Presented::LockedOut { counter });
        }
        let (_, want) = claim_for(&self.keys.claim_key, &slot.sale);
        if want.ct_eq(&code) {
            return self.accept(slot);
        }
        // Count the wrong try on flash before answering (a reboot must not reset it).
        let offset = slot_offset(counter).ok_or(TerminalError::Full)? + 19;
        let old = self.read_byte(offset)?;
        self.program(offset, &[old << 1])?; // one more cleared bit: 0xFF → 0xFE → 0xFC …
        let tries = slot.wrong_tries.saturating_add(1);
        if tries >= MAX_CODE_TRIES {
            Ok(Presented::LockedOut { counter })
        } else {
            Ok(Presented::Wrong { counter, tries_left: MAX_CODE_TRIES - tries })
        }
    }

    /// Checks scanned or typed text: the wallet's decrypted text (`"1234-5678 LNEDGE1…"`), the
    /// envelope alone, or the 8 digits.
    pub fn present_text(&mut self, text: &str) -> Result<Presented, TerminalError<F::Error>> {
        for token in text.split_whitespace() {
            if let Ok(Envelope::DeputyClaim(claim)) = envelope::decode_text(token) {
                return self.present_claim(&claim);
            }
        }
        let trimmed = text.trim();
        if trimmed.len() == 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(TerminalError::NotAClaim(NotAClaim::Preimage));
        }
        match ShortCode::parse(trimmed) {
            Some(code) => self.present_code(code),
            None => Err(TerminalError::NotAClaim(NotAClaim::Unrecognised)),
        }
    }

    /// Checks keypad digits.
    pub fn present_keypad(&mut self, digits: &str) -> Result<Presented, TerminalError<F::Error>> {
        match ShortCode::parse(digits) {
            Some(code) => self.present_code(code),
            None => Err(TerminalError::NotAClaim(NotAClaim::NotEightDigits)),
        }
    }

    /// Checks the bytes of an NFC NDEF message.
    pub fn present_ndef(&mut self, bytes: &[u8]) -> Result<Presented, TerminalError<F::Error>> {
        let message =
            ndef::decode(bytes).map_err(|e| TerminalError::NotAClaim(NotAClaim::Ndef(e)))?;
        match message.envelope {
            Some(Envelope::DeputyClaim(claim)) => self.present_claim(&claim),
            _ => Err(TerminalError::NotAClaim(NotAClaim::NoDeputyClaim)),
        }
    }

    /// The first paid sale the gateway has not acknowledged, from counter `from` on (to report
    /// at sync: call again with its counter + 1).
    pub fn next_unsynced_paid(
        &mut self,
        from: u64,
    ) -> Result<Option<Sale>, TerminalError<F::Error>> {
        for counter in from.max(1)..=self.counter {
            if let Some(slot) = self.slot(counter)? {
                if slot.paid && !slot.synced {
                    return Ok(Some(slot.sale));
                }
            }
        }
        Ok(None)
    }

    /// Records that the gateway acknowledged these sales.
    pub fn mark_synced(&mut self, counters: &[u64]) -> Result<(), TerminalError<F::Error>> {
        for &counter in counters {
            if self.slot(counter)?.is_some_and(|s| s.paid) {
                self.set_state(counter, STATE_SYNCED)?;
            }
        }
        Ok(())
    }
}
