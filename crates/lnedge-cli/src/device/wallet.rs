//! `lnedge device simulate --mode wallet`: the threshold wallet's device as its own process
//! (`lnedge_device::wallet`). It listens for its gateway on `--listen` and prints
//! `listening <addr>` and `deposit-script <hex>`, then takes its owner's commands on stdin
//! (`status`, `deposit`, `coin`, `pay`; see `lnedge_device::wallet::repl`).

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use lnedge_cosign::link::DeviceLink;
use lnedge_cosign::tcp::TcpLink;
use lnedge_device::wallet::{repl, WalletDevice};
use lnedge_node::bitcoin::secp256k1::PublicKey;

use super::SimulateArgs;
use crate::car::today;
use crate::util::msat_from;

/// How long the device waits for its gateway to pay (routing included).
const PAY_TIMEOUT: Duration = Duration::from_secs(120);

/// Runs the wallet device in `args.dir` on stdin and stdout.
pub(super) fn simulate(args: &SimulateArgs) -> Result<()> {
    if args.owner.is_some() || args.pool.is_some() || args.keys.is_some() || args.device.is_some() {
        bail!("--device, --owner, --pool and --keys are not for --mode wallet");
    }
    if args.per_payment_msat.is_some() || args.budget_sat.is_some() || args.budget_msat.is_some() {
        bail!("--mode wallet takes --per-payment-sat, --daily-budget-sat and --fee-cap-sat");
    }
    let device = Arc::new(
        WalletDevice::open(&args.dir)
            .with_context(|| format!("opening the wallet device in {}", args.dir.display()))?,
    );
    let mut policy = device.policy();
    if let Some(msat) = msat_from(args.per_payment_sat, None, "--per-payment-sat")? {
        policy.max_payment_msat = msat;
    }
    if let Some(msat) = msat_from(args.daily_budget_sat, None, "--daily-budget-sat")? {
        policy.daily_budget_msat = msat;
    }
    if let Some(msat) = msat_from(args.fee_cap_sat, None, "--fee-cap-sat")? {
        policy.fee_cap_msat = msat;
    }
    if !args.payee.is_empty() {
        let payees = args
            .payee
            .iter()
            .map(|p| {
                p.parse::<PublicKey>().with_context(|| format!("--payee {p:?} is not a node id"))
            })
            .collect::<Result<Vec<_>>>()?;
        policy.payees = Some(payees);
    }
    device.set_policy(policy);

    let listener =
        TcpListener::bind(args.listen).with_context(|| format!("listening on {}", args.listen))?;
    println!("listening {}", listener.local_addr()?);
    println!("deposit-script {}", hex::encode(device.deposit_script()));
    device.serve(listener);
    let gateway = args.gateway.map(|addr| TcpLink::new(addr, PAY_TIMEOUT));
    let stdin = std::io::stdin();
    repl::run(
        &device,
        gateway.as_ref().map(|g| g as &dyn DeviceLink),
        today,
        stdin.lock(),
        std::io::stdout().lock(),
    )?;
    Ok(())
}
