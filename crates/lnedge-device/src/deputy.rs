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
//! The terminal's rules and its flash layout are `lnedge_device_core::deputy`, the same code the
//! firmware runs; this type adds the gateway URL, owned links and std errors.
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

use lnedge_device_core::deputy::{self as core_deputy, NotAClaim, TerminalError};
pub use lnedge_device_core::deputy::{Presented, SaleSlot, CAPACITY, FLASH_LEN};
use lnedge_proto::deputy::{
    write_lnurl, Currency, DeputyClaim, DeputyError, Sale, ShortCode, TerminalKeys, UrlBuf,
};
use lnedge_proto::DeviceId;

use crate::claim::ClaimInput;
use crate::flash::{Flash, FlashError, Nor, NorError};

#[cfg(test)]
#[path = "deputy_tests.rs"]
mod tests;

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

impl From<TerminalError<NorError>> for DeputyTerminalError {
    fn from(e: TerminalError<NorError>) -> Self {
        match e {
            TerminalError::Flash { cause, .. } => DeputyTerminalError::Flash(cause.0),
            TerminalError::NotKept { offset, .. } => {
                DeputyTerminalError::Flash(FlashError::OutOfRange {
                    offset: offset as usize,
                    len: FLASH_LEN,
                })
            }
            TerminalError::WrongImage(device) => DeputyTerminalError::WrongImage(device),
            TerminalError::Full => DeputyTerminalError::Full,
            TerminalError::Sale(e) => DeputyTerminalError::Sale(e),
            TerminalError::NotAClaim(why) => DeputyTerminalError::NotAClaim(why.to_string()),
            other => DeputyTerminalError::NotAClaim(other.to_string()),
        }
    }
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

/// A deputy point of sale on a [`Flash`].
pub struct DeputyTerminal<F: Flash> {
    inner: core_deputy::DeputyTerminal<Nor<F>>,
    gateway_url: String,
}

impl<F: Flash> std::fmt::Debug for DeputyTerminal<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeputyTerminal")
            .field("inner", &self.inner)
            .field("gateway_url", &self.gateway_url)
            .finish()
    }
}

impl<F: Flash> DeputyTerminal<F> {
    /// Opens the terminal on `flash`, formatting an erased flash for `keys.device_id`.
    pub fn open(
        keys: TerminalKeys,
        gateway_url: impl Into<String>,
        flash: F,
    ) -> Result<Self, DeputyTerminalError> {
        let inner = core_deputy::DeputyTerminal::open(keys, Nor(flash), 0)?;
        Ok(DeputyTerminal { inner, gateway_url: gateway_url.into() })
    }

    /// The device id.
    pub fn device_id(&self) -> DeviceId {
        self.inner.device_id()
    }

    /// The last counter used (0: none yet).
    pub fn counter(&self) -> u64 {
        self.inner.counter()
    }

    /// The flash (tests: power cuts).
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.inner.flash_mut().0
    }

    /// The flash, giving up the terminal (a reboot).
    pub fn into_flash(self) -> F {
        self.inner.into_flash().0
    }

    /// Starts a sale: reserves the next counter on flash, records the pending sale, and returns
    /// the link to show. Nothing is shown if any write fails (a power cut burns at most a counter).
    pub fn new_sale(
        &mut self,
        amount: u64,
        currency: Currency,
    ) -> Result<ShownSale, DeputyTerminalError> {
        let new = self.inner.new_sale(amount, currency)?;
        let mut url = UrlBuf::<512>::default();
        new.write_url(&self.gateway_url, &mut url).map_err(|_| DeputyTerminalError::UrlTooLong)?;
        let mut lnurl = UrlBuf::<1024>::default();
        write_lnurl(&mut lnurl, url.as_str()).map_err(|_| DeputyTerminalError::UrlTooLong)?;
        let mut lud17 = UrlBuf::<1024>::default();
        core_deputy::write_sale_uri(&mut lud17, url.as_str(), lnurl.as_str())
            .map_err(|_| DeputyTerminalError::UrlTooLong)?;
        Ok(ShownSale {
            sale: new.sale,
            url: url.as_str().to_owned(),
            lnurl: lnurl.as_str().to_owned(),
            lud17: lud17.as_str().to_owned(),
        })
    }

    /// The sale recorded for `counter`, if its record is complete.
    pub fn slot(&mut self, counter: u64) -> Result<Option<SaleSlot>, DeputyTerminalError> {
        Ok(self.inner.slot(counter)?)
    }

    /// The most recent sale with a complete record that is not paid.
    pub fn pending(&mut self) -> Result<Option<SaleSlot>, DeputyTerminalError> {
        Ok(self.inner.pending()?)
    }

    /// Checks a full claim.
    pub fn present_claim(&mut self, claim: &DeputyClaim) -> Result<Presented, DeputyTerminalError> {
        Ok(self.inner.present_claim(claim)?)
    }

    /// Checks a typed code against the pending sale: `MAX_CODE_TRIES` wrong codes lock it.
    pub fn present_code(&mut self, code: ShortCode) -> Result<Presented, DeputyTerminalError> {
        Ok(self.inner.present_code(code)?)
    }

    /// Checks what a customer presents: QR text (the wallet's decrypted text `"1234-5678
    /// LNEDGE1…"`, the envelope alone, or the 8 digits), keypad digits, or an NFC message.
    pub fn present(&mut self, input: ClaimInput<'_>) -> Result<Presented, DeputyTerminalError> {
        let presented = match input {
            ClaimInput::Text(text) => match self.inner.present_text(text) {
                // Echo what was not understood (bounded), so the clerk sees what was scanned.
                Err(TerminalError::NotAClaim(NotAClaim::Unrecognised)) => {
                    return Err(DeputyTerminalError::NotAClaim(
                        text.trim().chars().take(40).collect(),
                    ))
                }
                other => other,
            },
            ClaimInput::Keypad(digits) => self.inner.present_keypad(digits),
            ClaimInput::Ndef(bytes) => self.inner.present_ndef(bytes),
        };
        Ok(presented?)
    }

    /// Paid sales the gateway has not acknowledged yet (to report at sync).
    pub fn unsynced_paid(&mut self) -> Result<Vec<Sale>, DeputyTerminalError> {
        let mut out = Vec::new();
        let mut from = 1;
        while let Some(sale) = self.inner.next_unsynced_paid(from)? {
            from = sale.counter + 1;
            out.push(sale);
        }
        Ok(out)
    }

    /// Records that the gateway acknowledged these sales.
    pub fn mark_synced(&mut self, counters: &[u64]) -> Result<(), DeputyTerminalError> {
        Ok(self.inner.mark_synced(counters)?)
    }
}
