//! A card tap: the Bolt Card's LNURL-withdraw (LUD-03, `lnurlw://` per LUD-17).
//!
//! The card's URL names no card (`lnurlw://gw/v1/card?p=…&c=…`): `p` is decrypted with K1,
//! which every card of the issuer shares, the UID inside finds the card, its K2 checks `c`, and
//! the counter must be above the card's last one — stored before the answer leaves, so the same
//! reading never opens a second session. The session's random `k1` is single-use and short-lived;
//! only its hash is stored.

use lnedge_proto::boltcard;
use sha2::{Digest, Sha256};

use super::spend::{self, Spend};
use super::{payable_invoice, PayerError, Payers};
use crate::store::payers::{PayerKind, PayerPaymentRecord, PayerRecord, TapRecord};
use crate::store::StoreError;

/// The least a card pays (1 sat): LUD-03's `minWithdrawable`.
pub const MIN_WITHDRAWABLE_MSAT: u64 = 1_000;

/// A valid tap: the LNURL-withdraw session it opened.
#[derive(Debug, Clone)]
pub struct OpenedTap {
    /// The session's secret (the `k1` of the withdraw request).
    pub k1: [u8; 32],
    /// The card (its counter now the reading's).
    pub card: PayerRecord,
    /// The most the wallet may withdraw now (per-payment limit and what is left of the day);
    /// 0 when the day's limit is spent (LUD-03 "zero balance": no session was opened).
    pub max_withdrawable_msat: u64,
    /// When the session stops working.
    pub expires_at: u64,
}

pub(crate) fn fixed_hex<const N: usize>(
    field: &'static str,
    text: &str,
) -> Result<[u8; N], PayerError> {
    let bytes = hex::decode(text.trim())
        .map_err(|_| PayerError::invalid(field, format!("{} hex digits", N * 2)))?;
    <[u8; N]>::try_from(bytes.as_slice())
        .map_err(|_| PayerError::invalid(field, format!("{} hex digits", N * 2)))
}

impl Payers<'_> {
    /// Verifies a card's reading (`p`, `c` as hex) and opens its withdraw session.
    pub async fn tap(&self, p: &str, c: &str) -> Result<OpenedTap, PayerError> {
        let p = fixed_hex::<16>("p", p)?;
        let c = fixed_hex::<8>("c", c)?;
        let k1 = self.issuer_k1();
        let claimed = boltcard::decrypt(&k1, &p).map_err(|_| {
            PayerError::refused("bad_reading", "p is not a reading of a card of this gateway")
        })?;
        let store = self.gateway.store();
        let card = loop {
            let card = store.payer_by_uid(&claimed.uid).await?.ok_or_else(|| {
                PayerError::not_found("unknown_card", "this card is not issued here")
            })?;
            spend::check_kind(&card, PayerKind::Card)?;
            let k2 = self.card_k2(&card).ok_or_else(|| {
                PayerError::refused("card_not_programmed", "this card was never programmed")
            })?;
            // `p` was decrypted above to find the card; only `c` is left to check.
            boltcard::check_mac(&k2, &claimed, &c).map_err(|_| {
                PayerError::refused(
                    "bad_mac",
                    "c does not authenticate this reading (tampered, or old keys)",
                )
            })?;
            let reading = claimed;
            spend::check_state(&card)?;
            if let Some(last) = card.counter {
                if reading.counter <= last {
                    return Err(PayerError::refused(
                        "replayed_counter",
                        format!(
                            "tap counter {} is not above the card's last ({last}): a replayed reading",
                            reading.counter
                        ),
                    ));
                }
            }
            let next = PayerRecord {
                counter: Some(reading.counter),
                version: card.version.saturating_add(1),
                ..card
            };
            match store.put_payer(&next).await {
                Ok(()) => break next,
                Err(StoreError::Conflict) => continue,
                Err(e) => return Err(e.into()),
            }
        };
        let now = self.gateway.now_secs();
        let max_withdrawable_msat = spend::available_msat(&card, now);
        let secret: [u8; 32] = rand::random();
        if max_withdrawable_msat < MIN_WITHDRAWABLE_MSAT {
            // LUD-03 "zero balance": a success with nothing to withdraw, not an error; no
            // session is opened (its k1 is never stored, so a callback with it is refused).
            return Ok(OpenedTap { k1: secret, card, max_withdrawable_msat: 0, expires_at: now });
        }
        let expires_at = now.saturating_add(self.settings().tap_ttl_secs);
        store
            .insert_tap(&TapRecord {
                k1_hash: Sha256::digest(secret).into(),
                payer_id: card.id,
                counter: card.counter.unwrap_or(0),
                expires_at,
                used: false,
            })
            .await?;
        Ok(OpenedTap { k1: secret, card, max_withdrawable_msat, expires_at })
    }

    /// The withdraw callback (`?k1=&pr=[&pin=]`): takes the session once, checks the invoice,
    /// the card's limits and PIN, and pays the invoice from the owner's node.
    pub async fn tap_callback(
        &self,
        k1: &str,
        invoice: &str,
        pin: Option<&str>,
    ) -> Result<PayerPaymentRecord, PayerError> {
        let k1 = fixed_hex::<32>("k1", k1)?;
        let now = self.gateway.now_secs();
        // Check the invoice before the session is spent: a typo does not burn the tap.
        let (invoice, amount_msat) = payable_invoice(invoice, now)?;
        let tap =
            self.gateway.store().take_tap(&Sha256::digest(k1).into()).await?.ok_or_else(|| {
                PayerError::refused(
                    "unknown_k1",
                    "no open tap has this k1 (unknown or already used)",
                )
            })?;
        if now >= tap.expires_at {
            return Err(PayerError::refused("tap_expired", "this tap expired; tap the card again"));
        }
        let settings = self.settings();
        let reserved = spend::reserve(
            self.gateway,
            settings,
            tap.payer_id,
            Spend { amount_msat, counter: None, pin },
        )
        .await?;
        spend::pay_once(self.gateway, settings, &reserved, tap.counter, &invoice, amount_msat).await
    }
}
