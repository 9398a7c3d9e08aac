//! Co-signed channels (the threshold device wallet, `docs/adr/0023`) on the sandbox network:
//! a gateway node whose channel to an unmodified bridge node has a funding key shared 2-of-2
//! with a device; the device approves what it pays and nothing else moves.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bitcoin::OutPoint;
use lightning::ln::types::ChannelId;
use lnedge_cosign::device::{Coin, DeviceKeys, DeviceWallet};
use lnedge_cosign::gateway::GatewayCosigner;
use lnedge_cosign::host::LocalLink;
use lnedge_cosign::link::{DeviceLink, GatewayRequest, LinkError};
use lnedge_cosign::policy::Policy;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{InvoiceState, LightningBackend, PayRequest};

use crate::conformance::{fresh_preimage, hash_of, params, pay_request};

/// The device's link, which a test can cut, or arm to restart the device before it answers
/// the second round of a signature (its signing session in memory is then lost).
struct SwitchLink {
    device: LocalLink,
    up: AtomicBool,
    restart_before_finish: AtomicBool,
}

impl DeviceLink for SwitchLink {
    fn call(&self, request: &[u8]) -> Result<Vec<u8>, LinkError> {
        if !self.up.load(Ordering::SeqCst) {
            return Err(LinkError("the device is out of reach".into()));
        }
        let finish = matches!(
            lnedge_cosign::decode::<GatewayRequest>("request", request),
            Ok(GatewayRequest::Finish { .. })
        );
        if finish && self.restart_before_finish.swap(false, Ordering::SeqCst) {
            self.device.restart().expect("the device restarts from its saved wallet");
        }
        self.device.call(request)
    }
}

/// gateway ─(co-signed, private)→ bridge ─(announced)→ shop, and the device of the gateway's
/// channel.
struct TollRoad {
    net: SandboxNetwork,
    gateway: Arc<SandboxNode>,
    bridge: Arc<SandboxNode>,
    shop: Arc<SandboxNode>,
    link: Arc<SwitchLink>,
    cosigner: Arc<GatewayCosigner>,
    channel: ChannelId,
    _device_dir: tempfile::TempDir,
}

const CAPACITY_SAT: u64 = 500_000;

impl TollRoad {
    async fn new() -> TollRoad {
        let net = SandboxNetwork::new().await.expect("network");
        let [bridge, shop] = net.line(["bridge", "shop"], 1_000_000).await.expect("line");
        let gateway = net.add_node("gateway").await.expect("gateway");

        let (device_share, gateway_share) = lnedge_cosign::keygen::in_process().expect("keygen");
        let policy = Policy {
            max_payment_msat: 20_000_000,
            daily_budget_msat: 100_000_000,
            fee_cap_msat: 2_000_000,
            payees: Some(vec![shop.node_id()]),
        };
        let keys = DeviceKeys::new(rand::random());
        let mut wallet = DeviceWallet::new(keys.clone(), device_share, policy);
        // The device's own coins fund its channel.
        let outpoint = net.deposit(keys.deposit_script(), 2 * CAPACITY_SAT).await;
        wallet.add_coin(Coin { outpoint, value_sat: 2 * CAPACITY_SAT });
        let device_dir = tempfile::tempdir().expect("device dir");
        let device =
            LocalLink::saved(wallet, keys, device_dir.path().join("wallet")).expect("saved");
        let link = Arc::new(SwitchLink {
            device,
            up: AtomicBool::new(true),
            restart_before_finish: AtomicBool::new(false),
        });
        let cosigner = Arc::new(GatewayCosigner::new(gateway_share, link.clone()));
        let channel = net
            .open_cosigned_channel(&gateway, &bridge, CAPACITY_SAT, cosigner.clone())
            .await
            .expect("co-signed channel");
        net.wait_for_gossip().await.expect("gossip");
        TollRoad { net, gateway, bridge, shop, link, cosigner, channel, _device_dir: device_dir }
    }

