//! `lnedge payee`: the payee side of the async relay (register, commit hashes, set the wake-up
//! webhook, see what waits, claim). Completing a held payment needs the payee's own Lightning
//! node: a real payee runs the `lnedge_payee::PayeeAgent` library with its node (as
//! `lnedge demo` does); `lnedge payee claim` runs the same agent with the sandbox wallet of a
//! gateway in sandbox mode standing in for that node, so the whole relay can be tried from a
//! shell.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use anyhow::{bail, Context};
use async_trait::async_trait;
use clap::{Args, Subcommand};
use lnedge_node::BackendError;
use lnedge_payee::{PayeeAgent, PayeeClient, PayeeNode, PreimageFile};
use lnedge_wire::sandbox_wallet::{InvoiceBody, Invoiced, INVOICE_PATH};
use serde::{Deserialize, Serialize};

use crate::http::AdminClient;

/// `lnedge payee …`.
#[derive(Debug, Subcommand)]
pub(crate) enum PayeeCommand {
    /// Register a payee with a gateway (admin token); writes the payee's state file (secret).
    Register {
        /// The gateway's base URL.
        #[arg(long, env = "LNEDGE_GATEWAY_URL")]
        gateway: String,
        /// The gateway's admin token.
        #[arg(long, env = "LNEDGE_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
        /// A name for the operator.
        #[arg(long)]
        name: String,
        #[command(flatten)]
        state: StateArg,
    },
    /// Make fresh preimages (kept in the preimage file) and commit their hashes.
    Commit {
        #[command(flatten)]
        state: StateArg,
        /// The preimage file (created if missing).
        #[arg(long, default_value = "payee-preimages.json")]
        preimages: PathBuf,
        /// How many hashes to commit (1–1000).
        #[arg(long, default_value_t = 10, value_parser = clap::value_parser!(u16).range(1..=1000))]
        count: u16,
    },
    /// Set the wake-up webhook (or `--poll` to clear it and only poll).
    Wake {
        #[command(flatten)]
        state: StateArg,
        /// Where the gateway POSTs signed wake-up notifications.
        #[arg(long, conflicts_with = "poll", required_unless_present = "poll")]
        webhook_url: Option<String>,
        /// Clear the webhook.
        #[arg(long)]
        poll: bool,
    },
    /// List the payments held for this payee (JSON).
    Pending {
        #[command(flatten)]
        state: StateArg,
    },
    /// Sandbox only: claim every held payment whose preimage is in the preimage file, with
    /// invoices of the gateway's sandbox wallet standing in for the payee's own node.
    Claim {
        #[command(flatten)]
        state: StateArg,
        /// The preimage file written by `commit`.
        #[arg(long, default_value = "payee-preimages.json")]
        preimages: PathBuf,
        /// The gateway's admin token (the sandbox wallet's routes need it).
        #[arg(long, env = "LNEDGE_ADMIN_TOKEN", hide_env_values = true)]
        admin_token: String,
    },
}

/// The sandbox wallet of a gateway in sandbox mode as the payee's node
/// (`POST /v1/sandbox/wallet/invoice`).
struct SandboxWalletNode {
    gateway: String,
    client: AdminClient,
}

#[async_trait]
impl PayeeNode for SandboxWalletNode {
    fn name(&self) -> String {
        format!("the sandbox wallet at {}", self.gateway)
    }

    async fn invoice(
        &self,
        preimage: [u8; 32],
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
    ) -> Result<String, BackendError> {
        let body = InvoiceBody {
            preimage: hex::encode(preimage),
            amount_msat,
            description: description.to_owned(),
            expiry_secs: Some(expiry_secs),
        };
        let answer: Invoiced =
            self.client.send("POST", INVOICE_PATH, Some(&body)).await.map_err(|e| {
                BackendError::Node(format!(
                    "{}: {e:#} (`lnedge payee claim` needs a gateway with node.kind = \"sandbox\")",
                    self.name()
                ))
            })?;
        Ok(answer.invoice)
    }
}

