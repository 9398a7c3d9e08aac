//! [`SandboxNetwork`]: creates nodes, connects them, opens announced channels, mines blocks and
//! restarts nodes.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use lightning::ln::types::ChannelId;

use super::chain::{MemoryStore, SimChain};
use super::node::{NodeDisk, SandboxNode};
use crate::error::BackendError;

/// How long the helpers wait for the network to settle before giving up: generous, since a busy
/// machine running a debug build is slow; it is only ever reached when something is wrong.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(60);

/// A node's disk and its running stack, by name.
type Nodes = BTreeMap<String, (Arc<NodeDisk>, Arc<SandboxNode>)>;

/// An in-process Lightning network of real LDK nodes on loopback TCP, over a simulated chain.
///
/// ```no_run
/// # async fn f() -> Result<(), lnedge_node::BackendError> {
/// use lnedge_node::sandbox::SandboxNetwork;
/// let net = SandboxNetwork::new().await?;
/// let [payer, router, merchant] = net.line(["payer", "router", "merchant"], 1_000_000).await?;
/// # Ok(()) }
/// ```
pub struct SandboxNetwork {
    chain: Arc<SimChain>,
    dir: PathBuf,
    _temp: Option<tempfile::TempDir>,
    nodes: Mutex<Nodes>,
}

impl std::fmt::Debug for SandboxNetwork {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxNetwork")
            .field("dir", &self.dir)
            .field("chain", &self.chain)
            .finish()
    }
}

impl SandboxNetwork {
    /// A network whose nodes keep their state in a temporary directory, removed on drop.
    pub async fn new() -> Result<Self, BackendError> {
        let temp = tempfile::Builder::new()
            .prefix("lnedge-sandbox-")
            .tempdir()
            .map_err(|e| BackendError::Storage(format!("creating a temporary directory: {e}")))?;
        let mut net = Self::in_dir(temp.path()).await?;
        net._temp = Some(temp);
        Ok(net)
    }

    /// A network whose nodes keep their backend state under `dir`.
    pub async fn in_dir(dir: &Path) -> Result<Self, BackendError> {
        crate::private_fs::create_dir(dir).map_err(|e| BackendError::Storage(e.to_string()))?;
        Ok(SandboxNetwork {
            chain: SimChain::new(),
            dir: dir.to_owned(),
            _temp: None,
            nodes: Mutex::new(BTreeMap::new()),
        })
    }

    /// The simulated chain.
    pub fn chain(&self) -> &Arc<SimChain> {
        &self.chain
    }

