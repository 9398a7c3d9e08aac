//! `lnedge device simulate --mode wallet`: the threshold wallet's device as its own process.
//! The test is the gateway: it enrols the device over TCP (key generation), the device funds
//! its co-signed channel from a coin its owner names, pays a shop two hops away and checks the
//! preimage, refuses what its policy forbids, and after a power cut (the process killed) comes
//! back from its directory with its key, channel and budget and pays again.

use std::io::{BufRead, BufReader, Write};
use std::net::{SocketAddr, TcpListener};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::mpsc::{self, Receiver};
use std::sync::Arc;
use std::time::Duration;

use lnedge_cosign::gateway::GatewayCosigner;
use lnedge_cosign::tcp::TcpLink;
use lnedge_node::bitcoin::hashes::{sha256, Hash};
use lnedge_node::bitcoin::{OutPoint, ScriptBuf};
use lnedge_node::sandbox::cosigned::serve_device_requests;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{
    InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend, PaymentHash, PaymentPreimage,
};

/// Generous: a payment crosses two sandbox hops and two joint signatures on a busy machine.
const ANSWER: Duration = Duration::from_secs(120);

/// The device process, its stdin, and its stdout's lines; killed when dropped.
struct DeviceProcess {
    child: Child,
    stdin: ChildStdin,
    lines: Receiver<String>,
}

impl Drop for DeviceProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl DeviceProcess {
    fn start(dir: &std::path::Path, listen: &str, gateway: SocketAddr, extra: &[&str]) -> Self {
        let mut child = Command::new(env!("CARGO_BIN_EXE_lnedge"))
            .args(["device", "simulate", "--mode", "wallet", "--dir"])
            .arg(dir)
            .args(["--listen", listen, "--gateway", &gateway.to_string()])
            .args(extra)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("lnedge runs");
        let stdin = child.stdin.take().expect("stdin");
        let stdout = child.stdout.take().expect("stdout");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        DeviceProcess { child, stdin, lines }
    }

    /// The next line that starts with `prefix` (other lines are skipped), without it.
    fn expect(&self, prefix: &str) -> String {
        loop {
            let line = self
                .lines
                .recv_timeout(ANSWER)
                .unwrap_or_else(|e| panic!("no line starting {prefix:?}: {e}"));
            if let Some(rest) = line.strip_prefix(prefix) {
                return rest.trim().to_owned();
            }
        }
    }

    /// Sends one command; returns its first answer line.
    fn ask(&mut self, command: &str) -> String {
        writeln!(self.stdin, "{command}").expect("the device reads its commands");
        self.stdin.flush().expect("flush");
        self.lines.recv_timeout(ANSWER).unwrap_or_else(|e| panic!("no answer to {command}: {e}"))
    }

    /// The `status` lines, as `key value` pairs.
    fn status(&mut self) -> Vec<(String, String)> {
        let mut lines = vec![self.ask("status")];
        while lines.last().map(String::as_str) != Some("ok") {
            lines.push(self.lines.recv_timeout(ANSWER).expect("status line"));
        }
        lines
            .iter()
            .filter_map(|l| l.split_once(' ').map(|(k, v)| (k.to_owned(), v.to_owned())))
            .collect()
    }
}

fn status_value(status: &[(String, String)], key: &str) -> String {
    status.iter().find(|(k, _)| k == key).map(|(_, v)| v.clone()).unwrap_or_default()
}

async fn invoice(shop: &SandboxNode, sat: u64, tag: &str) -> (PaymentPreimage, String) {
    let preimage = PaymentPreimage(
        sha256::Hash::hash(format!("{tag}/{}", rand::random::<u64>()).as_bytes()).to_byte_array(),
    );
    let params = InvoiceParams {
        amount_msat: Some(sat * 1000),
        description: InvoiceDescription::Direct(tag.to_owned()),
        expiry_secs: 3600,
        min_final_cltv_expiry_delta: None,
    };
    let invoice = shop.create_invoice(preimage, params).await.expect("invoice");
    (preimage, invoice.to_string())
}

