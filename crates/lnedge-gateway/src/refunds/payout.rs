//! From a refund voucher to sats back in the customer's wallet.
//!
//! 1. `open`: the customer presents the voucher (from the machine's QR) and a proof of
//!    payment. The refund is due iff the proof is valid for the voucher's payment, a payment
//!    for it is recorded, and the vend failed — the device's synced ledger says *failed*, or the
//!    voucher carries a valid attestation tag of a device enrolled with attestation. A
//!    dispensed entry is never refundable. The refund is bound to a random `k1` (once: proving
//!    again returns the same `k1`) and answered as an LNURL-withdraw (LUD-03, LUD-17).
//! 2. [`claim`]: the wallet's callback `?k1=&pr=` — the invoice must ask for exactly the refund's
//!    amount (amountless invoices are refused: see docs/refunds.md); the store's compare-and-set
//!    moves the refund due → claimed (one winner among concurrent claims); then [`pay`].
//! 3. [`pay`]: the owner's node pays (idempotent per payment hash). Paid → *paid*; a definite
//!    failure → back to *due* (the customer may claim again with a new invoice); an unknown
//!    outcome (timeout, node unavailable) → stays *claimed*, finished by [`resume`] at the next
//!    start.

use std::sync::Arc;

use std::time::Duration;

use lnedge_node::{parse_invoice, BackendError, PayFailure, PayRequest};
use lnedge_proto::envelope::{decode_text, Envelope, RefundVoucher};
use lnedge_proto::ledger::EntryState;
use lnedge_proto::proof::{attestation_key, verify_attestation};

use super::{proof, RefundError};
use crate::engine::parts::Parts;
use crate::store::refunds::{ClaimOutcome, RefundFinish, RefundRecord, RefundState};

/// A voucher as presented: the `v` parameter of the refund URL (or the whole URL) and the
/// optional attestation tag (`a`, hex).
pub fn parse_voucher(text: &str) -> Result<(RefundVoucher, Option<Vec<u8>>), RefundError> {
    let text = text.trim();
    let (v, a) = match text.split_once('?') {
        Some((_, query)) => {
            let mut v = None;
            let mut a = None;
            for pair in query.split('&') {
                match pair.split_once('=') {
                    Some(("v", value)) => v = Some(value),
                    Some(("a", value)) => a = Some(value),
                    _ => {}
                }
            }
            (v.ok_or_else(|| RefundError::invalid("voucher", "the URL has no v= parameter"))?, a)
        }
        None => match text.split_once(':') {
            Some((v, a)) => (v, Some(a)),
            None => (text, None),
        },
    };
    let envelope = decode_text(v)
        .map_err(|e| RefundError::invalid("voucher", format!("not a voucher: {e}")))?;
    let Envelope::RefundVoucher(voucher) = envelope else {
        return Err(RefundError::invalid("voucher", "the envelope is not a refund voucher"));
    };
    let tag = a
        .map(|a| hex::decode(a.trim()).map_err(|_| RefundError::invalid("attestation", "not hex")))
        .transpose()?;
    Ok((voucher, tag))
}

/// What `open` answers: the refund and its `k1`.
#[derive(Debug, Clone)]
pub struct OpenedRefund {
    /// The refund.
    pub refund: RefundRecord,
    /// The LNURL-withdraw `k1` bound to it.
    pub k1: [u8; 32],
}

