//! The gateway's configuration: a TOML file, then `LNEDGE_*` environment variables, then
//! command-line flags (each overriding the one before). Every error names the key and the file.
//!
//! ```toml
//! listen = "127.0.0.1:8080"
//! data_dir = "/var/lib/lnedge"                # SQLite database, keys, the embedded node
//! database_url = "postgres://lnedge@db/lnedge" # optional: PostgreSQL instead of SQLite
//! database_max_connections = 8                 # PostgreSQL connections of this replica
//! admin_token = "…"                            # or LNEDGE_ADMIN_TOKEN
//! accounting_currency = "EUR"                  # optional: books in this currency
//! public_url = "https://pay.example.com"       # how wallets reach this gateway (LNURL links, callbacks)
//! refund_url_base = "https://pay.example.com/v1/refunds"
//! refund_expiry_days = 30                      # refunds of failed vends stay claimable this long
//!
//! [deputy]           # deputy sales (docs/deputy.md)
//! quote_expiry_secs = 600        # a fetched sale's amount and rate hold this long
//! max_amount_msat = 10000000000  # the largest sale accepted
//!
//! [rates]            # fixed exchange rates (price of 1 BTC)
//! EUR = 61000.0
//!
//! [rates_http]       # optional: live rates from a JSON API ([rates] stays the fallback)
//! url = "https://api.example.com/v1/price?fiat={currency}"
//! pointer = "/data/price"   # RFC 6901 JSON pointer to the price of 1 BTC (number or string)
//! max_age_secs = 60         # reuse a currency's quote this long
//!
//! [node]             # the owner's node
//! kind = "ldk"       # "ldk" (embedded ldk-node), "lnd" (your LND: rest_url, tls_cert, macaroon),
//!                     # "cln" (your Core Lightning running lnedge-cln-hold: rpc_file)
//!                    # or "sandbox" (in-process test network)
//! network = "bitcoin"
//! esplora = "https://blockstream.info/api"   # or electrum = "…" or bitcoind_rpc = "user:pass@host:port"
//! ```

pub mod payers;
pub mod server;

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};

use serde::Deserialize;

/// Which node the gateway drives.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", deny_unknown_fields)]
pub enum NodeConfig {
    /// Embedded ldk-node, its data under `<data_dir>/node`.
    Ldk {
        /// `bitcoin`, `testnet`, `signet` or `regtest`.
        network: String,
        /// Esplora URL.
        #[serde(default)]
        esplora: Option<String>,
        /// Electrum URL.
        #[serde(default)]
        electrum: Option<String>,
        /// bitcoind RPC as `user:password@host:port`.
        #[serde(default)]
        bitcoind_rpc: Option<String>,
        /// Lightning peer listening address.
        #[serde(default)]
        listen: Option<SocketAddr>,
    },
    /// A throwaway in-process sandbox network (trying the gateway; nothing survives).
    Sandbox,
    /// The operator's LND, through its REST gateway (docs/backends.md); the backend's own
    /// store (invoices created through lnedge, the event queue) lives under `<data_dir>/node`.
    Lnd {
        /// `https://host:port`: LND's `restlisten`.
        rest_url: String,
        /// LND's `tls.cert` (PEM).
        tls_cert: PathBuf,
        /// A macaroon file: `admin.macaroon`, or one baked with the permissions
        /// docs/backends.md lists.
        macaroon: PathBuf,
    },
    /// The operator's Core Lightning, over its JSON-RPC socket, running lnedge's plugin
    /// `lnedge-cln-hold` (docs/backends.md); the backend's own store lives under
    /// `<data_dir>/node`.
    Cln {
        /// lightningd's `lightning-rpc` socket (`<lightning-dir>/<network>/lightning-rpc`).
        rpc_file: PathBuf,
    },
}

impl NodeConfig {
    /// Checks an ldk node's network and chain source; `key` names the section in errors.
    fn validate(&self, key: &'static str, network_key: &'static str) -> Result<(), ConfigError> {
        if let NodeConfig::Ldk { network, .. } = self {
            if !["bitcoin", "testnet", "signet", "regtest"].contains(&network.as_str()) {
                return Err(ConfigError::Invalid {
                    key: network_key,
                    message: format!("{network:?} is not bitcoin, testnet, signet or regtest"),
                });
            }
            self.chain_source(key)?;
        }
        Ok(())
    }

