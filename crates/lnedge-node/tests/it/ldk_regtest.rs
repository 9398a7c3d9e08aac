//! The conformance suite on [`LdkBackend`] against a real `bitcoind -regtest`.
//!
//! Needs a bitcoind binary: `BITCOIND_EXE`, default `/opt/knots/bin/bitcoind` (installed by
//! `scripts/install-bitcoind.sh`). Set `LNEDGE_KEEP_TEST_DIRS=1` to keep the data directories
//! (ldk-node logs are in `<dir>/ldk/logs/`).

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context};
use async_trait::async_trait;
use base64::Engine as _;
use lnedge_node::bitcoin::Network;
use lnedge_node::ldk::{ChainSource, LdkBackend, LdkConfig};
use lnedge_node::LightningBackend;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::conformance::{self, Harness};

const RPC_USER: &str = "lnedge";
const RPC_PASSWORD: &str = "lnedge-regtest";
/// How long setup steps (sync, channel readiness) may take.
const SETUP_TIMEOUT: Duration = Duration::from_secs(90);

/// A free TCP port on 127.0.0.1 (free when asked; good enough for tests).
fn free_port() -> anyhow::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Keeps a temporary directory if `LNEDGE_KEEP_TEST_DIRS` is set.
fn temp_dir(tag: &str) -> anyhow::Result<TempDir> {
    let dir = tempfile::Builder::new().prefix(&format!("lnedge-{tag}-")).tempdir()?;
    Ok(dir)
}

/// A `bitcoind -regtest` child process, killed on drop (also when a test panics).
struct Bitcoind {
    child: Child,
    rpc_port: u16,
    auth: String,
    _dir: Option<TempDir>,
}

