//! The async relay on ldk-node over a real `bitcoind -regtest` (ignored unless a bitcoind is
//! available: `BITCOIND_EXE=$(scripts/install-bitcoind.sh | tail -n1)`).
//!
//! Five ldk-node nodes, announced channels: payer → gateway and payer2 → gateway (the gateway
//! holds), forward → sensor (pays the payee): the gateway's two nodes of ADR 0012. (The harness is a trimmed copy of
//! `lnedge-node/tests/it/ldk_regtest.rs`; its RPC goes through reqwest.)
//!
//! One test, one chain (setting up four nodes costs most of the time), in steps:
//! 1. one node for both roles: ldk-node cannot pay the hash it holds; the relay fails the payer
//!    back at once (nothing lost, nothing stuck);
//! 2. the payee wakes in time: held with the long final CLTV (ADR 0012), claimed, forwarded by
//!    the second node, settled; balances and states checked on every node;
//! 3. the gateway process killed right after accepting a claim: a new relay on the same store
//!    finishes the payment;
//! 4. the gateway's node restarted while holding: the payee claims afterwards, settled;
//! 5. the payee never wakes: blocks mined to the cancel point, the payer is failed back before
//!    the claim deadline, a late claim is refused;
//! 6. two payments to one hash: a second payer's HTLCs for a held invoice are failed back, the
//!    first stays held and settles, the payee is paid once.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use lnedge_gateway::relay::{Relay, RelayError, RelaySettings};
use lnedge_gateway::store::relay::{RelayPayment, RelayState};

