//! What one contract call costs on each backend that runs here, in the same run:
//! `create_invoice` and a one-hop `pay` (invoice created, paid, settled) on the sandbox (real
//! LDK nodes over loopback) and on the LND backend against `lnedge-testnodes`' LND server
//! (REST over TLS, JSON, the backend's SQLite store; the server does no Lightning work, so this
//! is lnedge's side of an LND call plus loopback TLS, not LND's own cost) and on the CLN
//! backend against `lnedge-testnodes`' lightningd stand-in hosting the real `lnedge-cln-hold`
//! plugin (JSON-RPC over a unix socket to lightningd, passed through to the plugin over the
//! plugin protocol, the plugin's datastore write, the backend's store; again no Lightning work).
//!
//! `cargo bench -p lnedge-node --bench backends`
#![allow(missing_docs)] // criterion_group! writes an undocumented fn

use std::sync::Arc;
use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use criterion::{criterion_group, criterion_main, Criterion};
use lnedge_node::cln::{ClnBackend, ClnConfig};
use lnedge_node::lnd::{LndBackend, LndConfig};
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_node::{
    InvoiceDescription, InvoiceParams, LightningBackend, PayRequest, PaymentPreimage,
};
use lnedge_testnodes::cln::ClnNetwork;
use lnedge_testnodes::lnd::LndNetwork;

fn params() -> InvoiceParams {
    InvoiceParams {
        amount_msat: Some(10_000),
        description: InvoiceDescription::Direct("bench".into()),
        expiry_secs: 3600,
        min_final_cltv_expiry_delta: None,
    }
}

fn fresh() -> PaymentPreimage {
    PaymentPreimage(sha256::Hash::hash(&rand::random::<[u8; 32]>()).to_byte_array())
}

async fn create_and_pay(merchant: &dyn LightningBackend, payer: &dyn LightningBackend) {
    let invoice = merchant.create_invoice(fresh(), params()).await.expect("invoice");
    payer
        .pay(PayRequest {
            invoice,
            amount_msat: None,
            max_fee_msat: 10_000,
            timeout: Duration::from_secs(60),
            max_total_cltv_expiry_delta: None,
        })
        .await
        .expect("paid");
}

fn backends(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let dir = tempfile::tempdir().expect("dir");
    let (lnd_merchant, lnd_payer, _servers, _network) = runtime.block_on(async {
        let network = LndNetwork::new();
        let mut servers = Vec::new();
        let mut backends = Vec::new();
        for name in ["merchant", "payer"] {
            let server = network.start_node(name).await.expect("node");
            let (tls_cert, macaroon) =
                server.write_credentials(&dir.path().join(name)).expect("credentials");
            let config = LndConfig {
                rest_url: server.url(),
                tls_cert,
                macaroon,
                data_dir: dir.path().join(format!("{name}-backend")),
            };
            backends.push(Arc::new(LndBackend::connect(config).await.expect("backend")));
            servers.push(server);
        }
        let payer = backends.pop().expect("payer");
        let merchant = backends.pop().expect("merchant");
        (merchant, payer, servers, network)
    });
    // Unix socket paths are short: the CLN nodes live under a short directory.
    let cln_dir = tempfile::Builder::new().prefix("cln").tempdir_in("/tmp").expect("dir");
    let (cln_merchant, cln_payer, _cln_servers, _cln_network) = runtime.block_on(async {
        let network = ClnNetwork::new();
        let mut servers = Vec::new();
        let mut backends = Vec::new();
        for name in ["merchant", "payer"] {
            let server =
                network.start_node(name, &cln_dir.path().join(name), true).await.expect("node");
            let config = ClnConfig {
                rpc_file: server.rpc_file(),
                data_dir: cln_dir.path().join(format!("{name}-backend")),
            };
            backends.push(Arc::new(ClnBackend::connect(config).await.expect("backend")));
            servers.push(server);
        }
        let payer = backends.pop().expect("payer");
        let merchant = backends.pop().expect("merchant");
        (merchant, payer, servers, network)
    });
    let (net, sandbox_payer, sandbox_merchant) = runtime.block_on(async {
        let net = SandboxNetwork::new().await.expect("network");
        let [payer, merchant] = net.line(["payer", "merchant"], 10_000_000).await.expect("line");
        (net, payer, merchant)
    });

    let mut group = c.benchmark_group("create_invoice");
    group.sample_size(30).measurement_time(Duration::from_secs(5));
    group.bench_function("sandbox", |b| {
        b.iter(|| {
            runtime.block_on(sandbox_merchant.create_invoice(fresh(), params())).expect("invoice")
        })
    });
    group.bench_function("lnd", |b| {
        b.iter(|| {
            runtime.block_on(lnd_merchant.create_invoice(fresh(), params())).expect("invoice")
        })
    });
    group.bench_function("cln", |b| {
        b.iter(|| {
            runtime.block_on(cln_merchant.create_invoice(fresh(), params())).expect("invoice")
        })
    });
    group.finish();

    let mut group = c.benchmark_group("create_and_pay_1hop");
    group.sample_size(20).measurement_time(Duration::from_secs(8));
    group.bench_function("sandbox", |b| {
        b.iter(|| runtime.block_on(create_and_pay(&*sandbox_merchant, &*sandbox_payer)))
    });
    group.bench_function("lnd", |b| {
        b.iter(|| runtime.block_on(create_and_pay(&*lnd_merchant, &*lnd_payer)))
    });
    group.bench_function("cln", |b| {
        b.iter(|| runtime.block_on(create_and_pay(&*cln_merchant, &*cln_payer)))
    });
    group.finish();
    runtime.block_on(net.shutdown());
}

criterion_group!(benches, backends);
criterion_main!(benches);
