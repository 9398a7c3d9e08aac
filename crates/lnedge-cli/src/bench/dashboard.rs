//! `lnedge bench --dashboard [--fleet N] [--sales N] [--page-loads N] [--database-url URL]`: the server time of
//! each dashboard page with a fleet of N devices and N paid sales in the books (seeded with
//! `lnedge_gateway::sample`), through the gateway's real router in process: the time from the
//! request to the last byte of the page, per page, p50 / p99 over `--page-loads` loads after
//! three warm-up loads.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use axum::body::Body;
use axum::http::{header, Request, StatusCode};
use http_body_util::BodyExt;
use lnedge_gateway::operators::{add_operator, Role};
use lnedge_gateway::store::postgres::PostgresStore;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use serde::Serialize;
use tower::ServiceExt;

use super::stats::{self, Summary};

/// Figures of one page.
#[derive(Debug, Serialize)]
pub(crate) struct PageFigures {
    page: &'static str,
    path: String,
    bytes: usize,
    p50_ms: f64,
    p99_ms: f64,
    max_ms: f64,
}

/// Figures of the dashboard bench.
#[derive(Debug, Serialize)]
pub(crate) struct DashboardFigures {
    scenario: &'static str,
    build: &'static str,
    store: &'static str,
    devices: usize,
    sales: usize,
    fill_secs: f64,
    /// The first load of the overview: it reads the books into the snapshot every page uses
    /// (later reads find it, and refresh it in the background every 5 s).
    cold_overview_ms: f64,
    loads_per_page: usize,
    pages: Vec<PageFigures>,
}

async fn load(router: &axum::Router, path: &str, cookie: &str) -> Result<(Duration, usize)> {
    let request = Request::builder().uri(path).header(header::COOKIE, cookie).body(Body::empty())?;
    let started = Instant::now();
    let response = router.clone().oneshot(request).await?;
    let status = response.status();
    let body = response.into_body().collect().await?.to_bytes();
    let took = started.elapsed();
    if status != StatusCode::OK {
        bail!("{path}: {status}: {}", String::from_utf8_lossy(&body));
    }
    Ok((took, body.len()))
}

/// Runs the bench.
pub(crate) async fn run(
    database_url: Option<&str>,
    devices: usize,
    sales: usize,
    loads: usize,
) -> Result<DashboardFigures> {
    let dir = tempfile::tempdir()?;
    let store: Arc<dyn GatewayStore> = match database_url {
        Some(url) => {
            Arc::new(PostgresStore::connect(url).await.context("connecting to PostgreSQL")?)
        }
        None => Arc::new(SqliteStore::open(&dir.path().join("dashboard.sqlite3"))?),
    };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH)?.as_secs();
    let filling = Instant::now();
    let ids = lnedge_gateway::sample::fleet(store.clone(), devices, sales, 30, now, 64).await?;
    let fill_secs = filling.elapsed().as_secs_f64();
    let name = format!("bench-{}", hex::encode(rand::random::<[u8; 4]>()));
    add_operator(store.as_ref(), now, &name, Role::Admin, Some("bench password 123"), "bench")
        .await?;

    let (net, router) = super::sandbox_router(store.clone()).await?;
    let form = format!("name={name}&password=bench+password+123");
    let login = Request::builder()
        .method("POST")
        .uri("/ui/login")
        .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
        .body(Body::from(form))?;
    let answer = router.clone().oneshot(login).await?;
    let cookie = answer
        .headers()
        .get(header::SET_COOKIE)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(';').next())
        .context("no session cookie after the bench's login")?
        .to_owned();

    let (cold, _) = load(&router, "/ui/", &cookie).await?;
    let device = ids.first().map(ToString::to_string).unwrap_or_default();
    let pages: Vec<(&'static str, String)> = vec![
        ("overview", "/ui/".into()),
        ("devices", "/ui/devices".into()),
        ("device", format!("/ui/devices/{device}")),
        ("sales", "/ui/sales".into()),
        ("sales_filtered", format!("/ui/sales?device={device}&status=delivered")),
        ("sales_page_500", "/ui/sales?page=500".into()),
        ("sales_csv_one_device", format!("/ui/sales.csv?device={device}")),
        ("audit", "/ui/audit".into()),
    ];
    let mut figures = Vec::new();
    for (page, path) in pages {
        let mut samples = Vec::with_capacity(loads);
        let mut bytes = 0;
        for i in 0..loads + 3 {
            let (took, size) = load(&router, &path, &cookie).await?;
            bytes = size;
            if i >= 3 {
                samples.push(took);
            }
        }
        let s = Summary::of(&mut samples);
        figures.push(PageFigures {
            page,
            path,
            bytes,
            p50_ms: stats::ms(s.p50),
            p99_ms: stats::ms(s.p99),
            max_ms: stats::ms(s.max),
        });
    }
    net.shutdown().await;
    Ok(DashboardFigures {
        scenario: "dashboard_page_server_time",
        build: stats::build(),
        store: store.name(),
        devices,
        sales,
        fill_secs,
        cold_overview_ms: stats::ms(cold),
        loads_per_page: loads,
        pages: figures,
    })
}
