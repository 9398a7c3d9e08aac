//! `service::serve`, the running gateway `lnedge gateway serve` starts: a configuration file in,
//! its nodes started, the HTTP service answering, a clean stop; bad configurations refused before
//! anything starts.

use std::time::Duration;

use lnedge_gateway::config::GatewayConfig;
use lnedge_gateway::service::serve;

const TOKEN: &str = "0123456789abcdef0123";

/// Sandbox owner node and a sandbox forwarding node for the relay: the service starts both,
/// the operator's view names the forwarding node, and the service stops on request.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[cfg_attr(
    not(feature = "sandbox"),
    ignore = "needs the gateway's `sandbox` feature (on in `cargo test --workspace`, which builds the lnedge binary)"
)]
async fn the_service_starts_with_a_relay_forwarding_node_and_stops_cleanly() {
    let dir = tempfile::tempdir().expect("dir");
    let addr = crate::support::free_addr();
    let config = GatewayConfig::from_toml(&format!(
        "listen = \"{addr}\"\ndata_dir = \"{}\"\nadmin_token = \"{TOKEN}\"\n\
         [node]\nkind = \"sandbox\"\n[relay]\npayer_invoices_per_minute = 7\n\
         [relay.forward_node]\nkind = \"sandbox\"\n",
        dir.path().display()
    ))
    .expect("config");
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(serve(config, async move {
        let _ = stopped.await;
    }));

    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let started = tokio::time::Instant::now();
    loop {
        if let Ok(r) = http.get(format!("{base}/healthz")).send().await {
            assert!(r.status().is_success(), "healthz: {}", r.status());
            break;
        }
        assert!(!service.is_finished(), "the service ended early: {:?}", service.await);
        assert!(started.elapsed() < Duration::from_secs(60), "the service did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let ops: serde_json::Value = http
        .get(format!("{base}/v1/relay/payments"))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ops["forward_node"]["backend"], "sandbox", "{ops}");
    assert_eq!(ops["forward_node"]["node_id"].as_str().map(str::len), Some(66), "{ops}");
    assert_eq!(ops["settings"]["payer_invoices_per_minute"], 7, "{ops}");
    // The two secrets were created in the data directory.
    assert!(dir.path().join("pool.key").exists());
    assert!(dir.path().join("device-master.key").exists());

    stop.send(()).expect("stop");
    let ended = tokio::time::timeout(Duration::from_secs(30), service).await;
    ended.expect("stops within 30 s").expect("join").expect("a clean stop");
}

/// Configurations that cannot work are refused with the key named, before any node starts.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bad_relay_forwarding_node_configurations_are_refused() {
    let dir = tempfile::tempdir().expect("dir");
    let ldk = |network: &str, listen: &str| {
        format!(
            "kind = \"ldk\"\nnetwork = \"{network}\"\nbitcoind_rpc = \"u:p@127.0.0.1:1\"\nlisten = \"{listen}\"\n"
        )
    };
    let cases = [
        (ldk("regtest", "127.0.0.1:19735"), "kind = \"sandbox\"\n".to_owned(), "same as [node]"),
        (ldk("regtest", "127.0.0.1:19735"), ldk("signet", "127.0.0.1:19736"), "is not the node's"),
        (
            ldk("regtest", "127.0.0.1:19735"),
            ldk("regtest", "127.0.0.1:19735"),
            "give it its own address",
        ),
    ];
    for (node, forward, expected) in cases {
        let config = GatewayConfig::from_toml(&format!(
            "listen = \"{}\"\ndata_dir = \"{}\"\nadmin_token = \"{TOKEN}\"\n[node]\n{node}[relay.forward_node]\n{forward}",
            crate::support::free_addr(),
            dir.path().display()
        ))
        .expect("parses");
        let err = serve(config, std::future::pending()).await.expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("relay.forward_node") && text.contains(expected), "{text}");
    }
    assert!(!dir.path().join("node").exists(), "no node was started");
}

