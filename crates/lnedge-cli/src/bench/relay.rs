//! `lnedge bench --relay`: the async relay's overhead on top of a direct payment, and how many
//! held payments one gateway sustains at once.
//!
//! Topology: payer → gateway → sensor (sandbox). The direct scenario pays the sensor's invoice
//! over the gateway (2 hops). The relay scenario pays the gateway's hold invoice for the
//! sensor's hash (1 hop); the relay sees it held, the (awake) sensor claims at once, the gateway
//! pays the sensor (1 hop) and settles: from the payer's `pay` to its preimage. The relay is
//! driven by a tight tick loop here (1 ms), so the figure is the relay's own cost, not a polling
//! interval (the service is woken by the node's held event: ADR 0019).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use lnedge_gateway::relay::{Relay, RelaySettings};
use lnedge_gateway::store::relay::{RelayFilter, RelayState};
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_node::bitcoin::hashes::{sha256, Hash};
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{parse_invoice, LightningBackend, PaymentPreimage};
use serde::Serialize;

use super::stats::{self, ms, Summary};
use crate::util::{params, pay_request, random_preimage};

/// HTLCs per payer channel in the held scenario.
const HTLCS_PER_PAYER: usize = 100;

/// Latency of one scenario.
#[derive(Debug, Serialize)]
pub(crate) struct Latency {
    scenario: &'static str,
    payments: usize,
    p50_ms: f64,
    p99_ms: f64,
    mean_ms: f64,
}

impl Latency {
    fn of(scenario: &'static str, mut samples: Vec<Duration>) -> Self {
        let s = Summary::of(&mut samples);
        Latency {
            scenario,
            payments: s.count,
            p50_ms: ms(s.p50),
            p99_ms: ms(s.p99),
            mean_ms: ms(s.mean),
        }
    }
}

/// Holding many payments at once.
#[derive(Debug, Serialize)]
pub(crate) struct Held {
    attempted: usize,
    held_payments: usize,
    refused_before_held: usize,
    payer_nodes: usize,
    offer_all_ms: f64,
    all_held_ms: f64,
    tick_with_all_held_ms: f64,
    /// From the earliest cancel point until the relay has no active payment left, the chain
    /// moving on `release_step_blocks` at a time with a relay pass after each step.
    relay_released_ms: f64,
    /// Blocks mined from the earliest to the latest cancel point.
    release_blocks: u32,
    /// Blocks mined per step.
    release_step_blocks: u32,
    /// Until, in addition, every payer's `pay` has returned its failure.
    release_all_ms: f64,
    rss_before_kib: Option<u64>,
    rss_held_kib: Option<u64>,
}

/// The report.
#[derive(Debug, Serialize)]
pub(crate) struct RelayFigures {
    tool: &'static str,
    build: &'static str,
    cores: usize,
    latency: Vec<Latency>,
    relay_overhead_p50_ms: f64,
    relay_overhead_p99_ms: f64,
    held: Held,
}

/// The process's resident set size (Linux), in KiB.
pub(super) fn rss_kib() -> Option<u64> {
    let status = std::fs::read_to_string("/proc/self/status").ok()?;
    let line = status.lines().find(|l| l.starts_with("VmRSS:"))?;
    line.split_whitespace().nth(1)?.parse().ok()
}

struct Sensor {
    id: String,
    preimages: HashMap<[u8; 32], [u8; 32]>,
}

async fn enrol(relay: &Relay, hashes: usize) -> Result<Sensor> {
    let (payee, _) = relay.register("bench sensor").await?;
    let mut preimages = HashMap::new();
    let mut all = Vec::new();
    for _ in 0..hashes {
        let p: [u8; 32] = rand::random();
        let h = sha256::Hash::hash(&p).to_byte_array();
        preimages.insert(h, p);
        all.push(h);
    }
    for chunk in all.chunks(1000) {
        relay.commit(&payee.id, chunk).await?;
    }
    Ok(Sensor { id: payee.id, preimages })
}

