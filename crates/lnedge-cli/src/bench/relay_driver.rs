//! `lnedge bench --relay-driver`: what one pass of the relay's driver costs with many payments
//! held (issue #17), in the same run: the **full pass** (every active payment read from the
//! store and checked with the node — what the driver did every 250 ms before it was woken by
//! events, and still does every `full_pass_interval`) against the **pass with nothing due**
//! (what it does whenever it wakes and nothing changed), and the pass with one payment woken
//! (what an event costs).
//!
//! The payments are real: hold invoices of a sandbox node (real LDK) offered through the relay
//! and recorded as held in the gateway's SQLite store, with deadlines far ahead; no HTLCs are
//! sent (holding ten thousand needs a hundred payer channels: `--relay` does that with real
//! HTLCs up to 5,000).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use lnedge_gateway::relay::{Relay, RelaySettings};
use lnedge_gateway::store::relay::RelayState;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_node::bitcoin::hashes::{sha256, Hash};
use lnedge_node::sandbox::SandboxNetwork;
use serde::Serialize;

use super::stats::{self, Summary};

/// The figures.
#[derive(Debug, Serialize)]
pub(crate) struct DriverFigures {
    tool: &'static str,
    build: &'static str,
    cores: usize,
    held_payments: usize,
    /// Seconds to offer and record them (setup, for scale).
    setup_secs: f64,
    /// Resident memory of the whole process (sandbox node included) before the payments were
    /// offered, and after the full passes (the schedule planned for all of them), in MiB.
    rss_before_mib: Option<f64>,
    rss_held_mib: Option<f64>,
    /// Full passes measured, and their cost.
    full_passes: usize,
    full_pass_p50_ms: f64,
    full_pass_max_ms: f64,
    /// Passes with nothing due measured, and their cost.
    idle_passes: usize,
    idle_pass_p50_us: f64,
    idle_pass_p99_us: f64,
    /// Passes with one payment woken (an event about it: read from the store, checked with
    /// the node, planned again), and their cost.
    woken_passes: usize,
    woken_pass_p50_us: f64,
    woken_pass_p99_us: f64,
    /// The full pass over the idle pass (p50 / p50).
    ratio: f64,
}

/// Runs it with `held` payments.
pub(crate) async fn run(held: usize) -> Result<DriverFigures> {
    let net = SandboxNetwork::new().await?;
    let gateway = net.add_node("gateway").await?;
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::open(&dir.path().join("gw.sqlite3"))?);
    let relay =
        Relay::new(store.clone(), gateway.clone(), rand::random(), RelaySettings::default());
    let rss_before = super::relay::rss_kib();
    let setup = Instant::now();
    let (payee, _) = relay.register("sensors").await?;
    let hashes: Vec<[u8; 32]> = (0..held)
        .map(|_| sha256::Hash::hash(&rand::random::<[u8; 32]>()).to_byte_array())
        .collect();
    for chunk in hashes.chunks(1_000) {
        relay.commit(&payee.id, chunk).await?;
    }
    let height = relay.height().await?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    for _ in 0..held {
        let offer = relay.offer(&payee.id, 10_000, "bench").await?;
        let mut payment = store.relay_payment(&offer.payment_hash).await?.context("offered")?;
        payment.state = RelayState::Held;
        payment.held_amount_msat = Some(10_000);
        payment.claim_deadline_height = Some(height + 250);
        payment.held_at = Some(now);
        payment.fee_msat = Some(relay.settings().fee_msat(10_000));
        payment.next_notify_at = now;
        store.update_relay_payment(&payment).await?.context("recorded as held")?;
    }
    let setup_secs = setup.elapsed().as_secs_f64();

    let mut full = Vec::new();
    for _ in 0..3 {
        let t = Instant::now();
        let report = relay.tick().await?;
        full.push(t.elapsed());
        anyhow::ensure!(report.active as usize == held && report.moved == 0, "{report:?}");
    }
    let rss_held = super::relay::rss_kib();
    let mut idle = Vec::new();
    for _ in 0..10_000 {
        let t = Instant::now();
        let report = relay.pass(height).await?;
        idle.push(t.elapsed());
        anyhow::ensure!(report.active == 0, "something was due: {report:?}");
    }
    let schedule = relay.schedule();
    let mut woken = Vec::new();
    for i in 0..1_000 {
        schedule.wake(hashes[(i * 7_919) % held]);
        let t = Instant::now();
        let report = relay.pass(height).await?;
        woken.push(t.elapsed());
        anyhow::ensure!(report.active == 1 && report.moved == 0, "{report:?}");
    }
    net.shutdown().await;
    let (f, i, w) = (Summary::of(&mut full), Summary::of(&mut idle), Summary::of(&mut woken));
    Ok(DriverFigures {
        tool: "lnedge bench --relay-driver",
        build: stats::build(),
        cores: stats::cores(),
        held_payments: held,
        setup_secs: (setup_secs * 10.0).round() / 10.0,
        rss_before_mib: rss_before.map(|k| (k as f64 / 102.4).round() / 10.0),
        rss_held_mib: rss_held.map(|k| (k as f64 / 102.4).round() / 10.0),
        full_passes: f.count,
        full_pass_p50_ms: stats::ms(f.p50),
        full_pass_max_ms: stats::ms(f.max),
        idle_passes: i.count,
        idle_pass_p50_us: stats::us(i.p50),
        idle_pass_p99_us: stats::us(i.p99),
        woken_passes: w.count,
        woken_pass_p50_us: stats::us(w.p50),
        woken_pass_p99_us: stats::us(w.p99),
        ratio: (f.p50.as_secs_f64() / i.p50.as_secs_f64().max(1e-9)).round(),
    })
}
