//! `lnedge wallet …` against a running `lnedge gateway serve` in sandbox mode: the sandbox
//! wallet logs in with the gateway's LNURL-auth, pays a deputy sale's LNURL-pay (LUD-10
//! message decrypted) and a BOLT 11 invoice of the owner's node, withdraws a Bolt Card tap
//! (the owner pays the wallet); bad input gives a clear error and a non-zero exit. And a vend
//! with a refund: a pool invoice of the simulated machine paid, the vend jammed, the refund
//! withdrawn.

use std::time::Duration;

use lnedge_device::card::SimulatedCard;
use lnedge_device::deputy::{DeputyTerminal, FLASH_LEN};
use lnedge_device::MemFlash;
use lnedge_proto::deputy::{Currency, TerminalKeys};
use lnedge_proto::DeviceId;
use lnedge_wire::deputy::DeputyKeys;
use lnedge_wire::lnurl::{PayCallback, PayRequest};
use lnedge_wire::payers::CardProgramming;
use serde_json::Value;

use crate::cli::{lnedge_env, text};
use crate::support::serve_with;

const TOKEN: &str = "wallet-cli-test-token";
const UID: &str = "04a1b2c3d4e5f6";

fn key32(hex_text: &str) -> [u8; 32] {
    hex::decode(hex_text).expect("hex").try_into().expect("32 bytes")
}

