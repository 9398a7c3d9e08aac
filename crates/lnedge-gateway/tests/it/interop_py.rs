//! Interop with an LNURL client from another language ecosystem: PyPI `lnurl` (LNbits'; with
//! `bolt11` and `pycryptodomex`) drives the gateway over a real socket — LUD-04/05 login, a
//! deputy sale's LUD-06 pay request (amount and description hash checked by the client) whose
//! LUD-10 `aes` success action it decrypts, and a Bolt Card's LUD-03 withdrawal — and the answers
//! carry LUD-01 CORS. The client script is `tests/interop/lnurl_py.py`.
//!
//! Needs a Python with the client: `python3 -m venv V && V/bin/pip install lnurl==2.0.2
//! 'bitstring<5'` and `LNEDGE_INTEROP_PYTHON=V/bin/python` (`.ci/run` does this).

use std::process::Command;
use std::time::Duration;

use lnedge_device::card::SimulatedCard;
use lnedge_node::{parse_invoice, LightningBackend, PayRequest};
use serde_json::{json, Value};

use crate::deputy::{eur, Fixture};

/// Runs the client script with `args`; its JSON answer (an `error` on refusal).
fn client(args: &[&str]) -> Value {
    let python = std::env::var("LNEDGE_INTEROP_PYTHON").unwrap_or_else(|_| "python3".into());
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/interop/lnurl_py.py");
    let out = Command::new(&python)
        .arg(script)
        .args(args)
        .output()
        .unwrap_or_else(|e| panic!("running {python}: {e}"));
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(stdout.trim()).unwrap_or_else(|_| {
        panic!("{python} {args:?}: {stdout}{}", String::from_utf8_lossy(&out.stderr))
    })
}

/// The same, off the async runtime (the client calls back into the gateway we serve).
async fn run(args: Vec<String>) -> Value {
    tokio::task::spawn_blocking(move || {
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        client(&args)
    })
    .await
    .expect("client task")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs Python with the PyPI lnurl client (LNEDGE_INTEROP_PYTHON; run by .ci/run)"]
async fn a_python_lnurl_client_logs_in_pays_and_withdraws() {
    let fx = Fixture::new().await;
    let http = reqwest::Client::new();

    // LUD-04/05 login: the client derives its linking key and signs; the session goes live.
    let challenge: Value = http
        .get(format!("{}/v1/auth/lnurl", fx.url))
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    let answer =
        run(vec!["login".into(), challenge["lnurl"].as_str().expect("lnurl").into()]).await;
    assert_eq!(answer["ok"], true, "{answer}");
    let token = challenge["token"].as_str().expect("token");
    let session: Value = http
        .get(format!("{}/v1/sessions/current", fx.url))
        .bearer_auth(token)
        .send()
        .await
        .expect("get")
        .json()
        .await
        .expect("json");
    assert!(
        session["subject"].as_str().expect("subject").starts_with("lnurl-auth:02")
            || session["subject"].as_str().expect("subject").starts_with("lnurl-auth:03"),
        "{session}"
    );

    // LUD-06 + LUD-10: a deputy sale of 4.20 EUR; CORS on the wallet route.
    let mut terminal = fx.terminal(fx.device).await;
    let shown = terminal.new_sale(420, eur()).expect("sale");
    let fetched = http.get(&shown.url).send().await.expect("fetch");
    assert_eq!(
        fetched.headers().get("access-control-allow-origin").map(|v| v.as_bytes()),
        Some(&b"*"[..]),
        "LUD-01 CORS"
    );
    let paid = run(vec!["pay".into(), shown.lnurl.clone()]).await;
    assert!(paid.get("error").is_none(), "{paid}");
    assert_eq!(paid["description_hash_ok"], true, "LUD-06 description hash: {paid}");
    assert_eq!(paid["success_action"]["tag"], "aes", "{paid}");
    let outcome = fx
        .customer
        .pay(PayRequest {
            invoice: parse_invoice(paid["pr"].as_str().expect("pr")).expect("bolt11"),
            amount_msat: None,
            max_fee_msat: 50_000,
            timeout: Duration::from_secs(60),
            max_total_cltv_expiry_delta: None,
        })
        .await
        .expect("the customer pays");
    let decrypted = run(vec![
        "decrypt".into(),
        paid["success_action"]["ciphertext"].as_str().expect("ciphertext").into(),
        paid["success_action"]["iv"].as_str().expect("iv").into(),
        hex::encode(outcome.preimage.0),
    ])
    .await;
    let text = decrypted["text"].as_str().unwrap_or_else(|| panic!("{decrypted}"));
    assert!(text.contains("LNEDGE1"), "the claim, decrypted by another implementation: {text}");

    // LUD-03: a Bolt Card's tap, withdrawn to the customer's invoice.
    let uid = hex::encode(rand::random::<[u8; 7]>());
    let issued: Value = http
        .post(format!("{}/v1/cards", fx.url))
        .bearer_auth(crate::deputy::TOKEN)
        .json(&json!({"name": "Interop", "uid": uid}))
        .send()
        .await
        .expect("issue")
        .json()
        .await
        .expect("json");
    let p = &issued["programming"];
    let mut card = SimulatedCard::programmed(
        &uid,
        p["k1"].as_str().expect("k1"),
        p["k2"].as_str().expect("k2"),
        p["lnurlw_base"].as_str().expect("base"),
    )
    .expect("card");
    let url = card.tap().expect("tap").replacen("lnurlw://", "http://", 1);
    let invoice = fx
        .customer
        .create_invoice(
            lnedge_node::PaymentPreimage(rand::random()),
            lnedge_node::InvoiceParams {
                amount_msat: Some(5_000_000),
                description: lnedge_node::InvoiceDescription::Direct("interop".into()),
                expiry_secs: 600,
                min_final_cltv_expiry_delta: None,
            },
        )
        .await
        .expect("invoice")
        .to_string();
    let withdrawn = run(vec!["withdraw".into(), url.clone(), invoice.clone()]).await;
    assert_eq!(withdrawn["ok"], true, "{withdrawn}");
    let hash =
        lnedge_node::PaymentHash(*parse_invoice(&invoice).expect("bolt11").payment_hash().as_ref());
    assert!(
        matches!(
            fx.customer.invoice_state(hash).await.expect("state"),
            lnedge_node::InvoiceState::Settled { amount_msat: 5_000_000 }
        ),
        "the card paid the customer"
    );
    // The same tap again: the client sees the gateway's refusal.
    let replay = run(vec!["withdraw".into(), url, invoice]).await;
    assert!(replay["error"].as_str().is_some_and(|e| e.contains("replay")), "{replay}");
}
