//! The firmware (`firmware/`, thumbv7em, `lnedge-device-core` inside) run in QEMU's
//! `mps2-an386` (Cortex-M4), driven over its UART like a host computer or a test jig would.
//!
//! The store (enrolment, pool, claim ledger: emulated NOR flash) is a file loaded at boot and
//! saved when the board is stopped; a **power cut** stops the emulator at whatever instruction
//! it is on, saves the store as it is at that instant, and kills it.
//!
//! Needs `qemu-system-arm` and the firmware build: `bash scripts/firmware.sh build`
//! (`.ci/run` does both). `LNEDGE_FIRMWARE_DIR` (the images `vending` and `deputy`) and
//! `QEMU_SYSTEM_ARM` override the paths;
//! `LNEDGE_FIRMWARE_CUTS` sets the number of power cuts (default 24).

use std::io::{BufRead, BufReader, Read, Write};
use std::os::unix::net::UnixStream;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{channel, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use lnedge_proto::deputy::{
    claim_for, write_sale_url, Currency, DeputyClaim, Sale, ShortCode, TerminalKeys,
};
use lnedge_proto::envelope::{Claim, ClaimContext, Envelope, TextCase};
use lnedge_proto::pool::{derive_preimage, Network, PoolBuilder};
use lnedge_proto::{DeviceId, PoolId};
use rand::Rng;

use crate::fixtures::{invoice, owner_id};

const DEVICE: DeviceId = DeviceId([0xf1; 16]);
const POOL_KEY: [u8; 32] = [3; 32];
const STORE_LEN: usize = 0x1_0000;
const STORE_ADDR: &str = "0x100000";
/// Generous: a loaded 2-core machine runs the emulator slowly, and a deadline only bounds a hang.
const DEADLINE: Duration = Duration::from_secs(120);

/// The firmware image of `mode` (`vending` or `deputy`).
fn firmware_elf(mode: &str) -> PathBuf {
    let dir = std::env::var_os("LNEDGE_FIRMWARE_DIR").map(PathBuf::from).unwrap_or_else(|| {
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../../firmware/target/thumbv7em-none-eabihf/release")
    });
    let path = dir.join(mode);
    assert!(
        path.is_file(),
        "no firmware at {}: build it with `bash scripts/firmware.sh build`",
        path.display()
    );
    path
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// The emulated board: UART on stdin/stdout, the QEMU monitor on a unix socket.
struct Board {
    child: Child,
    uart: ChildStdin,
    lines: Receiver<String>,
    monitor: UnixStream,
    store: PathBuf,
    /// Every UART line since boot.
    seen: Vec<String>,
}

impl Board {
    /// Boots the vending firmware with the store file as it is and waits for `READY`.
    fn boot(store: &Path) -> (Board, String) {
        Self::boot_mode("vending", store)
    }

    /// Boots the firmware of `mode` with the store file as it is and waits for `READY <mode>`.
    fn boot_mode(mode: &str, store: &Path) -> (Board, String) {
        let dir = store.parent().expect("store dir");
        let socket = dir.join("monitor.sock");
        let _ = std::fs::remove_file(&socket);
        let qemu = std::env::var("QEMU_SYSTEM_ARM").unwrap_or_else(|_| "qemu-system-arm".into());
        let mut child = Command::new(&qemu)
            .args(["-machine", "mps2-an386", "-cpu", "cortex-m4", "-display", "none"])
            .args(["-serial", "stdio", "-icount", "shift=0"])
            .arg("-monitor")
            .arg(format!("unix:{},server=on,wait=off", socket.display()))
            .arg("-kernel")
            .arg(firmware_elf(mode))
            .arg("-device")
            .arg(format!("loader,file={},addr={STORE_ADDR},force-raw=on", store.display()))
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("starting {qemu}: {e} (install qemu-system-arm)"));
        let uart = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines() {
                let Ok(line) = line else { break };
                if tx.send(line).is_err() {
                    break;
                }
            }
        });
        let started = Instant::now();
        let monitor = loop {
            match UnixStream::connect(&socket) {
                Ok(s) => break s,
                Err(e) if started.elapsed() > DEADLINE => panic!("QEMU monitor: {e}"),
                Err(_) => std::thread::sleep(Duration::from_millis(20)),
            }
        };
        let mut board =
            Board { child, uart, lines, monitor, store: store.to_owned(), seen: Vec::new() };
        // `PENDING …` lines (claims a cut left without an outcome) come first, READY last.
        let ready = loop {
            let line =
                board.next_line(DEADLINE).unwrap_or_else(|| panic!("no READY: {:?}", board.seen));
            if line.starts_with(&format!("READY {mode}")) {
                break line;
            }
            assert!(line.starts_with("PENDING "), "unexpected boot line {line:?}");
        };
        (board, ready)
    }

    fn send(&mut self, line: &str) {
        writeln!(self.uart, "{line}").and_then(|()| self.uart.flush()).expect("UART write");
    }

    fn next_line(&mut self, within: Duration) -> Option<String> {
        match self.lines.recv_timeout(within) {
            Ok(line) => {
                assert_ne!(line.trim(), "PANIC", "the firmware panicked; lines: {:?}", self.seen);
                self.seen.push(line.clone());
                Some(line)
            }
            Err(RecvTimeoutError::Timeout) => None,
            Err(RecvTimeoutError::Disconnected) => {
                panic!("the emulator went away; lines so far: {:?}", self.seen)
            }
        }
    }

    /// The next line, which must start with `prefix`.
    fn expect(&mut self, prefix: &str) -> String {
        let line = self
            .next_line(DEADLINE)
            .unwrap_or_else(|| panic!("no line {prefix:?} within {DEADLINE:?}: {:?}", self.seen));
        assert!(line.starts_with(prefix), "expected {prefix:?}, got {line:?}");
        line
    }

    /// Sends `command` and returns the answer line, which must start with `prefix`.
    fn ask(&mut self, command: &str, prefix: &str) -> String {
        self.send(command);
        self.expect(prefix)
    }

    /// The image's flash and static RAM (from the ELF) and the board's painted stack peak, as
    /// JSON fields; checks that the board's own static RAM figure is the image's.
    fn figures(&mut self, mode: &str) -> String {
        let stats = self.ask("STATS", "STATS ");
        let (flash, static_ram) = image_sizes(&firmware_elf(mode));
        assert_eq!(field(&stats, "static_ram"), static_ram, "the image and the board agree");
        format!(
            "\"flash_bytes\":{flash},\"static_ram_bytes\":{static_ram},\"stack_peak_bytes\":{}",
            field(&stats, "stack_peak")
        )
    }

    fn monitor(&mut self, command: &str) {
        writeln!(self.monitor, "{command}").expect("monitor write");
    }

    /// Cuts the power now: the CPU stops at the instruction it is on, the store is saved as it
    /// is, the emulator is killed. Returns every UART line the board printed.
    fn power_cut(mut self) -> Vec<String> {
        self.monitor("stop");
        self.monitor(&format!("pmemsave {STORE_ADDR} {STORE_LEN} \"{}\"", self.store.display()));
        // Monitor commands run in order: once the status answers, the store is on disk.
        self.monitor("info status");
        let mut answer = Vec::new();
        let started = Instant::now();
        self.monitor.set_read_timeout(Some(Duration::from_millis(200))).expect("timeout");
        while !String::from_utf8_lossy(&answer).contains("VM status: paused") {
            assert!(started.elapsed() < DEADLINE, "QEMU monitor did not answer");
            let mut buf = [0u8; 4096];
            if let Ok(n) = self.monitor.read(&mut buf) {
                answer.extend_from_slice(&buf[..n]);
            }
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        while let Ok(line) = self.lines.recv_timeout(Duration::from_secs(5)) {
            self.seen.push(line);
        }
        assert!(!self.seen.iter().any(|l| l.trim() == "PANIC"), "panic: {:?}", self.seen);
        std::mem::take(&mut self.seen)
    }
}