    /// The chain source of an ldk node (`None` for the sandbox); `key` names the section in
    /// errors.
    pub fn chain_source(
        &self,
        key: &'static str,
    ) -> Result<Option<lnedge_node::ldk::ChainSource>, ConfigError> {
        use lnedge_node::ldk::{ChainSource, ChainSourceError};
        let NodeConfig::Ldk { esplora, electrum, bitcoind_rpc, .. } = self else {
            return Ok(None);
        };
        ChainSource::from_options(esplora.as_deref(), electrum.as_deref(), bitcoind_rpc.as_deref())
            .map(Some)
            .map_err(|e| ConfigError::Invalid {
                key,
                message: match e {
                    ChainSourceError::Missing | ChainSourceError::Several(_) => {
                        "give exactly one chain source: esplora, electrum or bitcoind_rpc".into()
                    }
                    other => format!("bitcoind_rpc: {other}"),
                },
            })
    }
}

/// An HTTP JSON exchange-rate API (see [`HttpRates`](crate::rates_http::HttpRates)).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RatesHttpConfig {
    /// URL with `{currency}` (the ISO 4217 code, upper case).
    pub url: String,
    /// JSON pointer (RFC 6901) to the price of one BTC.
    pub pointer: String,
    /// How long a currency's quote is reused, in seconds.
    #[serde(default = "default_max_age_secs")]
    pub max_age_secs: u64,
}

fn default_max_age_secs() -> u64 {
    60
}

/// The gateway's configuration.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GatewayConfig {
    /// HTTP listening address.
    #[serde(default = "default_listen")]
    pub listen: SocketAddr,
    /// Directory of the SQLite database, the keys and the embedded node.
    #[serde(default = "default_data_dir")]
    pub data_dir: PathBuf,
    /// PostgreSQL URL; SQLite under `data_dir` when absent.
    #[serde(default)]
    pub database_url: Option<String>,
    /// Most PostgreSQL connections this replica opens (1 to 1,000; docs/gateway.md, "Storage",
    /// says how to size it). Ignored with SQLite.
    #[serde(default = "default_database_max_connections")]
    pub database_max_connections: u32,
    /// Bearer token of the admin API.
    #[serde(default)]
    pub admin_token: Option<String>,
    /// The currency of the books.
    #[serde(default)]
    pub accounting_currency: Option<String>,
    /// Fixed exchange rates: currency → price of one BTC.
    #[serde(default)]
    pub rates: BTreeMap<String, f64>,
    /// Live exchange rates from an HTTP API (`[rates]` is the fallback).
    #[serde(default)]
    pub rates_http: Option<RatesHttpConfig>,
    /// The gateway's public base URL (`https://pay.example.com`): what LNURL links and callbacks
    /// are built from. Empty: derived from `refund_url_base`, else from each request's `Host`.
    #[serde(default)]
    pub public_url: String,
    /// Base URL of the refund endpoint, written into pools (the refund QR). Empty:
    /// `<public_url>/v1/refunds` when `public_url` is set.
    #[serde(default)]
    pub refund_url_base: String,
    /// How long a refund of a failed vend stays claimable, in days (docs/refunds.md).
    #[serde(default = "default_refund_expiry_days")]
    pub refund_expiry_days: u64,
    /// Deputy sales.
    #[serde(default)]
    pub deputy: DeputyConfig,
    /// The owner's node.
    #[serde(default = "default_node")]
    pub node: NodeConfig,
    /// The async relay's settings (`[relay]`, see [`RelayConfig`]).
    #[serde(default)]
    pub relay: RelayConfig,
    /// Bolt Cards and payer devices (`[payers]`, see [`payers::PayersConfig`]).
    #[serde(default)]
    pub payers: payers::PayersConfig,
    /// Reverse proxies whose `Forwarded` / `X-Forwarded-For` headers name the client (CIDR
    /// blocks or addresses). Empty (the default): the socket's peer is the client and those
    /// headers are ignored.
    #[serde(default)]
    pub trusted_proxies: Vec<String>,
    /// The HTTP server's timeouts and connection caps (`[server]`, see
    /// [`ServerLimits`](server::ServerLimits)).
    #[serde(default)]
    pub server: server::ServerLimits,
}

