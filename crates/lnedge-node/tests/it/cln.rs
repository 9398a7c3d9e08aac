//! The conformance suite on the Core Lightning backend, against `lnedge-testnodes`' lightningd
//! stand-in hosting the real `lnedge-cln-hold` plugin (CLN's socket framing and schemas as
//! `cln-rpc` reads them; not a real lightningd, which cannot run here: docs/backends.md), plus
//! what is CLN's own: connections lost and resumed, lightningd restarted with an HTLC held
//! (the plugin reads its datastore back and lightningd replays the HTLC), a hold invoice the
//! plugin cancels near expiry while lnedge is down, a socket or plugin that is missing.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lnedge_node::cln::{ClnBackend, ClnConfig};
use lnedge_node::{BackendError, BackendEvent, InvoiceState, LightningBackend};
use lnedge_testnodes::cln::{ClnNetwork, FakeCln};

use crate::conformance::{self, expect_event, fresh_preimage, hash_of, params, Harness};

/// Two CLN nodes on one chain, each behind a `ClnBackend`.
struct ClnHarness {
    network: ClnNetwork,
    merchant: FakeCln,
    payer_node: FakeCln,
    backend: Arc<ClnBackend>,
    payer: Arc<ClnBackend>,
    dir: tempfile::TempDir,
}

fn config(node: &FakeCln, dir: &std::path::Path, name: &str) -> ClnConfig {
    ClnConfig { rpc_file: node.rpc_file(), data_dir: dir.join(format!("{name}-backend")) }
}

impl ClnHarness {
    async fn new() -> Self {
        // Unix socket paths are short (108 bytes): keep the directory near the root.
        let dir = tempfile::Builder::new().prefix("cln").tempdir_in("/tmp").expect("dir");
        let network = ClnNetwork::new();
        let merchant =
            network.start_node("merchant", &dir.path().join("m"), true).await.expect("merchant");
        let payer_node =
            network.start_node("payer", &dir.path().join("p"), true).await.expect("payer");
        // Payments both ways go over a channel whose balances they move (0.1 BTC, half each).
        network
            .open_channel(payer_node.node_id(), merchant.node_id(), 10_000_000, 5_000_000)
            .expect("channel");
        let backend = Arc::new(
            ClnBackend::connect(config(&merchant, dir.path(), "merchant")).await.expect("backend"),
        );
        let payer = Arc::new(
            ClnBackend::connect(config(&payer_node, dir.path(), "payer")).await.expect("payer"),
        );
        ClnHarness { network, merchant, payer_node, backend, payer, dir }
    }

    fn merchant_config(&self) -> ClnConfig {
        config(&self.merchant, self.dir.path(), "merchant")
    }
}

#[async_trait]
impl Harness for ClnHarness {
    fn backend(&self) -> Arc<dyn LightningBackend> {
        self.backend.clone()
    }
    fn payer(&self) -> Arc<dyn LightningBackend> {
        self.payer.clone()
    }
    async fn mine_blocks(&self, n: u32) {
        self.network.mine(n).await;
    }
    async fn restart_backend(&mut self) {
        // lightningd keeps running; lnedge's backend stops and starts on the same data dir.
        let config = self.merchant_config();
        self.backend = Arc::new(ClnBackend::connect(config).await.expect("reconnect"));
    }
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let mut h = ClnHarness::new().await;
            conformance::$name(&mut h).await;
        }
    )*};
}

conformance::with_scenarios!(conformance_tests!());

