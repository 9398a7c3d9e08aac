//! The [`LightningBackend`] contract: the only way lnedge talks to a Lightning node.

use std::time::Duration;

use async_trait::async_trait;
use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use lightning_invoice::Bolt11Invoice;
use lightning_types::payment::{PaymentHash, PaymentPreimage};

use crate::error::BackendError;
use crate::event::{EventId, QueuedEvent};

/// What a node can send and receive over its channels (and holds on chain, when it says).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Liquidity {
    /// Channels open with peers (usable or not).
    pub channels: u32,
    /// Of those, the ones that can carry a payment now (peer connected, channel ready).
    pub usable_channels: u32,
    /// What the node can send now, summed over its channels, in millisatoshis.
    pub outbound_msat: u64,
    /// What it can receive now (inbound liquidity), in millisatoshis.
    pub inbound_msat: u64,
    /// Its spendable on-chain balance in satoshis, when the backend reports one.
    pub onchain_sat: Option<u64>,
}

impl Liquidity {
    /// The sums over `channels`, each `(usable, outbound_msat, inbound_msat)`.
    pub fn of_channels(
        channels: impl IntoIterator<Item = (bool, u64, u64)>,
        onchain_sat: Option<u64>,
    ) -> Liquidity {
        let mut l = Liquidity { onchain_sat, ..Liquidity::default() };
        for (usable, outbound_msat, inbound_msat) in channels {
            l.channels = l.channels.saturating_add(1);
            l.usable_channels = l.usable_channels.saturating_add(u32::from(usable));
            l.outbound_msat = l.outbound_msat.saturating_add(outbound_msat);
            l.inbound_msat = l.inbound_msat.saturating_add(inbound_msat);
        }
        l
    }
}

/// Facts about the node behind a backend.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NodeInfo {
    /// The node's public key: the key that signs its invoices.
    pub node_id: PublicKey,
    /// The Bitcoin network the node runs on.
    pub network: Network,
    /// A human-readable name.
    pub alias: String,
    /// The best block height the node knows.
    pub block_height: u32,
}

/// What an invoice says it pays for.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum InvoiceDescription {
    /// A description carried in the invoice (BOLT 11 `d` field), at most 639 bytes.
    Direct(String),
    /// The SHA-256 of a description carried elsewhere (BOLT 11 `h` field; LNURL-pay metadata).
    Hash([u8; 32]),
}

/// Parameters of an invoice; the payment hash or preimage is passed separately.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct InvoiceParams {
    /// The amount to request in millisatoshis; `None` lets the payer choose.
    pub amount_msat: Option<u64>,
    /// What the invoice pays for.
    pub description: InvoiceDescription,
    /// Seconds from creation until the invoice expires.
    pub expiry_secs: u32,
    /// The invoice's `min_final_cltv_expiry_delta` in blocks, when the caller needs more than
    /// the node's default: held HTLCs can then be held (their claim deadline is) about that many
    /// blocks minus the node's fail-back buffer after they arrive (the async relay, issue #7).
    /// A backend that cannot set it refuses with [`BackendError::Unsupported`] naming this
    /// field, never silently ignores it (ldk-node 0.7.1 cannot set it itself: the backend
    /// re-signs its invoice, ADR 0012).
    pub min_final_cltv_expiry_delta: Option<u16>,
}

impl InvoiceParams {
    /// Checks the parameters against what every implementation can honour.
    pub fn validate(&self) -> Result<(), BackendError> {
        if self.amount_msat == Some(0) {
            return Err(BackendError::invalid("amount_msat", "must be positive (or absent)"));
        }
        if self.expiry_secs == 0 {
            return Err(BackendError::invalid("expiry_secs", "must be positive"));
        }
        if let InvoiceDescription::Direct(text) = &self.description {
            if text.len() > 639 {
                return Err(BackendError::invalid(
                    "description",
                    format!("{} bytes exceeds the BOLT 11 limit of 639", text.len()),
                ));
            }
        }
        Ok(())
    }
}

