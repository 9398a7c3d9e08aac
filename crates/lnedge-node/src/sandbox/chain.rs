//! The simulated chain: a miner that turns broadcast transactions into blocks and connects them
//! to every node, plus the small LDK plumbing every node shares (fee estimator, logger, an
//! in-memory key-value store that outlives node restarts).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};

use bitcoin::block::{Header, Version};
use bitcoin::blockdata::constants::genesis_block;
use bitcoin::hash_types::TxMerkleNode;
use bitcoin::hashes::Hash;
use bitcoin::{Block, BlockHash, CompactTarget, Network, Transaction};
use lightning::chain::chaininterface::{BroadcasterInterface, ConfirmationTarget, FeeEstimator};
use lightning::util::logger::{Level, Logger, Record};
use lightning::util::persist::KVStoreSync;

/// Something that wants every new block (one per sandbox node).
pub(crate) trait BlockSink: Send + Sync {
    /// Connects `block` at `height`.
    fn connect(&self, block: &Block, height: u32);
}

fn unix_now_secs() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs() as u32)
        .unwrap_or(0)
}

/// The sandbox's chain: blocks in memory, a mempool, and the nodes listening to it.
pub struct SimChain {
    blocks: RwLock<Vec<Block>>,
    mempool: Mutex<Vec<Transaction>>,
    sinks: Mutex<Vec<std::sync::Weak<dyn BlockSink>>>,
    /// Serialises mining so blocks are connected in order.
    mining: Mutex<()>,
}

impl std::fmt::Debug for SimChain {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimChain").field("height", &self.height()).finish()
    }
}

impl SimChain {
    /// A chain holding only the regtest genesis block.
    pub fn new() -> Arc<Self> {
        Arc::new(SimChain {
            blocks: RwLock::new(vec![genesis_block(Network::Regtest)]),
            mempool: Mutex::new(Vec::new()),
            sinks: Mutex::new(Vec::new()),
            mining: Mutex::new(()),
        })
    }

    /// Height of the tip.
    pub fn height(&self) -> u32 {
        (self.blocks.read().unwrap_or_else(|p| p.into_inner()).len() - 1) as u32
    }

    /// Hash of the tip.
    pub fn tip_hash(&self) -> BlockHash {
        let blocks = self.blocks.read().unwrap_or_else(|p| p.into_inner());
        blocks[blocks.len() - 1].block_hash()
    }

    /// The block at `height`, if mined.
    pub fn block(&self, height: u32) -> Option<Block> {
        self.blocks.read().unwrap_or_else(|p| p.into_inner()).get(height as usize).cloned()
    }

    /// Number of transactions waiting to be mined.
    pub fn mempool_len(&self) -> usize {
        self.mempool.lock().unwrap_or_else(|p| p.into_inner()).len()
    }

    /// Runs `f` with the blocks mined so far while no block can be mined.
    pub(crate) fn paused<R>(&self, f: impl FnOnce(&[Block]) -> R) -> R {
        let _guard = self.mining.lock().unwrap_or_else(|p| p.into_inner());
        let blocks = self.blocks.read().unwrap_or_else(|p| p.into_inner());
        f(&blocks)
    }

    pub(crate) fn register(&self, sink: std::sync::Weak<dyn BlockSink>) {
        self.sinks.lock().unwrap_or_else(|p| p.into_inner()).push(sink);
    }

    /// Mines `n` blocks (the first one takes the whole mempool) and connects each to every live
    /// node before mining the next.
    pub fn mine(&self, n: u32) {
        let _guard = self.mining.lock().unwrap_or_else(|p| p.into_inner());
        for _ in 0..n {
            let txdata =
                std::mem::take(&mut *self.mempool.lock().unwrap_or_else(|p| p.into_inner()));
            let (block, height) = {
                let mut blocks = self.blocks.write().unwrap_or_else(|p| p.into_inner());
                let prev = &blocks[blocks.len() - 1];
                let height = blocks.len() as u32;
                let mut block = Block {
                    header: Header {
                        version: Version::TWO,
                        prev_blockhash: prev.block_hash(),
                        merkle_root: TxMerkleNode::all_zeros(),
                        // Real time, so LDK's gossip and invoice clocks stay sensible.
                        time: (prev.header.time + 1).max(unix_now_secs()),
                        bits: CompactTarget::from_consensus(0x207f_ffff),
                        nonce: height,
                    },
                    txdata,
                };
                if let Some(root) = block.compute_merkle_root() {
                    block.header.merkle_root = root;
                }
                blocks.push(block.clone());
                (block, height)
            };
            let sinks: Vec<_> = {
                let mut sinks = self.sinks.lock().unwrap_or_else(|p| p.into_inner());
                sinks.retain(|s| s.strong_count() > 0);
                sinks.iter().filter_map(|s| s.upgrade()).collect()
            };
            for sink in sinks {
                sink.connect(&block, height);
            }
        }
    }
}

impl BroadcasterInterface for SimChain {
    fn broadcast_transactions(&self, txs: &[&Transaction]) {
        let mut mempool = self.mempool.lock().unwrap_or_else(|p| p.into_inner());
        let blocks = self.blocks.read().unwrap_or_else(|p| p.into_inner());
        for tx in txs {
            let txid = tx.compute_txid();
            let known = mempool.iter().any(|t| t.compute_txid() == txid)
                || blocks
                    .iter()
                    .rev()
                    .take(500)
                    .any(|b| b.txdata.iter().any(|t| t.compute_txid() == txid));
            if !known {
                mempool.push((*tx).clone());
            }
        }
    }
}

