//! The sandbox: an in-process network of real LDK nodes.
//!
//! Every node is a full LDK stack — `KeysManager`, `ChainMonitor`, `ChannelManager`,
//! `P2PGossipSync` and a `PeerManager` speaking the Lightning wire protocol (BOLT 8 encrypted)
//! over loopback TCP through `lightning-net-tokio`. Only the chain is simulated: a miner
//! ([`SimChain`]) turns broadcast transactions into blocks and connects them to every node.
//! Channels are real channels with real commitment transactions; payments are real HTLCs; invoices
//! are real BOLT 11 (`lnbcrt…`) invoices signed by the node's key. Connected nodes can also
//! exchange custom peer messages (BOLT 1 odd custom types, [`PeerMessage`]).
//!
//! It is the embedded default for `lnedge demo`, the tests and the benchmarks: no bitcoind, no
//! disk setup, a network in about a second. See `docs/adr/0002-sandbox-network.md`.

mod backend;
mod chain;
pub mod cosigned;
mod driver;
mod network;
mod node;
mod peer_message;

pub use chain::{FixedFees, MemoryStore, SimChain, TracingLogger};
pub use network::SandboxNetwork;
pub use node::SandboxNode;
pub use peer_message::{PeerMessage, CUSTOM_TYPE_MIN, MAX_PAYLOAD_LEN, SUBSCRIPTION_CAPACITY};
