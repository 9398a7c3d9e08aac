//! `lnedge bench --deputy`: the LNURL round trip of a deputy sale — the wallet's fetch of the
//! sealed payload and its callback, which creates the invoice on the sandbox owner node — through
//! the gateway's real router over a real loopback socket, with many wallets at once.
//!
//! Each wallet pays at its own terminal (counters are per terminal and must grow), so the
//! figures include opening the payload, the store's per-device counter check, the fiat
//! conversion, invoice creation with a description hash and the AES success action.

use std::path::Path;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result};
use lnedge_device::deputy::{DeputyTerminal, DeputyTerminalError, FLASH_LEN};
use lnedge_device::MemFlash;
use lnedge_gateway::accounting::FixedRates;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::{GatewayStore, Price, ProductRecord};
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

/// The deputy bench's gateway on the sandbox owner node, serving on a loopback port, with one
/// enrolled terminal per wallet.
struct Rig {
    dir: tempfile::TempDir,
    net: SandboxNetwork,
    store: Arc<dyn GatewayStore>,
    url: String,
    server: tokio::task::JoinHandle<std::io::Result<()>>,
    master: [u8; 32],
    terminals: Vec<DeputyTerminal<MemFlash>>,
}

impl Rig {
    async fn start(wallets: usize) -> Result<Rig> {
        let dir = tempfile::tempdir()?;
        let net = SandboxNetwork::new().await?;
        let owner = net.add_node("owner").await?;
        let store: Arc<dyn GatewayStore> =
            Arc::new(SqliteStore::open(&dir.path().join("gateway.sqlite3"))?);
        let master: [u8; 32] = rand::random();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let url = format!("http://{}", listener.local_addr()?);
        let gateway =
            GatewayBuilder::new(store.clone(), owner, Arc::new(PoolKey::generate()), master)
                .rates(Arc::new(FixedRates::new([("EUR".to_owned(), 60_000.0)])))
                .public_url(url.clone())
                .build();
        let router = app(AppState::with_gateway(gateway, ADMIN_TOKEN));
        let server = tokio::spawn(async move { axum::serve(listener, router).await });
        let mut rig = Rig { dir, net, store, url, server, master, terminals: Vec::new() };
        for _ in 0..wallets {
            let terminal = rig.enroll_terminal().await?;
            rig.terminals.push(terminal);
        }
        Ok(rig)
    }

    /// Enrols a new terminal with the gateway and formats its flash.
    async fn enroll_terminal(&self) -> Result<DeputyTerminal<MemFlash>> {
        let device = DeviceId(rand::random());
        self.store.insert_device(device, "Bench terminal", &[], 1_700_000_000).await?;
        let keys = TerminalKeys::derive(&self.master, device);
        Ok(DeputyTerminal::open(
            keys,
            self.url.clone(),
            MemFlash::from_bytes(vec![0xFF; FLASH_LEN]),
        )?)
    }

    async fn stop(self) {
        self.server.abort();
        self.net.shutdown().await;
    }
}

/// The admin token of the bench's gateway (loopback only, for the provisioning requests).
const ADMIN_TOKEN: &str = "bench";

/// Runs the benchmark: `wallets` concurrent wallets, `sales` round trips each.
pub(crate) async fn run(wallets: usize, sales: usize) -> Result<DeputyFigures> {
    let mut rig = Rig::start(wallets).await?;
    let client = reqwest::Client::builder().pool_max_idle_per_host(wallets).build()?;
    // Warm-up: one round trip per wallet, not measured.
    let mut warm = Vec::new();
    for terminal in rig.terminals.iter_mut() {
        let shown = terminal.new_sale(100, Currency::SAT)?;
        warm.push(client.get(&shown.url).send());
    }
    for request in warm {
        request.await?.error_for_status()?;
    }

    let started = Instant::now();
    let tasks: Vec<_> = std::mem::take(&mut rig.terminals)
        .into_iter()
        .map(|t| tokio::spawn(wallet(client.clone(), t, sales)))
        .collect();
    let mut samples = Vec::with_capacity(wallets * sales);
    for task in tasks {
        samples.extend(task.await??);
    }
    let wall = started.elapsed();
    rig.stop().await;
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

/// `--deputy --serve-for-load DIR`: the same gateway, for an outside load generator (`wrk`,
/// `scripts/bench-vs-lnbits.sh`). Writes `DIR/sales-<i>.txt` (wallet `i`'s sale URLs, path and
/// query, one per line, in the order its terminal made them: counters must grow) and
/// `DIR/target.env` (the base URL, the admin token, a device to provision pools for), prints
/// `ready`, and serves until it is killed.
pub(crate) async fn serve_for_load(wallets: usize, sales: usize, out: &Path) -> Result<()> {
    let mut rig = Rig::start(0).await?;
    std::fs::create_dir_all(out).with_context(|| format!("creating {}", out.display()))?;
    for i in 0..wallets {
        let mut lines = String::new();
        let mut terminal = rig.enroll_terminal().await?;
        for _ in 0..sales {
            // A terminal's flash holds CAPACITY sales: the wallet moves on to a fresh terminal.
            let shown = match terminal.new_sale(420, Currency::parse("EUR")?) {
                Err(DeputyTerminalError::Full) => {
                    terminal = rig.enroll_terminal().await?;
                    terminal.new_sale(420, Currency::parse("EUR")?)?
                }
                other => other?,
            };
            let path = shown.url.strip_prefix(&rig.url).context("a sale URL on another host")?;
            lines.push_str(path);
            lines.push('\n');
        }
        let file = out.join(format!("sales-{i}.txt"));
        std::fs::write(&file, lines).with_context(|| format!("writing {}", file.display()))?;
    }
    let vending = DeviceId(rand::random());
    let product =
        ProductRecord { id: 1, description: "Bench product".into(), price: Price::Msat(1_000_000) };
    rig.store.insert_device(vending, "Bench vending machine", &[product], 1_700_000_000).await?;
    let env = format!(
        "BASE_URL={}\nADMIN_TOKEN={ADMIN_TOKEN}\nPROVISION_PATH=/v1/devices/{vending}/pools\n\
         DATA_DIR={}\n",
        rig.url,
        rig.dir.path().display()
    );
    std::fs::write(out.join("target.env"), env).context("writing target.env")?;
    println!("ready {}", rig.url);
    // Serve until killed (the script sends SIGTERM); the temporary directory goes with it.
    let served = (&mut rig.server).await;
    rig.stop().await;
    served?.context("serving")
}