    /// Adds and starts a node named `name` (unique in this network).
    pub async fn add_node(&self, name: &str) -> Result<Arc<SandboxNode>, BackendError> {
        if name.is_empty()
            || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(BackendError::invalid(
                "node name",
                format!("{name:?} must be [A-Za-z0-9_-]+"),
            ));
        }
        if self.lock().contains_key(name) {
            return Err(BackendError::invalid("node name", format!("{name:?} is taken")));
        }
        let disk = Arc::new(NodeDisk {
            name: name.to_owned(),
            seed: rand::random(),
            kv: Arc::new(MemoryStore::default()),
            data_dir: self.dir.join(name),
            peers: Mutex::new(Vec::new()),
            listen_port: Mutex::new(0),
            cosign: Default::default(),
        });
        let node = SandboxNode::start(disk.clone(), self.chain.clone()).await?;
        self.lock().insert(name.to_owned(), (disk, node.clone()));
        Ok(node)
    }

    /// The running node named `name`.
    pub fn node(&self, name: &str) -> Result<Arc<SandboxNode>, BackendError> {
        self.lock()
            .get(name)
            .map(|(_, n)| n.clone())
            .ok_or_else(|| BackendError::invalid("node name", format!("no node named {name:?}")))
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Nodes> {
        self.nodes.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Stops the node named `name` and starts it again from its persisted state, reconnecting
    /// it to its peers; returns once both ends of its channels can use them again. Returns the
    /// new handle; the old one is dead.
    pub async fn restart(&self, name: &str) -> Result<Arc<SandboxNode>, BackendError> {
        let (disk, old) =
            self.lock().get(name).cloned().ok_or_else(|| {
                BackendError::invalid("node name", format!("no node named {name:?}"))
            })?;
        let old_id = old.node_id();
        old.stop().await;
        drop(old);
        let others: Vec<_> = self
            .lock()
            .iter()
            .filter(|(n, _)| n.as_str() != name)
            .map(|(_, (_, node))| node.clone())
            .collect();
        // Wait until the peers have noticed the disconnection.
        self.wait("peers to notice the restart", || {
            others.iter().all(|o| o.peer_manager.peer_by_node_id(&old_id).is_none())
        })
        .await?;
        // The node dials the peers it dialed before (`SandboxNode::start`).
        let node = SandboxNode::start(disk.clone(), self.chain.clone()).await?;
        self.lock().insert(name.to_owned(), (disk.clone(), node.clone()));
        // The peers that dialed it dial it again, at its new address; the others wait to be
        // dialed. Only one side dials: LDK keeps one connection per peer and closes a second
        // one, so both sides dialing at once can leave neither connection standing.
        let dialed_by_node: Vec<_> = {
            let peers = disk.peers.lock().unwrap_or_else(|p| p.into_inner());
            peers.iter().map(|(id, _)| *id).collect()
        };
        let mut counterparts = Vec::new();
        for other in &others {
            if !other.channels().iter().any(|c| c.counterparty.node_id == old_id) {
                continue;
            }
            counterparts.push(other.clone());
            if !dialed_by_node.contains(&other.node_id()) {
                if let Err(e) = other.connect(old_id, node.listen_addr()).await {
                    // Its driver dials again (every second) until the wait below is over.
                    tracing::info!(node = %other.name(), "dialing {name} after its restart: {e}");
                }
            }
        }
        // Done when both ends of every channel of the node can use it again: a payer must not
        // find its side of a channel still reconnecting after the restart returned.
        self.wait(&format!("{name}'s channels to come back on both ends"), || {
            node.channels().iter().filter(|c| c.is_channel_ready).all(|c| {
                c.is_usable
                    && counterparts.iter().filter(|o| o.node_id() == c.counterparty.node_id).all(
                        |o| {
                            o.channels()
                                .iter()
                                .any(|oc| oc.channel_id == c.channel_id && oc.is_usable)
                        },
                    )
            })
        })
        .await?;
        Ok(node)
    }

    /// Mines `n` blocks and gives every node a moment to react to them.
    pub async fn mine(&self, n: u32) {
        let chain = self.chain.clone();
        // Connecting blocks runs LDK's chain logic synchronously: keep it off the async workers.
        let _ = tokio::task::spawn_blocking(move || chain.mine(n)).await;
        tokio::task::yield_now().await;
    }

    /// Opens an announced channel of `capacity_sat` from `from` to `to` (pushing `push_msat` to
    /// `to`), confirms it, and waits until it is usable and every node's graph knows it.
    pub async fn open_channel(
        &self,
        from: &SandboxNode,
        to: &SandboxNode,
        capacity_sat: u64,
        push_msat: u64,
    ) -> Result<ChannelId, BackendError> {
        from.connect(to.node_id(), to.listen_addr()).await?;
        let id = from
            .channel_manager
            .create_channel(to.node_id(), capacity_sat, push_msat, 0, None, None)
            .map_err(|e| BackendError::Node(format!("opening a channel failed: {e:?}")))?;
        // Wait for the funding transaction.
        self.wait("the funding transaction", || self.chain.mempool_len() > 0).await?;
        self.mine(6).await;
        self.wait("the channel to become usable", || {
            from.channels().iter().any(|c| c.is_usable && c.counterparty.node_id == to.node_id())
                && to
                    .channels()
                    .iter()
                    .any(|c| c.is_usable && c.counterparty.node_id == from.node_id())
        })
        .await?;
        Ok(id)
    }

    /// Waits until every node's graph knows every announced channel in both directions.
    pub async fn wait_for_gossip(&self) -> Result<(), BackendError> {
        let expected = self.public_channel_count();
        let nodes: Vec<_> = self.lock().values().map(|(_, n)| n.clone()).collect();
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        let mut announced = false;
        loop {
            if nodes.iter().all(|n| n.known_public_channels() >= expected) {
                if announced {
                    return Ok(());
                }
                for node in &nodes {
                    node.announce();
                }
                announced = true;
                continue;
            }
            if tokio::time::Instant::now() > deadline {
                return Err(BackendError::Unavailable("timed out waiting for gossip".into()));
            }
            // Announcement signatures are swapped as blocks arrive; keep the chain moving, as a
            // real one would.
            self.mine(1).await;
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Channels announced so far (counted once, from the opener's side).
    fn public_channel_count(&self) -> usize {
        self.lock()
            .values()
            .map(|(_, n)| n.channels().iter().filter(|c| c.is_announced && c.is_outbound).count())
            .sum()
    }

    /// Builds a line `a → b → c …`: one node per name, an announced channel of `capacity_sat`
    /// between neighbours with half the capacity pushed to the far side, and gossip settled.
    pub async fn line<const N: usize>(
        &self,
        names: [&str; N],
        capacity_sat: u64,
    ) -> Result<[Arc<SandboxNode>; N], BackendError> {
        let mut nodes = Vec::with_capacity(N);
        for name in names {
            nodes.push(self.add_node(name).await?);
        }
        for pair in nodes.windows(2) {
            self.open_channel(&pair[0], &pair[1], capacity_sat, capacity_sat * 1000 / 2).await?;
        }
        self.wait_for_gossip().await?;
        nodes.try_into().map_err(|_| BackendError::Node("node count mismatch".into()))
    }

    /// Polls `done` until it holds, or fails after [`SETTLE_TIMEOUT`].
    ///
    /// It does not tick LDK's timers to hurry things along: a channel manager tick also counts
    /// towards LDK's timeouts, and two of them while a peer is answering a commitment update
    /// disconnect that peer.
    pub(crate) async fn wait(
        &self,
        what: &str,
        done: impl Fn() -> bool,
    ) -> Result<(), BackendError> {
        let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
        while !done() {
            if tokio::time::Instant::now() > deadline {
                return Err(BackendError::Unavailable(format!("timed out waiting for {what}")));
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        Ok(())
    }

    /// Stops every node.
    pub async fn shutdown(&self) {
        let nodes: Vec<_> = self.lock().values().map(|(_, n)| n.clone()).collect();
        for node in nodes {
            node.stop().await;
        }
    }
}
