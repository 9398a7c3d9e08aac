//! The running gateway: configuration → store, owner node, keys → the [`Gateway`](crate::engine::Gateway)
//! engine (started: it owns its background tasks) → HTTP API, until a shutdown signal; then both
//! stop cleanly.

use std::future::Future;
use std::sync::Arc;

use lnedge_node::ldk::{LdkBackend, LdkConfig};
use lnedge_node::LightningBackend;

use crate::accounting::{FixedRates, RateSource};
use crate::api::{app, AppState};
use crate::config::{ConfigError, GatewayConfig, NodeConfig};
use crate::engine::{GatewayBuilder, GatewaySettings};
use crate::provision::{load_or_create_secret, PoolKey, ProvisionError};
use crate::rates_http::{FallbackRates, HttpRates};
use crate::store::postgres::PostgresStore;
use crate::store::sqlite::SqliteStore;
use crate::store::{GatewayStore, StoreError};

pub mod listener;

pub use crate::config::server::ServerLimits;

/// Why the gateway could not start or stopped with an error.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ServeError {
    /// The configuration is not usable.
    #[error(transparent)]
    Config(#[from] ConfigError),
    /// The database could not be opened.
    #[error("opening the database: {0}")]
    Store(#[from] StoreError),
    /// A key file could not be read or created.
    #[error(transparent)]
    Keys(#[from] ProvisionError),
    /// The data directory could not be made private to the service's user.
    #[error("data_dir: {0}")]
    DataDir(#[from] lnedge_node::private_fs::PrivateFsError),
    /// The owner's node could not be started.
    #[error("starting the owner's node: {0}")]
    Node(#[from] lnedge_node::BackendError),
    /// The HTTP listener failed.
    #[error("HTTP server on {addr}: {source}")]
    Http {
        /// The address.
        addr: std::net::SocketAddr,
        /// The error.
        #[source]
        source: std::io::Error,
    },
}

/// Opens the configured store: PostgreSQL when `database_url` is set, else SQLite under
/// `data_dir` (created private by [`SqliteStore::open`]; [`serve`] checks the whole data
/// directory once before, with [`prepare_data_dir`]).
pub async fn open_store(config: &GatewayConfig) -> Result<Arc<dyn GatewayStore>, ServeError> {
    Ok(match &config.database_url {
        Some(url) => Arc::new(
            PostgresStore::connect_with(url, config.database_max_connections as usize).await?,
        ),
        None => Arc::new(SqliteStore::open(&config.data_dir.join("gateway.sqlite3"))?),
    })
}

/// Creates the data directory private to the service's user (0700) and checks everything under
/// it: a directory or file open to other users (an older build's database, a hand-made
/// directory) is tightened (0700 / 0600) with a warning naming it; one that cannot be fixed
/// stops the start with an error naming it. The data directory holds what grants value: refund
/// `k1` values, the node store's preimages, the pool and device keys.
pub fn prepare_data_dir(config: &GatewayConfig) -> Result<(), ServeError> {
    lnedge_node::private_fs::create_dir(&config.data_dir)?;
    for path in lnedge_node::private_fs::secure_tree(&config.data_dir)? {
        tracing::warn!(path = %path.display(), "was readable by other users; made private");
    }
    Ok(())
}

/// The configured exchange rates: `[rates_http]` with `[rates]` as the fallback, or `[rates]`
/// alone.
pub fn rate_source(config: &GatewayConfig) -> Arc<dyn RateSource> {
    let fixed = FixedRates::new(config.rates.clone());
    match &config.rates_http {
        Some(http) => Arc::new(FallbackRates {
            primary: HttpRates::new(
                http.url.clone(),
                http.pointer.clone(),
                std::time::Duration::from_secs(http.max_age_secs),
            ),
            fallback: fixed,
        }),
        None => Arc::new(fixed),
    }
}

/// Which of the gateway's nodes is being started.
#[derive(Debug, Clone, Copy)]
enum Role {
    /// The owner's node: pools' invoices, refunds, the relay's hold invoices.
    Owner,
    /// The node that pays the relay's payees (`[relay.forward_node]`).
    RelayForward,
}

impl Role {
    /// The configuration key `key` (written for `[node]`) in this role's section.
    fn key(self, key: &'static str) -> &'static str {
        match (self, key) {
            (Role::RelayForward, "node.rest_url") => "relay.forward_node.rest_url",
            (Role::RelayForward, "node.tls_cert") => "relay.forward_node.tls_cert",
            (Role::RelayForward, "node.macaroon") => "relay.forward_node.macaroon",
            (Role::RelayForward, "node.rpc_file") => "relay.forward_node.rpc_file",
            _ => key,
        }
    }

    /// (data directory under `data_dir`, sandbox node name, alias)
    fn names(self) -> (&'static str, &'static str, &'static str) {
        match self {
            Role::Owner => ("node", "owner", "lnedge-gateway"),
            Role::RelayForward => ("relay-node", "relay", "lnedge-relay"),
        }
    }
}

/// The sandbox network the gateway's sandbox nodes share (it must outlive the server); a unit
/// type when the `sandbox` feature is off.
#[cfg(feature = "sandbox")]
type SandboxSlot = Option<Arc<lnedge_node::sandbox::SandboxNetwork>>;
#[cfg(not(feature = "sandbox"))]
type SandboxSlot = ();

/// Starts one of the gateway's nodes (for a sandbox, on the one shared network in `sandbox`).
async fn start_node(
    config: &GatewayConfig,
    node: &NodeConfig,
    role: Role,
    sandbox: &mut SandboxSlot,
) -> Result<Arc<dyn LightningBackend>, ServeError> {
    let (dir, name, alias) = role.names();
    match node {
        #[cfg(feature = "sandbox")]
        NodeConfig::Sandbox => {
            use lnedge_node::sandbox::SandboxNetwork;
            if sandbox.is_none() {
                tracing::warn!("node.kind = sandbox: an in-process test network; nothing it signs can be paid from outside this process (the sandbox wallet can: `lnedge wallet`)");
                *sandbox =
                    Some(Arc::new(SandboxNetwork::in_dir(&config.data_dir.join("sandbox")).await?));
            }
            let net = sandbox.as_ref().expect("just set");
            Ok(net.add_node(name).await?)
        }
        #[cfg(not(feature = "sandbox"))]
        NodeConfig::Sandbox => {
            let _ = (sandbox, name);
            Err(ConfigError::Invalid {
                key: "node.kind",
                message: "\"sandbox\" needs a build with the `sandbox` feature (the lnedge binary has it)"
                    .into(),
            }
            .into())
        }
        NodeConfig::Ldk { network, listen, .. } => {
            let network = network.parse().map_err(|_| ConfigError::Invalid {
                key: "node.network",
                message: format!("{network:?} is not a network"),
            })?;
            let chain = node
                .chain_source("node")?
                .ok_or(ConfigError::Invalid { key: "node", message: "no chain source".into() })?;
            let mut ldk = LdkConfig::new(config.data_dir.join(dir), network, chain);
            ldk.listen_addr = *listen;
            ldk.alias = alias.into();
            Ok(Arc::new(LdkBackend::start(ldk).await?))
        }
        NodeConfig::Lnd { rest_url, tls_cert, macaroon } => {
            let lnd = lnedge_node::lnd::LndConfig {
                rest_url: rest_url.clone(),
                tls_cert: tls_cert.clone(),
                macaroon: macaroon.clone(),
                data_dir: config.data_dir.join(dir),
            };
            let backend = lnedge_node::lnd::LndBackend::connect(lnd).await;
            backend.map(|b| Arc::new(b) as Arc<dyn LightningBackend>).map_err(|e| named(role, e))
        }
        NodeConfig::Cln { rpc_file } => {
            let cln = lnedge_node::cln::ClnConfig {
                rpc_file: rpc_file.clone(),
                data_dir: config.data_dir.join(dir),
            };
            let backend = lnedge_node::cln::ClnBackend::connect(cln).await;
            backend.map(|b| Arc::new(b) as Arc<dyn LightningBackend>).map_err(|e| named(role, e))
        }
    }
}

/// A start-up error of the operator's own node: a bad URL, certificate, macaroon or socket
/// names the key of this node's section.
fn named(role: Role, e: lnedge_node::BackendError) -> ServeError {
    match e {
        lnedge_node::BackendError::InvalidInput { what, detail } => {
            ConfigError::Invalid { key: role.key(what), message: detail }.into()
        }
        e => e.into(),
    }
}

/// Capacity of the sandbox wallet's channel to the owner's node, in sat; half of it is pushed
/// to the owner so that both can pay.
#[cfg(feature = "sandbox")]
const SANDBOX_WALLET_CHANNEL_SAT: u64 = 2_000_000;

/// Starts the sandbox wallet: a customer's node `wallet` on the sandbox network with an
/// announced channel to the owner's node (half pushed to the owner), usable on both ends; its
/// LUD-05 seed is kept in `data_dir/sandbox-wallet.key`.
#[cfg(feature = "sandbox")]
async fn start_sandbox_wallet(
    config: &GatewayConfig,
    net: &lnedge_node::sandbox::SandboxNetwork,
) -> Result<Arc<crate::sandbox_wallet::SandboxWallet>, ServeError> {
    let owner = net.node(Role::Owner.names().1)?;
    let wallet = net.add_node("wallet").await?;
    net.open_channel(&wallet, &owner, SANDBOX_WALLET_CHANNEL_SAT, SANDBOX_WALLET_CHANNEL_SAT * 500)
        .await?;
    // No wait for gossip: the two ends pay each other over their direct channel, and other
    // sandbox nodes (a relay's forwarding node) are not connected to them, so would never learn it.
    let seed = load_or_create_secret(&config.data_dir.join("sandbox-wallet.key"))?;
    tracing::warn!(
        wallet_node = %wallet.node_id(),
        channel_sat = SANDBOX_WALLET_CHANNEL_SAT,
        "sandbox mode: a sandbox wallet (a customer's node with a channel to the owner's node, \
         half of it pushed to the owner) answers POST /v1/sandbox/wallet/pay, /withdraw and \
         /login (admin token; `lnedge wallet …`); these routes exist only in sandbox mode"
    );
    Ok(Arc::new(crate::sandbox_wallet::SandboxWallet::new(wallet, seed)))
}

/// Starts the threshold device wallet's co-signed channels on the sandbox network (their
/// devices' payment service on a loopback port, printed and in `GET /v1/sandbox/cosigned`).
#[cfg(feature = "sandbox")]
fn start_cosigned(
    sandbox: &SandboxSlot,
) -> Result<Option<Arc<crate::cosigned::CosignedWallets>>, ServeError> {
    let Some(net) = sandbox else { return Ok(None) };
    let owner = net.node(Role::Owner.names().1)?;
    let listen = std::net::SocketAddr::from(([127, 0, 0, 1], 0));
    let wallets =
        crate::cosigned::CosignedWallets::start(net.clone(), owner, listen).map_err(|e| {
            ServeError::Node(lnedge_node::BackendError::Node(format!(
                "the devices' payment service: {e}"
            )))
        })?;
    println!("co-signed wallets: devices pay through {}", wallets.payment_service());
    Ok(Some(Arc::new(wallets)))
}

/// Prints where the dashboard is, and how to make its first account when there is none.
async fn announce_dashboard(gateway: &crate::engine::Gateway, config: &GatewayConfig) {
    let public = gateway.settings().public_url.trim_end_matches('/');
    let url = if public.is_empty() {
        let ip = match config.listen.ip() {
            ip if ip.is_unspecified() => std::net::IpAddr::from([127, 0, 0, 1]),
            ip => ip,
        };
        format!("http://{}/ui/", std::net::SocketAddr::new(ip, config.listen.port()))
    } else {
        format!("{public}/ui/")
    };
    println!("dashboard: {url}");
    if let Ok(operators) = gateway.operators().list().await {
        if operators.is_empty() {
            println!(
                "no operator account yet: create one with `lnedge operator add NAME --role admin` \
                 (same --data-dir / --database-url)"
            );
        }
    }
}

/// Runs the gateway until `shutdown` completes.
pub async fn serve(
    config: GatewayConfig,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> Result<(), ServeError> {
    config.validate()?;
    prepare_data_dir(&config)?;
    let store = open_store(&config).await?;
    let pool_key = PoolKey::load_or_create(&config.data_dir.join("pool.key"))?;
    let device_master_key = *load_or_create_secret(&config.data_dir.join("device-master.key"))?;

    // The owner's node, and the relay's forwarding node if any. A sandbox network must outlive
    // the server.
    let mut sandbox = SandboxSlot::default();
    let owner = start_node(&config, &config.node, Role::Owner, &mut sandbox).await?;
    let relay_forward_node = match &config.relay.forward_node {
        Some(node) => Some(start_node(&config, node, Role::RelayForward, &mut sandbox).await?),
        None => {
            if matches!(config.node, NodeConfig::Ldk { .. }) {
                tracing::warn!(
                    "no [relay.forward_node]: ldk-node cannot pay a hash it holds, so the async \
                     relay holds and refunds but cannot complete payments (ADR 0012)"
                );
            }
            None
        }
    };

    if config.public_url.is_empty() {
        tracing::warn!(
            "public_url is not set: refunds, LNURL-auth, deputy terminals and Bolt Cards are refused \
             with no_public_url until it is (wallets need an absolute URL); set public_url or \
             LNEDGE_PUBLIC_URL"
        );
    }
    let settings = GatewaySettings {
        public_url: config.public_url.trim_end_matches('/').to_owned(),
        refund_url_base: refund_url_base(&config.refund_url_base, &config.public_url),
        accounting_currency: config.accounting_currency.clone(),
        deputy: crate::deputy::DeputySettings::default()
            .with_quote_expiry_secs(config.deputy.quote_expiry_secs)
            .with_max_amount_msat(config.deputy.max_amount_msat),
        refunds: crate::refunds::RefundSettings {
            expiry_secs: config.refund_expiry_days.saturating_mul(86_400),
            ..Default::default()
        },
        relay: config.relay.settings(),
        payers: config.payers.settings(),
    };
    let gateway = GatewayBuilder::new(store, owner, Arc::new(pool_key), device_master_key)
        .rates(rate_source(&config))
        .settings(settings)
        .relay_forward_node(relay_forward_node)
        .build();
    gateway.start();
    let trusted_proxies = config.trusted_proxy_nets()?;
    #[cfg(feature = "sandbox")]
    let sandbox_wallet = match sandbox.as_ref() {
        Some(net) => Some(start_sandbox_wallet(&config, net).await?),
        None => None,
    };
    #[cfg(not(feature = "sandbox"))]
    let sandbox_wallet = None;
    let state = AppState {
        trusted_proxies: trusted_proxies.into(),
        sandbox_wallet,
        #[cfg(feature = "sandbox")]
        cosigned: start_cosigned(&sandbox)?,
        ..AppState::with_gateway(gateway.clone(), config.admin_token.clone().unwrap_or_default())
    };

    let listener = tokio::net::TcpListener::bind(config.listen)
        .await
        .map_err(|source| ServeError::Http { addr: config.listen, source })?;
    tracing::info!(addr = %config.listen, "lnedge gateway listening");
    announce_dashboard(&gateway, &config).await;
    warn_if_descriptors_are_short(&config.server);
    // On the sandbox, tokens also arrive as peer messages (45001) at the owner's node.
    let (stop_peer, peer_stopped) = tokio::sync::watch::channel(false);
    #[cfg(feature = "sandbox")]
    if let Some(node) = sandbox.as_ref().and_then(|net| net.node(Role::Owner.names().1).ok()) {
        tokio::spawn(crate::payers::peer::serve(gateway.clone(), node, peer_stopped));
    }
    #[cfg(not(feature = "sandbox"))]
    drop(peer_stopped);
    listener::serve_http(listener, app(state), config.server.clone(), shutdown).await;
    let _ = stop_peer.send(true);
    gateway.shutdown().await;
    Ok(())
}

/// Warns when the process may open fewer files than `[server] max_connections` needs (plus a
/// reserve for the databases and the nodes): accepting would then fail before the cap is
/// reached. Linux only (`/proc/self/limits`); elsewhere silent.
fn warn_if_descriptors_are_short(limits: &ServerLimits) {
    const RESERVE: usize = 128;
    let Ok(text) = std::fs::read_to_string("/proc/self/limits") else { return };
    let soft = text
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse::<usize>().ok());
    if let Some(soft) = soft.filter(|s| *s < limits.max_connections + RESERVE) {
        tracing::warn!(
            open_files = soft,
            max_connections = limits.max_connections,
            "the open-file limit is below server.max_connections + {RESERVE}: raise it (ulimit -n, \
             LimitNOFILE=) or lower server.max_connections"
        );
    }
}

/// The refund endpoint written into pools: `refund_url_base` if set, else
/// `<public_url>/v1/refunds` (so a machine's refund QR is the `https://` page a phone camera
/// opens), else empty (machines show the bare `LNEDGE1…` voucher).
fn refund_url_base(configured: &str, public_url: &str) -> String {
    match (configured.trim(), public_url.trim().trim_end_matches('/')) {
        ("", "") => String::new(),
        ("", public) => format!("{public}/v1/refunds"),
        (configured, _) => configured.to_owned(),
    }
}

#[cfg(test)]
mod refund_base_tests {
    use super::refund_url_base;

    #[test]
    fn the_refund_base_defaults_to_the_public_url() {
        assert_eq!(refund_url_base("", "https://pay.example/"), "https://pay.example/v1/refunds");
        assert_eq!(
            refund_url_base("https://r.example/x", "https://pay.example"),
            "https://r.example/x"
        );
        assert_eq!(refund_url_base("", ""), "");
    }
}
