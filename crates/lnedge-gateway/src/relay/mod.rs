//! The async relay for offline payees (PROTOCOLS.md §5, the "Lightning Rod"; `docs/relay.md`,
//! ADRs 0010 and 0011): hold invoices for a payee's hashes, forwarded when the payee wakes.
//!
//! A payee commits to payment hashes (it keeps the preimages). A payer asks for an invoice
//! ([`Relay::offer`]): the gateway's node issues a *hold* invoice on an unused committed hash.
//! When the payer's HTLCs are held, the payee is woken (signed webhook, or it polls
//! [`Relay::pending`]); it hands in an invoice of its own node for the same hash
//! ([`Relay::claim`]); the gateway pays it, learns the preimage from that payment, and settles
//! the held HTLCs. Only the payee knows the preimage, so the gateway can delay but never steal.
//!
//! The state machine (offered → held → forwarding → settled | cancelled | expired; an operator's
//! early cancel: offered | held → cancelling → cancelled, [`Relay::cancel`]) lives in the
//! store ([`RelayStore`](crate::store::RelayStore)); [`Relay::tick`] re-drives every payment
//! that is not final from the store and the node, so a restart at any step continues where the
//! previous process stopped. The relay learns what happened on the node by asking it
//! (`invoice_state`, `payment_status`), not from the node's event queue, which stays the payment
//! watcher's alone (ADR 0010); the watcher only *wakes* the relay for a hash it saw an event of.
//! Between full passes the driver runs [`Relay::pass`]: only the payments its [`Schedule`] says
//! are due (issue #17).

mod cancel;
mod driver;
mod notify;
pub mod schedule;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lnedge_node::lightning_invoice::Bolt11Invoice;
use lnedge_node::{
    parse_invoice, BackendError, ErrorKind, InvoiceDescription, InvoiceParams, LightningBackend,
    PaymentHash,
};
use tokio::sync::watch;

use crate::store::relay::{PayeeRecord, RelayFilter, RelayPayment, RelayState};
use crate::store::{GatewayStore, StoreError};

pub use driver::TickReport;
pub use notify::MAX_CONCURRENT_WEBHOOKS;
pub use schedule::{Plan, Schedule};

/// Default of `[relay] payer_invoices_per_minute`.
pub const DEFAULT_PAYER_INVOICES_PER_MINUTE: u32 = 30;

/// The operator's settings of this feature (part of the [`GatewaySettings`](crate::engine::GatewaySettings)).
///
/// The deadline arithmetic (ADR 0011), all in blocks:
/// * held HTLCs are failed back (→ expired) once `claim_deadline − height ≤ cancel_margin_blocks`
///   unless they are being forwarded;
/// * a claim is forwarded only if `claim_deadline − height − safety_margin_blocks ≥ the payee
///   invoice's min_final_cltv_expiry_delta + route_budget_blocks`, and the downstream payment's
///   route may use at most `claim_deadline − height − safety_margin_blocks` blocks of CLTV in
///   total, so its outcome is known before the upstream claim deadline.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct RelaySettings {
    /// The relay's fee: a base amount per payment…
    pub fee_base_msat: u64,
    /// …plus parts per million of the held amount. The payee's invoice asks for the held amount
    /// minus the fee; the fee is also the most the gateway spends on routing fees downstream.
    pub fee_ppm: u64,
    /// The longest the gateway holds a payer's HTLCs (wall clock), whatever the CLTV allows.
    pub max_hold_secs: u64,
    /// The `min_final_cltv_expiry_delta` of the hold invoices: how long HTLCs can be held.
    pub hold_final_cltv_expiry_delta: u16,
    /// Cancel upstream when the claim deadline is this close (blocks).
    pub cancel_margin_blocks: u32,
    /// Blocks kept between the downstream payment's latest expiry and the upstream deadline.
    pub safety_margin_blocks: u32,
    /// Blocks reserved for the hops of the downstream route, on top of the payee's final delta.
    pub route_budget_blocks: u32,
    /// Expiry of the hold invoices given to payers.
    pub invoice_expiry_secs: u32,
    /// Downstream attempts per payment (a failed attempt returns the payment to held while
    /// attempts and time remain; then it is cancelled).
    pub max_attempts: u32,
    /// How often the driver reads the chain height (one node call) and runs a pass of what is
    /// due; woken payments are looked at at once, whatever this is.
    pub poll_interval: Duration,
    /// How often the driver re-checks every active payment with the node (a full pass: what
    /// another replica changed, or an event this process never saw, is found within it).
    pub full_pass_interval: Duration,
    /// How long one downstream payment attempt may take before the driver takes over.
    pub pay_timeout: Duration,
    /// Timeout of one webhook delivery.
    pub webhook_timeout: Duration,
    /// Longest pause between webhook retries (they back off exponentially from 1 s).
    pub webhook_max_backoff_secs: u64,
    /// Whether a payee's webhook may point at this host or its link (loopback, link-local such
    /// as 169.254.169.254, unspecified addresses, `localhost`). Off: a payee cannot make the
    /// gateway call its own admin port or a cloud metadata service. On for labs and tests.
    pub allow_private_webhooks: bool,
    /// Invoices a client may ask for on the open payer route (`POST /v1/payees/{id}/invoices`),
    /// per minute (a token bucket per client shared by every replica, scope `relay-payer`):
    /// each one uses up a committed hash.
    pub payer_invoices: crate::limits::Budget,
    /// In-process coordination shared by every clone (the payments this process is paying).
    pub(crate) shared: Arc<Shared>,
}

