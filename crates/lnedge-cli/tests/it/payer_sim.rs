//! `lnedge device simulate --mode payer`: invoices on stdin, tokens out. The printed token
//! verifies with the device's key for exactly that invoice (as hex, as envelope text and as NFC
//! NDEF bytes); bad input is named and the session goes on; the counter survives a restart; a
//! served gateway takes the token for its invoice and refuses it for another.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use lnedge_node::bitcoin::hashes::{sha256, Hash};
use lnedge_node::bitcoin::secp256k1::{Secp256k1, SecretKey};
use lnedge_node::lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};
use lnedge_proto::envelope::{decode_text, ndef, Envelope};
use lnedge_proto::payer::{PayerKey, PayerToken};
use serde_json::{json, Value};

use crate::cli::{lnedge_env, text};
use crate::support::serve;

const DEVICE: &str = "ca11ab1eca11ab1eca11ab1eca11ab1e";
const KEY: [u8; 32] = [0x5a; 32];

fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs()
}

/// A signed regtest invoice of a merchant's node, for `amount_msat`.
fn invoice(amount_msat: Option<u64>, n: u8) -> String {
    let secp = Secp256k1::new();
    let key = SecretKey::from_slice(&[0x21; 32]).expect("key");
    let mut builder = InvoiceBuilder::new(Currency::Regtest)
        .description("parking".into())
        .payment_hash(sha256::Hash::hash(&[n; 32]))
        .payment_secret(PaymentSecret([n; 32]))
        .duration_since_epoch(Duration::from_secs(now()))
        .min_final_cltv_expiry_delta(18)
        .expiry_time(Duration::from_secs(3600));
    if let Some(amount) = amount_msat {
        builder = builder.amount_milli_satoshis(amount);
    }
    builder.build_signed(|m| secp.sign_ecdsa_recoverable(m, &key)).expect("invoice").to_string()
}

/// The text after `prefix` on the line that starts with it.
fn field<'a>(out: &'a str, prefix: &str) -> &'a str {
    out.lines()
        .find_map(|l| l.strip_prefix(prefix))
        .unwrap_or_else(|| panic!("no {prefix:?}: {out}"))
}

/// Checks that `token` verifies with the device's key and names exactly `bolt11`.
#[track_caller]
fn assert_binds(token: &PayerToken, bolt11: &str, counter: u32) {
    let invoice = lnedge_node::parse_invoice(bolt11).expect("invoice");
    let a = token.verify(&PayerKey(KEY)).expect("the tag verifies with the device's key");
    assert_eq!(a.counter, counter);
    assert_eq!(a.device_id.to_string(), DEVICE);
    let payee = invoice.recover_payee_pub_key().serialize();
    let amount = invoice.amount_milli_satoshis().expect("amount");
    assert_eq!(a.check_invoice(invoice.payment_hash().as_ref(), amount, &payee, now()), Ok(()));
    let other = lnedge_node::parse_invoice(&self::invoice(Some(amount), 99)).expect("other");
    assert!(a.check_invoice(other.payment_hash().as_ref(), amount, &payee, now()).is_err());
}

