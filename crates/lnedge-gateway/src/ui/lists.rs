//! The lists an operator checks on: refunds, deputy sales, relay payments (an admin may cancel
//! a held one early), cards and payer devices (issue, limits, enable/disable, wipe).

use axum::extract::State;
use axum::response::{IntoResponse, Response};
use minijinja::context;

use super::render::{api_error_page, sats, when, Page};
use super::session::Operator;
use crate::api::AppState;
use crate::store::relay::RelayState;

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
                hash => hex::encode(p.payment_hash),
                cancellable => matches!(p.state, RelayState::Offered | RelayState::Held),
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

/// `POST /ui/relay/{hash}/cancel`: an admin cancels an offered or held relay payment early;
/// the payer's HTLCs are failed back ([`crate::relay::Relay::cancel`]).
pub(crate) async fn cancel_relay(
    State(state): State<AppState>,
    Operator(me): Operator,
    axum::extract::Path(hash): axum::extract::Path<String>,
    axum::Form(form): axum::Form<super::actions::CsrfForm>,
) -> Response {
    if let Some(refused) =
        super::actions::may_change(&me, form.csrf.as_deref(), "cancel a relay payment")
    {
        return refused;
    }
    let hash = match crate::api::relay::parse_hash("hash", &hash) {
        Ok(hash) => hash,
        Err(e) => return api_error_page(Some(&me), e),
    };
    match state.gateway.relay().cancel(&hash, &me.operator).await {
        Ok(payment) => {
            let detail = format!("{}, now {}", sats(payment.held_msat()), payment.state);
            super::actions::audit(&state, &me, "relay.cancel", &hex::encode(hash), &detail).await;
            axum::response::Redirect::to("/ui/relay").into_response()
        }
        Err(e) => api_error_page(Some(&me), e),
    }
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

/// The card issuing form.
#[derive(serde::Deserialize)]
pub(crate) struct IssueForm {
    csrf: Option<String>,
    #[serde(default)]
    name: String,
    #[serde(default)]
    per_payment_sat: String,
    #[serde(default)]
    per_day_sat: String,
    /// A PIN (4 to 8 digits; empty: none). Never echoed, logged or audited.
    #[serde(default)]
    pin: String,
    /// From which amount the PIN is asked (empty: every payment).
    #[serde(default)]
    pin_limit_sat: String,
}

impl std::fmt::Debug for IssueForm {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("IssueForm")
            .field("name", &self.name)
            .field("pin", &(!self.pin.is_empty()).then_some("<secret>"))
            .finish_non_exhaustive()
    }
}

/// A limit in sat typed in a form (empty: the gateway's default), in msat.
fn sat_field(field: &str, text: &str) -> Result<Option<u64>, String> {
    let text = text.trim();
    if text.is_empty() {
        return Ok(None);
    }
    text.parse::<u64>()
        .ok()
        .and_then(|sat| sat.checked_mul(1_000))
        .map(Some)
        .ok_or_else(|| format!("{field}: {text:?} is not an amount in sat"))
}