impl Default for RelaySettings {
    fn default() -> Self {
        RelaySettings {
            fee_base_msat: 1_000,
            fee_ppm: 1_000,
            max_hold_secs: 86_400,
            hold_final_cltv_expiry_delta: 288,
            cancel_margin_blocks: 12,
            safety_margin_blocks: 6,
            route_budget_blocks: 72,
            invoice_expiry_secs: 3_600,
            max_attempts: 3,
            poll_interval: Duration::from_secs(1),
            full_pass_interval: Duration::from_secs(30),
            pay_timeout: Duration::from_secs(60),
            webhook_timeout: Duration::from_secs(5),
            webhook_max_backoff_secs: 300,
            allow_private_webhooks: false,
            payer_invoices: crate::limits::Budget::per_minute(DEFAULT_PAYER_INVOICES_PER_MINUTE),
            shared: Arc::default(),
        }
    }
}

impl RelaySettings {
    /// The relay's fee on a held amount (at most the amount).
    pub fn fee_msat(&self, held_amount_msat: u64) -> u64 {
        let ppm = u128::from(held_amount_msat) * u128::from(self.fee_ppm) / 1_000_000;
        let fee = u128::from(self.fee_base_msat).saturating_add(ppm);
        u64::try_from(fee).unwrap_or(u64::MAX).min(held_amount_msat)
    }

    /// A copy that does not share the in-process state of `self` (a fresh process).
    pub fn fresh(&self) -> Self {
        RelaySettings { shared: Arc::default(), ..self.clone() }
    }
}

/// Hashes this process is working on right now: at most one task per hash.
#[derive(Debug, Default)]
pub(crate) struct InFlight(Mutex<HashSet<[u8; 32]>>);

impl InFlight {
    fn set(&self) -> std::sync::MutexGuard<'_, HashSet<[u8; 32]>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Marks `hash` as in flight; false if it already was.
    pub(crate) fn start(&self, hash: [u8; 32]) -> bool {
        self.set().insert(hash)
    }

    /// The work on `hash` ended.
    pub(crate) fn done(&self, hash: &[u8; 32]) {
        self.set().remove(hash);
    }

    /// Whether `hash` is in flight.
    pub(crate) fn contains(&self, hash: &[u8; 32]) -> bool {
        self.set().contains(hash)
    }

    fn clear(&self) {
        self.set().clear();
    }
}

