//! Bolt Cards that work: issued, programmed (at once or by the programmer app's deeplink flow),
//! tapped at a point of sale, paid over two hops, listed, disabled, wiped; and a third-party
//! LNURL client (`lnurl-rs`) driving a card's withdrawal over a real socket.

use axum::http::StatusCode;
use lnedge_device::card::SimulatedCard;
use lnedge_gateway::api::app;
use serde_json::json;

use super::{assert_lnurl_error, call, get, post, world, PUBLIC_URL};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_card_tap_pays_the_merchant_two_hops_away_once() {
    let w = world().await;
    let (id, mut card) = w.card(json!({"per_payment_msat": 50_000_000})).await;

    let request = w.tap(&mut card).await;
    assert_eq!(request["tag"], "withdrawRequest", "{request}");
    assert_eq!(request["callback"], format!("{PUBLIC_URL}/v1/card/callback"));
    assert_eq!(request["maxWithdrawable"], 50_000_000);
    assert_eq!(request["minWithdrawable"], 1_000);
    assert!(request.get("pinLimit").is_none(), "no PIN on this card: {request}");
    let k1 = request["k1"].as_str().expect("k1");

    let invoice = w.invoice(Some(21_000_000)).await;
    let answer = w.callback(k1, &invoice, None).await;
    assert_eq!(answer, json!({"status": "OK"}));
    assert_eq!(w.received(&invoice).await, Some(21_000_000), "the merchant is paid");

    // The operator sees the payment, its fee and today's spend.
    let (status, list) = call(&w.router, get("/v1/payers/payments", true)).await;
    assert_eq!(status, StatusCode::OK);
    let payment = &list["payments"][0];
    assert_eq!(
        (&payment["payer_id"], &payment["kind"], &payment["state"], &payment["amount_msat"]),
        (&json!(id), &json!("card"), &json!("paid"), &json!(21_000_000)),
        "{list}"
    );
    assert!(payment["fee_msat"].as_u64().is_some(), "a two-hop payment pays a fee: {payment}");
    let (_, cards) = call(&w.router, get("/v1/cards", true)).await;
    assert_eq!(cards["payers"][0]["spent_today_msat"], 21_000_000, "{cards}");
    assert_eq!(cards["payers"][0]["counter"], 1);

    // The books have it, as money out of kind `card`.
    let (status, csv) =
        crate::support::call_bytes(&w.router, get("/v1/reports/sales.csv", true)).await;
    assert_eq!(status, StatusCode::OK);
    let csv = String::from_utf8(csv).expect("utf-8");
    let row = csv.lines().find(|l| l.contains(",card,")).unwrap_or_else(|| panic!("{csv}"));
    assert!(row.starts_with(&id), "{row}");
    assert!(row.contains(",spent,"), "{row}");
    assert!(row.contains(",21000000,21000.000,"), "{row}");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_deeplink_flow_programs_a_blank_card_and_reprogramming_starts_a_new_key_version() {
    let w = world().await;
    let (status, issued) =
        call(&w.router, post("/v1/cards", json!({"name": "Festival card"}), true)).await;
    assert_eq!(status, StatusCode::CREATED, "{issued}");
    assert_eq!(issued["card"]["state"], "pending");
    assert!(issued.get("programming").is_none());
    let program_url = issued["program_url"].as_str().expect("program url");
    assert!(program_url.starts_with(&format!("{PUBLIC_URL}/v1/cards/program/")), "{program_url}");
    let deeplink = issued["deeplink"].as_str().expect("deeplink");
    assert!(
        deeplink.starts_with("boltcard://program?url=http%3A%2F%2Fgateway.test%2F"),
        "{deeplink}"
    );
    let path = program_url.trim_start_matches(PUBLIC_URL).to_owned();

    // A pending card pays nothing; the app posts the blank card's UID and gets its keys.
    let uid = "04996c6a926980";
    let (status, keys) = call(&w.router, post(&path, json!({"UID": uid}), false)).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert_eq!(keys["LNURLW"], "lnurlw://gateway.test/v1/card");
    let first = SimulatedCard::programmed(
        uid,
        keys["K1"].as_str().expect("K1"),
        keys["K2"].as_str().expect("K2"),
        "lnurlw://gateway.test/v1/card",
    )
    .expect("card");
    let mut card = first.clone();
    assert_eq!(w.tap(&mut card).await["tag"], "withdrawRequest");
    assert_eq!(w.tap(&mut card).await["tag"], "withdrawRequest");

    // Re-programmed (the app again): new K2, and the counter starts over at 1.
    let (status, again) = call(&w.router, post(&path, json!({"UID": uid}), false)).await;
    assert_eq!(status, StatusCode::OK, "{again}");
    assert_eq!(again["K1"], keys["K1"], "K1 is the issuer's, shared by every card");
    assert_ne!(again["K2"], keys["K2"], "a new key version");
    let (p, c) = first.reading_at(3);
    assert_lnurl_error(&w.tap_with(&p, &c).await, "bad_mac");
    let mut fresh = SimulatedCard::programmed(
        uid,
        again["K1"].as_str().expect("K1"),
        again["K2"].as_str().expect("K2"),
        "lnurlw://gateway.test/v1/card",
    )
    .expect("card");
    assert_eq!(w.tap(&mut fresh).await["tag"], "withdrawRequest", "counter 1 is fresh again");

    // The link is bound to this card; the UID to this entry.
    let (status, other) =
        call(&w.router, post(&path, json!({"UID": "04000000000001"}), false)).await;
    assert_eq!((status, &other["error"]["code"]), (StatusCode::CONFLICT, &json!("uid_mismatch")));
    let (status, dup) =
        call(&w.router, post("/v1/cards", json!({"name": "Same chip", "uid": uid}), true)).await;
    assert_eq!(
        (status, &dup["error"]["code"]),
        (StatusCode::CONFLICT, &json!("uid_taken")),
        "{dup}"
    );
    let (_, cards) = call(&w.router, get("/v1/cards", true)).await;
    assert_eq!(
        cards["payers"].as_array().map(Vec::len),
        Some(1),
        "the refused issue left nothing: {cards}"
    );
    let (status, bad) = call(&w.router, post(&path, json!({"UID": "0499"}), false)).await;
    assert_eq!((status, &bad["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("UID")));
    let (status, unknown) = call(
        &w.router,
        post("/v1/cards/program/00112233445566778899aabbccddeeff", json!({"UID": uid}), false),
    )
    .await;
    assert_eq!(
        (status, &unknown["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("unknown_code"))
    );
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disable_enable_and_wipe() {
    let w = world().await;
    let (id, mut card) = w.card(json!({})).await;
    let (status, disabled) =
        call(&w.router, post(&format!("/v1/payers/{id}/enabled"), json!({"enabled": false}), true))
            .await;
    assert_eq!((status, &disabled["state"]), (StatusCode::OK, &json!("disabled")));
    assert_lnurl_error(&w.tap(&mut card).await, "payer_disabled");
    call(&w.router, post(&format!("/v1/payers/{id}/enabled"), json!({"enabled": true}), true))
        .await;
    assert_eq!(w.tap(&mut card).await["tag"], "withdrawRequest");

    let (status, wiped) =
        call(&w.router, post(&format!("/v1/cards/{id}/wipe"), json!({}), true)).await;
    assert_eq!(status, StatusCode::OK, "{wiped}");
    assert_eq!(wiped["card"]["state"], "wiped");
    let wipe = &wiped["wipe"];
    assert_eq!(
        (&wipe["action"], &wipe["uid"], &wipe["version"]),
        (&json!("wipe"), &json!(hex::encode(card.uid())), &json!(1))
    );
    // The wipe keys are the card's: its reading verifies with them.
    let mut check = SimulatedCard::programmed(
        &hex::encode(card.uid()),
        wipe["k1"].as_str().expect("k1"),
        wipe["k2"].as_str().expect("k2"),
        "lnurlw://gateway.test/v1/card",
    )
    .expect("card");
    let (p, c) = check.tap_reading().expect("tap");
    assert_lnurl_error(&w.tap_with(&p, &c).await, "payer_wiped");

    // The DEEPLINK reset: the link and the card's own reading give its keys, once.
    let reset_url = wiped["reset_url"].as_str().expect("reset url");
    assert!(wiped["reset_deeplink"]
        .as_str()
        .expect("deeplink")
        .starts_with("boltcard://reset?url="));
    let path = reset_url.trim_start_matches(PUBLIC_URL).to_owned();
    let stranger = SimulatedCard::new([1; 7], [2; 16], [3; 16], "lnurlw://x/v1/card");
    let (sp, sc) = stranger.reading_at(9);
    let body =
        |p: &str, c: &str| json!({"LNURLW": format!("lnurlw://gateway.test/v1/card?p={p}&c={c}")});
    let (status, refused) = call(&w.router, post(&path, body(&sp, &sc), false)).await;
    assert_eq!(
        (status, &refused["error"]["code"]),
        (StatusCode::FORBIDDEN, &json!("bad_mac")),
        "{refused}"
    );
    let (status, keys) = call(&w.router, post(&path, body(&p, &c), false)).await;
    assert_eq!(status, StatusCode::OK, "{keys}");
    assert_eq!((&keys["K1"], &keys["K2"]), (&wipe["k1"], &wipe["k2"]));
    let (status, again) = call(&w.router, post(&path, body(&p, &c), false)).await;
    assert_eq!(
        (status, &again["error"]["code"]),
        (StatusCode::NOT_FOUND, &json!("unknown_code")),
        "once"
    );
    assert_lnurl_error(&w.tap(&mut card).await, "payer_wiped");
    let (status, again) =
        call(&w.router, post(&format!("/v1/payers/{id}/enabled"), json!({"enabled": true}), true))
            .await;
    assert_eq!((status, &again["error"]["code"]), (StatusCode::FORBIDDEN, &json!("payer_wiped")));

    // The wiped chip can be issued again (a new entry, new keys, a fresh counter).
    let uid = hex::encode(card.uid());
    let (status, reissued) =
        call(&w.router, post("/v1/cards", json!({"name": "Reissued", "uid": uid}), true)).await;
    assert_eq!(status, StatusCode::CREATED, "{reissued}");
    let p = &reissued["programming"];
    let mut fresh = SimulatedCard::programmed(
        &uid,
        p["k1"].as_str().expect("k1"),
        p["k2"].as_str().expect("k2"),
        "lnurlw://gateway.test/v1/card",
    )
    .expect("card");
    assert_eq!(w.tap(&mut fresh).await["tag"], "withdrawRequest");
    assert_eq!(reissued["card"]["key_version"], 2, "above the wiped entry's version");
    // A reading made before the wipe (old keys, a higher counter) does not verify any more.
    let (p_old, c_old) = card.reading_at(50);
    assert_lnurl_error(&w.tap_with(&p_old, &c_old).await, "bad_mac");

    // Admin routes need the admin token; bad ids and bodies name the field.
    let (status, _) = call(&w.router, get("/v1/cards", false)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, bad) = call(&w.router, post("/v1/cards", json!({"name": ""}), true)).await;
    assert_eq!((status, &bad["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("name")));
    let (status, bad) = call(
        &w.router,
        post("/v1/cards", json!({"name": "x", "per_payment_msat": 10, "per_day_msat": 5}), true),
    )
    .await;
    assert_eq!(
        (status, &bad["error"]["field"]),
        (StatusCode::BAD_REQUEST, &json!("per_payment_msat"))
    );
    let (status, bad) =
        call(&w.router, post("/v1/cards", json!({"name": "x", "pin": "12a4"}), true)).await;
    assert_eq!((status, &bad["error"]["field"]), (StatusCode::BAD_REQUEST, &json!("pin")));
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lnurl_rs_withdraws_from_a_card_over_a_real_socket() {
    let w = world().await;
    let (base, server) =
        crate::support::serve_with_url(|url| app(w.state.reconfigured(|g| g.public_url(url))))
            .await;
    // Issue through the served gateway so the card's URL is this server's.
    let http = reqwest::Client::new();
    let uid = hex::encode(rand::random::<[u8; 7]>());
    let issued: serde_json::Value = http
        .post(format!("{base}/v1/cards"))
        .bearer_auth(super::TOKEN)
        .json(&json!({"name": "Wallet test", "uid": uid}))
        .send()
        .await
        .expect("issue")
        .json()
        .await
        .expect("json");
    let p = &issued["programming"];
    let lnurlw_base = p["lnurlw_base"].as_str().expect("base");
    assert!(lnurlw_base.starts_with("lnurlw://127.0.0.1:"), "{lnurlw_base}");
    let mut card = SimulatedCard::programmed(
        &uid,
        p["k1"].as_str().expect("k1"),
        p["k2"].as_str().expect("k2"),
        lnurlw_base,
    )
    .expect("card");

    // The point of sale reads the card's NDEF URL and turns lnurlw:// back into http(s) (LUD-17).
    let url = card.tap().expect("tap").replacen("lnurlw://", "http://", 1);
    let client = lnurl::AsyncClient::from_client(reqwest::Client::new());
    let response = client.make_request(&url).await.expect("withdraw request");
    let lnurl::LnUrlResponse::LnUrlWithdrawResponse(withdraw) = response else {
        panic!("not a withdraw request: {response:?}");
    };
    let invoice = w.invoice(Some(7_000_000.min(withdraw.max_withdrawable))).await;
    let outcome = client.do_withdrawal(&withdraw, &invoice).await.expect("callback");
    assert!(matches!(outcome, lnurl::Response::Ok(())), "{outcome:?}");
    assert_eq!(w.received(&invoice).await, Some(7_000_000), "paid");

    // The same URL again (a replayed reading) is refused: lnurl-rs sees no withdraw request
    // (it does not surface LUD-01 reasons), and the body says why.
    assert!(client.make_request(&url).await.is_err(), "a replayed reading opens nothing");
    let body: serde_json::Value =
        http.get(&url).send().await.expect("get").json().await.expect("json");
    assert_eq!((&body["status"], &body["code"]), (&json!("ERROR"), &json!("replayed_counter")));
    server.abort();
    w.net.shutdown().await;
}
