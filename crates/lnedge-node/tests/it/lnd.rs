//! The conformance suite on the LND backend, against `lnedge-testnodes`' LND server (LND's
//! REST gateway as published; not a real LND, which cannot run here: docs/backends.md), plus
//! what is LND's own: streams lost and resumed, the backend restarted with events pending, a
//! hold invoice the node cancels by itself near expiry, credentials that are wrong.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use lnedge_node::lnd::{LndBackend, LndConfig};
use lnedge_node::{BackendError, BackendEvent, InvoiceState, LightningBackend};
use lnedge_testnodes::lnd::{FakeLnd, LndNetwork};

use crate::conformance::{self, expect_event, fresh_preimage, hash_of, params, Harness};

/// Two LND nodes on one chain, each behind an `LndBackend`.
struct LndHarness {
    network: LndNetwork,
    merchant: FakeLnd,
    payer_node: FakeLnd,
    backend: Arc<LndBackend>,
    payer: Arc<LndBackend>,
    dir: tempfile::TempDir,
}

fn config(node: &FakeLnd, dir: &std::path::Path, name: &str) -> LndConfig {
    let (tls_cert, macaroon) =
        node.write_credentials(&dir.join(format!("{name}-lnd"))).expect("credentials");
    LndConfig {
        rest_url: node.url(),
        tls_cert,
        macaroon,
        data_dir: dir.join(format!("{name}-backend")),
    }
}

impl LndHarness {
    async fn new() -> Self {
        let dir = tempfile::tempdir().expect("dir");
        let network = LndNetwork::new();
        let merchant = network.start_node("merchant").await.expect("merchant");
        let payer_node = network.start_node("payer").await.expect("payer");
        // Payments both ways go over a channel whose balances they move (0.1 BTC, half each).
        network
            .open_channel(payer_node.node_id(), merchant.node_id(), 10_000_000, 5_000_000)
            .expect("channel");
        let backend = Arc::new(
            LndBackend::connect(config(&merchant, dir.path(), "merchant")).await.expect("backend"),
        );
        let payer = Arc::new(
            LndBackend::connect(config(&payer_node, dir.path(), "payer")).await.expect("payer"),
        );
        LndHarness { network, merchant, payer_node, backend, payer, dir }
    }

    fn merchant_config(&self) -> LndConfig {
        config(&self.merchant, self.dir.path(), "merchant")
    }
}

#[async_trait]
impl Harness for LndHarness {
    fn backend(&self) -> Arc<dyn LightningBackend> {
        self.backend.clone()
    }
    fn payer(&self) -> Arc<dyn LightningBackend> {
        self.payer.clone()
    }
    async fn mine_blocks(&self, n: u32) {
        self.network.mine(n);
    }
    async fn restart_backend(&mut self) {
        // The daemon keeps running; lnedge's backend stops and starts on the same data dir.
        let config = self.merchant_config();
        self.backend = Arc::new(LndBackend::connect(config).await.expect("reconnect"));
    }
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let mut h = LndHarness::new().await;
            conformance::$name(&mut h).await;
        }
    )*};
}

conformance::with_scenarios!(conformance_tests!());

/// An HTLC accepted while the invoice stream is down is found when the stream comes back (LND
/// does not replay ACCEPTED changes by index: the backend reads unresolved invoices back), and
/// the settlement after it is reported once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_lost_stream_resumes_without_losing_or_repeating_events() {
    let mut h = LndHarness::new().await;
    let preimage = fresh_preimage("stream-loss");
    let hash = hash_of(&preimage);
    let invoice = h.backend.create_hold_invoice(hash, params(21_000, "blip")).await.expect("hold");
    // The server goes away: every stream ends, new connections are refused for a while.
    h.merchant.stop();
    let payer = h.payer.clone();
    let pay = tokio::spawn(async move { payer.pay(conformance::pay_request(&invoice)).await });
    // The payment reaches the node (the network delivers it) while the backend is blind.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while !held_on_node(&h, hash) {
        assert!(tokio::time::Instant::now() < deadline, "the HTLC never reached the node");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    h.merchant.start().await.expect("server back");
    let held = expect_event(
        &*h.backend,
        "InvoiceHeld after the stream came back",
        |e| matches!(e, BackendEvent::InvoiceHeld { payment_hash, .. } if *payment_hash == hash),
    )
    .await;
    assert!(matches!(held, BackendEvent::InvoiceHeld { amount_msat: 21_000, .. }));
    h.merchant.cut_streams().await.expect("blip");
    h.backend.settle_hold_invoice(preimage).await.expect("settle");
    assert_eq!(pay.await.expect("join").expect("paid").preimage, preimage);
    expect_event(
        &*h.backend,
        "InvoiceSettled",
        |e| matches!(e, BackendEvent::InvoiceSettled { payment_hash, .. } if *payment_hash == hash),
    )
    .await;
    // Several resubscriptions later, nothing about it comes again.
    h.merchant.cut_streams().await.expect("blip");
    h.merchant.cut_streams().await.expect("blip");
    while let Ok(Ok(q)) =
        tokio::time::timeout(Duration::from_millis(800), h.backend.next_event()).await
    {
        assert_ne!(q.event.payment_hash(), hash, "repeated: {q:?}");
        h.backend.event_handled(q.id).await.expect("ack");
    }
}

