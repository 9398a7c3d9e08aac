//! The conformance suite on the sandbox network, plus sandbox-specific behaviour.

use std::sync::Arc;

use async_trait::async_trait;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::LightningBackend;

use crate::conformance::{self, Harness};

/// `payer` ⇄ `merchant` with one announced channel, liquidity on both sides.
struct SandboxHarness {
    net: SandboxNetwork,
    backend: Arc<SandboxNode>,
    payer: Arc<SandboxNode>,
}

impl SandboxHarness {
    async fn new() -> Self {
        let net = SandboxNetwork::new().await.expect("network");
        let [payer, backend] = net.line(["payer", "merchant"], 2_000_000).await.expect("line");
        SandboxHarness { net, backend, payer }
    }
}

#[async_trait]
impl Harness for SandboxHarness {
    fn backend(&self) -> Arc<dyn LightningBackend> {
        self.backend.clone()
    }
    fn payer(&self) -> Arc<dyn LightningBackend> {
        self.payer.clone()
    }
    async fn mine_blocks(&self, n: u32) {
        self.net.mine(n).await;
    }
    async fn restart_backend(&mut self) {
        self.backend = self.net.restart("merchant").await.expect("restart");
    }
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let mut h = SandboxHarness::new().await;
            conformance::$name(&mut h).await;
            h.net.shutdown().await;
        }
    )*};
}

conformance::with_scenarios!(conformance_tests!());

/// A payment crosses two hops: the router forwards it and earns a fee, balances move.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hop_payment_routes_through_the_router() {
    let net = SandboxNetwork::new().await.expect("network");
    let [payer, router, merchant] =
        net.line(["payer", "router", "merchant"], 1_000_000).await.expect("line");
    let preimage = conformance::fresh_preimage("two-hop");
    let invoice = merchant
        .create_invoice(preimage, conformance::params(25_000_000, "two hops"))
        .await
        .expect("invoice");
    let router_before: u64 = router.channels().iter().map(|c| c.outbound_capacity_msat).sum();
    let outcome = payer.pay(conformance::pay_request(&invoice)).await.expect("paid over two hops");
    assert_eq!(outcome.preimage, preimage);
    let fee = outcome.fee_paid_msat.expect("LDK reports the fee");
    assert!(fee > 0, "the router charges a forwarding fee");
    // The router's outbound liquidity grew by its fee (it received amount+fee, sent amount).
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(10);
    loop {
        let router_after: u64 = router.channels().iter().map(|c| c.outbound_capacity_msat).sum();
        if router_after == router_before + fee {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "router balance {router_before} -> {router_after}, fee {fee}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    net.shutdown().await;
}

/// Restarting a node of a two-hop line keeps routing working.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn router_restart_keeps_the_route() {
    let net = SandboxNetwork::new().await.expect("network");
    let [payer, _router, merchant] =
        net.line(["payer", "router", "merchant"], 1_000_000).await.expect("line");
    net.restart("router").await.expect("restart router");
    let preimage = conformance::fresh_preimage("after-router-restart");
    let invoice = merchant
        .create_invoice(preimage, conformance::params(1_000_000, "x"))
        .await
        .expect("invoice");
    let outcome = payer.pay(conformance::pay_request(&invoice)).await.expect("paid after restart");
    assert_eq!(outcome.preimage, preimage);
    net.shutdown().await;
}

/// Bad names are refused with a clear error.
#[tokio::test]
async fn bad_node_names_are_refused() {
    let net = SandboxNetwork::new().await.expect("network");
    let err = net.add_node("no spaces").await.expect_err("space");
    assert!(err.to_string().contains("node name"), "{err}");
    net.add_node("a").await.expect("first");
    let err = net.add_node("a").await.expect_err("taken");
    assert!(err.to_string().contains("taken"), "{err}");
    assert!(net.node("missing").is_err());
    net.shutdown().await;
}

/// A payment held for a while leaves the payer connected to its channel peer when it settles.
///
/// The driver used to go round at once for as long as LDK reported HTLC processing as needed,
/// which LDK does while a payment with retries left is in flight: it skipped its timers for the
/// whole hold, then fired the missed channel manager ticks back to back as the payment settled,
/// while the payer waited for the merchant's `revoke_and_ack`. LDK disconnects a peer that has
/// not answered within two ticks, and the payer's next payment then found no usable channel.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_long_held_payment_settles_without_disconnecting_the_payer() {
    let net = SandboxNetwork::new().await.expect("network");
    let [payer, merchant] = net.line(["payer", "merchant"], 2_000_000).await.expect("line");
    let preimage = conformance::fresh_preimage("long-hold");
    let invoice = merchant
        .create_hold_invoice(conformance::hash_of(&preimage), conformance::params(50_000, "hold"))
        .await
        .expect("hold invoice");
    let (pay, _) = conformance::pay_and_hold(payer.clone(), &*merchant, &invoice).await;
    // Held across several of the driver's timer periods.
    tokio::time::sleep(std::time::Duration::from_secs(5)).await;
    merchant.settle_hold_invoice(preimage).await.expect("settle");
    let outcome = pay.await.expect("join").expect("paid once settled");
    assert_eq!(outcome.preimage, preimage);
    // The commitment updates that follow the settlement complete without a disconnection.
    let merchant_id = merchant.node_id();
    for _ in 0..300 {
        let channels = payer.channels();
        assert!(
            channels.iter().any(|c| c.counterparty.node_id == merchant_id && c.is_usable),
            "the payer's channel to the merchant went down after the settlement: {:?}",
            channels.iter().map(|c| (c.is_channel_ready, c.is_usable)).collect::<Vec<_>>()
        );
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    net.shutdown().await;
}