async fn settled(shop: &SandboxNode, preimage: &PaymentPreimage) -> bool {
    let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
    matches!(shop.invoice_state(hash).await, Ok(InvoiceState::Settled { .. }))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_wallet_device_process_enrols_funds_its_channel_pays_and_survives_a_power_cut() {
    let net = SandboxNetwork::new().await.expect("network");
    let [bridge, shop] = net.line(["bridge", "shop"], 1_000_000).await.expect("line");
    let gateway = net.add_node("gateway").await.expect("gateway");
    let service = TcpListener::bind("127.0.0.1:0").expect("bind");
    let service_addr = service.local_addr().expect("addr");
    let dir = tempfile::tempdir().expect("dir");
    let shop_id = shop.node_id().to_string();
    let policy = ["--per-payment-sat", "20000", "--fee-cap-sat", "2000", "--payee", &shop_id];

    let mut device = DeviceProcess::start(dir.path(), "127.0.0.1:0", service_addr, &policy);
    let device_addr: SocketAddr = device.expect("listening ").parse().expect("address");
    let deposit = ScriptBuf::from_bytes(hex::decode(device.expect("deposit-script ")).unwrap());
    assert_eq!(
        status_value(&device.status(), "joint-key"),
        "none (not enrolled)",
        "no key before its gateway enrols it"
    );
    assert!(device.ask("coin 00:0 5").starts_with("error: "), "a bad coin is named");

    // The gateway enrols the device: the joint key is made over TCP.
    let link = Arc::new(TcpLink::new(device_addr, ANSWER));
    let cosigner = tokio::task::spawn_blocking(move || GatewayCosigner::enrol(link))
        .await
        .expect("join")
        .expect("enrolled");
    let cosigner = Arc::new(cosigner);
    assert_eq!(status_value(&device.status(), "joint-key"), cosigner.joint_key().to_string());

    // The owner names the coin the device's channel is funded from.
    let outpoint: OutPoint = net.deposit(deposit, 510_000).await;
    assert_eq!(device.ask(&format!("coin {outpoint} 510000")), format!("ok coin {outpoint}"));
    assert!(device.ask(&format!("coin {outpoint} 510000")).contains("already"), "no double coin");
    net.open_cosigned_channel(&gateway, &bridge, 500_000, cosigner.clone())
        .await
        .expect("the device funds its channel");
    serve_device_requests(service, gateway.clone(), tokio::runtime::Handle::current());
    net.wait_for_gossip().await.expect("gossip");
    let opening: u64 =
        status_value(&device.status(), "channel-balance-sat").parse().expect("balance");
    assert!((499_000..=500_000).contains(&opening), "the capacity less the commitment's fee");

    // A toll: the device approves, the gateway pays, the preimage comes back and is checked.
    let (preimage, toll) = invoice(&shop, 10_000, "toll 1").await;
    let answer = tokio::task::block_in_place(|| device.ask(&format!("pay {toll}")));
    assert_eq!(answer, format!("paid {}", hex::encode(preimage.0)));
    assert!(settled(&shop, &preimage).await, "the shop was paid");

    // Above the per-payment limit: refused by the device, nothing asked of the gateway.
    let (big, over) = invoice(&shop, 30_000, "too much").await;
    let answer = tokio::task::block_in_place(|| device.ask(&format!("pay {over}")));
    assert!(answer.starts_with("refused: "), "{answer}");
    assert!(!settled(&shop, &big).await);
    assert_eq!(device.ask("pay"), "error: usage: pay <bolt11 invoice>");
    assert!(device.ask("fly").starts_with("error: unknown command"));

    // A power cut: the process dies; it comes back on the same port from its directory.
    let signatures: u64 = status_value(&device.status(), "signatures").parse().expect("count");
    assert!(signatures >= 2, "the toll's states were co-signed by the device: {signatures}");
    drop(device);
    let mut device = DeviceProcess::start(dir.path(), &device_addr.to_string(), service_addr, &[]);
    assert_eq!(device.expect("listening "), device_addr.to_string());
    let status = device.status();
    assert_eq!(status_value(&status, "joint-key"), cosigner.joint_key().to_string());
    let balance: u64 = status_value(&status, "channel-balance-sat").parse().expect("balance");
    assert!(
        (opening - 10_000 - 2_000..=opening - 10_000).contains(&balance),
        "one toll and its fee paid: {balance} of {opening}"
    );
    let (preimage, toll) = invoice(&shop, 10_000, "toll 2").await;
    let answer = tokio::task::block_in_place(|| device.ask(&format!("pay {toll}")));
    assert_eq!(answer, format!("paid {}", hex::encode(preimage.0)), "the stored policy holds");
    assert!(settled(&shop, &preimage).await);
    let mode = std::fs::metadata(dir.path().join("wallet.bin")).expect("wallet file");
    assert_eq!(std::os::unix::fs::PermissionsExt::mode(&mode.permissions()) & 0o077, 0);
    net.shutdown().await;
}

/// `lnedge gateway serve` (sandbox) and a wallet device process: the operator enrols the device
/// over the admin API, funds it on the sandbox chain, opens its co-signed channel; the device
/// pays an invoice two hops away (its own node → the owner's node → the sandbox wallet's node)
/// through the gateway's payment service; bad requests are named.
#[test]
fn a_sandbox_gateway_enrols_a_wallet_device_opens_its_channel_and_pays_for_it() {
    use serde_json::{json, Value};

    const TOKEN: &str = "cosigned-test-token";
    let dir = tempfile::tempdir().expect("dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let gateway = crate::support::serve(dir.path(), TOKEN, &runtime);
    let http = reqwest::Client::builder().timeout(ANSWER).build().expect("http");
    let call = |method: &str, path: &str, body: Value| -> (u16, Value) {
        runtime.block_on(async {
            let url = format!("{}{path}", gateway.base);
            let request = match method {
                "GET" => http.get(url),
                _ => http.post(url).json(&body),
            };
            let response = request.bearer_auth(TOKEN).send().await.expect("request");
            let status = response.status().as_u16();
            (status, response.json().await.unwrap_or(Value::Null))
        })
    };

    let (status, list) = call("GET", "/v1/sandbox/cosigned", Value::Null);
    assert_eq!(status, 200, "{list}");
    let service: SocketAddr =
        list["payment_service"].as_str().expect("payment_service").parse().expect("address");
    let device_dir = dir.path().join("car");
    let mut device = DeviceProcess::start(&device_dir, "127.0.0.1:0", service, &[]);
    let device_addr = device.expect("listening ");
    let script = device.expect("deposit-script ");

    // Bad requests are named.
    let (status, error) = call("POST", "/v1/sandbox/cosigned", json!({"device": "car"}));
    assert_eq!(status, 400, "{error}");
    assert!(error.to_string().contains("device"), "{error}");
    let (status, error) =
        call("POST", "/v1/sandbox/cosigned/9/channel", json!({"capacity_sat": 100_000}));
    assert_eq!(status, 404, "{error}");
    let (status, error) =
        call("POST", "/v1/sandbox/deposit", json!({"script": "zz", "amount_sat": 1}));
    assert_eq!(status, 400, "{error}");
    assert!(error.to_string().contains("script"), "{error}");

    // Enrol, fund, open.
    let (status, wallet) = call("POST", "/v1/sandbox/cosigned", json!({"device": device_addr}));
    assert_eq!(status, 201, "{wallet}");
    let joint_key = wallet["joint_key"].as_str().expect("joint key").to_owned();
    assert_eq!(status_value(&device.status(), "joint-key"), joint_key);
    let (status, deposited) =
        call("POST", "/v1/sandbox/deposit", json!({"script": script, "amount_sat": 300_000}));
    assert_eq!(status, 200, "{deposited}");
    let outpoint = deposited["outpoint"].as_str().expect("outpoint");
    assert_eq!(device.ask(&format!("coin {outpoint} 300000")), format!("ok coin {outpoint}"));
    let id = wallet["id"].as_u64().expect("id");
    let path = format!("/v1/sandbox/cosigned/{id}/channel");
    let (status, opened) = call("POST", &path, json!({"capacity_sat": 250_000}));
    assert_eq!(status, 200, "{opened}");
    assert_eq!(opened["channel"]["capacity_sat"], 250_000);
    let (status, again) = call("POST", &path, json!({"capacity_sat": 250_000}));
    assert_eq!(status, 409, "one channel per device: {again}");

    // The device pays an invoice of the sandbox wallet's node, two hops beyond its own node.
    let preimage = [0x5cu8; 32];
    let body =
        json!({"preimage": hex::encode(preimage), "amount_msat": 5_000_000, "description": "toll"});
    let (status, invoiced) = call("POST", "/v1/sandbox/wallet/invoice", body);
    assert_eq!(status, 200, "{invoiced}");
    let invoice = invoiced["invoice"].as_str().expect("invoice");
    assert_eq!(device.ask(&format!("pay {invoice}")), format!("paid {}", hex::encode(preimage)));
    let (_, list) = call("GET", "/v1/sandbox/cosigned", Value::Null);
    let listed = &list["wallets"][0];
    assert!(listed["signatures"].as_u64().expect("signatures") >= 2, "{list}");
    assert!(
        listed["channel"]["outbound_msat"].as_u64().expect("outbound") < 245_000_000,
        "the device's balance paid the toll: {list}"
    );
}

#[test]
fn bad_wallet_flags_are_named_before_anything_starts() {
    let dir = tempfile::tempdir().expect("dir");
    let dir_arg = dir.path().to_str().expect("utf-8");
    let run = |extra: &[&str]| {
        let mut args = vec!["device", "simulate", "--mode", "wallet", "--dir", dir_arg];
        args.extend_from_slice(extra);
        crate::cli::lnedge(&args, "quit\n")
    };
    let out = run(&["--payee", "not-a-node"]);
    assert!(!out.status.success());
    assert!(crate::cli::text(&out.stderr).contains("--payee"), "{}", crate::cli::text(&out.stderr));
    let out = run(&["--budget-sat", "5"]);
    assert!(!out.status.success());
    assert!(crate::cli::text(&out.stderr).contains("--daily-budget-sat"));
    let out = run(&["--per-payment-sat", "18446744073709551615"]);
    assert!(!out.status.success());
    assert!(crate::cli::text(&out.stderr).contains("too large"));
    // A good start answers its owner and quits cleanly.
    let out = run(&[]);
    assert!(out.status.success(), "{}", crate::cli::text(&out.stderr));
    assert!(crate::cli::text(&out.stdout).contains("deposit-script "));
}