/// Whether the merchant node holds an HTLC for `hash` (asked of the node, not the backend).
fn held_on_node(h: &LndHarness, hash: lnedge_node::PaymentHash) -> bool {
    h.network.invoice_state(h.merchant.node_id(), hash.0) == Some("ACCEPTED")
}

/// LND cancels an accepted hold invoice by itself 12 blocks before its HTLC expires, also while
/// lnedge's backend is stopped; the restarted backend reports it and the payer is refunded.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_cancels_a_held_invoice_near_expiry_while_the_backend_is_down() {
    let h = LndHarness::new().await;
    let preimage = fresh_preimage("node-cancels");
    let hash = hash_of(&preimage);
    let invoice = h.backend.create_hold_invoice(hash, params(9_000, "late")).await.expect("hold");
    let (pay, held) = conformance::pay_and_hold(h.payer.clone(), &*h.backend, &invoice).await;
    let BackendEvent::InvoiceHeld { claim_deadline_height: Some(deadline), .. } = held else {
        panic!("no deadline: {held:?}");
    };
    let config = h.merchant_config();
    let LndHarness { network, merchant, backend, dir: _dir, .. } = h;
    drop(backend); // lnedge's backend is down from here
                   // At the deadline LND still holds it; one block later it has cancelled it by itself.
    network.mine(deadline - network.height());
    assert_eq!(network.invoice_state(merchant.node_id(), hash.0), Some("ACCEPTED"));
    network.mine(1);
    assert_eq!(network.invoice_state(merchant.node_id(), hash.0), Some("CANCELED"));
    let backend = LndBackend::connect(config).await.expect("the backend starts again");
    expect_event(
        &backend,
        "InvoiceCancelled by the node, after the restart",
        |e| matches!(e, BackendEvent::InvoiceCancelled { payment_hash } if *payment_hash == hash),
    )
    .await;
    assert_eq!(backend.invoice_state(hash).await.expect("state"), InvoiceState::Cancelled);
    let err = pay.await.expect("join").expect_err("the payer is refunded");
    assert!(matches!(err, BackendError::Payment(_)), "{err}");
}

/// A wrong certificate, macaroon or URL fails at start and names its configuration key.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_credentials_name_their_key_at_start() {
    let h = LndHarness::new().await;
    let good = h.merchant_config();
    let other = h.network.start_node("other").await.expect("other");
    let (other_cert, other_macaroon) =
        other.write_credentials(&h.dir.path().join("other")).expect("other credentials");
    let expect_key = |result: Result<LndBackend, BackendError>, key: &str| {
        let err = result.expect_err("refused");
        assert!(
            matches!(&err, BackendError::InvalidInput { what, .. } if *what == key),
            "{key}: {err}"
        );
    };
    expect_key(
        LndBackend::connect(LndConfig { tls_cert: other_cert, ..good.clone() }).await,
        "node.tls_cert",
    );
    expect_key(
        LndBackend::connect(LndConfig { macaroon: other_macaroon, ..good.clone() }).await,
        "node.macaroon",
    );
    let missing = PathBuf::from("/nonexistent/tls.cert");
    expect_key(
        LndBackend::connect(LndConfig { tls_cert: missing, ..good.clone() }).await,
        "node.tls_cert",
    );
    let not_pem = h.dir.path().join("not.pem");
    std::fs::write(&not_pem, "hello").expect("write");
    expect_key(
        LndBackend::connect(LndConfig { tls_cert: not_pem, ..good.clone() }).await,
        "node.tls_cert",
    );
    expect_key(
        LndBackend::connect(LndConfig { rest_url: "http://127.0.0.1:1".into(), ..good.clone() })
            .await,
        "node.rest_url",
    );
    expect_key(
        LndBackend::connect(LndConfig { rest_url: "https://127.0.0.1:1".into(), ..good }).await,
        "node.rest_url",
    );
}

/// LND cancels an open invoice when it expires (its invoice expiry watcher); for a hold invoice
/// the backend reports it, and it can no longer be settled or paid.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_open_hold_invoice_that_expires_is_reported_cancelled() {
    let h = LndHarness::new().await;
    let preimage = fresh_preimage("expires-open");
    let hash = hash_of(&preimage);
    let mut p = params(3_000, "brief");
    p.expiry_secs = 1;
    h.backend.create_hold_invoice(hash, p).await.expect("hold");
    expect_event(
        &*h.backend,
        "InvoiceCancelled at expiry",
        |e| matches!(e, BackendEvent::InvoiceCancelled { payment_hash } if *payment_hash == hash),
    )
    .await;
    assert_eq!(h.backend.invoice_state(hash).await.expect("state"), InvoiceState::Cancelled);
    let err = h.backend.settle_hold_invoice(preimage).await.expect_err("expired");
    assert!(matches!(err, BackendError::WrongInvoiceState { state: "cancelled", .. }), "{err}");
}