/// What one process shares between its request handlers and its driver.
#[derive(Debug)]
pub(crate) struct Shared {
    /// Hashes whose downstream payment this process is sending right now.
    paying: InFlight,
    /// Hashes whose wake-up webhook is being delivered right now.
    notifying: InFlight,
    /// Bounds the webhook deliveries in flight ([`notify::MAX_CONCURRENT_WEBHOOKS`]).
    webhook_slots: Arc<tokio::sync::Semaphore>,
    /// The background tasks: payments and deliveries (aborted by [`Relay::abort`]).
    tasks: Mutex<Vec<tokio::task::AbortHandle>>,
    /// When to look at each payment again.
    schedule: Arc<Schedule>,
}

impl Default for Shared {
    fn default() -> Self {
        Shared {
            paying: InFlight::default(),
            notifying: InFlight::default(),
            webhook_slots: Arc::new(tokio::sync::Semaphore::new(notify::MAX_CONCURRENT_WEBHOOKS)),
            tasks: Mutex::default(),
            schedule: Arc::default(),
        }
    }
}

impl Shared {
    /// Keeps a background task's handle (for [`Relay::abort`]), forgetting finished ones.
    fn track(&self, task: tokio::task::AbortHandle) {
        let mut tasks = self.tasks.lock().unwrap_or_else(|p| p.into_inner());
        tasks.retain(|t| !t.is_finished());
        tasks.push(task);
    }
}

/// Why a relay operation failed. The API maps each to a status and code.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RelayError {
    /// No such payee.
    #[error("unknown payee {0}")]
    UnknownPayee(String),
    /// No relay payment of this payee has this hash.
    #[error("no relay payment of payee {payee} has hash {hash}")]
    UnknownPayment {
        /// The payee.
        payee: String,
        /// The hash (hex).
        hash: String,
    },
    /// No relay payment has this hash (hex).
    #[error("no relay payment has hash {0}")]
    NotFound(String),
    /// The payee has no unused committed hash left.
    #[error("payee {0} has no unused committed hash: it must commit more")]
    NoUnusedHash(String),
    /// A field of the request is not acceptable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The payment is not in a state that allows this.
    #[error("payment {hash} is {state}: {message}")]
    WrongState {
        /// The hash (hex).
        hash: String,
        /// Its state.
        state: RelayState,
        /// What cannot be done.
        message: String,
    },
    /// Too few blocks are left before the claim deadline to forward safely.
    #[error(
        "payment {hash}: {budget_blocks} blocks left before the claim deadline (after the safety \
         margin), {needed_blocks} needed for the payee's invoice and the route"
    )]
    CltvBudget {
        /// The hash (hex).
        hash: String,
        /// What is left.
        budget_blocks: u32,
        /// What is needed.
        needed_blocks: u32,
    },
    /// Another writer changed the payment at the same time; retry.
    #[error("payment {0} was changed concurrently; retry")]
    Conflict(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The gateway's node failed.
    #[error("the gateway's node: {0}")]
    Node(#[from] BackendError),
}

/// Why a payee request's signature was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayeeAuthError {
    /// The timestamp or signature is missing.
    #[error("payee requests need a signed timestamp and a signature")]
    Missing,
    /// The signature does not verify (or the timestamp is not a number).
    #[error("the payee signature does not verify")]
    Bad,
    /// The signed timestamp is too far from the gateway's clock (a replay, or a wrong clock).
    #[error("the signed timestamp is too far from the gateway's clock (replay protection)")]
    Stale,
}

fn invalid(field: &'static str, message: impl Into<String>) -> RelayError {
    RelayError::Invalid { field, message: message.into() }
}

pub(crate) use crate::clock::now_secs;

/// The relay: the store, the gateway's nodes, the key payee keys derive from, the settings.
#[derive(Clone)]
pub struct Relay {
    store: Arc<dyn GatewayStore>,
    /// Issues and holds the hold invoices (upstream).
    node: Arc<dyn LightningBackend>,
    /// Pays the payees' invoices (downstream): `node` unless a separate node is set (ADR 0012).
    forward: Arc<dyn LightningBackend>,
    master_key: Arc<[u8; 32]>,
    settings: RelaySettings,
    http: reqwest::Client,
}

