//! `lnedge bench`: the command and its flags; each measurement lives in its own module.
//!
//! Without a mode flag it measures payment latency on the sandbox network (`payment`); `--gateway`,
//! `--relay`, `--relay-driver`, `--proofs`, `--deputy`, `--hostile`, `--payers`, `--report`, `--dashboard` and `--toll` pick another bench. Their shared figures are in `stats`.

mod dashboard;
mod deputy;
mod gateway;
mod hostile;
mod payers;
mod payment;
mod proofs;
mod relay;
mod relay_driver;
mod report;
mod stats;
mod toll;

use anyhow::Result;
use clap::Args;

/// Options of `lnedge bench`.
#[derive(Debug, Args)]
#[command(group = clap::ArgGroup::new("gateway_or_report").args(["gateway", "report", "dashboard"]).multiple(false))]
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
    /// With --gateway or --report: PostgreSQL URL (SQLite in a temporary directory when
    /// absent).
    #[arg(long, requires = "gateway_or_report")]
    database_url: Option<String>,
    /// With --database-url: the PostgreSQL pool's size (the gateway's
    /// `database_max_connections`).
    #[arg(long, default_value_t = 8, requires = "database_url", value_parser = clap::value_parser!(u32).range(1..=1_000))]
    pg_connections: u32,
    /// Measure the async relay instead: overhead on a direct payment, many held payments.
    #[arg(long, conflicts_with = "gateway")]
    relay: bool,
    /// Measure proof-of-payment verification instead (valid proofs and forgeries; --payments
    /// proofs of each kind).
    #[arg(long, conflicts_with_all = ["gateway", "relay", "deputy"])]
    proofs: bool,
    /// Measure one pass of the relay's driver with many payments held instead: the full pass
    /// (every payment checked with the node) against a pass with nothing due.
    #[arg(long, conflicts_with_all = ["gateway", "relay", "deputy", "proofs", "hostile", "payers"])]
    relay_driver: bool,
    /// With --relay-driver: how many held payments the store holds.
    #[arg(long, default_value_t = 10_000, requires = "relay_driver", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    held_records: u32,
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
    /// Measure honest device syncs over loopback TCP while an attacker holds idle and
    /// slowloris connections, on the gateway's listener and on `axum::serve` (no limits).
    #[arg(long, conflicts_with_all = ["gateway", "relay", "deputy", "proofs"])]
    hostile: bool,
    /// With --hostile: idle connections the attacker holds.
    #[arg(long, default_value_t = 1_000, requires = "hostile", value_parser = clap::value_parser!(u32).range(0..=5_000))]
    idle: u32,
    /// With --hostile: slowloris clients.
    #[arg(long, default_value_t = 100, requires = "hostile", value_parser = clap::value_parser!(u32).range(0..=2_000))]
    slowloris: u32,
    /// With --hostile: honest devices syncing meanwhile.
    #[arg(long, default_value_t = 64, requires = "hostile", value_parser = clap::value_parser!(u32).range(1..=250))]
    honest: u32,
    /// With --hostile: syncs per honest device.
    #[arg(long, default_value_t = 10, requires = "hostile", value_parser = clap::value_parser!(u32).range(1..=1_000))]
    syncs: u32,
    /// Measure devices that pay instead: Bolt Card tap to paid and token to paid over 2 hops,
    /// with the bare payment as the peer.
    #[arg(long, conflicts_with_all = ["gateway", "relay", "deputy", "proofs", "hostile"])]
    payers: bool,
    /// With --payers: merchants paying at once (each its own card and payer device).
    #[arg(long, default_value_t = 64, requires = "payers", value_parser = clap::value_parser!(u32).range(1..=500))]
    merchants: u32,
    /// With --payers: payments per merchant and scenario.
    #[arg(long, default_value_t = 10, requires = "payers", value_parser = clap::value_parser!(u32).range(1..=100))]
    payments_per_merchant: u32,
    /// With --deputy: round trips per wallet (with --serve-for-load: sale URLs per wallet).
    #[arg(long, default_value_t = 10, requires = "deputy", value_parser = clap::value_parser!(u32).range(1..=200_000))]
    sales_per_wallet: u32,
    /// Measure the sales report instead: --rows paid sales on SQLite, streamed as CSV against
    /// built in memory (JSON), with the peak RSS each adds.
    #[arg(long, conflicts_with_all = ["gateway", "relay", "deputy", "proofs", "hostile", "payers", "relay_driver"])]
    report: bool,
    /// With --report: paid sales in the books.
    #[arg(long, default_value_t = 100_000, requires = "report", value_parser = clap::value_parser!(u32).range(1..=10_000_000))]
    rows: u32,
    /// Measure the dashboard instead: the server time of each page with --fleet devices and
    /// --sales paid sales in the books.
    #[arg(long, conflicts_with_all = ["relay", "deputy", "proofs", "hostile", "payers", "relay_driver"])]
    dashboard: bool,
    /// With --dashboard: devices in the fleet.
    #[arg(long, default_value_t = 1_000, requires = "dashboard", value_parser = clap::value_parser!(u32).range(1..=1_000_000))]
    fleet: u32,
    /// With --dashboard: paid sales in the books.
    #[arg(long, default_value_t = 100_000, requires = "dashboard", value_parser = clap::value_parser!(u32).range(0..=10_000_000))]
    sales: u32,
    /// With --dashboard: loads of each page measured (after three warm-up loads).
    #[arg(long, default_value_t = 30, requires = "dashboard", value_parser = clap::value_parser!(u32).range(1..=100_000))]
    page_loads: u32,
    /// Measure the threshold device wallet instead: --payments tolls, each approved by the
    /// device and co-signed 2-of-2 over a loopback TCP link, against plain payments over the
    /// same path; plus key generation and one joint signature.
    #[arg(long, conflicts_with_all = ["gateway", "relay", "deputy", "proofs", "hostile", "payers", "report", "dashboard"])]
    toll: bool,
    /// With --toll: the car's device writes its wallet to a file (fsync, rename) before every
    /// answer, as a real device and `device simulate --mode wallet` do (in memory otherwise).
    #[arg(long, requires = "toll")]
    device_on_disk: bool,
    /// With --deputy: measure nothing; serve the bench's gateway for an outside load generator
    /// and write each wallet's sale URLs and the target's settings into this directory
    /// (`scripts/bench-vs-lnbits.sh` uses it). Serves until killed.
    #[arg(long, requires = "deputy")]
    serve_for_load: Option<std::path::PathBuf>,
}

