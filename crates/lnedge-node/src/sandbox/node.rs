//! One sandbox node: a full LDK stack (keys, chain monitor, channel manager, gossip, peer
//! manager on loopback TCP) and the driver task that runs it.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bitcoin::secp256k1::PublicKey;
use bitcoin::{Block, BlockHash, Network};
use lightning::chain::chainmonitor::ChainMonitor;
use lightning::chain::{BestBlock, Filter, Listen, Watch};
use lightning::ln::channelmanager::{ChainParameters, ChannelManagerReadArgs};
use lightning::ln::peer_handler::{IgnoringMessageHandler, MessageHandler, PeerManager};
use lightning::onion_message::messenger::DefaultMessageRouter;
use lightning::routing::gossip::{NetworkGraph, P2PGossipSync};
use lightning::routing::router::DefaultRouter;
use lightning::routing::scoring::{
    ProbabilisticScorer, ProbabilisticScoringDecayParameters, ProbabilisticScoringFeeParameters,
};
use lightning::sign::{EntropySource, KeysManager, NodeSigner};
use lightning::util::config::{MaxDustHTLCExposure, UserConfig};
use lightning::util::persist::{
    read_channel_monitors, KVStoreSync, CHANNEL_MANAGER_PERSISTENCE_KEY,
    CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE, CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
};
use lightning::util::ser::{ReadableArgs, Writeable};
use lightning_net_tokio::SocketDescriptor;
use tokio::sync::{watch, Notify};

use super::chain::{BlockSink, FixedFees, MemoryStore, SimChain, TracingLogger};
use super::cosigned::{CosignRegistry, CosignedSigner, NodeKeys};
use super::peer_message::PeerMessageHandler;
use crate::error::BackendError;
use crate::store::BackendStore;

pub(crate) type Logger = TracingLogger;
pub(crate) type ChainMonitorT = ChainMonitor<
    CosignedSigner,
    Arc<dyn Filter + Send + Sync>,
    Arc<SimChain>,
    Arc<FixedFees>,
    Arc<Logger>,
    Arc<MemoryStore>,
    Arc<KeysManager>,
>;
pub(crate) type Graph = NetworkGraph<Arc<Logger>>;
pub(crate) type Scorer = ProbabilisticScorer<Arc<Graph>, Arc<Logger>>;
pub(crate) type Router = DefaultRouter<
    Arc<Graph>,
    Arc<Logger>,
    Arc<KeysManager>,
    Arc<RwLock<Scorer>>,
    ProbabilisticScoringFeeParameters,
    Scorer,
>;
pub(crate) type MessageRouter = DefaultMessageRouter<Arc<Graph>, Arc<Logger>, Arc<KeysManager>>;
pub(crate) type ChannelManager = lightning::ln::channelmanager::ChannelManager<
    Arc<ChainMonitorT>,
    Arc<SimChain>,
    Arc<KeysManager>,
    Arc<KeysManager>,
    Arc<NodeKeys>,
    Arc<FixedFees>,
    Arc<Router>,
    Arc<MessageRouter>,
    Arc<Logger>,
>;
pub(crate) type GossipSync = P2PGossipSync<
    Arc<Graph>,
    Arc<dyn lightning::routing::utxo::UtxoLookup + Send + Sync>,
    Arc<Logger>,
>;
pub(crate) type PeerManagerT = PeerManager<
    SocketDescriptor,
    Arc<ChannelManager>,
    Arc<GossipSync>,
    IgnoringMessageHandler,
    Arc<Logger>,
    Arc<PeerMessageHandler>,
    Arc<KeysManager>,
    Arc<ChainMonitorT>,
>;

/// What survives a node restart: its seed, its key-value store ("disk"), its data directory and
/// the peers it knows.
#[derive(Debug)]
pub(crate) struct NodeDisk {
    pub(crate) name: String,
    pub(crate) seed: [u8; 32],
    pub(crate) kv: Arc<MemoryStore>,
    pub(crate) data_dir: PathBuf,
    pub(crate) peers: Mutex<Vec<(PublicKey, SocketAddr)>>,
    pub(crate) listen_port: Mutex<u16>,
    /// The node's co-signed channels (see [`super::cosigned`]).
    pub(crate) cosign: Arc<CosignRegistry>,
}