/// One relayed payment with an awake sensor; returns the payer's latency.
async fn relayed_payment(
    relay: &Relay,
    sensor: &Sensor,
    payer: &Arc<SandboxNode>,
    node: &SandboxNode,
) -> Result<Duration> {
    let offer = relay.offer(&sensor.id, 10_000_000, "bench").await?;
    let invoice = parse_invoice(&offer.bolt11)?;
    let t = Instant::now();
    let paying = tokio::spawn({
        let payer = payer.clone();
        async move { payer.pay(pay_request(&invoice)).await }
    });
    let hash = offer.payment_hash;
    let deadline = Instant::now() + Duration::from_secs(60);
    loop {
        relay.tick().await?;
        let p = relay.store().relay_payment(&hash).await?.context("relay payment")?;
        match p.state {
            RelayState::Held => {
                let preimage = sensor.preimages[&hash];
                let amount = p.held_amount_msat.unwrap_or(0) - p.fee_msat.unwrap_or(0);
                let invoice =
                    node.create_invoice(PaymentPreimage(preimage), params(amount, "bench")).await?;
                relay.claim(&sensor.id, &invoice.to_string()).await?;
            }
            RelayState::Settled => break,
            RelayState::Offered | RelayState::Forwarding => {}
            other => bail!("relayed payment ended {other}: {p:?}"),
        }
        if Instant::now() > deadline {
            bail!("relayed payment stuck: {p:?}");
        }
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
    paying.await??;
    Ok(t.elapsed())
}

/// Runs the relay benchmark: `payments` sequential payments per latency scenario, then `held`
/// payments held at once.
pub(crate) async fn run(payments: usize, held: usize) -> Result<RelayFigures> {
    const WARMUP: usize = 10;
    let net = SandboxNetwork::new().await?;
    let [payer, gateway, sensor_node] =
        net.line(["payer", "gateway", "sensor"], 16_000_000).await?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::open(&dir.path().join("gw.sqlite3"))?);
    let mut settings = RelaySettings::default();
    settings.poll_interval = Duration::from_millis(1);
    let relay = Relay::new(store.clone(), gateway.clone(), rand::random(), settings);
    let sensor = enrol(&relay, WARMUP + payments + held).await?;

    // Direct: the sensor's own invoice, paid over the gateway.
    let mut direct = Vec::new();
    for i in 0..WARMUP + payments {
        let (preimage, _) = random_preimage();
        let invoice = sensor_node.create_invoice(preimage, params(10_000_000, "direct")).await?;
        let t = Instant::now();
        payer.pay(pay_request(&invoice)).await?;
        if i >= WARMUP {
            direct.push(t.elapsed());
        }
    }
    let mut relayed = Vec::new();
    for i in 0..WARMUP + payments {
        let d = relayed_payment(&relay, &sensor, &payer, &sensor_node).await?;
        if i >= WARMUP {
            relayed.push(d);
        }
    }
    let direct = Latency::of("direct_2_hops", direct);
    let relayed = Latency::of("relayed_awake_payee", relayed);

    // Many held at once: one payer node (and channel) per 100 HTLCs. A channel carries at most
    // 483, but its funder must also afford the commitment fee of every HTLC output: at the
    // sandbox's feerate a 16M-sat channel stops taking HTLCs at about 130.
    let payer_nodes = held.div_ceil(HTLCS_PER_PAYER).max(1);
    let mut payers = vec![payer.clone()];
    for i in 1..payer_nodes {
        let extra = net.add_node(&format!("payer{i}")).await?;
        net.open_channel(&extra, &gateway, 16_000_000, 0).await?;
        payers.push(extra);
    }
    if payer_nodes > 1 {
        net.wait_for_gossip().await?;
    }
    let rss_before_kib = rss_kib();
    let t = Instant::now();
    let mut offers = Vec::with_capacity(held);
    for _ in 0..held {
        offers.push(relay.offer(&sensor.id, 5_000_000, "held").await?);
    }
    let offer_all = t.elapsed();
    let t = Instant::now();
    let mut tasks = Vec::with_capacity(held);
    for (i, offer) in offers.iter().enumerate() {
        let payer = payers[i % payers.len()].clone();
        let invoice = parse_invoice(&offer.bolt11)?;
        tasks.push(tokio::spawn(async move {
            let mut request = pay_request(&invoice);
            request.timeout = Duration::from_secs(600);
            payer.pay(request).await
        }));
    }
    let active = RelayFilter { payee_id: Some(sensor.id.clone()), active_only: true };
    let deadline = Instant::now() + Duration::from_secs(600);
    let (held_now, refused) = loop {
        relay.tick().await?;
        let list = store.relay_payments(&active).await?;
        let state: HashMap<[u8; 32], RelayState> =
            list.iter().map(|p| (p.payment_hash, p.state)).collect();
        let held_now = list.iter().filter(|p| p.state == RelayState::Held).count();
        // A payer attempt that ended while its invoice is still offered was refused on the way.
        let refused = offers
            .iter()
            .zip(&tasks)
            .filter(|(o, t)| {
                t.is_finished() && state.get(&o.payment_hash) == Some(&RelayState::Offered)
            })
            .count();
        if held_now + refused >= held {
            break (held_now, refused);
        }
        if Instant::now() > deadline {
            bail!(
                "not every payment was held or refused in time: {held_now} held, {refused} refused"
            );
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let all_held = t.elapsed();
    let rss_held_kib = rss_kib();
    let t = Instant::now();
    relay.tick().await?;
    let tick = t.elapsed();

    // Release: the deadline comes, the relay fails every payer back.
    // Invoices that were never paid are cancelled rather than waited for.
    for p in store.relay_payments(&active).await? {
        if p.state == RelayState::Offered {
            gateway.cancel_hold_invoice(lnedge_node::PaymentHash(p.payment_hash)).await?;
        }
    }
    // Deadlines differ (payers add a random CLTV offset). Time then moves on a few blocks at a
    // time with a relay pass in between, as in the service (a block every ~10 min, a pass every
    // 250 ms): mining every block at once would run past the payers' own HTLC expiries before
    // the relay looked, and the payers would force-close their channels to time the HTLCs out.
    let first = store.relay_payments(&active).await?;
    let margin = relay.settings().cancel_margin_blocks;
    let earliest = first.iter().filter_map(|p| p.claim_deadline_height).min().unwrap_or(0);
    let to_first_cancel = earliest.saturating_sub(margin).saturating_sub(net.chain().height());
    net.mine(to_first_cancel).await;
    let step = (margin / 2).max(1);
    let t = Instant::now();
    let deadline = Instant::now() + Duration::from_secs(600);
    let mut blocks_stepped = 0u32;
    loop {
        relay.tick().await?;
        if store.relay_payments(&active).await?.is_empty() {
            break;
        }
        if Instant::now() > deadline {
            bail!("not every held payment was released in time");
        }
        net.mine(step).await;
        blocks_stepped += step;
    }
    let relay_released = t.elapsed();
    for task in tasks {
        if task.await?.is_ok() {
            bail!("a payment that was never claimed succeeded");
        }
    }
    let release = t.elapsed();
    net.shutdown().await;

    Ok(RelayFigures {
        tool: "lnedge bench --relay",
        build: stats::build(),
        cores: stats::cores(),
        relay_overhead_p50_ms: ((relayed.p50_ms - direct.p50_ms) * 100.0).round() / 100.0,
        relay_overhead_p99_ms: ((relayed.p99_ms - direct.p99_ms) * 100.0).round() / 100.0,
        latency: vec![direct, relayed],
        held: Held {
            attempted: held,
            held_payments: held_now,
            refused_before_held: refused,
            payer_nodes,
            offer_all_ms: ms(offer_all),
            all_held_ms: ms(all_held),
            relay_released_ms: ms(relay_released),
            release_blocks: blocks_stepped,
            release_step_blocks: step,
            tick_with_all_held_ms: ms(tick),
            release_all_ms: ms(release),
            rss_before_kib,
            rss_held_kib,
        },
    })
}
