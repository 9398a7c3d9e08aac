//! `lnedge payer …`: the operator's token-signing payer devices on a running gateway (issue
//! #14, [docs/tokens.md](../../../docs/tokens.md)): enrol one (its token key is printed once, to
//! write into the device: `lnedge device simulate --mode payer --device … --token-key …`) and
//! list them. Enable, disable and limits are `lnedge card enable|disable|limits` with the
//! device's id (one route serves cards and devices).

use anyhow::Result;
use clap::{Args, Subcommand};
use lnedge_wire::payers::{EnrolDevice, EnrolledDevice, PayerList};

use crate::card::{table, GatewayArgs, NewLimits};

/// `lnedge payer …`
#[derive(Debug, Subcommand)]
pub(crate) enum PayerCommand {
    /// Enrol a payer device; prints its id and token key (secret, shown once).
    Enrol(EnrolArgs),
    /// List the payer devices.
    List(ListArgs),
}

/// Options of `lnedge payer enrol`.
#[derive(Debug, Args)]
pub(crate) struct EnrolArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The operator's name for it (`Car 7`).
    #[arg(long)]
    name: String,
    /// Its id (32 hex characters); a random one when absent.
    #[arg(long)]
    id: Option<String>,
    #[command(flatten)]
    limits: NewLimits,
    /// Print the gateway's answer as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `lnedge payer list`.
#[derive(Debug, Args)]
pub(crate) struct ListArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// Print the gateway's answer as JSON instead of a table.
    #[arg(long)]
    json: bool,
}

/// Runs `lnedge payer …`.
pub(crate) async fn run(command: PayerCommand) -> Result<()> {
    match command {
        PayerCommand::Enrol(args) => enrol(args).await,
        PayerCommand::List(args) => list(args).await,
    }
}

async fn enrol(args: EnrolArgs) -> Result<()> {
    let (per_payment_msat, per_day_msat) = args.limits.msat()?;
    let request = EnrolDevice {
        name: args.name.clone(),
        id: args.id.as_deref().map(crate::card::card_id).transpose()?.map(str::to_owned),
        per_payment_msat,
        per_day_msat,
    };
    let enrolled: EnrolledDevice =
        args.gateway.client().send("POST", "/v1/payer-devices", Some(&request)).await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&enrolled)?);
        return Ok(());
    }
    let d = &enrolled.device;
    println!("payer device {} \"{}\" enrolled: {}", d.id, d.name, d.state);
    println!(
        "token key {} (secret: write it into the device; it is not shown again)",
        enrolled.token_key
    );
    println!(
        "simulate it: lnedge device simulate --mode payer --dir <DIR> --device {} --token-key <KEY>",
        d.id
    );
    Ok(())
}

async fn list(args: ListArgs) -> Result<()> {
    let list: PayerList = args.gateway.client().get("/v1/payer-devices").await?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&list)?);
        return Ok(());
    }
    print!("{}", table(&list.payers));
    println!("{} payer device(s)", list.payers.len());
    Ok(())
}
