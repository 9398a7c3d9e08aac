//! The pages that read: overview, devices, a device, a provisioning job, sales (and their CSV),
//! the audit log.

use std::collections::BTreeMap;

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use lnedge_proto::ledger::EntryState;
use minijinja::context;
use serde::Serialize;

use super::chart::{bars_by_day, Bar};
use super::filter::{SalesQuery, KINDS, SALES_PAGE_ROWS, STATUSES};
use super::render::{api_error_page, day, error_page, message_page, sats, when, Page};
use super::session::Operator;
use crate::api::devices::{parse_device_id, parse_pool_id};
use crate::api::AppState;
use crate::reconcile::{SaleRow, SaleStatus};
use crate::store::{DeviceRecord, Price};

/// Seconds in a day.
const DAY: u64 = 86_400;

/// Days without a sync after which the overview names a device.
const STALE_SYNC_DAYS: u64 = 3;

/// Most items of one kind the overview lists among its alerts (it says how many more).
const ALERT_ROWS: usize = 10;

/// Days of sales the overview's and a device page's charts show.
const CHART_DAYS: u64 = 14;

/// Whether a row is money in (a sale, not a card or token spending).
fn money_in(row: &SaleRow) -> bool {
    matches!(row.origin.kind(), "pool" | "deputy") && row.paid_at.is_some()
}

/// Sum of the money-in rows paid in `[from, until)`: (msat, rows, fiat by currency).
fn takings(rows: &[SaleRow], from: u64, until: u64) -> (u64, usize, BTreeMap<String, f64>) {
    let mut fiat = BTreeMap::new();
    let (mut msat, mut count) = (0u64, 0usize);
    for r in rows.iter().filter(|r| money_in(r)) {
        let at = r.paid_at.unwrap_or(0);
        if at >= from && at < until {
            msat = msat.saturating_add(r.amount_msat);
            count += 1;
            if let Some((currency, amount)) = r.fiat_amount() {
                *fiat.entry(currency).or_insert(0.0) += amount;
            }
        }
    }
    (msat, count, fiat)
}

fn fiat_text(fiat: &BTreeMap<String, f64>) -> String {
    fiat.iter().map(|(c, a)| format!("{a:.2} {c}")).collect::<Vec<_>>().join(" · ")
}

/// Paid sales of `rows` by day over the [`CHART_DAYS`] days up to the day starting at `today`.
fn recent_chart<'a>(rows: impl Iterator<Item = &'a SaleRow>, today: u64) -> Vec<Bar> {
    bars_by_day(
        rows.filter(|r| money_in(r)).map(|r| (r.paid_at.unwrap_or(0), r.amount_msat)),
        today + DAY - CHART_DAYS * DAY,
        CHART_DAYS,
    )
}

/// `/ui/`: takings today and this week, what needs the operator, the node.
pub(crate) async fn overview(State(state): State<AppState>, Operator(me): Operator) -> Response {
    let g = &state.gateway;
    let books = match g.books().await {
        Ok(books) => books,
        Err(e) => return api_error_page(Some(&me), e),
    };
    let rows = books.rows.as_slice();
    let now = g.now_secs();
    let today = now - now % DAY;
    let (today_msat, today_n, today_fiat) = takings(rows, today, today + DAY);
    let (week_msat, week_n, week_fiat) = takings(rows, today - 6 * DAY, today + DAY);
    let count = |s: SaleStatus| rows.iter().filter(|r| r.status == s).count();
    let expiring = &books.expiring;
    let devices = match g.fleet().devices().await {
        Ok(d) => d,
        Err(e) => return api_error_page(Some(&me), e),
    };
    // Enabled devices that never synced, or not for STALE_SYNC_DAYS.
    let stale_before = now.saturating_sub(STALE_SYNC_DAYS * DAY);
    let never_synced: Vec<_> = devices
        .iter()
        .filter(|d| d.enabled && d.last_sync_at.is_none_or(|at| at < stale_before))
        .collect();
    let never_synced_shown: Vec<_> = never_synced
        .iter()
        .take(ALERT_ROWS)
        .map(|d| {
            context! { id => d.id.to_string(), name => d.name,
            last => d.last_sync_at.map(when) }
        })
        .collect();
    // Payments held for offline payees: how many, and the soonest claim deadline (a block).
    let held: Vec<_> = match g.relay().payments().await {
        Ok(p) => {
            p.into_iter().filter(|p| p.state == crate::store::relay::RelayState::Held).collect()
        }
        Err(e) => {
            tracing::warn!(error = %e, "overview: reading the relay's payments");
            Vec::new()
        }
    };
    let held_view = context! {
        count => held.len(),
        sats => sats(held.iter().map(|p| p.amount_msat).sum()),
        soonest => held.iter().filter_map(|p| p.claim_deadline_height).min(),
    };
    let liquidity = match g.owner().liquidity().await {
        Ok(l) => Some(context! {
            channels => l.channels, usable => l.usable_channels,
            outbound => sats(l.outbound_msat), inbound => sats(l.inbound_msat),
            onchain => l.onchain_sat.map(|s| sats(s.saturating_mul(1_000))),
        }),
        Err(lnedge_node::BackendError::Unsupported { .. }) => None,
        Err(e) => {
            tracing::warn!(error = %e, "overview: the node's liquidity");
            None
        }
    };
    let node = match g.owner().info().await {
        Ok(i) => context! { up => true, alias => i.alias, node_id => i.node_id.to_string(),
        network => i.network.to_string(), height => i.block_height, liquidity => liquidity },
        Err(e) => context! { up => false, error => e.to_string() },
    };
    let chart = recent_chart(rows.iter(), today);
    Page::new(
        "overview.html",
        Some(&me),
        context! {
            title => "Overview",
            today => context! { sats => sats(today_msat), count => today_n, fiat => fiat_text(&today_fiat) },
            week => context! { sats => sats(week_msat), count => week_n, fiat => fiat_text(&week_fiat) },
            refunds_due => count(SaleStatus::RefundDue),
            claimed_not_paid => count(SaleStatus::ClaimedNotPaid),
            outcome_unknown => count(SaleStatus::OutcomeUnknown),
            expiring_count => expiring.len(),
            expiring => expiring.iter().take(ALERT_ROWS).map(|p| context! {
                device => p.device_id.to_string(), pool => p.pool_id.to_string(),
                expires => when(p.expires_at), unused => p.unused_entries,
                expired => p.expires_in_secs <= 0,
            }).collect::<Vec<_>>(),
            never_synced_count => never_synced.len(),
            stale_days => STALE_SYNC_DAYS,
            never_synced => never_synced_shown,
            held => held_view,
            devices => devices.len(),
            node => node,
            chart => chart,
            as_of => when(books.taken_at),
        },
    )
    .into_response()
}