/// A running sandbox node.
///
/// It implements [`LightningBackend`](crate::LightningBackend); the
/// [`SandboxNetwork`](super::SandboxNetwork) that created it opens its channels and mines its
/// blocks.
pub struct SandboxNode {
    pub(crate) disk: Arc<NodeDisk>,
    pub(crate) keys: Arc<KeysManager>,
    pub(crate) chain_monitor: Arc<ChainMonitorT>,
    pub(crate) channel_manager: Arc<ChannelManager>,
    pub(crate) graph: Arc<Graph>,
    pub(crate) peer_manager: Arc<PeerManagerT>,
    /// The peer manager's custom message handler (see [`SandboxNode::send_peer_message`]).
    pub(crate) peer_messages: Arc<PeerMessageHandler>,
    pub(crate) store: Arc<BackendStore>,
    pub(crate) listen_addr: SocketAddr,
    /// Woken whenever an outgoing payment resolves.
    pub(crate) payment_resolved: Notify,
    stopped: AtomicBool,
    shutdown: watch::Sender<bool>,
    tasks: Mutex<Vec<tokio::task::JoinHandle<()>>>,
    /// Peers this node is dialing right now (see [`SandboxNode::connect`]).
    dialing: Mutex<HashSet<PublicKey>>,
}

impl std::fmt::Debug for SandboxNode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxNode")
            .field("name", &self.disk.name)
            .field("node_id", &self.node_id())
            .field("listen_addr", &self.listen_addr)
            .finish()
    }
}

/// How long a dial waits for the handshake (noise and `init`) to complete: generous, as a busy
/// machine running a debug build is slow to sign.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(30);

pub(crate) fn user_config() -> UserConfig {
    let mut config = UserConfig::default();
    config.channel_handshake_config.announce_for_forwarding = true;
    config.channel_handshake_config.minimum_depth = 1;
    config.channel_handshake_config.negotiate_anchors_zero_fee_htlc_tx = false;
    config.channel_handshake_config.max_inbound_htlc_value_in_flight_percent_of_channel = 100;
    // The protocol's maximum (LDK defaults to 50): the relay bench holds hundreds of HTLCs.
    config.channel_handshake_config.our_max_accepted_htlcs = 483;
    config.channel_handshake_limits.force_announced_channel_preference = false;
    config.channel_handshake_limits.max_minimum_depth = 6;
    config.accept_forwards_to_priv_channels = true;
    // Concurrent small payments: on these non-anchor channels every HTLC below ~2 310 sat counts
    // as dust against LDK's default exposure limit (10 000 × the 253 sat/kW floor = 2 530 sat),
    // so a second small HTLC could not leave while one was in flight ("no route"). The sandbox
    // holds test money only; 500 000 sat lets dozens of card taps and tokens pay at once.
    config.channel_config.max_dust_htlc_exposure = MaxDustHTLCExposure::FixedLimitMsat(500_000_000);
    config
}

fn unix_now() -> Duration {
    SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default()
}

fn storage(e: impl std::fmt::Display) -> BackendError {
    BackendError::Storage(e.to_string())
}

