//! Configuration of the embedded ldk-node.

use std::net::SocketAddr;
use std::path::PathBuf;

use bitcoin::Network;

use super::LogLevel;

/// Where the node gets its chain data from. `Debug` never shows the RPC password.
#[derive(Clone, PartialEq, Eq)]
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

impl std::fmt::Debug for ChainSource {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            ChainSource::Esplora { url } => f.debug_struct("Esplora").field("url", url).finish(),
            ChainSource::Electrum { url } => f.debug_struct("Electrum").field("url", url).finish(),
            ChainSource::BitcoindRpc { host, port, user, .. } => f
                .debug_struct("BitcoindRpc")
                .field("host", host)
                .field("port", port)
                .field("user", user)
                .field("password", &"<redacted>")
                .finish(),
        }
    }
}

/// Why a chain source could not be chosen from its options.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ChainSourceError {
    /// None of Esplora, Electrum or bitcoind RPC was given.
    #[error("an ldk-node needs a chain source: an Esplora URL, an Electrum URL or bitcoind RPC as USER:PASSWORD@HOST:PORT")]
    Missing,
    /// More than one was given.
    #[error("give one chain source, not {0}")]
    Several(usize),
    /// The bitcoind RPC option is not `USER:PASSWORD@HOST:PORT` (the value is not repeated: it
    /// holds a password).
    #[error("bitcoind RPC must be USER:PASSWORD@HOST:PORT")]
    MalformedRpc,
    /// The RPC port is not a number from 1 to 65535.
    #[error("bitcoind RPC port {0:?} is not a port number")]
    BadPort(String),
}

impl ChainSource {
    /// The one chain source among the options a configuration or command line gives: an
    /// Esplora URL, an Electrum URL, or bitcoind RPC as `USER:PASSWORD@HOST:PORT` (the password
    /// may contain `:` and `@`; the host part is split at the last `@` and `:`).
    pub fn from_options(
        esplora: Option<&str>,
        electrum: Option<&str>,
        bitcoind_rpc: Option<&str>,
    ) -> Result<Self, ChainSourceError> {
        let given = [esplora, electrum, bitcoind_rpc].iter().filter(|o| o.is_some()).count();
        if given > 1 {
            return Err(ChainSourceError::Several(given));
        }
        if let Some(url) = esplora {
            return Ok(ChainSource::Esplora { url: url.to_owned() });
        }
        if let Some(url) = electrum {
            return Ok(ChainSource::Electrum { url: url.to_owned() });
        }
        let rpc = bitcoind_rpc.ok_or(ChainSourceError::Missing)?;
        let (auth, addr) = rpc.rsplit_once('@').ok_or(ChainSourceError::MalformedRpc)?;
        let (user, password) = auth.split_once(':').ok_or(ChainSourceError::MalformedRpc)?;
        let (host, port) = addr.rsplit_once(':').ok_or(ChainSourceError::MalformedRpc)?;
        if user.is_empty() || host.is_empty() {
            return Err(ChainSourceError::MalformedRpc);
        }
        let port = port
            .parse::<u16>()
            .ok()
            .filter(|p| *p != 0)
            .ok_or_else(|| ChainSourceError::BadPort(port.to_owned()))?;
        Ok(ChainSource::BitcoindRpc {
            host: host.to_owned(),
            port,
            user: user.to_owned(),
            password: password.to_owned(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_chain_source_from_its_options_with_typed_errors() {
        assert_eq!(
            ChainSource::from_options(Some("http://e"), None, None),
            Ok(ChainSource::Esplora { url: "http://e".into() })
        );
        assert_eq!(
            ChainSource::from_options(None, None, Some("u:p:w@d@127.0.0.1:18443")),
            Ok(ChainSource::BitcoindRpc {
                host: "127.0.0.1".into(),
                port: 18443,
                user: "u".into(),
                password: "p:w@d".into(),
            })
        );
        assert_eq!(ChainSource::from_options(None, None, None), Err(ChainSourceError::Missing));
        assert_eq!(
            ChainSource::from_options(Some("a"), Some("b"), None),
            Err(ChainSourceError::Several(2))
        );
        for bad in ["nopass@h:1", "u:p-h:1", "u:p@host", ":p@h:1", "u:p@:1"] {
            assert_eq!(
                ChainSource::from_options(None, None, Some(bad)),
                Err(ChainSourceError::MalformedRpc),
                "{bad}"
            );
        }
        assert_eq!(
            ChainSource::from_options(None, None, Some("u:p@h:http")),
            Err(ChainSourceError::BadPort("http".into()))
        );
        let shown = format!("{:?}", ChainSource::from_options(None, None, Some("u:s3cret@h:1")));
        assert!(!shown.contains("s3cret"), "{shown}");
    }
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