/// Without the `sandbox` feature, `node.kind = "sandbox"` is refused at start with the key named.
#[cfg(not(feature = "sandbox"))]
#[tokio::test]
async fn a_sandbox_node_needs_the_sandbox_feature() {
    let dir = tempfile::tempdir().expect("dir");
    let config = GatewayConfig::from_toml(&format!(
        "listen = \"{}\"\ndata_dir = \"{}\"\nadmin_token = \"{TOKEN}\"\n[node]\nkind = \"sandbox\"\n",
        crate::support::free_addr(),
        dir.path().display()
    ))
    .expect("parses");
    let err = serve(config, std::future::pending()).await.expect_err("refused");
    assert!(err.to_string().contains("node.kind"), "{err}");
}

/// `node.kind = "lnd"` against `lnedge-testnodes`' LND server: the service starts on it, a pool
/// is provisioned with invoices signed by that LND, a customer's LND pays one and the sale is
/// booked; a wrong macaroon, certificate or URL is refused at start with its key named.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_on_lnd_and_names_bad_credentials() {
    use lnedge_testnodes::lnd::LndNetwork;
    let dir = tempfile::tempdir().expect("dir");
    let network = LndNetwork::new();
    let lnd = network.start_node("operator").await.expect("lnd");
    let (cert, macaroon) = lnd.write_credentials(&dir.path().join("lnd")).expect("credentials");
    let config_with = |rest_url: &str, cert: &std::path::Path, macaroon: &std::path::Path| {
        GatewayConfig::from_toml(&format!(
            "listen = \"{}\"\ndata_dir = \"{}\"\nadmin_token = \"{TOKEN}\"\n\
             [node]\nkind = \"lnd\"\nrest_url = \"{rest_url}\"\ntls_cert = \"{}\"\nmacaroon = \"{}\"\n",
            crate::support::free_addr(),
            dir.path().join("gw").display(),
            cert.display(),
            macaroon.display()
        ))
        .expect("config")
    };
    let wrong_macaroon = dir.path().join("wrong.macaroon");
    std::fs::write(&wrong_macaroon, [7u8; 32]).expect("write");
    let other = network.start_node("other").await.expect("other");
    let (other_cert, _) = other.write_credentials(&dir.path().join("other")).expect("credentials");
    for (config, key) in [
        (config_with(&lnd.url(), &cert, &wrong_macaroon), "node.macaroon"),
        (config_with(&lnd.url(), &other_cert, &macaroon), "node.tls_cert"),
        (config_with("http://127.0.0.1:1", &cert, &macaroon), "node.rest_url"),
    ] {
        let err = serve(config, std::future::pending()).await.expect_err("refused");
        assert!(err.to_string().contains(key), "{key}: {err}");
    }

    let customer_lnd = network.start_node("customer").await.expect("customer");
    let (ccert, cmac) =
        customer_lnd.write_credentials(&dir.path().join("customer")).expect("creds");
    let customer = lnedge_node::lnd::LndBackend::connect(lnedge_node::lnd::LndConfig {
        rest_url: customer_lnd.url(),
        tls_cert: ccert,
        macaroon: cmac,
        data_dir: dir.path().join("customer-backend"),
    })
    .await
    .expect("customer backend");
    let config = config_with(&lnd.url(), &cert, &macaroon);
    serves_and_books_a_sale(config, lnd.node_id(), &customer).await;
}

/// The gateway on Core Lightning (`node.kind = "cln"`, lnedge-testnodes' lightningd stand-in
/// with the real lnedge-cln-hold plugin): a missing socket and a lightningd without the plugin
/// stop it at start naming `node.rpc_file`; the right one serves and books a sale.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_service_runs_on_cln_and_names_a_bad_socket() {
    use lnedge_testnodes::cln::ClnNetwork;
    let dir = tempfile::Builder::new().prefix("cln").tempdir_in("/tmp").expect("dir");
    let network = ClnNetwork::new();
    let cln = network.start_node("operator", &dir.path().join("op"), true).await.expect("cln");
    let bare = network.start_node("bare", &dir.path().join("bare"), false).await.expect("bare");
    let config_with = |rpc_file: &std::path::Path| {
        GatewayConfig::from_toml(&format!(
            "listen = \"{}\"\ndata_dir = \"{}\"\nadmin_token = \"{TOKEN}\"\n\
             [node]\nkind = \"cln\"\nrpc_file = \"{}\"\n",
            crate::support::free_addr(),
            dir.path().join("gw").display(),
            rpc_file.display()
        ))
        .expect("config")
    };
    for (rpc_file, needle) in [
        (dir.path().join("nowhere/lightning-rpc"), "No such file"),
        (bare.rpc_file(), "important-plugin="),
    ] {
        let err = serve(config_with(&rpc_file), std::future::pending()).await.expect_err("refused");
        let text = err.to_string();
        assert!(text.contains("node.rpc_file") && text.contains(needle), "{text}");
    }
    let customer_cln =
        network.start_node("customer", &dir.path().join("cu"), true).await.expect("customer");
    let customer = lnedge_node::cln::ClnBackend::connect(lnedge_node::cln::ClnConfig {
        rpc_file: customer_cln.rpc_file(),
        data_dir: dir.path().join("customer-backend"),
    })
    .await
    .expect("customer backend");
    serves_and_books_a_sale(config_with(&cln.rpc_file()), cln.node_id(), &customer).await;
}