/// A request to pay a BOLT 11 invoice.
#[derive(Debug, Clone)]
pub struct PayRequest {
    /// The invoice to pay.
    pub invoice: Bolt11Invoice,
    /// The amount to pay; required for (and only allowed with) an invoice without an amount.
    pub amount_msat: Option<u64>,
    /// The most the caller accepts to pay in routing fees, in millisatoshis.
    pub max_fee_msat: u64,
    /// How long to wait for the outcome before returning [`PayFailure::Timeout`](crate::PayFailure::Timeout).
    pub timeout: Duration,
    /// At most this many blocks for the route's total CLTV expiry delta (every hop's delta
    /// plus the payee's final delta, and any shadow offset): the payment's HTLC then expires at
    /// most that many blocks after the current height, so its outcome is known by then. No
    /// route that fits → [`PayFailure::NoRoute`](crate::PayFailure::NoRoute). A backend that
    /// cannot limit it refuses with [`BackendError::Unsupported`] naming this field.
    pub max_total_cltv_expiry_delta: Option<u32>,
}

/// The result of a successful payment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PaymentOutcome {
    /// The payment hash.
    pub payment_hash: PaymentHash,
    /// The preimage released by the payee: the proof that it was paid.
    pub preimage: PaymentPreimage,
    /// Routing fees paid in millisatoshis, when the node reports them.
    pub fee_paid_msat: Option<u64>,
}

/// What a node knows about an outgoing payment it was asked to make
/// ([`LightningBackend::payment_status`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PaymentStatus {
    /// Sent; the outcome is not known yet.
    Pending,
    /// Completed: the payee released the preimage.
    Succeeded(PaymentOutcome),
    /// Failed for good; nothing was delivered.
    Failed {
        /// Why, as reported by the node.
        reason: String,
    },
}

/// Where an invoice created through the backend stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InvoiceState {
    /// Created and not (yet) paid.
    Open,
    /// A hold invoice whose HTLCs are held, awaiting `settle_hold_invoice` or `cancel_hold_invoice`.
    Held {
        /// Amount held in millisatoshis.
        amount_msat: u64,
        /// Block height by which the HTLCs must be resolved, if known.
        claim_deadline_height: Option<u32>,
    },
    /// Paid and settled.
    Settled {
        /// Amount received in millisatoshis.
        amount_msat: u64,
    },
    /// A hold invoice that was cancelled; it can no longer be paid.
    Cancelled,
}

impl InvoiceState {
    /// A short lower-case name, as used in error messages.
    pub fn name(&self) -> &'static str {
        match self {
            InvoiceState::Open => "open",
            InvoiceState::Held { .. } => "held",
            InvoiceState::Settled { .. } => "settled",
            InvoiceState::Cancelled => "cancelled",
        }
    }
}

/// The contract between lnedge and a Lightning node.
///
/// Implementations: [`SandboxNode`](crate::sandbox::SandboxNode) (an in-process network of real
/// LDK nodes) and [`LdkBackend`](crate::ldk::LdkBackend) (embedded ldk-node).
///
/// # Contract
///
/// * Every method returns a typed [`BackendError`] whose [`kind`](BackendError::kind) tells
///   whether a retry can help. An implementation that cannot do something returns
///   [`BackendError::Unsupported`] naming the operation; it MUST NOT emulate it unsafely.
/// * Invoices: an implementation MUST sign invoices with the key reported by
///   [`info`](Self::info), MUST include a payment secret, and MUST never release the preimage of
///   a hold invoice other than through [`settle_hold_invoice`](Self::settle_hold_invoice).
/// * Idempotency: creating an invoice for a hash that already has one with the same parameters
///   returns the stored invoice; with other parameters it fails with
///   [`BackendError::DuplicatePaymentHash`]. Settling a settled invoice with its preimage and
///   cancelling a cancelled invoice succeed without effect. Paying an invoice that this node
///   already paid returns the original outcome without paying again; paying one in flight waits
///   for the same outcome.
/// * Events: every state change of an invoice created here, and the outcome of every payment
///   made here, is delivered through [`next_event`](Self::next_event) in order. The queue is
///   durable: an event is delivered again (also after a restart) until
///   [`event_handled`](Self::event_handled) acknowledges it, and never after; a fact the node
///   replays after a crash is not queued twice.
/// * Restart: the durable state (invoices, their preimages, the event queue) lives in the
///   backend's data directory; a backend re-opened on the same directory continues where the
///   previous one stopped, including HTLCs held at the time.
#[async_trait]
pub trait LightningBackend: Send + Sync {
    /// The name of the implementation, e.g. `"sandbox"` or `"ldk-node"`.
    fn backend_name(&self) -> &'static str;

