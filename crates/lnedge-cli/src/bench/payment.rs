//! `lnedge bench`: payment latency on the sandbox network (1 hop, 2 hops, hold invoices settled
//! over 2 hops), printed as a table or JSON.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{BackendEvent, LightningBackend};
use serde::Serialize;

use super::stats::{self, ms, per_sec, Summary};
use crate::util::{params, pay_request, random_preimage};

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

impl Figures {
    fn from_samples(scenario: &'static str, mut samples: Vec<Duration>, wall: Duration) -> Self {
        let s = Summary::of(&mut samples);
        Figures {
            scenario,
            payments: s.count,
            p50_ms: ms(s.p50),
            p90_ms: ms(s.p90),
            p99_ms: ms(s.p99),
            max_ms: ms(s.max),
            mean_ms: ms(s.mean),
            payments_per_sec: per_sec(s.count, wall, 1),
        }
    }
}

/// The payment bench's report.
#[derive(Debug, Serialize)]
pub(crate) struct Report {
    tool: &'static str,
    network: &'static str,
    build: &'static str,
    cores: usize,
    results: Vec<Figures>,
}

impl Report {
    /// Prints the report as pretty JSON, or as a table.
    pub(crate) fn print(&self, json: bool) -> Result<()> {
        if json {
            println!("{}", serde_json::to_string_pretty(self)?);
            return Ok(());
        }
        println!("lnedge bench — {} build, {} cores, {}", self.build, self.cores, self.network);
        println!(
            "{:<20} {:>8} {:>9} {:>9} {:>9} {:>9} {:>10}",
            "scenario", "n", "p50 ms", "p90 ms", "p99 ms", "max ms", "per sec"
        );
        for f in &self.results {
            println!(
                "{:<20} {:>8} {:>9.2} {:>9.2} {:>9.2} {:>9.2} {:>10.1}",
                f.scenario, f.payments, f.p50_ms, f.p90_ms, f.p99_ms, f.max_ms, f.payments_per_sec
            );
        }
        if self.build == "debug" {
            println!(
                "(debug build: run `cargo run --release -- bench` for representative figures)"
            );
        }
        Ok(())
    }
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
    payer: Arc<SandboxNode>,
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

/// Runs the payment bench: `payments` measured payments per scenario, after 20 warm-up ones.
pub(crate) async fn run(payments: u32) -> Result<Report> {
    const WARMUP: u32 = 20;
    let net = SandboxNetwork::new().await?;
    let [payer, router, merchant] = net.line(["payer", "router", "merchant"], 16_000_000).await?;
    let mut results = Vec::new();

    sequential_payments(&*payer, &*router, WARMUP).await?;
    let (s, w) = sequential_payments(&*payer, &*router, payments).await?;
    results.push(Figures::from_samples("pay_1_hop", s, w));

    sequential_payments(&*payer, &*merchant, WARMUP).await?;
    let (s, w) = sequential_payments(&*payer, &*merchant, payments).await?;
    results.push(Figures::from_samples("pay_2_hops", s, w));

    // Drain the merchant's settled events before the hold scenario reads its queue.
    while let Ok(Ok(q)) =
        tokio::time::timeout(Duration::from_millis(50), merchant.next_event()).await
    {
        merchant.event_handled(q.id).await?;
    }
    let (s, w) = hold_settle(payer.clone(), &*merchant, payments).await?;
    results.push(Figures::from_samples("hold_settle_2_hops", s, w));
    net.shutdown().await;

    Ok(Report {
        tool: "lnedge bench",
        network: "sandbox (LDK 0.2.7 nodes on loopback, simulated chain)",
        build: stats::build(),
        cores: stats::cores(),
        results,
    })
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
