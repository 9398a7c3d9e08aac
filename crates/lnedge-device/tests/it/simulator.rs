//! The device simulator driven like `lnedge device simulate` drives it: a scripted session in,
//! the transcript out.

use std::io::Write;

use lnedge_device::deputy::{DeputyTerminal, FLASH_LEN};
use lnedge_device::simulator::{
    self, BoxError, DeputySimulator, InputKind, QrRenderer, Simulator, SimulatorError,
    VendingSimulator,
};
use lnedge_device::{Enrolment, MemFlash, SimulatedMotor, VendingMachine};
use lnedge_proto::deputy::{claim_for, Currency, Sale, TerminalKeys};
use lnedge_proto::envelope::Envelope;
use lnedge_proto::pool::{derive_preimage, Network, PoolBuilder};
use lnedge_proto::{DeviceId, PoolId};

use crate::fixtures::{invoice, owner_id};

const DEVICE: DeviceId = DeviceId([0xd1; 16]);
const POOL_KEY: [u8; 32] = [7; 32];
const MASTER: [u8; 32] = [9; 32];
const SYNC_KEY: [u8; 32] = [5; 32];

/// Runs `script` as a piped script (commands echoed) and returns the transcript.
fn transcript(simulator: &mut dyn Simulator, script: &str) -> String {
    let mut out = Vec::new();
    simulator::run(simulator, script.as_bytes(), &mut out, InputKind::Script).expect("session");
    String::from_utf8(out).expect("utf-8")
}

/// A QR "drawing" that shows what it was asked to draw.
fn fake_qr() -> Option<Box<dyn QrRenderer>> {
    Some(Box::new(|text: &str| Ok::<_, BoxError>(format!("[QR {text}]"))))
}

/// A machine enrolled in `dir` with a pool of four 2 500 sat colas (product 1, seq 0..4).
fn vending_machine(dir: &std::path::Path) -> VendingMachine<SimulatedMotor> {
    let owner_id = owner_id();
    let mut builder =
        PoolBuilder::new(PoolId([0, 0, 0, 0, 0, 0, 0, 1]), DEVICE, owner_id, Network::Regtest);
    builder.refund_url_base("https://gw.example/refund");
    for seq in 0..4 {
        let preimage = derive_preimage(&POOL_KEY, &DEVICE, 1, seq);
        builder.add(1, seq, &invoice("cola", 2_500_000, &preimage, seq)).expect("add");
    }
    let enrolment = Enrolment { device_id: DEVICE, owner_node_id: owner_id };
    let mut machine =
        VendingMachine::enrol(dir, enrolment, SimulatedMotor::default()).expect("enrol");
    machine.install_pool(builder.finish().expect("pool")).expect("install");
    machine
}

fn preimage_hex(seq: u32) -> String {
    derive_preimage(&POOL_KEY, &DEVICE, 1, seq).iter().map(|b| format!("{b:02x}")).collect()
}

#[test]
fn a_vending_session_sells_refunds_and_refuses_bad_commands_by_name() {
    let dir = tempfile::tempdir().expect("dir");
    let mut sim = VendingSimulator::new(vending_machine(dir.path()), fake_qr());
    let script = format!(
        "# a comment, then a blank line\n\nproducts\nbuy 1\nclaim {}\nbuy x\nfly high\n\
         jam\nbuy 1\nkey {}\nnfc /nonexistent/tag.ndef\nstatus\nquit\nstatus\n",
        preimage_hex(0),
        preimage_hex(1)
    );
    let out = transcript(&mut sim, &script);
    let mut lines = out.lines();
    assert_eq!(
        lines.next(),
        Some("lnedge vending machine d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1 (offline; type `help`)")
    );
    assert_eq!(lines.next(), Some("> products"), "comments and blank lines are skipped: {out}");
    assert!(out.contains("  [1] cola                    2 500 sat   4 left"), "{out}");
    // The sale: the invoice drawn as an upper-case QR, printed, paid, dispensed.
    assert!(out.contains("[QR LIGHTNING:LNBCRT25U1"), "{out}");
    assert!(out.contains("invoice 0 for product 1: lnbcrt25u1"), "{out}");
    assert!(out.contains("vend: product 1 dispensed (invoice 0). Enjoy!"), "{out}");
    // Refusals name what was wrong, with the cause, and the session goes on.
    assert!(
        out.contains("refused: product \"x\" is not a number: invalid digit found in string"),
        "{out}"
    );
    assert!(out.contains("> fly high\nrefused: unknown command \"fly\"; type `help`\n"), "{out}");
    assert!(out.contains("refused: reading NFC file \"/nonexistent/tag.ndef\": "), "{out}");
    // A jammed vend: a refund voucher, drawn and printed.
    assert!(out.contains("the next 1 vend(s) will jam"), "{out}");
    assert!(out.contains("vend FAILED for product 1 (invoice 1): motor of slot 1 jammed"), "{out}");
    assert!(out.contains("refund voucher: "), "{out}");
    assert!(out.contains("scan it to get your 2 500 sat back"), "{out}");
    assert!(out.contains(": 2 unused, 0 offered, 0 claimed (pending), 1 dispensed, 1 failed"));
    assert!(out.ends_with("> quit\n"), "nothing runs after quit: {out}");
    assert_eq!(sim.machine_mut().dispenser_mut().dispensed, vec![1]);
}

