//! The operator's own Core Lightning behind the [`LightningBackend`](crate::LightningBackend)
//! contract (ADR 0018): `cln-rpc` over lightningd's `lightning-rpc` socket, plus lnedge's small
//! plugin `lnedge-cln-hold` (crate `lnedge-cln-plugin`) for what CLN lacks.
//!
//! * [`config`]: `node.rpc_file`, checked at start;
//! * `rpc.rs`: calls, short ones on a shared connection, waiting ones on their own;
//! * `contract.rs`: every contract method — invoices (auto-settling and hold alike) through the
//!   plugin's `lnedge-invoice` (so description hashes and long final CLTV deltas work for
//!   both), `lnedge-settle` / `lnedge-cancel` / `lnedge-lookup`, payments with `xpay`
//!   (`maxfee`, `maxdelay`, `retry_for`), outcomes after a restart with `listpays`;
//! * `pump.rs`: the plugin's `lnedge-waitupdates` after the stored index, into the durable event
//!   queue of the [`BackendStore`].
//!
//! Tested against `lnedge-testnodes`' lightningd stand-in hosting the real plugin (CLN's socket
//! framing and schemas as `cln-rpc` reads them); never against a real lightningd on these
//! machines: `docs/backends.md` says what that leaves unchecked and how to run the suite
//! against a real one (`scripts/check-backend.sh cln`).

pub mod config;
mod contract;
mod pump;
mod rpc;

use std::sync::Arc;

use bitcoin::secp256k1::PublicKey;
use bitcoin::Network;
use lnedge_cln_plugin::wire;

pub use config::ClnConfig;
use rpc::{CallError, Rpc};

use crate::error::BackendError;
use crate::store::BackendStore;

/// The Core Lightning backend.
pub struct ClnBackend {
    rpc: Rpc,
    store: Arc<BackendStore>,
    node_id: PublicKey,
    network: Network,
    tasks: Vec<tokio::task::JoinHandle<()>>,
}

impl std::fmt::Debug for ClnBackend {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClnBackend")
            .field("node_id", &self.node_id)
            .field("network", &self.network)
            .finish_non_exhaustive()
    }
}

impl Drop for ClnBackend {
    fn drop(&mut self) {
        for task in &self.tasks {
            task.abort();
        }
    }
}

/// The network CLN names in `getinfo.network`.
fn network_of(name: &str) -> Option<Network> {
    match name {
        "bitcoin" => Some(Network::Bitcoin),
        "testnet" => Some(Network::Testnet),
        "signet" => Some(Network::Signet),
        "regtest" => Some(Network::Regtest),
        _ => None,
    }
}

impl ClnBackend {
    /// Connects to lightningd (`getinfo`), checks that lnedge's plugin runs there, opens the
    /// store in `config.data_dir` and starts following the plugin. A missing socket or plugin
    /// fails here, naming `node.rpc_file`.
    pub async fn connect(config: ClnConfig) -> Result<Self, BackendError> {
        config.check()?;
        let rpc = Rpc::new(config.rpc_file.clone());
        let at = config.rpc_file.display().to_string();
        let info: cln_rpc::model::responses::GetinfoResponse =
            rpc.call("getinfo", &serde_json::json!({})).await.map_err(|e| {
                BackendError::invalid("node.rpc_file", format!("{at}: getinfo failed: {e}"))
            })?;
        let network = network_of(&info.network).ok_or_else(|| {
            BackendError::Node(format!("getinfo: unknown network {:?}", info.network))
        })?;
        // The plugin answers an unknown hash with its own error; lightningd without it does not
        // know the method.
        let probe = wire::HashRequest { payment_hash: hex::encode([0u8; 32]) };
        match rpc.call::<_, serde_json::Value>(wire::LOOKUP, &probe).await {
            Err(CallError::Cln { code: wire::ERR_UNKNOWN_HASH, .. }) => {}
            Err(CallError::Cln { code: -32601, .. }) => {
                return Err(BackendError::invalid(
                    "node.rpc_file",
                    format!(
                        "{at}: this lightningd does not run lnedge's plugin: add \
                         important-plugin=/path/to/lnedge-cln-hold to its config and restart it"
                    ),
                ))
            }
            Err(e) => return Err(BackendError::invalid("node.rpc_file", format!("{at}: {e}"))),
            Ok(other) => {
                return Err(BackendError::Node(format!(
                    "lnedge-lookup of the zero hash answered {other}"
                )))
            }
        }
        let store = Arc::new(BackendStore::open(&config.data_dir)?);
        let mut tasks = vec![tokio::spawn(pump::invoices(rpc.clone(), store.clone()))];
        for hash in store.pending_payments()? {
            tasks.push(tokio::spawn(pump::track(rpc.clone(), store.clone(), hash)));
        }
        let node_id = info.id;
        tracing::info!(%node_id, ?network, version = %info.version, "connected to Core Lightning");
        Ok(ClnBackend { rpc, store, node_id, network, tasks })
    }
}
