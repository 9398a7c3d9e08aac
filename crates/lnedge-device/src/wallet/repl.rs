//! The wallet device's owner commands, one per line (`lnedge device simulate --mode wallet`):
//!
//! | command | answer |
//! |---|---|
//! | `status` | `joint-key`, `epoch`, `channel-balance-sat`, `coins-sat`, `signatures`, `refusals`, `last-refusal` lines, then `ok` |
//! | `deposit` | `deposit-script <hex>`: where the channel's coins go |
//! | `coin <txid>:<vout> <sat>` | `ok coin <txid>:<vout>` |
//! | `pay <bolt11>` | `paid <preimage hex>`, or `refused: <reason>` / `error: <reason>` |
//! | `help`, `quit` | |
//!
//! Every line gets an answer; a bad one names the problem and the session goes on.

use std::io::{BufRead, Write};

use bitcoin::OutPoint;
use lnedge_cosign::link::DeviceLink;
use lnedge_cosign::CosignError;

use super::{WalletDevice, WalletDeviceError};

const HELP: &str = "commands: status | deposit | coin <txid>:<vout> <sat> | pay <bolt11> | quit";

/// Runs the owner's commands from `input` until `quit` or its end, answering on `output`.
/// `gateway`: the gateway's payment service (`None`: `pay` says it has none). `today`: days
/// since the epoch, UTC (the budget's day).
pub fn run(
    device: &WalletDevice,
    gateway: Option<&dyn DeviceLink>,
    today: impl Fn() -> u64,
    input: impl BufRead,
    mut output: impl Write,
) -> std::io::Result<()> {
    writeln!(output, "{HELP}")?;
    for line in input.lines() {
        let line = line?;
        let mut words = line.split_whitespace();
        let Some(command) = words.next() else { continue };
        let args: Vec<&str> = words.collect();
        match (command, args.as_slice()) {
            ("quit" | "exit", []) => break,
            ("help", []) => writeln!(output, "{HELP}")?,
            ("status", []) => {
                let s = device.status();
                let key =
                    s.joint_key.map_or_else(|| "none (not enrolled)".into(), |k| k.to_string());
                writeln!(output, "joint-key {key}")?;
                writeln!(output, "epoch {}", s.epoch)?;
                match s.channel_balance_sat {
                    Some(sat) => writeln!(output, "channel-balance-sat {sat}")?,
                    None => writeln!(output, "channel-balance-sat none (no channel yet)")?,
                }
                writeln!(output, "coins-sat {}", s.coins_sat)?;
                writeln!(output, "signatures {}", s.signatures)?;
                writeln!(output, "refusals {}", s.refusals)?;
                if let Some(reason) = s.last_refusal {
                    writeln!(output, "last-refusal {reason}")?;
                }
                writeln!(output, "ok")?;
            }
            ("deposit", []) => {
                writeln!(output, "deposit-script {}", hex::encode(device.deposit_script()))?
            }
            ("coin", [outpoint, sat]) => match parse_coin(outpoint, sat) {
                Ok((outpoint, sat)) => match device.add_coin(outpoint, sat) {
                    Ok(()) => writeln!(output, "ok coin {outpoint}")?,
                    Err(e) => writeln!(output, "error: {e}")?,
                },
                Err(e) => writeln!(output, "error: {e}")?,
            },
            ("pay", [invoice]) => {
                let Some(gateway) = gateway else {
                    writeln!(output, "error: no gateway to pay through (give --gateway)")?;
                    continue;
                };
                match device.pay(gateway, invoice, today()) {
                    Ok(preimage) => writeln!(output, "paid {}", hex::encode(preimage))?,
                    Err(WalletDeviceError::Cosign(CosignError::Refused(reason))) => {
                        writeln!(output, "refused: {reason}")?
                    }
                    Err(e) => writeln!(output, "error: {e}")?,
                }
            }
            ("status" | "deposit" | "quit" | "exit" | "help", _) => {
                writeln!(output, "error: {command} takes no arguments")?
            }
            ("coin", _) => writeln!(output, "error: usage: coin <txid>:<vout> <sat>")?,
            ("pay", _) => writeln!(output, "error: usage: pay <bolt11 invoice>")?,
            _ => writeln!(output, "error: unknown command {command:?} ({HELP})")?,
        }
        output.flush()?;
    }
    output.flush()
}

fn parse_coin(outpoint: &str, sat: &str) -> Result<(OutPoint, u64), String> {
    let outpoint: OutPoint =
        outpoint.parse().map_err(|e| format!("{outpoint:?} is not <txid>:<vout>: {e}"))?;
    let sat: u64 = sat.parse().map_err(|_| format!("{sat:?} is not an amount in sat"))?;
    if sat == 0 {
        return Err("a coin of 0 sat".into());
    }
    Ok((outpoint, sat))
}