impl std::fmt::Debug for Relay {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Relay")
            .field("store", &self.store.name())
            .field("node", &self.node.backend_name())
            .field("forward", &self.forward.backend_name())
            .field("master_key", &"<secret>")
            .field("settings", &self.settings)
            .finish()
    }
}

impl Relay {
    /// A relay whose `node` both holds the payers' HTLCs and pays the payees (see
    /// [`with_forward_node`](Self::with_forward_node)). Payee keys derive from `master_key`
    /// ([`payee_key`](lnedge_wire::keys::payee_key)).
    pub fn new(
        store: Arc<dyn GatewayStore>,
        node: Arc<dyn LightningBackend>,
        master_key: [u8; 32],
        settings: RelaySettings,
    ) -> Self {
        let http = reqwest::Client::builder()
            .timeout(settings.webhook_timeout)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        let forward = node.clone();
        Relay { store, node, forward, master_key: Arc::new(master_key), settings, http }
    }

    /// Pays the payees' invoices from `forward` instead of the holding node.
    ///
    /// Needed when the holding node cannot pay a hash it is receiving: ldk-node 0.7.1 keys
    /// payments by hash in both directions (ADR 0012). The forwarding node's payment outcomes
    /// are read with `payment_status`; its event queue is not the relay's (see
    /// [`drain_events`]).
    pub fn with_forward_node(mut self, forward: Arc<dyn LightningBackend>) -> Self {
        self.forward = forward;
        self
    }

    /// Whether the payees are paid from a node other than the holding one.
    pub fn has_forward_node(&self) -> bool {
        !Arc::ptr_eq(&self.node, &self.forward)
    }

    /// The store.
    pub fn store(&self) -> &Arc<dyn GatewayStore> {
        &self.store
    }

    /// The settings.
    pub fn settings(&self) -> &RelaySettings {
        &self.settings
    }

    /// The key of payee `payee_id`.
    pub fn payee_key(&self, payee_id: &str) -> [u8; 32] {
        lnedge_wire::keys::payee_key(&self.master_key, payee_id)
    }

    /// Checks a payee's signature of a request (`lnedge_wire::sign`: method, path, the signed
    /// `timestamp` and the body; constant time), then that the timestamp is within
    /// [`MAX_CLOCK_SKEW_SECS`](lnedge_wire::sign::MAX_CLOCK_SKEW_SECS) of the gateway's clock.
    /// `timestamp` and `signature` are the header values, if the request had them.
    pub fn verify_payee_request(
        &self,
        payee_id: &str,
        method: &str,
        path: &str,
        timestamp: Option<&str>,
        signature: Option<&str>,
        body: &[u8],
    ) -> Result<(), PayeeAuthError> {
        let (Some(timestamp), Some(signature)) = (timestamp, signature) else {
            return Err(PayeeAuthError::Missing);
        };
        let timestamp: u64 = timestamp.trim().parse().map_err(|_| PayeeAuthError::Bad)?;
        let key = zeroize::Zeroizing::new(self.payee_key(payee_id));
        lnedge_wire::sign::verify_request(
            &key,
            method,
            path,
            timestamp,
            body,
            signature,
            now_secs(),
        )
        .map_err(|e| match e {
            lnedge_wire::SignatureError::Stale { .. } => PayeeAuthError::Stale,
            _ => PayeeAuthError::Bad,
        })
    }

    /// Enrols a payee; returns it and its key.
    pub async fn register(&self, name: &str) -> Result<(PayeeRecord, [u8; 32]), RelayError> {
        if name.trim().is_empty() || name.len() > 200 {
            return Err(invalid("name", "must be 1 to 200 bytes"));
        }
        let payee = PayeeRecord {
            id: hex::encode(rand::random::<[u8; 16]>()),
            name: name.trim().to_owned(),
            webhook_url: None,
            created_at: now_secs(),
        };
        self.store.insert_payee(&payee).await?;
        let key = self.payee_key(&payee.id);
        Ok((payee, key))
    }

