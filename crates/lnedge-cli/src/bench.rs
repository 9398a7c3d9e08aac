//! `lnedge bench`: payment latency on the sandbox network, printed as a table or JSON.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use clap::Args;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_node::{BackendEvent, LightningBackend};
use serde::Serialize;

use crate::util::{params, pay_request, random_preimage};

/// Options of `lnedge bench`.
#[derive(Debug, Args)]
pub(crate) struct BenchArgs {
    /// Payments measured per scenario (after 20 warm-up payments).
    #[arg(long, default_value_t = 200, value_parser = at_least_10)]
    payments: u32,
    /// Print one JSON object instead of a table.
    #[arg(long)]
    json: bool,
    /// Measure the gateway instead: concurrent device syncs and the sales report.
    #[arg(long)]
    gateway: bool,
    /// With --gateway: PostgreSQL URL (SQLite in a temporary directory when absent).
    #[arg(long, requires = "gateway")]
    database_url: Option<String>,
    /// Measure the async relay instead: overhead on a direct payment, many held payments.
    #[arg(long, conflicts_with = "gateway")]
    relay: bool,
    /// Measure proof-of-payment verification instead (valid proofs and forgeries; --payments
    /// proofs of each kind).
    #[arg(long, conflicts_with_all = ["gateway", "relay", "deputy"])]
    proofs: bool,
    /// With --relay: how many payments are held at once.
    #[arg(long, default_value_t = 100, requires = "relay", value_parser = clap::value_parser!(u32).range(1..=5_000))]
    held: u32,
    /// With --gateway: how many devices sync concurrently.
    #[arg(long, default_value_t = 200, requires = "gateway", value_parser = clap::value_parser!(u32).range(1..=10_000))]
    devices: u32,
    /// Measure deputy sales instead: LNURL fetch + callback (invoice creation) round trips.
    #[arg(long, conflicts_with_all = ["gateway", "relay"])]
    deputy: bool,
    /// With --deputy: concurrent wallets (each at its own terminal).
    #[arg(long, default_value_t = 100, requires = "deputy", value_parser = clap::value_parser!(u32).range(1..=2_000))]
    wallets: u32,
    /// With --deputy: round trips per wallet.
    #[arg(long, default_value_t = 10, requires = "deputy", value_parser = clap::value_parser!(u32).range(1..=1_000))]
    sales_per_wallet: u32,
}

fn at_least_10(text: &str) -> Result<u32, String> {
    let n: u32 = text.parse().map_err(|e| format!("{e}"))?;
    if n < 10 {
        return Err(format!("{n} is too few: measure at least 10 payments"));
    }
    Ok(n)
}

/// Latency percentiles of one scenario, in milliseconds.
#[derive(Debug, Serialize)]
struct Figures {
    scenario: &'static str,
    payments: usize,
    p50_ms: f64,
    p90_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    mean_ms: f64,
    payments_per_sec: f64,
}

/// The `q` quantile (nearest rank) of `sorted` samples, in milliseconds with 2 decimals.
pub(crate) fn percentile_ms(sorted: &[Duration], q: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * q).round() as usize;
    sorted
        .get(i.min(sorted.len().saturating_sub(1)))
        .map_or(0.0, |d| (d.as_secs_f64() * 100_000.0).round() / 100.0)
}

impl Figures {
    fn from_samples(scenario: &'static str, mut samples: Vec<Duration>, wall: Duration) -> Self {
        samples.sort();
        let ms = |d: Duration| (d.as_secs_f64() * 1000.0 * 100.0).round() / 100.0;
        let pick = |q: f64| percentile_ms(&samples, q);
        let total: Duration = samples.iter().sum();
        Figures {
            scenario,
            payments: samples.len(),
            p50_ms: pick(0.50),
            p90_ms: pick(0.90),
            p99_ms: pick(0.99),
            max_ms: ms(*samples.last().unwrap_or(&Duration::ZERO)),
            mean_ms: ms(total / samples.len().max(1) as u32),
            payments_per_sec: (samples.len() as f64 / wall.as_secs_f64() * 10.0).round() / 10.0,
        }
    }
}

#[derive(Debug, Serialize)]
struct Report {
    tool: &'static str,
    network: &'static str,
    build: &'static str,
    cores: usize,
    results: Vec<Figures>,
}

/// Pays `n` invoices of `payee` from `payer` one after another; returns each payment's latency
/// (invoice creation excluded: from `pay` to the preimage in hand).
async fn sequential_payments(
    payer: &dyn LightningBackend,
    payee: &dyn LightningBackend,
    n: u32,
) -> Result<(Vec<Duration>, Duration)> {
    let mut samples = Vec::with_capacity(n as usize);
    let wall = Instant::now();
    for i in 0..n {
        let (preimage, _) = random_preimage();
        let invoice = payee.create_invoice(preimage, params(10_000, &format!("bench {i}"))).await?;
        let t = Instant::now();
        let outcome = payer.pay(pay_request(&invoice)).await?;
        samples.push(t.elapsed());
        if outcome.preimage != preimage {
            bail!("payment {i} returned a wrong preimage");
        }
    }
    Ok((samples, wall.elapsed()))
}