/// `POST /ui/cards`: issues a Bolt Card and shows its programming link as a QR code (for the
/// Bolt Card programmer app), once.
pub(crate) async fn issue_card(
    State(state): State<AppState>,
    Operator(me): Operator,
    axum::Form(form): axum::Form<IssueForm>,
) -> Response {
    use axum::http::StatusCode;
    if let Some(refused) = super::actions::may_change(&me, form.csrf.as_deref(), "issue a card") {
        return refused;
    }
    let limits = sat_field("per_payment_sat", &form.per_payment_sat).and_then(|p| {
        Ok((
            p,
            sat_field("per_day_sat", &form.per_day_sat)?,
            sat_field("pin_limit_sat", &form.pin_limit_sat)?,
        ))
    });
    let (per_payment_msat, per_day_msat, pin_limit_msat) = match limits {
        Ok(l) => l,
        Err(m) => return super::render::message_page(Some(&me), StatusCode::BAD_REQUEST, &m),
    };
    // The engine checks the PIN (4 to 8 digits) and that a PIN limit comes with a PIN.
    let pin = Some(form.pin.trim().to_owned()).filter(|p| !p.is_empty());
    let base = state.gateway.settings().public_url.trim_end_matches('/').to_owned();
    if base.is_empty() {
        return super::render::message_page(
            Some(&me),
            StatusCode::UNPROCESSABLE_ENTITY,
            "issuing a card needs the gateway's public_url (cards are programmed with it)",
        );
    }
    let request = crate::payers::IssueCard {
        name: form.name.trim().to_owned(),
        per_payment_msat,
        per_day_msat,
        pin,
        pin_limit_msat,
        uid: None,
    };
    match state.gateway.payers().issue_card(request).await {
        Ok(issued) => {
            let program_url = format!("{base}/v1/cards/program/{}", issued.program_code);
            let deeplink = format!(
                "boltcard://program?url={}",
                url::form_urlencoded::byte_serialize(program_url.as_bytes()).collect::<String>()
            );
            let card = &issued.card;
            let pin = if form.pin.trim().is_empty() { "no PIN" } else { "with a PIN" };
            let detail =
                format!("{:?}, {} per payment, {pin}", card.name, sats(card.per_payment_msat));
            let id = card.id.to_string();
            super::actions::audit(&state, &me, "card.issue", &id, &detail).await;
            Page::new(
                "card_issued.html",
                Some(&me),
                context! {
                    title => "Card issued", name => card.name, id => card.id.to_string(),
                    deeplink => deeplink.clone(), qr => super::lnurl_login::qr_svg(&deeplink),
                    expires => when(card.program_expires_at),
                    per_payment => sats(card.per_payment_msat), per_day => sats(card.per_day_msat),
                },
            )
            .into_response()
        }
        Err(e) => api_error_page(Some(&me), e),
    }
}

/// Parses a card id of a path.
fn card_id(id: &str) -> Result<lnedge_proto::DeviceId, crate::api::ApiError> {
    crate::api::devices::parse_device_id("id", id)
}

async fn set_card_enabled(
    state: AppState,
    me: crate::operators::Session,
    id: String,
    csrf: Option<String>,
    enabled: bool,
) -> Response {
    if let Some(refused) =
        super::actions::may_change(&me, csrf.as_deref(), "enable or disable a card")
    {
        return refused;
    }
    let id = match card_id(&id) {
        Ok(id) => id,
        Err(e) => return api_error_page(Some(&me), e),
    };
    match state.gateway.payers().set_enabled(id, enabled).await {
        Ok(_) => {
            let what = if enabled { "card.enable" } else { "card.disable" };
            super::actions::audit(&state, &me, what, &id.to_string(), "").await;
            axum::response::Redirect::to("/ui/cards").into_response()
        }
        Err(e) => api_error_page(Some(&me), e),
    }
}

/// `POST /ui/cards/{id}/enable`.
pub(crate) async fn enable_card(
    State(state): State<AppState>,
    Operator(me): Operator,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Form(form): axum::Form<super::actions::CsrfForm>,
) -> Response {
    set_card_enabled(state, me, id, form.csrf, true).await
}

/// `POST /ui/cards/{id}/disable`.
pub(crate) async fn disable_card(
    State(state): State<AppState>,
    Operator(me): Operator,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Form(form): axum::Form<super::actions::CsrfForm>,
) -> Response {
    set_card_enabled(state, me, id, form.csrf, false).await
}

