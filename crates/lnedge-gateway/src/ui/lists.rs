//! The lists an operator checks on: refunds, deputy sales, relay payments, cards and payer
//! devices (read-only here; their actions are on the API and `lnedge card …` for now).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use minijinja::context;

use super::render::{api_error_page, sats, when, Page};
use super::session::Operator;
use crate::api::AppState;

/// Most rows a list shows (newest first).
const LIST_ROWS: usize = 500;

/// `/ui/refunds`: refunds of failed vends, newest first.
pub(crate) async fn refunds(State(state): State<AppState>, Operator(me): Operator) -> Response {
    let mut all = match state.gateway.store().refunds().await {
        Ok(r) => r,
        Err(e) => return api_error_page(Some(&me), e),
    };
    all.sort_by_key(|r| std::cmp::Reverse(r.created_at));
    let rows: Vec<_> = all
        .iter()
        .take(LIST_ROWS)
        .map(|r| {
            context! {
                created => when(r.created_at), device => r.device_id.to_string(),
                pool => r.pool_id.to_string(), index => r.index, amount => sats(r.amount_msat),
                state => r.state.as_str(), attested => r.attested, expires => when(r.expires_at),
                paid => r.paid_at.map(when).unwrap_or_default(),
                error => r.last_error.clone().unwrap_or_default(),
            }
        })
        .collect();
    list(&me, "Refunds", "refunds", all.len(), rows)
}

/// `/ui/deputy`: deputy sales (any amount, rung up offline), newest first.
pub(crate) async fn deputy(State(state): State<AppState>, Operator(me): Operator) -> Response {
    let sales = match state.gateway.store().deputy_sales(None, LIST_ROWS as u32).await {
        Ok(s) => s,
        Err(e) => return api_error_page(Some(&me), e),
    };
    let rows: Vec<_> = sales
        .iter()
        .map(|s| {
            let asked = if s.currency.eq_ignore_ascii_case("sat") {
                sats(s.amount.saturating_mul(1_000))
            } else {
                format!("{}.{:02} {}", s.amount / 100, s.amount % 100, s.currency)
            };
            context! {
                created => when(s.created_at), device => s.device_id.to_string(),
                counter => s.counter, asked => asked, amount => sats(s.amount_msat),
                status => s.status.as_str(), paid => s.paid_at.map(when).unwrap_or_default(),
                claimed => s.claimed_at.map(when).unwrap_or_default(),
            }
        })
        .collect();
    list(&me, "Deputy sales", "deputy", rows.len(), rows)
}

/// `/ui/relay`: payments held for offline payees, with their deadlines.
pub(crate) async fn relay(State(state): State<AppState>, Operator(me): Operator) -> Response {
    let mut payments = match state.gateway.relay().payments().await {
        Ok(p) => p,
        Err(e) => return api_error_page(Some(&me), e),
    };
    payments.sort_by_key(|p| std::cmp::Reverse(p.created_at));
    let rows: Vec<_> = payments
        .iter()
        .take(LIST_ROWS)
        .map(|p| {
            context! {
                created => when(p.created_at), payee => p.payee_id, state => p.state.name(),
                amount => sats(p.amount_msat), description => p.description,
                held => p.held_at.map(when).unwrap_or_default(),
                deadline => p.claim_deadline_height, expires => when(p.expires_at),
                reason => p.reason.clone().unwrap_or_default(),
            }
        })
        .collect();
    list(&me, "Relay payments", "relay", payments.len(), rows)
}

/// `/ui/cards`: Bolt Cards and payer devices with their limits and what they spent today.
pub(crate) async fn cards(State(state): State<AppState>, Operator(me): Operator) -> Response {
    let payers = match state.gateway.store().payers().await {
        Ok(p) => p,
        Err(e) => return api_error_page(Some(&me), e),
    };
    let rows: Vec<_> = payers
        .iter()
        .take(LIST_ROWS)
        .map(|p| {
            context! {
                name => p.name, id => p.id.to_string(), kind => p.kind.as_str(),
                state => p.state.as_str(), per_payment => sats(p.per_payment_msat),
                per_day => sats(p.per_day_msat), spent_today => sats(p.day_spent_msat),
                created => when(p.created_at),
            }
        })
        .collect();
    list(&me, "Cards and payer devices", "cards", payers.len(), rows)
}

fn list(
    me: &crate::operators::Session,
    title: &'static str,
    kind: &'static str,
    total: usize,
    rows: Vec<minijinja::Value>,
) -> Response {
    Page::new(
        "lists.html",
        Some(me),
        context! { title => title, kind => kind, total => total, rows => rows, limit => LIST_ROWS },
    )
    .into_response()
}
