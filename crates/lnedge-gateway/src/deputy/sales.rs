//! The lifecycle of a deputy sale, as rules of the engine ([`Gateway::deputy`](crate::engine::Gateway::deputy)): a wallet
//! fetches the sealed sale (requested: amount fixed, fiat rate quoted), asks for the invoice
//! (created once, for the preimage derived from the sale), pays; the terminal reports the claim
//! it accepted (claimed). Errors are LUD-01 errors ([`LnurlError`]: a stable code and a reason
//! the wallet shows); the HTTP layer writes them.

use std::sync::Arc;

use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use lnedge_node::{InvoiceDescription, InvoiceParams, InvoiceState, PaymentHash, PaymentPreimage};
use lnedge_proto::deputy::{preimage_for, Currency, Sale, TerminalKeys};
use lnedge_proto::DeviceId;
use lnedge_wire::sync::DeputyReportAnswer;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::{aes_success_action, amount_msat, claim_text, metadata};
use crate::engine::parts::Parts;
use crate::lnurl::LnurlError;
use crate::store::{
    BeginSale, ClaimMark, DeputySaleRecord, DeputyStatus, DeviceRecord, StoreError,
};

/// The LUD-10 description shown with the encrypted claim.
pub const CLAIM_DESCRIPTION: &str =
    "Your claim for the terminal: type the 8-digit code, or show the LNEDGE1 code as a QR.";

/// An authenticated sale, its terminal and its stored record: what a LUD-06 payRequest shows.
#[derive(Debug, Clone)]
pub struct OpenedSale {
    /// The sale the terminal sealed.
    pub sale: Sale,
    /// Its terminal.
    pub device: DeviceRecord,
    /// The stored record (amount in msat, status, quote).
    pub record: DeputySaleRecord,
    /// The LUD-06 metadata (what the invoice's description hash commits to).
    pub metadata: String,
}

/// The LUD-06 callback's answer: the invoice, and the claim encrypted under the preimage
/// (LUD-10 `aes`).
#[derive(Debug, Clone)]
pub struct SaleInvoice {
    /// The BOLT 11 invoice.
    pub bolt11: String,
    /// The claim text, AES-256-CBC under the preimage (base64).
    pub ciphertext: String,
    /// The IV (base64).
    pub iv: String,
}

/// A paid sale's claim, given for a proof of payment (the LUD-09 fallback).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimForProof {
    /// The whole claim text (`CODE LNEDGE1…`).
    pub text: String,
}

/// Why a proof does not earn a claim.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimProofError {
    /// Not a paid deputy sale's invoice and preimage.
    #[error("this is not a paid deputy sale's proof")]
    NotAProof,
    /// The sale is genuine but not paid yet.
    #[error("this sale is not paid yet")]
    NotPaid,
    /// The store failed, or a record is unreadable.
    #[error("{0}")]
    Internal(String),
}

impl From<StoreError> for ClaimProofError {
    fn from(e: StoreError) -> Self {
        ClaimProofError::Internal(e.to_string())
    }
}

fn store_failed(e: impl std::fmt::Display) -> LnurlError {
    tracing::error!(error = %e, "deputy: the store failed");
    LnurlError::new("internal_error", "the service failed; try again")
}

/// The deputy sales of a [`Gateway`](crate::engine::Gateway).
#[derive(Debug, Clone, Copy)]
pub struct Deputy<'a> {
    gateway: &'a Arc<Parts>,
}

impl<'a> Deputy<'a> {
    pub(crate) fn new(gateway: &'a Arc<Parts>) -> Self {
        Deputy { gateway }
    }

    /// The terminal's keys (seal and claim keys; the preimage key is never handed out).
    pub fn terminal_keys(&self, device: DeviceId) -> TerminalKeys {
        TerminalKeys::derive(self.gateway.device_master_key(), device)
    }

