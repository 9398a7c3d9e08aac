//! [`DeputyTerminal`]: a point of sale with no connection that sells any amount (PROTOCOLS.md
//! §2, D1).
//!
//! A sale: [`new_sale`](DeputyTerminal::new_sale) reserves the next counter **on flash first**
//! (so a nonce is never reused, also after a power cut), records the pending sale, seals it and
//! returns its LNURL. The customer pays with any LNURL wallet, which decrypts the claim; the
//! terminal checks it with [`present`](DeputyTerminal::present): the full claim (QR/NFC) or the
//! 8-digit code (keypad; [`MAX_CODE_TRIES`] wrong codes lock that sale out, counted on flash so
//! a reboot does not reset them). Paid sales stay on flash until the gateway acknowledges them
//! at sync ([`unsynced_paid`](DeputyTerminal::unsynced_paid),
//! [`mark_synced`](DeputyTerminal::mark_synced)).
//!
//! This is the only lnedge device mode that holds a secret ([`TerminalKeys`]): extracting it
//! lets an attacker make this terminal accept forged claims (goods from this terminal), never
//! take money — the preimage key stays on the gateway. See `docs/deputy.md`.
//!
//! # Flash layout (NOR: bits only clear)
//!
//! ```text
//! header   32 bytes  "LNEDGEDP" ‖ version 1 ‖ device id (16) ‖ 0xFF…   (written at format)
//! counter  256 bytes thermometer: counter = number of cleared bits (bit 7 of byte 0 first)
//! slots    2048 × 24 bytes, slot k = sale counter k+1:
//!          counter u64 ‖ amount u64 ‖ currency (3) ‖ tries (thermometer) ‖ state ‖ marker ‖ 0xFF 0xFF
//!          marker 0x00 = fields complete; state 0xFF pending, 0x7F paid, 0x3F synced
//! ```

use lnedge_proto::deputy::claim::MAX_CODE_TRIES;
use lnedge_proto::deputy::{
    claim_for, write_lnurl, write_lud17, write_sale_url, Currency, DeputyClaim, DeputyError, Sale,
    ShortCode, TerminalKeys, UrlBuf,
};
use lnedge_proto::envelope::{self, ndef, Envelope};
use lnedge_proto::DeviceId;

use crate::claim::ClaimInput;
use crate::flash::{program_all, Flash, FlashError};

#[cfg(test)]
#[path = "deputy_tests.rs"]
mod tests;

const MAGIC: &[u8; 8] = b"LNEDGEDP";
const HEADER_LEN: usize = 32;
const COUNTER_BYTES: usize = 256;
/// Sales a formatted flash holds (one counter bit and one slot each).
pub const CAPACITY: u64 = (COUNTER_BYTES * 8) as u64;
const SLOT_LEN: usize = 24;
const SLOTS_AT: usize = HEADER_LEN + COUNTER_BYTES;
/// Size of a deputy flash image.
pub const FLASH_LEN: usize = SLOTS_AT + SLOT_LEN * COUNTER_BYTES * 8;

const STATE_PENDING: u8 = 0xFF;
const STATE_PAID: u8 = 0x7F;
const STATE_SYNCED: u8 = 0x3F;

/// Errors of the terminal.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DeputyTerminalError {
    /// The flash failed (or lost power): reopen the terminal.
    #[error("flash: {0}")]
    Flash(#[from] FlashError),
    /// The flash holds another device's data or is not a deputy image.
    #[error("the flash is not a deputy image of device {0}")]
    WrongImage(DeviceId),
    /// Every counter of this flash is used: sync and erase (service).
    #[error("all {CAPACITY} sale counters of this flash are used")]
    Full,
    /// The sale is not valid (amount 0, bad currency…).
    #[error("{0}")]
    Sale(DeputyError),
    /// The gateway URL does not fit the display buffer.
    #[error("the gateway URL is too long for a sale link")]
    UrlTooLong,
    /// Input that is neither a claim nor an 8-digit code.
    #[error("not a claim or code: {0}")]
    NotAClaim(String),
}

/// A sale shown to the customer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShownSale {
    /// The sale.
    pub sale: Sale,
    /// The URL the LNURL encodes.
    pub url: String,
    /// LUD-01 `LNURL1…` (upper case: the QR code).
    pub lnurl: String,
    /// The NFC URI record and deep link: LUD-17 `lnurlp://…` where it round-trips for every
    /// wallet (an `https` gateway, or `http` on `.onion`), else `lightning:LNURL1…`.
    pub lud17: String,
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

/// A deputy point of sale on a [`Flash`].
pub struct DeputyTerminal<F: Flash> {
    keys: TerminalKeys,
    gateway_url: String,
    flash: F,
    counter: u64,
}

impl<F: Flash> std::fmt::Debug for DeputyTerminal<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeputyTerminal")
            .field("keys", &self.keys)
            .field("gateway_url", &self.gateway_url)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