/// The `[deputy]` section (see [`DeputySettings`](crate::deputy::DeputySettings)).
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeputyConfig {
    /// Seconds a fetched sale's amount and rate hold (and its invoice lives).
    #[serde(default = "default_quote_expiry_secs")]
    pub quote_expiry_secs: u32,
    /// The largest sale accepted, in millisatoshis.
    #[serde(default = "default_max_amount_msat")]
    pub max_amount_msat: u64,
}

impl Default for DeputyConfig {
    fn default() -> Self {
        let d = crate::deputy::DeputySettings::default();
        DeputyConfig { quote_expiry_secs: d.quote_expiry_secs, max_amount_msat: d.max_amount_msat }
    }
}

fn default_quote_expiry_secs() -> u32 {
    DeputyConfig::default().quote_expiry_secs
}

fn default_max_amount_msat() -> u64 {
    DeputyConfig::default().max_amount_msat
}

fn default_refund_expiry_days() -> u64 {
    30
}

fn default_listen() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], 8080))
}

fn default_database_max_connections() -> u32 {
    crate::store::postgres::DEFAULT_MAX_CONNECTIONS as u32
}

fn default_data_dir() -> PathBuf {
    PathBuf::from(".lnedge-gateway")
}

fn default_node() -> NodeConfig {
    NodeConfig::Sandbox
}

/// Why the configuration is not usable.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ConfigError {
    /// The file could not be read.
    #[error("reading {path}: {source}")]
    Read {
        /// The file.
        path: PathBuf,
        /// The error.
        #[source]
        source: std::io::Error,
    },
    /// The file is not valid TOML or has a wrong key or value.
    #[error("{path}: {message}")]
    Parse {
        /// The file.
        path: PathBuf,
        /// What is wrong, with the key.
        message: String,
    },
    /// A value (from any source) is not valid.
    #[error("invalid {key}: {message}")]
    Invalid {
        /// The key (`admin_token`, `LNEDGE_LISTEN`, …).
        key: &'static str,
        /// What is wrong.
        message: String,
    },
}

impl Default for GatewayConfig {
    fn default() -> Self {
        GatewayConfig {
            listen: default_listen(),
            data_dir: default_data_dir(),
            database_url: None,
            database_max_connections: default_database_max_connections(),
            admin_token: None,
            accounting_currency: None,
            rates: BTreeMap::new(),
            rates_http: None,
            public_url: String::new(),
            refund_url_base: String::new(),
            refund_expiry_days: default_refund_expiry_days(),
            deputy: DeputyConfig::default(),
            node: default_node(),
            relay: Default::default(),
            payers: Default::default(),
            trusted_proxies: Vec::new(),
            server: Default::default(),
        }
    }
}

impl GatewayConfig {
    /// Reads a TOML file.
    pub fn from_file(path: &Path) -> Result<Self, ConfigError> {
        let text = std::fs::read_to_string(path)
            .map_err(|source| ConfigError::Read { path: path.to_owned(), source })?;
        Self::from_toml(&text)
            .map_err(|message| ConfigError::Parse { path: path.to_owned(), message })
    }

    /// Parses TOML text.
    pub fn from_toml(text: &str) -> Result<Self, String> {
        toml::from_str(text).map_err(|e| e.to_string().trim().to_owned())
    }

