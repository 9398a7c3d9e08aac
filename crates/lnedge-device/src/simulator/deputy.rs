//! [`DeputySimulator`]: a deputy point of sale driven by text commands: any amount, an LNURL
//! QR, and the claim the customer's wallet decrypts after paying.

use std::fmt;
use std::io::Write;

use lnedge_proto::deputy::{Currency, DisplayAmount};
use lnedge_wire::sync::DeputyReport;

use super::amount::parse_amount;
use super::{claim_input, draw_qr, QrRenderer, Simulator, SimulatorError};
use crate::deputy::{DeputyTerminal, Presented};
use crate::flash::Flash;

/// The deputy terminal's commands, as `help` prints them.
pub const HELP: &str = "commands:
  sell <amount> [currency]  start a sale: `sell 4.20 EUR`, `sell 2100 sat` (QR + LNURL)
  claim <text>              the text the wallet shows after paying (code and/or LNEDGE1… claim)
  key <digits>              type the 8-digit code on the keypad
  nfc <file>                present an NFC NDEF message read from a file
  status                    counter, pending sale, paid sales not yet synced
  report                    the signed sync report of paid sales (POST /v1/deputy/{id}/sync)
  synced <n> [n…]           the gateway acknowledged these sales
  help | quit";

/// A [`DeputyTerminal`] and its sync key, driven by the commands of [`HELP`].
pub struct DeputySimulator<F: Flash> {
    terminal: DeputyTerminal<F>,
    sync_key: [u8; 32],
    qr: Option<Box<dyn QrRenderer>>,
}

impl<F: Flash> fmt::Debug for DeputySimulator<F> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeputySimulator")
            .field("terminal", &self.terminal)
            .field("draws_qr", &self.qr.is_some())
            .finish_non_exhaustive()
    }
}

impl<F: Flash> DeputySimulator<F> {
    /// Drives `terminal`; `report` signs with `sync_key`; sale LNURLs are also drawn by `qr`,
    /// if given.
    pub fn new(
        terminal: DeputyTerminal<F>,
        sync_key: [u8; 32],
        qr: Option<Box<dyn QrRenderer>>,
    ) -> Self {
        DeputySimulator { terminal, sync_key, qr }
    }

    /// The terminal.
    pub fn terminal(&self) -> &DeputyTerminal<F> {
        &self.terminal
    }

    /// The terminal, to change it between commands.
    pub fn terminal_mut(&mut self) -> &mut DeputyTerminal<F> {
        &mut self.terminal
    }

    /// Gives the terminal back.
    pub fn into_terminal(self) -> DeputyTerminal<F> {
        self.terminal
    }

    fn sell(&mut self, rest: &str, out: &mut dyn Write) -> Result<(), SimulatorError> {
        let (amount, currency) = rest.split_once(' ').unwrap_or((rest, "sat"));
        let currency = Currency::parse(currency.trim())?;
        let amount = parse_amount(amount.trim(), &currency)?;
        let shown = self.terminal.new_sale(amount, currency)?;
        draw_qr(self.qr.as_deref(), &shown.lnurl, out)?;
        writeln!(out, "sale {}: {}", shown.sale.counter, DisplayAmount::new(amount, currency))?;
        writeln!(out, "lnurl {}", shown.lnurl)?;
        writeln!(out, "nfc   {}", shown.lud17)?;
        writeln!(
            out,
            "scan with an LNURL wallet that shows LUD-10 (aes) success actions (most do; one \
             that does not refuses to pay, per LUD-09), then `claim <text>` or `key <8 digits>`"
        )?;
        Ok(())
    }

    fn present(
        &mut self,
        command: &str,
        rest: &str,
        out: &mut dyn Write,
    ) -> Result<(), SimulatorError> {
        let mut ndef = Vec::new();
        let input = claim_input(command, rest, &mut ndef)?;
        match self.terminal.present(input)? {
            Presented::Paid(sale) => writeln!(
                out,
                "PAID: sale {} ({}). Deliver.",
                sale.counter,
                DisplayAmount::new(sale.amount, sale.currency)
            )?,
            Presented::AlreadyPaid(sale) => {
                writeln!(out, "already accepted: sale {} was delivered before", sale.counter)?
            }
            Presented::Wrong { counter, tries_left } => {
                writeln!(out, "wrong code for sale {counter}: {tries_left} tries left")?
            }
            Presented::LockedOut { counter } => writeln!(
                out,
                "sale {counter} is locked: too many wrong codes (scan the full claim instead)"
            )?,
            Presented::Forged { counter } => {
                writeln!(out, "this claim for sale {counter} is not genuine")?
            }
            Presented::OtherTerminal(d) => writeln!(out, "this claim is for terminal {d}")?,
            Presented::UnknownSale(c) => writeln!(out, "this terminal made no sale {c}")?,
            Presented::NoPendingSale => writeln!(out, "no sale is waiting for a code")?,
        }
        Ok(())
    }

    fn status(&mut self, out: &mut dyn Write) -> Result<(), SimulatorError> {
        writeln!(out, "counter {}", self.terminal.counter())?;
        if let Some(p) = self.terminal.pending()? {
            writeln!(
                out,
                "pending: sale {} ({}), {} wrong codes",
                p.sale.counter,
                DisplayAmount::new(p.sale.amount, p.sale.currency),
                p.wrong_tries
            )?;
        }
        let unsynced = self.terminal.unsynced_paid()?;
        writeln!(
            out,
            "paid, not synced: {:?}",
            unsynced.iter().map(|s| s.counter).collect::<Vec<_>>()
        )?;
        Ok(())
    }
}

impl<F: Flash> Simulator for DeputySimulator<F> {
    fn greet(&mut self, out: &mut dyn Write) -> Result<(), SimulatorError> {
        writeln!(
            out,
            "lnedge deputy terminal {} (offline; type `help`)",
            self.terminal.device_id()
        )?;
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
            "sell" => self.sell(rest, out)?,
            "claim" | "key" | "nfc" => self.present(command, rest, out)?,
            "status" => self.status(out)?,
            "report" => {
                let counters: Vec<u64> =
                    self.terminal.unsynced_paid()?.iter().map(|s| s.counter).collect();
                let upload = DeputyReport { claimed: counters }.signed(&self.sync_key);
                writeln!(out, "POST /v1/deputy/{}/sync", self.terminal.device_id())?;
                writeln!(out, "{}: {}", lnedge_wire::SIGNATURE_HEADER, upload.signature)?;
                writeln!(out, "{}", String::from_utf8_lossy(&upload.body))?;
            }
            "synced" => {
                let counters = rest
                    .split_whitespace()
                    .map(|c| {
                        c.parse::<u64>().map_err(|source| SimulatorError::NotASaleNumber {
                            text: c.to_owned(),
                            source,
                        })
                    })
                    .collect::<Result<Vec<_>, _>>()?;
                self.terminal.mark_synced(&counters)?;
                writeln!(out, "{} sale(s) marked synced", counters.len())?;
            }
            other => return Err(SimulatorError::UnknownCommand(other.to_owned())),
        }
        Ok(())
    }
}
