//! `lnedge operator …`: the dashboard's accounts, made and listed on the gateway's database
//! (the same `--config`, `--data-dir` or `--database-url` as `lnedge gateway serve`; the gateway
//! may be running).

use std::io::BufRead;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand, ValueEnum};
use lnedge_gateway::config::GatewayConfig;
use lnedge_gateway::operators::{add_operator, Role};

/// `lnedge operator …`
#[derive(Debug, Subcommand)]
pub(crate) enum OperatorCommand {
    /// Create an operator account for the dashboard. The password is read from
    /// LNEDGE_OPERATOR_PASSWORD, else from the first line of standard input (at least 12
    /// characters; never a flag: flags show in `ps`).
    Add(AddArgs),
    /// List the operator accounts (name, role, enabled, how they log in).
    List(StoreArgs),
    /// Link a Lightning wallet to an operator for LNURL-auth logins: its linking key for this
    /// gateway's domain (LUD-05; the wallet shows it, or see docs/dashboard.md), or `--unlink`.
    Link(LinkArgs),
}

/// Options of `lnedge operator link`.
#[derive(Debug, Args)]
pub(crate) struct LinkArgs {
    /// The operator.
    name: String,
    /// The wallet's linking key (66 hex characters).
    #[arg(long, required_unless_present = "unlink", conflicts_with = "unlink")]
    linking_key: Option<String>,
    /// Remove the operator's linking key.
    #[arg(long)]
    unlink: bool,
    #[command(flatten)]
    store: StoreArgs,
}

/// Where the gateway keeps its records.
#[derive(Debug, Args)]
pub(crate) struct StoreArgs {
    /// The gateway's TOML config file.
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// The gateway's data directory (its SQLite database).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// The gateway's PostgreSQL URL.
    #[arg(long)]
    database_url: Option<String>,
}

/// What an operator may do.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub(crate) enum RoleArg {
    /// Look and change.
    Admin,
    /// Look only.
    Viewer,
}

/// Options of `lnedge operator add`.
#[derive(Debug, Args)]
pub(crate) struct AddArgs {
    /// The login name: 1–64 of a-z, 0-9, '.', '_', '-'.
    name: String,
    /// What the operator may do.
    #[arg(long, value_enum)]
    role: RoleArg,
    #[command(flatten)]
    store: StoreArgs,
}

/// Runs `lnedge operator …`.
pub(crate) async fn run(command: OperatorCommand) -> Result<()> {
    match command {
        OperatorCommand::Add(args) => add(args).await,
        OperatorCommand::List(args) => list(args).await,
        OperatorCommand::Link(args) => link(args).await,
    }
}

async fn open(args: &StoreArgs) -> Result<std::sync::Arc<dyn lnedge_gateway::store::GatewayStore>> {
    let mut config = match &args.config {
        Some(path) => GatewayConfig::from_file(path)?,
        None => GatewayConfig::default(),
    };
    config.apply_env(std::env::vars())?;
    if let Some(dir) = &args.data_dir {
        config.data_dir = dir.clone();
    }
    if let Some(url) = &args.database_url {
        config.database_url = Some(url.clone());
    }
    lnedge_gateway::service::prepare_data_dir(&config)?;
    Ok(lnedge_gateway::service::open_store(&config).await?)
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

async fn link(args: LinkArgs) -> Result<()> {
    let store = open(&args.store).await?;
    let key = if args.unlink { None } else { args.linking_key.as_deref() };
    let record = lnedge_gateway::operators::set_linking_key(
        store.as_ref(),
        now_secs(),
        &args.name,
        key,
        "cli",
    )
    .await?;
    match record.linking_key {
        Some(k) => {
            println!("operator {} logs in with the wallet whose linking key is {k}", record.name)
        }
        None => println!("operator {} has no linked wallet", record.name),
    }
    Ok(())
}

fn password() -> Result<String> {
    if let Ok(p) = std::env::var("LNEDGE_OPERATOR_PASSWORD") {
        return Ok(p);
    }
    eprintln!("password (one line on standard input):");
    let mut line = String::new();
    std::io::stdin().lock().read_line(&mut line).context("reading the password")?;
    let p = line.trim_end_matches(['\r', '\n']).to_owned();
    if p.is_empty() {
        bail!("no password: set LNEDGE_OPERATOR_PASSWORD or give it on standard input");
    }
    Ok(p)
}

async fn add(args: AddArgs) -> Result<()> {
    let role = match args.role {
        RoleArg::Admin => Role::Admin,
        RoleArg::Viewer => Role::Viewer,
    };
    lnedge_gateway::operators::check_name(&args.name)?;
    let store = open(&args.store).await?;
    let password = password()?;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0);
    let record =
        add_operator(store.as_ref(), now, &args.name, role, Some(&password), "cli").await?;
    println!("operator {} added ({}); log in at the dashboard (/ui/)", record.name, role.as_str());
    Ok(())
}

async fn list(args: StoreArgs) -> Result<()> {
    let store = open(&args).await?;
    let operators = store.operators().await?;
    if operators.is_empty() {
        println!("no operator yet: lnedge operator add NAME --role admin");
    }
    for o in operators {
        let how = match (&o.password_hash, &o.linking_key) {
            (Some(_), Some(_)) => "password, lnurl-auth",
            (Some(_), None) => "password",
            (None, Some(_)) => "lnurl-auth",
            (None, None) => "no login",
        };
        let state = if o.enabled { "enabled" } else { "disabled" };
        println!("{}\t{}\t{state}\t{how}", o.name, o.role.as_str());
    }
    Ok(())
}
