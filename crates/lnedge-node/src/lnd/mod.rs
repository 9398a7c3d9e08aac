//! The operator's own LND behind the [`LightningBackend`](crate::LightningBackend) contract,
//! through LND's REST gateway (ADR 0017).
//!
//! * [`config`]: `node.rest_url`, `node.tls_cert`, `node.macaroon`, checked at start;
//! * [`rest`](self): the gateway's encodings, streams and errors;
//! * `contract.rs`: every contract method on LND's RPCs — `AddInvoice` with `r_preimage`,
//!   `AddHoldInvoice` / `SettleInvoice` / `CancelInvoice`, `LookupInvoice`, `SendPaymentV2` with
//!   `fee_limit_msat` and `cltv_limit`, `TrackPaymentV2`;
//! * `pump.rs`: `SubscribeInvoices` resumed by index plus a read-back of unresolved invoices,
//!   into the durable event queue of the [`BackendStore`].
//!
//! LND keeps the node's state; the backend keeps, in its data directory, what the contract
//! needs on top: which invoices were created through it (for idempotency and to ignore the
//! node's other invoices), the preimages of auto-settling ones, the event queue and the stream
//! cursors. Tested against `lnedge-testnodes`' LND server (written from LND's published REST
//! descriptions), never against a real LND on these machines: `docs/backends.md` says what that
//! leaves unchecked and how to run the suite against a real one.

pub mod config;
mod contract;
mod pump;
mod rest;

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;

pub use config::LndConfig;
use rest::{Rest, RestError};

use crate::error::BackendError;
use crate::store::BackendStore;

/// The LND backend.
pub struct LndBackend {
    rest: Rest,
    store: Arc<BackendStore>,
    node_id: PublicKey,
    network: Network,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for LndBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("LndBackend")
            .field("node_id", &self.node_id)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

impl Drop for LndBackend {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The network LND names in `GetInfo.chains[].network`.
fn network_of(name: &str) -> Option<Network> {
    match name {
        "mainnet" => Some(Network::Bitcoin),
        "testnet" | "testnet3" => Some(Network::Testnet),
        "signet" => Some(Network::Signet),
        "regtest" | "simnet" => Some(Network::Regtest),
        _ => None,
    }
}

/// A start-up failure of `GetInfo`, naming the configuration key at fault.
fn start_error(config: &LndConfig, e: RestError) -> BackendError {
    let text = e.to_string();
    let lower = text.to_ascii_lowercase();
    match &e {
        RestError::Transport(_)
            if lower.contains("certificate") || lower.contains("unknownissuer") =>
        {
            BackendError::invalid(
                "node.tls_cert",
                format!(
                    "{}: LND's certificate is not this one ({text})",
                    config.tls_cert.display()
                ),
            )
        }
        RestError::Transport(_) => BackendError::invalid(
            "node.rest_url",
            format!("cannot reach LND at {}: {text}", config.rest_url),
        ),
        RestError::Lnd { .. } if e.not_ready() => BackendError::invalid(
            "node.rest_url",
            format!(
                "LND at {} is not ready: {text} (unlock its wallet: lncli unlock)",
                config.rest_url
            ),
        ),
        RestError::Lnd { .. }
            if lower.contains("macaroon") || lower.contains("verification failed") =>
        {
            BackendError::invalid(
                "node.macaroon",
                format!("{}: LND refused it ({text})", config.macaroon.display()),
            )
        }
        _ => e.into(),
    }
}

impl LndBackend {
    /// Connects to LND (`GetInfo`), opens the store in `config.data_dir` and starts following
    /// the node. A bad URL, certificate or macaroon fails here, naming its key.
    pub async fn connect(config: LndConfig) -> Result<Self, BackendError> {
        let creds = config.credentials()?;
        let rest = Rest::new(&config, &creds)?;
        let info = rest.get("/v1/getinfo").await.map_err(|e| start_error(&config, e))?;
        let node_id: PublicKey = rest::str_of(&info, "identity_pubkey").parse().map_err(|_| {
            BackendError::Node("GetInfo: identity_pubkey is not a public key".into())
        })?;
        let chain = info
            .get("chains")
            .and_then(|c| c.as_array())
            .and_then(|c| c.first())
            .map(|c| rest::str_of(c, "network").to_owned())
            .unwrap_or_default();
        let network = network_of(&chain)
            .ok_or_else(|| BackendError::Node(format!("GetInfo: unknown network {chain:?}")))?;
        let store = Arc::new(BackendStore::open(&config.data_dir)?);
        let mut tasks = vec![tokio::spawn(pump::invoices(rest.clone(), store.clone()))];
        for hash in store.pending_payments()? {
            tasks.push(tokio::spawn(pump::track(rest.clone(), store.clone(), hash)));
        }
        tracing::info!(%node_id, ?network, "connected to LND");
        Ok(LndBackend { rest, store, node_id, network, tasks })
    }
}
