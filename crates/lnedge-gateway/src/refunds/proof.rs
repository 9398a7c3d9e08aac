//! Verifying a proof of payment `(BOLT 11 invoice, preimage)` (PROTOCOLS.md §6).
//!
//! Checks, in order, each failing with its own [`ProofFailure`]:
//! 1. the preimage is 64 hex digits and the invoice parses as BOLT 11 — parsing recovers the
//!    signer from the signature, so an invoice altered in *any* field fails here or in 2;
//! 2. the signer is the owner's node (`wrong_payee`);
//! 3. `SHA256(preimage)` is the invoice's payment hash, constant time (`preimage_mismatch`:
//!    a bystander who has the invoice but not the preimage);
//! 4. for a pool invoice, its payment secret equals the one in the pool file the gateway
//!    provisioned, constant time (`secret_mismatch`); an invoice of the owner's node outside
//!    the pools is known to the node itself (its signature binds the secret: only the node can
//!    sign). A routing node knows hash and preimage but neither the secret nor the signed
//!    invoice, so it cannot pass 1–4.
//!
//! Whether it was *paid* is reported separately (the gateway's recorded payment for pool
//! invoices, the node's invoice state otherwise).

use std::sync::Arc;

use lnedge_node::lightning_invoice::Bolt11InvoiceDescriptionRef;
use lnedge_node::{parse_invoice, InvoiceState, PaymentHash};
use lnedge_proto::pool::Pool;
use lnedge_proto::proof::{preimage_matches, secrets_match};

use super::RefundError;
use crate::engine::parts::Parts;
use crate::store::EntryRecord;

/// A verified proof of payment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedProof {
    /// The payment hash.
    pub payment_hash: [u8; 32],
    /// The invoice's amount, if it has one.
    pub amount_msat: Option<u64>,
    /// The invoice's description (or `None` for a description hash).
    pub description: Option<String>,
    /// The payee (the owner's node id, hex).
    pub payee: String,
    /// Whether the payment settled, as far as the gateway knows.
    pub paid: bool,
    /// When it settled (pool invoices: the recorded payment).
    pub paid_at: Option<u64>,
    /// What was received, in millisatoshis, when known.
    pub received_msat: Option<u64>,
    /// The pool entry of the invoice, when it is one.
    pub entry: Option<EntryRecord>,
}

/// Why a proof was refused: a stable code and a message naming the problem.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{code}: {message}")]
pub struct ProofFailure {
    /// Stable machine-readable code.
    pub code: &'static str,
    /// What is wrong.
    pub message: String,
}

/// Verifies `(invoice, preimage)` against the owner's node and the gateway's records.
/// [`RefundError::Proof`] is a bad proof (counts against the client's budget); the other errors
/// are the gateway's own failures (store, node).
pub(crate) async fn verify(
    gateway: &Arc<Parts>,
    invoice: &str,
    preimage_hex: &str,
) -> Result<VerifiedProof, RefundError> {
    let bad = |code, msg: String| Err(RefundError::proof(code, msg));
    let Some(preimage) = super::hex32(preimage_hex) else {
        return bad("malformed_preimage", "preimage must be 64 hex digits (32 bytes)".into());
    };
    let invoice = match parse_invoice(invoice) {
        Ok(i) => i,
        // lightning-invoice checks the signature while parsing: a tampered invoice lands here.
        Err(e) => return bad("invalid_invoice", e.to_string()),
    };
    let owner = gateway.owner().info().await.map_err(RefundError::Node)?;
    let payee = invoice.get_payee_pub_key();
    if payee != owner.node_id {
        return bad(
            "wrong_payee",
            format!(
                "the invoice is signed by {payee}, not by this gateway's node {}",
                owner.node_id
            ),
        );
    }
    let payment_hash: [u8; 32] = *invoice.payment_hash().as_ref();
    if !preimage_matches(&preimage, &payment_hash) {
        return bad(
            "preimage_mismatch",
            "the preimage does not hash to the invoice's payment hash".into(),
        );
    }
    let description = match invoice.description() {
        Bolt11InvoiceDescriptionRef::Direct(d) => Some(d.to_string()),
        Bolt11InvoiceDescriptionRef::Hash(_) => None,
    };
    let store = gateway.store();
    let entry = store.entry_by_hash(&payment_hash).await?;
    let mut proof = VerifiedProof {
        payment_hash,
        amount_msat: invoice.amount_milli_satoshis(),
        description,
        payee: payee.to_string(),
        paid: false,
        paid_at: None,
        received_msat: None,
        entry: entry.clone(),
    };
    match entry {
        Some(entry) => {
            let pool = store.pool_by_id(entry.pool_id).await?;
            let recorded = pool.as_ref().and_then(|p| {
                let parsed = Pool::parse(&p.bytes).ok()?;
                let e = parsed.entry(entry.index as usize)?;
                Some(*e.payment_secret())
            });
            let Some(recorded) = recorded else {
                return Err(RefundError::Internal(format!(
                    "proof verification: pool {} of entry {} is unreadable",
                    entry.pool_id, entry.index
                )));
            };
            if !secrets_match(&invoice.payment_secret().0, &recorded) {
                return bad(
                    "secret_mismatch",
                    "the invoice's payment secret is not the one issued for this payment".into(),
                );
            }
            match store.recorded_payment(&payment_hash).await? {
                Some(payment) => {
                    proof.paid = true;
                    proof.paid_at = Some(payment.paid_at);
                    proof.received_msat = Some(payment.amount_msat);
                }
                // Settled on the node but not yet recorded by the watcher (it records within
                // moments): the node is the source of truth, so a customer who proves the
                // payment the moment the wallet shows it paid is not told "not paid".
                None => node_settled(gateway, payment_hash, &mut proof).await,
            }
        }
        None => node_settled(gateway, payment_hash, &mut proof).await,
    }
    Ok(proof)
}

/// Marks `proof` paid with the amount received when the owner's node reports the invoice of
/// `payment_hash` settled (an unreachable node leaves it unpaid: the caller may retry).
async fn node_settled(gateway: &Parts, payment_hash: [u8; 32], proof: &mut VerifiedProof) {
    let state = gateway.owner().invoice_state(PaymentHash(payment_hash)).await;
    if let Ok(InvoiceState::Settled { amount_msat }) = state {
        proof.paid = true;
        proof.received_msat = Some(amount_msat);
    }
}
