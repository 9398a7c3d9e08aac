//! The device simulator behind `lnedge device simulate`: a vending machine or a deputy point of
//! sale driven by text commands, one per line. It never opens a socket: an invoice or LNURL goes
//! out as text (and a QR code), a payment proof comes back as typed or scanned text, an NFC NDEF
//! file, or keypad digits.
//!
//! * [`repl`] — [`run`]: reads commands from any [`BufRead`](std::io::BufRead) until `quit`,
//!   `exit` or the end of input, answers on any [`Write`]; a refused command is answered with
//!   `refused: …` and never ends the session.
//! * [`vending`] — [`VendingSimulator`]: a [`VendingMachine`](crate::VendingMachine) with a
//!   simulated motor (`products`, `buy`, `claim`, `jam`, `resolve`, `install`…).
//! * [`deputy`] — [`DeputySimulator`]: a [`DeputyTerminal`](crate::deputy::DeputyTerminal)
//!   (`sell 4.20 EUR`, `claim`, `key`, `report`, `synced`…).
//! * [`amount`] — amounts typed at the terminal ([`parse_amount`]) and numbers grouped for
//!   reading ([`group_thousands`]).
//!
//! QR codes are drawn by a [`QrRenderer`] the caller supplies (the CLI draws them with Unicode
//! half blocks); without one the simulator prints the text only. Opening the device's state
//! (directory, flash file, keys) is the caller's: a simulator wraps an opened machine or
//! terminal.

use std::error::Error as StdError;
use std::io::{self, Write};
use std::num::ParseIntError;

use lnedge_proto::deputy::DeputyError;

use crate::claim::ClaimInput;
use crate::deputy::DeputyTerminalError;
use crate::machine::VendError;

pub mod amount;
pub mod deputy;
pub mod repl;
pub mod vending;

pub use amount::{group_thousands, parse_amount, ParseAmountError};
pub use deputy::DeputySimulator;
pub use repl::{run, InputKind};
pub use vending::VendingSimulator;

/// Any error, boxed (what a [`QrRenderer`] reports).
pub type BoxError = Box<dyn StdError + Send + Sync>;

/// Draws QR codes for the simulator's display.
pub trait QrRenderer {
    /// `text` as a QR code, ready to print (lines of text).
    fn render(&self, text: &str) -> Result<String, BoxError>;
}

impl<F: Fn(&str) -> Result<String, BoxError>> QrRenderer for F {
    fn render(&self, text: &str) -> Result<String, BoxError> {
        self(text)
    }
}

/// A simulated device the [`repl`] drives.
pub trait Simulator {
    /// Writes what the device shows when it starts: its name, and any warning.
    fn greet(&mut self, out: &mut dyn Write) -> Result<(), SimulatorError>;

    /// Runs `command` with its arguments `rest` (trimmed), writing the answer to `out`. An
    /// error is the command's refusal, except [`SimulatorError::Output`].
    fn execute(
        &mut self,
        command: &str,
        rest: &str,
        out: &mut dyn Write,
    ) -> Result<(), SimulatorError>;
}

/// Why the simulator refused a command, or stopped.
///
/// Refusals are shown with their causes (`refused: product 9 is not sold by this machine`);
/// only [`Input`](Self::Input) and [`Output`](Self::Output) end a session.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimulatorError {
    /// The command is not one this device knows.
    #[error("unknown command {0:?}; type `help`")]
    UnknownCommand(String),
    /// `buy` was given something that is not a product number.
    #[error("product {text:?} is not a number")]
    NotAProduct {
        /// What was typed.
        text: String,
        /// Why it is not a number.
        #[source]
        source: ParseIntError,
    },
    /// `jam` was given something that is not a count.
    #[error("jam takes a count")]
    NotACount(#[source] ParseIntError),
    /// `synced` was given something that is not a sale number.
    #[error("{text:?} is not a sale number")]
    NotASaleNumber {
        /// What was typed.
        text: String,
        /// Why it is not a number.
        #[source]
        source: ParseIntError,
    },
    /// The NFC file of `nfc <file>` could not be read.
    #[error("reading NFC file {path:?}")]
    ReadNfc {
        /// The file as typed.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The pool file of `install <file>` could not be read.
    #[error("reading {path:?}")]
    ReadPool {
        /// The file as typed.
        path: String,
        /// The error.
        #[source]
        source: io::Error,
    },
    /// The amount of a sale is not one the currency can have.
    #[error(transparent)]
    Amount(#[from] ParseAmountError),
    /// Not a currency code, or another deputy format error.
    #[error(transparent)]
    Deputy(#[from] DeputyError),
    /// The vending machine refused.
    #[error(transparent)]
    Vend(#[from] VendError),
    /// The deputy terminal refused.
    #[error(transparent)]
    Terminal(#[from] DeputyTerminalError),
    /// The QR renderer could not draw the text.
    #[error("the text does not fit in a QR code")]
    Qr(#[source] BoxError),
    /// Reading the commands failed (ends the session).
    #[error("reading stdin")]
    Input(#[source] io::Error),
    /// Writing the answers failed (ends the session).
    #[error("writing the output")]
    Output(#[from] io::Error),
}

impl SimulatorError {
    /// Whether the error ends the session (the input or output failed) rather than refusing
    /// one command.
    pub fn is_fatal(&self) -> bool {
        matches!(self, SimulatorError::Input(_) | SimulatorError::Output(_))
    }
}

/// `error` and its causes, `: `-separated (`not a payment proof: …`), as refusals are shown.
pub fn error_chain(error: &dyn StdError) -> String {
    let mut text = error.to_string();
    let mut cause = error.source();
    while let Some(e) = cause {
        text.push_str(": ");
        text.push_str(&e.to_string());
        cause = e.source();
    }
    text
}

/// Writes `text` as a QR code (then a newline) if there is a renderer.
fn draw_qr(
    qr: Option<&dyn QrRenderer>,
    text: &str,
    out: &mut dyn Write,
) -> Result<(), SimulatorError> {
    if let Some(qr) = qr {
        writeln!(out, "{}", qr.render(text).map_err(SimulatorError::Qr)?)?;
    }
    Ok(())
}

/// The claim a `claim <text>`, `key <digits>` or `nfc <file>` command presents (`ndef` holds
/// the file read for `nfc`).
fn claim_input<'a>(
    command: &str,
    rest: &'a str,
    ndef: &'a mut Vec<u8>,
) -> Result<ClaimInput<'a>, SimulatorError> {
    Ok(match command {
        "claim" => ClaimInput::Text(rest),
        "key" => ClaimInput::Keypad(rest),
        _ => {
            *ndef = std::fs::read(rest)
                .map_err(|source| SimulatorError::ReadNfc { path: rest.to_owned(), source })?;
            ClaimInput::Ndef(ndef)
        }
    })
}
