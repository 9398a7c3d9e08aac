//! Embedded [ldk-node](https://docs.rs/ldk-node) as a [`LightningBackend`](crate::LightningBackend).
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
//!   as held until [`settle_hold_invoice`](crate::LightningBackend::settle_hold_invoice) or
//!   [`cancel_hold_invoice`](crate::LightningBackend::cancel_hold_invoice).
//! * Claim deadline: LDK fails a held HTLC back by itself once the chain reaches the claim
//!   deadline, but ldk-node 0.7 surfaces that to nobody (LDK's `HTLCHandlingFailed` is consumed
//!   internally). So the backend watches the block height and fails held HTLCs back itself
//!   [`HOLD_FAILBACK_MARGIN_BLOCKS`] before the deadline, moving the invoice to `Cancelled` and
//!   queueing `InvoiceCancelled`.
//! * ldk-node's blocking calls use `tokio::task::block_in_place`: run the backend on a
//!   multi-threaded tokio runtime.

mod config;
mod contract;
mod errors;
mod keys;
mod pump;

pub use config::{ChainSource, ChainSourceError, LdkConfig};
/// ldk-node's log levels, for [`LdkConfig::log_level`].
pub use ldk_node::logger::LogLevel;

use std::collections::HashSet;
use std::sync::{Arc, Mutex};

use bitcoin::Network;
use ldk_node::lightning::ln::msgs::SocketAddress;
use ldk_node::{Builder, Node, NodeError};
use lightning_types::payment::PaymentHash;
use tokio::sync::{watch, Notify};
use tokio::task::JoinHandle;

use crate::backend::InvoiceState;
use crate::error::BackendError;
use crate::event::BackendEvent;
use crate::store::BackendStore;

/// How many blocks before a held HTLC's claim deadline the backend fails it back by itself.
///
/// LDK gives up on a held HTLC at the deadline; failing it one block earlier leaves no window
/// in which a settle could race LDK's own fail-back.
pub const HOLD_FAILBACK_MARGIN_BLOCKS: u32 = 1;

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
    /// Signs hold invoices with a longer final CLTV delta (`None` if the node key could not be
    /// derived; see [`keys`]).
    signer: Option<keys::InvoiceSigner>,
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

/// A [`LightningBackend`](crate::LightningBackend) on an embedded ldk-node.
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
        // The backend owns the seed (ldk-node's default file) so it can derive the node key
        // that signs hold invoices with a longer final CLTV delta (keys.rs, ADR 0012).
        let seed = keys::load_or_create_seed(&ldk_dir.join("keys_seed"))?;
        let mut builder = Builder::new();
        builder.set_entropy_seed_bytes(seed);
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
        let signer = keys::InvoiceSigner::derive(&seed, config.network, &node.node_id());
        if signer.is_none() {
            tracing::warn!(
                "the node key derived from the seed is not the node's id: hold invoices keep \
                 ldk-node's default final CLTV delta (short holds)"
            );
        }

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
            signer,
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
}

impl Drop for LdkBackend {
    fn drop(&mut self) {
        let _ = self.shutdown.send(true);
        if let Some(pump) = self.pump.lock().unwrap_or_else(|p| p.into_inner()).take() {
            pump.abort();
        }
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
