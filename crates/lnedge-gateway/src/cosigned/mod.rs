//! Co-signed channels on a gateway in sandbox mode: the threshold device wallet (issue #15,
//! ADR 0023, `docs/wallet.md`) run by `lnedge gateway serve`.
//!
//! [`CosignedWallets`] enrols a device (the joint key made over its TCP device link,
//! `lnedge_cosign::gateway::GatewayCosigner::enrol`), opens its channel — funded by the device
//! from its own coins — and pays what the device asks on one payment service for all devices,
//! each request routed by the joint key it names. Each device's channel lives on **its own
//! sandbox node** of the gateway, whose only channel it is, to the owner's node as the bridge
//! (an unmodified LDK node): a device's payment can then leave through its own channel only,
//! and the operator's money and each device's never mix (ADR 0023 decision 9).
//!
//! Like the rest of the sandbox, all of it lives as long as the process: the sandbox network
//! keeps nothing across a restart. Only the sandbox node lets lnedge replace LDK's signer;
//! ldk-node, LND and Core Lightning do not, so a production gateway cannot host co-signed
//! channels yet (see `docs/wallet.md`).

use std::net::{SocketAddr, TcpListener};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use lnedge_cosign::gateway::GatewayCosigner;
use lnedge_cosign::tcp::TcpLink;
use lnedge_node::bitcoin::{OutPoint, ScriptBuf};
use lnedge_node::sandbox::cosigned::{serve_device_requests_for, DeviceRoute};
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::BackendError;
use lnedge_wire::cosigned::{CosignedChannel, CosignedList, CosignedWallet, Deposited};

/// How long one request on a device link may take (key generation's largest message included).
const LINK_TIMEOUT: Duration = Duration::from_secs(60);
/// How long the network may take to tell a new device node about the owner's channels.
const GOSSIP_WAIT: Duration = Duration::from_secs(30);
/// The largest channel a device may open here, in sat.
pub const MAX_CAPACITY_SAT: u64 = 16_777_215;
/// The smallest, in sat.
pub const MIN_CAPACITY_SAT: u64 = 20_000;
/// The most one sandbox deposit may pay, in sat (10 BTC).
pub const MAX_DEPOSIT_SAT: u64 = 1_000_000_000;

/// Why a co-signed wallet operation failed.
#[derive(Debug, thiserror::Error)]
pub enum CosignedError {
    /// A field of the request is not usable.
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No enrolled device has this id.
    #[error("no enrolled device has the id {0}")]
    UnknownWallet(u32),
    /// The device's channel is open, or opening.
    #[error("device {0} has a channel already (or one is opening)")]
    ChannelExists(u32),
    /// The device did not answer, or said no (its reason is named).
    #[error("the device: {0}")]
    Device(String),
    /// The sandbox network failed.
    #[error(transparent)]
    Node(#[from] BackendError),
}

enum ChannelState {
    None,
    Opening,
    Open { node: Arc<SandboxNode>, channel_id: String, capacity_sat: u64 },
}

struct Wallet {
    id: u32,
    device: SocketAddr,
    cosigner: Arc<GatewayCosigner>,
    channel: ChannelState,
}

/// The gateway's co-signed wallets (sandbox mode).
pub struct CosignedWallets {
    net: Arc<SandboxNetwork>,
    bridge: Arc<SandboxNode>,
    wallets: Arc<Mutex<Vec<Wallet>>>,
    payment_service: SocketAddr,
}

impl std::fmt::Debug for CosignedWallets {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CosignedWallets")
            .field("payment_service", &self.payment_service)
            .finish_non_exhaustive()
    }
}

impl CosignedWallets {
    /// Starts the devices' payment service on `listen` (`127.0.0.1:0` picks a port); channels
    /// go to `bridge` (the owner's node) on `net`.
    pub fn start(
        net: Arc<SandboxNetwork>,
        bridge: Arc<SandboxNode>,
        listen: SocketAddr,
    ) -> std::io::Result<CosignedWallets> {
        let listener = TcpListener::bind(listen)?;
        let payment_service = listener.local_addr()?;
        let wallets: Arc<Mutex<Vec<Wallet>>> = Arc::default();
        let routes = wallets.clone();
        let route: DeviceRoute = Arc::new(move |joint_key| {
            lock(&routes).iter().find_map(|w| match &w.channel {
                ChannelState::Open { node, .. } if w.cosigner.joint_key() == *joint_key => {
                    Some(node.clone())
                }
                _ => None,
            })
        });
        serve_device_requests_for(listener, route, tokio::runtime::Handle::current());
        Ok(CosignedWallets { net, bridge, wallets, payment_service })
    }

    /// Where devices send their own payments.
    pub fn payment_service(&self) -> SocketAddr {
        self.payment_service
    }

    /// Enrols the device listening at `device` (`host:port`): makes its joint key with it.
    pub async fn enrol(&self, device: &str) -> Result<CosignedWallet, CosignedError> {
        let addr: SocketAddr = device.trim().parse().map_err(|_| CosignedError::Invalid {
            field: "device",
            message: format!("{device:?} is not host:port (e.g. 127.0.0.1:7001)"),
        })?;
        let link = Arc::new(TcpLink::new(addr, LINK_TIMEOUT));
        let cosigner = tokio::task::spawn_blocking(move || GatewayCosigner::enrol(link))
            .await
            .map_err(|e| CosignedError::Device(format!("enrolment panicked: {e}")))?
            .map_err(|e| CosignedError::Device(e.to_string()))?;
        let mut wallets = lock(&self.wallets);
        let id = wallets.last().map_or(1, |w| w.id + 1);
        wallets.push(Wallet {
            id,
            device: addr,
            cosigner: Arc::new(cosigner),
            channel: ChannelState::None,
        });
        tracing::info!(id, device = %addr, "enrolled a co-signing device");
        Ok(view(wallets.last().expect("just pushed"), &self.bridge))
    }

