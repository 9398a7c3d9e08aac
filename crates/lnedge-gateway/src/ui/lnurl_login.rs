//! Logging in with a Lightning wallet (LNURL-auth, LUD-04): the page shows a QR code of the
//! login LNURL and reloads itself every two seconds; once the wallet has signed the challenge
//! (its callback is the API's `/v1/auth/lnurl/callback`), the next reload opens the session of
//! the operator whose linking key signed. No JavaScript.
//!
//! The challenge's token (what the signature makes live) is kept in an HttpOnly cookie scoped
//! to this page, never in the page itself; the page carries only `k1`, which is public.

use axum::extract::{Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use minijinja::context;
use serde::Deserialize;

use super::render::{error_page, message_page, Page};
use super::session::set_cookie;
use crate::api::AppState;
use crate::operators::OperatorError;

/// The cookie holding the pending challenge's token.
const AUTH_COOKIE: &str = "lnedge_auth";

fn auth_cookie(state: &AppState, token: Option<&str>, max_age: u64) -> String {
    let secure =
        if state.gateway.settings().public_url.starts_with("https://") { "; Secure" } else { "" };
    format!(
        "{AUTH_COOKIE}={}; Path=/ui/login; HttpOnly; SameSite=Lax; Max-Age={}{secure}",
        token.unwrap_or_default(),
        if token.is_some() { max_age } else { 0 }
    )
}

/// `POST /ui/login/lnurl`: a fresh challenge; its page next.
pub(crate) async fn start(
    State(state): State<AppState>,
    request: axum::http::request::Parts,
) -> Response {
    let public = state.gateway.settings().public_url.trim_end_matches('/').to_owned();
    if public.is_empty() {
        return message_page(
            None,
            StatusCode::UNPROCESSABLE_ENTITY,
            "logging in with a wallet needs the gateway's public_url (the address wallets reach it at)",
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
            (
                [(header::SET_COOKIE, auth_cookie(&state, Some(&issued.token), ttl))],
                Redirect::to(&format!("/ui/login/lnurl?k1={}", hex::encode(issued.k1))),
            )
                .into_response()
        }
        Err(e) => error_page(None, &OperatorError::from(e)),
    }
}

/// The page's query.
#[derive(Deserialize)]
pub(crate) struct Wait {
    #[serde(default)]
    k1: String,
}

/// The LNURL of challenge `k1` and its QR code (SVG).
fn lnurl_and_qr(state: &AppState, k1: &str) -> (String, String) {
    let public = state.gateway.settings().public_url.trim_end_matches('/');
    let callback = format!("{public}/v1/auth/lnurl/callback?tag=login&k1={k1}");
    let lnurl = crate::lnurl::encode(&callback).to_uppercase();
    let svg = qrcode::QrCode::new(lnurl.as_bytes())
        .map(|code| {
            code.render::<qrcode::render::svg::Color<'_>>()
                .min_dimensions(240, 240)
                .dark_color(qrcode::render::svg::Color("#000000"))
                .light_color(qrcode::render::svg::Color("#ffffff"))
                .build()
        })
        .unwrap_or_default();
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
    let token = request
        .headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|p| p.trim().split_once('='))
        .find(|(n, _)| *n == AUTH_COOKIE)
        .map(|(_, v)| v.to_owned());
    let Some(token) = token.filter(|t| !t.is_empty()) else {
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