/// The payee's state file.
#[derive(Debug, Args)]
pub(crate) struct StateArg {
    /// The payee's state file (gateway URL, payee id, secret key).
    #[arg(long = "state", default_value = "payee.json")]
    path: PathBuf,
}

#[derive(Serialize, Deserialize)]
struct State {
    gateway: String,
    payee_id: String,
    payee_key: String,
}

fn load(path: &Path) -> anyhow::Result<PayeeClient> {
    Ok(load_state(path)?.1)
}

/// The state file's gateway URL and the client.
fn load_state(path: &Path) -> anyhow::Result<(String, PayeeClient)> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading the payee state file {}", path.display()))?;
    let state: State = serde_json::from_str(&text)
        .with_context(|| format!("{} is not a payee state file", path.display()))?;
    let key: [u8; 32] = hex::decode(&state.payee_key)
        .ok()
        .and_then(|k| k.try_into().ok())
        .with_context(|| format!("{}: payee_key is not 64 hex characters", path.display()))?;
    Ok((state.gateway.clone(), PayeeClient::new(&state.gateway, &state.payee_id, key)))
}

/// Writes a new file readable by its owner only.
fn write_secret_file(path: &Path, bytes: &[u8]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(path).with_context(|| format!("creating {}", path.display()))?;
    file.write_all(bytes).with_context(|| format!("writing {}", path.display()))?;
    file.sync_all().with_context(|| format!("writing {}", path.display()))
}

/// Runs a payee command.
pub(crate) async fn run(command: PayeeCommand) -> anyhow::Result<()> {
    match command {
        PayeeCommand::Register { gateway, admin_token, name, state } => {
            if state.path.exists() {
                bail!("{} exists: refusing to overwrite a payee's key", state.path.display());
            }
            let registration = lnedge_payee::register(&gateway, &admin_token, &name).await?;
            let file = State {
                gateway,
                payee_id: registration.payee_id.clone(),
                payee_key: registration.payee_key.clone(),
            };
            write_secret_file(&state.path, &serde_json::to_vec_pretty(&file)?)?;
            println!(
                "payee {} registered; its key is in {}",
                registration.payee_id,
                state.path.display()
            );
        }
        PayeeCommand::Commit { state, preimages, count } => {
            let client = load(&state.path)?;
            let mut file = PreimageFile::open(&preimages)?;
            let hashes = file.generate(usize::from(count))?;
            let result = client.commit_hashes(&hashes).await?;
            println!(
                "{} hashes committed ({} unused); preimages in {}",
                result.added,
                result.unused,
                preimages.display()
            );
        }
        PayeeCommand::Wake { state, webhook_url, poll: _ } => {
            let client = load(&state.path)?;
            client.set_webhook(webhook_url.as_deref()).await?;
            match webhook_url {
                Some(url) => println!("the gateway wakes this payee at {url}"),
                None => println!("no webhook: this payee polls `lnedge payee pending`"),
            }
        }
        PayeeCommand::Pending { state } => {
            let client = load(&state.path)?;
            println!("{}", serde_json::to_string_pretty(&client.pending().await?)?);
        }
        PayeeCommand::Claim { state, preimages, admin_token } => {
            let (gateway, client) = load_state(&state.path)?;
            if !preimages.exists() {
                bail!(
                    "{}: no such preimage file (`lnedge payee commit` writes it)",
                    preimages.display()
                );
            }
            let file = PreimageFile::open(&preimages)?;
            let node =
                SandboxWalletNode { client: AdminClient::new(&gateway, &admin_token), gateway };
            let agent = PayeeAgent::with_node(client, file, Arc::new(node));
            let report = agent.wake_once().await?;
            println!(
                "{} held payments claimed, {} already being forwarded, {} for hashes without a preimage here",
                report.claimed, report.in_flight, report.unknown
            );
            for refusal in &report.refused {
                println!("refused: {refusal}");
            }
            if !report.refused.is_empty() {
                bail!("the gateway refused {} claims", report.refused.len());
            }
        }
    }
    Ok(())
}