impl SandboxNode {
    /// Builds (or, if its disk holds a channel manager, reloads) the node, catches it up with the
    /// chain, and starts listening and driving it.
    pub(crate) async fn start(
        disk: Arc<NodeDisk>,
        chain: Arc<SimChain>,
    ) -> Result<Arc<SandboxNode>, BackendError> {
        let now = unix_now();
        let logger = Arc::new(TracingLogger { node: disk.name.clone() });
        let fees = Arc::new(FixedFees);
        let keys = Arc::new(KeysManager::new(&disk.seed, now.as_secs(), now.subsec_nanos(), true));
        let signers = Arc::new(NodeKeys::new(keys.clone(), disk.cosign.clone()));
        let chain_monitor: Arc<ChainMonitorT> = Arc::new(ChainMonitor::new(
            None,
            chain.clone(),
            logger.clone(),
            fees.clone(),
            disk.kv.clone(),
            keys.clone(),
            keys.get_peer_storage_key(),
        ));
        let graph = Arc::new(NetworkGraph::new(Network::Regtest, logger.clone()));
        let scorer = Arc::new(RwLock::new(ProbabilisticScorer::new(
            ProbabilisticScoringDecayParameters::default(),
            graph.clone(),
            logger.clone(),
        )));
        let router = Arc::new(DefaultRouter::new(
            graph.clone(),
            logger.clone(),
            keys.clone(),
            scorer,
            ProbabilisticScoringFeeParameters::default(),
        ));
        let message_router = Arc::new(DefaultMessageRouter::new(graph.clone(), keys.clone()));

        let store = Arc::new(BackendStore::open(&disk.data_dir)?);
        // Listen on the same port as before a restart when it is free, else on any port.
        let wanted = *disk.listen_port.lock().unwrap_or_else(|p| p.into_inner());
        let listener = match tokio::net::TcpListener::bind(("127.0.0.1", wanted)).await {
            Ok(l) => l,
            Err(_) => tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.map_err(|e| {
                BackendError::Unavailable(format!("cannot listen on loopback: {e}"))
            })?,
        };
        let listen_addr =
            listener.local_addr().map_err(|e| BackendError::Unavailable(e.to_string()))?;
        *disk.listen_port.lock().unwrap_or_else(|p| p.into_inner()) = listen_addr.port();
        let manager_bytes = disk.kv.read(
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
        );

        // Hold the miner while building and catching up, so no block is missed or doubled.
        let node = chain.paused(|blocks| -> Result<Arc<SandboxNode>, BackendError> {
            let tip_height = (blocks.len() - 1) as u32;
            let channel_manager = match manager_bytes {
                Err(_) => {
                    let tip = &blocks[tip_height as usize];
                    Arc::new(ChannelManager::new(
                        fees.clone(),
                        chain_monitor.clone(),
                        chain.clone(),
                        router.clone(),
                        message_router.clone(),
                        logger.clone(),
                        keys.clone(),
                        keys.clone(),
                        signers.clone(),
                        user_config(),
                        ChainParameters {
                            network: Network::Regtest,
                            best_block: BestBlock::new(tip.block_hash(), tip_height),
                        },
                        now.as_secs() as u32,
                    ))
                }
                Ok(bytes) => {
                    let mut monitors =
                        read_channel_monitors(disk.kv.clone(), keys.clone(), signers.clone())
                            .map_err(storage)?;
                    for (hash, monitor) in &mut monitors {
                        let from = height_of(blocks, hash)?;
                        for height in from + 1..=tip_height {
                            let block = &blocks[height as usize];
                            let txdata: Vec<_> = block.txdata.iter().enumerate().collect();
                            monitor.block_connected(
                                &block.header,
                                &txdata,
                                height,
                                chain.clone(),
                                fees.clone(),
                                &logger,
                            );
                        }
                    }
                    let args = ChannelManagerReadArgs::new(
                        keys.clone(),
                        keys.clone(),
                        signers.clone(),
                        fees.clone(),
                        chain_monitor.clone(),
                        chain.clone(),
                        router.clone(),
                        message_router.clone(),
                        logger.clone(),
                        user_config(),
                        monitors.iter().map(|(_, m)| m).collect(),
                    );
                    let (hash, manager) = <(BlockHash, ChannelManager)>::read(
                        &mut lightning::io::Cursor::new(bytes),
                        args,
                    )
                    .map_err(|e| storage(format!("channel manager unreadable: {e:?}")))?;
                    let from = height_of(blocks, &hash)?;
                    for height in from + 1..=tip_height {
                        manager.block_connected(&blocks[height as usize], height);
                    }
                    for (_, monitor) in monitors {
                        chain_monitor
                            .watch_channel(monitor.channel_id(), monitor)
                            .map_err(|()| storage("a channel monitor could not be reloaded"))?;
                    }
                    Arc::new(manager)
                }
            };
            let utxo: Option<Arc<dyn lightning::routing::utxo::UtxoLookup + Send + Sync>> = None;
            let gossip = Arc::new(P2PGossipSync::new(graph.clone(), utxo, logger.clone()));
            let mut ephemeral = [0u8; 32];
            ephemeral.copy_from_slice(&keys.get_secure_random_bytes());
            let peer_messages = PeerMessageHandler::new();
            let peer_manager = Arc::new(PeerManager::new(
                MessageHandler {
                    chan_handler: channel_manager.clone(),
                    route_handler: gossip,
                    onion_message_handler: IgnoringMessageHandler {},
                    custom_message_handler: peer_messages.clone(),
                    send_only_message_handler: chain_monitor.clone(),
                },
                now.as_secs() as u32,
                &ephemeral,
                logger.clone(),
                keys.clone(),
            ));
            let (shutdown, _) = watch::channel(false);
            let node = Arc::new(SandboxNode {
                disk: disk.clone(),
                keys: keys.clone(),
                chain_monitor: chain_monitor.clone(),
                channel_manager,
                graph: graph.clone(),
                peer_manager,
                peer_messages,
                store: store.clone(),
                listen_addr,
                payment_resolved: Notify::new(),
                stopped: AtomicBool::new(false),
                shutdown,
                tasks: Mutex::new(Vec::new()),
                dialing: Mutex::new(HashSet::new()),
            });
            // A co-signature finished on its own thread: LDK asks the signer again.
            let weak = Arc::downgrade(&node);
            disk.cosign.set_wake(Arc::new(move || {
                if let Some(node) = weak.upgrade() {
                    node.retry_signatures();
                }
            }));
            let sink: Arc<dyn BlockSink> = node.clone();
            chain.register(Arc::downgrade(&sink));
            Ok(node)
        })?;

        let mut shutdown = node.shutdown.subscribe();
        let pm = node.peer_manager.clone();
        let accept = tokio::spawn(async move {
            loop {
                tokio::select! {
                    _ = shutdown.wait_for(|stop| *stop) => break,
                    accepted = listener.accept() => {
                        let Ok((stream, _)) = accepted else { continue };
                        // Lightning messages are small: don't let Nagle hold them back.
                        let _ = stream.set_nodelay(true);
                        let Ok(stream) = stream.into_std() else { continue };
                        tokio::spawn(lightning_net_tokio::setup_inbound(pm.clone(), stream));
                    }
                }
            }
        });
        let driver = tokio::spawn(super::driver::drive(node.clone(), node.shutdown.subscribe()));
        node.tasks.lock().unwrap_or_else(|p| p.into_inner()).extend([accept, driver]);

        // Reconnect to the peers known from before a restart.
        let peers = node.disk.peers.lock().unwrap_or_else(|p| p.into_inner()).clone();
        for (peer, addr) in peers {
            let _ = node.connect(peer, addr).await;
        }
        Ok(node)
    }