/// A product as the pages show it.
fn product_view(p: &crate::store::ProductRecord) -> minijinja::Value {
    let price = match &p.price {
        Price::Msat(msat) => sats(*msat),
        Price::Fiat { currency, amount_minor } => {
            format!("{}.{:02} {currency}", amount_minor / 100, amount_minor % 100)
        }
    };
    context! { id => p.id, description => p.description, price => price }
}

fn device_row(d: &DeviceRecord) -> minijinja::Value {
    context! {
        id => d.id.to_string(), name => d.name, enabled => d.enabled,
        products => d.products.len(), last_sync => d.last_sync_counter,
        last_sync_at => d.last_sync_at.map(when),
        created => day(d.created_at),
    }
}

/// `product: count · …` of a device's unused entries (empty when none).
fn unused_text(unused: Option<&BTreeMap<u16, u32>>) -> String {
    unused
        .map(|by| by.iter().map(|(p, n)| format!("{p}: {n}")).collect::<Vec<_>>().join(" · "))
        .unwrap_or_default()
}

/// `/ui/devices`: every device with its unused invoices per product, and (admins) the
/// enrolment form.
pub(crate) async fn devices(State(state): State<AppState>, Operator(me): Operator) -> Response {
    let books = match state.gateway.books().await {
        Ok(b) => b,
        Err(e) => return api_error_page(Some(&me), e),
    };
    match state.gateway.fleet().devices().await {
        Ok(devices) => {
            let rows: Vec<_> = devices
                .iter()
                .map(|d| context! { unused => unused_text(books.unused.get(&d.id)), ..device_row(d) })
                .collect();
            Page::new(
                "devices.html",
                Some(&me),
                context! { title => "Devices", devices => rows,
                new_id => hex::encode(rand::random::<[u8; 16]>()),
                as_of => when(books.taken_at) },
            )
            .into_response()
        }
        Err(e) => api_error_page(Some(&me), e),
    }
}

/// Entry counts by state of a pool, as `[(state, count)]` in ledger order.
fn by_state(counts: &Option<(usize, Vec<(EntryState, usize)>)>) -> (usize, Vec<minijinja::Value>) {
    match counts {
        Some((total, by)) => (
            *total,
            by.iter()
                .map(|(s, n)| context! { state => format!("{s:?}").to_lowercase(), count => n })
                .collect(),
        ),
        None => (0, Vec::new()),
    }
}