    /// Waits until the shop's invoice `hash` is settled, asking the gateway to retry refused
    /// signatures meanwhile (as a gateway does once its device is back).
    async fn wait_settled(&self, gateway: &SandboxNode, hash: lnedge_node::PaymentHash) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            if matches!(self.shop.invoice_state(hash).await, Ok(InvoiceState::Settled { .. })) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "the toll was never settled");
            gateway.retry_signatures();
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }

    /// The device approves a 10,000 sat toll to the shop; the shop's invoice for it.
    async fn approved_toll(
        &self,
        tag: &str,
    ) -> (lnedge_node::PaymentPreimage, lnedge_node::lightning_invoice::Bolt11Invoice) {
        self.device(|d| d.approve_payment(10_000_000, &self.shop.node_id(), today()))
            .expect("approved");
        let preimage = fresh_preimage(tag);
        let invoice =
            self.shop.create_invoice(preimage, params(10_000_000, "toll")).await.expect("invoice");
        (preimage, invoice)
    }

    /// Waits until the device's balance has fallen from `opening_sat` by one 10,000 sat toll and
    /// its fee: the settled state (no HTLC, whose output's commitment fee came back) is signed.
    async fn wait_paid_one_toll(&self, opening_sat: u64, outcome: &lnedge_node::PaymentOutcome) {
        let fee_sat = outcome.fee_paid_msat.unwrap_or(0) / 1000;
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            let paid_sat = opening_sat - self.device_balance_sat();
            if (10_000..=10_000 + fee_sat + 1).contains(&paid_sat) {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "paid {paid_sat}, fee {fee_sat}");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn device<R>(&self, f: impl FnOnce(&mut DeviceWallet) -> R) -> R {
        self.link.device.with_device(f)
    }

    fn device_balance_sat(&self) -> u64 {
        self.device(|d| d.book().expect("terms pinned at open").balance_sat())
    }

    fn funding_outpoint(&self) -> OutPoint {
        self.device(|d| d.book().expect("terms").terms().funding_outpoint)
    }

    /// The transaction of the chain (mined or not yet) that spends the channel's funding.
    async fn wait_for_spend(&self) -> bitcoin::Transaction {
        let funding = self.funding_outpoint();
        let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
        loop {
            self.net.mine(1).await;
            let chain = self.net.chain();
            for height in (0..=chain.height()).rev() {
                let block = chain.block(height).expect("block");
                if let Some(tx) = block
                    .txdata
                    .iter()
                    .find(|tx| tx.input.iter().any(|i| i.previous_output == funding))
                {
                    return tx.clone();
                }
            }
            assert!(tokio::time::Instant::now() < deadline, "nothing spent the funding output");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
}

fn today() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_secs() / 86_400
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_pays_through_its_co_signed_channel_and_the_gateway_alone_cannot() {
    let road = TollRoad::new().await;
    let opening_sat = road.device_balance_sat();
    assert!(opening_sat < CAPACITY_SAT && opening_sat > CAPACITY_SAT - 2_000, "{opening_sat}");
    // The device funded the channel from its coin: the funding output is the one it created,
    // and its change came back to it.
    let funding = road.funding_outpoint();
    let coins = road.device(|d| d.coins().to_vec());
    assert_eq!(coins.len(), 1, "the change: {coins:?}");
    assert_eq!(coins[0].outpoint.txid, funding.txid);
    assert_eq!(coins[0].value_sat, CAPACITY_SAT - 500);

    // The device approves a 10,000 sat toll; the gateway pays it two hops away.
    let (preimage, invoice) = road.approved_toll("toll").await;
    let signatures_before = road.cosigner.stats().signatures;
    let outcome = road.gateway.pay(pay_request(&invoice)).await.expect("the toll is paid");
    assert_eq!(outcome.preimage, preimage);
    road.wait_paid_one_toll(opening_sat, &outcome).await;
    // Adding and settling the HTLC each need a joint signature (the second one may finish just
    // after the preimage is in hand).
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while road.cosigner.stats().signatures - signatures_before < 2 {
        assert!(tokio::time::Instant::now() < deadline, "the settled state was never co-signed");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }

    // The gateway alone tries a second toll the device never approved: the device refuses the
    // state, and nothing moves — not the device's balance, not the shop's invoice.
    let refusals_before = road.device(|d| d.counts().0);
    let balance_sat = road.device_balance_sat();
    let preimage = fresh_preimage("stolen");
    let invoice =
        road.shop.create_invoice(preimage, params(10_000_000, "stolen")).await.expect("invoice");
    let attempt = PayRequest { timeout: Duration::from_secs(5), ..pay_request(&invoice) };
    road.gateway.pay(attempt).await.expect_err("the device refused: no payment");
    assert!(road.device(|d| d.counts().0) > refusals_before, "the device logged a refusal");
    assert_eq!(road.device_balance_sat(), balance_sat);
    let state = road.shop.invoice_state(hash_of(&preimage)).await.expect("state");
    assert_eq!(state, InvoiceState::Open, "the shop was not paid");
    road.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_cooperative_close_pays_the_device_its_balance_on_chain() {
    let road = TollRoad::new().await;
    road.device(|d| d.approve_payment(15_000_000, &road.shop.node_id(), today()))
        .expect("approved");
    let invoice = road
        .shop
        .create_invoice(fresh_preimage("before-close"), params(15_000_000, "toll"))
        .await
        .expect("invoice");
    road.gateway.pay(pay_request(&invoice)).await.expect("paid");
    let balance_sat = road.device_balance_sat();

    road.gateway.close_channel(&road.channel, &road.bridge.node_id()).expect("close");
    let closing = road.wait_for_spend().await;
    let close_script =
        road.device(|d| d.book().expect("terms").terms().device_close_script.clone());
    let paid: u64 = closing
        .output
        .iter()
        .filter(|o| o.script_pubkey == close_script)
        .map(|o| o.value.to_sat())
        .sum();
    // The device funded the channel, so it pays the closing fee (within its 2,000 sat cap).
    assert!(paid <= balance_sat && paid + 2_000 >= balance_sat, "paid {paid} of {balance_sat}");
    road.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_force_close_needs_the_device() {
    let road = TollRoad::new().await;
    // The bridge is offline (else it would answer the force close by broadcasting its own
    // commitment, which the device co-signed already), and so is the device.
    road.bridge.stop().await;
    road.link.up.store(false, Ordering::SeqCst);
    let signatures_before = road.device(|d| d.counts().1);
    road.gateway.force_close(&road.channel, &road.bridge.node_id()).expect("force close asked");
    // Without the device the gateway cannot sign its commitment: nothing reaches the chain.
    for _ in 0..20 {
        road.net.mine(1).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let funding = road.funding_outpoint();
    let chain = road.net.chain();
    let spent = (0..=chain.height()).any(|h| {
        chain
            .block(h)
            .expect("block")
            .txdata
            .iter()
            .any(|tx| tx.input.iter().any(|i| i.previous_output == funding))
    });
    assert!(!spent, "the gateway broadcast a commitment without the device");

    // The device is back: LDK asks again, the device co-signs the latest commitment, it confirms.
    road.link.up.store(true, Ordering::SeqCst);
    road.gateway.retry_signatures();
    let commitment = road.wait_for_spend().await;
    let terms = road.device(|d| d.book().expect("terms").terms().clone());
    let number = terms.commitment_number(&commitment, true).expect("the gateway's own commitment");
    let point = road.device(|d| d.book().expect("terms").per_commitment_point(number));
    assert!(
        commitment.output.iter().any(|o| o.script_pubkey == terms.own_to_local_script(&point)),
        "its to_local pays the device's delayed key"
    );
    assert_eq!(road.device(|d| d.counts().1), signatures_before + 1, "one joint signature");
    road.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_restart_in_the_middle_of_a_signature_loses_nothing() {
    let road = TollRoad::new().await;
    let opening_sat = road.device_balance_sat();
    let (preimage, invoice) = road.approved_toll("restart-device").await;
    // The device restarts between the two rounds of the payment's first joint signature.
    road.link.restart_before_finish.store(true, Ordering::SeqCst);
    let gateway = road.gateway.clone();
    let pay = tokio::spawn(async move { gateway.pay(pay_request(&invoice)).await });
    road.wait_settled(&road.gateway, hash_of(&preimage)).await;
    assert!(!road.link.restart_before_finish.load(Ordering::SeqCst), "the device did restart");
    let outcome = pay.await.expect("join").expect("the toll completes after the restart");
    assert_eq!(outcome.preimage, preimage);
    road.wait_paid_one_toll(opening_sat, &outcome).await;
    road.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_gateway_restart_in_the_middle_of_a_payment_loses_nothing() {
    let road = TollRoad::new().await;
    let opening_sat = road.device_balance_sat();
    let (preimage, invoice) = road.approved_toll("restart-gateway").await;
    let signed = road.device(|d| d.counts().1);
    let gateway = road.gateway.clone();
    let pay = tokio::spawn(async move { gateway.pay(pay_request(&invoice)).await });
    // The gateway stops once the device has co-signed the HTLC's first state.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while road.device(|d| d.counts().1) == signed {
        assert!(tokio::time::Instant::now() < deadline, "the device never co-signed");
        tokio::time::sleep(Duration::from_millis(2)).await;
    }
    let gateway = road.net.restart("gateway").await.expect("gateway restarts");
    // The old node's call would only wait for its timeout: the restarted node finishes the payment.
    pay.abort();
    gateway.connect(road.bridge.node_id(), road.bridge.listen_addr()).await.expect("reconnect");
    road.wait_settled(&gateway, hash_of(&preimage)).await;
    // Balances add up: the device paid the toll and its fee once.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let paid_sat = opening_sat - road.device_balance_sat();
        if (10_000..=10_000 + 100).contains(&paid_sat) {
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "the device's balance moved by {paid_sat}");
        gateway.retry_signatures();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    // And the restarted gateway pays the next approved toll.
    let (_, invoice) = road.approved_toll("next").await;
    gateway.pay(pay_request(&invoice)).await.expect("the next toll is paid");
    road.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_device_out_of_reach_is_asked_again_when_it_is_back() {
    let road = TollRoad::new().await;
    let (preimage, invoice) = road.approved_toll("out-of-reach").await;
    road.link.up.store(false, Ordering::SeqCst);
    let gateway = road.gateway.clone();
    let pay = tokio::spawn(async move { gateway.pay(pay_request(&invoice)).await });
    // The payment waits on the device's signature (nothing moves without it)...
    tokio::time::sleep(Duration::from_secs(2)).await;
    assert!(!matches!(
        road.shop.invoice_state(hash_of(&preimage)).await,
        Ok(InvoiceState::Settled { .. })
    ));
    // ...and completes once the device is back, without anyone asking the node to retry.
    road.link.up.store(true, Ordering::SeqCst);
    let outcome = pay.await.expect("join").expect("the toll completes once the device is back");
    assert_eq!(outcome.preimage, preimage);
    road.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_device_asks_its_gateway_to_pay_and_checks_the_preimage() {
    let road = TollRoad::new().await;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let service = lnedge_cosign::tcp::TcpLink::new(
        listener.local_addr().expect("addr"),
        Duration::from_secs(90),
    );
    lnedge_node::sandbox::cosigned::serve_device_requests(
        listener,
        road.gateway.clone(),
        tokio::runtime::Handle::current(),
    );
    let service = Arc::new(service);
    let link = road.link.clone();
    let pay = move |invoice: String| {
        let (link, service) = (link.clone(), service.clone());
        tokio::task::spawn_blocking(move || link.device.pay(&*service, &invoice, today()))
    };

    // SendPayment → the gateway pays two hops away, co-signing with the device → preimage.
    let preimage = fresh_preimage("send-payment");
    let invoice =
        road.shop.create_invoice(preimage, params(12_000_000, "toll")).await.expect("invoice");
    let got = pay(invoice.to_string()).await.expect("join").expect("paid");
    assert_eq!(got, preimage.0);

    // The device refuses before asking: above its per-payment limit, to a payee not on its
    // list, or an invoice it cannot read. The gateway never sees these.
    let big = road
        .shop
        .create_invoice(fresh_preimage("big"), params(20_000_001, "big"))
        .await
        .expect("invoice");
    let err = pay(big.to_string()).await.expect("join").expect_err("over the limit");
    assert!(err.to_string().contains("above the limit"), "{err}");
    let stranger =
        road.bridge.create_invoice(fresh_preimage("x"), params(1_000, "x")).await.expect("invoice");
    let err = pay(stranger.to_string()).await.expect("join").expect_err("not allowed");
    assert!(err.to_string().contains("allow-list"), "{err}");
    let err = pay("lnbcrt1garbage".into()).await.expect("join").expect_err("unreadable");
    assert!(err.to_string().contains("invoice refused"), "{err}");
    road.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refreshed_key_keeps_the_channel_paying() {
    let road = TollRoad::new().await;
    let opening_sat = road.device_balance_sat();
    let (_, invoice) = road.approved_toll("before-refresh").await;
    let outcome = road.gateway.pay(pay_request(&invoice)).await.expect("paid before");
    road.wait_paid_one_toll(opening_sat, &outcome).await;

    // Both shares are refreshed (the joint key, so the channel, stays); the device restarts
    // before the gateway uses the new shares, and keeps its new share across the restart.
    let cosigner = road.cosigner.clone();
    tokio::task::spawn_blocking(move || cosigner.refresh()).await.expect("join").expect("refresh");
    assert_eq!(road.cosigner.epoch(), 1);
    assert_eq!(road.device(|d| d.epoch()), 0, "the device switches on the gateway's first use");
    road.link.device.restart().expect("device restart");

    let balance_sat = road.device_balance_sat();
    let (_, invoice) = road.approved_toll("after-refresh").await;
    let outcome = road.gateway.pay(pay_request(&invoice)).await.expect("paid after the refresh");
    road.wait_paid_one_toll(balance_sat, &outcome).await;
    assert_eq!(road.device(|d| d.epoch()), 1, "the device signs with its new share now");
    road.net.shutdown().await;
}