    /// The node's public key.
    pub fn node_id(&self) -> PublicKey {
        self.channel_manager.get_our_node_id()
    }

    /// The node's name in its network.
    pub fn name(&self) -> &str {
        &self.disk.name
    }

    /// The loopback address the node listens on.
    pub fn listen_addr(&self) -> SocketAddr {
        self.listen_addr
    }

    /// The channels of this node, as LDK reports them.
    pub fn channels(&self) -> Vec<lightning::ln::channel_state::ChannelDetails> {
        self.channel_manager.list_channels()
    }

    /// How many announced channels this node's network graph knows.
    pub fn known_public_channels(&self) -> usize {
        self.graph
            .read_only()
            .channels()
            .unordered_iter()
            .filter(|(_, c)| c.one_to_two.is_some() && c.two_to_one.is_some())
            .count()
    }

    /// Connects to a peer over loopback and waits until the handshake completes.
    ///
    /// The peer is remembered: the node dials it again after a restart or a dropped connection.
    /// One dial per peer at a time: a call while another is under way waits for that one.
    pub async fn connect(&self, peer: PublicKey, addr: SocketAddr) -> Result<(), BackendError> {
        if self.stopped.load(Ordering::SeqCst) {
            return Err(BackendError::Unavailable(format!("{} is stopped", self.disk.name)));
        }
        {
            // Remembered for restarts and reconnections; a peer that moved is dialed anew.
            let mut peers = self.disk.peers.lock().unwrap_or_else(|p| p.into_inner());
            peers.retain(|(p, _)| *p != peer);
            peers.push((peer, addr));
        }
        let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
        loop {
            if self.peer_manager.peer_by_node_id(&peer).is_some() {
                return Ok(());
            }
            if self.lock_dialing().insert(peer) {
                let _dialing = Dialing { node: self, peer };
                return self.dial(peer, addr).await;
            }
            // Another dial to the peer is under way (two would race their handshakes): wait
            // for it, and dial if it failed.
            if tokio::time::Instant::now() > deadline {
                return Err(BackendError::Unavailable(format!(
                    "dialing {peer}@{addr} did not complete"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Whether a dial to `peer` is under way.
    pub(crate) fn dialing(&self, peer: &PublicKey) -> bool {
        self.lock_dialing().contains(peer)
    }

    fn lock_dialing(&self) -> std::sync::MutexGuard<'_, HashSet<PublicKey>> {
        self.dialing.lock().unwrap_or_else(|p| p.into_inner())
    }

    async fn dial(&self, peer: PublicKey, addr: SocketAddr) -> Result<(), BackendError> {
        let unreachable = |e: std::io::Error| {
            BackendError::Unavailable(format!("cannot connect to {peer}@{addr}: {e}"))
        };
        let stream =
            tokio::time::timeout(Duration::from_secs(10), tokio::net::TcpStream::connect(addr))
                .await
                .map_err(|_| {
                    BackendError::Unavailable(format!("connecting to {peer}@{addr} timed out"))
                })?
                .map_err(unreachable)?;
        stream.set_nodelay(true).map_err(unreachable)?;
        let stream = stream.into_std().map_err(unreachable)?;
        if self.stopped.load(Ordering::SeqCst) {
            return Err(BackendError::Unavailable(format!("{} is stopped", self.disk.name)));
        }
        // The connection's task ends when the connection closes.
        let connection = tokio::spawn(lightning_net_tokio::setup_outbound(
            self.peer_manager.clone(),
            peer,
            stream,
        ));
        let deadline = tokio::time::Instant::now() + HANDSHAKE_TIMEOUT;
        loop {
            if self.peer_manager.peer_by_node_id(&peer).is_some() {
                return Ok(());
            }
            if connection.is_finished() {
                // E.g. the peer still held an older connection from us and closed this one.
                return Err(BackendError::Unavailable(format!(
                    "the connection to {peer}@{addr} closed during the handshake"
                )));
            }
            if tokio::time::Instant::now() > deadline {
                return Err(BackendError::Unavailable(format!(
                    "handshake with {peer}@{addr} did not complete"
                )));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Stops the node: disconnects its peers, stops its tasks and persists its channel manager.
    /// The handle must not be used afterwards; restart through the network.
    pub async fn stop(&self) {
        if self.stopped.swap(true, Ordering::SeqCst) {
            return;
        }
        let _ = self.shutdown.send(true);
        let tasks = std::mem::take(&mut *self.tasks.lock().unwrap_or_else(|p| p.into_inner()));
        for task in tasks {
            let _ = task.await;
        }
        self.peer_manager.disconnect_all_peers();
        self.persist_manager();
    }

    pub(crate) fn persist_manager(&self) {
        let result = self.disk.kv.write(
            CHANNEL_MANAGER_PERSISTENCE_PRIMARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_SECONDARY_NAMESPACE,
            CHANNEL_MANAGER_PERSISTENCE_KEY,
            self.channel_manager.encode(),
        );
        if let Err(e) = result {
            tracing::error!(node = %self.disk.name, "persisting the channel manager failed: {e}");
        }
    }

    pub(crate) fn is_stopped(&self) -> bool {
        self.stopped.load(Ordering::SeqCst)
    }

    /// Announces the node (alias and loopback address) to its peers; needs a public channel.
    pub fn announce(&self) {
        let mut alias = [0u8; 32];
        let name = self.disk.name.as_bytes();
        let n = name.len().min(32);
        alias[..n].copy_from_slice(&name[..n]);
        let addr = lightning::ln::msgs::SocketAddress::TcpIpV4 {
            addr: [127, 0, 0, 1],
            port: self.listen_addr.port(),
        };
        self.peer_manager.broadcast_node_announcement([0; 3], alias, vec![addr]);
    }

    /// The sign key of the node (for tests that check invoice signatures).
    pub fn node_signer(&self) -> &KeysManager {
        &self.keys
    }
}

impl BlockSink for SandboxNode {
    fn connect(&self, block: &Block, height: u32) {
        if self.is_stopped() {
            return;
        }
        self.channel_manager.block_connected(block, height);
        self.chain_monitor.block_connected(block, height);
    }
}

/// A dial under way: ends when dropped, even if the dialing future is.
struct Dialing<'a> {
    node: &'a SandboxNode,
    peer: PublicKey,
}

impl Drop for Dialing<'_> {
    fn drop(&mut self) {
        self.node.lock_dialing().remove(&self.peer);
    }
}

fn height_of(blocks: &[Block], hash: &BlockHash) -> Result<u32, BackendError> {
    blocks
        .iter()
        .rposition(|b| b.block_hash() == *hash)
        .map(|h| h as u32)
        .ok_or_else(|| storage(format!("persisted best block {hash} is not on the sandbox chain")))
}
