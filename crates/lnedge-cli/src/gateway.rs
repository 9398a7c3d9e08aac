//! `lnedge gateway serve`: the operator's service.

use std::net::SocketAddr;
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lnedge_gateway::config::GatewayConfig;

/// `lnedge gateway …`
#[derive(Debug, Subcommand)]
pub(crate) enum GatewayCommand {
    /// Run the gateway: the HTTP API for devices and operators, next to the owner's node.
    Serve(ServeArgs),
}

/// Options of `lnedge gateway serve`. Flags override the environment (`LNEDGE_*`), which
/// overrides the config file.
#[derive(Debug, Args)]
pub(crate) struct ServeArgs {
    /// The TOML config file (see docs/gateway.md).
    #[arg(long, short)]
    config: Option<PathBuf>,
    /// HTTP listening address.
    #[arg(long)]
    listen: Option<SocketAddr>,
    /// Data directory (SQLite database, keys, the embedded node).
    #[arg(long)]
    data_dir: Option<PathBuf>,
    /// PostgreSQL URL (several replicas may share it); SQLite when absent.
    #[arg(long)]
    database_url: Option<String>,
    /// Admin API bearer token (prefer LNEDGE_ADMIN_TOKEN or the config file: flags show in `ps`).
    #[arg(long)]
    admin_token: Option<String>,
}

/// Runs `lnedge gateway …`.
pub(crate) async fn run(command: GatewayCommand) -> Result<()> {
    match command {
        GatewayCommand::Serve(args) => serve(args).await,
    }
}

async fn serve(args: ServeArgs) -> Result<()> {
    let mut config = match &args.config {
        Some(path) => GatewayConfig::from_file(path)?,
        None => GatewayConfig::default(),
    };
    config.apply_env(std::env::vars())?;
    if let Some(listen) = args.listen {
        config.listen = listen;
    }
    if let Some(dir) = args.data_dir {
        config.data_dir = dir;
    }
    if let Some(url) = args.database_url {
        config.database_url = Some(url);
    }
    if let Some(token) = args.admin_token {
        config.admin_token = Some(token);
    }
    let shutdown = async {
        let ctrl_c = tokio::signal::ctrl_c();
        #[cfg(unix)]
        {
            let mut term =
                match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
                    Ok(term) => term,
                    Err(_) => {
                        let _ = ctrl_c.await;
                        return;
                    }
                };
            tokio::select! {
                _ = ctrl_c => {}
                _ = term.recv() => {}
            }
        }
        #[cfg(not(unix))]
        {
            let _ = ctrl_c.await;
        }
    };
    lnedge_gateway::service::serve(config, shutdown).await.context("the gateway stopped")
}
