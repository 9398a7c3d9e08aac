//! Embedded [ldk-node](https://docs.rs/ldk-node) as a [`LightningBackend`].
//!
//! [`LdkBackend::start`] builds an `ldk_node::Node` (filesystem store under `<data_dir>/ldk`),
//! opens the shared durable [`BackendStore`] in `<data_dir>` and spawns an event pump that
//! translates ldk-node's events, persists them through the store and only then acknowledges
//! them to ldk-node, so nothing is lost on a crash and replays are dropped by the store.
//!
//! How the contract maps onto ldk-node:
//!
//! * Every invoice is registered with `receive_for_hash`, so ldk-node never settles by itself;
//!   invoices with a caller-chosen preimage keep it in the store and the pump claims them when
//!   `PaymentClaimable` arrives. Hold invoices have no stored preimage: their HTLCs are recorded
//!   as held until [`settle_hold_invoice`](LightningBackend::settle_hold_invoice) or
//!   [`cancel_hold_invoice`](LightningBackend::cancel_hold_invoice).
//! * Claim deadline: LDK fails a held HTLC back by itself once the chain reaches the claim
//!   deadline, but ldk-node 0.7 surfaces that to nobody (LDK's `HTLCHandlingFailed` is consumed
//!   internally). So the backend watches the block height and fails held HTLCs back itself
//!   [`HOLD_FAILBACK_MARGIN_BLOCKS`] before the deadline, moving the invoice to `Cancelled` and
//!   queueing `InvoiceCancelled`.
//! * ldk-node's blocking calls use `tokio::task::block_in_place`: run the backend on a
//!   multi-threaded tokio runtime.

mod errors;
mod pump;

/// ldk-node's log levels, for [`LdkConfig::log_level`].
pub use ldk_node::logger::LogLevel;

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::Network;
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::lightning::routing::router::RouteParametersConfig;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description, Sha256};
use ldk_node::payment::{PaymentKind, PaymentStatus};
use ldk_node::{Builder, Node, NodeError};
use lightning_invoice::Bolt11Invoice;
use lightning_types::payment::{PaymentHash, PaymentPreimage};
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::backend::{
    check_pay_request, InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend, NodeInfo,
    PayRequest, PaymentOutcome,
};
use crate::error::{BackendError, PayFailure};
use crate::event::{BackendEvent, EventId, QueuedEvent};
use crate::store::{BackendStore, StoredPayment};

/// How many blocks before a held HTLC's claim deadline the backend fails it back by itself.
///
/// LDK gives up on a held HTLC at the deadline; failing it one block earlier leaves no window
/// in which a settle could race LDK's own fail-back.
pub const HOLD_FAILBACK_MARGIN_BLOCKS: u32 = 1;

/// Where the node gets its chain data from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ChainSource {
    /// An Esplora HTTP server.
    Esplora {
        /// The server's base URL, e.g. `https://blockstream.info/api`.
        url: String,
    },
    /// An Electrum server.
    Electrum {
        /// The server's URL, e.g. `ssl://electrum.blockstream.info:50002`.
        url: String,
    },
    /// A Bitcoin Core (or Knots) node's JSON-RPC interface.
    BitcoindRpc {
        /// RPC host name or address.
        host: String,
        /// RPC port.
        port: u16,
        /// RPC user name.
        user: String,
        /// RPC password.
        password: String,
    },
}

/// How to build and run the embedded ldk-node.
#[derive(Debug, Clone)]
pub struct LdkConfig {
    /// Directory of the backend: the store lives here, ldk-node's data under `ldk/`.
    pub data_dir: PathBuf,
    /// The Bitcoin network.
    pub network: Network,
    /// Where chain data comes from.
    pub chain_source: ChainSource,
    /// Address to accept Lightning peer connections on; required for announced channels.
    pub listen_addr: Option<SocketAddr>,
    /// The node alias (at most 32 bytes); announced channels need a non-empty one.
    pub alias: String,
    /// The most detailed level written to ldk-node's log file (`<data_dir>/ldk/logs/`).
    pub log_level: LogLevel,
}