    /// Authenticates a sealed payload `p` (base64url) of terminal `device`.
    async fn authenticate(
        &self,
        device: DeviceId,
        p: &str,
    ) -> Result<(Sale, DeviceRecord), LnurlError> {
        let sealed = URL_SAFE_NO_PAD
            .decode(p.trim_end_matches('='))
            .map_err(|_| LnurlError::new("bad_payload", "the sale payload p= is not base64url"))?;
        let record =
            self.gateway.store().device(device).await.map_err(store_failed)?.ok_or_else(|| {
                LnurlError::new("unknown_device", format!("no terminal {device}"))
            })?;
        if !record.enabled {
            return Err(LnurlError::new("device_disabled", "this terminal is disabled"));
        }
        let keys = zeroize::Zeroizing::new(self.terminal_keys(device).seal_key);
        let sale = Sale::open(device, &keys, &sealed).map_err(|e| {
            LnurlError::new(
                "not_authentic",
                format!("this sale was not issued by the terminal ({e})"),
            )
        })?;
        if !crate::bounds::storable(sale.counter) {
            return Err(LnurlError::new(
                "bad_sale_number",
                format!(
                    "sale number {} is out of range; reset the terminal's counter",
                    sale.counter
                ),
            ));
        }
        Ok((sale, record))
    }

    /// The invoice's payment hash of `sale`.
    fn payment_hash(&self, sale: &Sale) -> [u8; 32] {
        Sha256::digest(preimage_for(self.gateway.device_master_key(), sale)).into()
    }

    /// Requested → paid if the node settled the invoice (the operator's view stays current
    /// without a watcher hook).
    pub async fn refresh_paid(&self, record: &mut DeputySaleRecord) -> Result<(), LnurlError> {
        if record.status != DeputyStatus::Requested || record.invoice.is_none() {
            return Ok(());
        }
        let hash = PaymentHash(record.payment_hash);
        match self.gateway.owner().invoice_state(hash).await {
            Ok(InvoiceState::Settled { .. }) => {
                let now = self.gateway.now_secs();
                self.gateway
                    .store()
                    .mark_deputy_paid(&record.payment_hash, now)
                    .await
                    .map_err(store_failed)?;
                record.status = DeputyStatus::Paid;
                record.paid_at.get_or_insert(now);
            }
            Ok(_) => {}
            Err(e) => tracing::warn!(error = %e, "deputy: reading an invoice's state failed"),
        }
        Ok(())
    }

    /// Checks a stored sale against the opened payload and its state: same amount (else the
    /// terminal reused a counter), not paid yet, quote not expired.
    async fn check_existing(
        &self,
        sale: &Sale,
        record: &mut DeputySaleRecord,
    ) -> Result<(), LnurlError> {
        if record.amount != sale.amount || record.currency != sale.currency.as_str() {
            return Err(LnurlError::new(
                "counter_reused",
                format!("the terminal used sale number {} twice; start a new sale", sale.counter),
            ));
        }
        self.refresh_paid(record).await?;
        if record.status != DeputyStatus::Requested {
            return Err(LnurlError::new("already_paid", "this sale is already paid"));
        }
        let expiry = u64::from(self.gateway.settings().deputy.quote_expiry_secs);
        if self.gateway.now_secs() > record.created_at.saturating_add(expiry) {
            return Err(LnurlError::new("sale_expired", "this sale expired; ask for a new one"));
        }
        Ok(())
    }

    fn opened(sale: Sale, device: DeviceRecord, record: DeputySaleRecord) -> OpenedSale {
        let metadata = metadata(&sale, &device.name);
        OpenedSale { sale, device, record, metadata }
    }

