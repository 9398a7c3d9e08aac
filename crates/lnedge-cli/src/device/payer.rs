//! `lnedge device simulate --mode payer`: a payer device (a car's unit, a sensor, an offline
//! phone; issue #14) in the terminal. It reads a merchant's BOLT 11 invoice per line, signs a
//! token bound to exactly that invoice with `lnedge_device::payer::PayerDevice` (counter on
//! flash first, local limits), and shows the token as envelope text (`LNEDGE1…`, for a QR
//! code), as hex, and as NFC NDEF bytes. The merchant's point of sale hands token + invoice to
//! the payer's gateway (`POST /v1/pay/token`), which checks and pays. It never opens a socket.
//!
//! The state directory holds `payer.json` (device id, token key, limits; readable by its owner
//! only) and `payer.flash` (the device's flash image: counters and issued tokens), so the counter
//! survives restarts.

use std::fs::OpenOptions;
use std::io::{self, BufRead, Write};
use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use lnedge_device::flash::{FileFlash, Flash};
use lnedge_device::payer::{PayerDevice, PayerDeviceError, PayerLimits, FLASH_LEN};
use lnedge_device::simulator::{error_chain, BoxError, InputKind, QrRenderer};
use lnedge_node::BackendError;
use lnedge_proto::envelope::{ndef, Envelope};
use lnedge_proto::payer::{PayerKey, PayerToken};
use lnedge_proto::DeviceId;
use serde::{Deserialize, Serialize};

use crate::util::{now_secs, sat, short_hex};

/// The payer device's commands, as `help` prints them.
pub(crate) const HELP: &str =
    "type or scan a merchant's BOLT 11 invoice (`lnbc…`, `lightning:lnbc…`): the device
signs a token for exactly that invoice. Commands:
  <invoice> | pay <invoice>     sign a token for the invoice (QR text, hex, NFC NDEF)
  receipt <counter> <preimage>  record the preimage the merchant hands back (64 hex digits)
  status                        counter, tokens, what is authorized and what is left
  help | quit";

/// The per-payment limit of a device enrolled without one, in msat (the gateway's default).
pub(crate) const DEFAULT_PER_PAYMENT_MSAT: u64 = 100_000_000;
/// The budget of a device enrolled without one, in msat.
pub(crate) const DEFAULT_BUDGET_MSAT: u64 = 500_000_000;

/// What `--mode payer` was given on the command line.
#[derive(Debug)]
pub(crate) struct PayerOptions {
    /// The state directory.
    pub(crate) dir: PathBuf,
    /// The device id (hex), required on the first run.
    pub(crate) device: Option<String>,
    /// The token key (hex), required on the first run.
    pub(crate) token_key: Option<String>,
    /// A new per-payment limit (msat).
    pub(crate) per_payment_msat: Option<u64>,
    /// A new budget (msat).
    pub(crate) budget_msat: Option<u64>,
    /// How long a token stays valid (seconds).
    pub(crate) lifetime_secs: u64,
}

/// `payer.json`: the device's identity, key and limits.
#[derive(Serialize, Deserialize)]
struct PayerState {
    device_id: String,
    token_key: String,
    per_payment_msat: u64,
    budget_msat: u64,
}