fn slot_offset(counter: u64) -> Option<usize> {
    let index = usize::try_from(counter.checked_sub(1)?).ok()?;
    SLOTS_AT.checked_add(index.checked_mul(SLOT_LEN)?)
}

impl<F: Flash> DeputyTerminal<F> {
    /// Opens the terminal on `flash`, formatting an erased flash for `keys.device_id`.
    pub fn open(
        keys: TerminalKeys,
        gateway_url: impl Into<String>,
        mut flash: F,
    ) -> Result<Self, DeputyTerminalError> {
        if flash.len() < FLASH_LEN {
            return Err(DeputyTerminalError::WrongImage(keys.device_id));
        }
        let mut header = [0xFFu8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8] = 1;
        header[9..25].copy_from_slice(&keys.device_id.0);
        let bytes = flash.read_all()?;
        let stored = &bytes[..HEADER_LEN];
        if stored.iter().all(|b| *b == 0xFF) {
            program_all(&mut flash, 0, &header)?;
        } else if stored != header {
            return Err(DeputyTerminalError::WrongImage(keys.device_id));
        }
        let counter = bytes[HEADER_LEN..SLOTS_AT].iter().map(|b| u64::from(b.count_zeros())).sum();
        Ok(DeputyTerminal { keys, gateway_url: gateway_url.into(), flash, counter })
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

    /// Starts a sale: reserves the next counter on flash, records the pending sale, and returns
    /// the link to show. Nothing is shown if any write fails (a power cut burns at most a counter).
    pub fn new_sale(
        &mut self,
        amount: u64,
        currency: Currency,
    ) -> Result<ShownSale, DeputyTerminalError> {
        let counter = self
            .counter
            .checked_add(1)
            .filter(|c| *c <= CAPACITY)
            .ok_or(DeputyTerminalError::Full)?;
        let sale = Sale { device_id: self.keys.device_id, counter, amount, currency };
        sale.validate().map_err(DeputyTerminalError::Sale)?;
        // 1. Reserve the counter: clear its bit (bit 7 of byte 0 is counter 1).
        let bit_index = usize::try_from(counter - 1).map_err(|_| DeputyTerminalError::Full)?;
        let at = HEADER_LEN + bit_index / 8;
        let old = self.flash.read_byte(at)?;
        let new = old & !(0x80u8 >> (bit_index % 8));
        program_all(&mut self.flash, at, &[new])?;
        self.counter = counter;
        // 2. Record the pending sale, marker last.
        let offset = slot_offset(counter).ok_or(DeputyTerminalError::Full)?;
        let mut fields = [0u8; 19];
        fields[..8].copy_from_slice(&counter.to_be_bytes());
        fields[8..16].copy_from_slice(&amount.to_be_bytes());
        fields[16..19].copy_from_slice(&currency.0);
        program_all(&mut self.flash, offset, &fields)?;
        program_all(&mut self.flash, offset + 21, &[0x00])?;
        // 3. Seal and build the link.
        let sealed = sale.seal(&self.keys).map_err(DeputyTerminalError::Sale)?;
        let mut url = UrlBuf::<512>::default();
        write_sale_url(&mut url, &self.gateway_url, &sale.device_id, &sealed)
            .map_err(|_| DeputyTerminalError::UrlTooLong)?;
        let mut lnurl = UrlBuf::<1024>::default();
        write_lnurl(&mut lnurl, url.as_str()).map_err(|_| DeputyTerminalError::UrlTooLong)?;
        // LUD-17 only where every wallet maps it back; else the LNURL itself as a URI.
        let mut lud17 = UrlBuf::<1024>::default();
        if lnedge_proto::envelope::lud17_round_trips(url.as_str()) {
            write_lud17(&mut lud17, url.as_str())
        } else {
            core::fmt::Write::write_fmt(&mut lud17, format_args!("lightning:{}", lnurl.as_str()))
        }
        .map_err(|_| DeputyTerminalError::UrlTooLong)?;
        Ok(ShownSale {
            sale,
            url: url.as_str().to_owned(),
            lnurl: lnurl.as_str().to_owned(),
            lud17: lud17.as_str().to_owned(),
        })
    }

    /// The sale recorded for `counter`, if its record is complete.
    pub fn slot(&mut self, counter: u64) -> Result<Option<SaleSlot>, DeputyTerminalError> {
        if counter == 0 || counter > self.counter {
            return Ok(None);
        }
        let Some(offset) = slot_offset(counter) else { return Ok(None) };
        let mut raw = [0u8; SLOT_LEN];
        for (i, b) in raw.iter_mut().enumerate() {
            *b = self.flash.read_byte(offset + i)?;
        }
        if raw[21] != 0x00 {
            return Ok(None); // never completed (power cut while recording): never shown
        }
        let mut c = [0u8; 8];
        c.copy_from_slice(&raw[..8]);
        let mut a = [0u8; 8];
        a.copy_from_slice(&raw[8..16]);
        let currency = Currency([raw[16], raw[17], raw[18]]);
        let sale = Sale {
            device_id: self.keys.device_id,
            counter: u64::from_be_bytes(c),
            amount: u64::from_be_bytes(a),
            currency,
        };
        Ok(Some(SaleSlot {
            sale,
            wrong_tries: raw[19].count_zeros() as u8,
            paid: raw[20] != STATE_PENDING,
            synced: raw[20] == STATE_SYNCED,
        }))
    }

    /// The most recent sale with a complete record that is not paid.
    pub fn pending(&mut self) -> Result<Option<SaleSlot>, DeputyTerminalError> {
        let mut counter = self.counter;
        while counter > 0 {
            if let Some(slot) = self.slot(counter)? {
                return Ok((!slot.paid).then_some(slot));
            }
            counter -= 1;
        }
        Ok(None)
    }

    fn set_state(&mut self, counter: u64, state: u8) -> Result<(), DeputyTerminalError> {
        let offset = slot_offset(counter).ok_or(DeputyTerminalError::Full)? + 20;
        let old = self.flash.read_byte(offset)?;
        program_all(&mut self.flash, offset, &[old & state])?;
        Ok(())
    }

    fn accept(&mut self, slot: SaleSlot) -> Result<Presented, DeputyTerminalError> {
        if slot.paid {
            return Ok(Presented::AlreadyPaid(slot.sale));
        }
        self.set_state(slot.sale.counter, STATE_PAID)?;
        Ok(Presented::Paid(slot.sale))
    }

    /// Checks a full claim.
    pub fn present_claim(&mut self, claim: &DeputyClaim) -> Result<Presented, DeputyTerminalError> {
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
    pub fn present_code(&mut self, code: ShortCode) -> Result<Presented, DeputyTerminalError> {
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
        let offset = slot_offset(counter).ok_or(DeputyTerminalError::Full)? + 19;
        let old = self.flash.read_byte(offset)?;
        let new = old << 1; // one more cleared bit: 0xFF → 0xFE → 0xFC …
        program_all(&mut self.flash, offset, &[new])?;
        let tries = slot.wrong_tries.saturating_add(1);
        if tries >= MAX_CODE_TRIES {
            Ok(Presented::LockedOut { counter })
        } else {
            Ok(Presented::Wrong { counter, tries_left: MAX_CODE_TRIES - tries })
        }
    }

    /// Checks what a customer presents: QR text (the wallet's decrypted text `"1234-5678
    /// LNEDGE1…"`, the envelope alone, or the 8 digits), keypad digits, or an NFC message.
    pub fn present(&mut self, input: ClaimInput<'_>) -> Result<Presented, DeputyTerminalError> {
        match input {
            ClaimInput::Text(text) => {
                for token in text.split_whitespace() {
                    if let Ok(Envelope::DeputyClaim(claim)) = envelope::decode_text(token) {
                        return self.present_claim(&claim);
                    }
                }
                let trimmed = text.trim();
                if trimmed.len() == 64 && trimmed.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(DeputyTerminalError::NotAClaim(
                        "a payment preimage proves nothing here (routing nodes see it); show the claim".into(),
                    ));
                }
                match ShortCode::parse(trimmed) {
                    Some(code) => self.present_code(code),
                    None => Err(DeputyTerminalError::NotAClaim(trimmed.chars().take(40).collect())),
                }
            }
            ClaimInput::Keypad(digits) => match ShortCode::parse(digits) {
                Some(code) => self.present_code(code),
                None => Err(DeputyTerminalError::NotAClaim("expected 8 digits".into())),
            },
            ClaimInput::Ndef(bytes) => {
                let message = ndef::decode(bytes)
                    .map_err(|e| DeputyTerminalError::NotAClaim(format!("NFC message: {e}")))?;
                match message.envelope {
                    Some(Envelope::DeputyClaim(claim)) => self.present_claim(&claim),
                    _ => Err(DeputyTerminalError::NotAClaim(
                        "the NFC message carries no deputy claim".into(),
                    )),
                }
            }
        }
    }

    /// Paid sales the gateway has not acknowledged yet (to report at sync).
    pub fn unsynced_paid(&mut self) -> Result<Vec<Sale>, DeputyTerminalError> {
        let mut out = Vec::new();
        for counter in 1..=self.counter {
            if let Some(slot) = self.slot(counter)? {
                if slot.paid && !slot.synced {
                    out.push(slot.sale);
                }
            }
        }
        Ok(out)
    }

    /// Records that the gateway acknowledged these sales.
    pub fn mark_synced(&mut self, counters: &[u64]) -> Result<(), DeputyTerminalError> {
        for &counter in counters {
            if self.slot(counter)?.is_some_and(|s| s.paid) {
                self.set_state(counter, STATE_SYNCED)?;
            }
        }
        Ok(())
    }
}
