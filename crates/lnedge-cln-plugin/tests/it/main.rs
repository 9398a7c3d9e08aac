//! The built `lnedge-cln-hold` binary, started as lightningd starts a plugin (a child process
//! on stdin / stdout, its logs as `log` notifications among the answers) by `lnedge-testnodes`'
//! lightningd stand-in, driven over the `lightning-rpc` socket with `cln-rpc`: what an operator's
//! lightningd does with it, minus lightningd.

use std::path::PathBuf;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use cln_rpc::ClnRpc;
use lnedge_testnodes::cln::{ClnNetwork, FakeCln, PluginSource};
use serde_json::{json, Value};

fn binary() -> PluginSource {
    PluginSource::Binary(PathBuf::from(env!("CARGO_BIN_EXE_lnedge-cln-hold")))
}

async fn call(node: &FakeCln, method: &str, params: Value) -> Result<Value, cln_rpc::RpcError> {
    let mut rpc = ClnRpc::new(node.rpc_file()).await.expect("socket");
    rpc.call_raw(method, &params).await
}

/// Waits (generously) until the invoice of `hash` on `node` is in `state`.
async fn until_state(node: &FakeCln, hash: &str, state: &str) -> Value {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        if let Ok(record) = call(node, "lnedge-lookup", json!({"payment_hash": hash})).await {
            if record["state"] == state {
                return record;
            }
        }
        assert!(tokio::time::Instant::now() < deadline, "{hash} never became {state}");
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

/// Pays `bolt11` from `payer` in the background (`xpay`).
fn xpay(
    payer: &FakeCln,
    bolt11: &str,
) -> tokio::task::JoinHandle<Result<Value, cln_rpc::RpcError>> {
    let (socket, bolt11) = (payer.rpc_file(), bolt11.to_owned());
    tokio::spawn(async move {
        let mut rpc = ClnRpc::new(socket).await.expect("socket");
        rpc.call_raw("xpay", &json!({"invstring": bolt11})).await
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_holds_settles_and_survives_lightningd_restarting() {
    let dir = tempfile::Builder::new().prefix("clnbin").tempdir_in("/tmp").expect("dir");
    let network = ClnNetwork::new();
    let mut merchant =
        network.start_node_with("merchant", &dir.path().join("m"), binary()).await.expect("m");
    let payer = network.start_node_with("payer", &dir.path().join("p"), binary()).await.expect("p");

    // A hold invoice with a description hash and a long final CLTV, signed by the node.
    let preimage = [0x42u8; 32];
    let hash = hex::encode(sha256::Hash::hash(&preimage).to_byte_array());
    let record = call(
        &merchant,
        "lnedge-invoice",
        json!({"payment_hash": hash, "amount_msat": 25_000, "description_hash": "ab".repeat(32),
               "expiry_secs": 600, "cltv": 300}),
    )
    .await
    .expect("lnedge-invoice");
    let invoice: lightning_invoice::Bolt11Invoice =
        record["bolt11"].as_str().expect("bolt11").parse().expect("a BOLT 11 invoice");
    assert_eq!(invoice.recover_payee_pub_key(), merchant.node_id(), "signed by the node");
    assert_eq!(invoice.min_final_cltv_expiry_delta(), 300);
    assert_eq!(invoice.amount_milli_satoshis(), Some(25_000));
    let err = call(&merchant, "lnedge-settle", json!({"preimage": hex::encode(preimage)}))
        .await
        .expect_err("nothing held yet");
    assert_eq!((err.code, err.data), (Some(1902), Some(json!({"state": "open"}))));

    // Paid: held. lightningd restarts: the plugin process starts again, reads its datastore,
    // the HTLC is replayed to it and held again.
    let paying = xpay(&payer, &invoice.to_string());
    let held = until_state(&merchant, &hash, "held").await;
    assert_eq!(held["received_msat"], 25_000);
    merchant.stop().await;
    merchant.start().await.expect("lightningd again");
    until_state(&merchant, &hash, "held").await;
    assert!(!paying.is_finished(), "the payer still waits");

    let settled = call(&merchant, "lnedge-settle", json!({"preimage": hex::encode(preimage)}))
        .await
        .expect("settle");
    assert_eq!(settled["state"], "settled");
    let paid = paying.await.expect("join").expect("the payer's xpay completes");
    assert_eq!(paid["payment_preimage"], hex::encode(preimage));

    // Another restart: the settlement is on disk.
    merchant.stop().await;
    merchant.start().await.expect("lightningd again");
    until_state(&merchant, &hash, "settled").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_binary_refuses_what_it_must() {
    let dir = tempfile::Builder::new().prefix("clnbin").tempdir_in("/tmp").expect("dir");
    let network = ClnNetwork::new();
    let merchant =
        network.start_node_with("merchant", &dir.path().join("m"), binary()).await.expect("m");
    let payer = network.start_node_with("payer", &dir.path().join("p"), binary()).await.expect("p");
    let err = call(&merchant, "lnedge-invoice", json!({"payment_hash": "zz", "expiry_secs": 1}))
        .await
        .expect_err("bad hash");
    assert_eq!(err.code, Some(-32602));
    assert!(err.message.contains("payment_hash"), "{}", err.message);
    let err = call(&merchant, "lnedge-lookup", json!({"payment_hash": "00".repeat(32)}))
        .await
        .expect_err("unknown");
    assert_eq!(err.code, Some(1901));

    // Cancelled while held: the payer's xpay fails as CLN reports a refusing destination.
    let hash = hex::encode(sha256::Hash::hash(&[7u8; 32]).to_byte_array());
    let record = call(
        &merchant,
        "lnedge-invoice",
        json!({"payment_hash": hash, "amount_msat": 1_000, "description": "tap", "expiry_secs": 600}),
    )
    .await
    .expect("invoice");
    let paying = xpay(&payer, record["bolt11"].as_str().expect("bolt11"));
    until_state(&merchant, &hash, "held").await;
    call(&merchant, "lnedge-cancel", json!({"payment_hash": hash})).await.expect("cancel");
    let err = paying.await.expect("join").expect_err("refused");
    assert_eq!(err.code, Some(203), "{}", err.message);
    let err = call(&merchant, "lnedge-settle", json!({"preimage": hex::encode([7u8; 32])}))
        .await
        .expect_err("cancelled");
    assert_eq!(err.data, Some(json!({"state": "cancelled"})));
}
