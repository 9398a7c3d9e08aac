//! The async relay on the LND backend (against `lnedge-testnodes`' LND server: LND's REST
//! gateway as published, not a real LND): payer → gateway → sensor, each an LND node behind an
//! `LndBackend`. The gateway's one LND holds the payer's HTLC and pays the sensor's invoice for
//! the same hash (no forwarding node needed, unlike ldk-node: ADR 0012), learns the preimage and
//! settles; a sensor that never wakes gets the payer refunded before LND's own cancel point.

use std::sync::Arc;
use std::time::Duration;

use lnedge_gateway::relay::{Relay, RelaySettings};
use lnedge_gateway::store::relay::RelayState;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_node::lnd::{LndBackend, LndConfig};
use lnedge_node::{parse_invoice, InvoiceState, LightningBackend, PayRequest, PaymentHash};
use lnedge_testnodes::lnd::{FakeLnd, LndNetwork};

use crate::relay::{relay_payment, until, Payee, AMOUNT_MSAT};

struct Nodes {
    network: LndNetwork,
    _servers: Vec<FakeLnd>,
    payer: Arc<LndBackend>,
    gateway: Arc<LndBackend>,
    sensor: Arc<LndBackend>,
    dir: tempfile::TempDir,
}

async fn nodes() -> Nodes {
    let dir = tempfile::tempdir().expect("dir");
    let network = LndNetwork::new();
    let mut servers = Vec::new();
    let mut backends = Vec::new();
    for name in ["payer", "gateway", "sensor"] {
        let server = network.start_node(name).await.expect("node");
        let (tls_cert, macaroon) =
            server.write_credentials(&dir.path().join(format!("{name}-lnd"))).expect("credentials");
        let config = LndConfig {
            rest_url: server.url(),
            tls_cert,
            macaroon,
            data_dir: dir.path().join(format!("{name}-backend")),
        };
        backends.push(Arc::new(LndBackend::connect(config).await.expect("backend")));
        servers.push(server);
    }
    let sensor = backends.pop().expect("sensor");
    let gateway = backends.pop().expect("gateway");
    let payer = backends.pop().expect("payer");
    Nodes { network, _servers: servers, payer, gateway, sensor, dir }
}

fn pay(
    payer: &Arc<LndBackend>,
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
    let n = nodes().await;
    let store = Arc::new(SqliteStore::open(&n.dir.path().join("gateway.sqlite3")).expect("store"));
    let relay = Relay::new(store, n.gateway.clone(), rand::random(), RelaySettings::default());
    let payee = Payee::enrol(&relay, 1).await;
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "one reading").await.expect("offer");
    let paying = pay(&n.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    assert_eq!(held.held_amount_msat, Some(AMOUNT_MSAT));
    assert!(
        held.claim_deadline_height.expect("deadline") > n.network.height() + 200,
        "the relay's long final CLTV reaches LND: {held:?}"
    );
    assert!(!paying.is_finished(), "the payer waits while the sensor sleeps");

    // The sensor wakes: an invoice of its own LND for the held hash; the gateway's LND pays it.
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

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_that_never_wakes_gets_the_payer_refunded_on_lnd() {
    let n = nodes().await;
    let store = Arc::new(SqliteStore::open(&n.dir.path().join("gateway.sqlite3")).expect("store"));
    let relay = Relay::new(store, n.gateway.clone(), rand::random(), RelaySettings::default());
    let payee = Payee::enrol(&relay, 1).await;
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "one reading").await.expect("offer");
    let paying = pay(&n.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    let deadline = held.claim_deadline_height.expect("deadline");
    let margin = relay.settings().cancel_margin_blocks;
    n.network.mine(deadline - margin - n.network.height() - 1);
    relay.tick().await.expect("tick");
    assert_eq!(relay_payment(&relay, &offer.payment_hash).await.state, RelayState::Held);
    n.network.mine(1);
    relay.tick().await.expect("tick");
    let expired = relay_payment(&relay, &offer.payment_hash).await;
    assert_eq!(expired.state, RelayState::Expired, "{expired:?}");
    assert!(paying.await.expect("join").is_err(), "the payer is refunded");
    assert!(n.network.height() < deadline, "before the claim deadline");
    assert_eq!(
        n.gateway.invoice_state(PaymentHash(offer.payment_hash)).await.expect("state"),
        InvoiceState::Cancelled
    );
}