#[test]
fn an_unknown_preimage_and_a_reused_one_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let mut sim = VendingSimulator::new(vending_machine(dir.path()), None);
    let zeros = "0".repeat(64);
    let script =
        format!("buy 1\nclaim {zeros}\nclaim {p}\nclaim {p}\nbuy 9\n", p = preimage_hex(0));
    let out = transcript(&mut sim, &script);
    assert!(!out.contains("[QR"), "no renderer, no QR: {out}");
    assert!(out.contains("refused: this preimage pays no invoice of this machine"), "{out}");
    assert!(out.contains("vend: product 1 dispensed (invoice 0)"), "{out}");
    assert!(out.contains("refused: this payment was already used (invoice 0 is"), "{out}");
    assert!(out.contains("refused: product 9 is not sold by this machine"), "{out}");
}

fn deputy_simulator() -> (DeputySimulator<MemFlash>, TerminalKeys) {
    let keys = TerminalKeys::derive(&MASTER, DEVICE);
    let flash = MemFlash::from_bytes(vec![0xFF; FLASH_LEN]);
    let terminal = DeputyTerminal::open(keys.clone(), "https://gw.example", flash).expect("open");
    (DeputySimulator::new(terminal, SYNC_KEY, fake_qr()), keys)
}

fn sale(counter: u64, amount: u64, currency: &str) -> Sale {
    let currency = Currency::parse(currency).expect("currency");
    Sale { device_id: DEVICE, counter, amount, currency }
}

