//! `lnedge bench --hostile`: honest devices syncing over real loopback TCP while an attacker
//! holds idle connections and drips slowloris headers (issue #12's load test).
//!
//! The same run measures two servers in turn on the same gateway: the gateway's own listener
//! (`service::listener`, with its default `[server]` limits) and, as the peer, `axum::serve`
//! (no timeouts, no caps: what the gateway used before). Attackers come from a few loopback
//! addresses (127.0.1.x idle, 127.0.2.x slowloris; one hostile host has one or a few
//! addresses), each honest device from its own (127.0.3.x). An attacker whose connection is
//! closed opens another at once.

use std::net::{IpAddr, SocketAddr};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{ensure, Context, Result};
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::service::listener::serve_http;
use lnedge_gateway::service::ServerLimits;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_proto::ledger::EntryState;
use lnedge_proto::pool::Pool;
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::pools::ProvisionedPool;
use lnedge_wire::sync::{SignedUpload, SyncReport, SyncRequest};
use lnedge_wire::SIGNATURE_HEADER;
use serde::Serialize;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpSocket, TcpStream};

use super::stats::{ms, Summary};
use crate::http;

const TOKEN: &str = "bench-admin-token-0123456789";
/// Loopback addresses the attacker uses for each kind of attack.
const ATTACK_ADDRESSES: u8 = 4;
/// How long an honest request may take before it counts as an error.
const REQUEST_TIMEOUT: Duration = Duration::from_secs(10);

/// The figures of one server under the attack.
#[derive(Debug, Serialize)]
pub(crate) struct ServerFigures {
    server: &'static str,
    honest_syncs: usize,
    honest_errors: usize,
    honest_p50_ms: f64,
    honest_p99_ms: f64,
    honest_max_ms: f64,
    attack_connections_opened: usize,
}

/// Figures of a run: the setup and each server.
#[derive(Debug, Serialize)]
pub(crate) struct HostileFigures {
    idle_connections: usize,
    slowloris_clients: usize,
    honest_clients: usize,
    syncs_per_client: usize,
    limits: String,
    servers: Vec<ServerFigures>,
}

/// A device of the honest fleet: id, sync key, its pool's id and entry count.
type Device = (DeviceId, [u8; 32], lnedge_proto::PoolId, u32);

/// Runs the bench: `idle` idle connections and `slowloris` slowloris clients against each server
/// while `honest` devices each sync `syncs` times.
pub(crate) async fn run(
    idle: usize,
    slowloris: usize,
    honest: usize,
    syncs: usize,
) -> Result<HostileFigures> {
    let limits = ServerLimits::default();
    let mut servers = Vec::new();
    for server in ["lnedge listener", "axum::serve (peer, no limits)"] {
        servers.push(measure(server, &limits, idle, slowloris, honest, syncs).await?);
    }
    Ok(HostileFigures {
        idle_connections: idle,
        slowloris_clients: slowloris,
        honest_clients: honest,
        syncs_per_client: syncs,
        limits: format!("{limits:?}"),
        servers,
    })
}

async fn measure(
    server: &'static str,
    limits: &ServerLimits,
    idle: usize,
    slowloris: usize,
    honest: usize,
    syncs: usize,
) -> Result<ServerFigures> {
    let dir = tempfile::tempdir()?;
    let store = Arc::new(SqliteStore::open(&dir.path().join("bench.sqlite3"))?);
    let net = SandboxNetwork::new().await?;
    let owner = net.add_node("owner").await?;
    let master: [u8; 32] = rand::random();
    let router = app(AppState::new(store, owner, Arc::new(PoolKey::generate()), master, TOKEN));
    let fleet = enrol(&router, master, honest).await?;

    let listener = TcpListener::bind("127.0.0.1:0").await?;
    let addr = listener.local_addr()?;
    let (stop_server, stopped) = tokio::sync::oneshot::channel::<()>();
    let stopped = async move {
        let _ = stopped.await;
    };
    let served = if server.starts_with("lnedge") {
        tokio::spawn(serve_http(listener, router, limits.clone(), stopped))
    } else {
        let service = router.into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move {
            let _ = axum::serve(listener, service).with_graceful_shutdown(stopped).await;
        })
    };

    // The attack starts first and runs until the honest fleet is done.
    let attacking = Arc::new(AtomicBool::new(true));
    let opened = Arc::new(AtomicUsize::new(0));
    let mut attack = Vec::new();
    for i in 0..idle {
        let host = IpAddr::from([127, 0, 1, 1 + (i % ATTACK_ADDRESSES as usize) as u8]);
        attack.push(tokio::spawn(hold_idle(addr, host, attacking.clone(), opened.clone())));
    }
    for i in 0..slowloris {
        let host = IpAddr::from([127, 0, 2, 1 + (i % ATTACK_ADDRESSES as usize) as u8]);
        attack.push(tokio::spawn(drip(addr, host, attacking.clone(), opened.clone())));
    }
    let settle = Instant::now();
    while opened.load(Ordering::Relaxed) < idle + slowloris
        && settle.elapsed() < Duration::from_secs(30)
    {
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    let mut tasks = Vec::new();
    for (i, device) in fleet.into_iter().enumerate() {
        let host = IpAddr::from([127, 0, 3, 1 + (i % 250) as u8]);
        tasks.push(tokio::spawn(sync_device(addr, host, device, syncs)));
    }
    let (mut latencies, mut errors) = (Vec::new(), 0);
    for task in tasks {
        let (ok, failed) = task.await??;
        latencies.extend(ok);
        errors += failed;
    }
    attacking.store(false, Ordering::Relaxed);
    for task in attack {
        task.abort();
    }
    let _ = stop_server.send(());
    // The peer never finishes a graceful stop while slow connections are open: cut it.
    if tokio::time::timeout(Duration::from_secs(15), served).await.is_err() {
        eprintln!("{server}: did not stop within 15 s of the signal");
    }
    let s = Summary::of(&mut latencies);
    Ok(ServerFigures {
        server,
        honest_syncs: s.count,
        honest_errors: errors,
        honest_p50_ms: ms(s.p50),
        honest_p99_ms: ms(s.p99),
        honest_max_ms: ms(s.max),
        attack_connections_opened: opened.load(Ordering::Relaxed),
    })
}

