//! The command loop: one command per line, answered on the output; a refusal never ends it.

use std::io::{BufRead, Write};

use super::{error_chain, Simulator, SimulatorError};

/// Who types the commands.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum InputKind {
    /// A person at a terminal: a `> ` prompt before each command.
    Terminal,
    /// A script (a pipe or a file): each command is echoed as `> command`, so the output reads
    /// as a transcript.
    Script,
}

/// Greets, then reads commands from `input` until `quit`, `exit` or the end of input, and runs
/// each on `simulator`, answering on `output`. Blank lines and `#` comments are skipped. A
/// command's error is written as `refused: …` (with its causes) and never ends the loop; only
/// failing to read the input or to write the output does.
pub fn run<S, R, W>(
    simulator: &mut S,
    input: R,
    output: &mut W,
    kind: InputKind,
) -> Result<(), SimulatorError>
where
    S: Simulator + ?Sized,
    R: BufRead,
    W: Write,
{
    simulator.greet(output)?;
    let mut lines = input.lines();
    loop {
        if kind == InputKind::Terminal {
            write!(output, "> ")?;
            output.flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line.map_err(SimulatorError::Input)?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if kind == InputKind::Script {
            writeln!(output, "> {line}")?;
        }
        let (command, rest) = line.split_once(' ').map_or((line, ""), |(c, r)| (c, r.trim()));
        if matches!(command, "quit" | "exit") {
            break;
        }
        match simulator.execute(command, rest, output) {
            Ok(()) => {}
            Err(e) if e.is_fatal() => return Err(e),
            Err(e) => writeln!(output, "refused: {}", error_chain(&e))?,
        }
    }
    output.flush()?;
    Ok(())
}
