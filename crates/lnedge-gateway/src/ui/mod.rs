//! The operator's dashboard: server-rendered HTML pages at `/ui/…` for people (the JSON API at
//! `/v1/…` stays for scripts and devices).
//!
//! A thin adapter like `api/`: each handler reads the session ([`Operator`]), parses the form or
//! query, calls the engine (`gateway.fleet()`, `.pools()`, `.operators()`, the books) and renders
//! a template (`ui/templates/*.html`, minijinja, every value HTML-escaped). No JavaScript is
//! needed: forms post, the provisioning page refreshes itself, charts are SVG drawn here.
//!
//! * Sessions: the `lnedge_session` cookie (HttpOnly, SameSite=Strict, Secure when the gateway's
//!   public URL is https) holds the token `crate::operators` checks on every request.
//! * Every form carries the session's CSRF token (`csrf`); a POST without it, or with another
//!   session's, is refused (403) before anything else happens.
//! * A viewer sees no control that changes anything, and each changing handler asks the engine
//!   whether the session may (`Session::require_admin`), so a crafted POST is refused too (403).
//! * Every change is written to the audit log (`/ui/audit`, admins).
//! * Responses carry a strict Content-Security-Policy (`default-src 'self'`), `nosniff`, no
//!   framing, and `Cache-Control: no-store`.

mod actions;
mod chart;
mod filter;
mod lists;
mod lnurl_login;
mod pages;
mod render;
mod session;

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use axum::{middleware, Router};

use crate::api::AppState;
pub use filter::{SalesFilter, SalesQuery, SALES_PAGE_ROWS};
pub use session::{Operator, SESSION_COOKIE};

/// The dashboard's routes (merged into the gateway's router by [`crate::api::app`]).
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/", get(|| async { Redirect::to("/ui/") }))
        .route("/ui", get(|| async { Redirect::to("/ui/") }))
        .route("/ui/", get(pages::overview))
        .route("/ui/login", get(actions::login_page).post(actions::login))
        .route("/ui/login/lnurl", get(lnurl_login::wait).post(lnurl_login::start))
        .route("/ui/logout", post(actions::logout))
        .route("/ui/account", get(lnurl_login::account))
        .route("/ui/account/link", get(lnurl_login::link_wait).post(lnurl_login::link_start))
        .route("/ui/account/unlink", post(lnurl_login::unlink))
        .route("/ui/devices", get(pages::devices).post(actions::enrol))
        .route("/ui/devices/{id}", get(pages::device))
        .route("/ui/devices/{id}/enable", post(actions::enable))
        .route("/ui/devices/{id}/disable", post(actions::disable))
        .route("/ui/devices/{id}/pools", post(actions::provision))
        .route("/ui/devices/{id}/pools/{pool_id}/file", get(pages::pool_file))
        .route("/ui/jobs/{job_id}", get(pages::job))
        .route("/ui/sales", get(pages::sales))
        .route("/ui/sales.csv", get(pages::sales_csv))
        .route("/ui/audit", get(pages::audit))
        .route("/ui/refunds", get(lists::refunds))
        .route("/ui/deputy", get(lists::deputy))
        .route("/ui/relay", get(lists::relay))
        .route("/ui/relay/{hash}/cancel", post(lists::cancel_relay))
        .route("/ui/cards", get(lists::cards).post(lists::issue_card))
        .route("/ui/cards/{id}", get(lists::card))
        .route("/ui/cards/{id}/enable", post(lists::enable_card))
        .route("/ui/cards/{id}/disable", post(lists::disable_card))
        .route("/ui/cards/{id}/limits", post(lists::card_limits))
        .route("/ui/cards/{id}/wipe", post(lists::wipe_card))
        .route("/ui/static/app.css", get(stylesheet))
        .layer(middleware::map_response(security_headers))
}

/// The stylesheet (served by the gateway: no CDN).
async fn stylesheet() -> Response {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("static/app.css"),
    )
        .into_response()
}

/// The headers every dashboard answer carries.
async fn security_headers(mut response: Response) -> Response {
    let h = response.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'none'; \
             form-action 'self'; frame-ancestors 'none'; base-uri 'none'",
        ),
    );
    h.insert(header::X_CONTENT_TYPE_OPTIONS, HeaderValue::from_static("nosniff"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    h.entry(header::CACHE_CONTROL).or_insert(HeaderValue::from_static("no-store"));
    response
}