/// A fee estimator that answers the regtest floor for every target.
#[derive(Debug, Default)]
pub struct FixedFees;

impl FeeEstimator for FixedFees {
    fn get_est_sat_per_1000_weight(&self, _target: ConfirmationTarget) -> u32 {
        253
    }
}

/// Routes LDK's log lines into `tracing` (target `ldk`), tagged with the node's name.
#[derive(Debug)]
pub struct TracingLogger {
    /// The node's name.
    pub node: String,
}

impl Logger for TracingLogger {
    fn log(&self, record: Record) {
        let node = &self.node;
        match record.level {
            Level::Gossip | Level::Trace => {
                tracing::trace!(target: "ldk", node = %node, module = record.module_path, "{}", record.args)
            }
            Level::Debug => {
                tracing::debug!(target: "ldk", node = %node, module = record.module_path, "{}", record.args)
            }
            Level::Info => {
                tracing::info!(target: "ldk", node = %node, module = record.module_path, "{}", record.args)
            }
            Level::Warn => {
                tracing::warn!(target: "ldk", node = %node, module = record.module_path, "{}", record.args)
            }
            Level::Error if is_block_race(&record) => {
                tracing::debug!(target: "ldk", node = %node, module = record.module_path, "{}", record.args)
            }
            Level::Error => {
                tracing::error!(target: "ldk", node = %node, module = record.module_path, "{}", record.args)
            }
        }
    }
}

/// Whether `record` is LDK's complaint that a peer's `announcement_signatures` came before this
/// node saw the sixth confirmation: on the simulated chain blocks reach the nodes one after the
/// other, so the peer that got block 6 first always races ahead; LDK sends its own
/// announcement later and the channel is announced anyway. Logged at debug, not as an error a
/// user would chase.
fn is_block_race(record: &Record) -> bool {
    let text = record.args.to_string();
    text.contains("announcement_signatures prior to the required six confirmations")
}

/// A key-value store in memory. The sandbox keeps one per node across restarts, the way a disk
/// outlives a process, so a restarted node finds its channel manager and monitors.
#[derive(Debug, Default)]
pub struct MemoryStore {
    entries: Mutex<HashMap<(String, String, String), Vec<u8>>>,
}

impl KVStoreSync for MemoryStore {
    fn read(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
    ) -> Result<Vec<u8>, lightning::io::Error> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.get(&(primary.into(), secondary.into(), key.into())).cloned().ok_or_else(|| {
            lightning::io::Error::new(lightning::io::ErrorKind::NotFound, "key not found")
        })
    }

    fn write(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        buf: Vec<u8>,
    ) -> Result<(), lightning::io::Error> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.insert((primary.into(), secondary.into(), key.into()), buf);
        Ok(())
    }

    fn remove(
        &self,
        primary: &str,
        secondary: &str,
        key: &str,
        _lazy: bool,
    ) -> Result<(), lightning::io::Error> {
        let mut entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        entries.remove(&(primary.into(), secondary.into(), key.into()));
        Ok(())
    }

    fn list(&self, primary: &str, secondary: &str) -> Result<Vec<String>, lightning::io::Error> {
        let entries = self.entries.lock().unwrap_or_else(|p| p.into_inner());
        Ok(entries
            .keys()
            .filter(|(p, s, _)| p == primary && s == secondary)
            .map(|(_, _, k)| k.clone())
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Count(Mutex<Vec<u32>>);
    impl BlockSink for Count {
        fn connect(&self, _block: &Block, height: u32) {
            self.0.lock().expect("lock").push(height);
        }
    }

    #[test]
    fn mining_links_blocks_and_confirms_the_mempool() {
        let chain = SimChain::new();
        let sink: Arc<dyn BlockSink> = Arc::new(Count(Mutex::new(Vec::new())));
        chain.register(Arc::downgrade(&sink));
        let tx = Transaction {
            version: bitcoin::transaction::Version::TWO,
            lock_time: bitcoin::absolute::LockTime::ZERO,
            input: vec![],
            output: vec![],
        };
        chain.broadcast_transactions(&[&tx, &tx]);
        assert_eq!(chain.mempool_len(), 1, "a transaction is accepted once");
        chain.mine(3);
        assert_eq!(chain.height(), 3);
        assert_eq!(chain.mempool_len(), 0);
        let b1 = chain.block(1).expect("block 1");
        let b2 = chain.block(2).expect("block 2");
        assert_eq!(b1.txdata.len(), 1);
        assert_eq!(b2.header.prev_blockhash, b1.block_hash());
        assert_eq!(chain.tip_hash(), chain.block(3).expect("tip").block_hash());
        chain.broadcast_transactions(&[&tx]);
        assert_eq!(chain.mempool_len(), 0, "an already mined transaction is not re-added");
    }

    #[test]
    fn memory_store_lists_by_namespace() {
        let store = MemoryStore::default();
        store.write("a", "", "k1", vec![1]).expect("write");
        store.write("a", "", "k2", vec![2]).expect("write");
        store.write("b", "", "k3", vec![3]).expect("write");
        let mut keys = store.list("a", "").expect("list");
        keys.sort();
        assert_eq!(keys, vec!["k1", "k2"]);
        store.remove("a", "", "k1", false).expect("remove");
        assert!(store.read("a", "", "k1").is_err());
        assert_eq!(store.read("b", "", "k3").expect("read"), vec![3]);
    }
}