    /// Applies `LNEDGE_LISTEN`, `LNEDGE_DATA_DIR`, `LNEDGE_DATABASE_URL`,
    /// `LNEDGE_DATABASE_MAX_CONNECTIONS`, `LNEDGE_ADMIN_TOKEN`,
    /// `LNEDGE_ACCOUNTING_CURRENCY` and `LNEDGE_PUBLIC_URL` from `env` (pass `std::env::vars()`).
    pub fn apply_env(
        &mut self,
        env: impl IntoIterator<Item = (String, String)>,
    ) -> Result<(), ConfigError> {
        for (key, value) in env {
            match key.as_str() {
                "LNEDGE_LISTEN" => {
                    self.listen = value.parse().map_err(|e| ConfigError::Invalid {
                        key: "LNEDGE_LISTEN",
                        message: format!("{value:?} is not an address like 127.0.0.1:8080 ({e})"),
                    })?
                }
                "LNEDGE_DATA_DIR" => self.data_dir = PathBuf::from(value),
                "LNEDGE_DATABASE_URL" => self.database_url = Some(value),
                "LNEDGE_DATABASE_MAX_CONNECTIONS" => {
                    self.database_max_connections =
                        value.parse().map_err(|e| ConfigError::Invalid {
                            key: "LNEDGE_DATABASE_MAX_CONNECTIONS",
                            message: format!("{value:?} is not a number of connections ({e})"),
                        })?
                }
                "LNEDGE_ADMIN_TOKEN" => self.admin_token = Some(value),
                "LNEDGE_ACCOUNTING_CURRENCY" => self.accounting_currency = Some(value),
                "LNEDGE_PUBLIC_URL" => self.public_url = value,
                _ => {}
            }
        }
        Ok(())
    }

    /// `trusted_proxies` parsed (CIDR blocks; a bad entry is named).
    pub fn trusted_proxy_nets(&self) -> Result<Vec<ipnet::IpNet>, ConfigError> {
        server::parse_trusted_proxies(&self.trusted_proxies)
            .map_err(|message| ConfigError::Invalid { key: "trusted_proxies", message })
    }

    /// Checks the configuration as a whole.
    pub fn validate(&self) -> Result<(), ConfigError> {
        self.server.validate()?;
        self.payers.validate()?;
        self.trusted_proxy_nets()?;
        match &self.admin_token {
            None => {
                return Err(ConfigError::Invalid {
                    key: "admin_token",
                    message: "not set (config file, LNEDGE_ADMIN_TOKEN or --admin-token)".into(),
                })
            }
            Some(t) if t.len() < 16 => {
                return Err(ConfigError::Invalid {
                    key: "admin_token",
                    message: format!(
                        "{} characters is too short to guess-proof the admin API (16+)",
                        t.len()
                    ),
                })
            }
            Some(_) => {}
        }
        let url = &self.public_url;
        let web = url.starts_with("https://") || url.starts_with("http://");
        if !url.is_empty() && !web {
            return Err(ConfigError::Invalid {
                key: "public_url",
                message: format!("{:?} must start with https:// (or http://)", self.public_url),
            });
        }
        if self.deputy.quote_expiry_secs < 30 || self.deputy.quote_expiry_secs > 86_400 {
            return Err(ConfigError::Invalid {
                key: "deputy.quote_expiry_secs",
                message: format!(
                    "{} is outside 30..=86400 seconds (a wallet needs time to pay; a quote must not \
                     outlive the exchange rate)",
                    self.deputy.quote_expiry_secs
                ),
            });
        }
        if self.deputy.max_amount_msat == 0 {
            return Err(ConfigError::Invalid {
                key: "deputy.max_amount_msat",
                message: "0 would refuse every sale".into(),
            });
        }
        if !(1..=1_000).contains(&self.database_max_connections) {
            return Err(ConfigError::Invalid {
                key: "database_max_connections",
                message: format!("{} is not between 1 and 1000", self.database_max_connections),
            });
        }
        if let Some(url) = &self.database_url {
            if !(url.starts_with("postgres://") || url.starts_with("postgresql://")) {
                return Err(ConfigError::Invalid {
                    key: "database_url",
                    message: "must be a postgres:// URL (leave it out for SQLite)".into(),
                });
            }
        }
        if let Some(c) = &self.accounting_currency {
            if c.len() != 3 || !c.chars().all(|ch| ch.is_ascii_alphabetic()) {
                return Err(ConfigError::Invalid {
                    key: "accounting_currency",
                    message: format!("{c:?} is not an ISO 4217 code like EUR"),
                });
            }
        }
        for (currency, rate) in &self.rates {
            if !(rate.is_finite() && *rate > 0.0) {
                return Err(ConfigError::Invalid {
                    key: "rates",
                    message: format!("the {currency} rate {rate} must be a positive number"),
                });
            }
        }
        if let Some(http) = &self.rates_http {
            if !(http.url.starts_with("http://") || http.url.starts_with("https://"))
                || !http.url.contains("{currency}")
            {
                return Err(ConfigError::Invalid {
                    key: "rates_http.url",
                    message: format!(
                        "{:?} must be an http(s):// URL containing {{currency}}",
                        http.url
                    ),
                });
            }
            if !http.pointer.starts_with('/') {
                return Err(ConfigError::Invalid {
                    key: "rates_http.pointer",
                    message: format!(
                        "{:?} is not a JSON pointer (RFC 6901) like /data/price",
                        http.pointer
                    ),
                });
            }
        }
        self.node.validate("node", "node.network")?;
        if let Some(forward) = &self.relay.forward_node {
            forward.validate("relay.forward_node", "relay.forward_node.network")?;
            let invalid =
                |message: String| ConfigError::Invalid { key: "relay.forward_node", message };
            match (&self.node, forward) {
                (NodeConfig::Sandbox, NodeConfig::Sandbox) => {}
                (
                    NodeConfig::Ldk { network, listen, .. },
                    NodeConfig::Ldk { network: forward_network, listen: forward_listen, .. },
                ) => {
                    if network != forward_network {
                        return Err(invalid(format!(
                            "its network {forward_network:?} is not the node's {network:?}"
                        )));
                    }
                    if listen.is_some() && listen == forward_listen {
                        return Err(invalid(format!(
                            "it listens on {:?} like [node]: give it its own address",
                            listen.unwrap_or_else(|| SocketAddr::from(([0, 0, 0, 0], 0)))
                        )));
                    }
                }
                _ => return Err(invalid("its kind must be the same as [node]'s".into())),
            }
        }
        Ok(())
    }
}