/// `/ui/devices/{id}`: the device, its products, pools with their ledger counts, its sales chart.
pub(crate) async fn device(
    State(state): State<AppState>,
    Operator(me): Operator,
    Path(id): Path<String>,
) -> Response {
    let g = &state.gateway;
    let id = match parse_device_id("id", &id) {
        Ok(id) => id,
        Err(e) => return api_error_page(Some(&me), e),
    };
    let view = match g.fleet().device(id).await {
        Ok(d) => match g.fleet().view(d, true).await {
            Ok(v) => v,
            Err(e) => return api_error_page(Some(&me), e),
        },
        Err(e) => return api_error_page(Some(&me), e),
    };
    let rows = match g.books().await {
        Ok(books) => books.rows.iter().filter(|r| r.device_id == id).cloned().collect::<Vec<_>>(),
        Err(e) => return api_error_page(Some(&me), e),
    };
    let now = g.now_secs();
    let today = now - now % DAY;
    let (all_msat, all_n, _) = takings(&rows, 0, u64::MAX);
    let pools: Vec<_> = view
        .pools
        .iter()
        .rev()
        .map(|p| {
            let (total, states) = by_state(&p.by_state);
            context! {
                id => p.pool.id.to_string(), created => when(p.pool.created_at),
                expires => when(p.pool.expires_at), bytes => p.pool.bytes.len(),
                entries => total, states => states, expired => p.pool.expires_at <= now,
            }
        })
        .collect();
    let chart = recent_chart(rows.iter(), today);
    Page::new(
        "device.html",
        Some(&me),
        context! {
            title => view.device.name.clone(),
            device => device_row(&view.device),
            products => view.device.products.iter().map(product_view).collect::<Vec<_>>(),
            pools => pools,
            sold => context! { sats => sats(all_msat), count => all_n },
            chart => chart,
        },
    )
    .into_response()
}

/// `/ui/devices/{id}/pools/{pool_id}/file`: the pool file, to copy onto the device.
pub(crate) async fn pool_file(
    State(state): State<AppState>,
    Operator(me): Operator,
    Path((id, pool_id)): Path<(String, String)>,
) -> Response {
    let ids = parse_device_id("id", &id).and_then(|d| Ok((d, parse_pool_id("pool_id", &pool_id)?)));
    let (device, pool) = match ids {
        Ok(ids) => ids,
        Err(e) => return api_error_page(Some(&me), e),
    };
    match state.gateway.pools().file(device, pool).await {
        Ok(record) => (
            [
                (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
                (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{pool}.pool\"")),
            ],
            record.bytes,
        )
            .into_response(),
        Err(e) => api_error_page(Some(&me), e),
    }
}

/// `/ui/jobs/{job_id}`: a provisioning job's progress bar; the page reloads itself every second
/// while the job runs (no JavaScript), then links the device and the pool file.
pub(crate) async fn job(
    State(state): State<AppState>,
    Operator(me): Operator,
    Path(job_id): Path<String>,
) -> Response {
    let job = match state.jobs.view(&job_id).await {
        Ok(Some(job)) => job,
        Ok(None) => {
            return message_page(
                Some(&me),
                StatusCode::NOT_FOUND,
                "no such provisioning job (finished jobs are kept for a day)",
            )
        }
        Err(e) => return api_error_page(Some(&me), e),
    };
    let percent = (job.done * 100).checked_div(job.total).unwrap_or(100);
    let status = format!("{:?}", job.status).to_lowercase();
    Page::new(
        "job.html",
        Some(&me),
        context! {
            title => "Provisioning", job_id => job.job_id, status => status,
            running => status == "running", done => job.done, total => job.total,
            percent => percent,
            pool => job.pool.as_ref().map(|p| context! {
                id => p.pool_id, device => p.device_id, entries => p.entries, bytes => p.bytes,
            }),
            error => job.error.as_ref().map(|e| e.message.clone()),
        },
    )
    .into_response()
}

/// One sales row as the table and the CSV show it.
#[derive(Serialize)]
struct SaleView {
    paid: String,
    device: String,
    kind: &'static str,
    product: String,
    status: &'static str,
    amount: String,
    fiat: String,
    hash: String,
}

fn sale_view(r: &SaleRow) -> SaleView {
    use crate::reconcile::SaleOrigin;
    SaleView {
        paid: r.paid_at.map(when).unwrap_or_default(),
        device: r.device_id.to_string(),
        kind: r.origin.kind(),
        product: match r.origin {
            SaleOrigin::Pool { product, .. } => product.to_string(),
            _ => String::new(),
        },
        status: r.status.as_str(),
        amount: sats(r.amount_msat),
        fiat: r.fiat_amount().map(|(c, a)| format!("{a:.2} {c}")).unwrap_or_default(),
        hash: hex::encode(r.payment_hash),
    }
}

