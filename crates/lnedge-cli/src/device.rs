//! `lnedge device simulate`: a vending machine in the terminal. It never opens a socket: the
//! invoice goes out as a QR code, the payment proof comes back as typed or scanned text, an NFC
//! NDEF file, or keypad digits.

use std::io::{BufRead, IsTerminal, Write};
use std::path::PathBuf;

use anyhow::{Context, Result};
use clap::{Args, Subcommand};
use lnedge_device::claim::ClaimInput;
use lnedge_device::{Enrolment, SimulatedMotor, VendOutcome, VendingMachine};
use lnedge_proto::DeviceId;

use crate::util::group;

/// `lnedge device …`
#[derive(Debug, Subcommand)]
pub(crate) enum DeviceCommand {
    /// Run a vending machine in the terminal (interactive, or scripted through stdin).
    Simulate(SimulateArgs),
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
}

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
pub(crate) fn run(command: DeviceCommand) -> Result<()> {
    match command {
        DeviceCommand::Simulate(args) => simulate(args),
    }
}

fn simulate(args: SimulateArgs) -> Result<()> {
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
        // A bad command or claim is answered, never fatal: the machine keeps running.
        if let Err(e) = execute(&mut machine, command, rest, args.no_qr) {
            println!("refused: {e:#}");
        }
    }
    Ok(())
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
            let ndef;
            let input = match command {
                "claim" => ClaimInput::Text(rest),
                "key" => ClaimInput::Keypad(rest),
                _ => {
                    ndef = std::fs::read(rest)
                        .with_context(|| format!("reading NFC file {rest:?}"))?;
                    ClaimInput::Ndef(&ndef)
                }
            };
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