/// Waits until the merchant's lightningd has an HTLC offered and not resolved.
async fn until_pending(node: &FakeCln) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while node.pending_htlcs() == 0 {
        assert!(tokio::time::Instant::now() < deadline, "the HTLC never reached the node");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The backend's connections break (its long `lnedge-waitupdates` among them) while an HTLC is
/// held and again after it settles: the backend reads on from its index, losing nothing and
/// repeating nothing.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lost_connections_resume_without_losing_or_repeating_events() {
    let mut h = ClnHarness::new().await;
    let preimage = fresh_preimage("cln-blip");
    let hash = hash_of(&preimage);
    let invoice = h.backend.create_hold_invoice(hash, params(21_000, "blip")).await.expect("hold");
    h.merchant.cut_connections().await.expect("blip");
    let payer = h.payer.clone();
    let pay = tokio::spawn(async move { payer.pay(conformance::pay_request(&invoice)).await });
    until_pending(&h.merchant).await;
    h.merchant.cut_connections().await.expect("blip");
    let held = expect_event(
        &*h.backend,
        "InvoiceHeld after the connection came back",
        |e| matches!(e, BackendEvent::InvoiceHeld { payment_hash, .. } if *payment_hash == hash),
    )
    .await;
    assert!(matches!(held, BackendEvent::InvoiceHeld { amount_msat: 21_000, .. }));
    h.merchant.cut_connections().await.expect("blip");
    h.backend.settle_hold_invoice(preimage).await.expect("settle");
    assert_eq!(pay.await.expect("join").expect("paid").preimage, preimage);
    expect_event(
        &*h.backend,
        "InvoiceSettled",
        |e| matches!(e, BackendEvent::InvoiceSettled { payment_hash, .. } if *payment_hash == hash),
    )
    .await;
    h.merchant.cut_connections().await.expect("blip");
    h.merchant.cut_connections().await.expect("blip");
    while let Ok(Ok(q)) =
        tokio::time::timeout(Duration::from_millis(800), h.backend.next_event()).await
    {
        assert_ne!(q.event.payment_hash(), hash, "repeated: {q:?}");
        h.backend.event_handled(q.id).await.expect("ack");
    }
}

/// lightningd itself restarts while an HTLC is held: the plugin reads its invoices back from
/// the datastore, lightningd replays the HTLC to its hook, and it is held again and settles.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_held_htlc_survives_lightningd_restarting() {
    let mut h = ClnHarness::new().await;
    let preimage = fresh_preimage("cln-restart");
    let hash = hash_of(&preimage);
    let invoice =
        h.backend.create_hold_invoice(hash, params(17_000, "restart")).await.expect("hold");
    let (pay, _) = conformance::pay_and_hold(h.payer.clone(), &*h.backend, &invoice).await;
    h.merchant.stop().await;
    let err = h.backend.invoice_state(hash).await.expect_err("lightningd is down");
    assert!(matches!(err, BackendError::Unavailable(_)), "{err}");
    h.merchant.start().await.expect("lightningd is back");
    assert!(
        matches!(
            h.backend.invoice_state(hash).await.expect("state"),
            InvoiceState::Held { amount_msat: 17_000, .. }
        ),
        "held again after the restart"
    );
    assert_eq!(h.merchant.pending_htlcs(), 1, "the replayed HTLC is held, not failed");
    h.backend.settle_hold_invoice(preimage).await.expect("settle after the restart");
    assert_eq!(pay.await.expect("join").expect("the payer completes").preimage, preimage);
}