impl Bitcoind {
    fn spawn() -> anyhow::Result<Self> {
        let exe =
            std::env::var("BITCOIND_EXE").unwrap_or_else(|_| "/opt/knots/bin/bitcoind".into());
        if !Path::new(&exe).exists() {
            bail!("no bitcoind at {exe}: run scripts/install-bitcoind.sh or set BITCOIND_EXE");
        }
        let dir = temp_dir("bitcoind")?;
        let rpc_port = free_port()?;
        let child = Command::new(&exe)
            .arg("-regtest")
            .arg(format!("-datadir={}", dir.path().display()))
            .args(["-server=1", "-listen=0", "-dnsseed=0", "-fixedseeds=0", "-printtoconsole=0"])
            .args(["-rpcbind=127.0.0.1", "-rpcallowip=127.0.0.1"])
            .arg(format!("-rpcport={rpc_port}"))
            .arg(format!("-rpcuser={RPC_USER}"))
            .arg(format!("-rpcpassword={RPC_PASSWORD}"))
            .args(["-fallbackfee=0.0002", "-txindex=0", "-rpcworkqueue=64"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("spawning {exe}"))?;
        let keep = std::env::var_os("LNEDGE_KEEP_TEST_DIRS").is_some();
        let dir = if keep {
            eprintln!("bitcoind datadir kept at {}", dir.path().display());
            let _ = dir.keep();
            None
        } else {
            Some(dir)
        };
        let auth = base64::engine::general_purpose::STANDARD
            .encode(format!("{RPC_USER}:{RPC_PASSWORD}").as_bytes());
        let bitcoind = Bitcoind { child, rpc_port, auth, _dir: dir };
        let started = Instant::now();
        loop {
            match bitcoind.rpc("getblockchaininfo", json!([])) {
                Ok(_) => break,
                Err(e) if started.elapsed() > Duration::from_secs(30) => {
                    return Err(e.context("bitcoind RPC did not come up in 30 s"));
                }
                Err(_) => std::thread::sleep(Duration::from_millis(100)),
            }
        }
        Ok(bitcoind)
    }

    /// One JSON-RPC call over HTTP/1.0 (the connection closes after the response).
    fn rpc(&self, method: &str, params: Value) -> anyhow::Result<Value> {
        let body = json!({"jsonrpc": "1.0", "id": "lnedge", "method": method, "params": params})
            .to_string();
        let mut stream = TcpStream::connect(("127.0.0.1", self.rpc_port))?;
        stream.set_read_timeout(Some(Duration::from_secs(120)))?;
        write!(
            stream,
            "POST / HTTP/1.0\r\nHost: 127.0.0.1\r\nAuthorization: Basic {}\r\n\
             Content-Type: application/json\r\nContent-Length: {}\r\n\r\n{}",
            self.auth,
            body.len(),
            body
        )?;
        let mut response = String::new();
        stream.read_to_string(&mut response)?;
        let (head, body) = response
            .split_once("\r\n\r\n")
            .ok_or_else(|| anyhow!("malformed reply: {response}"))?;
        let reply: Value =
            serde_json::from_str(body).with_context(|| format!("{method}: not JSON ({head})"))?;
        if !reply["error"].is_null() {
            bail!("{method} failed: {}", reply["error"]);
        }
        Ok(reply["result"].clone())
    }

    fn height(&self) -> anyhow::Result<u32> {
        let count = self.rpc("getblockcount", json!([]))?;
        count.as_u64().and_then(|c| u32::try_from(c).ok()).ok_or_else(|| anyhow!("bad {count}"))
    }

    fn mine(&self, n: u32, address: &str) -> anyhow::Result<u32> {
        self.rpc("generatetoaddress", json!([n, address]))?;
        self.height()
    }
}

impl Drop for Bitcoind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until `cond` holds, checking every 100 ms.
async fn wait_until(
    what: &str,
    timeout: Duration,
    mut cond: impl FnMut() -> bool,
) -> anyhow::Result<()> {
    let started = Instant::now();
    while !cond() {
        if started.elapsed() > timeout {
            bail!("timed out after {timeout:?} waiting for {what}");
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Ok(())
}

fn node_config(dir: &Path, bitcoind: &Bitcoind, alias: &str) -> anyhow::Result<LdkConfig> {
    let mut config = LdkConfig::new(
        dir,
        Network::Regtest,
        ChainSource::BitcoindRpc {
            host: "127.0.0.1".into(),
            port: bitcoind.rpc_port,
            user: RPC_USER.into(),
            password: RPC_PASSWORD.into(),
        },
    );
    config.listen_addr = Some(SocketAddr::from(([127, 0, 0, 1], free_port()?)));
    config.alias = alias.into();
    config.log_level = lnedge_node::ldk::LogLevel::Debug;
    Ok(config)
}

fn usable_channel(backend: &LdkBackend, peer: &LdkBackend) -> bool {
    let peer_id = peer.node().node_id();
    backend.node().list_channels().iter().any(|c| c.counterparty_node_id == peer_id && c.is_usable)
}

/// One bitcoind, the backend under test and a payer with an announced channel between them.
struct LdkHarness {
    // Field order is drop order: the nodes stop before bitcoind is killed.
    backend: Arc<LdkBackend>,
    payer: Arc<LdkBackend>,
    backend_config: LdkConfig,
    miner_address: String,
    bitcoind: Bitcoind,
    _dirs: Vec<TempDir>,
}

impl LdkHarness {
    async fn new() -> anyhow::Result<Self> {
        let bitcoind = Bitcoind::spawn()?;
        bitcoind.rpc("createwallet", json!(["miner"]))?;
        let miner_address =
            bitcoind.rpc("getnewaddress", json!([]))?.as_str().context("address")?.to_owned();
        bitcoind.mine(101, &miner_address)?;

        let mut dirs = vec![temp_dir("backend")?, temp_dir("payer")?];
        let backend_config = node_config(dirs[0].path(), &bitcoind, "lnedge-backend")?;
        let payer_config = node_config(dirs[1].path(), &bitcoind, "lnedge-payer")?;
        if std::env::var_os("LNEDGE_KEEP_TEST_DIRS").is_some() {
            for dir in dirs.drain(..) {
                eprintln!("node data dir kept at {}", dir.path().display());
                let _ = dir.keep();
            }
        }
        let backend = Arc::new(LdkBackend::start(backend_config.clone()).await?);
        let payer = Arc::new(LdkBackend::start(payer_config).await?);

        // Both need on-chain funds: the payer to open the channel, both for the anchor reserve.
        for (node, btc) in [(&payer, 0.05), (&backend, 0.01)] {
            let address = node.node().onchain_payment().new_address()?;
            bitcoind.rpc("sendtoaddress", json!([address.to_string(), btc]))?;
        }
        let tip = bitcoind.mine(1, &miner_address)?;
        for node in [&backend, &payer] {
            wait_until("the on-chain deposit", SETUP_TIMEOUT, || {
                node.node().status().current_best_block.height >= tip
                    && node.node().list_balances().spendable_onchain_balance_sats > 0
            })
            .await?;
        }

        let backend_addr = backend_config.listen_addr.context("the backend listens")?.into();
        payer.node().open_announced_channel(
            backend.node().node_id(),
            backend_addr,
            1_000_000,
            Some(500_000_000),
            None,
        )?;
        wait_until("the funding transaction in the mempool", SETUP_TIMEOUT, || {
            bitcoind
                .rpc("getrawmempool", json!([]))
                .ok()
                .and_then(|m| m.as_array().map(|a| !a.is_empty()))
                .unwrap_or(false)
        })
        .await?;
        let harness =
            LdkHarness { backend, payer, backend_config, miner_address, bitcoind, _dirs: dirs };
        harness.mine_blocks_checked(6).await?;
        harness.wait_channel_usable().await?;
        Ok(harness)
    }

    async fn mine_blocks_checked(&self, n: u32) -> anyhow::Result<()> {
        let tip = self.bitcoind.mine(n, &self.miner_address)?;
        for node in [&self.backend, &self.payer] {
            wait_until(&format!("sync to height {tip}"), SETUP_TIMEOUT, || {
                node.node().status().current_best_block.height >= tip
            })
            .await?;
        }
        Ok(())
    }

    async fn wait_channel_usable(&self) -> anyhow::Result<()> {
        let (backend, payer) = (&self.backend, &self.payer);
        wait_until("a usable channel on both sides", SETUP_TIMEOUT, || {
            usable_channel(backend, payer) && usable_channel(payer, backend)
        })
        .await
    }
}

#[async_trait]
impl Harness for LdkHarness {
    fn backend(&self) -> Arc<dyn LightningBackend> {
        self.backend.clone()
    }

    fn payer(&self) -> Arc<dyn LightningBackend> {
        self.payer.clone()
    }

    async fn mine_blocks(&self, n: u32) {
        self.mine_blocks_checked(n).await.expect("mining and syncing");
    }

    async fn restart_backend(&mut self) {
        self.backend.stop().await.expect("stopping the backend");
        let backend = LdkBackend::start(self.backend_config.clone()).await.expect("restarting");
        self.backend = Arc::new(backend);
        // Reconnect right away instead of waiting for ldk-node's reconnection timer.
        let payer_addr = self.payer.node().listening_addresses().and_then(|a| a.first().cloned());
        if let Some(addr) = payer_addr {
            if let Err(e) = self.backend.node().connect(self.payer.node().node_id(), addr, true) {
                eprintln!("reconnecting to the payer failed (will wait for the timer): {e}");
            }
        }
        self.wait_channel_usable().await.expect("the channel is usable again after restart");
    }
}

/// What the shared scenarios do not cover: description-hash and variable-amount invoices.
async fn ldk_specific_checks(h: &LdkHarness) {
    use lnedge_node::bitcoin::hashes::Hash;
    use lnedge_node::lightning_invoice::Bolt11InvoiceDescriptionRef;
    use lnedge_node::{BackendEvent, InvoiceDescription, InvoiceParams, InvoiceState};

    let (backend, payer) = (h.backend(), h.payer());
    assert_eq!(backend.backend_name(), "ldk-node");
    assert_eq!(backend.info().await.expect("info").alias, "lnedge-backend");

    let metadata_hash = [0x42; 32];
    let preimage = conformance::fresh_preimage("description-hash");
    let params = InvoiceParams {
        amount_msat: None,
        description: InvoiceDescription::Hash(metadata_hash),
        expiry_secs: 600,
        min_final_cltv_expiry_delta: None,
    };
    let invoice = backend.create_invoice(preimage, params).await.expect("invoice");
    match invoice.description() {
        Bolt11InvoiceDescriptionRef::Hash(h) => assert_eq!(h.0.to_byte_array(), metadata_hash),
        other => panic!("expected a description hash, got {other:?}"),
    }
    assert_eq!(invoice.amount_milli_satoshis(), None);
    let mut request = conformance::pay_request(&invoice);
    request.amount_msat = Some(12_345);
    let outcome = payer.pay(request).await.expect("variable amount paid");
    assert_eq!(outcome.preimage, preimage);
    let hash = conformance::hash_of(&preimage);
    conformance::expect_event(&*backend, "InvoiceSettled", |e| {
        matches!(e, BackendEvent::InvoiceSettled { payment_hash, amount_msat: 12_345 } if *payment_hash == hash)
    })
    .await;
    assert_eq!(
        backend.invoice_state(hash).await.expect("state"),
        InvoiceState::Settled { amount_msat: 12_345 }
    );
    // The dashboard's view of the node: its channel to the payer, inbound liquidity, and an
    // on-chain balance (ldk-node reports one).
    let liquidity = backend.liquidity().await.expect("liquidity");
    assert!(liquidity.channels >= 1 && liquidity.usable_channels >= 1, "{liquidity:?}");
    assert!(liquidity.inbound_msat > 0, "{liquidity:?}");
    assert!(liquidity.onchain_sat.is_some(), "{liquidity:?}");
}

macro_rules! run_scenarios {
    ($harness:expr, $($scenario:ident),+ $(,)?) => {{
        $(
            let started = Instant::now();
            eprintln!("=== scenario {}", stringify!($scenario));
            conformance::$scenario($harness).await;
            eprintln!("=== scenario {} passed in {:.1?}", stringify!($scenario), started.elapsed());
        )+
    }};
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
#[ignore = "needs a regtest bitcoind (scripts/install-bitcoind.sh); run by .ci/run"]
async fn ldk_node_conformance_on_regtest() {
    let _ = tracing_subscriber::fmt()
        .with_env_filter(tracing_subscriber::EnvFilter::from_default_env())
        .with_test_writer()
        .try_init();
    let started = Instant::now();
    let mut harness = LdkHarness::new().await.expect("regtest harness");
    eprintln!("=== harness ready in {:.1?}", started.elapsed());
    let h: &mut dyn Harness = &mut harness;
    conformance::with_scenarios!(run_scenarios!(h,));
    eprintln!("=== ldk-specific: description hash, variable amount, info");
    ldk_specific_checks(&harness).await;
    harness.payer.stop().await.expect("stopping the payer");
    harness.backend.stop().await.expect("stopping the backend");
    eprintln!("=== all scenarios passed in {:.1?}", started.elapsed());
}
