//! `lnedge wallet …`: the sandbox wallet of a running `lnedge gateway serve` whose node is a
//! sandbox (`node.kind = "sandbox"`): a customer's node with a channel to the owner's node, so
//! that a BOLT 11 invoice or an LNURL the gateway hands out can be paid, withdrawn or logged in
//! with from a shell.
//!
//! Every command is one call of the gateway's sandbox-only routes
//! (`crates/lnedge-gateway/src/api/sandbox_wallet.rs`) with the admin token; the answers are
//! the `lnedge_wire::sandbox_wallet` types. A refusal is printed with the gateway's error code
//! and message, and the command exits non-zero; a gateway that is not in sandbox mode answers
//! 404.

use anyhow::Result;
use clap::{Args, Subcommand};
use lnedge_wire::sandbox_wallet::{
    InvoiceBody, Invoiced, LoggedIn, LoginBody, Paid, PaidKind, PayBody, WithdrawBody, Withdrawn,
    INVOICE_PATH, LOGIN_PATH, PAY_PATH, WITHDRAW_PATH,
};

use crate::card::GatewayArgs;
use crate::http::Refused;
use crate::util::{msat_from, sat};

/// `lnedge wallet …`
#[derive(Debug, Subcommand)]
pub(crate) enum WalletCommand {
    /// Pay a BOLT 11 invoice or an LNURL-pay (LNURL1…, lnurlp://, http(s) URL) from the sandbox
    /// wallet; prints the amount, the fee, the preimage and the service's success message.
    Pay(PayArgs),
    /// Take an LNURL-withdraw (LNURL1…, lnurlw://, a Bolt Card tap's URL) into the sandbox
    /// wallet: the service pays the wallet's invoice.
    Withdraw(WithdrawArgs),
    /// Log in with an LNURL-auth link (LNURL1…, keyauth://, http(s) URL with tag=login): the
    /// sandbox wallet signs with its linking key for the service's domain.
    Login(LoginArgs),
    /// Print a BOLT 11 invoice of the sandbox wallet's node (a merchant to pay, from a Bolt
    /// Card's point of sale or a payer device's token); the preimage is made here and printed
    /// with `--json`.
    Invoice(InvoiceArgs),
}

/// Options of `lnedge wallet invoice`.
#[derive(Debug, Args)]
pub(crate) struct InvoiceArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The amount in sat.
    #[arg(long, conflicts_with = "amount_msat", required_unless_present = "amount_msat")]
    amount_sat: Option<u64>,
    /// The amount in msat.
    #[arg(long)]
    amount_msat: Option<u64>,
    /// The invoice's description.
    #[arg(long, default_value = "sandbox wallet")]
    description: String,
    /// Print the invoice, its payment hash and its preimage as JSON.
    #[arg(long)]
    json: bool,
}

/// Options of `lnedge wallet pay`.
#[derive(Debug, Args)]
pub(crate) struct PayArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The BOLT 11 invoice (`lightning:` prefix allowed) or the LNURL-pay link.
    invoice: String,
    /// The amount in sat: for an invoice without one, or an LNURL-pay with a range.
    #[arg(long, conflicts_with = "amount_msat")]
    amount_sat: Option<u64>,
    /// The amount in msat.
    #[arg(long)]
    amount_msat: Option<u64>,
    /// Print the gateway's answer as JSON instead.
    #[arg(long)]
    json: bool,
}

/// Options of `lnedge wallet withdraw`.
#[derive(Debug, Args)]
pub(crate) struct WithdrawArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The LNURL-withdraw link.
    lnurl: String,
    /// A Bolt Card's PIN, when the card asks for one (prefer LNEDGE_CARD_PIN).
    #[arg(long, env = "LNEDGE_CARD_PIN", hide_env_values = true)]
    pin: Option<String>,
    /// Print the gateway's answer as JSON instead.
    #[arg(long)]
    json: bool,
}

/// Options of `lnedge wallet login`.
#[derive(Debug, Args)]
pub(crate) struct LoginArgs {
    #[command(flatten)]
    gateway: GatewayArgs,
    /// The LNURL-auth link.
    lnurl: String,
    /// Print the gateway's answer as JSON instead.
    #[arg(long)]
    json: bool,
}

