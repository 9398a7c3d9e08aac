//! The attacks on deputy sales that must fail, one test each (issue #6, "Bar").

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lnedge_device::claim::ClaimInput;
use lnedge_device::deputy::Presented;
use lnedge_proto::deputy::claim::MAX_CODE_TRIES;
use lnedge_proto::deputy::{DeputyClaim, ShortCode};
use lnedge_proto::envelope::{decode_text, Envelope};
use serde_json::{json, Value};

use crate::deputy::{call, eur, Fixture};

fn code_of(answer: &Value) -> &str {
    assert_eq!(answer["status"], "ERROR", "{answer}");
    answer["code"].as_str().expect("code")
}

fn with_p(url: &str, p: &str) -> String {
    format!("{}?p={p}", url.split("?p=").next().expect("url"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replayed_and_stale_payloads_are_refused() {
    let fx = Fixture::new().await;
    let mut terminal = fx.terminal(fx.device).await;
    let first = terminal.new_sale(100, eur()).expect("sale");
    let second = terminal.new_sale(200, eur()).expect("sale");
    assert_eq!(fx.get(&second.url).await["tag"], "payRequest");
    // The older payload, fetched after a newer one was used: stale.
    assert_eq!(code_of(&fx.get(&first.url).await), "stale_counter");
    // Paid, then replayed: refused, at fetch and at callback.
    fx.wallet_pays(&second).await;
    assert_eq!(code_of(&fx.get(&second.url).await), "already_paid");
    let callback = second.url.replace("?p=", "/callback?p=") + "&amount=3333000";
    assert_eq!(code_of(&fx.get(&callback).await), "already_paid");

    // A sale already fetched before a newer one stays payable (a customer mid-payment is not
    // cut off by the next customer's sale), once.
    let third = terminal.new_sale(300, eur()).expect("sale");
    assert_eq!(fx.get(&third.url).await["tag"], "payRequest");
    let fourth = terminal.new_sale(400, eur()).expect("sale");
    assert_eq!(fx.get(&fourth.url).await["tag"], "payRequest");
    assert_eq!(fx.get(&third.url).await["tag"], "payRequest", "fetched first: still payable");
    fx.wallet_pays(&third).await;
    assert_eq!(code_of(&fx.get(&third.url).await), "already_paid");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payload_for_another_device_is_refused() {
    let fx = Fixture::new().await;
    let other = Fixture::enrol_in(&fx.store).await;
    let mut terminal = fx.terminal(fx.device).await;
    let shown = terminal.new_sale(420, eur()).expect("sale");
    let moved = shown.url.replace(&fx.device.to_string(), &other.to_string());
    assert_ne!(moved, shown.url);
    assert_eq!(code_of(&fx.get(&moved).await), "not_authentic");
    let unknown = shown.url.replace(&fx.device.to_string(), &"ab".repeat(16));
    assert_eq!(code_of(&fx.get(&unknown).await), "unknown_device");
    // Nothing was recorded for either.
    let (_, listed) = fx.admin_get("/v1/deputy/sales").await;
    assert_eq!(listed["sales"].as_array().map(Vec::len), Some(0), "{listed}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_tampered_amount_is_refused() {
    use base64::engine::general_purpose::URL_SAFE_NO_PAD;
    use base64::Engine;
    let fx = Fixture::new().await;
    let mut terminal = fx.terminal(fx.device).await;
    let shown = terminal.new_sale(420, eur()).expect("sale");
    let p = shown.url.split("?p=").nth(1).expect("p");
    let sealed = URL_SAFE_NO_PAD.decode(p).expect("base64url");
    // Every byte of the encrypted amount/currency and of the tag, flipped in turn.
    for i in 9..sealed.len() {
        let mut bad = sealed.clone();
        bad[i] ^= 0x01;
        let url = with_p(&shown.url, &URL_SAFE_NO_PAD.encode(&bad));
        assert_eq!(code_of(&fx.get(&url).await), "not_authentic", "byte {i}");
    }
    // The genuine payload, then a callback asking to pay less.
    let pay = fx.get(&shown.url).await;
    let amount = pay["minSendable"].as_u64().expect("amount");
    let callback = lnedge_wire::lnurl::with_param(
        pay["callback"].as_str().expect("callback"),
        "amount",
        amount - 1000,
    );
    assert_eq!(code_of(&fx.get(&callback).await), "wrong_amount");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claim_for_another_sale_is_refused() {
    let fx = Fixture::new().await;
    let mut terminal = fx.terminal(fx.device).await;
    let cheap = terminal.new_sale(50, eur()).expect("sale");
    let paid = fx.wallet_pays(&cheap).await;
    assert_eq!(
        terminal.present(ClaimInput::Text(&paid.text)).expect("ok"),
        Presented::Paid(cheap.sale)
    );
    // The next customer buys something dear and shows the cheap sale's claim.
    let dear = terminal.new_sale(9_900, eur()).expect("sale");
    assert_eq!(
        terminal.present(ClaimInput::Text(&paid.text)).expect("present"),
        Presented::AlreadyPaid(cheap.sale),
        "the claim names the cheap sale, not the pending one"
    );
    // Edited to name the dear sale: the MAC no longer verifies.
    let (_, claim_text) = paid.text.split_once(' ').expect("two parts");
    let Ok(Envelope::DeputyClaim(claim)) = decode_text(claim_text) else { panic!("a claim") };
    let edited = DeputyClaim { counter: dear.sale.counter, ..claim };
    assert_eq!(terminal.present_claim(&edited).expect("present"), Presented::Forged { counter: 2 });
    // The cheap sale's code typed for the dear one: wrong.
    let (code, _) = paid.text.split_once(' ').expect("two parts");
    assert!(matches!(
        terminal.present(ClaimInput::Keypad(code)).expect("present"),
        Presented::Wrong { counter: 2, .. }
    ));
    // Another terminal refuses it too.
    let other = Fixture::enrol_in(&fx.store).await;
    let mut elsewhere = fx.terminal(other).await;
    assert_eq!(
        elsewhere.present(ClaimInput::Text(&paid.text)).expect("present"),
        Presented::OtherTerminal(fx.device)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn brute_forcing_the_short_code_locks_the_sale_out() {
    let fx = Fixture::new().await;
    let mut terminal = fx.terminal(fx.device).await;
    let shown = terminal.new_sale(420, eur()).expect("sale");
    let paid = fx.wallet_pays(&shown).await;
    let (code, _) = paid.text.split_once(' ').expect("two parts");
    let right = ShortCode::parse(code).expect("8 digits");
    let mut locked = false;
    for guess in 0..u32::from(MAX_CODE_TRIES) + 3 {
        let guess = ShortCode((right.0 + 1 + guess) % 100_000_000);
        match terminal.present_code(guess).expect("present") {
            Presented::Wrong { .. } => assert!(!locked),
            Presented::LockedOut { counter: 1 } => locked = true,
            other => panic!("unexpected {other:?}"),
        }
    }
    assert!(locked);
    assert_eq!(
        terminal.present(ClaimInput::Keypad(code)).expect("p"),
        Presented::LockedOut { counter: 1 }
    );
    // The customer who really paid still has the full claim (QR/NFC).
    assert_eq!(
        terminal.present(ClaimInput::Text(&paid.text)).expect("p"),
        Presented::Paid(shown.sale)
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_routing_nodes_preimage_is_no_claim_at_any_terminal() {
    let fx = Fixture::new().await;
    let mut terminal = fx.terminal(fx.device).await;
    let shown = terminal.new_sale(420, eur()).expect("sale");
    // The payment crosses the router, which learns the preimage.
    let paid = fx.wallet_pays(&shown).await;
    let preimage_hex = hex::encode(paid.preimage);
    // At another terminal, in every form a thief could present it.
    let other = Fixture::enrol_in(&fx.store).await;
    let mut elsewhere = fx.terminal(other).await;
    elsewhere.new_sale(420, eur()).expect("sale");
    assert!(elsewhere.present(ClaimInput::Text(&preimage_hex)).is_err());
    assert!(elsewhere.present(ClaimInput::Keypad(&preimage_hex)).is_err());
    let as_claim = |device| DeputyClaim {
        device_id: device,
        counter: 1,
        tag: paid.preimage[..16].try_into().expect("16"),
    };
    assert_eq!(
        elsewhere.present_claim(&as_claim(other)).expect("p"),
        Presented::Forged { counter: 1 }
    );
    // Nor at the terminal it paid.
    assert_eq!(
        terminal.present_claim(&as_claim(fx.device)).expect("p"),
        Presented::Forged { counter: 1 }
    );
    assert!(terminal.present(ClaimInput::Text(&preimage_hex)).is_err());
    // The gateway's fallback wants the invoice with it: the preimage with another invoice fails.
    let uri = format!("/v1/deputy/claim?invoice={}&preimage={}", "lnbcrt1invalid", preimage_hex);
    let (status, _) = call(&fx.app, Request::get(uri).body(Body::empty()).expect("req")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    let uri = format!("/v1/deputy/claim?invoice={}&preimage={}", paid.invoice, "00".repeat(32));
    let (status, answer) = call(&fx.app, Request::get(uri).body(Body::empty()).expect("req")).await;
    assert_eq!(
        (status, &answer["error"]["code"]),
        (StatusCode::UNPROCESSABLE_ENTITY, &json!("not_a_proof"))
    );
    // And the real customer's claim still works.
    assert_eq!(
        terminal.present(ClaimInput::Text(&paid.text)).expect("p"),
        Presented::Paid(shown.sale)
    );
}