#[test]
fn the_sandbox_wallet_logs_in_pays_and_withdraws_through_the_cli() {
    let dir = tempfile::tempdir().expect("dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let gateway = serve_with(dir.path(), TOKEN, &runtime, "[rates]\nEUR = 60000.0\n");
    let base = gateway.base.as_str();
    let env = [("LNEDGE_ADMIN_TOKEN", TOKEN), ("LNEDGE_GATEWAY_URL", base)];
    let wallet = |args: &[&str]| {
        let mut all = vec!["wallet"];
        all.extend_from_slice(args);
        lnedge_env(&all, &env, "")
    };
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http");
    let get = |url: String, auth: Option<&str>| -> Value {
        runtime.block_on(async {
            let mut request = http.get(&url);
            if let Some(token) = auth {
                request = request.bearer_auth(token);
            }
            let response = request.send().await.expect("GET");
            assert!(response.status().is_success(), "GET {url}: {}", response.status());
            response.json().await.expect("JSON")
        })
    };

    // LNURL-auth: the web app's challenge, signed by the wallet; the session becomes live.
    let challenge = get(format!("{base}/v1/auth/lnurl"), None);
    let out = wallet(&["login", challenge["lnurl"].as_str().expect("lnurl")]);
    let said = text(&out.stdout);
    assert!(out.status.success(), "{said}{}", text(&out.stderr));
    assert!(said.contains("logged in to 127.0.0.1"), "{said}");
    let session = get(
        format!("{base}/v1/sessions/current"),
        Some(challenge["token"].as_str().expect("token")),
    );
    let key = said.split_whitespace().last().expect("key");
    assert!(session.to_string().contains(key), "the session is the wallet's key: {session}");

    // A deputy sale: the terminal's LNURL-pay, paid by the wallet; the LUD-10 text decrypted.
    let device = DeviceId(rand::random());
    runtime.block_on(async {
        let response = http
            .post(format!("{base}/v1/devices"))
            .bearer_auth(TOKEN)
            .json(&serde_json::json!({"device_id": device.to_string(), "name": "Stall", "products": []}))
            .send()
            .await
            .expect("enrol");
        assert!(response.status().is_success(), "enrol: {}", response.text().await.unwrap_or_default());
    });
    let keys: DeputyKeys =
        serde_json::from_value(get(format!("{base}/v1/deputy/{device}/keys"), Some(TOKEN)))
            .expect("keys");
    let terminal_keys = TerminalKeys {
        device_id: device,
        seal_key: key32(&keys.seal_key),
        claim_key: key32(&keys.claim_key),
    };
    let mut terminal = DeputyTerminal::open(
        terminal_keys,
        &keys.gateway_url,
        MemFlash::from_bytes(vec![0xFF; FLASH_LEN]),
    )
    .expect("terminal");
    let sale = terminal.new_sale(420, Currency::parse("EUR").expect("EUR")).expect("sale");
    let out = wallet(&["pay", &sale.lnurl]);
    let paid = text(&out.stdout);
    assert!(out.status.success(), "{paid}{}", text(&out.stderr));
    assert!(paid.contains("paid 7 000 sat for the LNURL-pay (fee "), "4.20 EUR at 60 000: {paid}");
    assert!(paid.contains("preimage     "), "{paid}");
    assert!(paid.contains("success action (aes): "), "the decrypted claim: {paid}");

    // A BOLT 11 invoice of the owner's node (a second sale's callback), paid as an invoice.
    let second = terminal.new_sale(100, Currency::parse("EUR").expect("EUR")).expect("sale");
    let pay: PayRequest =
        serde_json::from_value(get(second.url.clone(), None)).expect("payRequest");
    let sep = if pay.callback.contains('?') { '&' } else { '?' };
    let answer: PayCallback = serde_json::from_value(get(
        format!("{}{sep}amount={}", pay.callback, pay.min_sendable),
        None,
    ))
    .expect("callback");
    let out = wallet(&["pay", &format!("lightning:{}", answer.pr)]);
    let paid = text(&out.stdout);
    assert!(out.status.success(), "{paid}{}", text(&out.stderr));
    assert!(paid.contains("paid 1 667 sat for the invoice (fee "), "1.00 EUR: {paid}");

    // A Bolt Card tap as an LNURL-withdraw: the owner's node pays the wallet.
    let out = lnedge_env(
        &[
            "card",
            "issue",
            "--gateway",
            base,
            "--name",
            "Wallet test",
            "--per-payment-sat",
            "5000",
            "--per-day-sat",
            "100000",
            "--uid",
            UID,
            "--no-qr",
            "--json",
        ],
        &env,
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let issued: Value = serde_json::from_slice(&out.stdout).expect("issued JSON");
    let programming: CardProgramming =
        serde_json::from_value(issued["programming"].clone()).expect("programming");
    let mut chip = SimulatedCard::programmed(
        UID,
        &programming.keys.k1,
        &programming.keys.k2,
        &programming.lnurlw_base,
    )
    .expect("chip");
    let tap = chip.tap().expect("tap");
    let out = wallet(&["withdraw", &tap]);
    let took = text(&out.stdout);
    assert!(out.status.success(), "{took}{}", text(&out.stderr));
    assert!(took.contains("withdrew 5 000 sat into the sandbox wallet"), "{took}");

    // Bad input: a clear refusal and exit 1.
    let out = wallet(&["pay", "hello"]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("(400 invalid_field)") && err.contains("neither a BOLT 11"), "{err}");
    let third = terminal.new_sale(100, Currency::parse("EUR").expect("EUR")).expect("sale");
    let out = wallet(&["withdraw", &third.lnurl]);
    assert_eq!(out.status.code(), Some(1));
    let err = text(&out.stderr);
    assert!(err.contains("(422 wrong_lnurl_kind)") && err.contains("payRequest"), "{err}");
    let out = wallet(&["login", &sale.lnurl]);
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("not an LNURL-auth link"), "{}", text(&out.stderr));
}

/// The line of `out` that starts with `prefix`, without it.
fn after<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.trim_start().strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?} in: {out}"))
        .trim()
}

