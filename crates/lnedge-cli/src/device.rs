//! `lnedge device simulate`: a vending machine in the terminal. It never opens a socket: the
//! invoice goes out as a QR code, the payment proof comes back as typed or scanned text, an NFC
//! NDEF file, or keypad digits. `--mode deputy` runs a deputy point of sale instead: any amount,
//! an LNURL QR, and the claim the customer's wallet decrypts after paying.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lnedge_device::claim::ClaimInput;
use lnedge_device::{Enrolment, SimulatedMotor, VendOutcome, VendingMachine};
use lnedge_proto::DeviceId;
use lnedge_wire::sync::DeputyReport;

use crate::util::group;

/// `lnedge device …`
#[derive(Debug, Subcommand)]
pub(crate) enum DeviceCommand {
    /// Run a vending machine in the terminal (interactive, or scripted through stdin).
    Simulate(SimulateArgs),
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
    /// The machine's state directory (enrolment, pool, ledger).
    #[arg(long)]
    dir: PathBuf,
    /// Enrol the machine with this device id (32 hex characters) if it is not enrolled yet.
    #[arg(long, requires = "owner")]
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
}

/// The kinds of simulated device.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum Mode {
    /// A vending machine selling fixed-price products from an invoice pool (no secret).
    Vending,
    /// A deputy point of sale: any amount, LNURL, claim checked offline (holds a key).
    Deputy,
}

const DEPUTY_HELP: &str = "commands:
  sell <amount> [currency]  start a sale: `sell 4.20 EUR`, `sell 2100 sat` (QR + LNURL)
  claim <text>              the text the wallet shows after paying (code and/or LNEDGE1… claim)
  key <digits>              type the 8-digit code on the keypad
  nfc <file>                present an NFC NDEF message read from a file
  status                    counter, pending sale, paid sales not yet synced
  report                    the signed sync report of paid sales (POST /v1/deputy/{id}/sync)
  synced <n> [n…]           the gateway acknowledged these sales
  help | quit";

const HELP: &str = "commands:
  products              what is on sale
  buy <product>         show an invoice for a product (QR + text)
  claim <text>          present a payment proof: the 64-hex preimage your wallet shows
  key <digits>          type the preimage on the keypad (spaces and dashes allowed)
  nfc <file>            present an NFC NDEF message read from a file
  jam [n]               make the next n vends jam (default 1)
  status                ledger counts and pending claims
  resolve               resolve claims left pending by a power cut as failed (refund vouchers)
  install <pool file>   install a new pool (top-up)
  help | quit";

fn parse_id<const N: usize>(text: &str, what: &str) -> Result<[u8; N]> {
    let bytes = hex::decode(text).with_context(|| format!("{what} is not hex"))?;
    bytes
        .try_into()
        .map_err(|b: Vec<u8>| anyhow::anyhow!("{what} must be {N} bytes, got {}", b.len()))
}