/// The `[relay]` section of the gateway's configuration file; every key is optional and
/// defaults to [`crate::relay::RelaySettings::default`].
///
/// ```toml
/// [relay]
/// fee_base_msat = 1000
/// fee_ppm = 1000
/// max_hold_secs = 86400
/// hold_final_cltv_expiry_delta = 288
/// cancel_margin_blocks = 12
/// safety_margin_blocks = 6
/// route_budget_blocks = 72
/// invoice_expiry_secs = 3600
/// max_attempts = 3
/// payer_invoices_per_minute = 30
///
/// [relay.forward_node]          # optional: the node that pays the payees (ADR 0012)
/// kind = "ldk"
/// network = "regtest"
/// bitcoind_rpc = "user:password@127.0.0.1:18443"
/// listen = "0.0.0.0:9736"
/// ```
#[derive(Debug, Clone, Default, PartialEq, Eq, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RelayConfig {
    /// [`crate::relay::RelaySettings::fee_base_msat`].
    pub fee_base_msat: Option<u64>,
    /// [`crate::relay::RelaySettings::fee_ppm`].
    pub fee_ppm: Option<u64>,
    /// [`crate::relay::RelaySettings::max_hold_secs`].
    pub max_hold_secs: Option<u64>,
    /// [`crate::relay::RelaySettings::hold_final_cltv_expiry_delta`].
    pub hold_final_cltv_expiry_delta: Option<u16>,
    /// [`crate::relay::RelaySettings::cancel_margin_blocks`].
    pub cancel_margin_blocks: Option<u32>,
    /// [`crate::relay::RelaySettings::safety_margin_blocks`].
    pub safety_margin_blocks: Option<u32>,
    /// [`crate::relay::RelaySettings::route_budget_blocks`].
    pub route_budget_blocks: Option<u32>,
    /// [`crate::relay::RelaySettings::invoice_expiry_secs`].
    pub invoice_expiry_secs: Option<u32>,
    /// [`crate::relay::RelaySettings::max_attempts`].
    pub max_attempts: Option<u32>,
    /// [`crate::relay::RelaySettings::payer_invoices`]'s rate (default
    /// [`DEFAULT_PAYER_INVOICES_PER_MINUTE`](crate::relay::DEFAULT_PAYER_INVOICES_PER_MINUTE)).
    pub payer_invoices_per_minute: Option<u32>,
    /// [`crate::relay::RelaySettings::allow_private_webhooks`] (default off).
    pub allow_private_webhooks: Option<bool>,
    /// [`crate::relay::RelaySettings::full_pass_interval`] in seconds (default 30, at least 1).
    pub full_pass_secs: Option<u64>,
    /// A second node that pays the payees (`[relay.forward_node]`, same keys as `[node]`, data
    /// under `<data_dir>/relay-node`). Required to complete relayed payments when `[node]` is
    /// ldk-node (ADR 0012); without it the relay on ldk-node holds and refunds only.
    pub forward_node: Option<NodeConfig>,
}

