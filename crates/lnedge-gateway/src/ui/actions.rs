//! The forms: log in and out, enrol a device, enable or disable it, provision a pool.
//!
//! Every form but the login carries the session's CSRF token, checked first; every change
//! checks the operator's role in the engine (`Session::require_admin`) and is written to the
//! audit log.

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use axum::Form;
use minijinja::context;
use serde::Deserialize;

use super::render::{api_error_page, error_page, message_page, Page};
use super::session::{session_token, set_cookie, Operator};
use crate::api::devices::parse_device_id;
use crate::api::AppState;
use crate::operators::{OperatorError, Session};
use crate::store::{Price, ProductRecord};

/// `GET /ui/login`.
pub(crate) async fn login_page() -> Response {
    Page::new("login.html", None, context! { title => "Log in" }).into_response()
}

/// The login form.
#[derive(Deserialize)]
pub(crate) struct LoginForm {
    #[serde(default)]
    name: String,
    #[serde(default)]
    password: String,
}

/// `POST /ui/login`: a session cookie and the overview, or the form again saying why not.
pub(crate) async fn login(
    State(state): State<AppState>,
    request: axum::http::request::Parts,
    Form(form): Form<LoginForm>,
) -> Response {
    let client = crate::api::client::client_from(
        &request.extensions,
        &request.headers,
        &state.trusted_proxies,
    );
    let name = form.name.trim().to_owned();
    match state.gateway.operators().login_password(&name, &form.password, &client).await {
        Ok(new) => {
            ([(header::SET_COOKIE, set_cookie(&state, Some(&new.token)))], Redirect::to("/ui/"))
                .into_response()
        }
        Err(e @ (OperatorError::BadCredentials | OperatorError::Limited(_))) => {
            let status = if matches!(e, OperatorError::Limited(_)) {
                StatusCode::TOO_MANY_REQUESTS
            } else {
                StatusCode::UNAUTHORIZED
            };
            Page::new(
                "login.html",
                None,
                context! { title => "Log in", error => e.to_string(), name => name },
            )
            .status(status)
            .into_response()
        }
        Err(e) => error_page(None, &e),
    }
}

/// A form that carries only the CSRF token.
#[derive(Deserialize)]
pub(crate) struct CsrfForm {
    pub(crate) csrf: Option<String>,
}

/// `POST /ui/logout`: the session ends here and in the browser.
pub(crate) async fn logout(
    State(state): State<AppState>,
    Operator(me): Operator,
    request_parts: axum::http::request::Parts,
    Form(form): Form<CsrfForm>,
) -> Response {
    if let Err(e) = me.check_csrf(form.csrf.as_deref()) {
        return error_page(Some(&me), &e);
    }
    if let Some(token) = session_token(&request_parts) {
        if let Err(e) = state.gateway.operators().logout(&token).await {
            return error_page(Some(&me), &e);
        }
    }
    ([(header::SET_COOKIE, set_cookie(&state, None))], Redirect::to("/ui/login")).into_response()
}

/// The CSRF check and the role check of a change, in that order; the refusal page if either
/// fails.
pub(crate) fn may_change(
    me: &Session,
    csrf: Option<&str>,
    action: &'static str,
) -> Option<Response> {
    me.check_csrf(csrf)
        .and_then(|()| me.require_admin(action))
        .err()
        .map(|e| error_page(Some(me), &e))
}

/// Appends to the audit log; a failure is logged (the change itself happened).
pub(crate) async fn audit(
    state: &AppState,
    me: &Session,
    action: &str,
    target: &str,
    detail: &str,
) {
    if let Err(e) = state.gateway.operators().audit(&me.operator, action, target, detail).await {
        tracing::error!(error = %e, action, target, "the audit log refused an entry");
    }
}

/// The enrolment form.
#[derive(Deserialize)]
pub(crate) struct EnrolForm {
    csrf: Option<String>,
    #[serde(default)]
    device_id: String,
    #[serde(default)]
    name: String,
    /// One product a line: `id, description, price in sat` (or `… , 2.50 EUR`).
    #[serde(default)]
    products: String,
}

/// The products of the enrolment form, or a message naming the line that is wrong.
pub(crate) fn parse_products(text: &str) -> Result<Vec<ProductRecord>, String> {
    let mut out = Vec::new();
    for (i, line) in text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty()) {
        let n = i + 1;
        let fields: Vec<&str> = line.split(',').map(str::trim).collect();
        let [id, description, price] = fields[..] else {
            return Err(format!(
                "products, line {n}: write `id, description, price` (e.g. `1, Cola, 2500`)"
            ));
        };
        let id = id
            .parse::<u16>()
            .map_err(|_| format!("products, line {n}: {id:?} is not a product number"))?;
        let price = match price.split_once(' ') {
            None => Price::Msat(
                price.parse::<u64>().ok().and_then(|sat| sat.checked_mul(1_000)).ok_or_else(
                    || format!("products, line {n}: {price:?} is not a price in sat"),
                )?,
            ),
            Some((amount, currency)) => {
                let minor = parse_minor(amount).ok_or_else(|| {
                    format!("products, line {n}: {amount:?} is not an amount like 2.50")
                })?;
                Price::Fiat { currency: currency.trim().to_owned(), amount_minor: minor }
            }
        };
        out.push(ProductRecord { id, description: description.to_owned(), price });
    }
    if out.is_empty() {
        return Err("products: at least one line `id, description, price`".into());
    }
    Ok(out)
}