/// Runs the gateway on `config` (the operator's own node `owner`), provisions a pool signed by
/// it, has `customer` pay its first invoice, waits for the sale to be booked, stops cleanly.
async fn serves_and_books_a_sale(
    config: GatewayConfig,
    owner: lnedge_node::bitcoin::secp256k1::PublicKey,
    customer: &dyn lnedge_node::LightningBackend,
) {
    let addr = config.listen;
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    let service = tokio::spawn(serve(config, async move {
        let _ = stopped.await;
    }));
    let http = reqwest::Client::new();
    let base = format!("http://{addr}");
    let started = tokio::time::Instant::now();
    while http.get(format!("{base}/healthz")).send().await.is_err() {
        assert!(!service.is_finished(), "the service ended early: {:?}", service.await);
        assert!(started.elapsed() < Duration::from_secs(60), "the service did not come up");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let device = "0123456789abcdef0123456789abcdef";
    let enrolled = http
        .post(format!("{base}/v1/devices"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"device_id": device, "name": "Lobby",
            "products": [{"id": 1, "description": "Cola", "price_msat": 2_500_000}]}))
        .send()
        .await
        .expect("enrol");
    assert!(enrolled.status().is_success(), "{}", enrolled.status());
    let pool: serde_json::Value = http
        .post(format!("{base}/v1/devices/{device}/pools"))
        .bearer_auth(TOKEN)
        .json(&serde_json::json!({"entries_per_product": 3, "expiry_days": 30}))
        .send()
        .await
        .expect("pool")
        .json()
        .await
        .expect("json");
    assert_eq!(pool["owner_node_id"], owner.to_string(), "{pool}");

    // A customer's node pays the pool's first invoice; the gateway's watcher, fed by the
    // backend's event queue, books the sale.
    let file = http
        .get(format!("{base}{}", pool["file"].as_str().expect("file")))
        .bearer_auth(TOKEN)
        .send()
        .await
        .expect("file")
        .bytes()
        .await
        .expect("bytes");
    let parsed = lnedge_proto::pool::Pool::parse(&file).expect("pool");
    let mut bolt11 = String::new();
    parsed.entry(0).expect("entry 0").write_bolt11(&mut bolt11).expect("bolt11");
    customer
        .pay(lnedge_node::PayRequest {
            invoice: lnedge_node::parse_invoice(&bolt11).expect("invoice"),
            amount_msat: None,
            max_fee_msat: 10_000,
            timeout: Duration::from_secs(60),
            max_total_cltv_expiry_delta: None,
        })
        .await
        .expect("the customer pays");
    let started = tokio::time::Instant::now();
    loop {
        let report: serde_json::Value = http
            .get(format!("{base}/v1/reports/sales"))
            .bearer_auth(TOKEN)
            .send()
            .await
            .expect("report")
            .json()
            .await
            .expect("json");
        if report["totals"]["amount_msat"].as_u64() == Some(2_500_000) {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "the sale was not booked: {report}");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    stop.send(()).expect("stop");
    let ended = tokio::time::timeout(Duration::from_secs(30), service).await;
    ended.expect("stops within 30 s").expect("join").expect("a clean stop");
}