#[test]
fn a_payer_device_signs_the_invoice_it_reads_and_names_bad_input() {
    let dir = tempfile::tempdir().expect("dir");
    let state = dir.path().join("car");
    let state = state.to_str().expect("utf-8");
    let key = hex::encode(KEY);
    let paid = invoice(Some(4_200_000), 1);
    let script = format!(
        "# a parking meter's invoice, scanned\nlightning:{paid}\nthis is no invoice\n{}\n{}\nstatus\nquit\n",
        invoice(None, 2),
        invoice(Some(6_000_000), 3),
    );
    let out = lnedge_env(
        &[
            "device",
            "simulate",
            "--mode",
            "payer",
            "--state-dir",
            state,
            "--device",
            DEVICE,
            "--per-payment-sat",
            "5000",
            "--budget-sat",
            "20000",
            "--no-qr",
        ],
        &[("LNEDGE_TOKEN_KEY", &key)],
        &script,
    );
    let session = text(&out.stdout);
    assert!(out.status.success(), "{session}{}", text(&out.stderr));
    assert!(session.contains(&format!("lnedge payer device {DEVICE}")), "{session}");
    assert!(session.contains("5 000 sat per payment, budget 20 000 sat"), "{session}");

    // One token, three encodings, the same token: bound to that invoice.
    let token =
        PayerToken::parse(&hex::decode(field(&session, "hex   ")).expect("hex")).expect("a token");
    assert_binds(&token, &paid, 1);
    match decode_text(field(&session, "text  ")).expect("envelope text") {
        Envelope::PayerToken(t) => assert_eq!(t, token),
        other => panic!("not a payer token: {other:?}"),
    }
    let nfc = hex::decode(field(&session, "ndef  ")).expect("ndef hex");
    let message = ndef::decode(&nfc).expect("an NDEF message");
    assert_eq!(message.envelope, Some(Envelope::PayerToken(token)), "{message:?}");
    assert!(session.contains("token 1: 4 200 sat"), "{session}");

    // Bad input: named, and the session goes on.
    assert!(
        session.contains(
            "refused: \"this is no invoice\" is not an invoice: not a valid BOLT 11 invoice"
        ),
        "{session}"
    );
    assert!(session.contains("refused: the invoice has no amount"), "{session}");
    assert!(
        session.contains("refused: over the per-payment limit: the invoice asks 6 000 sat, the device signs at most 5 000 sat per payment"),
        "{session}"
    );
    assert!(session.contains("counter 1; 1 token(s) authorize 4 200 sat"), "{session}");

    // A restart: the state dir holds the device (no key on the command line) and its counter;
    // the QR code is drawn this time.
    let second = invoice(Some(1_000_000), 4);
    let out = lnedge_env(
        &["device", "simulate", "--mode", "payer", "--dir", state],
        &[],
        &format!("pay {second}\n"),
    );
    let session = text(&out.stdout);
    assert!(out.status.success(), "{session}{}", text(&out.stderr));
    let token =
        PayerToken::parse(&hex::decode(field(&session, "hex   ")).expect("hex")).expect("a token");
    assert_binds(&token, &second, 2);
    assert!(session.contains('█') || session.contains('▀'), "a QR code: {session}");

    // Another device's id on the same state dir is refused before anything is signed.
    let out = lnedge_env(
        &["device", "simulate", "--mode", "payer", "--dir", state, "--device", &"00".repeat(16)],
        &[],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--device differs"), "{}", text(&out.stderr));
    // A fresh state dir without the device's id and key says how to enrol.
    let fresh = dir.path().join("fresh");
    let out = lnedge_env(
        &["device", "simulate", "--mode", "payer", "--dir", fresh.to_str().expect("utf-8")],
        &[],
        "",
    );
    assert_eq!(out.status.code(), Some(1));
    assert!(text(&out.stderr).contains("--device ID --token-key KEY"), "{}", text(&out.stderr));
}

#[test]
fn a_served_gateway_takes_the_simulated_devices_token_for_its_invoice_only() {
    const TOKEN: &str = "payer-sim-test-token";
    let dir = tempfile::tempdir().expect("dir");
    let runtime = tokio::runtime::Runtime::new().expect("runtime");
    let gateway = serve(dir.path(), TOKEN, &runtime);
    let http = reqwest::Client::new();
    let post = |path: &str, body: Value, admin: bool| {
        let mut request = http.post(format!("{}{path}", gateway.base)).json(&body);
        if admin {
            request = request.bearer_auth(TOKEN);
        }
        runtime.block_on(async {
            let response = request.send().await.expect("send");
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.expect("json"))
        })
    };
    let (status, enrolled) = post("/v1/payer-devices", json!({"name": "Car unit"}), true);
    assert_eq!(status, 201, "{enrolled}");
    let device = enrolled["device"]["id"].as_str().expect("id");
    let key = enrolled["token_key"].as_str().expect("token key");

    let meter = invoice(Some(2_100_000), 7);
    let car = dir.path().join("car");
    let out = lnedge_env(
        &[
            "device",
            "simulate",
            "--mode",
            "payer",
            "--dir",
            car.to_str().expect("utf-8"),
            "--device",
            device,
            "--token-key",
            key,
            "--no-qr",
        ],
        &[],
        &format!("{meter}\n"),
    );
    let session = text(&out.stdout);
    assert!(out.status.success(), "{session}{}", text(&out.stderr));
    let token = field(&session, "text  ");

    // Every check of the token passes; only the payment itself fails (this gateway's sandbox
    // node has no channel to the meter's node).
    let (status, answer) = post("/v1/pay/token", json!({"token": token, "invoice": meter}), false);
    assert_eq!((status, &answer["error"]["code"]), (502, &json!("payment_failed")), "{answer}");
    // The same token with another invoice of the same amount and payee is refused.
    let other = invoice(Some(2_100_000), 8);
    let (status, answer) = post("/v1/pay/token", json!({"token": token, "invoice": other}), false);
    assert_eq!((status, &answer["error"]["code"]), (422, &json!("wrong_invoice")), "{answer}");
}
