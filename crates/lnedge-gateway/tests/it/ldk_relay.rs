//! The async relay on ldk-node over a real `bitcoind -regtest` (ignored unless a bitcoind is
//! available: `BITCOIND_EXE=$(scripts/install-bitcoind.sh | tail -n1)`).
//!
//! Three ldk-node nodes: payer → gateway → sensor, announced channels. (The harness is a trimmed
//! copy of `lnedge-node/tests/it/ldk_regtest.rs`; its RPC goes through reqwest.)
//!
//! ldk-node 0.7.1 cannot set a hold invoice's final CLTV delta (ADR 0011), so its claim deadline
//! is a few blocks after the HTLC arrives: the relay must refuse to forward (the budget is too
//! small) and fail the payer back before the deadline, also across a node restart.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lnedge_gateway::relay::{Relay, RelayError, RelaySettings};
use lnedge_gateway::store::relay::RelayState;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_node::bitcoin::Network;
use lnedge_node::ldk::{ChainSource, LdkBackend, LdkConfig};
use lnedge_node::{
    parse_invoice, InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend, PayRequest,
    PaymentHash, PaymentPreimage,
};
use serde_json::{json, Value};

const RPC_USER: &str = "lnedge";
const RPC_PASSWORD: &str = "lnedge-regtest";
const SETUP: Duration = Duration::from_secs(90);

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").expect("bind").local_addr().expect("addr").port()
}

struct Bitcoind {
    child: Child,
    rpc_port: u16,
    http: reqwest::Client,
    _dir: tempfile::TempDir,
}