use crate::relay::Payee;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_node::bitcoin::Network;
use lnedge_node::ldk::{ChainSource, LdkBackend, LdkConfig};
use lnedge_node::{
    parse_invoice, InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend, PayRequest,
    PaymentHash, PaymentPreimage, PaymentStatus,
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
    forward: Arc<LdkBackend>,
    payer: Arc<LdkBackend>,
    payer2: Arc<LdkBackend>,
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
            (0..5).map(|_| tempfile::tempdir().expect("dir")).collect();
        let gateway_config = node_config(dirs[0].path(), &bitcoind, "relay-gateway");
        let gateway = Arc::new(LdkBackend::start(gateway_config.clone()).await.expect("gateway"));
        let start = |i: usize, alias: &str| {
            let config = node_config(dirs[i].path(), &bitcoind, alias);
            async move { Arc::new(LdkBackend::start(config).await.expect("node")) }
        };
        let forward = start(1, "relay-forward").await;
        let payer = start(2, "relay-payer").await;
        let payer2 = start(4, "relay-payer2").await;
        let sensor_config = node_config(dirs[3].path(), &bitcoind, "relay-sensor");
        let sensor_addr = sensor_config.listen_addr.expect("listens").into();
        let sensor = Arc::new(LdkBackend::start(sensor_config).await.expect("sensor"));
        let all = [&gateway, &forward, &payer, &sensor, &payer2];
        for (node, btc) in all.iter().zip([0.01, 0.05, 0.05, 0.01, 0.05]) {
            let address = node.node().onchain_payment().new_address().expect("address");
            bitcoind.rpc("sendtoaddress", json!([address.to_string(), btc])).await.expect("fund");
        }
        let tip = bitcoind.mine(1, &miner).await;
        for node in all {
            wait_until("the deposit", || {
                node.node().status().current_best_block.height >= tip
                    && node.node().list_balances().spendable_onchain_balance_sats > 0
            })
            .await;
        }
        let gateway_addr = gateway_config.listen_addr.expect("listens");
        for p in [&payer, &payer2] {
            p.node()
                .open_announced_channel(
                    gateway.node().node_id(),
                    gateway_addr.into(),
                    1_000_000,
                    None,
                    None,
                )
                .expect("open to the gateway");
        }
        forward
            .node()
            .open_announced_channel(sensor.node().node_id(), sensor_addr, 1_000_000, None, None)
            .expect("open to the sensor");
        let started = Instant::now();
        loop {
            let pool = bitcoind.rpc("getrawmempool", json!([])).await.expect("mempool");
            if pool.as_array().is_some_and(|a| a.len() >= 3) {
                break;
            }
            assert!(started.elapsed() < SETUP, "no funding transaction");
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        let r = Regtest {
            gateway,
            forward,
            payer,
            payer2,
            sensor,
            gateway_config,
            miner,
            bitcoind,
            _dirs: dirs,
        };
        r.mine(6).await;
        let (g, f, p, s) =
            (r.gateway.clone(), r.forward.clone(), r.payer.clone(), r.sensor.clone());
        let p2 = r.payer2.clone();
        wait_until("usable channels", || {
            usable(&g, &p)
                && usable(&p, &g)
                && usable(&f, &s)
                && usable(&s, &f)
                && usable(&g, &p2)
                && usable(&p2, &g)
        })
        .await;
        r
    }

    fn nodes(&self) -> [&Arc<LdkBackend>; 5] {
        [&self.gateway, &self.forward, &self.payer, &self.sensor, &self.payer2]
    }

    async fn mine(&self, n: u32) -> u32 {
        let tip = self.bitcoind.mine(n, &self.miner).await;
        for node in self.nodes() {
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

    /// The gateway's relay on `store`: holds on the gateway node, pays from the forward node.
    fn relay(&self, store: &Arc<dyn GatewayStore>, master: [u8; 32]) -> Relay {
        Relay::new(store.clone(), self.gateway.clone(), master, RelaySettings::default())
            .with_forward_node(self.forward.clone())
    }
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
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The sensor's invoice for a held payment (see [`Payee::invoice`]) and its amount.
async fn sensor_invoice(r: &Regtest, payee: &Payee, held: &RelayPayment) -> (String, u64) {
    let invoice = payee.invoice(&*r.sensor, held).await;
    (invoice.to_string(), invoice.amount_milli_satoshis().expect("an amount"))
}

/// Waits until `node` records the invoice of `hash` as settled for `amount_msat`.
async fn invoice_settles(node: &LdkBackend, hash: &[u8; 32], amount_msat: u64, what: &str) {
    let started = Instant::now();
    loop {
        let state = node.invoice_state(PaymentHash(*hash)).await.expect("state");
        if state == (InvoiceState::Settled { amount_msat }) {
            return;
        }
        assert!(started.elapsed() < SETUP, "{what}: {state:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn payer_status(r: &Regtest, hash: &[u8; 32]) -> Option<PaymentStatus> {
    r.payer.payment_status(PaymentHash(*hash)).await.expect("status")
}

/// Settled end to end: the payer has the preimage, every node's record agrees.
async fn assert_settled(
    r: &Regtest,
    relay: &Relay,
    hash: &[u8; 32],
    claim_amount: u64,
    paying: Paying,
) {
    let settled = until(relay, hash, RelayState::Settled).await;
    let outcome = paying.await.expect("join").expect("the payer's payment completes");
    assert_eq!(crate::relay::hash(&outcome.preimage.0), *hash);
    let held = settled.held_amount_msat.expect("held");
    // A node records its claim when LDK reports it done, a moment after the preimage is out.
    invoice_settles(&r.gateway, hash, held, "the gateway claimed the held HTLCs").await;
    invoice_settles(&r.sensor, hash, claim_amount, "the sensor was paid the claim amount").await;
    let Some(PaymentStatus::Succeeded(forwarded)) =
        r.forward.payment_status(PaymentHash(*hash)).await.expect("status")
    else {
        panic!("the forward node's payment did not succeed");
    };
    let fee = settled.fee_msat.expect("fee");
    assert!(forwarded.fee_paid_msat.unwrap_or(0) <= fee, "routing fee within the relay fee");
}

type Paying =
    tokio::task::JoinHandle<Result<lnedge_node::PaymentOutcome, lnedge_node::BackendError>>;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs a regtest bitcoind (BITCOIND_EXE)"]
async fn ldk_node_relay_end_to_end() {
    let started = Instant::now();
    let mut r = Regtest::new().await;
    eprintln!("=== five nodes ready in {:.1?}", started.elapsed());
    let dir = tempfile::tempdir().expect("dir");
    let path = dir.path().join("gw.sqlite3");
    let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::open(&path).expect("store"));
    let master: [u8; 32] = rand::random();
    let relay = r.relay(&store, master);
    assert!(relay.has_forward_node());
    let payee = Payee::enrol(&relay, 12).await;

    // 1. One ldk-node in both roles: it refuses to pay the hash it holds. With one attempt
    //    allowed, the relay fails the payer back at once.
    let mut one_attempt = RelaySettings::default();
    one_attempt.max_attempts = 1;
    let single = Relay::new(store.clone(), r.gateway.clone(), master, one_attempt);
    assert!(!single.has_forward_node());
    let offer = single.offer(&payee.id, 20_000_000, "one node").await.expect("offer");
    let paying = pay(&r.payer, &offer.bolt11);
    let held = until(&single, &offer.payment_hash, RelayState::Held).await;
    let (bolt11, _) = sensor_invoice(&r, &payee, &held).await;
    single.claim(&payee.id, &bolt11).await.expect("the claim is accepted");
    let cancelled = until(&single, &offer.payment_hash, RelayState::Cancelled).await;
    assert!(cancelled.reason.as_deref().unwrap_or("").contains("cannot send"), "{cancelled:?}");
    assert!(paying.await.expect("join").is_err(), "the payer was failed back");
    assert!(matches!(
        payer_status(&r, &offer.payment_hash).await,
        Some(PaymentStatus::Failed { .. })
    ));
    assert_eq!(
        r.sensor.invoice_state(PaymentHash(offer.payment_hash)).await.expect("state"),
        InvoiceState::Open,
        "the sensor was not paid"
    );
    eprintln!("=== 1. one node: failed back ({:?})", cancelled.reason);

    // 2. The payee wakes in time; the second node pays it.
    let offer = relay.offer(&payee.id, 20_000_000, "reading").await.expect("offer");
    let invoice = parse_invoice(&offer.bolt11).expect("invoice");
    assert!(invoice.min_final_cltv_expiry_delta() >= 288, "the long hold delta (ADR 0012)");
    assert_eq!(invoice.recover_payee_pub_key(), r.gateway.node().node_id());
    let height = r.gateway.info().await.expect("info").block_height;
    let paid_at = Instant::now();
    let paying = pay(&r.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    let deadline = held.claim_deadline_height.expect("deadline");
    assert!(deadline >= height + 288 - 48, "claim deadline {deadline} at height {height}");
    let (bolt11, claim_amount) = sensor_invoice(&r, &payee, &held).await;
    let claimed_at = Instant::now();
    relay.claim(&payee.id, &bolt11).await.expect("claim");
    assert_settled(&r, &relay, &offer.payment_hash, claim_amount, paying).await;
    eprintln!(
        "=== 2. payee woke: deadline {deadline} at height {height}; claim → settled in {:.1?}, \
         payer's pay → settled in {:.1?}",
        claimed_at.elapsed(),
        paid_at.elapsed()
    );

    // The relay's overhead on top of a direct payment (docs/benchmarks.md): five relayed
    // payments whose payee claims as soon as they are held, against five direct one-hop
    // payments from the forward node to the sensor.
    let (mut relayed_ms, mut direct_ms) = (Vec::new(), Vec::new());
    for i in 0..5 {
        let offer = relay.offer(&payee.id, 10_000_000, "timed").await.expect("offer");
        let t = Instant::now();
        let paying = pay(&r.payer, &offer.bolt11);
        let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
        let (bolt11, _) = sensor_invoice(&r, &payee, &held).await;
        relay.claim(&payee.id, &bolt11).await.expect("claim");
        paying.await.expect("join").expect("relayed");
        relayed_ms.push(t.elapsed().as_secs_f64() * 1e3);
        let preimage = PaymentPreimage([i as u8 + 1; 32]);
        let params = InvoiceParams {
            amount_msat: Some(10_000_000),
            description: InvoiceDescription::Direct("direct".into()),
            expiry_secs: 600,
            min_final_cltv_expiry_delta: None,
        };
        let direct = r.sensor.create_invoice(preimage, params).await.expect("invoice");
        let t = Instant::now();
        pay(&r.forward, &direct.to_string()).await.expect("join").expect("direct");
        direct_ms.push(t.elapsed().as_secs_f64() * 1e3);
        until(&relay, &offer.payment_hash, RelayState::Settled).await;
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(|a, b| a.total_cmp(b));
        v[v.len() / 2]
    };
    eprintln!(
        "=== relay overhead on regtest: relayed p50 {:.0} ms, direct p50 {:.0} ms (5 each; \
         relayed {relayed_ms:.0?}, direct {direct_ms:.0?})",
        median(&mut relayed_ms.clone()),
        median(&mut direct_ms.clone())
    );

    // 3. The gateway process dies right after accepting a claim (the payment in flight on the
    //    forward node goes on); a new process on the same store finishes it.
    let offer = relay.offer(&payee.id, 15_000_000, "killed").await.expect("offer");
    let paying = pay(&r.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    let (bolt11, claim_amount) = sensor_invoice(&r, &payee, &held).await;
    relay.claim(&payee.id, &bolt11).await.expect("claim");
    relay.abort();
    drop(relay);
    let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::open(&path).expect("reopen"));
    let relay = r.relay(&store, master);
    assert_settled(&r, &relay, &offer.payment_hash, claim_amount, paying).await;
    eprintln!("=== 3. gateway killed after the claim: settled by the next process");

    // 4. The gateway's node restarts while holding; the payee claims afterwards.
    let offer = relay.offer(&payee.id, 12_000_000, "node restart").await.expect("offer");
    let paying = pay(&r.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    drop(relay);
    r.restart_gateway().await;
    assert!(matches!(
        r.gateway.invoice_state(PaymentHash(offer.payment_hash)).await.expect("state"),
        InvoiceState::Held { .. }
    ));
    let relay = r.relay(&store, master);
    until(&relay, &offer.payment_hash, RelayState::Held).await;
    let (bolt11, claim_amount) = sensor_invoice(&r, &payee, &held).await;
    relay.claim(&payee.id, &bolt11).await.expect("claim after the restart");
    assert_settled(&r, &relay, &offer.payment_hash, claim_amount, paying).await;
    eprintln!("=== 4. node restarted while holding: settled");

    // 5. The payee never wakes: blocks are mined up to the cancel point; the payer is failed
    //    back before the claim deadline and a late claim is refused.
    let offer = relay.offer(&payee.id, 10_000_000, "asleep").await.expect("offer");
    let paying = pay(&r.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    let deadline = held.claim_deadline_height.expect("deadline");
    let cancel_at = deadline - relay.settings().cancel_margin_blocks;
    let height = r.gateway.info().await.expect("info").block_height;
    r.mine(cancel_at - 1 - height).await;
    relay.tick().await.expect("tick");
    let still = relay.store().relay_payment(&offer.payment_hash).await.expect("read");
    assert_eq!(
        still.expect("exists").state,
        RelayState::Held,
        "held one block before the cancel point"
    );
    r.mine(1).await;
    let expired = until(&relay, &offer.payment_hash, RelayState::Expired).await;
    assert!(paying.await.expect("join").is_err(), "the payer was failed back");
    assert!(matches!(
        payer_status(&r, &offer.payment_hash).await,
        Some(PaymentStatus::Failed { .. })
    ));
    assert!(r.gateway.info().await.expect("info").block_height < deadline);
    let (bolt11, _) = sensor_invoice(&r, &payee, &held).await;
    let late = relay.claim(&payee.id, &bolt11).await.expect_err("too late");
    assert!(matches!(late, RelayError::WrongState { state: RelayState::Expired, .. }), "{late}");
    eprintln!(
        "=== 5. payee asleep: expired at height {cancel_at}, deadline {deadline} ({:?})",
        expired.reason
    );

    // 6. Two payments to one hash: a second payer pays the invoice the gateway already holds.
    let offer = relay.offer(&payee.id, 8_000_000, "one hash").await.expect("offer");
    let paying = pay(&r.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    let second = pay(&r.payer2, &offer.bolt11).await.expect("join");
    assert!(second.is_err(), "the second HTLC set is failed back: {second:?}");
    assert!(matches!(
        r.gateway.invoice_state(PaymentHash(offer.payment_hash)).await.expect("state"),
        InvoiceState::Held { amount_msat: 8_000_000, .. }
    ));
    relay.tick().await.expect("tick");
    let still = relay.store().relay_payment(&offer.payment_hash).await.expect("read");
    let still = still.expect("exists");
    assert_eq!((still.state, still.held_amount_msat), (RelayState::Held, Some(8_000_000)));
    let (bolt11, claim_amount) = sensor_invoice(&r, &payee, &held).await;
    relay.claim(&payee.id, &bolt11).await.expect("claim");
    assert_settled(&r, &relay, &offer.payment_hash, claim_amount, paying).await;
    assert!(matches!(
        r.payer2.payment_status(PaymentHash(offer.payment_hash)).await.expect("status"),
        Some(PaymentStatus::Failed { .. })
    ));
    eprintln!("=== 6. two payments to one hash: the second failed back, the first settled once");

    for node in r.nodes() {
        node.stop().await.expect("stop");
    }
    eprintln!("=== all steps passed in {:.1?}", started.elapsed());
}

fn pay(payer: &Arc<LdkBackend>, bolt11: &str) -> Paying {
    let payer = payer.clone();
    let invoice = parse_invoice(bolt11).expect("invoice");
    tokio::spawn(async move {
        payer
            .pay(PayRequest {
                invoice,
                amount_msat: None,
                max_fee_msat: 10_000,
                timeout: Duration::from_secs(600),
                max_total_cltv_expiry_delta: None,
            })
            .await
    })
}
