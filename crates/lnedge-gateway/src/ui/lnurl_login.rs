//! Lightning wallets (LNURL-auth, LUD-04) on the dashboard: logging in with one, and linking one
//! to your account. Either page shows a QR code of an LNURL-auth challenge and reloads itself
//! every two seconds; once the wallet has signed (its callback is the API's
//! `/v1/auth/lnurl/callback`), the next reload opens the session of the operator whose linking
//! key signed (login) or makes that key the logged-in operator's (link). No JavaScript.
//!
//! The challenge's token (what the signature makes live) is kept in an HttpOnly cookie scoped
//! to the page, never in the page itself; the page carries only `k1`, which is public.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::render::{error_page, message_page, Page};
use super::session::set_cookie;
use crate::api::AppState;
use crate::operators::OperatorError;

/// The cookie holding a pending login challenge's token (scoped to the login pages).
const AUTH_COOKIE: &str = "lnedge_auth";
/// The cookie holding a pending link challenge's token (scoped to the account pages).
const LINK_COOKIE: &str = "lnedge_link";

/// What a challenge is for: its cookie and the path the cookie is scoped to.
#[derive(Clone, Copy)]
enum Purpose {
    Login,
    Link,
}

impl Purpose {
    fn cookie(self) -> &'static str {
        match self {
            Purpose::Login => AUTH_COOKIE,
            Purpose::Link => LINK_COOKIE,
        }
    }

    fn path(self) -> &'static str {
        match self {
            Purpose::Login => "/ui/login",
            Purpose::Link => "/ui/account",
        }
    }
}

fn challenge_cookie(
    state: &AppState,
    purpose: Purpose,
    token: Option<&str>,
    max_age: u64,
) -> String {
    let secure =
        if state.gateway.settings().public_url.starts_with("https://") { "; Secure" } else { "" };
    format!(
        "{}={}; Path={}; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        purpose.cookie(),
        token.unwrap_or_default(),
        purpose.path(),
        if token.is_some() { max_age } else { 0 }
    )
}

fn auth_cookie(state: &AppState, token: Option<&str>, max_age: u64) -> String {
    challenge_cookie(state, Purpose::Login, token, max_age)
}

/// The token in the request's `purpose` cookie, if any.
fn challenge_token(request: &axum::http::request::Parts, purpose: Purpose) -> Option<String> {
    request
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| *n == purpose.cookie())
        .map(|(_, v)| v.to_owned())
        .filter(|t| !t.is_empty())
}

/// Issues a challenge for `purpose`: its cookie and a redirect to its waiting page.
async fn issue(
    state: &AppState,
    request: &axum::http::request::Parts,
    purpose: Purpose,
    session: Option<&crate::operators::Session>,
) -> Response {
    if state.gateway.settings().public_url.trim().is_empty() {
        return message_page(
            session,
            StatusCode::UNPROCESSABLE_ENTITY,
            "a Lightning wallet needs the gateway's public_url (the address wallets reach it at)",
        );
    }
    let client = crate::api::client::client_from(
        &request.extensions,
        &request.headers,
        &state.trusted_proxies,
    );
    match state.gateway.refunds().issue_auth_challenge(&client).await {
        Ok(issued) => {
            let ttl = issued.expires_at.saturating_sub(state.gateway.now_secs());
            let page = match purpose {
                Purpose::Login => "/ui/login/lnurl",
                Purpose::Link => "/ui/account/link",
            };
            (
                [(header::SET_COOKIE, challenge_cookie(state, purpose, Some(&issued.token), ttl))],
                Redirect::to(&format!("{page}?k1={}", hex::encode(issued.k1))),
            )
                .into_response()
        }
        Err(e) => error_page(session, &OperatorError::from(e)),
    }
}

/// `POST /ui/login/lnurl`: a fresh challenge; its page next.
pub(crate) async fn start(
    State(state): State<AppState>,
    request: axum::http::request::Parts,
) -> Response {
    issue(&state, &request, Purpose::Login, None).await
}

/// The page's query.
#[derive(Deserialize)]
pub(crate) struct Wait {
    #[serde(default)]
    k1: String,
}

/// `k1` of a query, if it is 64 hex characters (lower-cased).
fn checked_k1(k1: &str) -> Option<String> {
    let k1 = k1.trim().to_ascii_lowercase();
    (k1.len() == 64 && hex::decode(&k1).is_ok()).then_some(k1)
}

/// `text` as a QR code (an SVG element, black on white, at least 240 px).
pub(crate) fn qr_svg(text: &str) -> String {
    qrcode::QrCode::new(text.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(240, 240)
                .dark_color(qrcode::render::svg::Color("#000000"))
                .light_color(qrcode::render::svg::Color("#ffffff"))
                .build()
        })
        .unwrap_or_default()
}

/// The LNURL of challenge `k1` and its QR code (SVG).
fn lnurl_and_qr(state: &AppState, k1: &str) -> (String, String) {
    let public = state.gateway.settings().public_url.trim_end_matches('/');
    let callback = format!("{public}/v1/auth/lnurl/callback?tag=login&k1={k1}");
    let lnurl = crate::lnurl::encode(&callback).to_uppercase();
    let svg = qr_svg(&lnurl);
    (lnurl, svg)
}