    /// A payee, or [`RelayError::UnknownPayee`].
    /// The operator's view of a payee: its record, how many committed hashes are unused, and
    /// all its relay payments.
    pub async fn payee_view(
        &self,
        payee_id: &str,
    ) -> Result<(PayeeRecord, u64, Vec<RelayPayment>), RelayError> {
        let payee = self.payee(payee_id).await?;
        let unused = self.store.unused_hash_count(payee_id).await?;
        let filter = RelayFilter { payee_id: Some(payee_id.to_owned()), active_only: false };
        Ok((payee, unused, self.store.relay_payments(&filter).await?))
    }

    /// Every relay payment (the operator's list).
    pub async fn payments(&self) -> Result<Vec<RelayPayment>, RelayError> {
        Ok(self.store.relay_payments(&RelayFilter::default()).await?)
    }

    /// A payee's record, or [`RelayError::UnknownPayee`].
    pub async fn payee(&self, payee_id: &str) -> Result<PayeeRecord, RelayError> {
        self.store
            .payee(payee_id)
            .await?
            .ok_or_else(|| RelayError::UnknownPayee(payee_id.to_owned()))
    }

    /// Records hashes the payee committed to; returns (new, unused).
    pub async fn commit(
        &self,
        payee_id: &str,
        hashes: &[[u8; 32]],
    ) -> Result<(u32, u64), RelayError> {
        self.payee(payee_id).await?;
        if hashes.is_empty() || hashes.len() > 1000 {
            return Err(invalid("payment_hashes", "give 1 to 1000 hashes"));
        }
        let added = self.store.commit_hashes(payee_id, hashes, now_secs()).await?;
        Ok((added, self.store.unused_hash_count(payee_id).await?))
    }

    /// Sets or clears the payee's webhook (`http://` or `https://` URL).
    pub async fn set_webhook(&self, payee_id: &str, url: Option<&str>) -> Result<(), RelayError> {
        if let Some(url) = url {
            let ok =
                (url.starts_with("http://") || url.starts_with("https://")) && url.len() <= 2000;
            let parsed = reqwest::Url::parse(url).ok().filter(|_| ok).ok_or_else(|| {
                invalid("webhook_url", "must be an http(s) URL of at most 2000 bytes")
            })?;
            if !self.settings.allow_private_webhooks && parsed.host().is_some_and(private_host) {
                return Err(invalid(
                    "webhook_url",
                    "points at a loopback, link-local or unspecified address; the operator can \
                     allow that with [relay] allow_private_webhooks",
                ));
            }
        }
        if !self.store.set_payee_webhook(payee_id, url).await? {
            return Err(RelayError::UnknownPayee(payee_id.to_owned()));
        }
        Ok(())
    }

