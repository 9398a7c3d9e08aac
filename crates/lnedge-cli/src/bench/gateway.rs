//! `lnedge bench --gateway`: the gateway's API under a fleet of devices, on SQLite or PostgreSQL.
//!
//! Requests go through the gateway's real router (`lnedge_gateway::api::app`) in process: the
//! figures include routing, authentication, JSON and the database, not TCP.

use std::sync::Arc;
use std::time::Instant;

use anyhow::{ensure, Context, Result};
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::postgres::PostgresStore;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_node::sandbox::SandboxNetwork;
use lnedge_proto::ledger::EntryState;
use lnedge_proto::pool::Pool;
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::pools::ProvisionedPool;
use lnedge_wire::reports::SalesReport;
use lnedge_wire::sync::{SignedUpload, SyncReport, SyncRequest};
use lnedge_wire::SIGNATURE_HEADER;
use serde::Serialize;

use super::stats::{ms, per_sec, Summary};
use crate::http;

const TOKEN: &str = "bench-admin-token-0123456789";

/// Figures of one gateway run.
#[derive(Debug, Serialize)]
pub(crate) struct GatewayFigures {
    store: &'static str,
    /// PostgreSQL connections (absent for SQLite).
    #[serde(skip_serializing_if = "Option::is_none")]
    pg_connections: Option<usize>,
    devices: usize,
    entries_per_device: usize,
    sync_requests: usize,
    sync_p50_ms: f64,
    sync_p99_ms: f64,
    sync_requests_per_sec: f64,
    reports_ingested_per_sec: f64,
    report_rows: usize,
    report_json_ms: f64,
    report_csv_ms: f64,
}

/// Calls the gateway's API in process as its operator.
async fn admin(
    router: &axum::Router,
    method: &str,
    uri: &str,
    body: String,
) -> Result<(u16, Vec<u8>)> {
    let bearer = format!("Bearer {TOKEN}");
    http::call(router, method, uri, &[("authorization", &bearer)], body).await
}

/// Runs the gateway benchmark with `devices` concurrent devices.
/// `pg_connections`: the PostgreSQL pool's size (with `database_url`).
pub(crate) async fn run(
    database_url: Option<&str>,
    pg_connections: usize,
    devices: usize,
) -> Result<GatewayFigures> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn GatewayStore> = match database_url {
        Some(url) => Arc::new(
            PostgresStore::connect_with(url, pg_connections)
                .await
                .context("connecting to PostgreSQL")?,
        ),
        None => Arc::new(SqliteStore::open(&dir.path().join("bench.sqlite3"))?),
    };
    let net = SandboxNetwork::new().await?;
    let owner = net.add_node("owner").await?;
    let master: [u8; 32] = rand::random();
    let router =
        app(AppState::new(store.clone(), owner, Arc::new(PoolKey::generate()), master, TOKEN));

    // The fleet: each device with two products and a pool of 2 × 10 invoices.
    let mut fleet = Vec::with_capacity(devices);
    for _ in 0..devices {
        let device = DeviceId(rand::random());
        let enrol = serde_json::json!({
            "device_id": device.to_string(), "name": "bench",
            "products": [{"id": 1, "description": "a", "price_msat": 1000}, {"id": 2, "description": "b", "price_msat": 2000}],
        });
        let (status, body) = admin(&router, "POST", "/v1/devices", enrol.to_string()).await?;
        ensure!(status == 201, "enrol: {}", String::from_utf8_lossy(&body));
        let ask = r#"{"entries_per_product": 10, "expiry_days": 30}"#.to_owned();
        let (status, body) =
            admin(&router, "POST", &format!("/v1/devices/{device}/pools"), ask).await?;
        ensure!(status == 201, "provision: {}", String::from_utf8_lossy(&body));
        let reply: ProvisionedPool = serde_json::from_slice(&body).context("provision")?;
        let (_, bytes) = admin(&router, "GET", &reply.file, String::new()).await?;
        let pool = Pool::parse(&bytes)?;
        fleet.push((device, pool.pool_id(), pool.len() as u32));
    }
    let entries_per_device = fleet.first().map_or(0, |f| f.2 as usize);

    // Every device syncs five times, concurrently: its ledger moves forward each round.
    let rounds: [EntryState; 5] = [
        EntryState::Offered,
        EntryState::Claimed,
        EntryState::Dispensed,
        EntryState::Dispensed,
        EntryState::Dispensed,
    ];
    let started = Instant::now();
    let mut tasks = Vec::new();
    for (device, pool_id, entries) in fleet.clone() {
        let router = router.clone();
        tasks.push(tokio::spawn(async move {
            let key = device_sync_key(&master, &device);
            let mut latencies = Vec::new();
            for (round, state) in rounds.iter().enumerate() {
                let reports =
                    (0..entries).map(|index| SyncReport { pool_id, index, state: *state });
                let SignedUpload { body, signature } =
                    SyncRequest::new(round as u64 + 1, reports).signed(&key);
                let uri = format!("/v1/devices/{device}/sync");
                let headers = [(SIGNATURE_HEADER, signature.as_str())];
                let t = Instant::now();
                let (status, reply) = http::call(&router, "POST", &uri, &headers, body).await?;
                latencies.push(t.elapsed());
                ensure!(status == 200, "sync: {status} {}", String::from_utf8_lossy(&reply));
            }
            anyhow::Ok(latencies)
        }));
    }
    let mut latencies = Vec::new();
    for task in tasks {
        latencies.extend(task.await??);
    }
    let wall = started.elapsed();
    let sync = Summary::of(&mut latencies);
    let sync_requests = sync.count;

    // The books: every entry is now claimed-not-paid (no payments in this run), one row each.
    let t = Instant::now();
    let (status, report) = admin(&router, "GET", "/v1/reports/sales", String::new()).await?;
    let report_json = t.elapsed();
    ensure!(status == 200, "report: {status}");
    let report: SalesReport = serde_json::from_slice(&report).context("report")?;
    let report_rows = report.rows.len();
    let t = Instant::now();
    let (status, _) = admin(&router, "GET", "/v1/reports/sales.csv", String::new()).await?;
    let report_csv = t.elapsed();
    ensure!(status == 200, "csv: {status}");
    net.shutdown().await;

    Ok(GatewayFigures {
        store: store.name(),
        pg_connections: database_url.map(|_| pg_connections),
        devices,
        entries_per_device,
        sync_requests,
        sync_p50_ms: ms(sync.p50),
        sync_p99_ms: ms(sync.p99),
        sync_requests_per_sec: per_sec(sync_requests, wall, 1),
        reports_ingested_per_sec: per_sec(sync_requests * entries_per_device, wall, 0),
        report_rows,
        report_json_ms: ms(report_json),
        report_csv_ms: ms(report_csv),
    })
}