    /// A wallet fetches sale `p` of terminal `device` (LUD-06): the sale is authenticated, its
    /// amount fixed in msat (fiat at the current rate) and recorded as requested — once: a
    /// later fetch of the same sale answers the same terms, an older counter than the
    /// terminal's newest is refused (`stale_counter`).
    pub async fn fetch(&self, device: DeviceId, p: &str) -> Result<OpenedSale, LnurlError> {
        let (sale, device_record) = self.authenticate(device, p).await?;
        let store = self.gateway.store();
        if let Some(mut existing) =
            store.deputy_sale(sale.device_id, sale.counter).await.map_err(store_failed)?
        {
            self.check_existing(&sale, &mut existing).await?;
            return Ok(Self::opened(sale, device_record, existing));
        }
        let quote = if sale.currency.is_sat() {
            None
        } else {
            Some(self.gateway.rates().quote(sale.currency.as_str()).await.map_err(|e| {
                LnurlError::new(
                    "rate_unavailable",
                    format!("no exchange rate for {}: {e}", sale.currency),
                )
            })?)
        };
        let max = self.gateway.settings().deputy.max_amount_msat;
        let msat = amount_msat(&sale, quote.as_ref(), max)
            .map_err(|e| LnurlError::new("amount_out_of_range", e.to_string()))?;
        let record = DeputySaleRecord {
            device_id: sale.device_id,
            counter: sale.counter,
            amount: sale.amount,
            currency: sale.currency.as_str().to_owned(),
            amount_msat: msat,
            quote,
            payment_hash: self.payment_hash(&sale),
            created_at: self.gateway.now_secs(),
            invoice: None,
            status: DeputyStatus::Requested,
            paid_at: None,
            claimed_at: None,
        };
        match store.begin_deputy_sale(&record).await.map_err(store_failed)? {
            BeginSale::Created => Ok(Self::opened(sale, device_record, record)),
            BeginSale::Existing(mut existing) => {
                self.check_existing(&sale, &mut existing).await?;
                Ok(Self::opened(sale, device_record, existing))
            }
            BeginSale::Stale { highest } => Err(LnurlError::new(
                "stale_counter",
                format!(
                    "sale number {} is older than the terminal's sale {highest}: replayed or stale",
                    sale.counter
                ),
            )),
        }
    }

    /// The wallet's callback (LUD-06) for `amount_msat` (the text the wallet sent): the
    /// invoice for the sale's derived preimage (created once; the same invoice afterwards) and
    /// the claim encrypted under the preimage (LUD-10).
    pub async fn invoice(
        &self,
        device: DeviceId,
        p: &str,
        amount_msat: Option<&str>,
    ) -> Result<SaleInvoice, LnurlError> {
        let (sale, device_record) = self.authenticate(device, p).await?;
        let store = self.gateway.store();
        let mut record = store
            .deputy_sale(sale.device_id, sale.counter)
            .await
            .map_err(store_failed)?
            .ok_or_else(|| LnurlError::new("unknown_sale", "fetch the sale's LNURL first"))?;
        self.check_existing(&sale, &mut record).await?;
        let amount = amount_msat
            .ok_or_else(|| LnurlError::new("wrong_amount", "amount= (msat) is required"))?;
        if amount.parse::<u64>().ok() != Some(record.amount_msat) {
            return Err(LnurlError::new(
                "wrong_amount",
                format!("this sale is exactly {} msat, not {amount}", record.amount_msat),
            ));
        }
        let preimage =
            zeroize::Zeroizing::new(preimage_for(self.gateway.device_master_key(), &sale));
        let bolt11 = match record.invoice.take() {
            Some(invoice) => invoice,
            None => {
                let description_hash: [u8; 32] =
                    Sha256::digest(metadata(&sale, &device_record.name).as_bytes()).into();
                let params = InvoiceParams {
                    amount_msat: Some(record.amount_msat),
                    description: InvoiceDescription::Hash(description_hash),
                    expiry_secs: self.gateway.settings().deputy.quote_expiry_secs,
                    min_final_cltv_expiry_delta: None,
                };
                let invoice = self
                    .gateway
                    .owner()
                    .create_invoice(PaymentPreimage(*preimage), params)
                    .await
                    .map_err(|e| {
                        tracing::error!(error = %e, "deputy: the node failed to create an invoice");
                        LnurlError::new(
                            "lightning_node_failed",
                            "the Lightning node failed; try again",
                        )
                    })?;
                store
                    .set_deputy_invoice(sale.device_id, sale.counter, &invoice.to_string())
                    .await
                    .map_err(store_failed)?
            }
        };
        let plaintext = claim_text(self.gateway.device_master_key(), &sale);
        let (ciphertext, iv) = aes_success_action(&preimage, &plaintext, rand::random());
        Ok(SaleInvoice { bolt11, ciphertext, iv })
    }