/// A vend with a refund, from a shell: the simulated machine offers a pool invoice, the sandbox
/// wallet pays it, the vend jams, the machine syncs its ledger, the customer claims the refund
/// with the voucher and the wallet withdraws it.
#[test]
fn the_sandbox_wallet_pays_a_pool_invoice_and_withdraws_the_refund_of_a_failed_vend() {
    const DEVICE: &str = "99887766554433221100ffeeddccbbaa";
    let dir = tempfile::tempdir().expect("dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let gateway = serve_with(dir.path(), TOKEN, &runtime, "");
    let base = gateway.base.clone();
    let env = [("LNEDGE_ADMIN_TOKEN", TOKEN), ("LNEDGE_GATEWAY_URL", base.as_str())];
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().expect("http");
    let admin = |method: &str, path: &str, body: Option<Value>| -> Value {
        runtime.block_on(async {
            let url = format!("{base}{path}");
            let mut request =
                if method == "POST" { http.post(&url) } else { http.get(&url) }.bearer_auth(TOKEN);
            if let Some(body) = body {
                request = request.json(&body);
            }
            let response = request.send().await.expect("send");
            let status = response.status();
            let body: Value = response.json().await.expect("json");
            assert!(status.is_success(), "{method} {path} → {status}: {body}");
            body
        })
    };

    // Enrol, provision, download the pool.
    admin(
        "POST",
        "/v1/devices",
        Some(serde_json::json!({"device_id": DEVICE, "name": "Lobby",
            "products": [{"id": 1, "description": "Cola", "price_msat": 2_500_000}]})),
    );
    let pool = admin(
        "POST",
        &format!("/v1/devices/{DEVICE}/pools"),
        Some(serde_json::json!({"entries_per_product": 2, "expiry_days": 30})),
    );
    let bytes = runtime.block_on(async {
        let url = format!("{base}{}", pool["file"].as_str().expect("file"));
        http.get(url).bearer_auth(TOKEN).send().await.expect("file").bytes().await.expect("bytes")
    });
    let pool_path = dir.path().join("pool.bin");
    std::fs::write(&pool_path, &bytes).expect("pool file");
    let owner = pool["owner_node_id"].as_str().expect("owner").to_owned();
    let sync_key = admin("GET", &format!("/v1/devices/{DEVICE}/sync-key"), None)["sync_key"]
        .as_str()
        .expect("sync key")
        .to_owned();
    let machine = dir.path().join("machine");
    let machine_s = machine.to_str().expect("utf-8");
    let simulate = |stdin: &str| {
        let out = lnedge_env(
            &[
                "device",
                "simulate",
                "--dir",
                machine_s,
                "--device",
                DEVICE,
                "--owner",
                &owner,
                "--pool",
                pool_path.to_str().expect("utf-8"),
                "--no-qr",
            ],
            &[],
            stdin,
        );
        assert!(out.status.success(), "{}", text(&out.stderr));
        text(&out.stdout)
    };

    // The machine offers an invoice; the wallet pays it.
    let shown = simulate("buy 1\nquit\n");
    let invoice = after(&shown, "invoice ").split(": ").nth(1).expect("bolt11").to_owned();
    let out = lnedge_env(&["wallet", "pay", &invoice], &env, "");
    let paid = text(&out.stdout);
    assert!(out.status.success(), "{paid}{}", text(&out.stderr));
    assert!(paid.contains("paid 2 500 sat for the invoice"), "{paid}");
    let preimage = after(&paid, "preimage").to_owned();

    // The vend jams: a refund voucher. The machine syncs its ledger.
    let vend = simulate(&format!("jam\nclaim {preimage}\nquit\n"));
    let voucher = after(&vend, "refund voucher:").to_owned();
    let out = lnedge_env(
        &["device", "sync", "--dir", machine_s, "--gateway", &base, "--sync-key", &sync_key],
        &[],
        "",
    );
    assert!(out.status.success(), "{}", text(&out.stderr));

    // The customer claims the refund (voucher and proof of payment) and withdraws it.
    let refund = runtime.block_on(async {
        let response = http
            .post(format!("{base}/v1/refunds/claim"))
            .json(
                &serde_json::json!({"voucher": voucher, "invoice": invoice, "preimage": preimage}),
            )
            .send()
            .await
            .expect("claim");
        let status = response.status();
        let body: Value = response.json().await.expect("json");
        assert!(status.is_success(), "claim → {status}: {body}");
        body
    });
    let out =
        lnedge_env(&["wallet", "withdraw", refund["lnurl"].as_str().expect("lnurl")], &env, "");
    let took = text(&out.stdout);
    assert!(out.status.success(), "{took}{}", text(&out.stderr));
    assert!(took.contains("withdrew 2 500 sat into the sandbox wallet"), "{took}");
}