/// The payer's LND drops every stream (a blip) while its payment is held downstream: the
/// backend follows the payment again (`TrackPaymentV2`) and still returns its outcome.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_survives_its_stream_breaking() {
    let mut h = LndHarness::new().await;
    let preimage = fresh_preimage("pay-blip");
    let hash = hash_of(&preimage);
    let invoice = h.backend.create_hold_invoice(hash, params(13_000, "blip")).await.expect("hold");
    let (pay, _) = conformance::pay_and_hold(h.payer.clone(), &*h.backend, &invoice).await;
    h.payer_node.cut_streams().await.expect("blip");
    h.payer_node.cut_streams().await.expect("another");
    assert!(!pay.is_finished(), "still waiting for the outcome: {:?}", pay.await);
    h.backend.settle_hold_invoice(preimage).await.expect("settle");
    let outcome = pay.await.expect("join").expect("the payer learns the outcome");
    assert_eq!(outcome.preimage, preimage);
    assert!(matches!(
        h.payer.payment_status(hash).await.expect("status"),
        Some(lnedge_node::PaymentStatus::Succeeded(_))
    ));
}

/// An LND whose wallet is locked (after its own restart, before `lncli unlock`) answers
/// "wallet locked": the backend reports it as unavailable (retry later), not as a refusal, and
/// works again once unlocked; starting against a locked LND says so.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_locked_lnd_is_unavailable_until_unlocked() {
    let h = LndHarness::new().await;
    h.merchant.set_locked(true);
    let err = h
        .backend
        .create_invoice(fresh_preimage("locked"), params(1_000, "locked"))
        .await
        .expect_err("locked");
    assert!(matches!(err, BackendError::Unavailable(_)), "{err}");
    assert_eq!(err.kind(), lnedge_node::ErrorKind::Transient);
    let start = LndBackend::connect(h.merchant_config()).await.expect_err("locked at start");
    assert!(
        matches!(&start, BackendError::InvalidInput { what: "node.rest_url", detail } if detail.contains("wallet locked")),
        "{start}"
    );
    h.merchant.set_locked(false);
    let preimage = fresh_preimage("unlocked");
    let invoice =
        h.backend.create_invoice(preimage, params(1_000, "unlocked")).await.expect("invoice");
    assert_eq!(
        h.payer.pay(conformance::pay_request(&invoice)).await.expect("paid").preimage,
        preimage
    );
}

/// An invoice LND already has for a hash, made by someone else (here: another lnedge backend
/// with its own store on the same node), is adopted only when it is the same kind and amount;
/// otherwise creating one is refused as a duplicate hash.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invoice_already_on_lnd_is_adopted_only_when_it_matches() {
    let h = LndHarness::new().await;
    let mut other_config = h.merchant_config();
    other_config.data_dir = h.dir.path().join("other-backend");
    let other = LndBackend::connect(other_config).await.expect("other backend");
    let preimage = fresh_preimage("foreign");
    let theirs = other.create_invoice(preimage, params(1_000, "theirs")).await.expect("theirs");
    let err = h
        .backend
        .create_invoice(preimage, params(2_000, "ours"))
        .await
        .expect_err("another amount");
    assert!(matches!(err, BackendError::DuplicatePaymentHash(_)), "{err}");
    let err = h
        .backend
        .create_hold_invoice(hash_of(&preimage), params(1_000, "ours"))
        .await
        .expect_err("another kind");
    assert!(matches!(err, BackendError::DuplicatePaymentHash(_)), "{err}");
    let adopted = h
        .backend
        .create_invoice(preimage, params(1_000, "theirs"))
        .await
        .expect("same kind and amount: adopted");
    assert_eq!(adopted, theirs);
}

/// The dashboard's figures from `ListChannels` and `WalletBalance`
/// ([`conformance::liquidity_details`]): balances less each side's reserve, an inactive
/// channel counted but not usable, the confirmed wallet balance.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn liquidity_reads_list_channels_and_wallet_balance() {
    let h = LndHarness::new().await;
    let (m, p) = (h.merchant.node_id(), h.payer_node.node_id());
    let set_wallet = |confirmed, unconfirmed| h.network.set_wallet(m, confirmed, unconfirmed);
    let set_offline = || h.network.set_channel_active(m, p, false);
    conformance::liquidity_details(&*h.backend, &*h.payer, set_wallet, set_offline).await;
}