    /// Issues a hold invoice for `amount_msat` on one of the payee's unused hashes (→ offered).
    pub async fn offer(
        &self,
        payee_id: &str,
        amount_msat: u64,
        description: &str,
    ) -> Result<RelayPayment, RelayError> {
        self.payee(payee_id).await?;
        if amount_msat == 0 || amount_msat > crate::bounds::MAX_AMOUNT_MSAT {
            return Err(invalid("amount_msat", "must be positive and at most 21e6 BTC"));
        }
        if amount_msat <= self.settings.fee_msat(amount_msat) {
            return Err(invalid("amount_msat", "does not cover the relay's fee"));
        }
        if description.len() > 639 {
            return Err(invalid("description", "at most 639 bytes (the BOLT 11 limit)"));
        }
        let now = now_secs();
        let expires_at = now.saturating_add(u64::from(self.settings.invoice_expiry_secs));
        let template =
            RelayPayment::offered([0; 32], payee_id, amount_msat, description, now, expires_at);
        let Some(mut payment) = self.store.take_unused_hash(&template).await? else {
            return Err(RelayError::NoUnusedHash(payee_id.to_owned()));
        };
        let params = InvoiceParams {
            amount_msat: Some(amount_msat),
            description: InvoiceDescription::Direct(description.to_owned()),
            expiry_secs: self.settings.invoice_expiry_secs,
            min_final_cltv_expiry_delta: Some(self.settings.hold_final_cltv_expiry_delta),
        };
        let hash = PaymentHash(payment.payment_hash);
        // A node that cannot set the delta holds for its default instead (shorter, still safe:
        // the deadline comes from the held HTLC itself).
        let created = match self.node.create_hold_invoice(hash, params.clone()).await {
            Err(BackendError::Unsupported { .. }) => {
                let params = InvoiceParams { min_final_cltv_expiry_delta: None, ..params };
                self.node.create_hold_invoice(hash, params).await
            }
            other => other,
        };
        let invoice = match created {
            Ok(invoice) => invoice,
            Err(e) => {
                // The hash was never published: end the payment, keep the error.
                payment.state = RelayState::Cancelled;
                payment.reason = Some(format!("the hold invoice could not be created: {e}"));
                payment.updated_at = now_secs();
                let _ = self.store.update_relay_payment(&payment).await;
                return Err(e.into());
            }
        };
        payment.bolt11 = invoice.to_string();
        payment.updated_at = now_secs();
        let stored = self
            .store
            .update_relay_payment(&payment)
            .await?
            .ok_or_else(|| RelayError::Conflict(hex::encode(payment.payment_hash)))?;
        // Held: the node's event wakes the driver. Never paid: look again at its expiry.
        let at_expiry = Plan { at_secs: Some(stored.expires_at), at_height: None };
        self.schedule().plan(stored.payment_hash, at_expiry);
        Ok(stored)
    }

    /// The payee's payments that are held or being forwarded.
    pub async fn pending(&self, payee_id: &str) -> Result<Vec<RelayPayment>, RelayError> {
        self.payee(payee_id).await?;
        let filter = RelayFilter { payee_id: Some(payee_id.to_owned()), active_only: true };
        let all = self.store.relay_payments(&filter).await?;
        Ok(all
            .into_iter()
            .filter(|p| matches!(p.state, RelayState::Held | RelayState::Forwarding))
            .collect())
    }

    /// The gateway node's block height.
    pub async fn height(&self) -> Result<u32, RelayError> {
        Ok(self.node.info().await?.block_height)
    }