/// `GET /ui/cards/{id}`: a card or payer device, and (admins) its limits and the wipe.
pub(crate) async fn card(
    State(state): State<AppState>,
    Operator(me): Operator,
    axum::extract::Path(id): axum::extract::Path<String>,
) -> Response {
    let id = match card_id(&id) {
        Ok(id) => id,
        Err(e) => return api_error_page(Some(&me), e),
    };
    match state.gateway.payers().get(id).await {
        Ok(p) => Page::new(
            "card.html",
            Some(&me),
            context! {
                title => p.name.clone(), id => p.id.to_string(), kind => p.kind.as_str(),
                state => p.state.as_str(), per_payment_sat => p.per_payment_msat / 1_000,
                per_day_sat => p.per_day_msat / 1_000, spent_today => sats(p.day_spent_msat),
                created => when(p.created_at),
            },
        )
        .into_response(),
        Err(e) => api_error_page(Some(&me), e),
    }
}

/// The limits form.
#[derive(serde::Deserialize)]
pub(crate) struct LimitsForm {
    csrf: Option<String>,
    #[serde(default)]
    per_payment_sat: String,
    #[serde(default)]
    per_day_sat: String,
}

/// `POST /ui/cards/{id}/limits`.
pub(crate) async fn card_limits(
    State(state): State<AppState>,
    Operator(me): Operator,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Form(form): axum::Form<LimitsForm>,
) -> Response {
    use axum::http::StatusCode;
    if let Some(refused) =
        super::actions::may_change(&me, form.csrf.as_deref(), "change a card's limits")
    {
        return refused;
    }
    let id = match card_id(&id) {
        Ok(id) => id,
        Err(e) => return api_error_page(Some(&me), e),
    };
    let limits = sat_field("per_payment_sat", &form.per_payment_sat)
        .and_then(|p| Ok((p, sat_field("per_day_sat", &form.per_day_sat)?)));
    let (Some(per_payment), Some(per_day)) = (match limits {
        Ok(l) => l,
        Err(m) => return super::render::message_page(Some(&me), StatusCode::BAD_REQUEST, &m),
    }) else {
        return super::render::message_page(
            Some(&me),
            StatusCode::BAD_REQUEST,
            "per_payment_sat and per_day_sat: both are needed",
        );
    };
    match state.gateway.payers().set_limits(id, per_payment, per_day).await {
        Ok(_) => {
            let detail = format!("{} per payment, {} per day", sats(per_payment), sats(per_day));
            super::actions::audit(&state, &me, "card.limits", &id.to_string(), &detail).await;
            axum::response::Redirect::to(&format!("/ui/cards/{id}")).into_response()
        }
        Err(e) => api_error_page(Some(&me), e),
    }
}

/// `POST /ui/cards/{id}/wipe`: the card never pays again; a programmed card's reset link (for
/// the programmer app, to give the card back its factory keys) is shown once, as a QR code.
pub(crate) async fn wipe_card(
    State(state): State<AppState>,
    Operator(me): Operator,
    axum::extract::Path(id): axum::extract::Path<String>,
    axum::Form(form): axum::Form<super::actions::CsrfForm>,
) -> Response {
    if let Some(refused) = super::actions::may_change(&me, form.csrf.as_deref(), "wipe a card") {
        return refused;
    }
    let id = match card_id(&id) {
        Ok(id) => id,
        Err(e) => return api_error_page(Some(&me), e),
    };
    match state.gateway.payers().wipe(id).await {
        Ok(wiped) => {
            super::actions::audit(&state, &me, "card.wipe", &id.to_string(), "").await;
            let base = state.gateway.settings().public_url.trim_end_matches('/').to_owned();
            let deeplink = wiped.filter(|_| !base.is_empty()).map(|w| {
                let url = format!("{base}/v1/cards/reset/{}", w.reset_code);
                format!(
                    "boltcard://reset?url={}",
                    url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
                )
            });
            Page::new(
                "card_wiped.html",
                Some(&me),
                context! {
                    title => "Card wiped", id => id.to_string(),
                    qr => deeplink.as_deref().map(super::lnurl_login::qr_svg), deeplink => deeplink,
                },
            )
            .into_response()
        }
        Err(e) => api_error_page(Some(&me), e),
    }
}
