//! The logged-in operator of a request, from the session cookie.

use axum::extract::FromRequestParts;
use axum::http::header::COOKIE;
use axum::http::request::Parts;
use axum::response::{IntoResponse, Redirect, Response};

use super::render::error_page;
use crate::api::AppState;
use crate::operators::{OperatorError, Session};

/// The session cookie's name.
pub const SESSION_COOKIE: &str = "lnedge_session";

/// The session cookie's value in a `Cookie` header, if any.
pub(crate) fn session_token(parts: &Parts) -> Option<String> {
    parts
        .headers
        .get_all(COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|pair| pair.trim().split_once('='))
        .find(|(name, _)| *name == SESSION_COOKIE)
        .map(|(_, value)| value.trim().to_owned())
        .filter(|v| !v.is_empty())
}

/// The `Set-Cookie` value that stores `token` (or, with `None`, removes the cookie).
pub(crate) fn set_cookie(state: &AppState, token: Option<&str>) -> String {
    let secure =
        if state.gateway.settings().public_url.starts_with("https://") { "; Secure" } else { "" };
    match token {
        Some(t) => format!(
            "{SESSION_COOKIE}={t}; Path=/ui; HttpOnly; SameSite=Strict; Max-Age={}{secure}",
            crate::operators::SESSION_TTL_SECS
        ),
        None => {
            format!("{SESSION_COOKIE}=; Path=/ui; HttpOnly; SameSite=Strict; Max-Age=0{secure}")
        }
    }
}

/// The operator of the request. Without a good session the request goes to the login page
/// (a page read) or is refused (a form posted).
#[derive(Debug, Clone)]
pub struct Operator(pub Session);

impl FromRequestParts<AppState> for Operator {
    type Rejection = Response;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, Response> {
        let to_login = || Redirect::to("/ui/login").into_response();
        let Some(token) = session_token(parts) else {
            return Err(to_login());
        };
        match state.gateway.operators().session(&token).await {
            Ok(session) => Ok(Operator(session)),
            Err(OperatorError::NoSession) => Err(to_login()),
            Err(e) => Err(error_page(None, &e)),
        }
    }
}