/// Why the device refused an input (the session goes on), or stopped.
#[derive(Debug, thiserror::Error)]
pub(crate) enum PayerSimError {
    /// The line is not a BOLT 11 invoice.
    #[error("{text:?} is not an invoice: {detail}")]
    NotAnInvoice {
        /// What was read (shortened).
        text: String,
        /// Why it does not parse.
        detail: String,
    },
    /// The invoice asks no amount.
    #[error("the invoice has no amount: a payer device signs fixed amounts only (ask the merchant for an invoice with an amount)")]
    NoAmount,
    /// The invoice expired.
    #[error("the invoice expired at unix {at} (now {now}): ask the merchant for a fresh one")]
    Expired {
        /// When it expired.
        at: u64,
        /// Now.
        now: u64,
    },
    /// Over the per-payment limit.
    #[error("over the per-payment limit: the invoice asks {asked} sat, the device signs at most {limit} sat per payment")]
    OverPaymentLimit {
        /// Asked (sat, for reading).
        asked: String,
        /// The limit.
        limit: String,
    },
    /// Over the budget.
    #[error(
        "over the budget: the invoice asks {asked} sat, {left} sat of the device's budget are left"
    )]
    OverBudget {
        /// Asked (sat, for reading).
        asked: String,
        /// Left.
        left: String,
    },
    /// `receipt` was not given a counter and a preimage.
    #[error("receipt takes a token counter and the payment's preimage (64 hex digits): `receipt 1 <preimage>`")]
    ReceiptUsage,
    /// The device refused or failed otherwise (a receipt for another invoice, a full image, the
    /// flash).
    #[error(transparent)]
    Device(PayerDeviceError),
    /// The token could not be encoded (never for a valid token).
    #[error("encoding the token: {0}")]
    Encode(String),
    /// The QR renderer could not draw the text.
    #[error("the text does not fit in a QR code")]
    Qr(#[source] BoxError),
    /// Reading the input or writing the output failed (ends the session).
    #[error("the terminal failed")]
    Io(#[from] io::Error),
}

impl PayerSimError {
    fn is_fatal(&self) -> bool {
        matches!(self, PayerSimError::Io(_))
    }
}

impl From<PayerDeviceError> for PayerSimError {
    fn from(e: PayerDeviceError) -> Self {
        match e {
            PayerDeviceError::OverPaymentLimit { amount_msat, limit_msat } => {
                PayerSimError::OverPaymentLimit { asked: sat(amount_msat), limit: sat(limit_msat) }
            }
            PayerDeviceError::OverBudget { amount_msat, left_msat } => {
                PayerSimError::OverBudget { asked: sat(amount_msat), left: sat(left_msat) }
            }
            e => PayerSimError::Device(e),
        }
    }
}

fn hex_array<const N: usize>(text: &str, what: &str) -> Result<[u8; N]> {
    let bytes = hex::decode(text.trim()).with_context(|| format!("{what} is not hex"))?;
    bytes.try_into().map_err(|b: Vec<u8>| {
        anyhow::anyhow!("{what} must be {N} bytes ({} hex digits), got {}", N * 2, b.len())
    })
}

/// Writes `state` to `path` (readable by its owner only), replacing it atomically.
fn write_state(path: &Path, state: &PayerState) -> Result<()> {
    let tmp = path.with_extension("json.tmp");
    let mut options = OpenOptions::new();
    options.write(true).create(true).truncate(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut file = options.open(&tmp).with_context(|| format!("creating {}", tmp.display()))?;
    file.write_all(&serde_json::to_vec_pretty(state)?)
        .and_then(|()| file.sync_all())
        .with_context(|| format!("writing {}", tmp.display()))?;
    std::fs::rename(&tmp, path).with_context(|| format!("writing {}", path.display()))
}

/// Opens the payer device in `options.dir`: `payer.json` (written on the first run from
/// `--device` and `--token-key`; limits given later replace the stored ones) and `payer.flash`.
/// Answers the device and its limits.
pub(crate) fn open(options: &PayerOptions) -> Result<(PayerDevice<FileFlash>, PayerLimits)> {
    std::fs::create_dir_all(&options.dir)
        .with_context(|| format!("creating {}", options.dir.display()))?;
    let path = options.dir.join("payer.json");
    let mut state = if path.exists() {
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {}", path.display()))?;
        let state: PayerState = serde_json::from_str(&text)
            .with_context(|| format!("{} is not a payer device's state", path.display()))?;
        for (given, stored, what) in [
            (&options.device, &state.device_id, "--device"),
            (&options.token_key, &state.token_key, "--token-key"),
        ] {
            if given.as_deref().is_some_and(|g| !g.trim().eq_ignore_ascii_case(stored)) {
                bail!(
                    "{} holds payer device {}: {what} differs (use another --dir for another device)",
                    options.dir.display(),
                    state.device_id
                );
            }
        }
        state
    } else {
        let (Some(device), Some(key)) = (&options.device, &options.token_key) else {
            bail!(
                "{} holds no payer device yet: enrol it with --device ID --token-key KEY (as POST /v1/payer-devices answers them)",
                options.dir.display()
            );
        };
        PayerState {
            device_id: device.trim().to_ascii_lowercase(),
            token_key: key.trim().to_ascii_lowercase(),
            per_payment_msat: DEFAULT_PER_PAYMENT_MSAT,
            budget_msat: DEFAULT_BUDGET_MSAT,
        }
    };
    let device_id = DeviceId(hex_array::<16>(&state.device_id, "the device id")?);
    let key = PayerKey(hex_array::<32>(&state.token_key, "the token key")?);
    let changed = options.per_payment_msat.is_some_and(|l| l != state.per_payment_msat)
        || options.budget_msat.is_some_and(|b| b != state.budget_msat)
        || !path.exists();
    state.per_payment_msat = options.per_payment_msat.unwrap_or(state.per_payment_msat);
    state.budget_msat = options.budget_msat.unwrap_or(state.budget_msat);
    if changed {
        write_state(&path, &state)?;
    }
    let limits = PayerLimits {
        max_per_payment_msat: state.per_payment_msat,
        budget_msat: state.budget_msat,
    };
    let flash = FileFlash::open(options.dir.join("payer.flash"), FLASH_LEN)?;
    let device = PayerDevice::open(device_id, key, limits, flash)
        .with_context(|| format!("opening the payer device in {}", options.dir.display()))?;
    Ok((device, limits))
}

/// A [`PayerDevice`] driven by invoices and the commands of [`HELP`].
pub(crate) struct PayerSimulator<F: Flash> {
    device: PayerDevice<F>,
    limits: PayerLimits,
    lifetime_secs: u64,
    qr: Option<Box<dyn QrRenderer>>,
}

impl<F: Flash> PayerSimulator<F> {
    /// Drives `device` (whose limits are `limits`); tokens live `lifetime_secs` at most; they
    /// are also drawn by `qr`, if given.
    pub(crate) fn new(
        device: PayerDevice<F>,
        limits: PayerLimits,
        lifetime_secs: u64,
        qr: Option<Box<dyn QrRenderer>>,
    ) -> Self {
        PayerSimulator { device, limits, lifetime_secs, qr }
    }

    fn greet(&mut self, out: &mut dyn Write) -> Result<(), PayerSimError> {
        writeln!(
            out,
            "lnedge payer device {} (offline; {} sat per payment, budget {} sat; type `help`)",
            self.device.device_id(),
            sat(self.limits.max_per_payment_msat),
            sat(self.limits.budget_msat)
        )?;
        Ok(())
    }

    /// Runs one input line at `now` (Unix seconds).
    fn execute(&mut self, line: &str, now: u64, out: &mut dyn Write) -> Result<(), PayerSimError> {
        let (command, rest) = line.split_once(' ').map_or((line, ""), |(c, r)| (c, r.trim()));
        match command {
            "help" => writeln!(out, "{HELP}")?,
            "status" => self.status(out)?,
            "receipt" => self.receipt(rest, out)?,
            "pay" => self.authorize(rest, now, out)?,
            _ => self.authorize(line, now, out)?,
        }
        Ok(())
    }

    fn authorize(
        &mut self,
        text: &str,
        now: u64,
        out: &mut dyn Write,
    ) -> Result<(), PayerSimError> {
        let invoice = lnedge_node::parse_invoice(text).map_err(|e| {
            let detail = match e {
                BackendError::InvalidInput { detail, .. } => detail,
                other => other.to_string(),
            };
            let shown: String = text.chars().take(40).collect();
            let shown = if shown.len() < text.len() { format!("{shown}…") } else { shown };
            PayerSimError::NotAnInvoice { text: shown, detail }
        })?;
        let amount_msat = invoice.amount_milli_satoshis().ok_or(PayerSimError::NoAmount)?;
        let invoice_expiry =
            invoice.duration_since_epoch().saturating_add(invoice.expiry_time()).as_secs();
        if now >= invoice_expiry {
            return Err(PayerSimError::Expired { at: invoice_expiry, now });
        }
        let payment_hash: [u8; 32] = *invoice.payment_hash().as_ref();
        let payee = invoice.recover_payee_pub_key().serialize();
        let expires_at = invoice_expiry.min(now.saturating_add(self.lifetime_secs));
        let token = self.device.authorize(payment_hash, amount_msat, payee, expires_at)?;
        self.show(&token, now, out)
    }

    fn show(&self, token: &PayerToken, now: u64, out: &mut dyn Write) -> Result<(), PayerSimError> {
        let a = &token.authorization;
        let envelope = Envelope::PayerToken(*token);
        let text = envelope.to_text().map_err(|e| PayerSimError::Encode(e.to_string()))?;
        let nfc = ndef::Message::from_envelope(envelope)
            .to_vec()
            .map_err(|e| PayerSimError::Encode(e.to_string()))?;
        if let Some(qr) = &self.qr {
            writeln!(out, "{}", qr.render(&text).map_err(PayerSimError::Qr)?)?;
        }
        writeln!(
            out,
            "token {}: {} sat to payee {}… for invoice {}, valid {} s (until unix {})",
            a.counter,
            sat(a.amount_msat),
            hex::encode(&a.payee[..8]),
            short_hex(&a.payment_hash),
            a.expires_at.saturating_sub(now),
            a.expires_at
        )?;
        writeln!(out, "text  {text}")?;
        writeln!(out, "hex   {}", hex::encode(token.to_bytes()))?;
        writeln!(out, "ndef  {}", hex::encode(nfc))?;
        writeln!(
            out,
            "show the QR (or tap NFC) at the merchant's point of sale: it sends token + invoice to the gateway (POST /v1/pay/token)"
        )?;
        Ok(())
    }

    fn receipt(&mut self, rest: &str, out: &mut dyn Write) -> Result<(), PayerSimError> {
        let mut words = rest.split_whitespace();
        let (Some(counter), Some(preimage), None) = (words.next(), words.next(), words.next())
        else {
            return Err(PayerSimError::ReceiptUsage);
        };
        let counter: u32 = counter.parse().map_err(|_| PayerSimError::ReceiptUsage)?;
        let preimage: [u8; 32] = hex::decode(preimage)
            .ok()
            .and_then(|b| b.try_into().ok())
            .ok_or(PayerSimError::ReceiptUsage)?;
        self.device.receipt(counter, &preimage)?;
        writeln!(out, "token {counter}: receipt recorded, the invoice is paid")?;
        Ok(())
    }

    fn status(&mut self, out: &mut dyn Write) -> Result<(), PayerSimError> {
        let tokens = self.device.tokens()?;
        let spent = self.device.spent_msat()?;
        writeln!(
            out,
            "counter {}; {} token(s) authorize {} sat of a {} sat budget ({} sat left)",
            self.device.counter(),
            tokens.len(),
            sat(spent),
            sat(self.limits.budget_msat),
            sat(self.limits.budget_msat.saturating_sub(spent))
        )?;
        for t in tokens {
            writeln!(
                out,
                "  token {}: {} sat, invoice {}, {}",
                t.counter,
                sat(t.amount_msat),
                short_hex(&t.payment_hash),
                if t.paid { "paid (receipt)" } else { "no receipt yet" }
            )?;
        }
        Ok(())
    }
}

/// Greets, then reads lines from `input` until `quit`, `exit` or the end of input, as the other
/// simulators do (a `> ` prompt at a terminal, each line echoed for a script; blank lines and
/// `#` comments skipped). A refused line is answered `refused: …` and the session goes on.
pub(crate) fn run<F: Flash>(
    simulator: &mut PayerSimulator<F>,
    input: impl BufRead,
    output: &mut impl Write,
    kind: InputKind,
) -> Result<()> {
    simulator.greet(output)?;
    let mut lines = input.lines();
    loop {
        if kind == InputKind::Terminal {
            write!(output, "> ")?;
            output.flush()?;
        }
        let Some(line) = lines.next() else { break };
        let line = line.context("reading stdin")?;
        let line = line.trim();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        if kind == InputKind::Script {
            writeln!(output, "> {line}")?;
        }
        if matches!(line, "quit" | "exit") {
            break;
        }
        match simulator.execute(line, now_secs(), output) {
            Ok(()) => {}
            Err(e) if e.is_fatal() => return Err(e.into()),
            Err(e) => writeln!(output, "refused: {}", error_chain(&e))?,
        }
    }
    output.flush()?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use lnedge_device::MemFlash;
    use lnedge_node::bitcoin::hashes::{sha256, Hash};
    use lnedge_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
    use lnedge_node::lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};

    const KEY: [u8; 32] = [0x42; 32];
    const DEVICE: DeviceId = DeviceId([0xCA; 16]);
    const LIMITS: PayerLimits =
        PayerLimits { max_per_payment_msat: 5_000_000, budget_msat: 6_000_000 };

    /// A signed regtest invoice for `amount_msat` created at `created` (Unix seconds).
    fn invoice(amount_msat: Option<u64>, created: u64, n: u8) -> String {
        let secp = Secp256k1::new();
        let key = SecretKey::from_slice(&[0x11; 32]).expect("key");
        let hash = sha256::Hash::hash(&[n; 32]);
        let mut builder = InvoiceBuilder::new(Currency::Regtest)
            .description("parking".into())
            .payment_hash(hash)
            .payment_secret(PaymentSecret([n; 32]))
            .duration_since_epoch(std::time::Duration::from_secs(created))
            .min_final_cltv_expiry_delta(18)
            .expiry_time(std::time::Duration::from_secs(3600));
        if let Some(amount) = amount_msat {
            builder = builder.amount_milli_satoshis(amount);
        }
        builder.build_signed(|m| secp.sign_ecdsa_recoverable(m, &key)).expect("invoice").to_string()
    }

    fn simulator() -> PayerSimulator<MemFlash> {
        let flash = MemFlash::from_bytes(vec![0xFF; FLASH_LEN]);
        let device = PayerDevice::open(DEVICE, PayerKey(KEY), LIMITS, flash).expect("device");
        PayerSimulator::new(device, LIMITS, 600, None)
    }

    fn session(sim: &mut PayerSimulator<MemFlash>, script: &str) -> String {
        let mut out = Vec::new();
        run(sim, script.as_bytes(), &mut out, InputKind::Script).expect("session");
        String::from_utf8(out).expect("utf-8")
    }

    #[test]
    fn an_invoice_in_gives_a_token_bound_to_it_and_bad_input_is_named() {
        let now = now_secs();
        let good = invoice(Some(2_000_000), now, 1);
        let script = format!(
            "lightning:{good}\nhello\n{}\n{}\n{}\n{}\nreceipt 1 zz\nreceipt 1 {}\nstatus\n",
            invoice(None, now, 2),
            invoice(Some(6_000_000), now, 3),
            invoice(Some(1_000_000), now - 7200, 4),
            invoice(Some(4_500_000), now, 5),
            hex::encode([9u8; 32]),
        );
        let text = session(&mut simulator(), &script);
        let hex_line = text
            .lines()
            .find_map(|l| l.strip_prefix("hex   "))
            .unwrap_or_else(|| panic!("no token: {text}"));
        let token = PayerToken::parse(&hex::decode(hex_line).expect("hex")).expect("token");
        let a = token.verify(&PayerKey(KEY)).expect("verifies");
        let parsed = lnedge_node::parse_invoice(&good).expect("invoice");
        let payee = parsed.recover_payee_pub_key().serialize();
        assert_eq!(a.check_invoice(parsed.payment_hash().as_ref(), 2_000_000, &payee, now), Ok(()));
        assert!(a.expires_at <= now + 601, "the lifetime is bounded: {}", a.expires_at);
        assert!(text.contains("text  LNEDGE1"), "{text}");
        assert!(text.contains("ndef  d4"), "an NDEF short record: {text}");
        assert!(text.contains("refused: \"hello\" is not an invoice"), "{text}");
        assert!(text.contains("refused: the invoice has no amount"), "{text}");
        assert!(
            text.contains("refused: over the per-payment limit: the invoice asks 6 000 sat, the device signs at most 5 000 sat"),
            "{text}"
        );
        assert!(text.contains("refused: the invoice expired"), "{text}");
        assert!(
            text.contains("refused: over the budget: the invoice asks 4 500 sat, 4 000 sat of the device's budget are left"),
            "{text}"
        );
        assert!(text.contains("refused: receipt takes a token counter"), "{text}");
        assert!(text.contains("refused: the preimage does not match token 1"), "{text}");
        assert!(text.contains("counter 1; 1 token(s) authorize 2 000 sat"), "{text}");
    }

    #[test]
    fn the_state_dir_keeps_the_device_and_its_counter() {
        let dir = tempfile::tempdir().expect("dir");
        let mut options = PayerOptions {
            dir: dir.path().join("car"),
            device: None,
            token_key: None,
            per_payment_msat: None,
            budget_msat: None,
            lifetime_secs: 600,
        };
        let err = open(&options).expect_err("not enrolled");
        assert!(err.to_string().contains("--device ID --token-key KEY"), "{err}");
        options.device = Some(hex::encode(DEVICE.0));
        options.token_key = Some(hex::encode(KEY));
        options.per_payment_msat = Some(3_000_000);
        let (mut device, limits) = open(&options).expect("enrolled");
        assert_eq!(limits.max_per_payment_msat, 3_000_000);
        assert_eq!(limits.budget_msat, DEFAULT_BUDGET_MSAT);
        let hash = sha256::Hash::hash(b"x").to_byte_array();
        device.authorize(hash, 1_000, [2; 33], now_secs() + 60).expect("token");
        drop(device);
        options.device = None;
        options.token_key = None;
        options.per_payment_msat = None;
        let (mut device, _) = open(&options).expect("reopened");
        assert_eq!(device.counter(), 1, "the counter survived");
        let t = device.authorize(hash, 3_000_001, [2; 33], now_secs() + 60);
        assert!(matches!(t, Err(PayerDeviceError::OverPaymentLimit { .. })), "limit kept: {t:?}");
        options.device = Some(hex::encode([0u8; 16]));
        let err = open(&options).expect_err("another device");
        assert!(err.to_string().contains("--device differs"), "{err}");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("car/payer.json"))
                .expect("state")
                .permissions()
                .mode();
            assert_eq!(mode & 0o077, 0, "the key file is private: {mode:o}");
        }
    }
}