impl Drop for Board {
    /// A failed test never leaves an emulator running.
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Flash (`.vector_table + .text + .rodata + .data`) and static RAM (`.data + .bss + .uninit`)
/// of the firmware image.
fn image_sizes(elf: &Path) -> (u64, u64) {
    use object::{Object, ObjectSection};
    let data = std::fs::read(elf).expect("firmware image");
    let file = object::File::parse(&*data).expect("an ELF file");
    let size = |name| file.section_by_name(name).map_or(0, |s| s.size());
    let flash = size(".vector_table") + size(".text") + size(".rodata") + size(".data");
    (flash, size(".data") + size(".bss") + size(".uninit"))
}

fn fresh_store(dir: &Path) -> PathBuf {
    let store = dir.join("store.bin");
    std::fs::write(&store, vec![0xFF; STORE_LEN]).expect("store");
    store
}

fn preimage(product: u16, seq: u32) -> [u8; 32] {
    derive_preimage(&POOL_KEY, &DEVICE, product, seq)
}

/// A pool for `device`: `colas` 2,500 sat colas (product 1) and two 1,000 sat waters
/// (product 2); returns the pool and its invoices in entry order.
fn pool(device: DeviceId, colas: u32) -> (Vec<u8>, Vec<String>) {
    numbered_pool(device, colas, 1)
}

/// [`pool`] with pool id `b0 00 … 00 <number>`.
fn numbered_pool(device: DeviceId, colas: u32, number: u8) -> (Vec<u8>, Vec<String>) {
    let id = PoolId([0xb0, 0, 0, 0, 0, 0, 0, number]);
    let mut builder = PoolBuilder::new(id, device, owner_id(), Network::Regtest);
    builder.refund_url_base("https://gw.example/refund");
    let mut invoices = Vec::new();
    for (product, count, price, name) in
        [(1u16, colas, 2_500_000, "cola"), (2, 2, 1_000_000, "water")]
    {
        for seq in 0..count {
            let pre = derive_preimage(&POOL_KEY, &device, product, seq);
            let inv = invoice(name, price, &pre, seq);
            builder.add(product, seq, &inv).expect("add");
            invoices.push(inv);
        }
    }
    (builder.finish().expect("pool"), invoices)
}

/// A board enrolled as `DEVICE` with `pool(DEVICE, colas)` installed; returns the install line.
fn enrolled_with_pool(store: &Path, colas: u32) -> (Board, String) {
    let (mut board, _) = Board::boot(store);
    board.ask(&format!("ENROL {} {}", hex(&DEVICE.0), hex(&owner_id())), "OK enrolled");
    let installed = board.ask(&format!("INSTALL {}", hex(&pool(DEVICE, colas).0)), "OK installed");
    (board, installed)
}

/// n − `s` (n: the order of secp256k1's group), big-endian.
fn order_minus(s: [u8; 32]) -> [u8; 32] {
    const N: [u8; 32] = [
        0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
        0xfe, 0xba, 0xae, 0xdc, 0xe6, 0xaf, 0x48, 0xa0, 0x3b, 0xbf, 0xd2, 0x5e, 0x8c, 0xd0, 0x36,
        0x41, 0x41,
    ];
    let (mut out, mut borrow) = ([0u8; 32], 0i16);
    for i in (0..32).rev() {
        let d = i16::from(N[i]) - i16::from(s[i]) - borrow;
        (out[i], borrow) = (d.rem_euclid(256) as u8, i16::from(d < 0));
    }
    out
}

/// `key=value` from a line.
fn field(line: &str, key: &str) -> u64 {
    line.split_whitespace()
        .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('='))
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| panic!("no {key}= in {line:?}"))
}

