//! The payer device (issue #14, item 4): a device with no connection of its own (a car's unit, a
//! sensor, an offline phone) pays a merchant's invoice by handing over an invoice-bound token
//! ([`lnedge_proto::payer`]); the merchant's point of sale passes token + invoice to the
//! device's gateway, which checks and pays.
//!
//! What the device itself guarantees, on flash:
//! - **The counter is on flash before the token leaves.** A token's counter bit is cleared (and
//!   read back) before the token is signed; a power cut burns at most one counter, never
//!   reuses one, so the gateway's "strictly increasing" rule never refuses an honest token.
//! - **A local budget.** Per payment and in total since provisioning; every token issued counts
//!   as spent (the device cannot know offline whether the merchant used it), so the device can
//!   never authorize more than its budget, whatever the merchants do.
//! - **Receipts.** The payment's preimage, handed back by the merchant, is checked against the
//!   token's payment hash and recorded: the device knows which tokens were paid.
//!
//! Flash layout (bits only go from 1 to 0, as NOR flash allows):
//! ```text
//! 0      header: "LNEDGEPY" ‖ version 1 ‖ device id (16)          (25 bytes, then 0xFF to 32)
//! 32     counter bitmap: bit i (MSB first) cleared = counter i+1 used   (64 bytes: 512 tokens)
//! 96     slot per counter (48 bytes): amount msat (u64) ‖ payment hash (32) ‖ issued (0x00)
//!        ‖ paid (0x00) ‖ 6 × 0xFF
//! ```

use lnedge_proto::payer::{Authorization, PayerKey, PayerToken};
use lnedge_proto::proof::preimage_matches;
use lnedge_proto::DeviceId;

use crate::flash::{program_all, Flash, FlashError};

const MAGIC: &[u8; 8] = b"LNEDGEPY";
const HEADER_LEN: usize = 25;
const BITMAP_AT: usize = 32;
const BITMAP_LEN: usize = 64;
const SLOTS_AT: usize = BITMAP_AT + BITMAP_LEN;
const SLOT_LEN: usize = 48;
/// Tokens a flash image holds.
pub const CAPACITY: u32 = (BITMAP_LEN * 8) as u32;
/// Bytes of flash a payer device needs.
pub const FLASH_LEN: usize = SLOTS_AT + CAPACITY as usize * SLOT_LEN;

/// The device's spending limits, set when it is provisioned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PayerLimits {
    /// The most one token may authorize.
    pub max_per_payment_msat: u64,
    /// The most all tokens together may authorize over the image's life.
    pub budget_msat: u64,
}

/// Why the device refused, or failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayerDeviceError {
    /// The flash holds another device's image, or is too small.
    #[error("the flash does not hold payer device {0}'s image")]
    WrongImage(DeviceId),
    /// Every counter of the image is used.
    #[error("all {CAPACITY} tokens of this image are used: re-provision the device")]
    Full,
    /// The amount is zero or above the per-payment limit.
    #[error("{amount_msat} msat is not between 1 and the per-payment limit of {limit_msat} msat")]
    OverPaymentLimit {
        /// Asked.
        amount_msat: u64,
        /// The limit.
        limit_msat: u64,
    },
    /// The amount would take the device over its budget.
    #[error("{amount_msat} msat would exceed the budget: {left_msat} msat left")]
    OverBudget {
        /// Asked.
        amount_msat: u64,
        /// What is left.
        left_msat: u64,
    },
    /// No token was issued with this counter.
    #[error("no token was issued with counter {0}")]
    UnknownToken(u32),
    /// The preimage does not hash to the token's payment hash.
    #[error("the preimage does not match token {0}'s payment hash")]
    WrongPreimage(u32),
    /// The flash failed (a power cut included).
    #[error(transparent)]
    Flash(#[from] FlashError),
}

/// A token as the device's flash remembers it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IssuedToken {
    /// Its counter.
    pub counter: u32,
    /// Its amount.
    pub amount_msat: u64,
    /// The invoice's payment hash it authorizes.
    pub payment_hash: [u8; 32],
    /// Whether a valid receipt (the preimage) was recorded.
    pub paid: bool,
}

/// A payer device on its flash.
pub struct PayerDevice<F: Flash> {
    device_id: DeviceId,
    key: PayerKey,
    limits: PayerLimits,
    flash: F,
    counter: u32,
}

impl<F: Flash> std::fmt::Debug for PayerDevice<F> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayerDevice")
            .field("device_id", &self.device_id)
            .field("limits", &self.limits)
            .field("counter", &self.counter)
            .finish_non_exhaustive()
    }
}

fn slot_at(counter: u32) -> usize {
    SLOTS_AT + (counter as usize - 1) * SLOT_LEN
}