/// Enrols `n` devices with one pool each (through the router, in process).
async fn enrol(router: &axum::Router, master: [u8; 32], n: usize) -> Result<Vec<Device>> {
    let bearer = format!("Bearer {TOKEN}");
    let admin = [("authorization", bearer.as_str())];
    let mut fleet = Vec::with_capacity(n);
    for _ in 0..n {
        let device = DeviceId(rand::random());
        let enrol = serde_json::json!({ "device_id": device.to_string(), "name": "bench",
            "products": [{"id": 1, "description": "a", "price_msat": 1000}] });
        let (status, body) =
            http::call(router, "POST", "/v1/devices", &admin, enrol.to_string()).await?;
        ensure!(status == 201, "enrol: {}", String::from_utf8_lossy(&body));
        let ask = r#"{"entries_per_product": 10, "expiry_days": 30}"#;
        let uri = format!("/v1/devices/{device}/pools");
        let (status, body) = http::call(router, "POST", &uri, &admin, ask).await?;
        ensure!(status == 201, "provision: {}", String::from_utf8_lossy(&body));
        let reply: ProvisionedPool = serde_json::from_slice(&body).context("provision")?;
        let (_, bytes) = http::call(router, "GET", &reply.file, &admin, "").await?;
        let pool = Pool::parse(&bytes)?;
        fleet.push((device, device_sync_key(&master, &device), pool.pool_id(), pool.len() as u32));
    }
    Ok(fleet)
}

/// One honest device: `syncs` signed uploads over one keep-alive client from `host`; answers
/// the latencies of the successful ones and the count of failures.
async fn sync_device(
    addr: SocketAddr,
    host: IpAddr,
    (device, key, pool_id, entries): Device,
    syncs: usize,
) -> Result<(Vec<Duration>, usize)> {
    let client = reqwest::Client::builder().local_address(host).timeout(REQUEST_TIMEOUT).build()?;
    let (mut latencies, mut errors) = (Vec::new(), 0);
    let states = [EntryState::Offered, EntryState::Claimed, EntryState::Dispensed];
    for round in 0..syncs {
        let state = states[round.min(states.len() - 1)];
        let reports = (0..entries).map(|index| SyncReport { pool_id, index, state });
        let SignedUpload { body, signature } =
            SyncRequest::new(round as u64 + 1, reports).signed(&key);
        let started = Instant::now();
        let answer = client
            .post(format!("http://{addr}/v1/devices/{device}/sync"))
            .header(SIGNATURE_HEADER, signature)
            .header("content-type", "application/json")
            .body(body)
            .send()
            .await;
        match answer {
            Ok(r) if r.status().is_success() => latencies.push(started.elapsed()),
            _ => errors += 1,
        }
    }
    Ok((latencies, errors))
}

async fn connect(addr: SocketAddr, host: IpAddr) -> Option<TcpStream> {
    let socket = TcpSocket::new_v4().ok()?;
    socket.bind(SocketAddr::new(host, 0)).ok()?;
    socket.connect(addr).await.ok()
}

/// Holds a connection that sends nothing; opens another when the server closes it.
async fn hold_idle(addr: SocketAddr, host: IpAddr, on: Arc<AtomicBool>, opened: Arc<AtomicUsize>) {
    while on.load(Ordering::Relaxed) {
        let Some(mut stream) = connect(addr, host).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        opened.fetch_add(1, Ordering::Relaxed);
        let mut buf = [0u8; 512];
        // Returns when the server closes (or answers, for a refused connection).
        while let Ok(n) = tokio::io::AsyncReadExt::read(&mut stream, &mut buf).await {
            if n == 0 {
                break;
            }
        }
    }
}

/// Sends a request's headers a line a second, for ever; reconnects when closed.
async fn drip(addr: SocketAddr, host: IpAddr, on: Arc<AtomicBool>, opened: Arc<AtomicUsize>) {
    while on.load(Ordering::Relaxed) {
        let Some(mut stream) = connect(addr, host).await else {
            tokio::time::sleep(Duration::from_millis(100)).await;
            continue;
        };
        opened.fetch_add(1, Ordering::Relaxed);
        if stream.write_all(b"POST /v1/devices/x/sync HTTP/1.1\r\n").await.is_err() {
            continue;
        }
        loop {
            tokio::time::sleep(Duration::from_secs(1)).await;
            if stream.write_all(b"x-slow: 1\r\n").await.is_err() {
                break;
            }
        }
    }
}
