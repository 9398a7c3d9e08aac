//! The async relay on the operator's own node, LND or Core Lightning (against
//! `lnedge-testnodes`' LND server and lightningd stand-in with the real `lnedge-cln-hold` plugin:
//! the daemons' APIs as published, not the daemons): payer → gateway → sensor, each a node of
//! that kind behind its backend. The gateway's one node holds the payer's HTLC and pays the
//! sensor's invoice for the same hash (no forwarding node needed, unlike ldk-node: ADR 0012),
//! learns the preimage and settles; a sensor that never wakes gets the payer refunded before
//! the node's own cancel point.

use std::sync::Arc;
use std::time::Duration;

use lnedge_gateway::relay::{Relay, RelaySettings};
use lnedge_gateway::store::relay::RelayState;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_node::cln::{ClnBackend, ClnConfig};
use lnedge_node::lnd::{LndBackend, LndConfig};
use lnedge_node::{parse_invoice, InvoiceState, LightningBackend, PayRequest, PaymentHash};
use lnedge_testnodes::cln::ClnNetwork;
use lnedge_testnodes::lnd::LndNetwork;

use crate::relay::{relay_payment, until, Payee, AMOUNT_MSAT};

/// The chain the three nodes share.
enum Chain {
    Lnd(LndNetwork),
    Cln(ClnNetwork),
}

impl Chain {
    fn height(&self) -> u32 {
        match self {
            Chain::Lnd(n) => n.height(),
            Chain::Cln(n) => n.height(),
        }
    }
    async fn mine(&self, blocks: u32) {
        match self {
            Chain::Lnd(n) => n.mine(blocks),
            Chain::Cln(n) => n.mine(blocks).await,
        }
    }
}

struct Nodes {
    chain: Chain,
    _servers: Vec<Box<dyn std::any::Any + Send>>,
    payer: Arc<dyn LightningBackend>,
    gateway: Arc<dyn LightningBackend>,
    sensor: Arc<dyn LightningBackend>,
    dir: tempfile::TempDir,
}

const NAMES: [&str; 3] = ["payer", "gateway", "sensor"];

impl Nodes {
    fn new(
        chain: Chain,
        servers: Vec<Box<dyn std::any::Any + Send>>,
        mut backends: Vec<Arc<dyn LightningBackend>>,
        dir: tempfile::TempDir,
    ) -> Self {
        let sensor = backends.pop().expect("sensor");
        let gateway = backends.pop().expect("gateway");
        let payer = backends.pop().expect("payer");
        Nodes { chain, _servers: servers, payer, gateway, sensor, dir }
    }

    async fn lnd() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let network = LndNetwork::new();
        let (mut servers, mut backends) = (Vec::new(), Vec::<Arc<dyn LightningBackend>>::new());
        for name in NAMES {
            let server = network.start_node(name).await.expect("node");
            let (tls_cert, macaroon) = server
                .write_credentials(&dir.path().join(format!("{name}-lnd")))
                .expect("credentials");
            let config = LndConfig {
                rest_url: server.url(),
                tls_cert,
                macaroon,
                data_dir: dir.path().join(format!("{name}-backend")),
            };
            backends.push(Arc::new(LndBackend::connect(config).await.expect("backend")));
            servers.push(Box::new(server) as Box<dyn std::any::Any + Send>);
        }
        Nodes::new(Chain::Lnd(network), servers, backends, dir)
    }

    async fn cln() -> Self {
        // Unix socket paths are short (108 bytes): keep the directory near the root.
        let dir = tempfile::Builder::new().prefix("cln").tempdir_in("/tmp").expect("dir");
        let network = ClnNetwork::new();
        let (mut servers, mut backends) = (Vec::new(), Vec::<Arc<dyn LightningBackend>>::new());
        for name in NAMES {
            let server =
                network.start_node(name, &dir.path().join(name), true).await.expect("node");
            let config = ClnConfig {
                rpc_file: server.rpc_file(),
                data_dir: dir.path().join(format!("{name}-backend")),
            };
            backends.push(Arc::new(ClnBackend::connect(config).await.expect("backend")));
            servers.push(Box::new(server) as Box<dyn std::any::Any + Send>);
        }
        Nodes::new(Chain::Cln(network), servers, backends, dir)
    }
}

