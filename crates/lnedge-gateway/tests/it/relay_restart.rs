//! The randomized restart test of the async relay: many payments, each crashing the relay (drop
//! it and its store handle, open new ones on the same file) and sometimes restarting the
//! gateway's node at a random step. Every HTLC must end settled with the payee paid exactly once,
//! or expired with the payer refunded before the claim deadline; balances must add up.
//!
//! It runs twice: with the gateway's one node holding and paying, and with a separate
//! forwarding node paying the payee (ADR 0012; a node restart then restarts both nodes).
//!
//! `LNEDGE_RELAY_RESTART_RUNS` (default 30, 15 with a forwarding node) and
//! `LNEDGE_RELAY_RESTART_SEED` (default random, printed) reproduce a run.

use std::collections::BTreeMap;
use std::sync::Arc;

use lnedge_gateway::relay::Relay;
use lnedge_gateway::store::relay::RelayState;
use lnedge_node::sandbox::SandboxNode;
use lnedge_node::{InvoiceState, LightningBackend};
use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};

use crate::relay::{pay, received, relay_payment, until, Payee, World};

/// Small enough that the payer's side of its channel (1M sat) pays up to ~90 runs.
const AMOUNT_MSAT: u64 = 10_000_000;

/// Where a run crashes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum CrashPoint {
    /// After the invoice was issued, before the payer paid.
    AfterOffer,
    /// After the HTLC was seen held, before the payee woke.
    AfterHeld,
    /// Forwarding persisted, the downstream payment never sent.
    BeforePay,
    /// The downstream payment in flight.
    DuringPay,
    /// After settlement.
    AfterSettled,
    /// Never wakes: crash while holding, before the deadline came.
    WhileWaitingForDeadline,
    /// Never wakes: crash after the cancel point was reached, before the relay ticked.
    AtDeadline,
}

fn outbound_msat(node: &SandboxNode) -> u64 {
    node.channels().iter().map(|c| c.outbound_capacity_msat).sum()
}

struct Gateway {
    relay: Relay,
    node: Arc<SandboxNode>,
    /// The forwarding node, if the gateway has one.
    forward: Option<Arc<SandboxNode>>,
}

impl Gateway {
    fn new(w: &World, node: Arc<SandboxNode>, forward: Option<Arc<SandboxNode>>) -> Gateway {
        let relay = w.relay(w.store(), node.clone());
        let relay = match &forward {
            Some(f) => relay.with_forward_node(f.clone()),
            None => relay,
        };
        Gateway { relay, node, forward }
    }
}

/// The crash: the relay's tasks stop, its store handle is dropped, new ones open the same file;
/// with `node`, the gateway's node (and forwarding node) restart too.
async fn crash(w: &World, gw: Gateway, node: bool) -> Gateway {
    gw.relay.abort();
    drop(gw.relay);
    if !node {
        return Gateway::new(w, gw.node, gw.forward);
    }
    let holding = w.net.restart("gateway").await.expect("restart");
    let forward = match gw.forward {
        Some(_) => Some(w.net.restart("forward").await.expect("restart the forwarding node")),
        None => None,
    };
    Gateway::new(w, holding, forward)
}