#[test]
#[ignore = "needs qemu-system-arm and the firmware build (bash scripts/firmware.sh build)"]
fn the_firmware_enrols_installs_a_signed_pool_vends_and_refuses_a_replay() {
    let dir = tempfile::tempdir().expect("dir");
    let store = fresh_store(dir.path());
    let (mut board, ready) = Board::boot(&store);
    assert_eq!(ready, "READY vending", "a fresh store is not enrolled");
    board.ask("OFFER 1", "ERR no invoice pool is installed");
    board.ask("INSTALL 00", "ERR not enrolled: ENROL first");
    board.ask("ENROL 12 34", "ERR ENROL <device id: 32 hex> <owner node id: 66 hex>");
    // Owner ids that are not keys: a prefix other than 02/03, an x with no point on the curve.
    let mut no_key = owner_id();
    no_key[0] = 0x05;
    let mut no_point = [0u8; 33];
    no_point[0] = 0x02; // x = 0: 7 has no square root modulo p
    assert!(bitcoin::secp256k1::PublicKey::from_slice(&no_point).is_err());
    for bad in [no_key, no_point] {
        board.ask(
            &format!("ENROL {} {}", hex(&DEVICE.0), hex(&bad)),
            "ERR ENROL: the owner node id is not a public key",
        );
    }
    board.ask(&format!("ENROL {} {}", hex(&DEVICE.0), hex(&owner_id())), "OK enrolled");
    board.ask(&format!("ENROL {} {}", hex(&DEVICE.0), hex(&owner_id())), "ERR already enrolled");

    // Refused pools: a signature changed by one bit, another device's pool, not hex.
    let (good, invoices) = pool(DEVICE, 4);
    let mut tampered = good.clone();
    let sig = *lnedge_proto::pool::Pool::parse(&good)
        .expect("pool")
        .entry(3)
        .expect("entry 3")
        .signature();
    let at = good.windows(64).position(|w| w == sig).expect("entry 3's signature") + 5;
    tampered[at] ^= 1;
    board.ask(
        &format!("INSTALL {}", hex(&tampered)),
        "ERR pool refused: entry 3: not signed by the owner",
    );
    // The same signature with S replaced by n − S verifies under the owner's key too; the
    // device refuses it as every host does (wallets refuse high-S invoices).
    let mut high_s = good.clone();
    let s_at = at - 5 + 32;
    let high = order_minus(high_s[s_at..s_at + 32].try_into().expect("32 bytes"));
    high_s[s_at..s_at + 32].copy_from_slice(&high);
    let mut normalized =
        bitcoin::secp256k1::ecdsa::Signature::from_compact(&high_s[s_at - 32..s_at + 32])
            .expect("a signature");
    normalized.normalize_s();
    assert_eq!(normalized.serialize_compact()[..], sig[..], "n − S is the high form of S");
    board.ask(&format!("INSTALL {}", hex(&high_s)), "ERR pool refused: entry 3: high-S signature");
    let (other, _) = pool(DeviceId([0xee; 16]), 4);
    board.ask(&format!("INSTALL {}", hex(&other)), "ERR pool refused: it is for another device");
    board.ask("INSTALL 0g", "ERR the pool is not hex");
    board.ask("OFFER 1", "ERR no invoice pool is installed");

    let installed = board
        .ask(&format!("INSTALL {}", hex(&good)), "OK installed pool=b000000000000001 entries=6");
    assert!(field(&installed, "verify_instructions") > 0, "{installed}");

    // The offer is the owner's invoice, rebuilt byte for byte from the pool on the device.
    assert_eq!(board.ask("OFFER 1", "OFFER 0 "), format!("OFFER 0 {}", invoices[0]));
    assert_eq!(board.ask("OFFER 2", "OFFER 4 "), format!("OFFER 4 {}", invoices[4]));
    board.ask("OFFER 9", "ERR product 9 is not sold by this machine");

    // A preimage as a wallet shows it: the claim goes to flash, then the motor runs, once.
    board.ask(&format!("CLAIM {}", hex(&preimage(1, 0))), "MOTOR 1 0");
    board.expect("VENDED 0 1");
    board.ask(&format!("CLAIM {}", hex(&preimage(1, 0))), "ERR claim ledger: entry 0 already used");
    // An lnedge envelope (QR text) with its context; one for another machine is named as such.
    let claim = |device| Claim {
        preimage: preimage(2, 1),
        context: Some(ClaimContext {
            device_id: device,
            pool_id: PoolId([0xb0, 0, 0, 0, 0, 0, 0, 1]),
            entry_index: 5,
        }),
    };
    let text = |device| Envelope::Claim(claim(device)).to_text_case(TextCase::Upper).expect("text");
    board.ask(
        &format!("CLAIM {}", text(DeviceId([9; 16]))),
        "ERR this payment is for machine 09090909",
    );
    board.ask(&format!("CLAIM {}", text(DEVICE)), "MOTOR 2 5");
    board.expect("VENDED 5 2");
    board.ask(
        &format!("CLAIM {}", hex(&[0x55; 32])),
        "ERR this preimage pays no invoice of this machine",
    );
    board.ask("CLAIM hello", "ERR not a payment proof: ");
    board.ask("FROB", "ERR unknown command FROB");
    let measured = board.ask(&format!("MEASURE {}", hex(&preimage(1, 2))), "MEASURE index=2 ");
    assert!(field(&measured, "instructions") > 0);
    board.ask("STATUS", "STATUS unused=3 offered=1 claimed=0 dispensed=2 failed=0");
    println!(
        "{{\"bench\":\"firmware_vending\",{},\"signature_check_instructions_per_entry\":{},\"claim_verification_instructions\":{}}}",
        board.figures("vending"),
        field(&installed, "verify_instructions") / 6,
        field(&measured, "instructions"),
    );
    board.power_cut();

    // After a reboot the machine knows itself, its pool and what it sold.
    let (mut board, ready) = Board::boot(&store);
    assert_eq!(
        ready,
        format!("READY vending device={} pool=b000000000000001 entries=6", hex(&DEVICE.0))
    );
    board.ask("STATUS", "STATUS unused=3 offered=1 claimed=0 dispensed=2 failed=0");
    board.ask(&format!("CLAIM {}", hex(&preimage(1, 0))), "ERR claim ledger: entry 0 already used");
    board.ask(&format!("CLAIM {}", hex(&preimage(1, 1))), "MOTOR 1 1");
    board.expect("VENDED 1 1");

    // A refused install leaves the pool in use as it was.
    board.ask("INSTALL 0g", "ERR the pool is not hex");
    board.ask("STATUS", "STATUS unused=2 offered=1 claimed=0 dispensed=3 failed=0");
    // A new pool goes beside it; the old one's ledger stays readable for sync until the next.
    let (second, _) = numbered_pool(DEVICE, 4, 2);
    board.ask(&format!("INSTALL {}", hex(&second)), "OK installed pool=b000000000000002 entries=6");
    board.ask("STATUS", "STATUS unused=6 offered=0 claimed=0 dispensed=0 failed=0");
    board.ask("REPORT", "REPORT slot=1 install=2 pool=b000000000000002 ledger=");
    let previous = board.expect("REPORT slot=0 install=1 pool=b000000000000001 ledger=");
    assert!(previous.ends_with("c0c0fffffcc0"), "entries 0, 1, 5 dispensed, 4 offered: {previous}");
    board.expect("REPORT end");
    // A pool this machine held never comes back with a fresh ledger (its payments were used),
    // also once its slot was written over.
    board.ask(&format!("INSTALL {}", hex(&second)), "ERR pool refused: it is the pool in use");
    board.ask(&format!("INSTALL {}", hex(&good)), "ERR pool refused: it was installed before");
    board.ask(&format!("INSTALL {}", hex(&good)), "ERR pool refused: it was installed before");
    board.ask("STATUS", "STATUS unused=6 offered=0 claimed=0 dispensed=0 failed=0");
    board.power_cut();
}