impl RelayConfig {
    /// The settings: each key set here, the default for the others.
    pub fn settings(&self) -> crate::relay::RelaySettings {
        let d = crate::relay::RelaySettings::default();
        crate::relay::RelaySettings {
            fee_base_msat: self.fee_base_msat.unwrap_or(d.fee_base_msat),
            fee_ppm: self.fee_ppm.unwrap_or(d.fee_ppm),
            max_hold_secs: self.max_hold_secs.unwrap_or(d.max_hold_secs),
            hold_final_cltv_expiry_delta: self
                .hold_final_cltv_expiry_delta
                .unwrap_or(d.hold_final_cltv_expiry_delta),
            cancel_margin_blocks: self.cancel_margin_blocks.unwrap_or(d.cancel_margin_blocks),
            safety_margin_blocks: self.safety_margin_blocks.unwrap_or(d.safety_margin_blocks),
            route_budget_blocks: self.route_budget_blocks.unwrap_or(d.route_budget_blocks),
            invoice_expiry_secs: self.invoice_expiry_secs.unwrap_or(d.invoice_expiry_secs),
            max_attempts: self.max_attempts.unwrap_or(d.max_attempts),
            allow_private_webhooks: self.allow_private_webhooks.unwrap_or(d.allow_private_webhooks),
            full_pass_interval: self
                .full_pass_secs
                .map(|s| std::time::Duration::from_secs(s.max(1)))
                .unwrap_or(d.full_pass_interval),
            payer_invoices: match self.payer_invoices_per_minute {
                Some(n) => crate::limits::Budget::per_minute(n),
                None => d.payer_invoices,
            },
            ..d
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "0123456789abcdef0123";

    #[test]
    fn a_full_file_parses() {
        let config = GatewayConfig::from_toml(&format!(
            r#"
            listen = "0.0.0.0:9000"
            data_dir = "/var/lib/lnedge"
            admin_token = "{TOKEN}"
            accounting_currency = "EUR"
            [rates]
            EUR = 61000.0
            [node]
            kind = "ldk"
            network = "signet"
            esplora = "https://mempool.space/signet/api"
            "#
        ))
        .expect("parses");
        config.validate().expect("valid");
        assert_eq!(config.listen.port(), 9000);
        assert_eq!(config.rates.get("EUR"), Some(&61000.0));
        assert!(matches!(config.node, NodeConfig::Ldk { .. }));
    }

    #[test]
    fn the_operators_core_lightning_is_a_socket_path() {
        let config = GatewayConfig::from_toml(&format!(
            "admin_token = \"{TOKEN}\"\n[node]\nkind = \"cln\"\nrpc_file = \"/ln/bitcoin/lightning-rpc\"\n"
        ))
        .expect("parses");
        config.validate().expect("valid");
        assert_eq!(config.node, NodeConfig::Cln { rpc_file: "/ln/bitcoin/lightning-rpc".into() });
        let err = GatewayConfig::from_toml("[node]\nkind = \"cln\"\n").expect_err("no socket");
        assert!(err.contains("missing field `rpc_file`"), "{err}");
        let err = GatewayConfig::from_toml(
            "[node]\nkind = \"cln\"\nrpc_file = \"/x\"\nmacaroon = \"/y\"\n",
        )
        .expect_err("an LND key");
        assert!(err.contains("unknown field `macaroon`"), "{err}");
    }

    #[test]
    fn errors_name_the_key() {
        let err = GatewayConfig::from_toml("listn = \"x\"").expect_err("typo");
        assert!(err.contains("unknown field `listn`"), "{err}");
        let err = GatewayConfig::from_toml("listen = \"nowhere\"").expect_err("bad address");
        assert!(err.contains("listen"), "{err}");
        let err = GatewayConfig::default().validate().expect_err("no token");
        assert_eq!(
            err.to_string(),
            "invalid admin_token: not set (config file, LNEDGE_ADMIN_TOKEN or --admin-token)"
        );
        let mut c = GatewayConfig { admin_token: Some(TOKEN.into()), ..Default::default() };
        c.node = NodeConfig::Ldk {
            network: "regtest".into(),
            esplora: None,
            electrum: None,
            bitcoind_rpc: None,
            listen: None,
        };
        assert!(c
            .validate()
            .expect_err("no source")
            .to_string()
            .contains("exactly one chain source"));
        let mut c = GatewayConfig { admin_token: Some(TOKEN.into()), ..Default::default() };
        c.database_url = Some("mysql://x".into());
        assert!(c.validate().expect_err("mysql").to_string().starts_with("invalid database_url"));
        let mut c = GatewayConfig { admin_token: Some(TOKEN.into()), ..Default::default() };
        c.database_max_connections = 0;
        let e = c.validate().expect_err("no connections").to_string();
        assert!(e.contains("database_max_connections") && e.contains("between 1 and 1000"), "{e}");
        let mut c = GatewayConfig::default();
        let bad = c.apply_env([("LNEDGE_DATABASE_MAX_CONNECTIONS".into(), "many".into())]);
        assert!(bad
            .expect_err("not a number")
            .to_string()
            .contains("LNEDGE_DATABASE_MAX_CONNECTIONS"));
        c.apply_env([("LNEDGE_DATABASE_MAX_CONNECTIONS".into(), "32".into())]).expect("32");
        assert_eq!(c.database_max_connections, 32);
    }

    #[test]
    fn the_relay_forward_node_is_checked() {
        let ldk = |network: &str, listen: &str| {
            format!(
                "kind = \"ldk\"\nnetwork = \"{network}\"\nbitcoind_rpc = \"u:p@127.0.0.1:18443\"\nlisten = \"{listen}\"\n"
            )
        };
        let text = format!(
            "admin_token = \"{TOKEN}\"\n[node]\n{}[relay]\nfee_ppm = 10\n[relay.forward_node]\n{}",
            ldk("regtest", "127.0.0.1:9735"),
            ldk("regtest", "127.0.0.1:9736")
        );
        let c = GatewayConfig::from_toml(&text).expect("parses");
        c.validate().expect("valid");
        assert!(matches!(c.relay.forward_node, Some(NodeConfig::Ldk { .. })));
        assert_eq!(c.relay.settings().fee_ppm, 10);

        let same_port = text.replace("9736", "9735");
        let err =
            GatewayConfig::from_toml(&same_port).expect("parses").validate().expect_err("port");
        assert!(err.to_string().starts_with("invalid relay.forward_node: it listens on"), "{err}");
        let other_net = text.replacen("network = \"regtest\"", "network = \"signet\"", 1);
        let err =
            GatewayConfig::from_toml(&other_net).expect("parses").validate().expect_err("net");
        assert!(err.to_string().contains("is not the node's"), "{err}");
        let bad_net = text.replace(
            "\"regtest\"\nbitcoind_rpc = \"u:p@127.0.0.1:18443\"\nlisten = \"127.0.0.1:9736\"",
            "\"mainnet\"\nbitcoind_rpc = \"u:p@127.0.0.1:18443\"\nlisten = \"127.0.0.1:9736\"",
        );
        let err = GatewayConfig::from_toml(&bad_net).expect("parses").validate().expect_err("bad");
        assert!(err.to_string().starts_with("invalid relay.forward_node.network"), "{err}");
        let mixed = format!(
            "admin_token = \"{TOKEN}\"\n[relay.forward_node]\n{}",
            ldk("regtest", "127.0.0.1:1")
        );
        let err = GatewayConfig::from_toml(&mixed).expect("parses").validate().expect_err("kinds");
        assert!(err.to_string().contains("same as [node]"), "{err}");
    }

    #[test]
    fn rates_http_is_checked() {
        let text = format!(
            "admin_token = \"{TOKEN}\"\n[rates_http]\nurl = \"https://api.example/p?fiat={{currency}}\"\npointer = \"/data/price\"\n"
        );
        let c = GatewayConfig::from_toml(&text).expect("parses");
        c.validate().expect("valid");
        assert_eq!(c.rates_http.as_ref().map(|h| h.max_age_secs), Some(60));
        let err = GatewayConfig::from_toml(&format!("{text}maxage = 3\n")).expect_err("typo");
        assert!(err.contains("unknown field `maxage`"), "{err}");
        let mut bad = c.clone();
        bad.rates_http.as_mut().expect("http").url = "https://api.example/p".into();
        assert!(bad
            .validate()
            .expect_err("no {currency}")
            .to_string()
            .starts_with("invalid rates_http.url"));
        let mut bad = c.clone();
        bad.rates_http.as_mut().expect("http").url = "ftp://x/{currency}".into();
        assert!(bad.validate().expect_err("ftp").to_string().starts_with("invalid rates_http.url"));
        let mut bad = c;
        bad.rates_http.as_mut().expect("http").pointer = "data.price".into();
        assert!(bad
            .validate()
            .expect_err("pointer")
            .to_string()
            .starts_with("invalid rates_http.pointer"));
    }

    #[test]
    fn public_url_and_deputy_section() {
        let text = format!(
            "admin_token = \"{TOKEN}\"\npublic_url = \"https://pay.example.com\"\n[deputy]\nquote_expiry_secs = 120\n"
        );
        let c = GatewayConfig::from_toml(&text).expect("parses");
        c.validate().expect("valid");
        assert_eq!(c.public_url, "https://pay.example.com");
        assert_eq!(c.deputy.quote_expiry_secs, 120);
        assert_eq!(c.deputy.max_amount_msat, DeputyConfig::default().max_amount_msat);
        let err = GatewayConfig::from_toml(&format!("{text}quote_expiry = 3\n")).expect_err("typo");
        assert!(err.contains("unknown field `quote_expiry`"), "{err}");
        let mut bad = c.clone();
        bad.public_url = "pay.example.com".into();
        assert!(bad.validate().expect_err("scheme").to_string().starts_with("invalid public_url"));
        let mut bad = c.clone();
        bad.deputy.quote_expiry_secs = 5;
        assert!(bad
            .validate()
            .expect_err("too short")
            .to_string()
            .starts_with("invalid deputy.quote_expiry_secs"));
        let mut bad = c;
        bad.deputy.max_amount_msat = 0;
        assert!(bad
            .validate()
            .expect_err("zero")
            .to_string()
            .starts_with("invalid deputy.max_amount_msat"));
        let mut env = GatewayConfig::default();
        env.apply_env([("LNEDGE_PUBLIC_URL".to_owned(), "https://gw.example".to_owned())])
            .expect("env");
        assert_eq!(env.public_url, "https://gw.example");
    }

    #[test]
    fn environment_overrides_the_file() {
        let mut c = GatewayConfig::default();
        c.apply_env([
            ("LNEDGE_ADMIN_TOKEN".to_owned(), TOKEN.to_owned()),
            ("LNEDGE_LISTEN".to_owned(), "127.0.0.1:9999".to_owned()),
            ("UNRELATED".to_owned(), "x".to_owned()),
        ])
        .expect("env");
        assert_eq!(c.admin_token.as_deref(), Some(TOKEN));
        assert_eq!(c.listen.port(), 9999);
        let err = c.apply_env([("LNEDGE_LISTEN".to_owned(), "here".to_owned())]).expect_err("bad");
        assert!(err.to_string().starts_with("invalid LNEDGE_LISTEN"), "{err}");
    }
}
