//! What a route is, as the route tables declare it (a leaf module: the feature modules declare
//! their tables with it; `ops` chains the tables into the OpenAPI document).

/// Who may call a route (documented in the OpenAPI document, checked by the API tests).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// Anyone: wallets, browsers, web apps, monitoring.
    Open,
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

/// Shorthand for the route tables.
pub(crate) const fn route(
    method: &'static str,
    path: &'static str,
    access: Access,
    summary: &'static str,
) -> Route {
    Route { method, path, access, summary }
}
