//! `lnedge bench --report --rows N [--database-url URL]`: the sales report of N paid sales on
//! SQLite (a temporary file) or PostgreSQL, through the gateway's router: streamed as CSV (`/v1/reports/sales.csv`, read a frame
//! at a time and dropped) against built in memory (`/v1/reports/sales`, JSON with totals), with
//! the peak RSS each adds (the kernel's high-water mark, reset before each).

use std::sync::Arc;
use std::time::Instant;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::http::Request;
use http_body_util::BodyExt;
use lnedge_gateway::store::postgres::PostgresStore;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::{
    EntryRecord, GatewayStore, PaymentRecord, PoolRecord, Price, ProductRecord,
};
use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};
use serde::Serialize;
use tower::ServiceExt;

use super::stats;

/// Entries per pool of the sample.
const POOL_ENTRIES: u32 = 10_000;
/// Tasks recording the sample's payments at once (group commit batches them).
const WRITERS: usize = 64;

/// Figures of one report run.
#[derive(Debug, Serialize)]
pub(crate) struct ReportFigures {
    scenario: &'static str,
    build: &'static str,
    store: &'static str,
    rows: usize,
    fill_secs: f64,
    rss_before_mib: f64,
    csv_streamed_secs: f64,
    csv_bytes: u64,
    csv_peak_rss_added_mib: f64,
    json_in_memory_secs: f64,
    json_bytes: u64,
    json_peak_rss_added_mib: f64,
}

/// A pool of `n` unused entries of product 1 for `device`, with random payment hashes.
fn pool(device: DeviceId, created_at: u64, n: u32) -> (PoolRecord, Vec<EntryRecord>) {
    let id = PoolId(rand::random());
    let pool = PoolRecord {
        id,
        device_id: device,
        created_at,
        expires_at: created_at + 30 * 24 * 3600,
        bytes: vec![0; 64],
    };
    let entries = (0..n)
        .map(|index| EntryRecord {
            pool_id: id,
            index,
            product: 1,
            seq: index,
            payment_hash: rand::random(),
            amount_msat: 150_000,
            state: EntryState::Unused,
        })
        .collect();
    (pool, entries)
}

/// A field of /proc/self/status in MiB (`VmRSS`, `VmHWM`).
fn status_mib(field: &str) -> Result<f64> {
    let status =
        std::fs::read_to_string("/proc/self/status").context("reading /proc/self/status")?;
    let kib: f64 = status
        .lines()
        .find_map(|l| l.strip_prefix(field)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .with_context(|| format!("no {field} in /proc/self/status"))?;
    Ok(kib / 1024.0)
}

/// Resets the RSS high-water mark to the current RSS (Linux `clear_refs`, value 5).
fn reset_peak() -> Result<()> {
    std::fs::write("/proc/self/clear_refs", "5").context("resetting the RSS high-water mark")
}

/// GETs `uri` and reads the body a frame at a time, keeping only its length.
async fn drain(router: &axum::Router, uri: &str) -> Result<u64> {
    let request = Request::get(uri).header("authorization", "Bearer bench").body(Body::empty())?;
    let response = router.clone().oneshot(request).await?;
    anyhow::ensure!(response.status().is_success(), "{uri}: {}", response.status());
    let mut body = response.into_body();
    let mut bytes = 0u64;
    while let Some(frame) = body.frame().await {
        if let Ok(data) = frame.context(uri.to_owned())?.into_data() {
            bytes += data.len() as u64;
        }
    }
    Ok(bytes)
}

/// Runs the benchmark with `rows` paid sales.
/// With `database_url`, on PostgreSQL (a fresh database is best: the report reads it all).
pub(crate) async fn run(database_url: Option<&str>, rows: usize) -> Result<ReportFigures> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn GatewayStore> = match database_url {
        Some(url) => {
            Arc::new(PostgresStore::connect(url).await.context("connecting to PostgreSQL")?)
        }
        None => Arc::new(SqliteStore::open(&dir.path().join("report.sqlite3"))?),
    };
    let filling = Instant::now();
    let device = DeviceId(rand::random());
    let coffee = ProductRecord { id: 1, description: "Coffee".into(), price: Price::Msat(150_000) };
    store.insert_device(device, "Bench vending machine", &[coffee], 1_700_000_000).await?;
    let mut hashes = Vec::with_capacity(rows);
    let mut created_at = 1_700_000_000;
    while hashes.len() < rows {
        let n = POOL_ENTRIES.min(u32::try_from(rows - hashes.len())?);
        let (pool, entries) = pool(device, created_at, n);
        store.insert_pool(&pool, &entries).await?;
        hashes.extend(entries.iter().map(|e| (e.payment_hash, e.amount_msat)));
        created_at += 1;
    }
    let hashes = Arc::new(hashes);
    let tasks: Vec<_> = (0..WRITERS)
        .map(|w| {
            let (store, hashes) = (store.clone(), hashes.clone());
            tokio::spawn(async move {
                for (i, (hash, amount_msat)) in hashes.iter().enumerate().skip(w).step_by(WRITERS) {
                    let payment = PaymentRecord {
                        payment_hash: *hash,
                        amount_msat: *amount_msat,
                        paid_at: 1_700_000_000 + i as u64,
                        quote: None,
                    };
                    store.record_payment(&payment).await?;
                }
                anyhow::Ok(())
            })
        })
        .collect();
    for task in tasks {
        task.await??;
    }
    drop(hashes);
    let fill_secs = filling.elapsed().as_secs_f64();

    let (net, router) = super::sandbox_router(store.clone()).await?;
    let rss_before_mib = status_mib("VmRSS")?;

    reset_peak()?;
    let started = Instant::now();
    let csv_bytes = drain(&router, "/v1/reports/sales.csv").await?;
    let csv_streamed_secs = started.elapsed().as_secs_f64();
    let csv_peak_rss_added_mib = status_mib("VmHWM")? - rss_before_mib;

    reset_peak()?;
    let rss_before_json = status_mib("VmRSS")?;
    let started = Instant::now();
    let json_bytes = drain(&router, "/v1/reports/sales").await?;
    let json_in_memory_secs = started.elapsed().as_secs_f64();
    let json_peak_rss_added_mib = status_mib("VmHWM")? - rss_before_json;
    net.shutdown().await;
    Ok(ReportFigures {
        scenario: "sales_report_csv_streamed_vs_json_in_memory",
        build: stats::build(),
        store: store.name(),
        rows,
        fill_secs,
        rss_before_mib,
        csv_streamed_secs,
        csv_bytes,
        csv_peak_rss_added_mib,
        json_in_memory_secs,
        json_bytes,
        json_peak_rss_added_mib,
    })
}
