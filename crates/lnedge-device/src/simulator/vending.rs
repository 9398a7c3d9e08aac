//! [`VendingSimulator`]: a vending machine with a simulated motor, driven by text commands.

use std::fmt;
use std::io::Write;

use super::amount::group_thousands;
use super::{claim_input, draw_qr, QrRenderer, Simulator, SimulatorError};
use crate::machine::{SimulatedMotor, VendOutcome, VendingMachine};

/// The vending machine's commands, as `help` prints them.
pub const HELP: &str = "commands:
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

/// A [`VendingMachine`] with a [`SimulatedMotor`], driven by the commands of [`HELP`].
pub struct VendingSimulator {
    machine: VendingMachine<SimulatedMotor>,
    qr: Option<Box<dyn QrRenderer>>,
}

impl fmt::Debug for VendingSimulator {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("VendingSimulator")
            .field("machine", &self.machine)
            .field("draws_qr", &self.qr.is_some())
            .finish()
    }
}

impl VendingSimulator {
    /// Drives `machine`; invoices and refund vouchers are also drawn by `qr`, if given.
    pub fn new(machine: VendingMachine<SimulatedMotor>, qr: Option<Box<dyn QrRenderer>>) -> Self {
        VendingSimulator { machine, qr }
    }

    /// The machine.
    pub fn machine(&self) -> &VendingMachine<SimulatedMotor> {
        &self.machine
    }

    /// The machine, to change it between commands.
    pub fn machine_mut(&mut self) -> &mut VendingMachine<SimulatedMotor> {
        &mut self.machine
    }

    /// Gives the machine back.
    pub fn into_machine(self) -> VendingMachine<SimulatedMotor> {
        self.machine
    }

    fn present(
        &mut self,
        command: &str,
        rest: &str,
        out: &mut dyn Write,
    ) -> Result<(), SimulatorError> {
        let mut ndef = Vec::new();
        let input = claim_input(command, rest, &mut ndef)?;
        match self.machine.present(input)? {
            VendOutcome::Dispensed { index, product } => {
                writeln!(out, "vend: product {product} dispensed (invoice {index}). Enjoy!")?;
            }
            VendOutcome::Failed { index, product, reason, voucher, voucher_text: text } => {
                writeln!(out, "vend FAILED for product {product} (invoice {index}): {reason}")?;
                draw_qr(self.qr.as_deref(), &text, out)?;
                writeln!(out, "refund voucher: {text}")?;
                writeln!(
                    out,
                    "scan it to get your {} sat back",
                    group_thousands(voucher.amount_msat / 1000)
                )?;
            }
        }
        Ok(())
    }
}

impl Simulator for VendingSimulator {
    fn greet(&mut self, out: &mut dyn Write) -> Result<(), SimulatorError> {
        writeln!(
            out,
            "lnedge vending machine {} (offline; type `help`)",
            self.machine.enrolment().device_id
        )?;
        if !self.machine.pending().unwrap_or_default().is_empty() {
            writeln!(
                out,
                "warning: claims were left pending by a power cut; `status` lists them, `resolve` settles them"
            )?;
        }
        Ok(())
    }

    fn execute(
        &mut self,
        command: &str,
        rest: &str,
        out: &mut dyn Write,
    ) -> Result<(), SimulatorError> {
        match command {
            "help" => writeln!(out, "{HELP}")?,
            "products" => {
                for p in self.machine.products()? {
                    let price = p
                        .price_msat
                        .map_or("any".into(), |m| format!("{} sat", group_thousands(m / 1000)));
                    writeln!(
                        out,
                        "  [{}] {:<20} {:>12}   {} left",
                        p.id, p.description, price, p.available
                    )?;
                }
            }
            "buy" => {
                let product: u16 = rest.parse().map_err(|source| SimulatorError::NotAProduct {
                    text: rest.to_owned(),
                    source,
                })?;
                let offer = self.machine.offer(product)?;
                // Upper case fits QR alphanumeric mode: a smaller code for the same invoice.
                let qr_text = format!("lightning:{}", offer.bolt11).to_uppercase();
                draw_qr(self.qr.as_deref(), &qr_text, out)?;
                writeln!(
                    out,
                    "invoice {} for product {}: {}",
                    offer.index, offer.product, offer.bolt11
                )?;
                writeln!(out, "pay it with any Lightning wallet, then `claim <preimage>`")?;
            }
            "claim" | "key" | "nfc" => self.present(command, rest, out)?,
            "jam" => {
                let n: u32 = if rest.is_empty() {
                    1
                } else {
                    rest.parse().map_err(SimulatorError::NotACount)?
                };
                self.machine.dispenser_mut().jam_next(n);
                writeln!(out, "the next {n} vend(s) will jam")?;
            }
            "status" => {
                let c = self.machine.counts()?;
                writeln!(
                    out,
                    "pool {}: {} unused, {} offered, {} claimed (pending), {} dispensed, {} failed",
                    self.machine.pool_id()?,
                    c.unused,
                    c.offered,
                    c.claimed,
                    c.dispensed,
                    c.failed
                )?;
                for p in self.machine.pending()? {
                    writeln!(out, "  pending: invoice {} ({:?})", p.index, p.reason)?;
                }
            }
            "resolve" => {
                for (v, text) in self.machine.resolve_pending_as_failed()? {
                    writeln!(
                        out,
                        "  invoice {} resolved as failed; refund voucher {text}",
                        v.entry_index
                    )?;
                }
            }
            "install" => {
                let bytes = std::fs::read(rest)
                    .map_err(|source| SimulatorError::ReadPool { path: rest.to_owned(), source })?;
                writeln!(out, "installed pool {}", self.machine.install_pool(bytes)?)?;
            }
            other => return Err(SimulatorError::UnknownCommand(other.to_owned())),
        }
        Ok(())
    }
}
