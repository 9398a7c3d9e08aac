//! Devices that pay (issue #14): the operator's Bolt Cards and token-signing payer devices
//! spend from the owner's node, within limits the gateway keeps (`gateway.payers()`).
//!
//! ```text
//!  card tap  lnurlw://gw/v1/card?p=&c=  ──► tap::open   (SUN verified, counter stored) ─► k1
//!  wallet / PoS  callback?k1=&pr=[&pin=] ──► tap::callback ─┐
//!  merchant  POST /v1/pay/token {token, invoice} ──► token::pay ──┤
//!  merchant's node  peer message 45001 ──────────► token::pay ──┘
//!                                                         spend::reserve (one CAS: state,
//!                                                         counter, limits, PIN) → spend::pay_once
//!                                                         (recorded per payment hash, then paid)
//! ```
//!
//! - [`cards`]: issuing (a pending card and its programming link, or the programming JSON at
//!   once for a known UID), the Bolt Card programmer's deeplink flow, disable / enable / wipe.
//! - [`tap`]: a card's LNURL-withdraw (LUD-03) at a URL that names no card, and its callback.
//! - [`token`]: invoice-bound tokens (`lnedge_proto::payer`), by HTTP or by peer message.
//! - [`spend`]: the rules every payment passes.
//!
//! Keys: the Bolt Card issuer key, the PIN key and every device's token key derive from the
//! operator's device master key by purpose (`lnedge_wire::keys`, `lnedge_proto::payer`); no
//! card or device key is stored.

use std::sync::Arc;

use lnedge_node::lightning_invoice::Bolt11Invoice;
use lnedge_proto::DeviceId;

pub mod cards;
mod error;
#[cfg(feature = "sandbox")]
pub mod peer;
pub(crate) mod spend;
pub mod tap;
pub mod token;

pub use cards::{CardProgramming, IssueCard, IssuedCard, IssuedDevice, NewDevice, WipeKeys};
pub use error::PayerError;
pub use tap::OpenedTap;

use crate::engine::parts::Parts;
use crate::store::payers::{PayerPaymentRecord, PayerRecord};

/// The operator's settings for payers (`[payers]` in the configuration).
#[derive(Debug, Clone)]
pub struct PayerSettings {
    /// How long a tap's LNURL-withdraw session lasts, in seconds.
    pub tap_ttl_secs: u64,
    /// How long a card's programming link works, in seconds.
    pub program_ttl_secs: u64,
    /// Wrong PINs in a row before a card locks.
    pub pin_max_failures: u32,
    /// Routing fee allowed per payment: this base, in millisatoshis…
    pub max_fee_base_msat: u64,
    /// …plus this many millionths of the amount.
    pub max_fee_ppm: u64,
    /// How long to wait for a payment's outcome, in seconds (then it stays pending).
    pub pay_timeout_secs: u64,
    /// The latest expiry a token may carry, in seconds from now (a token valid for a year is
    /// refused: a lost device's tokens must die soon).
    pub token_max_lifetime_secs: u64,
    /// The per-payment limit of a new card or device, in millisatoshis.
    pub default_per_payment_msat: u64,
    /// The daily limit of a new card or device, in millisatoshis.
    pub default_per_day_msat: u64,
}

impl Default for PayerSettings {
    fn default() -> Self {
        PayerSettings {
            tap_ttl_secs: 300,
            program_ttl_secs: 86_400,
            pin_max_failures: 3,
            max_fee_base_msat: 1_000,
            max_fee_ppm: 10_000,
            pay_timeout_secs: 60,
            token_max_lifetime_secs: 86_400,
            default_per_payment_msat: 100_000_000,
            default_per_day_msat: 500_000_000,
        }
    }
}