/// `/ui/sales`: the books, filtered, a page at a time, with a chart by day and a CSV link for
/// exactly the filtered rows.
pub(crate) async fn sales(
    State(state): State<AppState>,
    Operator(me): Operator,
    Query(query): Query<SalesQuery>,
) -> Response {
    let filter = match query.check() {
        Ok(f) => f,
        Err(message) => return message_page(Some(&me), StatusCode::BAD_REQUEST, &message),
    };
    let books = match state.gateway.books().await {
        Ok(books) => books,
        Err(e) => return api_error_page(Some(&me), e),
    };
    let rows: Vec<&SaleRow> = books.rows.iter().filter(|r| filter.matches(r)).collect();
    let pages = rows.len().div_ceil(SALES_PAGE_ROWS).max(1);
    let page = filter.page.min(pages);
    let shown: Vec<SaleView> = rows
        .iter()
        .skip((page - 1) * SALES_PAGE_ROWS)
        .take(SALES_PAGE_ROWS)
        .map(|r| sale_view(r))
        .collect();
    let (mut total_msat, mut paid_n, mut fiat) = (0u64, 0usize, BTreeMap::new());
    let mut paid: Vec<(u64, u64)> = Vec::new();
    for r in rows.iter().filter(|r| money_in(r)) {
        total_msat = total_msat.saturating_add(r.amount_msat);
        paid_n += 1;
        paid.push((r.paid_at.unwrap_or(0), r.amount_msat));
        if let Some((currency, amount)) = r.fiat_amount() {
            *fiat.entry(currency).or_insert(0.0) += amount;
        }
    }
    let chart = match (paid.iter().map(|p| p.0).min(), paid.iter().map(|p| p.0).max()) {
        (Some(first), Some(last)) => {
            let from = filter.from_secs.unwrap_or(first - first % DAY);
            let until = filter.until_secs.unwrap_or(last - last % DAY + DAY);
            let days = (until.saturating_sub(from) / DAY).clamp(1, 92);
            bars_by_day(paid.into_iter(), until - days * DAY, days)
        }
        _ => Vec::<Bar>::new(),
    };
    let base = filter.query(&query);
    let devices = state.gateway.fleet().devices().await.unwrap_or_default();
    Page::new(
        "sales.html",
        Some(&me),
        context! {
            title => "Sales",
            q => context! { device => query.device, product => query.product, status => query.status,
                            kind => query.kind, from => query.from, to => query.to },
            statuses => STATUSES.iter().map(|s| s.as_str()).collect::<Vec<_>>(),
            kinds => KINDS,
            devices => devices.iter().map(|d| context! { id => d.id.to_string(), name => d.name }).collect::<Vec<_>>(),
            rows => shown, matched => rows.len(), page => page, pages => pages,
            total => context! { sats => sats(total_msat), count => paid_n, fiat => fiat_text(&fiat) },
            base => base, chart => chart, as_of => when(books.taken_at),
        },
    )
    .into_response()
}

/// `/ui/sales.csv`: the filtered rows (every page), in the books' CSV format.
pub(crate) async fn sales_csv(
    State(state): State<AppState>,
    Operator(me): Operator,
    Query(query): Query<SalesQuery>,
) -> Response {
    let filter = match query.check() {
        Ok(f) => f,
        Err(message) => return message_page(Some(&me), StatusCode::BAD_REQUEST, &message),
    };
    match state.gateway.books().await {
        Ok(books) => {
            let rows: Vec<SaleRow> =
                books.rows.iter().filter(|r| filter.matches(r)).cloned().collect();
            (
                [
                    (header::CONTENT_TYPE, "text/csv; charset=utf-8"),
                    (header::CONTENT_DISPOSITION, "attachment; filename=\"sales.csv\""),
                ],
                crate::accounting::sales_csv(&rows),
            )
                .into_response()
        }
        Err(e) => api_error_page(Some(&me), e),
    }
}

/// `/ui/audit?before=ID`: the audit log, newest first, a page at a time (admins).
pub(crate) async fn audit(
    State(state): State<AppState>,
    Operator(me): Operator,
    Query(q): Query<BTreeMap<String, String>>,
) -> Response {
    if let Err(e) = me.require_admin("read the audit log") {
        return error_page(Some(&me), &e);
    }
    let before = match q.get("before").map(|b| b.parse::<u64>()) {
        None => None,
        Some(Ok(b)) => Some(b),
        Some(Err(_)) => {
            return message_page(Some(&me), StatusCode::BAD_REQUEST, "before: not an entry number")
        }
    };
    const PAGE: u32 = 100;
    match state.gateway.operators().audit_log(before, PAGE).await {
        Ok(entries) => {
            let older =
                (entries.len() == PAGE as usize).then(|| entries.last().map(|e| e.id)).flatten();
            Page::new(
                "audit.html",
                Some(&me),
                context! {
                    title => "Audit log",
                    entries => entries.iter().map(|e| context! {
                        id => e.id, at => when(e.at), actor => e.actor, action => e.action,
                        target => e.target, detail => e.detail,
                    }).collect::<Vec<_>>(),
                    older => older,
                },
            )
            .into_response()
        }
        Err(e) => error_page(Some(&me), &e),
    }
}
