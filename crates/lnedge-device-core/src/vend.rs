//! The sale: which entry to offer, which entry a claim pays, and the sequence that runs the
//! motor.
//!
//! [`vend`] is the only place where a motor runs: the claim is programmed on flash and read
//! back **before** the dispenser is called, and the outcome is recorded after it. A power cut at
//! any point leaves either an unclaimed entry (the motor never ran: the customer presents the
//! payment again) or a claimed one that is reported as pending and never vended again.

use core::ops::Range;

use embedded_storage::nor_flash::MultiwriteNorFlash;
use lnedge_proto::envelope::Claim;
use lnedge_proto::pool::{payment_hash, Entry, Pool};
use lnedge_proto::{DeviceId, PoolId};

use crate::ledger::{FlashLedger, StoreError};

/// Why a sale was refused before anything was written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Refusal {
    /// The claim names another device.
    #[error("this payment is for machine {claim_device}, not this one ({this_device})")]
    ClaimForAnotherDevice {
        /// The device the claim names.
        claim_device: DeviceId,
        /// This device.
        this_device: DeviceId,
    },
    /// The claim names another pool of this device.
    #[error("this payment is for invoice pool {claim_pool}, which this machine does not hold (it holds {this_pool})")]
    ClaimForAnotherPool {
        /// The pool the claim names.
        claim_pool: PoolId,
        /// The pool this machine holds.
        this_pool: PoolId,
    },
    /// The preimage pays no invoice of this machine's pool.
    #[error("this preimage pays no invoice of this machine (pool {pool})")]
    UnknownPayment {
        /// The machine's pool.
        pool: PoolId,
    },
    /// The product is not sold here.
    #[error("product {0} is not sold by this machine")]
    UnknownProduct(u16),
    /// Every invoice of the product has been handed out.
    #[error("product {0} is sold out: the pool needs a top-up")]
    SoldOut(u16),
}

/// A refused sale or a ledger that could not record it.
#[derive(Debug, thiserror::Error)]
pub enum VendFailure<E: core::fmt::Debug> {
    /// Refused before anything was written.
    #[error(transparent)]
    Refused(Refusal),
    /// The ledger refused the transition (e.g. "already used") or its flash failed.
    #[error(transparent)]
    Store(StoreError<E>),
}

impl<E: core::fmt::Debug> From<Refusal> for VendFailure<E> {
    fn from(r: Refusal) -> Self {
        VendFailure::Refused(r)
    }
}

impl<E: core::fmt::Debug> From<StoreError<E>> for VendFailure<E> {
    fn from(e: StoreError<E>) -> Self {
        VendFailure::Store(e)
    }
}

/// What happened to a claim whose motor ran.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Vended<R> {
    /// The product was handed out (and `dispensed` is on flash).
    Dispensed {
        /// The pool entry.
        index: u32,
        /// The product.
        product: u16,
    },
    /// The dispenser failed (and `failed` is on flash): the customer is owed a refund.
    Failed {
        /// The pool entry.
        index: u32,
        /// The product.
        product: u16,
        /// What the dispenser said.
        reason: R,
    },
}

/// The pool entries of `product` (entries are stored product by product).
pub fn product_range(pool: &Pool<'_>, product: u16) -> Option<Range<u32>> {
    let mut start = 0u32;
    for p in pool.products() {
        let end = start.saturating_add(p.entry_count);
        if p.id == product {
            return Some(start..end);
        }
        start = end;
    }
    None
}

/// The entry a claim pays: the claim's context (if any) must name this device and pool, and
/// `SHA256(preimage)` must be the payment hash of an entry of the pool.
pub fn locate<'a>(
    pool: &Pool<'a>,
    this_device: DeviceId,
    claim: &Claim,
) -> Result<Entry<'a>, Refusal> {
    if let Some(ctx) = claim.context {
        // The claim says where it belongs: a precise answer for a wrong machine or pool.
        if ctx.device_id != this_device {
            return Err(Refusal::ClaimForAnotherDevice {
                claim_device: ctx.device_id,
                this_device,
            });
        }
        if ctx.pool_id != pool.pool_id() {
            return Err(Refusal::ClaimForAnotherPool {
                claim_pool: ctx.pool_id,
                this_pool: pool.pool_id(),
            });
        }
    }
    pool.find(&payment_hash(&claim.preimage))
        .ok_or(Refusal::UnknownPayment { pool: pool.pool_id() })
}

/// Picks a fresh entry of `product` and records it as offered. An entry once offered is never
/// offered again (a customer who walked away may still pay it and claim later).
pub fn offer<'a, F: MultiwriteNorFlash, S: AsRef<[u8]> + AsMut<[u8]>>(
    pool: &Pool<'a>,
    ledger: &mut FlashLedger<F, S>,
    product: u16,
) -> Result<Entry<'a>, VendFailure<F::Error>> {
    let range = product_range(pool, product).ok_or(Refusal::UnknownProduct(product))?;
    let index = ledger.next_unused(range).ok_or(Refusal::SoldOut(product))?;
    let entry = pool.entry(index as usize).ok_or(Refusal::SoldOut(product))?;
    ledger.offer(index)?;
    Ok(entry)
}

/// Vends the product of a located `entry`: claim on flash (read back), then `dispense`, then
/// the outcome on flash. A second claim of the same entry is refused by the ledger
/// ([`lnedge_proto::ledger::LedgerError::AlreadyClaimed`]) before the dispenser is called.
pub fn vend<F: MultiwriteNorFlash, S: AsRef<[u8]> + AsMut<[u8]>, R>(
    ledger: &mut FlashLedger<F, S>,
    entry: &Entry<'_>,
    dispense: impl FnOnce(u16) -> Result<(), R>,
) -> Result<Vended<R>, StoreError<F::Error>> {
    let index = entry.index() as u32;
    let product = entry.product();
    ledger.claim(index)?;
    match dispense(product) {
        Ok(()) => {
            ledger.dispensed(index)?;
            Ok(Vended::Dispensed { index, product })
        }
        Err(reason) => {
            ledger.failed(index)?;
            Ok(Vended::Failed { index, product, reason })
        }
    }
}