    /// Node id, network, alias and best block height.
    async fn info(&self) -> Result<NodeInfo, BackendError>;

    /// The node's channels and balances, as an operator's dashboard shows them. Backends that
    /// cannot tell answer [`BackendError::Unsupported`] (the default).
    async fn liquidity(&self) -> Result<Liquidity, BackendError> {
        Err(BackendError::Unsupported { operation: "liquidity", backend: self.backend_name() })
    }

    /// Creates an invoice for `SHA256(preimage)` that the node settles by itself when paid.
    async fn create_invoice(
        &self,
        preimage: PaymentPreimage,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError>;

    /// Creates an invoice for `payment_hash` whose HTLCs are held when they arrive
    /// ([`BackendEvent::InvoiceHeld`](crate::BackendEvent::InvoiceHeld)) until settled or
    /// cancelled.
    async fn create_hold_invoice(
        &self,
        payment_hash: PaymentHash,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError>;

    /// Settles the held HTLCs of the hold invoice whose hash is `SHA256(preimage)`.
    ///
    /// Fails with [`BackendError::UnknownPaymentHash`] if no such hold invoice exists and with
    /// [`BackendError::WrongInvoiceState`] if it is not held.
    async fn settle_hold_invoice(&self, preimage: PaymentPreimage) -> Result<(), BackendError>;

    /// Fails back the HTLCs of a hold invoice (held or still open) and refuses later payments.
    async fn cancel_hold_invoice(&self, payment_hash: PaymentHash) -> Result<(), BackendError>;

    /// Where an invoice created through this backend stands.
    async fn invoice_state(&self, payment_hash: PaymentHash) -> Result<InvoiceState, BackendError>;

    /// Pays a BOLT 11 invoice and waits for the outcome (at most `request.timeout`).
    async fn pay(&self, request: PayRequest) -> Result<PaymentOutcome, BackendError>;

    /// What the node knows about the payment of `payment_hash` started through
    /// [`pay`](Self::pay), without
    /// sending anything: `None` if it was never started. Lets a caller that crashed while paying
    /// learn the outcome without paying again.
    ///
    /// Added for the async relay (issue #7). The default implementation returns
    /// [`BackendError::Unsupported`]; the sandbox and ldk-node implement it.
    async fn payment_status(
        &self,
        payment_hash: PaymentHash,
    ) -> Result<Option<PaymentStatus>, BackendError> {
        let _ = payment_hash;
        Err(BackendError::Unsupported { operation: "payment_status", backend: self.backend_name() })
    }

    /// The oldest event not yet acknowledged; waits until there is one.
    async fn next_event(&self) -> Result<QueuedEvent, BackendError>;

    /// Acknowledges an event returned by [`next_event`](Self::next_event); it is never delivered
    /// again. Acknowledging an id twice is not an error.
    async fn event_handled(&self, id: EventId) -> Result<(), BackendError>;
}

/// Parses a BOLT 11 string into an invoice, with a typed error naming the problem.
pub fn parse_invoice(text: &str) -> Result<Bolt11Invoice, BackendError> {
    let text = text.trim();
    let text =
        text.strip_prefix("lightning:").or_else(|| text.strip_prefix("LIGHTNING:")).unwrap_or(text);
    text.parse::<Bolt11Invoice>()
        .map_err(|e| BackendError::invalid("invoice", format!("not a valid BOLT 11 invoice ({e})")))
}

/// Checks a pay request against the invoice before anything is sent: expiry, amount rules.
pub fn check_pay_request(request: &PayRequest) -> Result<(), BackendError> {
    if request.invoice.is_expired() {
        let expired_at_secs = request
            .invoice
            .duration_since_epoch()
            .saturating_add(request.invoice.expiry_time())
            .as_secs();
        return Err(crate::PayFailure::InvoiceExpired { expired_at_secs }.into());
    }
    match (request.invoice.amount_milli_satoshis(), request.amount_msat) {
        (Some(_), Some(_)) => Err(BackendError::invalid(
            "amount_msat",
            "the invoice fixes its amount; do not pass another",
        )),
        (None, None) => Err(BackendError::invalid(
            "amount_msat",
            "the invoice has no amount; pass the amount to pay",
        )),
        (None, Some(0)) => Err(BackendError::invalid("amount_msat", "must be positive")),
        _ => Ok(()),
    }
}