fn at_least_10(text: &str) -> Result<u32, String> {
    let n: u32 = text.parse().map_err(|e| format!("{e}"))?;
    if n < 10 {
        return Err(format!("{n} is too few: measure at least 10 payments"));
    }
    Ok(n)
}

/// The gateway's router on `store` with a sandbox owner node (the network must outlive it), as
/// the report and dashboard benches measure it.
async fn sandbox_router(
    store: std::sync::Arc<dyn lnedge_gateway::store::GatewayStore>,
) -> Result<(lnedge_node::sandbox::SandboxNetwork, axum::Router)> {
    use lnedge_gateway::api::{app, AppState};
    let net = lnedge_node::sandbox::SandboxNetwork::new().await?;
    let owner = net.add_node("owner").await?;
    let pool_key = std::sync::Arc::new(lnedge_gateway::provision::PoolKey::generate());
    let gateway =
        lnedge_gateway::GatewayBuilder::new(store, owner, pool_key, rand::random()).build();
    Ok((net, app(AppState::with_gateway(gateway, "bench"))))
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

/// Runs the benchmark the flags pick.
pub(crate) async fn run(args: BenchArgs) -> Result<()> {
    if args.hostile {
        let f = hostile::run(
            args.idle as usize,
            args.slowloris as usize,
            args.honest as usize,
            args.syncs as usize,
        )
        .await?;
        return print_figures(&f, args.json);
    }
    if args.report {
        let f = report::run(args.database_url.as_deref(), args.rows as usize).await?;
        return print_figures(&f, args.json);
    }
    if args.dashboard {
        let f = dashboard::run(
            args.database_url.as_deref(),
            args.fleet as usize,
            args.sales as usize,
            args.page_loads as usize,
        )
        .await?;
        return print_figures(&f, args.json);
    }
    if args.relay_driver {
        let f = relay_driver::run(args.held_records as usize).await?;
        return print_figures(&f, args.json);
    }
    if args.payers {
        let f = payers::run(args.merchants as usize, args.payments_per_merchant as usize).await?;
        return print_figures(&f, args.json);
    }
    if args.toll {
        let f = toll::run(args.payments as usize, args.device_on_disk).await?;
        return print_figures(&f, args.json);
    }
    if args.proofs {
        let f = proofs::run(args.payments as usize).await?;
        return print_figures(&f, args.json);
    }
    if let Some(out) = &args.serve_for_load {
        return deputy::serve_for_load(args.wallets as usize, args.sales_per_wallet as usize, out)
            .await;
    }
    if args.deputy {
        if args.sales_per_wallet > 1_000 {
            anyhow::bail!("--sales-per-wallet above 1000 is for --serve-for-load only");
        }
        let f = deputy::run(args.wallets as usize, args.sales_per_wallet as usize).await?;
        return print_figures(&f, args.json);
    }
    if args.relay {
        let f = relay::run(args.payments as usize, args.held as usize).await?;
        return print_figures(&f, args.json);
    }
    if args.gateway {
        let f = gateway::run(
            args.database_url.as_deref(),
            args.pg_connections as usize,
            args.devices as usize,
        )
        .await?;
        return print_figures(&f, args.json);
    }
    payment::run(args.payments).await?.print(args.json)
}