#[test]
fn a_deputy_sale_flows_from_lnurl_to_paid_to_synced() {
    let (mut sim, keys) = deputy_simulator();
    let (claim1, code) = claim_for(&keys.claim_key, &sale(1, 420, "EUR"));
    let (claim2, _) = claim_for(&keys.claim_key, &sale(2, 2100, "SAT"));
    let text = |claim| Envelope::DeputyClaim(claim).to_text().expect("claim text");
    let (claim1, claim2) = (text(claim1), text(claim2));
    let wrong = if code.0 == 0 { 1 } else { 0 };
    // The wallet's text is "1234-5678 LNEDGE1…": the keypad takes the code, a scan the claim.
    let script = format!(
        "sell 4.20 eur\nstatus\nkey {wrong:08}\nkey {code}\nclaim {code} {claim1}\nsell 2100\n\
         claim {claim2}\nstatus\nreport\nsynced 1 2\nstatus\n"
    );
    let out = transcript(&mut sim, &script);
    assert!(out.starts_with("lnedge deputy terminal d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1"), "{out}");
    assert!(out.contains("[QR LNURL1"), "the LNURL is drawn: {out}");
    assert!(out.contains("sale 1: 4.20 EUR\nlnurl LNURL1"), "{out}");
    assert!(out.contains("nfc   lnurlp://gw.example/v1/deputy/"), "{out}");
    assert!(out.contains("pending: sale 1 (4.20 EUR), 0 wrong codes"), "{out}");
    assert!(out.contains("wrong code for sale 1: "), "{out}");
    assert!(out.contains("PAID: sale 1 (4.20 EUR). Deliver."), "{out}");
    assert!(out.contains("already accepted: sale 1 was delivered before"), "{out}");
    assert!(out.contains("sale 2: 2100 sat"), "amounts default to sats: {out}");
    assert!(out.contains("PAID: sale 2 (2100 sat). Deliver."), "{out}");
    assert!(out.contains("paid, not synced: [1, 2]"), "{out}");
    assert!(out.contains("POST /v1/deputy/d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1d1/sync\n"), "{out}");
    assert!(out.contains(r#"{"claimed":[1,2]}"#), "{out}");
    assert!(out.contains("2 sale(s) marked synced"), "{out}");
    assert!(out.ends_with("counter 2\npaid, not synced: []\n"), "{out}");
}

#[test]
fn deputy_refusals_name_the_bad_amount_currency_or_number() {
    let (mut sim, _) = deputy_simulator();
    let out = transcript(
        &mut sim,
        "sell 4.205 EUR\nsell 0 EUR\nsell 5 EURO\nsell lots\nkey 12345678\nsynced one\nbuy 1\nhelp\n",
    );
    assert!(out.contains("refused: EUR has 2 decimal places; \"4.205\" has 3"), "{out}");
    assert!(out.contains("refused: the amount must be positive"), "{out}");
    assert!(
        out.contains("refused: currency code \"EUR\" is not three upper-case letters"),
        "{out}"
    );
    assert!(out.contains("refused: \"lots\" is not an amount: invalid digit"), "{out}");
    assert!(out.contains("no sale is waiting for a code"), "{out}");
    assert!(out.contains("refused: \"one\" is not a sale number: invalid digit"), "{out}");
    assert!(out.contains("refused: unknown command \"buy\"; type `help`"), "{out}");
    assert!(out.contains("  sell <amount> [currency]"), "help lists the commands: {out}");
    assert_eq!(sim.terminal().counter(), 0, "no refused sale used a counter");
}

#[test]
fn a_terminal_gets_a_prompt_and_no_echo() {
    let (mut sim, _) = deputy_simulator();
    let mut out = Vec::new();
    simulator::run(&mut sim, "status\n".as_bytes(), &mut out, InputKind::Terminal).expect("run");
    let out = String::from_utf8(out).expect("utf-8");
    assert!(out.ends_with("> counter 0\npaid, not synced: []\n> "), "{out}");
    assert!(!out.contains("> status"), "{out}");
}

#[test]
fn a_qr_that_cannot_be_drawn_refuses_the_command() {
    let keys = TerminalKeys::derive(&MASTER, DEVICE);
    let flash = MemFlash::from_bytes(vec![0xFF; FLASH_LEN]);
    let terminal = DeputyTerminal::open(keys, "https://gw.example", flash).expect("open");
    let qr = |_: &str| Err::<String, BoxError>("data too long".into());
    let mut sim = DeputySimulator::new(terminal, SYNC_KEY, Some(Box::new(qr)));
    let out = transcript(&mut sim, "sell 21\n");
    assert!(out.contains("refused: the text does not fit in a QR code: data too long"), "{out}");
}

/// An output that fails after `left` bytes.
struct Broken {
    left: usize,
}

impl Write for Broken {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        if self.left < buf.len() {
            return Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, "pipe closed"));
        }
        self.left -= buf.len();
        Ok(buf.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

#[test]
fn only_failing_input_or_output_ends_a_session_with_an_error() {
    let (mut sim, _) = deputy_simulator();
    let err =
        simulator::run(&mut sim, &b"status\n\xff\xfe\n"[..], &mut Vec::new(), InputKind::Script)
            .expect_err("not UTF-8");
    assert!(matches!(err, SimulatorError::Input(_)), "{err:?}");
    assert!(err.is_fatal());
    let err =
        simulator::run(&mut sim, "help\n".as_bytes(), &mut Broken { left: 60 }, InputKind::Script)
            .expect_err("output closed");
    assert!(matches!(err, SimulatorError::Output(_)), "{err:?}");
    assert_eq!(simulator::error_chain(&err), "writing the output: pipe closed");
}