/// Runs `lnedge wallet …`.
pub(crate) async fn run(command: WalletCommand) -> Result<()> {
    match command {
        WalletCommand::Pay(args) => pay(args).await,
        WalletCommand::Withdraw(args) => withdraw(args).await,
        WalletCommand::Login(args) => login(args).await,
        WalletCommand::Invoice(args) => invoice(args).await,
    }
}

/// Adds a hint to a 404 of the sandbox routes: the gateway is not in sandbox mode.
fn sandbox_hint(e: anyhow::Error) -> anyhow::Error {
    match e.downcast_ref::<Refused>() {
        Some(r) if r.status == 404 && r.code.as_deref() == Some("not_found") => e.context(
            "the gateway has no sandbox wallet: `lnedge wallet` needs a gateway with node.kind = \"sandbox\"",
        ),
        _ => e,
    }
}

async fn pay(args: PayArgs) -> Result<()> {
    let amount_msat = msat_from(args.amount_sat, args.amount_msat, "payment")?;
    let body = PayBody { invoice: args.invoice, amount_msat };
    let paid: Paid =
        args.gateway.client().send("POST", PAY_PATH, Some(&body)).await.map_err(sandbox_hint)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&paid)?);
        return Ok(());
    }
    let what = match paid.kind {
        PaidKind::Bolt11 => "the invoice",
        PaidKind::LnurlPay => "the LNURL-pay",
    };
    let fee = paid.fee_msat.map_or_else(|| "unknown".to_owned(), |f| format!("{} sat", sat(f)));
    println!("paid {} sat for {what} (fee {fee})", sat(paid.amount_msat));
    println!("payment hash {}", paid.payment_hash);
    println!("preimage     {}", paid.preimage);
    if let Some(action) = &paid.success_action {
        if let Some(description) = &action.description {
            println!("{description}");
        }
        if let Some(text) = &action.text {
            println!("success action ({}): {text}", action.tag);
        }
        if let Some(url) = &action.url {
            println!("success action (url): {url}");
        }
    }
    Ok(())
}

async fn withdraw(args: WithdrawArgs) -> Result<()> {
    let body = WithdrawBody { lnurl: args.lnurl, pin: args.pin };
    let done: Withdrawn = args
        .gateway
        .client()
        .send("POST", WITHDRAW_PATH, Some(&body))
        .await
        .map_err(sandbox_hint)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
        return Ok(());
    }
    println!(
        "withdrew {} sat into the sandbox wallet ({:?})",
        sat(done.amount_msat),
        done.description
    );
    println!("payment hash {}", done.payment_hash);
    Ok(())
}

async fn login(args: LoginArgs) -> Result<()> {
    let body = LoginBody { lnurl: args.lnurl };
    let done: LoggedIn =
        args.gateway.client().send("POST", LOGIN_PATH, Some(&body)).await.map_err(sandbox_hint)?;
    if args.json {
        println!("{}", serde_json::to_string_pretty(&done)?);
        return Ok(());
    }
    let action = done.action.as_deref().unwrap_or("login");
    println!("logged in to {} ({action}) as linking key {}", done.domain, done.linking_key);
    Ok(())
}

async fn invoice(args: InvoiceArgs) -> Result<()> {
    let Some(amount_msat) = msat_from(args.amount_sat, args.amount_msat, "invoice")? else {
        anyhow::bail!("say how much: --amount-sat or --amount-msat");
    };
    let preimage: [u8; 32] = rand::random();
    let body = InvoiceBody {
        preimage: hex::encode(preimage),
        amount_msat,
        description: args.description,
        expiry_secs: None,
    };
    let made: Invoiced = args
        .gateway
        .client()
        .send("POST", INVOICE_PATH, Some(&body))
        .await
        .map_err(sandbox_hint)?;
    if args.json {
        let value = serde_json::json!({
            "invoice": made.invoice,
            "payment_hash": made.payment_hash,
            "preimage": body.preimage,
        });
        println!("{}", serde_json::to_string_pretty(&value)?);
    } else {
        println!("{}", made.invoice);
    }
    Ok(())
}