#[test]
#[ignore = "needs qemu-system-arm and the firmware build (bash scripts/firmware.sh build)"]
fn a_power_cut_during_an_install_leaves_the_pool_in_use_or_the_new_one_never_neither() {
    let cuts: u32 =
        std::env::var("LNEDGE_FIRMWARE_CUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    let dir = tempfile::tempdir().expect("dir");
    let store = fresh_store(dir.path());
    let (mut board, _) = enrolled_with_pool(&store, 2);
    board.ask(&format!("CLAIM {}", hex(&preimage(1, 0))), "MOTOR 1 0");
    board.expect("VENDED 0 1");
    // How long an install of the next pools takes now (their size: 32 colas, 2 waters).
    let (next, _) = numbered_pool(DEVICE, 32, 2);
    let started = Instant::now();
    board.ask(&format!("INSTALL {}", hex(&next)), "OK installed pool=b000000000000002");
    let install = started.elapsed();
    board.power_cut();

    let mut in_use = 2u8;
    let (mut kept, mut replaced) = (0u32, 0u32);
    let mut rng = rand::thread_rng();
    for round in 0..cuts {
        let number = 3 + (round % 250) as u8;
        let (pool_bytes, _) = numbered_pool(DEVICE, 32, number);
        let (mut board, _) = Board::boot(&store);
        board.send(&format!("INSTALL {}", hex(&pool_bytes)));
        std::thread::sleep(install.mul_f64(rng.gen_range(0.0..1.2)));
        board.power_cut();
        let (mut board, ready) = Board::boot(&store);
        let at = ready.find("pool=").expect("a pool in use") + "pool=".len();
        let now = u8::from_str_radix(&ready[at + 14..at + 16], 16).expect("pool number");
        match now {
            n if n == in_use => kept += 1,
            n if n == number => replaced += 1,
            other => panic!(
                "pool {other:02x} in use after a cut installing {number:02x} over {in_use:02x}"
            ),
        }
        // Whichever it is, it works, and the pool before it is still reported.
        board.ask("STATUS", "STATUS ");
        board.ask("REPORT", "REPORT slot=");
        in_use = now;
        board.power_cut();
    }
    println!("{{\"bench\":\"firmware_install_cuts\",\"cuts\":{cuts},\"kept_the_pool_in_use\":{kept},\"new_pool_in_use\":{replaced},\"install_ms\":{}}}", install.as_millis());
}

/// What the host saw before a power cut.
#[derive(Debug, Default)]
struct Cuts {
    /// Cut before the motor started (the claim may or may not be on flash).
    before_motor: u32,
    /// Cut after the motor started and before the outcome was reported.
    during_motor: u32,
    /// Cut after the vend was reported.
    after_vend: u32,
    /// Cuts that left the claim on flash without an outcome (pending after reboot).
    left_pending: u32,
    /// Cuts after which the claim was not on flash and the customer's second try vended.
    vended_on_retry: u32,
}

#[test]
#[ignore = "needs qemu-system-arm and the firmware build (bash scripts/firmware.sh build)"]
fn a_power_cut_anywhere_in_a_vend_never_dispenses_twice_and_never_loses_a_claim() {
    let cuts: u32 =
        std::env::var("LNEDGE_FIRMWARE_CUTS").ok().and_then(|v| v.parse().ok()).unwrap_or(24);
    // A pool slot holds about 210 entries: every PER_POOL cuts the machine gets the next pool.
    const PER_POOL: u32 = 100;
    let dir = tempfile::tempdir().expect("dir");
    let store = fresh_store(dir.path());
    let (mut board, _) = enrolled_with_pool(&store, PER_POOL + 1);
    // How long a whole vend takes on this machine now (it varies with the load: the cut points
    // are drawn from it, so they spread over the vend however fast the emulator runs).
    let started = Instant::now();
    board.ask(&format!("CLAIM {}", hex(&preimage(1, 0))), "MOTOR 1 0");
    board.expect("VENDED 0 1");
    let vend = started.elapsed();
    board.power_cut();

    // Motor runs and claims left pending, per cut (its entry is `cut % PER_POOL + 1`).
    let mut motor_runs = vec![0u32; cuts as usize];
    // Entries a cut left claimed without an outcome: the operator settles those (vend or refund).
    let mut pending = vec![false; cuts as usize];
    let mut seen_cuts = Cuts::default();
    let mut rng = rand::thread_rng();
    for cut in 0..cuts {
        if cut > 0 && cut % PER_POOL == 0 {
            let (next, _) = numbered_pool(DEVICE, PER_POOL + 1, (1 + cut / PER_POOL) as u8);
            let (mut board, _) = Board::boot(&store);
            board.ask(&format!("INSTALL {}", hex(&next)), "OK installed");
            board.power_cut();
        }
        let index = cut % PER_POOL + 1;
        let slot = cut as usize;
        let claim = format!("CLAIM {}", hex(&preimage(1, index)));
        let (mut board, _) = Board::boot(&store);
        board.send(&claim);
        if index % 2 == 0 {
            // Anywhere in the vend, from before the claim is read to after the outcome.
            std::thread::sleep(vend.mul_f64(rng.gen_range(0.0..1.3)));
        } else {
            // Somewhere after the motor started: between the claim write and the outcome.
            board.expect(&format!("MOTOR 1 {index}"));
            std::thread::sleep(vend.mul_f64(rng.gen_range(0.0..0.5)));
        }
        let seen = board.power_cut();
        let motor = seen.contains(&format!("MOTOR 1 {index}"));
        let vended = seen.contains(&format!("VENDED {index} 1"));
        if motor {
            motor_runs[slot] += 1;
        }
        match (motor, vended) {
            (false, _) => seen_cuts.before_motor += 1,
            (true, false) => seen_cuts.during_motor += 1,
            (true, true) => seen_cuts.after_vend += 1,
        }

        // Power is back: the claim of a motor run is on flash, and the payment never vends twice.
        let (mut board, _) = Board::boot(&store);
        let state_line = board.ask(&format!("STATE {index}"), &format!("STATE {index} "));
        let state = state_line.split_whitespace().nth(2).expect("state").to_owned();
        assert_eq!(
            board.seen.iter().any(|l| l.starts_with(&format!("PENDING {index} "))),
            state == "claimed",
            "boot reports a claim pending exactly when it is claimed without an outcome: {:?}",
            board.seen
        );
        if motor {
            assert!(
                state == "claimed" || state == "dispensed",
                "the motor ran for entry {index} but the ledger says {state_line:?} after the cut"
            );
        }
        match state.as_str() {
            "unused" | "offered" => {
                board.ask(&claim, &format!("MOTOR 1 {index}"));
                board.expect(&format!("VENDED {index} 1"));
                motor_runs[slot] += 1;
                seen_cuts.vended_on_retry += 1;
            }
            "claimed" => {
                seen_cuts.left_pending += 1;
                pending[slot] = true;
                board.ask(&claim, &format!("ERR claim ledger: entry {index} already used"));
                // The operator settles it (here: dispensed); the motor is never re-run by itself.
                board.ask(&format!("RESOLVE {index} dispensed"), "OK resolved");
            }
            "dispensed" => {
                board.ask(&claim, &format!("ERR claim ledger: entry {index} already used"));
            }
            other => panic!("entry {index} is {other} after a cut: {state_line}"),
        }
        board.power_cut();
    }
    let double = motor_runs.iter().filter(|n| **n > 1).count();
    let never = motor_runs.iter().zip(&pending).filter(|(n, p)| **n == 0 && !**p).count();
    println!(
        "{{\"bench\":\"firmware_power_cuts\",\"cuts\":{cuts},\"before_motor\":{},\"during_motor\":{},\"after_vend\":{},\"left_pending\":{},\"vended_on_retry\":{},\"double_dispenses\":{double},\"paid_never_vended_nor_pending\":{never},\"vend_ms\":{}}}",
        seen_cuts.before_motor,
        seen_cuts.during_motor,
        seen_cuts.after_vend,
        seen_cuts.left_pending,
        seen_cuts.vended_on_retry,
        vend.as_millis()
    );
    assert_eq!(double, 0, "a payment was vended twice: {motor_runs:?}");
    assert_eq!(never, 0, "a paid claim was neither vended nor left pending: {motor_runs:?}");
}

const MASTER: [u8; 32] = [0x6d; 32];
const GATEWAY: &str = "https://gw.example";

/// The 8 digits of a code as a keypad sends them.
fn digits(code: ShortCode) -> String {
    format!("{:08}", code.0)
}

#[test]
#[ignore = "needs qemu-system-arm and the firmware build (bash scripts/firmware.sh build)"]
fn the_deputy_firmware_sells_takes_a_wrong_then_right_code_and_keeps_its_lockout() {
    let dir = tempfile::tempdir().expect("dir");
    let store = fresh_store(dir.path());
    let keys = TerminalKeys::derive(&MASTER, DEVICE);
    let (mut board, ready) = Board::boot_mode("deputy", &store);
    assert_eq!(ready, "READY deputy", "a fresh store is not enrolled");
    board.ask("SALE 2100", "ERR not enrolled: ENROL first");
    board.ask("ENROL 12", "ERR ENROL <device id: 32 hex>");
    let enrol = format!(
        "ENROL {} {} {} {GATEWAY}",
        hex(&DEVICE.0),
        hex(&keys.seal_key),
        hex(&keys.claim_key)
    );
    board.ask(&enrol, "OK enrolled");
    board.ask(&enrol, "ERR already enrolled");
    board.ask("SALE 0", "ERR sale amount must be positive");
    board.ask("SALE 5 XX1", "ERR ");

    // The link is the gateway's pay request for this sale, sealed with this terminal's key.
    let line = board.ask("SALE 2100", "SALE 1 LNURL1");
    let sale = Sale { device_id: DEVICE, counter: 1, amount: 2100, currency: Currency::SAT };
    let lnurl = line.split_whitespace().nth(2).expect("lnurl");
    let (hrp, url) = bitcoin::bech32::decode(lnurl).expect("bech32");
    assert_eq!(hrp.to_lowercase(), "lnurl");
    let mut want = String::new();
    write_sale_url(&mut want, GATEWAY, &DEVICE, &sale.seal(&keys).expect("seal")).expect("url");
    assert_eq!(String::from_utf8(url).expect("utf-8"), want);

    // A wrong code costs a try; the right one sells; the full claim then finds it paid.
    let (claim, code) = claim_for(&keys.claim_key, &sale);
    let wrong = ShortCode((code.0 + 1) % 100_000_000);
    board.ask(&format!("CODE {}", digits(wrong)), "WRONG 1 tries_left=4");
    board.ask(&format!("CODE {}", digits(code)), "PAID 1");
    let claim_text = |c: DeputyClaim| Envelope::DeputyClaim(c).to_text().expect("text");
    board.ask(&format!("CLAIM {code} {}", claim_text(claim)), "ALREADY-PAID 1");
    board.ask(&format!("CLAIM {}", hex(&[7; 32])), "ERR not a claim or code: a payment preimage");
    board.ask("CODE 12", "ERR not a claim or code: expected 8 digits");

    // Five wrong codes lock a sale out, and a reboot does not unlock it.
    board.ask("SALE 500", "SALE 2 LNURL1");
    let second = Sale { counter: 2, amount: 500, ..sale };
    let (claim2, code2) = claim_for(&keys.claim_key, &second);
    let wrong2 = ShortCode((code2.0 + 1) % 100_000_000);
    for left in (1..=4).rev() {
        board.ask(&format!("CODE {}", digits(wrong2)), &format!("WRONG 2 tries_left={left}"));
    }
    board.ask(&format!("CODE {}", digits(wrong2)), "LOCKED 2");
    board.power_cut();
    let (mut board, ready) = Board::boot_mode("deputy", &store);
    assert_eq!(ready, format!("READY deputy device={} counter=2", hex(&DEVICE.0)));
    board.ask(&format!("CODE {}", digits(code2)), "LOCKED 2");
    // A forged claim is named; the genuine full claim still sells the locked sale.
    let mut forged = claim2;
    forged.tag[0] ^= 1;
    board.ask(&format!("CLAIM {}", claim_text(forged)), "FORGED 2");
    board.ask(&format!("CLAIM {}", claim_text(claim2)), "PAID 2");
    board.ask("SALE 100", "SALE 3 LNURL1");
    println!("{{\"bench\":\"firmware_deputy\",{}}}", board.figures("deputy"));
    board.power_cut();
}