fn pay(
    payer: &Arc<dyn LightningBackend>,
    bolt11: &str,
) -> tokio::task::JoinHandle<Result<lnedge_node::PaymentOutcome, lnedge_node::BackendError>> {
    let (payer, invoice) = (payer.clone(), parse_invoice(bolt11).expect("bolt11"));
    tokio::spawn(async move {
        payer
            .pay(PayRequest {
                invoice,
                amount_msat: None,
                max_fee_msat: 10_000,
                timeout: Duration::from_secs(120),
                max_total_cltv_expiry_delta: None,
            })
            .await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_completes_a_payment_on_one_lnd_that_holds_and_pays_the_same_hash() {
    completes(Nodes::lnd().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_relay_completes_a_payment_on_one_cln_that_holds_and_pays_the_same_hash() {
    completes(Nodes::cln().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_that_never_wakes_gets_the_payer_refunded_on_lnd() {
    refunds(Nodes::lnd().await).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_that_never_wakes_gets_the_payer_refunded_on_cln() {
    refunds(Nodes::cln().await).await;
}

/// The sensor wakes while the payer's HTLC is held: everyone is paid.
async fn completes(n: Nodes) {
    let store = Arc::new(SqliteStore::open(&n.dir.path().join("gateway.sqlite3")).expect("store"));
    let relay = Relay::new(store, n.gateway.clone(), rand::random(), RelaySettings::default());
    let payee = Payee::enrol(&relay, 1).await;
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "one reading").await.expect("offer");
    let paying = pay(&n.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    assert_eq!(held.held_amount_msat, Some(AMOUNT_MSAT));
    assert!(
        held.claim_deadline_height.expect("deadline") > n.chain.height() + 200,
        "the relay's long final CLTV reaches the node: {held:?}"
    );
    assert!(!paying.is_finished(), "the payer waits while the sensor sleeps");

    // The sensor wakes: an invoice of its own node for the held hash; the gateway's node pays it.
    payee.claim(&relay, &*n.sensor, &held).await.expect("claim");
    let settled = until(&relay, &offer.payment_hash, RelayState::Settled).await;
    let outcome = paying.await.expect("join").expect("the payer's payment completes");
    assert_eq!(outcome.preimage.0, payee.preimage(&offer.payment_hash));
    assert_eq!(settled.state, RelayState::Settled);
    let fee = RelaySettings::default().fee_msat(AMOUNT_MSAT);
    assert_eq!(
        n.sensor.invoice_state(PaymentHash(offer.payment_hash)).await.expect("state"),
        InvoiceState::Settled { amount_msat: AMOUNT_MSAT - fee }
    );
}

/// The sensor never wakes: the relay cancels before the node's own cancel point.
async fn refunds(n: Nodes) {
    let store = Arc::new(SqliteStore::open(&n.dir.path().join("gateway.sqlite3")).expect("store"));
    let relay = Relay::new(store, n.gateway.clone(), rand::random(), RelaySettings::default());
    let payee = Payee::enrol(&relay, 1).await;
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "one reading").await.expect("offer");
    let paying = pay(&n.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    let deadline = held.claim_deadline_height.expect("deadline");
    let margin = relay.settings().cancel_margin_blocks;
    n.chain.mine(deadline - margin - n.chain.height() - 1).await;
    relay.tick().await.expect("tick");
    assert_eq!(relay_payment(&relay, &offer.payment_hash).await.state, RelayState::Held);
    n.chain.mine(1).await;
    relay.tick().await.expect("tick");
    let expired = relay_payment(&relay, &offer.payment_hash).await;
    assert_eq!(expired.state, RelayState::Expired, "{expired:?}");
    assert!(paying.await.expect("join").is_err(), "the payer is refunded");
    assert!(n.chain.height() < deadline, "before the claim deadline");
    assert_eq!(
        n.gateway.invoice_state(PaymentHash(offer.payment_hash)).await.expect("state"),
        InvoiceState::Cancelled
    );
}