impl<F: Flash> PayerDevice<F> {
    /// Opens the device on `flash`, formatting an erased flash for `device_id`.
    pub fn open(
        device_id: DeviceId,
        key: PayerKey,
        limits: PayerLimits,
        mut flash: F,
    ) -> Result<Self, PayerDeviceError> {
        if flash.len() < FLASH_LEN {
            return Err(PayerDeviceError::WrongImage(device_id));
        }
        let mut header = [0u8; HEADER_LEN];
        header[..8].copy_from_slice(MAGIC);
        header[8] = 1;
        header[9..].copy_from_slice(&device_id.0);
        let bytes = flash.read_all()?;
        let stored = &bytes[..HEADER_LEN];
        if stored.iter().all(|b| *b == 0xFF) {
            program_all(&mut flash, 0, &header)?;
        } else if stored != header {
            return Err(PayerDeviceError::WrongImage(device_id));
        }
        let used: u32 = bytes[BITMAP_AT..SLOTS_AT].iter().map(|b| b.count_zeros()).sum();
        Ok(PayerDevice { device_id, key, limits, flash, counter: used })
    }

    /// The device id.
    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }

    /// The last counter used (0: none yet).
    pub fn counter(&self) -> u32 {
        self.counter
    }

    /// The flash, giving up the device (a reboot; tests cut the power on it).
    pub fn into_flash(self) -> F {
        self.flash
    }

    /// The flash (tests: power cuts).
    pub fn flash_mut(&mut self) -> &mut F {
        &mut self.flash
    }

    /// Every token issued, in counter order (a burnt counter, whose slot a power cut left
    /// incomplete, is not listed: it authorized nothing).
    pub fn tokens(&mut self) -> Result<Vec<IssuedToken>, PayerDeviceError> {
        let bytes = self.flash.read_all()?;
        let mut out = Vec::new();
        for counter in 1..=self.counter {
            let at = slot_at(counter);
            let slot = &bytes[at..at + SLOT_LEN];
            if slot[40] != 0x00 {
                continue;
            }
            let mut amount = [0u8; 8];
            amount.copy_from_slice(&slot[..8]);
            let mut payment_hash = [0u8; 32];
            payment_hash.copy_from_slice(&slot[8..40]);
            out.push(IssuedToken {
                counter,
                amount_msat: u64::from_be_bytes(amount),
                payment_hash,
                paid: slot[41] == 0x00,
            });
        }
        Ok(out)
    }

    /// What all issued tokens authorize together (each counts as spent).
    pub fn spent_msat(&mut self) -> Result<u64, PayerDeviceError> {
        Ok(self.tokens()?.iter().map(|t| t.amount_msat).fold(0, u64::saturating_add))
    }

    /// Authorizes one payment: `amount_msat` to `payee` for the invoice with `payment_hash`,
    /// valid until `expires_at`. Checks the limits, reserves the next counter on flash, records
    /// the token's slot, and only then signs. Nothing leaves the device if a write fails.
    pub fn authorize(
        &mut self,
        payment_hash: [u8; 32],
        amount_msat: u64,
        payee: [u8; 33],
        expires_at: u64,
    ) -> Result<PayerToken, PayerDeviceError> {
        let limit = self.limits.max_per_payment_msat;
        if amount_msat == 0 || amount_msat > limit {
            return Err(PayerDeviceError::OverPaymentLimit { amount_msat, limit_msat: limit });
        }
        let left = self.limits.budget_msat.saturating_sub(self.spent_msat()?);
        if amount_msat > left {
            return Err(PayerDeviceError::OverBudget { amount_msat, left_msat: left });
        }
        let counter =
            self.counter.checked_add(1).filter(|c| *c <= CAPACITY).ok_or(PayerDeviceError::Full)?;
        // 1. The counter, read back, before anything else.
        let bit = (counter - 1) as usize;
        let at = BITMAP_AT + bit / 8;
        let old = self.flash.read_byte(at)?;
        program_all(&mut self.flash, at, &[old & !(0x80u8 >> (bit % 8))])?;
        self.counter = counter;
        // 2. The slot: fields, then the issued marker.
        let slot = slot_at(counter);
        let mut fields = [0u8; 40];
        fields[..8].copy_from_slice(&amount_msat.to_be_bytes());
        fields[8..].copy_from_slice(&payment_hash);
        program_all(&mut self.flash, slot, &fields)?;
        program_all(&mut self.flash, slot + 40, &[0x00])?;
        // 3. Only now the token.
        let authorization = Authorization {
            device_id: self.device_id,
            counter,
            payment_hash,
            amount_msat,
            payee,
            expires_at,
        };
        Ok(authorization.sign(&self.key))
    }

    /// Records the receipt of token `counter`: its payment's `preimage`, checked against the
    /// token's payment hash. Recording it twice is harmless.
    pub fn receipt(&mut self, counter: u32, preimage: &[u8; 32]) -> Result<(), PayerDeviceError> {
        let token = self
            .tokens()?
            .into_iter()
            .find(|t| t.counter == counter)
            .ok_or(PayerDeviceError::UnknownToken(counter))?;
        if !preimage_matches(preimage, &token.payment_hash) {
            return Err(PayerDeviceError::WrongPreimage(counter));
        }
        if !token.paid {
            program_all(&mut self.flash, slot_at(counter) + 41, &[0x00])?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