/// Hold invoices: from `settle_hold_invoice` to the payer holding the preimage.
async fn hold_settle(
    payer: std::sync::Arc<lnedge_node::sandbox::SandboxNode>,
    payee: &dyn LightningBackend,
    n: u32,
) -> Result<(Vec<Duration>, Duration)> {
    let mut samples = Vec::with_capacity(n as usize);
    let wall = Instant::now();
    for i in 0..n {
        let (preimage, hash) = random_preimage();
        let invoice = payee.create_hold_invoice(hash, params(10_000, &format!("hold {i}"))).await?;
        let pay = tokio::spawn({
            let payer = payer.clone();
            async move { payer.pay(pay_request(&invoice)).await }
        });
        loop {
            let q = payee.next_event().await?;
            payee.event_handled(q.id).await?;
            if matches!(q.event, BackendEvent::InvoiceHeld { payment_hash, .. } if payment_hash == hash)
            {
                break;
            }
        }
        let t = Instant::now();
        payee.settle_hold_invoice(preimage).await?;
        pay.await??;
        samples.push(t.elapsed());
    }
    Ok((samples, wall.elapsed()))
}

/// Prints a benchmark's figures: pretty JSON, or the same without JSON punctuation.
fn print_figures(figures: &impl serde::Serialize, json: bool) -> Result<()> {
    let text = serde_json::to_string_pretty(figures)?;
    if json {
        println!("{text}");
    } else {
        println!("{}", text.replace(['{', '}', '"', ','], ""));
    }
    Ok(())
}

/// Runs the benchmark.
pub(crate) async fn run(args: BenchArgs) -> Result<()> {
    if args.proofs {
        let f = crate::bench_proofs::run(args.payments as usize).await?;
        return print_figures(&f, args.json);
    }
    if args.deputy {
        let f =
            crate::bench_deputy::run(args.wallets as usize, args.sales_per_wallet as usize).await?;
        return print_figures(&f, args.json);
    }
    if args.relay {
        let f = crate::bench_relay::run(args.payments as usize, args.held as usize).await?;
        return print_figures(&f, args.json);
    }
    if args.gateway {
        let f =
            crate::bench_gateway::run(args.database_url.as_deref(), args.devices as usize).await?;
        return print_figures(&f, args.json);
    }
    const WARMUP: u32 = 20;
    let net = SandboxNetwork::new().await?;
    let [payer, router, merchant] = net.line(["payer", "router", "merchant"], 16_000_000).await?;
    let mut results = Vec::new();

    sequential_payments(&*payer, &*router, WARMUP).await?;
    let (s, w) = sequential_payments(&*payer, &*router, args.payments).await?;
    results.push(Figures::from_samples("pay_1_hop", s, w));

    sequential_payments(&*payer, &*merchant, WARMUP).await?;
    let (s, w) = sequential_payments(&*payer, &*merchant, args.payments).await?;
    results.push(Figures::from_samples("pay_2_hops", s, w));

    // Drain the merchant's settled events before the hold scenario reads its queue.
    while let Ok(Ok(q)) =
        tokio::time::timeout(Duration::from_millis(50), merchant.next_event()).await
    {
        merchant.event_handled(q.id).await?;
    }
    let (s, w) = hold_settle(payer.clone(), &*merchant, args.payments).await?;
    results.push(Figures::from_samples("hold_settle_2_hops", s, w));
    net.shutdown().await;

    let report = Report {
        tool: "lnedge bench",
        network: "sandbox (LDK 0.2.7 nodes on loopback, simulated chain)",
        build: if cfg!(debug_assertions) { "debug" } else { "release" },
        cores: std::thread::available_parallelism().map(|n| n.get()).unwrap_or(1),
        results,
    };
    if args.json {
        println!("{}", serde_json::to_string_pretty(&report)?);
    } else {
        println!(
            "lnedge bench — {} build, {} cores, {}",
            report.build, report.cores, report.network
        );
        println!(
            "{:<20} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "scenario", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "per sec"
        );
        for f in &report.results {
            println!(
                "{:<20} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.1}",
                f.scenario, f.payments, f.p50_ms, f.p90_ms, f.p99_ms, f.max_ms, f.payments_per_sec
            );
        }
        if report.build == "debug" {
            println!(
                "(debug build: run `cargo run --release -- bench` for representative figures)"
            );
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentiles_pick_the_right_samples() {
        let samples: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        let f = Figures::from_samples("x", samples, Duration::from_secs(1));
        assert_eq!(f.p50_ms, 51.0);
        assert_eq!(f.p99_ms, 99.0);
        assert_eq!(f.max_ms, 100.0);
        assert_eq!(f.mean_ms, 50.5);
        assert_eq!(f.payments_per_sec, 100.0);
    }
}
