//! What a route is: the one table per area (`ops::endpoints` for the core, each feature module's
//! `endpoints`) from which both the Router ([`app`](super::app)) and the OpenAPI document
//! ([`openapi_document`](super::openapi_document)) are built, so they cannot disagree.

use axum::handler::Handler;
use axum::http::Method;
use axum::routing::{on, MethodFilter, MethodRouter};

use super::AppState;

/// Who may call a route (documented in the OpenAPI document, checked by the API tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: browsers, web apps, monitoring, points of sale.
    Open,
    /// A wallet following an LNURL (LUD-01): open, and answered with
    /// `Access-Control-Allow-Origin: *` so that browser-based wallets can call it.
    Wallet,
    /// The operator: `Authorization: Bearer <admin token>`.
    Admin,
    /// A device: `X-Lnedge-Signature`, an HMAC of the raw body with the device's derived key.
    DeviceSigned,
    /// A web app's user: `Authorization: Bearer <session token>`.
    Session,
    /// A payee of the async relay: a signature of the request with the payee's key.
    PayeeSigned,
}

/// One route of the API, as documented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Route {
    /// HTTP method, lower case (`get`, `post`).
    pub method: &'static str,
    /// Path template (`/v1/devices/{id}`).
    pub path: &'static str,
    /// Who may call it.
    pub access: Access,
    /// One line for the OpenAPI document.
    pub summary: &'static str,
}

/// A documented route and its handler.
pub(crate) struct Endpoint {
    /// What the OpenAPI document says of it.
    pub(crate) route: Route,
    /// What answers it (the admin check is added by [`app`](super::app) for
    /// [`Access::Admin`]).
    pub(crate) handler: MethodRouter<AppState>,
}

/// One entry of a route table: the handler is routed for exactly the documented method.
///
/// # Panics
///
/// On a method that is not one of HTTP's (a typo in a table: caught by every test run).
pub(crate) fn endpoint<H, T>(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
    handler: H,
) -> Endpoint
where
    H: Handler<T, AppState>,
    T: 'static,
{
    let filter = Method::from_bytes(method.to_ascii_uppercase().as_bytes())
        .ok()
        .and_then(|m| MethodFilter::try_from(m).ok())
        .unwrap_or_else(|| panic!("route table: `{method}` is not an HTTP method"));
    Endpoint { route: Route { method, path, access, summary }, handler: on(filter, handler) }
}