    /// Pays `amount_sat` to `script` on the sandbox chain (a device's coins) and mines it.
    pub async fn deposit(&self, script: &str, amount_sat: u64) -> Result<Deposited, CosignedError> {
        let bytes = hex::decode(script.trim()).map_err(|e| CosignedError::Invalid {
            field: "script",
            message: format!("not hex: {e}"),
        })?;
        if bytes.is_empty() || bytes.len() > 10_000 {
            return Err(CosignedError::Invalid {
                field: "script",
                message: format!("{} bytes; an output script has 1 to 10,000", bytes.len()),
            });
        }
        if !(1..=MAX_DEPOSIT_SAT).contains(&amount_sat) {
            return Err(CosignedError::Invalid {
                field: "amount_sat",
                message: format!("{amount_sat}: from 1 to {MAX_DEPOSIT_SAT}"),
            });
        }
        let outpoint: OutPoint = self.net.deposit(ScriptBuf::from_bytes(bytes), amount_sat).await;
        Ok(Deposited { outpoint: outpoint.to_string(), amount_sat })
    }

    /// Opens device `id`'s co-signed channel of `capacity_sat` (the device funds it from a coin
    /// it holds and checks the funding script holds its joint key); returns once it is usable.
    pub async fn open_channel(
        &self,
        id: u32,
        capacity_sat: u64,
    ) -> Result<CosignedWallet, CosignedError> {
        if !(MIN_CAPACITY_SAT..=MAX_CAPACITY_SAT).contains(&capacity_sat) {
            return Err(CosignedError::Invalid {
                field: "capacity_sat",
                message: format!("{capacity_sat}: from {MIN_CAPACITY_SAT} to {MAX_CAPACITY_SAT}"),
            });
        }
        let cosigner = {
            let mut wallets = lock(&self.wallets);
            let wallet = find(&mut wallets, id)?;
            if !matches!(wallet.channel, ChannelState::None) {
                return Err(CosignedError::ChannelExists(id));
            }
            wallet.channel = ChannelState::Opening;
            wallet.cosigner.clone()
        };
        let opened = self.open(id, capacity_sat, cosigner).await;
        let mut wallets = lock(&self.wallets);
        let wallet = find(&mut wallets, id)?;
        match opened {
            Ok((node, channel_id)) => {
                wallet.channel = ChannelState::Open { node, channel_id, capacity_sat };
                Ok(view(wallet, &self.bridge))
            }
            Err(e) => {
                // The open may be asked again: a device that did not fund yet funds then, one
                // that did refuses a second funding (its coins went to a channel it co-signs).
                wallet.channel = ChannelState::None;
                Err(e)
            }
        }
    }

    async fn open(
        &self,
        id: u32,
        capacity_sat: u64,
        cosigner: Arc<GatewayCosigner>,
    ) -> Result<(Arc<SandboxNode>, String), CosignedError> {
        let name = format!("cosigned-{id}");
        let node = match self.net.node(&name) {
            Ok(node) => node,
            Err(_) => self.net.add_node(&name).await?,
        };
        let channel = self
            .net
            .open_cosigned_channel(&node, &self.bridge, capacity_sat, cosigner)
            .await
            .map_err(|e| match e {
                BackendError::Node(message) => CosignedError::Device(message),
                e => CosignedError::Node(e),
            })?;
        // The device's node learns the owner's public channels from it, so that it can pay
        // beyond the owner's node.
        if tokio::time::timeout(GOSSIP_WAIT, self.net.wait_for_gossip()).await.is_err() {
            tracing::warn!(id, "the device's node does not know every public channel yet");
        }
        Ok((node, hex::encode(channel.0)))
    }

    /// Every enrolled device, by id.
    pub fn list(&self) -> CosignedList {
        let wallets = lock(&self.wallets);
        CosignedList {
            payment_service: self.payment_service.to_string(),
            wallets: wallets.iter().map(|w| view(w, &self.bridge)).collect(),
        }
    }
}

fn lock(wallets: &Mutex<Vec<Wallet>>) -> MutexGuard<'_, Vec<Wallet>> {
    wallets.lock().unwrap_or_else(|p| p.into_inner())
}

fn find(wallets: &mut [Wallet], id: u32) -> Result<&mut Wallet, CosignedError> {
    wallets.iter_mut().find(|w| w.id == id).ok_or(CosignedError::UnknownWallet(id))
}

fn view(wallet: &Wallet, bridge: &SandboxNode) -> CosignedWallet {
    let stats = wallet.cosigner.stats();
    let channel = match &wallet.channel {
        ChannelState::Open { node, channel_id, capacity_sat } => Some(CosignedChannel {
            channel_id: channel_id.clone(),
            node_id: node.node_id().to_string(),
            bridge_node_id: bridge.node_id().to_string(),
            capacity_sat: *capacity_sat,
            outbound_msat: node
                .channels()
                .iter()
                .find(|c| hex::encode(c.channel_id.0) == *channel_id)
                .map_or(0, |c| c.outbound_capacity_msat),
        }),
        _ => None,
    };
    CosignedWallet {
        id: wallet.id,
        device: wallet.device.to_string(),
        joint_key: wallet.cosigner.joint_key().to_string(),
        channel,
        signatures: stats.signatures,
        link_bytes: stats.bytes_in + stats.bytes_out,
    }
}