impl LdkConfig {
    /// A configuration with no listening address, an empty alias and `Info` logging.
    pub fn new(data_dir: impl Into<PathBuf>, network: Network, chain_source: ChainSource) -> Self {
        LdkConfig {
            data_dir: data_dir.into(),
            network,
            chain_source,
            listen_addr: None,
            alias: String::new(),
            log_level: LogLevel::Info,
        }
    }
}

/// State shared by the backend handle and its event pump.
struct Inner {
    node: Arc<Node>,
    store: BackendStore,
    network: Network,
    alias: String,
    /// Woken whenever a payment outcome is recorded.
    payments_changed: Notify,
    /// Serialises invoice creation (check-then-insert).
    create_lock: tokio::sync::Mutex<()>,
    /// Serialises pay's check-then-send per backend.
    pay_lock: tokio::sync::Mutex<()>,
    /// Serialises invoice state changes (settle, cancel, the pump, the deadline watcher).
    state_lock: tokio::sync::Mutex<()>,
    /// Hold invoices whose settle was issued and whose `PaymentReceived` has not arrived yet.
    claiming: Mutex<HashSet<PaymentHash>>,
}

impl Inner {
    fn height(&self) -> u32 {
        self.node.status().current_best_block.height
    }

    fn claiming(&self) -> std::sync::MutexGuard<'_, HashSet<PaymentHash>> {
        self.claiming.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Fails back a held or open hold invoice and records it as cancelled (call with
    /// `state_lock` held).
    fn cancel_locked(&self, hash: PaymentHash) -> Result<(), BackendError> {
        match self.node.bolt11_payment().fail_for_hash(hash) {
            // Not registered with ldk-node (cannot happen for invoices made here): nothing to fail.
            Ok(()) | Err(NodeError::InvalidPaymentHash) => {}
            Err(e) => return Err(errors::node_error("fail_for_hash", e)),
        }
        let event = BackendEvent::InvoiceCancelled { payment_hash: hash };
        self.store.transition(&hash, InvoiceState::Cancelled, Some(&event))?;
        Ok(())
    }
}

/// A [`LightningBackend`] on an embedded ldk-node.
pub struct LdkBackend {
    inner: Arc<Inner>,
    shutdown: watch::Sender<bool>,
    pump: Mutex<Option<JoinHandle<()>>>,
}

impl std::fmt::Debug for LdkBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LdkBackend")
            .field("node_id", &self.inner.node.node_id())
            .field("network", &self.inner.network)
            .finish_non_exhaustive()
    }
}

impl LdkBackend {
    /// Builds and starts the node, opens the store and starts the event pump.
    ///
    /// Must be called on a multi-threaded tokio runtime.
    pub async fn start(config: LdkConfig) -> Result<Self, BackendError> {
        let multi_thread = tokio::runtime::Handle::try_current()
            .is_ok_and(|h| h.runtime_flavor() == tokio::runtime::RuntimeFlavor::MultiThread);
        if !multi_thread {
            return Err(BackendError::invalid(
                "runtime",
                "ldk-node blocks with block_in_place: start the backend on a multi-threaded tokio \
                 runtime",
            ));
        }
        let store = BackendStore::open(&config.data_dir)?;
        let ldk_dir = config.data_dir.join("ldk");
        let mut builder = Builder::new();
        builder.set_network(config.network);
        builder.set_storage_dir_path(ldk_dir.to_string_lossy().into_owned());
        builder.set_filesystem_logger(None, Some(config.log_level));
        match &config.chain_source {
            ChainSource::Esplora { url } => {
                builder.set_chain_source_esplora(url.clone(), None);
            }
            ChainSource::Electrum { url } => {
                builder.set_chain_source_electrum(url.clone(), None);
            }
            ChainSource::BitcoindRpc { host, port, user, password } => {
                builder.set_chain_source_bitcoind_rpc(
                    host.clone(),
                    *port,
                    user.clone(),
                    password.clone(),
                );
            }
        }
        if let Some(addr) = config.listen_addr {
            builder
                .set_listening_addresses(vec![SocketAddress::from(addr)])
                .map_err(errors::build_error)?;
        }
        if !config.alias.is_empty() {
            builder.set_node_alias(config.alias.clone()).map_err(errors::build_error)?;
        }
        let node = Arc::new(builder.build_with_fs_store().map_err(errors::build_error)?);
        node.start().map_err(|e| errors::node_error("start", e))?;

        let inner = Arc::new(Inner {
            node,
            store,
            network: config.network,
            alias: config.alias,
            payments_changed: Notify::new(),
            create_lock: tokio::sync::Mutex::new(()),
            pay_lock: tokio::sync::Mutex::new(()),
            state_lock: tokio::sync::Mutex::new(()),
            claiming: Mutex::new(HashSet::new()),
        });
        let (shutdown, shutdown_rx) = watch::channel(false);
        let pump = tokio::spawn(pump::run(Arc::clone(&inner), shutdown_rx));
        Ok(LdkBackend { inner, shutdown, pump: Mutex::new(Some(pump)) })
    }

