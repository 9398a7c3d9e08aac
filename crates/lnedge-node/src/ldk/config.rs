//! Configuration of the embedded ldk-node.

use std::net::SocketAddr;
use std::path::PathBuf;

use bitcoin::Network;

use super::LogLevel;

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