    /// The payee hands in `bolt11` for one of its held payments: checks it, persists forwarding,
    /// and starts paying it in the background. Returns the payment (forwarding). A repeated
    /// claim with the same invoice returns the current state.
    pub async fn claim(&self, payee_id: &str, bolt11: &str) -> Result<RelayPayment, RelayError> {
        let invoice = parse_invoice(bolt11).map_err(|e| invalid("bolt11", e.to_string()))?;
        let hash: [u8; 32] = *invoice.payment_hash().as_ref();
        let unknown =
            || RelayError::UnknownPayment { payee: payee_id.to_owned(), hash: hex::encode(hash) };
        let payment = self.store.relay_payment(&hash).await?.ok_or_else(unknown)?;
        if payment.payee_id != payee_id {
            return Err(unknown());
        }
        let same_claim = payment.claim_bolt11.as_deref() == Some(&invoice.to_string());
        match payment.state {
            RelayState::Held => {}
            RelayState::Forwarding | RelayState::Settled if same_claim => return Ok(payment),
            state => {
                return Err(RelayError::WrongState {
                    hash: hex::encode(hash),
                    state,
                    message: "only a held payment can be claimed".into(),
                })
            }
        }
        let claim_amount = payment.claim_amount_msat();
        if let Some(asked) = invoice.amount_milli_satoshis() {
            if asked != claim_amount {
                return Err(invalid(
                    "bolt11",
                    format!("the invoice asks for {asked} msat; the claim amount is {claim_amount} msat"),
                ));
            }
        }
        if invoice.is_expired() {
            return Err(invalid("bolt11", "the invoice has expired"));
        }
        let height = self.height().await?;
        let budget = self.cltv_budget(&payment, height);
        let needed = u32::try_from(invoice.min_final_cltv_expiry_delta())
            .unwrap_or(u32::MAX)
            .saturating_add(self.settings.route_budget_blocks);
        if budget < needed {
            return Err(RelayError::CltvBudget {
                hash: hex::encode(hash),
                budget_blocks: budget,
                needed_blocks: needed,
            });
        }
        if !self.settings.shared.paying.start(hash) {
            return Err(RelayError::Conflict(hex::encode(hash)));
        }
        let mut forwarding = payment.clone();
        forwarding.state = RelayState::Forwarding;
        forwarding.claim_bolt11 = Some(invoice.to_string());
        forwarding.attempts = forwarding.attempts.saturating_add(1);
        forwarding.reason = None;
        forwarding.updated_at = now_secs();
        // Persisted before anything is sent: a crash from here on is re-driven by `tick`.
        let stored = match self.store.update_relay_payment(&forwarding).await {
            Ok(Some(stored)) => stored,
            Ok(None) => {
                self.settings.shared.paying.done(&hash);
                return Err(RelayError::Conflict(hex::encode(hash)));
            }
            Err(e) => {
                self.settings.shared.paying.done(&hash);
                return Err(e.into());
            }
        };
        self.spawn_pay(hash, invoice, claim_amount, payment.fee_msat.unwrap_or(0), budget);
        Ok(stored)
    }

    /// Blocks left for the downstream payment: `claim_deadline − height − safety_margin`.
    fn cltv_budget(&self, payment: &RelayPayment, height: u32) -> u32 {
        payment
            .claim_deadline_height
            .unwrap_or(0)
            .saturating_sub(height)
            .saturating_sub(self.settings.safety_margin_blocks)
    }

    /// Pays the claim in the background (the caller marked `hash` as being paid), then drives
    /// the payment to its next state at once.
    pub(crate) fn spawn_pay(
        &self,
        hash: [u8; 32],
        invoice: Bolt11Invoice,
        claim_amount_msat: u64,
        fee_msat: u64,
        budget: u32,
    ) {
        let relay = self.clone();
        let task = tokio::spawn(async move {
            let amount_msat =
                invoice.amount_milli_satoshis().is_none().then_some(claim_amount_msat);
            let request = lnedge_node::PayRequest {
                invoice,
                amount_msat,
                // The gateway never spends more on routing than it earns.
                max_fee_msat: fee_msat,
                timeout: relay.settings.pay_timeout,
                max_total_cltv_expiry_delta: Some(budget),
            };
            let paid = match relay.forward.pay(request.clone()).await {
                Err(BackendError::Unsupported { .. }) => {
                    let request =
                        lnedge_node::PayRequest { max_total_cltv_expiry_delta: None, ..request };
                    relay.forward.pay(request).await
                }
                other => other,
            };
            if let Err(e) = &paid {
                if e.kind() != ErrorKind::Permanent {
                    tracing::info!(hash = %hex::encode(hash), "downstream payment not finished: {e}");
                }
            }
            relay.settings.shared.paying.done(&hash);
            match relay.drive_hash(&hash).await {
                Ok(_) | Err(RelayError::Conflict(_)) => {}
                Err(e) => {
                    tracing::warn!(hash = %hex::encode(hash), "driving after the payment: {e}")
                }
            }
        });
        self.settings.shared.track(task.abort_handle());
    }

    /// Stops this process's background payment tasks at once (a crash, for tests; the node's
    /// payments go on and the next [`tick`](Self::tick) picks their outcome up).
    pub fn abort(&self) {
        let tasks = std::mem::take(
            &mut *self.settings.shared.tasks.lock().unwrap_or_else(|p| p.into_inner()),
        );
        for task in tasks {
            task.abort();
        }
        self.settings.shared.paying.clear();
        self.settings.shared.notifying.clear();
    }

