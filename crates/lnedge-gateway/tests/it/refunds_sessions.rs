//! Receipts and sessions for web apps (proof of payment → session token) and LNURL-auth
//! (LUD-04) driven by `lnurl-rs` over a real socket.

use std::str::FromStr;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lnedge_gateway::api::app;
use lnedge_node::bitcoin::bip32::Xpriv;
use lnedge_node::bitcoin::secp256k1::{Message, Secp256k1};
use lnedge_node::bitcoin::NetworkKind;
use lnedge_node::{InvoiceDescription, InvoiceParams, LightningBackend, PaymentPreimage};
use serde_json::{json, Value};

use crate::refunds::{call, post, world};

fn bearer(uri: &str, token: &str) -> Request<Body> {
    Request::builder()
        .uri(uri)
        .header("authorization", format!("Bearer {token}"))
        .body(Body::empty())
        .expect("request")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_payment_recovers_a_session_and_only_the_latest_token_lives() {
    let mut w = world().await;
    // An invoice of the owner's node that nobody paid: a genuine proof, but no session.
    let unpaid: [u8; 32] = rand::random();
    let params = InvoiceParams {
        amount_msat: Some(1_000_000),
        description: InvoiceDescription::Direct("Level pack".into()),
        expiry_secs: 3600,
        min_final_cltv_expiry_delta: None,
    };
    let invoice = w.owner.create_invoice(PaymentPreimage(unpaid), params).await.expect("invoice");
    let unpaid_proof = json!({"invoice": invoice.to_string(), "preimage": hex::encode(unpaid)});
    let (status, body) = call(&w.router, post("/v1/sessions", unpaid_proof.clone(), false)).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::PAYMENT_REQUIRED, Some("not_paid")),
        "{body}"
    );
    let (_, receipt) = call(&w.router, post("/v1/proofs/verify", unpaid_proof, false)).await;
    assert_eq!((receipt["valid"].as_bool(), receipt["paid"].as_bool()), (Some(true), Some(false)));

    let sale = w.buy(false).await;
    let proof = json!({"invoice": sale.bolt11, "preimage": hex::encode(sale.preimage)});
    // Settled on the node but not recorded by the gateway yet: the node is asked, so the
    // receipt says paid (no time recorded yet).
    let (status, receipt) = call(&w.router, post("/v1/proofs/verify", proof.clone(), false)).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!((receipt["paid"].as_bool(), receipt["paid_at"].as_u64()), (Some(true), None));
    w.record_payments(1).await;

    let (status, receipt) = call(&w.router, post("/v1/proofs/verify", proof.clone(), false)).await;
    assert_eq!(status, StatusCode::OK, "{receipt}");
    assert_eq!(receipt["description"], "Cola");
    assert_eq!(receipt["payee"], w.owner.node_id().to_string());
    assert_eq!(receipt["paid"], true);
    assert!(receipt["paid_at"].as_u64().is_some(), "recorded: {receipt}");

    let (status, first) = call(&w.router, post("/v1/sessions", proof.clone(), false)).await;
    assert_eq!(status, StatusCode::CREATED, "{first}");
    let first_token = first["token"].as_str().expect("token").to_owned();
    let (status, who) = call(&w.router, bearer("/v1/sessions/current", &first_token)).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["subject"], format!("payment:{}", hex::encode(sale.payment_hash())));

    // The user lost the token: the same payment recovers the session; the old token dies.
    let (_, second) = call(&w.router, post("/v1/sessions", proof, false)).await;
    let second_token = second["token"].as_str().expect("token");
    assert_ne!(second_token, first_token);
    let (status, _) = call(&w.router, bearer("/v1/sessions/current", &first_token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let (status, _) = call(&w.router, bearer("/v1/sessions/current", second_token)).await;
    assert_eq!(status, StatusCode::OK);
    // A bystander with the invoice only gets nothing.
    let (status, body) = call(
        &w.router,
        post("/v1/sessions", json!({"invoice": sale.bolt11, "preimage": "00".repeat(32)}), false),
    )
    .await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("preimage_mismatch"))
    );
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn lnurl_auth_login_with_lnurl_rs() {
    let w = world().await;
    let state = w.state.clone();
    let (base, server) =
        crate::support::serve_with_url(|url| app(state.reconfigured(|g| g.public_url(url)))).await;
    // The web page asks for a challenge and keeps the token.
    let challenge: Value = reqwest::get(format!("{base}/v1/auth/lnurl"))
        .await
        .expect("challenge")
        .json()
        .await
        .expect("json");
    let token = challenge["token"].as_str().expect("token").to_owned();
    // No LUD-17 keyauth:// link on a plain-http gateway (wallets would map it to https).
    assert!(challenge["keyauth"].is_null(), "{challenge}");
    let (status, _) = call(&w.router, bearer("/v1/sessions/current", &token)).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED, "not logged in before the wallet signs");

    // The wallet: lnurl-rs decodes the LNURL, derives the LUD-05 linking key for the host,
    // signs k1 and calls back.
    let lnurl = lnurl::lnurl::LnUrl::decode(challenge["lnurl"].as_str().expect("lnurl").to_owned())
        .expect("LUD-01");
    assert!(lnurl.is_lnurl_auth());
    let url = url::Url::parse(&lnurl.url).expect("url");
    let k1 = url.query_pairs().find(|(k, _)| k == "k1").expect("k1").1.to_string();
    let secp = Secp256k1::new();
    let master = Xpriv::new_master(NetworkKind::Test, &[7u8; 32]).expect("seed");
    let hashing = master
        .derive_priv(
            &secp,
            &lnedge_node::bitcoin::bip32::DerivationPath::from_str("m/138'/0").expect("path"),
        )
        .expect("hashing key");
    let path =
        lnurl::get_derivation_path(hashing.private_key.secret_bytes(), &url).expect("LUD-05");
    let linking = master.derive_priv(&secp, &path).expect("linking key").private_key;
    let key = linking.public_key(&secp);
    let k1_bytes: [u8; 32] = hex::decode(&k1).expect("hex").try_into().expect("32 bytes");
    let sig = secp.sign_ecdsa(&Message::from_digest(k1_bytes), &linking);
    let client = lnurl::AsyncClient::from_client(reqwest::Client::new());
    let reply = client.lnurl_auth(lnurl.clone(), sig, key).await.expect("callback");
    assert!(matches!(reply, lnurl::Response::Ok(())), "{reply:?}");

    // The page's token is now a live session for the linking key.
    let (status, who) = call(&w.router, bearer("/v1/sessions/current", &token)).await;
    assert_eq!(status, StatusCode::OK, "{who}");
    assert_eq!(who["subject"], format!("lnurl-auth:{key}"));

    // Replaying the signed callback: the challenge is single-use.
    let reply = client.lnurl_auth(lnurl, sig, key).await.expect("callback");
    assert!(
        matches!(reply, lnurl::Response::Error { ref reason } if reason.contains("already")),
        "{reply:?}"
    );
    // A signature by another key over the next challenge fails.
    let next: Value =
        reqwest::get(format!("{base}/v1/auth/lnurl")).await.expect("c").json().await.expect("j");
    let next_url = next["url"].as_str().expect("url");
    let other = lnedge_node::bitcoin::secp256k1::SecretKey::from_slice(&[9; 32]).expect("key");
    let reply: Value =
        reqwest::get(format!("{next_url}&sig={sig}&key={}", other.public_key(&secp)))
            .await
            .expect("callback")
            .json()
            .await
            .expect("json");
    assert_eq!(
        (reply["status"].as_str(), reply["code"].as_str()),
        (Some("ERROR"), Some("bad_signature"))
    );
    server.abort();
    w.net.shutdown().await;
}
