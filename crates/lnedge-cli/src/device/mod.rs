//! `lnedge device simulate`: a vending machine in the terminal. It never opens a socket: the
//! invoice goes out as a QR code, the payment proof comes back as typed or scanned text, an NFC
//! NDEF file, or keypad digits. `--mode deputy` runs a deputy point of sale instead: any amount,
//! an LNURL QR, and the claim the customer's wallet decrypts after paying. `--mode payer` runs a
//! device that pays ([`payer`]): a merchant's invoice in, a token bound to it out. `--mode wallet`
//! runs the threshold wallet's device ([`wallet`]): it listens for its gateway's co-signature
//! requests and pays invoices through it.
//!
//! The simulators and their command loop are `lnedge_device::simulator`; this module parses the
//! arguments, opens the device's state directory, wires stdin/stdout, draws QR codes in the
//! terminal, and runs `lnedge device sync` (the HTTP upload).

use std::io::IsTerminal;
use std::path::PathBuf;

use anyhow::{bail, Context, Result};
use clap::{Args, Subcommand};
use lnedge_device::deputy::{DeputyTerminal, FLASH_LEN as DEPUTY_FLASH_LEN};
use lnedge_device::flash::FileFlash;
use lnedge_device::simulator::{
    self, BoxError, DeputySimulator, InputKind, QrRenderer, Simulator, VendingSimulator,
};
use lnedge_device::{Enrolment, SimulatedMotor, VendingMachine};
use lnedge_proto::deputy::TerminalKeys;
use lnedge_proto::DeviceId;

use crate::util::msat_from;

pub(crate) mod payer;
mod wallet;

/// `lnedge device …`
#[derive(Debug, Subcommand)]
pub(crate) enum DeviceCommand {
    /// Run a vending machine, a deputy point of sale or a payer device in the terminal
    /// (interactive, or scripted through stdin).
    Simulate(Box<SimulateArgs>),
    /// Upload a simulated vending machine's ledger to its gateway, signed with the device's
    /// sync key (`GET /v1/devices/{id}/sync-key`); with --install, install the new pools the
    /// gateway answers (a top-up in the same exchange).
    Sync(SyncArgs),
}

/// Options of `lnedge device sync`.
#[derive(Debug, Args)]
pub(crate) struct SyncArgs {
    /// The machine's state directory (as for `simulate`).
    #[arg(long)]
    dir: PathBuf,
    /// The gateway's base URL (`http://127.0.0.1:18080`).
    #[arg(long)]
    gateway: String,
    /// The device's sync key (64 hex characters), as `GET /v1/devices/{id}/sync-key` answers it.
    #[arg(long, env = "LNEDGE_SYNC_KEY", hide_env_values = true)]
    sync_key: String,
    /// Ask for the new pools' files and install them.
    #[arg(long)]
    install: bool,
}

/// Options of `lnedge device simulate`.
#[derive(Debug, Args)]
pub(crate) struct SimulateArgs {
    /// The device's state directory (enrolment, pool, ledger; keys and flash).
    #[arg(long, visible_alias = "state-dir")]
    dir: PathBuf,
    /// Enrol the device with this id (32 hex characters) if it is not enrolled yet: a vending
    /// machine (with --owner), or a payer device (with --token-key, the `device.id` of
    /// `POST /v1/payer-devices`).
    #[arg(long)]
    device: Option<String>,
    /// The owner node id (66 hex characters) the machine accepts pools from (with --device).
    #[arg(long, requires = "device")]
    owner: Option<String>,
    /// Install this pool file before starting.
    #[arg(long)]
    pool: Option<PathBuf>,
    /// Don't draw QR codes (print the invoice text only).
    #[arg(long)]
    no_qr: bool,
    /// What the device is: a vending machine with an invoice pool, or a deputy point of sale.
    #[arg(long, value_enum, default_value_t = Mode::Vending)]
    mode: Mode,
    /// With --mode deputy: the terminal's keys as the gateway's `GET /v1/deputy/{id}/keys`
    /// answers them (JSON file), on the first run; kept in --dir afterwards.
    #[arg(long)]
    keys: Option<PathBuf>,
    /// With --mode payer: the device's token key (64 hex characters), the `token_key` of
    /// `POST /v1/payer-devices`, on the first run (with --device); kept in --dir afterwards.
    #[arg(long, env = "LNEDGE_TOKEN_KEY", hide_env_values = true)]
    token_key: Option<String>,
    /// With --mode payer: the most one token may authorize, in sat (first run: 100 000; a value
    /// given later replaces the stored one).
    #[arg(long, conflicts_with = "per_payment_msat")]
    per_payment_sat: Option<u64>,
    /// With --mode payer: the same in msat.
    #[arg(long)]
    per_payment_msat: Option<u64>,
    /// With --mode payer: the most all tokens together may authorize, in sat (first run:
    /// 500 000).
    #[arg(long, conflicts_with = "budget_msat")]
    budget_sat: Option<u64>,
    /// With --mode payer: the same in msat.
    #[arg(long)]
    budget_msat: Option<u64>,
    /// With --mode payer: how long a token stays valid, in seconds (never past the invoice's
    /// expiry; the gateway refuses tokens valid longer than its `token_max_lifetime_secs`).
    #[arg(long, default_value_t = 600, value_parser = clap::value_parser!(u64).range(1..=86_400))]
    token_lifetime_secs: u64,
    /// With --mode wallet: where the device listens for its gateway's requests.
    #[arg(long, default_value = "127.0.0.1:0")]
    listen: std::net::SocketAddr,
    /// With --mode wallet: the gateway's payment service (`host:port`), where `pay` goes.
    #[arg(long)]
    gateway: Option<std::net::SocketAddr>,
    /// With --mode wallet: the most all payments of a day (UTC) may send, in sat (first run:
    /// 100 000; a value given later replaces the stored one, as do the other policy flags).
    #[arg(long)]
    daily_budget_sat: Option<u64>,
    /// With --mode wallet: the most a payment may cost beyond its amount, and a cooperative
    /// close take from the device's balance, in sat (first run: 2 000).
    #[arg(long)]
    fee_cap_sat: Option<u64>,
    /// With --mode wallet: the only payees (node ids, 66 hex characters; repeat the flag); any
    /// payee when absent.
    #[arg(long)]
    payee: Vec<String>,
}