    /// Stops the event pump, then the node. Stopping twice is not an error.
    pub async fn stop(&self) -> Result<(), BackendError> {
        let _ = self.shutdown.send(true);
        let pump = self.pump.lock().unwrap_or_else(|p| p.into_inner()).take();
        if let Some(pump) = pump {
            if let Err(e) = pump.await {
                tracing::warn!("the ldk-node event pump ended abnormally: {e}");
            }
        }
        match self.inner.node.stop() {
            Ok(()) | Err(NodeError::NotRunning) => Ok(()),
            Err(e) => Err(errors::node_error("stop", e)),
        }
    }

    /// The embedded node, for setup the contract does not cover (funding, peers, channels).
    ///
    /// Do not consume its events (`next_event`, `event_handled`): the backend's pump does.
    pub fn node(&self) -> &Arc<Node> {
        &self.inner.node
    }

    /// The durable store of this backend.
    pub fn store(&self) -> &BackendStore {
        &self.inner.store
    }

    async fn create(
        &self,
        hash: PaymentHash,
        preimage: Option<PaymentPreimage>,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        params.validate()?;
        let hold = preimage.is_none();
        let _guard = self.inner.create_lock.lock().await;
        if let Some(bolt11) = self.inner.store.existing_invoice(&hash, hold, &params)? {
            return bolt11.parse::<Bolt11Invoice>().map_err(|e| {
                BackendError::Storage(format!("stored invoice for {hash} is unreadable: {e}"))
            });
        }
        let description = match &params.description {
            InvoiceDescription::Direct(text) => Bolt11InvoiceDescription::Direct(
                Description::new(text.clone())
                    .map_err(|e| BackendError::invalid("description", e.to_string()))?,
            ),
            InvoiceDescription::Hash(digest) => {
                Bolt11InvoiceDescription::Hash(Sha256(sha256::Hash::from_byte_array(*digest)))
            }
        };
        let payments = self.inner.node.bolt11_payment();
        let invoice = match params.amount_msat {
            Some(amount_msat) => {
                payments.receive_for_hash(amount_msat, &description, params.expiry_secs, hash)
            }
            None => {
                payments.receive_variable_amount_for_hash(&description, params.expiry_secs, hash)
            }
        }
        .map_err(|e| errors::node_error("receive_for_hash", e))?;
        self.inner.store.insert_invoice(&hash, preimage.as_ref(), &params, &invoice.to_string())?;
        Ok(invoice)
    }

    /// Reconciles with ldk-node's own record when it refuses a payment as a duplicate (our
    /// store lost track of it, e.g. after a crash between sending and recording).
    fn reconcile_duplicate(&self, hash: PaymentHash) -> Result<(), BackendError> {
        let Some(details) = self.inner.node.payment(&PaymentId(hash.0)) else {
            return Ok(());
        };
        if details.status == PaymentStatus::Succeeded {
            if let PaymentKind::Bolt11 { preimage: Some(preimage), .. } = details.kind {
                let event = BackendEvent::PaymentSucceeded {
                    payment_hash: hash,
                    preimage,
                    fee_paid_msat: details.fee_paid_msat,
                };
                self.inner.store.payment_resolved(&event)?;
            }
        }
        Ok(())
    }