/// Step 1: voucher + proof → a due refund bound to a `k1`. [`RefundError::Proof`] is a bad
/// proof or voucher (the caller counts it against the client's failure budget).
pub(crate) async fn open(
    gateway: &Arc<Parts>,
    voucher: &RefundVoucher,
    attestation: Option<&[u8]>,
    invoice: &str,
    preimage: &str,
) -> Result<OpenedRefund, RefundError> {
    let store = gateway.store();
    let proof = proof::verify(gateway, invoice, preimage).await?;
    let fail = |code, msg: &str| Err(RefundError::proof(code, msg));
    if proof.payment_hash != voucher.payment_hash {
        return fail(
            "proof_for_another_payment",
            "the proof is for another payment than the voucher's",
        );
    }
    let Some(entry) = proof.entry else {
        return fail("unknown_entry", "the voucher's payment is not an invoice of any pool");
    };
    let pool = store
        .pool_by_id(entry.pool_id)
        .await?
        .ok_or_else(|| RefundError::Internal("refund: the entry's pool vanished".into()))?;
    if entry.pool_id != voucher.pool_id
        || entry.index != voucher.entry_index
        || pool.device_id != voucher.device_id
    {
        return fail(
            "voucher_mismatch",
            "the voucher names another device, pool or entry than the paid invoice",
        );
    }
    let known = store.refund(&proof.payment_hash).await?;
    let refund = match known {
        Some(r) => r,
        None => {
            let Some(received) = proof.received_msat.filter(|_| proof.paid) else {
                return Err(RefundError::refused(
                    "not_paid",
                    "the gateway has no record of this payment yet; try again in a minute",
                ));
            };
            let attested = match (entry.state, attestation) {
                (EntryState::Dispensed, _) => {
                    return Err(RefundError::refused(
                        "dispensed",
                        "the machine reported this sale as dispensed: nothing to refund",
                    ))
                }
                (EntryState::Failed, _) => false,
                (_, Some(tag)) => {
                    let enabled = store.attestation_enabled(voucher.device_id).await?;
                    let key = zeroize::Zeroizing::new(attestation_key(
                        gateway.device_master_key(),
                        &voucher.device_id,
                    ));
                    if !enabled || !verify_attestation(&key, voucher, tag) {
                        return fail("bad_attestation", "the voucher's attestation does not verify for this device");
                    }
                    true
                }
                (_, None) => {
                    return Err(RefundError::refused(
                        "failure_not_known",
                        "the gateway learns of the failed vend at the machine's next sync; try again later",
                    ))
                }
            };
            let now = gateway.now_secs();
            let record = RefundRecord {
                payment_hash: proof.payment_hash,
                device_id: voucher.device_id,
                pool_id: voucher.pool_id,
                index: voucher.entry_index,
                amount_msat: received,
                state: RefundState::Due,
                attested,
                created_at: now,
                expires_at: now.saturating_add(gateway.settings().refunds.expiry_secs),
                k1: None,
                claim_invoice: None,
                claimed_at: None,
                paid_at: None,
                last_error: None,
            };
            let opened = store.open_refund(&record).await?;
            tracing::info!(payment_hash = %hex::encode(opened.payment_hash), amount_msat = opened.amount_msat, attested, "refund due");
            opened
        }
    };
    store.expire_refunds(gateway.now_secs()).await?;
    let refund = store
        .bind_refund_k1(&refund.payment_hash, &rand::random())
        .await?
        .ok_or_else(|| RefundError::Internal("refund: the refund vanished".into()))?;
    match refund.state {
        RefundState::Due => {}
        RefundState::Claimed => {
            return Err(RefundError::refused(
                "refund_claimed",
                "this refund was claimed and is being paid",
            ))
        }
        RefundState::Paid => {
            return Err(RefundError::refused("refund_paid", "this refund was already paid out"))
        }
        RefundState::Expired => {
            return Err(RefundError::refused("refund_expired", "this refund expired"))
        }
    }
    let k1 = refund.k1.ok_or_else(|| RefundError::Internal("refund: no k1 bound".into()))?;
    Ok(OpenedRefund { refund, k1 })
}