fn draw_qr(text: &str) -> Result<String> {
    let code =
        qrcode::QrCode::new(text.as_bytes()).context("the text does not fit in a QR code")?;
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
        DeviceCommand::Simulate(args) => tokio::task::block_in_place(|| simulate(args)),
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
    if args.mode == Mode::Deputy {
        return simulate_deputy(args);
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
    let interactive = std::io::stdin().is_terminal();
    println!("lnedge vending machine {} (offline; type `help`)", machine.enrolment().device_id);
    if !machine.pending().unwrap_or_default().is_empty() {
        println!("warning: claims were left pending by a power cut; `status` lists them, `resolve` settles them");
    }
    // A bad command or claim is answered, never fatal: the machine keeps running.
    repl(interactive, |command, rest| execute(&mut machine, command, rest, args.no_qr))?;
    Ok(())
}

/// Reads commands from stdin until `quit`, `exit` or the end of input; echoes them when stdin
/// is not a terminal (scripts), skips blank lines and `#` comments. A command's error is printed
/// as `refused: …` and never ends the loop.
fn repl(interactive: bool, mut execute: impl FnMut(&str, &str) -> Result<()>) -> Result<()> {
    let stdin = std::io::stdin();
    let mut lines = stdin.lock().lines();
    loop {
        if interactive {
            print!("> ");
            std::io::stdout().flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("reading stdin")?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if !interactive {
            println!("> {line}");
        }
        let (command, rest) = line.split_once(' ').map_or((line, ""), |(c, r)| (c, r.trim()));
        if matches!(command, "quit" | "exit") {
            break;
        }
        if let Err(e) = execute(command, rest) {
            println!("refused: {e:#}");
        }
    }
    Ok(())
}

/// The claim a `claim <text>`, `key <digits>` or `nfc <file>` command presents (`ndef` holds
/// the file read for `nfc`).
fn claim_input<'a>(command: &str, rest: &'a str, ndef: &'a mut Vec<u8>) -> Result<ClaimInput<'a>> {
    Ok(match command {
        "claim" => ClaimInput::Text(rest),
        "key" => ClaimInput::Keypad(rest),
        _ => {
            *ndef = std::fs::read(rest).with_context(|| format!("reading NFC file {rest:?}"))?;
            ClaimInput::Ndef(ndef)
        }
    })
}

fn execute(
    machine: &mut VendingMachine<SimulatedMotor>,
    command: &str,
    rest: &str,
    no_qr: bool,
) -> Result<()> {
    match command {
        "help" => println!("{HELP}"),
        "products" => {
            for p in machine.products()? {
                let price =
                    p.price_msat.map_or("any".into(), |m| format!("{} sat", group(m / 1000)));
                println!("  [{}] {:<20} {:>12}   {} left", p.id, p.description, price, p.available);
            }
        }
        "buy" => {
            let product: u16 =
                rest.parse().with_context(|| format!("product {rest:?} is not a number"))?;
            let offer = machine.offer(product)?;
            if !no_qr {
                // Upper case fits QR alphanumeric mode: a smaller code for the same invoice.
                println!("{}", draw_qr(&format!("lightning:{}", offer.bolt11).to_uppercase())?);
            }
            println!("invoice {} for product {}: {}", offer.index, offer.product, offer.bolt11);
            println!("pay it with any Lightning wallet, then `claim <preimage>`");
        }
        "claim" | "key" | "nfc" => {
            let mut ndef = Vec::new();
            let input = claim_input(command, rest, &mut ndef)?;
            match machine.present(input)? {
                VendOutcome::Dispensed { index, product } => {
                    println!("vend: product {product} dispensed (invoice {index}). Enjoy!");
                }
                VendOutcome::Failed { index, product, reason, voucher, voucher_text: text } => {
                    println!("vend FAILED for product {product} (invoice {index}): {reason}");
                    if !no_qr {
                        println!("{}", draw_qr(&text)?);
                    }
                    println!("refund voucher: {text}");
                    println!("scan it to get your {} sat back", group(voucher.amount_msat / 1000));
                }
            }
        }
        "jam" => {
            let n: u32 =
                if rest.is_empty() { 1 } else { rest.parse().context("jam takes a count")? };
            machine.dispenser_mut().jam_next(n);
            println!("the next {n} vend(s) will jam");
        }
        "status" => {
            let c = machine.counts()?;
            println!(
                "pool {}: {} unused, {} offered, {} claimed (pending), {} dispensed, {} failed",
                machine.pool_id()?,
                c.unused,
                c.offered,
                c.claimed,
                c.dispensed,
                c.failed
            );
            for p in machine.pending()? {
                println!("  pending: invoice {} ({:?})", p.index, p.reason);
            }
        }
        "resolve" => {
            for (v, text) in machine.resolve_pending_as_failed()? {
                println!("  invoice {} resolved as failed; refund voucher {text}", v.entry_index);
            }
        }
        "install" => {
            let bytes = std::fs::read(rest).with_context(|| format!("reading {rest:?}"))?;
            println!("installed pool {}", machine.install_pool(bytes)?);
        }
        other => anyhow::bail!("unknown command {other:?}; type `help`"),
    }
    Ok(())
}

/// The terminal's provisioning, as `GET /v1/deputy/{id}/keys` answers it.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct DeputyKeysFile {
    device_id: String,
    seal_key: String,
    claim_key: String,
    sync_key: String,
    gateway_url: String,
}

type Terminal = lnedge_device::deputy::DeputyTerminal<lnedge_device::deputy::DeputyFlashFile>;

fn simulate_deputy(args: SimulateArgs) -> Result<()> {
    use lnedge_device::deputy::{DeputyFlashFile, DeputyTerminal};
    use lnedge_proto::deputy::TerminalKeys;

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
    let file: DeputyKeysFile = serde_json::from_str(&text).context("the keys file is not valid")?;
    let keys = TerminalKeys {
        device_id: DeviceId(parse_id::<16>(&file.device_id, "device_id")?),
        seal_key: parse_id::<32>(&file.seal_key, "seal_key")?,
        claim_key: parse_id::<32>(&file.claim_key, "claim_key")?,
    };
    let sync_key = parse_id::<32>(&file.sync_key, "sync_key")?;
    let flash = DeputyFlashFile::open(args.dir.join("deputy.flash"))?;
    let mut terminal = DeputyTerminal::open(keys, &file.gateway_url, flash)?;
    let interactive = std::io::stdin().is_terminal();
    println!("lnedge deputy terminal {} (offline; type `help`)", terminal.device_id());
    repl(interactive, |command, rest| {
        execute_deputy(&mut terminal, &sync_key, command, rest, args.no_qr)
    })?;
    Ok(())
}

/// `"4.20" EUR` → 420 (minor units), `"2100" sat` → 2100.
pub(crate) fn parse_amount(text: &str, currency: &lnedge_proto::deputy::Currency) -> Result<u64> {
    let digits = lnedge_gateway::deputy::minor_unit_digits(currency.as_str()) as usize;
    let (whole, frac) = text.split_once(['.', ',']).unwrap_or((text, ""));
    anyhow::ensure!(
        frac.len() <= digits,
        "{currency} has {digits} decimal places; {text:?} has {}",
        frac.len()
    );
    let padded = format!("{whole}{frac:0<digits$}");
    let amount: u64 = padded.parse().with_context(|| format!("{text:?} is not an amount"))?;
    anyhow::ensure!(amount > 0, "the amount must be positive");
    Ok(amount)
}

fn execute_deputy(
    terminal: &mut Terminal,
    sync_key: &[u8; 32],
    command: &str,
    rest: &str,
    no_qr: bool,
) -> Result<()> {
    use lnedge_device::deputy::Presented;
    use lnedge_proto::deputy::Currency;

    match command {
        "help" => println!("{DEPUTY_HELP}"),
        "sell" => {
            let (amount, currency) = rest.split_once(' ').unwrap_or((rest, "sat"));
            let currency = Currency::parse(currency.trim())?;
            let amount = parse_amount(amount.trim(), &currency)?;
            let shown = terminal.new_sale(amount, currency)?;
            if !no_qr {
                println!("{}", draw_qr(&shown.lnurl)?);
            }
            println!(
                "sale {}: {}",
                shown.sale.counter,
                lnedge_gateway::deputy::display_amount(amount, &currency)
            );
            println!("lnurl {}", shown.lnurl);
            println!("nfc   {}", shown.lud17);
            println!("scan with any LNURL wallet, then `claim <text>` or `key <8 digits>`");
        }
        "claim" | "key" | "nfc" => {
            let mut ndef = Vec::new();
            let input = claim_input(command, rest, &mut ndef)?;
            match terminal.present(input)? {
                Presented::Paid(sale) => println!(
                    "PAID: sale {} ({}). Deliver.",
                    sale.counter,
                    lnedge_gateway::deputy::display_amount(sale.amount, &sale.currency)
                ),
                Presented::AlreadyPaid(sale) => {
                    println!("already accepted: sale {} was delivered before", sale.counter)
                }
                Presented::Wrong { counter, tries_left } => {
                    println!("wrong code for sale {counter}: {tries_left} tries left")
                }
                Presented::LockedOut { counter } => println!(
                    "sale {counter} is locked: too many wrong codes (scan the full claim instead)"
                ),
                Presented::Forged { counter } => {
                    println!("this claim for sale {counter} is not genuine")
                }
                Presented::OtherTerminal(d) => println!("this claim is for terminal {d}"),
                Presented::UnknownSale(c) => println!("this terminal made no sale {c}"),
                Presented::NoPendingSale => println!("no sale is waiting for a code"),
            }
        }
        "status" => {
            println!("counter {}", terminal.counter());
            if let Some(p) = terminal.pending()? {
                println!(
                    "pending: sale {} ({}), {} wrong codes",
                    p.sale.counter,
                    lnedge_gateway::deputy::display_amount(p.sale.amount, &p.sale.currency),
                    p.wrong_tries
                );
            }
            let unsynced = terminal.unsynced_paid()?;
            println!(
                "paid, not synced: {:?}",
                unsynced.iter().map(|s| s.counter).collect::<Vec<_>>()
            );
        }
        "report" => {
            let counters: Vec<u64> = terminal.unsynced_paid()?.iter().map(|s| s.counter).collect();
            let upload = DeputyReport { claimed: counters }.signed(sync_key);
            println!("POST /v1/deputy/{}/sync", terminal.device_id());
            println!("{}: {}", lnedge_wire::SIGNATURE_HEADER, upload.signature);
            println!("{}", String::from_utf8_lossy(&upload.body));
        }
        "synced" => {
            let counters = rest
                .split_whitespace()
                .map(|c| c.parse::<u64>().with_context(|| format!("{c:?} is not a sale number")))
                .collect::<Result<Vec<_>>>()?;
            terminal.mark_synced(&counters)?;
            println!("{} sale(s) marked synced", counters.len());
        }
        other => anyhow::bail!("unknown command {other:?}; type `help`"),
    }
    Ok(())
}

#[cfg(test)]
mod deputy_tests {
    use super::parse_amount;
    use lnedge_proto::deputy::Currency;

    #[test]
    fn amounts_parse_in_minor_units() {
        let eur = Currency::parse("EUR").unwrap();
        assert_eq!(parse_amount("4.20", &eur).unwrap(), 420);
        assert_eq!(parse_amount("4,2", &eur).unwrap(), 420);
        assert_eq!(parse_amount("4", &eur).unwrap(), 400);
        assert!(parse_amount("4.205", &eur).is_err());
        assert!(parse_amount("x", &eur).is_err());
        assert!(parse_amount("0", &eur).is_err());
        assert_eq!(parse_amount("2100", &Currency::SAT).unwrap(), 2100);
        assert!(parse_amount("21.5", &Currency::SAT).is_err());
    }
}