/// `GET /ui/login/lnurl?k1=…`: the QR code until the wallet signs, then the overview.
pub(crate) async fn wait(
    State(state): State<AppState>,
    request: axum::http::request::Parts,
    Query(q): Query<Wait>,
) -> Response {
    let k1 = q.k1.trim().to_ascii_lowercase();
    if k1.len() != 64 || hex::decode(&k1).is_err() {
        return message_page(
            None,
            StatusCode::BAD_REQUEST,
            "k1: not a login challenge (64 hex characters)",
        );
    }
    let Some(token) = challenge_token(&request, Purpose::Login) else {
        return message_page(
            None,
            StatusCode::BAD_REQUEST,
            "this login challenge was not started in this browser: start again from the login page",
        );
    };
    match state.gateway.operators().login_lnurl(&token).await {
        Ok(new) => {
            let mut response = Redirect::to("/ui/").into_response();
            let h = response.headers_mut();
            for cookie in [set_cookie(&state, Some(&new.token)), auth_cookie(&state, None, 0)] {
                if let Ok(v) = cookie.parse() {
                    h.append(header::SET_COOKIE, v);
                }
            }
            response
        }
        Err(OperatorError::NotSignedYet) => {
            let (lnurl, qr) = lnurl_and_qr(&state, &k1);
            Page::new(
                "lnurl_login.html",
                None,
                context! { title => "Log in with a Lightning wallet", lnurl => lnurl, qr => qr },
            )
            .into_response()
        }
        Err(e) => {
            let mut response = error_page(None, &e);
            if let Ok(v) = auth_cookie(&state, None, 0).parse() {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            response
        }
    }
}

/// `POST /ui/account/link`: a challenge for the logged-in operator's wallet; its page next.
pub(crate) async fn link_start(
    State(state): State<AppState>,
    super::session::Operator(me): super::session::Operator,
    request: axum::http::request::Parts,
    axum::Form(form): axum::Form<super::actions::CsrfForm>,
) -> Response {
    if let Err(e) = me.check_csrf(form.csrf.as_deref()) {
        return error_page(Some(&me), &e);
    }
    issue(&state, &request, Purpose::Link, Some(&me)).await
}

/// `GET /ui/account/link?k1=…`: the QR code until the wallet signs, then the account page.
pub(crate) async fn link_wait(
    State(state): State<AppState>,
    super::session::Operator(me): super::session::Operator,
    request: axum::http::request::Parts,
    Query(q): Query<Wait>,
) -> Response {
    let Some(k1) = checked_k1(&q.k1) else {
        return message_page(
            Some(&me),
            StatusCode::BAD_REQUEST,
            "k1: not a challenge (64 hex characters)",
        );
    };
    let Some(token) = challenge_token(&request, Purpose::Link) else {
        return message_page(
            Some(&me),
            StatusCode::BAD_REQUEST,
            "this challenge was not started in this browser: start again from your account page",
        );
    };
    let clear = challenge_cookie(&state, Purpose::Link, None, 0);
    match state.gateway.operators().link_signed_wallet(&me, &token).await {
        Ok(_) => ([(header::SET_COOKIE, clear)], Redirect::to("/ui/account")).into_response(),
        Err(OperatorError::NotSignedYet) => {
            let (lnurl, qr) = lnurl_and_qr(&state, &k1);
            Page::new(
                "lnurl_login.html",
                Some(&me),
                context! { title => "Link a Lightning wallet", lnurl => lnurl, qr => qr, linking => true },
            )
            .into_response()
        }
        Err(e) => {
            let mut response = error_page(Some(&me), &e);
            if let Ok(v) = clear.parse() {
                response.headers_mut().append(header::SET_COOKIE, v);
            }
            response
        }
    }
}

/// `GET /ui/account`: who you are, and the wallet you log in with.
pub(crate) async fn account(
    State(state): State<AppState>,
    super::session::Operator(me): super::session::Operator,
) -> Response {
    match state.gateway.store().operator(&me.operator).await {
        Ok(Some(record)) => Page::new(
            "account.html",
            Some(&me),
            context! { title => "Your account", linking_key => record.linking_key,
            password => record.password_hash.is_some(),
            public_url => !state.gateway.settings().public_url.is_empty() },
        )
        .into_response(),
        Ok(None) => error_page(Some(&me), &OperatorError::NoSession),
        Err(e) => error_page(Some(&me), &e.into()),
    }
}

/// `POST /ui/account/unlink`: the operator's wallet no longer logs them in.
pub(crate) async fn unlink(
    State(state): State<AppState>,
    super::session::Operator(me): super::session::Operator,
    axum::Form(form): axum::Form<super::actions::CsrfForm>,
) -> Response {
    if let Err(e) = me.check_csrf(form.csrf.as_deref()) {
        return error_page(Some(&me), &e);
    }
    match state.gateway.operators().set_linking_key(&me.operator, None, &me.operator).await {
        Ok(_) => Redirect::to("/ui/account").into_response(),
        Err(e) => error_page(Some(&me), &e),
    }
}