/// Step 2: the LNURL-withdraw callback. On `Ok` the payout runs in the background.
pub(crate) async fn claim(
    gateway: &Arc<Parts>,
    k1: &str,
    pr: &str,
) -> Result<RefundRecord, RefundError> {
    let k1 = super::hex32(k1)
        .ok_or_else(|| RefundError::refused("bad_k1", "k1 must be 64 hex digits"))?;
    let store = gateway.store();
    let refund = store
        .refund_by_k1(&k1)
        .await?
        .ok_or_else(|| RefundError::refused("unknown_k1", "no refund has this k1"))?;
    let invoice = parse_invoice(pr).map_err(|e| {
        RefundError::refused("invalid_invoice", format!("pr is not a valid invoice: {e}"))
    })?;
    match invoice.amount_milli_satoshis() {
        Some(a) if a == refund.amount_msat => {}
        Some(a) => {
            return Err(RefundError::refused(
                "wrong_amount",
                format!(
                    "the invoice asks {a} msat; the refund is exactly {} msat",
                    refund.amount_msat
                ),
            ))
        }
        None => {
            return Err(RefundError::refused(
                "amount_required",
                format!("the invoice must ask for exactly {} msat", refund.amount_msat),
            ))
        }
    }
    if invoice.is_expired() {
        return Err(RefundError::refused("invoice_expired", "the invoice has expired"));
    }
    match store.claim_refund(&k1, pr.trim(), gateway.now_secs()).await? {
        ClaimOutcome::Claimed(record) => {
            tracing::info!(payment_hash = %hex::encode(record.payment_hash), "refund claimed");
            let gateway = gateway.clone();
            let paying = record.clone();
            tokio::spawn(async move { pay(&gateway, &paying).await });
            Ok(record)
        }
        ClaimOutcome::NotDue(r) => Err(match r.state {
            RefundState::Expired => RefundError::refused("refund_expired", "this refund expired"),
            RefundState::Paid => {
                RefundError::refused("refund_paid", "this refund was already paid out")
            }
            _ => RefundError::refused("refund_claimed", "this refund was already claimed"),
        }),
        ClaimOutcome::UnknownK1 => Err(RefundError::refused("unknown_k1", "no refund has this k1")),
    }
}

/// Whether a payout error leaves the outcome unknown (the payment may still complete).
fn outcome_unknown(e: &BackendError) -> bool {
    matches!(
        e,
        BackendError::Payment(PayFailure::Timeout { .. })
            | BackendError::Unavailable(_)
            | BackendError::Storage(_)
    )
}

/// Step 3: pays a claimed refund with the owner's node and records the outcome. Returns the
/// state it left the refund in.
pub(crate) async fn pay(gateway: &Arc<Parts>, refund: &RefundRecord) -> RefundState {
    let settings = &gateway.settings().refunds;
    let hash = hex::encode(refund.payment_hash);
    let Some(text) = refund.claim_invoice.as_deref() else {
        return refund.state;
    };
    let finish = match parse_invoice(text) {
        Err(e) => RefundFinish::Failed { error: e.to_string() },
        Ok(invoice) => {
            let request = PayRequest {
                invoice,
                amount_msat: None,
                max_fee_msat: settings.max_fee_msat,
                timeout: Duration::from_secs(settings.pay_timeout_secs),
                max_total_cltv_expiry_delta: None,
            };
            match gateway.owner().pay(request).await {
                Ok(_) => RefundFinish::Paid { paid_at: gateway.now_secs() },
                Err(e) if outcome_unknown(&e) => {
                    tracing::warn!(payment_hash = %hash, error = %e, "refund payout outcome unknown; resumed later");
                    return RefundState::Claimed;
                }
                Err(e) => RefundFinish::Failed { error: e.to_string() },
            }
        }
    };
    let next = match &finish {
        RefundFinish::Paid { .. } => RefundState::Paid,
        RefundFinish::Failed { error } => {
            tracing::warn!(payment_hash = %hash, error = %error, "refund payout failed; due again");
            RefundState::Due
        }
    };
    match gateway.store().finish_refund(&refund.payment_hash, &finish).await {
        Ok(_) => {
            if next == RefundState::Paid {
                tracing::info!(payment_hash = %hash, amount_msat = refund.amount_msat, "refund paid");
            }
            next
        }
        Err(e) => {
            tracing::error!(payment_hash = %hash, error = %e, "recording the refund payout failed");
            RefundState::Claimed
        }
    }
}

/// Drives every claimed refund to completion (at start, after a crash or restart). Paying is
/// idempotent per payment hash: a refund whose payout completed before the crash is not paid
/// twice. Returns the states the refunds were left in.
pub(crate) async fn resume(
    gateway: &Arc<Parts>,
) -> Result<Vec<RefundState>, crate::store::StoreError> {
    let mut out = Vec::new();
    for refund in gateway.store().refunds().await? {
        if refund.state == RefundState::Claimed {
            out.push(pay(gateway, &refund).await);
        }
    }
    Ok(out)
}
