//! `lnedge bench --deputy`: the LNURL round trip of a deputy sale — the wallet's fetch of the
//! sealed payload and its callback, which creates the invoice on the sandbox owner node — through
//! the gateway's real router over a real loopback socket, with many wallets at once.
//!
//! Each wallet pays at its own terminal (counters are per terminal and must grow), so the
//! figures include opening the payload, the store's per-device counter check, the fiat
//! conversion, invoice creation with a description hash and the AES success action.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lnedge_device::deputy::{DeputyTerminal, FLASH_LEN};
use lnedge_device::MemFlash;
use lnedge_gateway::accounting::FixedRates;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::GatewayBuilder;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_proto::deputy::{Currency, TerminalKeys};
use lnedge_proto::DeviceId;
use lnedge_wire::lnurl::{PayCallback, PayRequest};
use serde::de::DeserializeOwned;
use serde::Serialize;

use super::stats::{self, ms, per_sec, Summary};

/// Figures of one deputy run.
#[derive(Debug, Serialize)]
pub(crate) struct DeputyFigures {
    scenario: &'static str,
    build: &'static str,
    store: &'static str,
    wallets: usize,
    round_trips: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
    round_trips_per_sec: f64,
}

/// A gateway answer parsed as `T`; the body in the error when it is not one (a LUD-01 error).
async fn parse<T: DeserializeOwned>(response: reqwest::Response, what: &str) -> Result<T> {
    let body = response.bytes().await?;
    serde_json::from_slice(&body)
        .with_context(|| format!("{what}: {}", String::from_utf8_lossy(&body)))
}

/// One wallet: fetch + callback for `sales` consecutive sales at its own terminal.
async fn wallet(
    client: reqwest::Client,
    mut terminal: DeputyTerminal<MemFlash>,
    sales: usize,
) -> Result<Vec<Duration>> {
    let mut samples = Vec::with_capacity(sales);
    for _ in 0..sales {
        let shown = terminal.new_sale(420, Currency::parse("EUR")?)?;
        let started = Instant::now();
        let pay: PayRequest = parse(client.get(&shown.url).send().await?, "fetch").await?;
        let callback = lnedge_wire::lnurl::with_param(&pay.callback, "amount", pay.min_sendable);
        let _: PayCallback = parse(client.get(callback).send().await?, "callback").await?;
        samples.push(started.elapsed());
    }
    Ok(samples)
}

/// Runs the benchmark: `wallets` concurrent wallets, `sales` round trips each.
pub(crate) async fn run(wallets: usize, sales: usize) -> Result<DeputyFigures> {
    let dir = tempfile::tempdir()?;
    let net = SandboxNetwork::new().await?;
    let owner = net.add_node("owner").await?;
    let store: Arc<dyn GatewayStore> =
        Arc::new(SqliteStore::open(&dir.path().join("gateway.sqlite3"))?);
    let master: [u8; 32] = rand::random();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let url = format!("http://{}", listener.local_addr()?);
    let gateway = GatewayBuilder::new(store.clone(), owner, Arc::new(PoolKey::generate()), master)
        .rates(Arc::new(FixedRates::new([("EUR".to_owned(), 60_000.0)])))
        .public_url(url.clone())
        .build();
    let router = app(AppState::with_gateway(gateway, "bench"));
    let server = tokio::spawn(async move { axum::serve(listener, router).await });
    let client = reqwest::Client::builder().pool_max_idle_per_host(wallets).build()?;

    let mut terminals = Vec::with_capacity(wallets);
    for _ in 0..wallets {
        let device = DeviceId(rand::random());
        store.insert_device(device, "Bench terminal", &[], 1_700_000_000).await?;
        let keys = TerminalKeys::derive(&master, device);
        terminals.push(DeputyTerminal::open(
            keys,
            url.clone(),
            MemFlash::from_bytes(vec![0xFF; FLASH_LEN]),
        )?);
    }
    // Warm-up: one round trip per wallet, not measured.
    let mut warm = Vec::new();
    for terminal in terminals.iter_mut() {
        let shown = terminal.new_sale(100, Currency::SAT)?;
        warm.push(client.get(&shown.url).send());
    }
    for request in warm {
        request.await?.error_for_status()?;
    }

    let started = Instant::now();
    let tasks: Vec<_> =
        terminals.into_iter().map(|t| tokio::spawn(wallet(client.clone(), t, sales))).collect();
    let mut samples = Vec::with_capacity(wallets * sales);
    for task in tasks {
        samples.extend(task.await??);
    }
    let wall = started.elapsed();
    server.abort();
    net.shutdown().await;
    let s = Summary::of(&mut samples);
    Ok(DeputyFigures {
        scenario: "deputy_lnurl_fetch_and_callback",
        build: stats::build(),
        store: "sqlite",
        wallets,
        round_trips: s.count,
        p50_ms: ms(s.p50),
        p99_ms: ms(s.p99),
        max_ms: ms(s.max),
        round_trips_per_sec: per_sec(s.count, wall, 1),
    })
}