    /// The LUD-09 fallback for wallets that do not show `aes` success actions: the claim of a
    /// paid sale for its invoice (the payment secret: payer and payee only) and preimage (not
    /// bystanders). Both compared in constant time.
    pub async fn claim_for_proof(
        &self,
        invoice: &lnedge_node::lightning_invoice::Bolt11Invoice,
        preimage: &[u8; 32],
    ) -> Result<ClaimForProof, ClaimProofError> {
        let hash: [u8; 32] = Sha256::digest(preimage).into();
        let invoice_hash: &[u8; 32] = invoice.payment_hash().as_ref();
        if !bool::from(hash.ct_eq(invoice_hash)) {
            return Err(ClaimProofError::NotAProof);
        }
        let mut record = self
            .gateway
            .store()
            .deputy_sale_by_hash(&hash)
            .await?
            .ok_or(ClaimProofError::NotAProof)?;
        let stored = record.invoice.clone().unwrap_or_default();
        let same = Sha256::digest(stored.as_bytes())
            .ct_eq(&Sha256::digest(invoice.to_string().as_bytes()));
        if !bool::from(same) {
            return Err(ClaimProofError::NotAProof);
        }
        self.refresh_paid(&mut record)
            .await
            .map_err(|e| ClaimProofError::Internal(e.to_string()))?;
        if record.status == DeputyStatus::Requested {
            return Err(ClaimProofError::NotPaid);
        }
        let currency = Currency::parse(&record.currency)
            .map_err(|e| ClaimProofError::Internal(format!("deputy: stored currency: {e}")))?;
        let sale = Sale {
            device_id: record.device_id,
            counter: record.counter,
            amount: record.amount,
            currency,
        };
        Ok(ClaimForProof { text: claim_text(self.gateway.device_master_key(), &sale) })
    }

    /// The terminal's report of the sales whose claim it accepted (its signature already
    /// checked): each is marked claimed, idempotently, so a replayed report changes nothing.
    pub async fn report(
        &self,
        device: DeviceId,
        claimed: &[u64],
    ) -> Result<DeputyReportAnswer, LnurlError> {
        let store = self.gateway.store();
        let mut answer = DeputyReportAnswer {
            claimed: 0,
            already_claimed: 0,
            not_paid: Vec::new(),
            unknown: Vec::new(),
        };
        for &counter in claimed {
            if !crate::bounds::storable(counter) {
                // No sale can have this number: the store could not even hold it.
                answer.unknown.push(counter);
                continue;
            }
            if let Some(mut record) =
                store.deputy_sale(device, counter).await.map_err(store_failed)?
            {
                self.refresh_paid(&mut record).await?;
            }
            let now = self.gateway.now_secs();
            match store.mark_deputy_claimed(device, counter, now).await.map_err(store_failed)? {
                ClaimMark::Claimed => answer.claimed += 1,
                ClaimMark::AlreadyClaimed => answer.already_claimed += 1,
                ClaimMark::NotPaid => {
                    tracing::warn!(%device, counter, "deputy: terminal accepted an unpaid sale");
                    answer.not_paid.push(counter);
                }
                ClaimMark::Unknown => answer.unknown.push(counter),
            }
        }
        Ok(answer)
    }

    /// The operator's list, newest first, with requested sales the node settled moved to paid.
    pub async fn sales(
        &self,
        device: Option<DeviceId>,
        limit: u32,
    ) -> Result<Vec<DeputySaleRecord>, LnurlError> {
        let mut sales =
            self.gateway.store().deputy_sales(device, limit).await.map_err(store_failed)?;
        for record in &mut sales {
            self.refresh_paid(record).await?;
        }
        Ok(sales)
    }
}