/// The plugin cancels a held invoice 12 blocks before its HTLC expires, also while lnedge's
/// backend is down; the restarted backend reports it and the payer is refunded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_plugin_cancels_a_held_invoice_near_expiry_while_the_backend_is_down() {
    let h = ClnHarness::new().await;
    let preimage = fresh_preimage("cln-node-cancels");
    let hash = hash_of(&preimage);
    let invoice = h.backend.create_hold_invoice(hash, params(9_000, "late")).await.expect("hold");
    let (pay, held) = conformance::pay_and_hold(h.payer.clone(), &*h.backend, &invoice).await;
    let BackendEvent::InvoiceHeld { claim_deadline_height: Some(deadline), .. } = held else {
        panic!("no deadline: {held:?}");
    };
    let config = h.merchant_config();
    let ClnHarness { network, merchant, backend, dir: _dir, payer_node: _p, .. } = h;
    drop(backend);
    network.mine(deadline - network.height()).await;
    assert_eq!(merchant.pending_htlcs(), 1, "still held at the deadline");
    network.mine(1).await;
    let err = pay.await.expect("join").expect_err("the payer is refunded");
    assert!(matches!(err, BackendError::Payment(_)), "{err}");
    let backend = ClnBackend::connect(config).await.expect("the backend starts again");
    expect_event(
        &backend,
        "InvoiceCancelled by the plugin, after the restart",
        |e| matches!(e, BackendEvent::InvoiceCancelled { payment_hash } if *payment_hash == hash),
    )
    .await;
    assert_eq!(backend.invoice_state(hash).await.expect("state"), InvoiceState::Cancelled);
}

/// The payer's lightningd drops its connections while its payment is held downstream: the
/// backend follows the payment with `listpays` and still returns its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_survives_its_connection_breaking() {
    let mut h = ClnHarness::new().await;
    let preimage = fresh_preimage("cln-pay-blip");
    let hash = hash_of(&preimage);
    let invoice = h.backend.create_hold_invoice(hash, params(13_000, "blip")).await.expect("hold");
    let (pay, _) = conformance::pay_and_hold(h.payer.clone(), &*h.backend, &invoice).await;
    h.payer_node.cut_connections().await.expect("blip");
    assert!(!pay.is_finished(), "still waiting for the outcome: {:?}", pay.await);
    h.backend.settle_hold_invoice(preimage).await.expect("settle");
    let outcome = pay.await.expect("join").expect("the payer learns the outcome");
    assert_eq!(outcome.preimage, preimage);
    assert!(matches!(
        h.payer.payment_status(hash).await.expect("status"),
        Some(lnedge_node::PaymentStatus::Succeeded(_))
    ));
}

/// A socket that is not there, a path that is not a socket, and a lightningd without lnedge's
/// plugin all fail at start and name `node.rpc_file`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_missing_socket_or_plugin_names_node_rpc_file() {
    let h = ClnHarness::new().await;
    let expect_key = |result: Result<ClnBackend, BackendError>, needle: &str| {
        let err = result.expect_err("refused");
        assert!(
            matches!(&err, BackendError::InvalidInput { what: "node.rpc_file", detail } if detail.contains(needle)),
            "{err}"
        );
    };
    let good = h.merchant_config();
    let missing = h.dir.path().join("nowhere/lightning-rpc");
    expect_key(
        ClnBackend::connect(ClnConfig { rpc_file: missing, ..good.clone() }).await,
        "No such file",
    );
    let plain = h.dir.path().join("plain-file");
    std::fs::write(&plain, "x").expect("write");
    expect_key(
        ClnBackend::connect(ClnConfig { rpc_file: plain, ..good.clone() }).await,
        "not a unix socket",
    );
    let bare = h.network.start_node("bare", &h.dir.path().join("b"), false).await.expect("bare");
    expect_key(
        ClnBackend::connect(ClnConfig { rpc_file: bare.rpc_file(), ..good }).await,
        "important-plugin=",
    );
}

/// The dashboard's figures from `listpeerchannels` and `listfunds`, read through cln-rpc's
/// models ([`conformance::liquidity_details`]): lightningd's spendable and receivable amounts,
/// a disconnected peer's channel counted but not usable, only confirmed outputs on chain.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liquidity_reads_listpeerchannels_and_listfunds() {
    let h = ClnHarness::new().await;
    let (m, p) = (h.merchant.node_id(), h.payer_node.node_id());
    let set_wallet = |confirmed, unconfirmed| h.network.set_wallet(m, confirmed, unconfirmed);
    let set_offline = || h.network.set_channel_active(m, p, false);
    conformance::liquidity_details(&*h.backend, &*h.payer, set_wallet, set_offline).await;
}