    /// This process's schedule: [`Schedule::wake`] makes the driver look at a hash at once (the
    /// payment watcher calls it for every invoice event of the node).
    pub fn schedule(&self) -> Arc<Schedule> {
        self.settings.shared.schedule.clone()
    }

    /// Runs until `shutdown` turns true: a full [`tick`](Self::tick) at start and every
    /// `full_pass_interval`; in between, a [`pass`](Self::pass) of what is due whenever a
    /// payment is woken, a planned time comes, or (every `poll_interval`) the height is read.
    pub async fn run(self, mut shutdown: watch::Receiver<bool>) {
        use tokio::time::Instant;
        let mut next_full = Instant::now();
        let mut next_height = Instant::now();
        let mut height = None;
        let schedule = self.schedule();
        loop {
            let now = Instant::now();
            if now >= next_full {
                match self.tick().await {
                    Ok(_) => next_full = now + self.settings.full_pass_interval,
                    Err(e) => {
                        tracing::warn!("relay full pass failed, retrying: {e}");
                        next_full = now + self.settings.poll_interval;
                    }
                }
            }
            if now >= next_height {
                match self.height().await {
                    Ok(h) => height = Some(h),
                    Err(e) => tracing::warn!("relay: reading the height failed: {e}"),
                }
                next_height = now + self.settings.poll_interval;
            }
            if let Some(height) = height {
                if let Err(e) = self.pass(height).await {
                    tracing::warn!("relay pass failed, retrying: {e}");
                }
            }
            let until_plan = schedule
                .next_secs()
                .map(|t| Duration::from_secs(t.saturating_sub(now_secs())))
                .unwrap_or(Duration::MAX);
            let planned = Instant::now().checked_add(until_plan).unwrap_or(next_full);
            let wake_at = next_full.min(next_height).min(planned);
            tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                _ = schedule.woken() => {}
                _ = tokio::time::sleep_until(wake_at) => {}
            }
        }
    }
}

/// Acknowledges every event of a node no one else reads (the relay's forwarding node: the relay
/// asks it for payment outcomes with `payment_status`, so its queue would only grow), until
/// `shutdown` turns true.
pub async fn drain_events(node: Arc<dyn LightningBackend>, mut shutdown: watch::Receiver<bool>) {
    loop {
        let event = tokio::select! {
            _ = shutdown.wait_for(|stop| *stop) => return,
            event = node.next_event() => event,
        };
        match event {
            Ok(queued) => {
                tracing::debug!(event = ?queued.event, "forwarding node event");
                if let Err(e) = node.event_handled(queued.id).await {
                    tracing::warn!("acknowledging a forwarding node event: {e}");
                }
            }
            Err(e) => {
                tracing::warn!("reading the forwarding node's events, retrying: {e}");
                tokio::time::sleep(Duration::from_secs(1)).await;
            }
        }
    }
}

/// Whether a webhook host is this machine or its link: `localhost` (and `*.localhost`),
/// loopback, link-local (169.254.0.0/16, fe80::/10), unspecified and broadcast addresses, also
/// as IPv4-mapped IPv6.
fn private_host(host: url::Host<&str>) -> bool {
    use std::net::Ipv4Addr;
    let v4 = |ip: Ipv4Addr| {
        ip.is_loopback() || ip.is_link_local() || ip.is_unspecified() || ip.is_broadcast()
    };
    match host {
        url::Host::Domain(name) => {
            let name = name.trim_end_matches('.').to_ascii_lowercase();
            name == "localhost" || name.ends_with(".localhost")
        }
        url::Host::Ipv4(ip) => v4(ip),
        url::Host::Ipv6(ip) => {
            ip.is_loopback()
                || ip.is_unspecified()
                || (ip.segments()[0] & 0xffc0) == 0xfe80
                || ip.to_ipv4_mapped().is_some_and(v4)
        }
    }
}
