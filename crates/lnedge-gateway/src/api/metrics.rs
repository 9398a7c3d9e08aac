//! Prometheus metrics of the API (one registry per [`Metrics`], so tests do not share counters).

use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::middleware::Next;
use axum::response::Response;
use prometheus::{
    Encoder, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, Opts, Registry, TextEncoder,
};

use super::AppState;

/// The gateway's metrics.
#[derive(Clone)]
pub struct Metrics {
    registry: Registry,
    /// HTTP requests by method, route template and status.
    pub http_requests: IntCounterVec,
    /// HTTP request durations by method and route template.
    pub http_duration: HistogramVec,
    /// Sync uploads by outcome (`applied`, `replayed`, `unauthorized`, `rejected`).
    pub syncs: IntCounterVec,
    /// Ledger entries moved by syncs, by kind (`applied`, `unchanged`, `ignored_regression`).
    pub sync_entries: IntCounterVec,
    /// Pool entries provisioned.
    pub provisioned_entries: IntCounter,
}

impl std::fmt::Debug for Metrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Metrics")
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Fresh metrics in their own registry.
    pub fn new() -> Self {
        let registry = Registry::new();
        let http_requests = IntCounterVec::new(
            Opts::new(
                "lnedge_gateway_http_requests_total",
                "HTTP requests by method, route and status",
            ),
            &["method", "route", "status"],
        )
        .expect("valid metric");
        let http_duration = HistogramVec::new(
            HistogramOpts::new(
                "lnedge_gateway_http_request_duration_seconds",
                "HTTP request durations",
            ),
            &["method", "route"],
        )
        .expect("valid metric");
        let syncs = IntCounterVec::new(
            Opts::new("lnedge_gateway_syncs_total", "Device sync uploads by outcome"),
            &["outcome"],
        )
        .expect("valid metric");
        let sync_entries = IntCounterVec::new(
            Opts::new("lnedge_gateway_sync_entries_total", "Ledger reports processed by syncs"),
            &["kind"],
        )
        .expect("valid metric");
        // No device label: /metrics is open, and device ids are not for anyone to list.
        let provisioned_entries = IntCounter::new(
            "lnedge_gateway_provisioned_entries_total",
            "Pool entries provisioned (all devices)",
        )
        .expect("valid metric");
        for c in [&http_requests, &syncs, &sync_entries] {
            registry.register(Box::new(c.clone())).expect("unique metric");
        }
        registry.register(Box::new(provisioned_entries.clone())).expect("unique metric");
        registry.register(Box::new(http_duration.clone())).expect("unique metric");
        Metrics { registry, http_requests, http_duration, syncs, sync_entries, provisioned_entries }
    }

    /// Every metric in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut out = Vec::new();
        TextEncoder::new()
            .encode(&self.registry.gather(), &mut out)
            .expect("text encoding cannot fail");
        String::from_utf8(out).expect("the text format is UTF-8")
    }
}

/// Middleware counting every request by its route template (never the raw path, so ids do not
/// explode the label space).
pub(crate) async fn track(State(state): State<AppState>, request: Request, next: Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let start = Instant::now();
    let response = next.run(request).await;
    let m = &state.metrics;
    m.http_duration.with_label_values(&[&method, &route]).observe(start.elapsed().as_secs_f64());
    m.http_requests.with_label_values(&[&method, &route, response.status().as_str()]).inc();
    response
}
