//! `lnedge`: Lightning payments for machines that are offline or too small to run a node.
//!
//! A thin binary: arguments are parsed and validated here, the work is done by the library
//! crates. See the README for the two commands that matter.

mod bench;
mod car;
mod card;
mod demo;
mod device;
mod gateway;
mod http;
mod operator;
mod payee;
mod payer;
mod pool;
mod util;
mod wallet;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

/// Lightning payments for vending machines, taps, lockers, chargers, POS terminals and cards
/// that are offline or too small to run a Lightning node.
#[derive(Debug, Parser)]
#[command(name = "lnedge", version, about, long_about = None, arg_required_else_help = true)]
struct Cli {
    /// Log filter (tracing syntax), e.g. `info` or `lnedge_node=debug,ldk=info`.
    #[arg(long, global = true, env = "LNEDGE_LOG", default_value = "warn,ldk=error")]
    log: String,

    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the whole story on an in-process Lightning network (no node, no bitcoind, no
    /// database to set up), in 12 steps: payments and hold invoices, an offline vending machine
    /// and its refund, a deputy terminal, a sleeping sensor paid through the relay, a Bolt Card
    /// and an offline car paying, a restart, and what bad input gets.
    Demo(demo::DemoArgs),
    /// Measure on the sandbox network and print the figures: payments (default), the gateway,
    /// the relay, proofs, deputy sales, a hostile network, devices that pay.
    Bench(bench::BenchArgs),
    /// Invoice pools: pre-signed invoices that let an offline device sell without secrets.
    #[command(subcommand)]
    Pool(pool::PoolCommand),
    /// Device tools: simulated vending machines, deputy points of sale and payer devices that
    /// never touch the network.
    #[command(subcommand)]
    Device(device::DeviceCommand),
    /// Bolt Cards on a running gateway: issue (programming JSON or deeplink, as a QR code),
    /// list, disable, enable, limits, wipe.
    #[command(subcommand)]
    Card(card::CardCommand),
    /// Payer devices on a running gateway: enrol one (its token key), list them.
    #[command(subcommand)]
    Payer(payer::PayerCommand),
    /// The operator's gateway: fleet, pools, device sync, sales reports (SQLite or PostgreSQL).
    #[command(subcommand)]
    Gateway(gateway::GatewayCommand),
    /// The dashboard's accounts: add an operator (admin or viewer), list them.
    #[command(subcommand)]
    Operator(operator::OperatorCommand),
    /// The payee side of the async relay: register, commit hashes, set the wake-up webhook.
    #[command(subcommand)]
    Payee(payee::PayeeCommand),
    /// The sandbox wallet of a gateway in sandbox mode: pay an invoice or LNURL-pay, withdraw
    /// an LNURL-withdraw, log in with LNURL-auth, from a shell.
    #[command(subcommand)]
    Wallet(wallet::WalletCommand),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let filter = match tracing_subscriber::EnvFilter::try_new(&cli.log) {
        Ok(filter) => filter,
        Err(e) => {
            eprintln!("error: invalid --log filter {:?}: {e}", cli.log);
            return ExitCode::from(2);
        }
    };
    tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        match cli.command {
            Command::Demo(args) => demo::run(args).await,
            Command::Bench(args) => bench::run(args).await,
            Command::Pool(command) => pool::run(command).await,
            Command::Device(command) => device::run(command).await,
            Command::Card(command) => card::run(command).await,
            Command::Payer(command) => payer::run(command).await,
            Command::Gateway(command) => gateway::run(command).await,
            Command::Operator(command) => operator::run(command).await,
            Command::Payee(command) => payee::run(command).await,
            Command::Wallet(command) => wallet::run(command).await,
        }
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn the_command_line_is_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn unknown_flags_are_refused_with_a_clear_message() {
        let err = Cli::try_parse_from(["lnedge", "demo", "--frobnicate"]).expect_err("unknown");
        assert!(err.to_string().contains("unexpected argument '--frobnicate'"), "{err}");
        let err = Cli::try_parse_from(["lnedge", "bench", "--payments", "lots"]).expect_err("nan");
        assert!(err.to_string().contains("invalid value 'lots'"), "{err}");
        let err = Cli::try_parse_from(["lnedge", "fly"]).expect_err("unknown command");
        assert!(err.to_string().contains("unrecognized subcommand 'fly'"), "{err}");
    }

    #[test]
    fn card_and_payer_flags_are_checked_before_anything_runs() {
        let base = ["lnedge", "card", "issue", "--gateway", "http://x", "--admin-token", "t"];
        let err = Cli::try_parse_from(
            [&base[..], &["--name", "a", "--per-day-sat", "1", "--per-day-msat", "2"]].concat(),
        )
        .expect_err("both units");
        assert!(err.to_string().contains("cannot be used with"), "{err}");
        let err =
            Cli::try_parse_from([&base[..], &["--name", "a", "--pin-limit-sat", "5"]].concat())
                .expect_err("a PIN limit without a PIN");
        assert!(err.to_string().contains("--pin <PIN>"), "{err}");
        let err = Cli::try_parse_from([
            "lnedge",
            "device",
            "simulate",
            "--dir",
            "d",
            "--mode",
            "payer",
            "--token-lifetime-secs",
            "0",
        ])
        .expect_err("zero lifetime");
        assert!(err.to_string().contains("--token-lifetime-secs"), "{err}");
        let ok = Cli::try_parse_from([
            "lnedge",
            "device",
            "simulate",
            "--state-dir",
            "d",
            "--mode",
            "payer",
        ]);
        assert!(ok.is_ok(), "--state-dir is --dir: {ok:?}");
    }

    #[test]
    fn bench_refuses_too_few_payments() {
        let err = Cli::try_parse_from(["lnedge", "bench", "--payments", "3"]).expect_err("few");
        assert!(err.to_string().contains("at least 10"), "{err}");
    }
}