/// `2.50` → 250 (two decimals at most).
fn parse_minor(text: &str) -> Option<u64> {
    let (whole, frac) = text.split_once('.').unwrap_or((text, ""));
    if frac.len() > 2 || whole.is_empty() || !whole.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let frac = format!("{frac:0<2}");
    whole.parse::<u64>().ok()?.checked_mul(100)?.checked_add(frac.parse().ok()?)
}

/// `POST /ui/devices`: enrols a device; its page next.
pub(crate) async fn enrol(
    State(state): State<AppState>,
    Operator(me): Operator,
    Form(form): Form<EnrolForm>,
) -> Response {
    if let Some(refused) = may_change(&me, form.csrf.as_deref(), "enrol a device") {
        return refused;
    }
    let id = match parse_device_id("device_id", form.device_id.trim()) {
        Ok(id) => id,
        Err(e) => return api_error_page(Some(&me), e),
    };
    let products = match parse_products(&form.products) {
        Ok(p) => p,
        Err(message) => return message_page(Some(&me), StatusCode::BAD_REQUEST, &message),
    };
    let count = products.len();
    match state.gateway.fleet().enrol(id, &form.name, products).await {
        Ok(device) => {
            audit(
                &state,
                &me,
                "device.enrol",
                &id.to_string(),
                &format!("{:?}, {count} products", device.name),
            )
            .await;
            Redirect::to(&format!("/ui/devices/{id}")).into_response()
        }
        Err(e) => api_error_page(Some(&me), e),
    }
}

async fn set_enabled(
    state: AppState,
    me: Session,
    id: String,
    csrf: Option<String>,
    enabled: bool,
) -> Response {
    let (action, what) = if enabled {
        ("device.enable", "enable a device")
    } else {
        ("device.disable", "disable a device")
    };
    if let Some(refused) = may_change(&me, csrf.as_deref(), what) {
        return refused;
    }
    let id = match parse_device_id("id", &id) {
        Ok(id) => id,
        Err(e) => return api_error_page(Some(&me), e),
    };
    match state.gateway.fleet().set_enabled(id, enabled).await {
        Ok(_) => {
            audit(&state, &me, action, &id.to_string(), "").await;
            Redirect::to(&format!("/ui/devices/{id}")).into_response()
        }
        Err(e) => api_error_page(Some(&me), e),
    }
}

/// `POST /ui/devices/{id}/enable`.
pub(crate) async fn enable(
    State(state): State<AppState>,
    Operator(me): Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    set_enabled(state, me, id, form.csrf, true).await
}

/// `POST /ui/devices/{id}/disable`.
pub(crate) async fn disable(
    State(state): State<AppState>,
    Operator(me): Operator,
    Path(id): Path<String>,
    Form(form): Form<CsrfForm>,
) -> Response {
    set_enabled(state, me, id, form.csrf, false).await
}

/// The provisioning form.
#[derive(Deserialize)]
pub(crate) struct ProvisionForm {
    csrf: Option<String>,
    #[serde(default)]
    entries_per_product: String,
    #[serde(default)]
    expiry_days: String,
}

/// `POST /ui/devices/{id}/pools`: starts a provisioning job; its progress page next.
pub(crate) async fn provision(
    State(state): State<AppState>,
    Operator(me): Operator,
    Path(id): Path<String>,
    Form(form): Form<ProvisionForm>,
) -> Response {
    if let Some(refused) = may_change(&me, form.csrf.as_deref(), "provision a pool") {
        return refused;
    }
    let number = |field: &str, text: &str| {
        text.trim().parse::<u32>().map_err(|_| format!("{field}: {text:?} is not a whole number"))
    };
    let (entries, days) = match (
        number("entries_per_product", &form.entries_per_product),
        number("expiry_days", &form.expiry_days),
    ) {
        (Ok(e), Ok(d)) => (e, d),
        (Err(m), _) | (_, Err(m)) => return message_page(Some(&me), StatusCode::BAD_REQUEST, &m),
    };
    let device = match parse_device_id("id", &id) {
        Ok(d) => d,
        Err(e) => return api_error_page(Some(&me), e),
    };
    let plan = match state.gateway.pools().plan(device, entries, days).await {
        Ok(plan) => plan,
        Err(e) => return api_error_page(Some(&me), e),
    };
    let detail = format!("pool {}, {} entries, {days} days", plan.pool_id, plan.total_entries());
    let job = crate::api::pools::start_job(&state, plan).await;
    audit(&state, &me, "pool.provision", &device.to_string(), &detail).await;
    Redirect::to(&format!("/ui/jobs/{job}")).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn product_lines_in_sat_or_fiat_and_errors_name_the_line() {
        let p = parse_products("1, Cola, 2500\n\n2, Water, 1.5 EUR\n").unwrap();
        assert_eq!(p.len(), 2);
        assert_eq!(p[0].price, Price::Msat(2_500_000));
        assert_eq!(p[1].price, Price::Fiat { currency: "EUR".into(), amount_minor: 150 });
        for (text, said) in [
            ("1, Cola", "line 1"),
            ("1, Cola, 25\nx, Tea, 3", "line 2"),
            ("1, Cola, lots", "line 1"),
            ("1, Cola, 2.505 EUR", "line 1"),
            ("", "at least one"),
        ] {
            let e = parse_products(text).unwrap_err();
            assert!(e.contains(said), "{text:?}: {e}");
        }
    }
}