impl PayerSettings {
    /// The routing fee allowed for a payment of `amount_msat`.
    pub fn max_fee_msat(&self, amount_msat: u64) -> u64 {
        let proportional = u128::from(amount_msat) * u128::from(self.max_fee_ppm) / 1_000_000;
        self.max_fee_base_msat.saturating_add(u64::try_from(proportional).unwrap_or(u64::MAX))
    }
}

/// The payers of a [`Gateway`](crate::engine::Gateway)
/// ([`Gateway::payers`](crate::engine::Gateway::payers)).
#[derive(Debug, Clone, Copy)]
pub struct Payers<'a> {
    pub(crate) gateway: &'a Arc<Parts>,
}

impl<'a> Payers<'a> {
    pub(crate) fn new(gateway: &'a Arc<Parts>) -> Self {
        Payers { gateway }
    }

    pub(crate) fn settings(&self) -> &PayerSettings {
        &self.gateway.settings().payers
    }

    /// Every card and payer device, oldest first.
    pub async fn list(&self) -> Result<Vec<PayerRecord>, PayerError> {
        Ok(self.gateway.store().payers().await?)
    }

    /// The payer `id`.
    pub async fn get(&self, id: DeviceId) -> Result<PayerRecord, PayerError> {
        self.gateway.store().payer(id).await?.ok_or_else(|| {
            PayerError::not_found("unknown_payer", format!("no card or payer device {id}"))
        })
    }

    /// Reads payer `id`, applies `change` (which may refuse) and writes the result by
    /// compare-and-set (the version is set here), reading again after a lost race. Answers the
    /// record as written.
    pub(crate) async fn update(
        &self,
        id: DeviceId,
        change: impl Fn(&PayerRecord) -> Result<PayerRecord, PayerError>,
    ) -> Result<PayerRecord, PayerError> {
        loop {
            let current = self.get(id).await?;
            let next =
                PayerRecord { version: current.version.saturating_add(1), ..change(&current)? };
            match self.gateway.store().put_payer(&next).await {
                Ok(()) => return Ok(next),
                Err(crate::store::StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        }
    }

    /// The payments of `payer` (everyone's with `None`), oldest first, the newest `limit`.
    pub async fn payments(
        &self,
        payer: Option<DeviceId>,
        limit: u32,
    ) -> Result<Vec<PayerPaymentRecord>, PayerError> {
        Ok(self.gateway.store().payer_payments(payer, limit).await?)
    }

    /// Settles the payments whose outcome was unknown when sent (see `spend::resolve_pending`);
    /// answers how many settled. Run by the gateway's housekeeping.
    pub async fn resolve_pending(&self) -> Result<u64, crate::store::StoreError> {
        spend::resolve_pending(self.gateway).await
    }

    /// Housekeeping: deletes tap sessions that expired over an hour ago; answers how many.
    pub async fn purge_taps(&self) -> Result<u64, crate::store::StoreError> {
        let before = self.gateway.now_secs().saturating_sub(3_600);
        self.gateway.store().purge_taps(before).await
    }
}

/// Parses a BOLT 11 invoice to be paid for a payer: it must ask a fixed amount and not be
/// expired at `now`. Answers the invoice and its amount.
pub(crate) fn payable_invoice(text: &str, now: u64) -> Result<(Bolt11Invoice, u64), PayerError> {
    let invoice = lnedge_node::parse_invoice(text)
        .map_err(|e| PayerError::invalid("invoice", e.to_string()))?;
    let amount_msat = invoice.amount_milli_satoshis().ok_or_else(|| {
        PayerError::invalid("invoice", "the invoice has no amount; a payer pays fixed amounts only")
    })?;
    if amount_msat == 0 {
        return Err(PayerError::invalid("invoice", "the invoice asks for 0 msat"));
    }
    let expires_at = invoice.expires_at().map_or(u64::MAX, |d| d.as_secs());
    if now >= expires_at {
        return Err(PayerError::refused("invoice_expired", "the invoice has expired"));
    }
    Ok((invoice, amount_msat))
}