impl Drop for Bitcoind {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl Bitcoind {
    async fn spawn() -> Bitcoind {
        let exe =
            std::env::var("BITCOIND_EXE").unwrap_or_else(|_| "/opt/knots/bin/bitcoind".into());
        assert!(Path::new(&exe).exists(), "no bitcoind at {exe}: set BITCOIND_EXE");
        let dir = tempfile::tempdir().expect("dir");
        let rpc_port = free_port();
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
            .spawn()
            .expect("spawn bitcoind");
        let b = Bitcoind { child, rpc_port, http: reqwest::Client::new(), _dir: dir };
        let started = Instant::now();
        while b.rpc("getblockchaininfo", json!([])).await.is_err() {
            assert!(started.elapsed() < Duration::from_secs(30), "bitcoind RPC did not come up");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        b
    }

    async fn rpc(&self, method: &str, params: Value) -> Result<Value, String> {
        let reply: Value = self
            .http
            .post(format!("http://127.0.0.1:{}/", self.rpc_port))
            .basic_auth(RPC_USER, Some(RPC_PASSWORD))
            .json(&json!({"jsonrpc": "1.0", "id": "lnedge", "method": method, "params": params}))
            .send()
            .await
            .map_err(|e| e.to_string())?
            .json()
            .await
            .map_err(|e| e.to_string())?;
        if !reply["error"].is_null() {
            return Err(format!("{method}: {}", reply["error"]));
        }
        Ok(reply["result"].clone())
    }

    async fn mine(&self, n: u32, address: &str) -> u32 {
        self.rpc("generatetoaddress", json!([n, address])).await.expect("mine");
        let count = self.rpc("getblockcount", json!([])).await.expect("count");
        u32::try_from(count.as_u64().expect("number")).expect("height")
    }
}

async fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let started = Instant::now();
    while !cond() {
        assert!(started.elapsed() < SETUP, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

fn node_config(dir: &Path, b: &Bitcoind, alias: &str) -> LdkConfig {
    let mut config = LdkConfig::new(
        dir,
        Network::Regtest,
        ChainSource::BitcoindRpc {
            host: "127.0.0.1".into(),
            port: b.rpc_port,
            user: RPC_USER.into(),
            password: RPC_PASSWORD.into(),
        },
    );
    config.listen_addr = Some(SocketAddr::from(([127, 0, 0, 1], free_port())));
    config.alias = alias.into();
    config
}

fn usable(a: &LdkBackend, b: &LdkBackend) -> bool {
    let id = b.node().node_id();
    a.node().list_channels().iter().any(|c| c.counterparty_node_id == id && c.is_usable)
}

struct Regtest {
    gateway: Arc<LdkBackend>,
    payer: Arc<LdkBackend>,
    sensor: Arc<LdkBackend>,
    gateway_config: LdkConfig,
    miner: String,
    bitcoind: Bitcoind,
    _dirs: Vec<tempfile::TempDir>,
}

impl Regtest {
    async fn new() -> Regtest {
        let bitcoind = Bitcoind::spawn().await;
        bitcoind.rpc("createwallet", json!(["miner"])).await.expect("wallet");
        let miner = bitcoind.rpc("getnewaddress", json!([])).await.expect("address");
        let miner = miner.as_str().expect("address").to_owned();
        bitcoind.mine(101, &miner).await;
        let dirs: Vec<tempfile::TempDir> =
            (0..3).map(|_| tempfile::tempdir().expect("dir")).collect();
        let gateway_config = node_config(dirs[0].path(), &bitcoind, "relay-gateway");
        let gateway = Arc::new(LdkBackend::start(gateway_config.clone()).await.expect("gateway"));
        let payer = Arc::new(
            LdkBackend::start(node_config(dirs[1].path(), &bitcoind, "relay-payer"))
                .await
                .expect("payer"),
        );
        let sensor_config = node_config(dirs[2].path(), &bitcoind, "relay-sensor");
        let sensor_addr = sensor_config.listen_addr.expect("listens").into();
        let sensor = Arc::new(LdkBackend::start(sensor_config).await.expect("sensor"));
        for (node, btc) in [(&payer, 0.05), (&gateway, 0.05), (&sensor, 0.01)] {
            let address = node.node().onchain_payment().new_address().expect("address");
            bitcoind.rpc("sendtoaddress", json!([address.to_string(), btc])).await.expect("fund");
        }
        let tip = bitcoind.mine(1, &miner).await;
        for node in [&gateway, &payer, &sensor] {
            wait_until("the deposit", || {
                node.node().status().current_best_block.height >= tip
                    && node.node().list_balances().spendable_onchain_balance_sats > 0
            })
            .await;
        }
        let addr = gateway_config.listen_addr.expect("listens").into();
        payer
            .node()
            .open_announced_channel(
                gateway.node().node_id(),
                addr,
                1_000_000,
                Some(500_000_000),
                None,
            )
            .expect("open");
        gateway
            .node()
            .open_announced_channel(sensor.node().node_id(), sensor_addr, 1_000_000, None, None)
            .expect("open to the sensor");
        let started = Instant::now();
        loop {
            let pool = bitcoind.rpc("getrawmempool", json!([])).await.expect("mempool");
            if pool.as_array().is_some_and(|a| a.len() >= 2) {
                break;
            }
            assert!(started.elapsed() < SETUP, "no funding transaction");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = Regtest { gateway, payer, sensor, gateway_config, miner, bitcoind, _dirs: dirs };
        r.mine(6).await;
        let (g, p, s) = (r.gateway.clone(), r.payer.clone(), r.sensor.clone());
        wait_until("usable channels", || {
            usable(&g, &p) && usable(&p, &g) && usable(&g, &s) && usable(&s, &g)
        })
        .await;
        r
    }

    async fn mine(&self, n: u32) -> u32 {
        let tip = self.bitcoind.mine(n, &self.miner).await;
        for node in [&self.gateway, &self.payer, &self.sensor] {
            wait_until("sync", || node.node().status().current_best_block.height >= tip).await;
        }
        tip
    }

    async fn restart_gateway(&mut self) {
        self.gateway.stop().await.expect("stop");
        self.gateway =
            Arc::new(LdkBackend::start(self.gateway_config.clone()).await.expect("restart"));
        if let Some(addr) = self.payer.node().listening_addresses().and_then(|a| a.first().cloned())
        {
            let _ = self.gateway.node().connect(self.payer.node().node_id(), addr, true);
        }
        let (g, p) = (self.gateway.clone(), self.payer.clone());
        wait_until("the channel after restart", || usable(&g, &p) && usable(&p, &g)).await;
    }
}

fn settings() -> RelaySettings {
    // ldk-node's hold invoices leave a few blocks: a small cancel margin so the payment is held
    // for a while before the relay fails it back.
    let mut s = RelaySettings::default();
    s.cancel_margin_blocks = 2;
    s
}

fn lenient() -> RelaySettings {
    let mut s = settings();
    s.route_budget_blocks = 0;
    s.safety_margin_blocks = 0;
    s
}

async fn until(
    relay: &Relay,
    hash: &[u8; 32],
    state: RelayState,
) -> lnedge_gateway::store::relay::RelayPayment {
    let started = Instant::now();
    loop {
        let _ = relay.tick().await;
        let p = relay.store().relay_payment(hash).await.expect("read").expect("exists");
        if p.state == state {
            return p;
        }
        assert!(started.elapsed() < SETUP, "not {state}: {p:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

async fn until_not(
    relay: &Relay,
    hash: &[u8; 32],
    state: RelayState,
) -> lnedge_gateway::store::relay::RelayPayment {
    let started = Instant::now();
    loop {
        let _ = relay.tick().await;
        let p = relay.store().relay_payment(hash).await.expect("read").expect("exists");
        if p.state != state {
            return p;
        }
        assert!(started.elapsed() < SETUP, "still {state}: {p:?}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a regtest bitcoind (BITCOIND_EXE)"]
async fn ldk_node_relay_refunds_before_the_deadline_across_a_restart() {
    let mut r = Regtest::new().await;
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn GatewayStore> =
        Arc::new(SqliteStore::open(&dir.path().join("gw.sqlite3")).expect("store"));
    let master: [u8; 32] = rand::random();
    let relay = Relay::new(store.clone(), r.gateway.clone(), master, settings());
    let (payee, _) = relay.register("regtest sensor").await.expect("register");
    let preimages: Vec<[u8; 32]> = (0..3).map(|_| rand::random()).collect();
    let hashes: Vec<[u8; 32]> = preimages.iter().map(crate::relay::hash).collect();
    relay.commit(&payee.id, &hashes).await.expect("commit");

    // 1. The payee wakes. ldk-node's hold invoice carries the default final CLTV delta (42), so
    //    the claim deadline is a few blocks away plus the payer's random shadow offset: the relay
    //    forwards only if that leaves the CLTV budget (then the payment settles), else it refuses
    //    the claim and fails the payer back at its cancel point. Either way nothing is lost.
    //    Run twice: with the default budget (usually refused) and with no route reserve nor
    //    safety margin (usually forwarded), so both paths run.
    for relay in [relay.clone(), Relay::new(store.clone(), r.gateway.clone(), master, lenient())] {
        let offer = relay.offer(&payee.id, 20_000_000, "regtest reading").await.expect("offer");
        let paying = pay(&r.payer, &offer.bolt11);
        let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
        let deadline = held.claim_deadline_height.expect("deadline");
        let preimage =
            preimages[hashes.iter().position(|h| *h == offer.payment_hash).expect("ours")];
        let claim_amount = held.held_amount_msat.expect("held") - held.fee_msat.expect("fee");
        let params = InvoiceParams {
            amount_msat: Some(claim_amount),
            description: InvoiceDescription::Direct("reading".into()),
            expiry_secs: 3600,
        };
        let invoice =
            r.sensor.create_invoice(PaymentPreimage(preimage), params).await.expect("invoice");
        let height = r.gateway.info().await.expect("info").block_height;
        match relay.claim(&payee.id, &invoice.to_string()).await {
            Ok(_) => {
                // The budget allowed forwarding. ldk-node 0.7.1 keys payments by hash in both
                // directions and refuses to send a payment whose hash it is receiving: the attempt
                // fails without sending anything, the relay returns the payment to held, and (the
                // payee not claiming again) fails the payer back at its cancel point.
                let p = until_not(&relay, &offer.payment_hash, RelayState::Forwarding).await;
                eprintln!(
                    "claim deadline {deadline} at height {height}: forwarded → {} ({:?})",
                    p.state, p.reason
                );
                if p.state == RelayState::Settled {
                    let outcome =
                        paying.await.expect("join").expect("the payer's payment completes");
                    assert_eq!(crate::relay::hash(&outcome.preimage.0), offer.payment_hash);
                    assert_eq!(
                        r.sensor
                            .invoice_state(PaymentHash(offer.payment_hash))
                            .await
                            .expect("state"),
                        InvoiceState::Settled { amount_msat: claim_amount },
                    );
                } else {
                    assert_eq!(p.state, RelayState::Held, "{p:?}");
                    assert!(p.reason.as_deref().unwrap_or("").contains("cannot send"), "{p:?}");
                    let sensor = r
                        .sensor
                        .invoice_state(PaymentHash(offer.payment_hash))
                        .await
                        .expect("state");
                    assert_eq!(sensor, InvoiceState::Open, "the sensor was not paid");
                    let height = r.gateway.info().await.expect("info").block_height;
                    r.mine(deadline.saturating_sub(2).saturating_sub(height)).await;
                    until(&relay, &offer.payment_hash, RelayState::Expired).await;
                    assert!(paying.await.expect("join").is_err(), "the payer was failed back");
                    assert!(r.gateway.info().await.expect("info").block_height < deadline);
                }
            }
            Err(RelayError::CltvBudget { budget_blocks, needed_blocks, .. }) => {
                eprintln!("claim deadline {deadline} at height {height}: {budget_blocks} < {needed_blocks} blocks, refused");
                r.mine(deadline.saturating_sub(2).saturating_sub(height)).await;
                let expired = until(&relay, &offer.payment_hash, RelayState::Expired).await;
                assert!(paying.await.expect("join").is_err(), "the payer was failed back");
                assert!(r.gateway.info().await.expect("info").block_height < deadline);
                assert_eq!(
                    r.gateway.invoice_state(PaymentHash(offer.payment_hash)).await.expect("state"),
                    InvoiceState::Cancelled
                );
                assert!(expired.reason.is_some());
            }
            Err(e) => panic!("unexpected claim outcome: {e}"),
        }
    }

    // 2. The gateway's node restarts while holding; the relay (re-created on the same store)
    //    still refunds the payer before the deadline.
    let offer = relay.offer(&payee.id, 20_000_000, "regtest reading 2").await.expect("offer");
    let paying = pay(&r.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    let deadline = held.claim_deadline_height.expect("deadline");
    drop(relay);
    r.restart_gateway().await;
    assert!(matches!(
        r.gateway.invoice_state(PaymentHash(offer.payment_hash)).await.expect("state"),
        InvoiceState::Held { .. }
    ));
    let store: Arc<dyn GatewayStore> =
        Arc::new(SqliteStore::open(&dir.path().join("gw.sqlite3")).expect("store"));
    let relay = Relay::new(store, r.gateway.clone(), master, settings());
    until(&relay, &offer.payment_hash, RelayState::Held).await;
    let height = r.gateway.info().await.expect("info").block_height;
    r.mine(deadline.saturating_sub(2).saturating_sub(height)).await;
    until(&relay, &offer.payment_hash, RelayState::Expired).await;
    assert!(paying.await.expect("join").is_err(), "the payer was failed back");
    assert!(r.gateway.info().await.expect("info").block_height < deadline);
    r.gateway.stop().await.expect("stop");
    r.payer.stop().await.expect("stop");
    r.sensor.stop().await.expect("stop");
}

fn pay(
    payer: &Arc<LdkBackend>,
    bolt11: &str,
) -> tokio::task::JoinHandle<Result<lnedge_node::PaymentOutcome, lnedge_node::BackendError>> {
    let payer = payer.clone();
    let invoice = parse_invoice(bolt11).expect("invoice");
    tokio::spawn(async move {
        payer
            .pay(PayRequest {
                invoice,
                amount_msat: None,
                max_fee_msat: 10_000,
                timeout: Duration::from_secs(120),
            })
            .await
    })
}