/// The kinds of simulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// A vending machine selling fixed-price products from an invoice pool (no secret).
    Vending,
    /// A deputy point of sale: any amount, LNURL, claim checked offline (holds a key).
    Deputy,
    /// A device that pays: signs a token bound to a merchant's invoice (holds a token key).
    Payer,
    /// A device with its own channel, its funding key shared 2-of-2 with its gateway: it
    /// co-signs every channel state and pays invoices through its gateway (`docs/wallet.md`).
    Wallet,
}

fn parse_id<const N: usize>(text: &str, what: &str) -> Result<[u8; N]> {
    let bytes = hex::decode(text).with_context(|| format!("{what} is not hex"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{what} must be {N} bytes, got {}", b.len()))
}

/// Draws `text` as a QR code with Unicode half blocks (two modules per character cell), light
/// on dark so phones read it from a dark terminal. QR drawing is the terminal's presentation:
/// the simulator calls it through [`QrRenderer`] and `lnedge-device` does not depend on a QR
/// crate. `lnedge card` draws its programming and wipe QR codes with it too.
pub(crate) fn draw_qr(text: &str) -> std::result::Result<String, BoxError> {
    let code = qrcode::QrCode::new(text.as_bytes())?;
    Ok(code
        .render::<qrcode::render::unicode::Dense1x2>()
        .dark_color(qrcode::render::unicode::Dense1x2::Light)
        .light_color(qrcode::render::unicode::Dense1x2::Dark)
        .quiet_zone(true)
        .build())
}

/// Runs `lnedge device …`.
pub(crate) async fn run(command: DeviceCommand) -> Result<()> {
    match command {
        // The simulator reads stdin line by line: off the async workers.
        DeviceCommand::Simulate(args) => tokio::task::block_in_place(|| simulate(*args)),
        DeviceCommand::Sync(args) => sync(args).await,
    }
}

/// `lnedge device sync`: the machine's next sync batch (its counter persisted first), signed by
/// `lnedge-device` with the device's key, posted to the gateway; new pools installed on request.
async fn sync(args: SyncArgs) -> Result<()> {
    let key = zeroize::Zeroizing::new(parse_id::<32>(args.sync_key.trim(), "--sync-key")?);
    let mut machine = VendingMachine::open(&args.dir, SimulatedMotor::default())
        .with_context(|| format!("opening the machine in {}", args.dir.display()))?;
    let device = machine.enrolment().device_id;
    let batch = machine.sync_batch()?;
    let mut request = batch.request();
    if args.install {
        request = request.with_pool_files();
    }
    let upload = request.signed(&key);
    let url = format!("{}/v1/devices/{device}/sync", args.gateway.trim_end_matches('/'));
    let response = reqwest::Client::new()
        .post(&url)
        .header(lnedge_wire::SIGNATURE_HEADER, &upload.signature)
        .header("content-type", "application/json")
        .body(upload.body)
        .timeout(std::time::Duration::from_secs(60))
        .send()
        .await
        .with_context(|| format!("POST {url}"))?;
    let status = response.status();
    let text = response.text().await?;
    if !status.is_success() {
        anyhow::bail!("POST {url} → {status}: {text}");
    }
    let answer: lnedge_wire::sync::SyncResponse = serde_json::from_str(&text)
        .with_context(|| format!("the gateway's answer is not a sync answer: {text}"))?;
    println!(
        "synced {} report(s) as counter {}: {} applied, {} unchanged, {} ignored regressions",
        request.reports.len(),
        answer.counter,
        answer.applied,
        answer.unchanged,
        answer.ignored_regressions
    );
    for pool in &answer.pools {
        match (&pool.hex, args.install) {
            (Some(hex_text), true) => {
                let bytes = hex::decode(hex_text).context("the pool file is not hex")?;
                let id = machine.install_pool(bytes)?;
                println!("installed new pool {id} ({} entries)", pool.entries);
            }
            _ => println!(
                "new pool {} ({} entries) waiting: run again with --install",
                pool.pool_id, pool.entries
            ),
        }
    }
    Ok(())
}

fn simulate(args: SimulateArgs) -> Result<()> {
    let qr = (!args.no_qr).then(|| Box::new(draw_qr) as Box<dyn QrRenderer>);
    match args.mode {
        Mode::Deputy => return run_repl(&mut open_deputy(&args, qr)?),
        Mode::Payer => return simulate_payer(&args, qr),
        Mode::Wallet => return wallet::simulate(&args),
        Mode::Vending => {}
    }
    if args.device.is_some() && args.owner.is_none() {
        bail!("a vending machine is enrolled with --device and --owner together");
    }
    let mut machine = match (&args.device, &args.owner) {
        (Some(device), Some(owner)) if !args.dir.join("enrolment.txt").exists() => {
            let enrolment = Enrolment {
                device_id: DeviceId(parse_id::<16>(device, "--device")?),
                owner_node_id: parse_id::<33>(owner, "--owner")?,
            };
            VendingMachine::enrol(&args.dir, enrolment, SimulatedMotor::default())?
        }
        _ => VendingMachine::open(&args.dir, SimulatedMotor::default())
            .with_context(|| format!("opening the machine in {}", args.dir.display()))?,
    };
    if let Some(pool) = &args.pool {
        let bytes = std::fs::read(pool).with_context(|| format!("reading {}", pool.display()))?;
        let id = machine.install_pool(bytes)?;
        println!("installed pool {id}");
    }
    run_repl(&mut VendingSimulator::new(machine, qr))
}

/// `--mode payer`: the payer device in `--dir`, fed invoices from stdin.
fn simulate_payer(args: &SimulateArgs, qr: Option<Box<dyn QrRenderer>>) -> Result<()> {
    if args.owner.is_some() || args.pool.is_some() || args.keys.is_some() {
        bail!("--owner, --pool and --keys are not for --mode payer");
    }
    let options = payer::PayerOptions {
        dir: args.dir.clone(),
        device: args.device.clone(),
        token_key: args.token_key.clone(),
        per_payment_msat: msat_from(args.per_payment_sat, args.per_payment_msat, "per-payment")?,
        budget_msat: msat_from(args.budget_sat, args.budget_msat, "budget")?,
        lifetime_secs: args.token_lifetime_secs,
    };
    let (device, limits) = payer::open(&options)?;
    let mut simulator = payer::PayerSimulator::new(device, limits, options.lifetime_secs, qr);
    let stdin = std::io::stdin();
    let kind = if stdin.is_terminal() { InputKind::Terminal } else { InputKind::Script };
    payer::run(&mut simulator, stdin.lock(), &mut std::io::stdout().lock(), kind)
}

/// Runs `simulator` on stdin and stdout: a prompt at a terminal, an echo of each command when
/// stdin is a script.
fn run_repl(simulator: &mut dyn Simulator) -> Result<()> {
    let stdin = std::io::stdin();
    let kind = if stdin.is_terminal() { InputKind::Terminal } else { InputKind::Script };
    simulator::run(simulator, stdin.lock(), &mut std::io::stdout().lock(), kind)?;
    Ok(())
}

/// Opens the deputy terminal in `--dir`: the keys file (installed from `--keys` on the first
/// run) and the flash image `deputy.flash`.
fn open_deputy(
    args: &SimulateArgs,
    qr: Option<Box<dyn QrRenderer>>,
) -> Result<DeputySimulator<FileFlash>> {
    std::fs::create_dir_all(&args.dir)
        .with_context(|| format!("creating {}", args.dir.display()))?;
    let keys_path = args.dir.join("deputy-keys.json");
    if let Some(src) = &args.keys {
        if !keys_path.exists() {
            std::fs::copy(src, &keys_path)
                .with_context(|| format!("installing the keys from {}", src.display()))?;
        }
    }
    let text = std::fs::read_to_string(&keys_path).with_context(|| {
        format!(
            "reading {} (enrol with --keys <file from GET /v1/deputy/{{id}}/keys>)",
            keys_path.display()
        )
    })?;
    let file: lnedge_wire::deputy::DeputyKeys =
        serde_json::from_str(&text).context("the keys file is not valid")?;
    let keys = TerminalKeys {
        device_id: DeviceId(parse_id::<16>(&file.device_id, "device_id")?),
        seal_key: parse_id::<32>(&file.seal_key, "seal_key")?,
        claim_key: parse_id::<32>(&file.claim_key, "claim_key")?,
    };
    let sync_key = parse_id::<32>(&file.sync_key, "sync_key")?;
    let flash = FileFlash::open(args.dir.join("deputy.flash"), DEPUTY_FLASH_LEN)?;
    let terminal = DeputyTerminal::open(keys, &file.gateway_url, flash)?;
    Ok(DeputySimulator::new(terminal, sync_key, qr))
}