/// Waits until the payer's channel to the gateway's node is usable. A node restart returns once
/// both ends of its channels are usable again, but a connection may still drop on a busy machine
/// (a ping timeout) until the dialing side dials again: the payer's one attempt to pay would then
/// find no route. Paying over a connected channel is the test's precondition, not what it tests.
async fn usable_first_hop(payer: &SandboxNode, gateway: &SandboxNode, run: usize) {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(60);
    let usable = || {
        payer.channels().iter().any(|c| c.counterparty.node_id == gateway.node_id() && c.is_usable)
    };
    while !usable() {
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {run}: the payer's channel to the gateway did not become usable"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Ticks the relay until the payer's HTLC is held; if the payer's `pay` gives up first, says
/// why (and what the payer's channels looked like) instead of waiting out the deadline.
async fn held_or_refused(
    relay: &Relay,
    hash: &[u8; 32],
    payer: &SandboxNode,
    paying: &mut tokio::task::JoinHandle<
        Result<lnedge_node::PaymentOutcome, lnedge_node::BackendError>,
    >,
    run: usize,
) -> lnedge_gateway::store::relay::RelayPayment {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(120);
    loop {
        let _ = relay.tick().await;
        let p = relay_payment(relay, hash).await;
        if p.state == RelayState::Held {
            return p;
        }
        if paying.is_finished() {
            let outcome = paying.await.expect("join");
            let channels: Vec<_> = payer
                .channels()
                .iter()
                .map(|c| (c.counterparty.node_id, c.is_channel_ready, c.is_usable))
                .collect();
            panic!("run {run}: the payer's payment ended before it was held: {outcome:?}; payer channels {channels:?}; {p:?}");
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "run {run}: payment did not become held: {p:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

/// Drives a claimed payment to a final state the way a payee agent would: whenever it is held
/// again (a failed downstream attempt), the payee claims again.
async fn finish(
    relay: &Relay,
    payee: &Payee,
    sensor: &SandboxNode,
    hash: &[u8; 32],
) -> lnedge_gateway::store::relay::RelayPayment {
    let deadline = tokio::time::Instant::now() + std::time::Duration::from_secs(90);
    loop {
        let _ = relay.tick().await;
        let p = relay_payment(relay, hash).await;
        match p.state {
            RelayState::Settled | RelayState::Cancelled | RelayState::Expired => return p,
            RelayState::Held => {
                let _ = payee.claim(relay, sensor, &p).await;
            }
            _ => {}
        }
        assert!(tokio::time::Instant::now() < deadline, "stuck: {p:?}");
        tokio::time::sleep(std::time::Duration::from_millis(25)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_restarts_lose_and_double_pay_nothing() {
    randomized_restarts(false, 30).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn randomized_restarts_with_a_forwarding_node_lose_and_double_pay_nothing() {
    randomized_restarts(true, 15).await;
}

async fn randomized_restarts(with_forward_node: bool, default_runs: usize) {
    let runs: usize = std::env::var("LNEDGE_RELAY_RESTART_RUNS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default_runs);
    let seed: u64 = std::env::var("LNEDGE_RELAY_RESTART_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(rand::random);
    println!("relay restart test: {runs} runs, seed {seed}, forwarding node {with_forward_node}");
    let mut rng = StdRng::seed_from_u64(seed);
    let w = World::new().await;
    let forward = if with_forward_node {
        let forward = w.net.add_node("forward").await.expect("forwarding node");
        // Pushes the sensor past its channel reserve, so its outbound capacity (the balance
        // measure below) grows by exactly what it receives.
        w.net.open_channel(&forward, &w.sensor, 2_000_000, 100_000_000).await.expect("channel");
        Some(forward)
    } else {
        None
    };
    let mut gw = Gateway::new(&w, w.gateway.clone(), forward);
    let payee = Payee::enrol(&gw.relay, runs).await;
    let payer_before = outbound_msat(&w.payer);
    let sensor_before = outbound_msat(&w.sensor);
    let (mut paid_by_payer, mut received_by_sensor) = (0u64, 0u64);
    let mut points: BTreeMap<CrashPoint, u32> = BTreeMap::new();
    let mut node_restarts = 0u32;
    let mut cancelled = 0u32;

    for run in 0..runs {
        let wakes = rng.gen_bool(0.75);
        let point = if wakes {
            [
                CrashPoint::AfterOffer,
                CrashPoint::AfterHeld,
                CrashPoint::BeforePay,
                CrashPoint::DuringPay,
                CrashPoint::AfterSettled,
            ][rng.gen_range(0..5)]
        } else {
            [CrashPoint::WhileWaitingForDeadline, CrashPoint::AtDeadline][rng.gen_range(0..2)]
        };
        let restart_node = rng.gen_bool(0.3);
        *points.entry(point).or_default() += 1;
        node_restarts += u32::from(restart_node);
        let description = format!("run {run}");
        println!(
            "run {run}: {point:?}, node restart {restart_node}, height {}",
            w.net.chain().height()
        );

        let offer = gw.relay.offer(&payee.id, AMOUNT_MSAT, &description).await.expect("offer");
        let hash = offer.payment_hash;
        if point == CrashPoint::AfterOffer {
            gw = crash(&w, gw, restart_node).await;
        }
        usable_first_hop(&w.payer, &gw.node, run).await;
        let mut paying = pay(&w.payer, &offer.bolt11);
        let held = held_or_refused(&gw.relay, &hash, &w.payer, &mut paying, run).await;
        let deadline = held.claim_deadline_height.expect("deadline");
        let claim_amount = AMOUNT_MSAT - held.fee_msat.expect("fee");

        if wakes {
            if point == CrashPoint::AfterHeld {
                gw = crash(&w, gw, restart_node).await;
            }
            let held = relay_payment(&gw.relay, &hash).await;
            if point == CrashPoint::BeforePay {
                // The claim is persisted as forwarding, then the process dies before paying.
                let invoice = payee.invoice(&*w.sensor, &held).await;
                let mut forwarding = held.clone();
                forwarding.state = RelayState::Forwarding;
                forwarding.claim_bolt11 = Some(invoice.to_string());
                forwarding.attempts = 1;
                gw.relay
                    .store()
                    .update_relay_payment(&forwarding)
                    .await
                    .expect("write")
                    .expect("won");
                gw = crash(&w, gw, restart_node).await;
            } else {
                payee.claim(&gw.relay, &*w.sensor, &held).await.expect("claim");
                if point == CrashPoint::DuringPay {
                    gw = crash(&w, gw, restart_node).await;
                }
            }
            let end = finish(&gw.relay, &payee, &w.sensor, &hash).await;
            if end.state == RelayState::Cancelled {
                // The downstream payment failed for good (e.g. the node restarted under it and
                // the retries were used up): the payer is refunded, the sensor got nothing.
                let refused = paying.await.expect("join");
                assert!(refused.is_err(), "run {run}: the payer was failed back");
                assert!(w.net.chain().height() < deadline, "run {run}: before the deadline");
                assert_ne!(
                    received(&w.sensor, &hash).await,
                    InvoiceState::Settled { amount_msat: claim_amount },
                    "run {run}: cancelled upstream although the sensor was paid"
                );
                cancelled += 1;
                continue;
            }
            let settled = end;
            if point == CrashPoint::AfterSettled {
                gw = crash(&w, gw, restart_node).await;
                gw.relay.tick().await.expect("tick");
                assert_eq!(relay_payment(&gw.relay, &hash).await.state, RelayState::Settled);
            }
            let outcome = paying.await.expect("join").expect("the payer's payment completes");
            assert_eq!(crate::relay::hash(&outcome.preimage.0), hash, "run {run}");
            assert_eq!(
                received(&w.sensor, &hash).await,
                InvoiceState::Settled { amount_msat: claim_amount },
                "run {run}: the sensor was paid"
            );
            assert!(settled.attempts >= 1);
            paid_by_payer += AMOUNT_MSAT;
            received_by_sensor += claim_amount;
        } else {
            let margin = gw.relay.settings().cancel_margin_blocks;
            let to_cancel_point = deadline - margin - w.net.chain().height();
            if point == CrashPoint::WhileWaitingForDeadline {
                w.net.mine(to_cancel_point / 2).await;
                gw = crash(&w, gw, restart_node).await;
                gw.relay.tick().await.expect("tick");
                assert_eq!(relay_payment(&gw.relay, &hash).await.state, RelayState::Held);
                w.net.mine(to_cancel_point - to_cancel_point / 2).await;
            } else {
                w.net.mine(to_cancel_point).await;
                gw = crash(&w, gw, restart_node).await;
            }
            until(&gw.relay, &hash, RelayState::Expired).await;
            let refused = paying.await.expect("join");
            assert!(refused.is_err(), "run {run}: the payer was failed back");
            assert!(w.net.chain().height() < deadline, "run {run}: before the claim deadline");
            let sensor = w.sensor.invoice_state(lnedge_node::PaymentHash(hash)).await;
            assert!(
                matches!(
                    sensor,
                    Ok(InvoiceState::Open) | Err(lnedge_node::BackendError::UnknownPaymentHash(_))
                ),
                "run {run}: the sensor received nothing: {sensor:?}"
            );
        }
    }

    // Every payment is final, and the money adds up: nothing lost, nothing paid twice.
    let active = gw
        .relay
        .store()
        .relay_payments(&lnedge_gateway::store::relay::RelayFilter {
            payee_id: None,
            active_only: true,
        })
        .await
        .expect("list");
    assert!(active.is_empty(), "stuck payments: {active:?}");
    assert_eq!(
        payer_before - outbound_msat(&w.payer),
        paid_by_payer,
        "the payer paid exactly the settled runs"
    );
    assert_eq!(
        outbound_msat(&w.sensor) - sensor_before,
        received_by_sensor,
        "the sensor got each claim once"
    );
    println!(
        "relay restart test (forwarding node {with_forward_node}): crash points {points:?}, \
         node restarts {node_restarts}, cancelled after failed forwards {cancelled}"
    );
    w.net.shutdown().await;
}