    async fn wait_for_outcome(
        &self,
        hash: PaymentHash,
        request: &PayRequest,
    ) -> Result<PaymentOutcome, BackendError> {
        let deadline = tokio::time::Instant::now() + request.timeout;
        let expired_at_secs = request
            .invoice
            .duration_since_epoch()
            .saturating_add(request.invoice.expiry_time())
            .as_secs();
        loop {
            let notified = self.inner.payments_changed.notified();
            match self.inner.store.payment(&hash)? {
                Some(StoredPayment::Succeeded { preimage, fee_paid_msat }) => {
                    return Ok(PaymentOutcome { payment_hash: hash, preimage, fee_paid_msat });
                }
                Some(StoredPayment::Failed { reason }) => {
                    return Err(errors::decode_reason(&reason, expired_at_secs).into());
                }
                Some(StoredPayment::Pending) | None => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(PayFailure::Timeout { timeout_secs: request.timeout.as_secs() }.into());
            }
            // Poll as a fallback in case a notification raced the read above.
            let wake = deadline.min(now + Duration::from_millis(250));
            let _ = tokio::time::timeout_at(wake, notified).await;
        }
    }
}

impl Drop for LdkBackend {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(pump) = self.pump.lock().unwrap_or_else(|p| p.into_inner()).take() {
            pump.abort();
        }
    }
}

fn hash_of(preimage: &PaymentPreimage) -> PaymentHash {
    PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array())
}

#[async_trait]
impl LightningBackend for LdkBackend {
    fn backend_name(&self) -> &'static str {
        "ldk-node"
    }

    async fn info(&self) -> Result<NodeInfo, BackendError> {
        let status = self.inner.node.status();
        if !status.is_running {
            return Err(BackendError::Unavailable("the ldk-node is not running".into()));
        }
        Ok(NodeInfo {
            node_id: self.inner.node.node_id(),
            network: self.inner.network,
            alias: self.inner.alias.clone(),
            block_height: status.current_best_block.height,
        })
    }

    async fn create_invoice(
        &self,
        preimage: PaymentPreimage,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        self.create(hash_of(&preimage), Some(preimage), params).await
    }

    async fn create_hold_invoice(
        &self,
        payment_hash: PaymentHash,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        self.create(payment_hash, None, params).await
    }

    async fn settle_hold_invoice(&self, preimage: PaymentPreimage) -> Result<(), BackendError> {
        let hash = hash_of(&preimage);
        let _guard = self.inner.state_lock.lock().await;
        let invoice = self
            .inner
            .store
            .invoice(&hash)?
            .filter(|i| i.hold)
            .ok_or(BackendError::UnknownPaymentHash(hash))?;
        let wrong = |state: &InvoiceState| BackendError::WrongInvoiceState {
            payment_hash: hash,
            state: state.name(),
            operation: "settled",
        };
        match invoice.state {
            InvoiceState::Held { amount_msat, claim_deadline_height } => {
                let height = self.inner.height();
                if let Some(deadline) = claim_deadline_height {
                    if height.saturating_add(HOLD_FAILBACK_MARGIN_BLOCKS) >= deadline {
                        // Too late to claim safely: fail back now, as the watcher would.
                        self.inner.cancel_locked(hash)?;
                        return Err(wrong(&InvoiceState::Cancelled));
                    }
                }
                self.inner.claiming().insert(hash);
                self.inner
                    .node
                    .bolt11_payment()
                    .claim_for_hash(hash, amount_msat, preimage)
                    .map_err(|e| errors::node_error("claim_for_hash", e))
            }
            InvoiceState::Settled { .. } => Ok(()),
            state @ (InvoiceState::Open | InvoiceState::Cancelled) => Err(wrong(&state)),
        }
    }

    async fn cancel_hold_invoice(&self, payment_hash: PaymentHash) -> Result<(), BackendError> {
        let _guard = self.inner.state_lock.lock().await;
        let invoice = self
            .inner
            .store
            .invoice(&payment_hash)?
            .filter(|i| i.hold)
            .ok_or(BackendError::UnknownPaymentHash(payment_hash))?;
        let settled = BackendError::WrongInvoiceState {
            payment_hash,
            state: "settled",
            operation: "cancelled",
        };
        match invoice.state {
            InvoiceState::Cancelled => Ok(()),
            InvoiceState::Settled { .. } => Err(settled),
            // A settle was issued: the preimage is out, the HTLCs can no longer be failed.
            InvoiceState::Held { .. } if self.inner.claiming().contains(&payment_hash) => {
                Err(settled)
            }
            InvoiceState::Open | InvoiceState::Held { .. } => {
                self.inner.cancel_locked(payment_hash)
            }
        }
    }

    async fn invoice_state(&self, payment_hash: PaymentHash) -> Result<InvoiceState, BackendError> {
        self.inner
            .store
            .invoice(&payment_hash)?
            .map(|i| i.state)
            .ok_or(BackendError::UnknownPaymentHash(payment_hash))
    }

    async fn pay(&self, request: PayRequest) -> Result<PaymentOutcome, BackendError> {
        check_pay_request(&request)?;
        let invoice_network = request.invoice.network();
        if invoice_network != self.inner.network {
            return Err(PayFailure::WrongNetwork {
                invoice_network: invoice_network.to_string(),
                node_network: self.inner.network.to_string(),
            }
            .into());
        }
        let hash = PaymentHash(request.invoice.payment_hash().to_byte_array());
        {
            let _guard = self.inner.pay_lock.lock().await;
            match self.inner.store.payment(&hash)? {
                Some(StoredPayment::Succeeded { preimage, fee_paid_msat }) => {
                    return Ok(PaymentOutcome { payment_hash: hash, preimage, fee_paid_msat });
                }
                // In flight: wait for the same outcome below.
                Some(StoredPayment::Pending) => {}
                // Never sent, or failed before: (re)send.
                Some(StoredPayment::Failed { .. }) | None => {
                    self.inner.store.payment_started(&hash)?;
                    let route = RouteParametersConfig::default()
                        .with_max_total_routing_fee_msat(request.max_fee_msat);
                    let payments = self.inner.node.bolt11_payment();
                    let sent = match request.amount_msat {
                        None => payments.send(&request.invoice, Some(route)),
                        Some(amount_msat) => {
                            payments.send_using_amount(&request.invoice, amount_msat, Some(route))
                        }
                    };
                    match sent {
                        Ok(_) => {}
                        Err(NodeError::DuplicatePayment) => self.reconcile_duplicate(hash)?,
                        Err(e) => {
                            let error = errors::node_error("send", e);
                            let failure = match &error {
                                BackendError::Payment(failure) => failure.clone(),
                                other => PayFailure::Other(other.to_string()),
                            };
                            let event = BackendEvent::PaymentFailed {
                                payment_hash: hash,
                                reason: errors::send_failure_reason(&failure),
                            };
                            self.inner.store.payment_resolved(&event)?;
                            return Err(error);
                        }
                    }
                }
            }
        }
        self.wait_for_outcome(hash, &request).await
    }

    async fn next_event(&self) -> Result<QueuedEvent, BackendError> {
        self.inner.store.next_event().await
    }

    async fn event_handled(&self, id: EventId) -> Result<(), BackendError> {
        self.inner.store.event_handled(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config(dir: &std::path::Path) -> LdkConfig {
        let chain = ChainSource::Esplora { url: "http://127.0.0.1:9/unused".into() };
        LdkConfig::new(dir, Network::Regtest, chain)
    }

    #[tokio::test(flavor = "current_thread")]
    async fn a_current_thread_runtime_is_refused_not_a_panic() {
        let dir = tempfile::tempdir().expect("tempdir");
        let err = LdkBackend::start(config(dir.path())).await.expect_err("current_thread");
        assert!(matches!(err, BackendError::InvalidInput { what: "runtime", .. }), "{err}");
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_bad_alias_is_invalid_input() {
        let dir = tempfile::tempdir().expect("tempdir");
        let mut config = config(dir.path());
        config.alias = "an alias that is much longer than thirty-two bytes".into();
        let err = LdkBackend::start(config).await.expect_err("alias too long");
        assert!(matches!(err, BackendError::InvalidInput { what: "alias", .. }), "{err}");
    }
}
