//! The gateway's HTTP API (axum), versioned under `/v1`.
//!
//! [`app`] builds the whole service from an [`AppState`]; it is tested with
//! `tower::ServiceExt::oneshot`, without sockets.
//!
//! * Admin routes (`/v1/devices…`, `/v1/reports…`) need `Authorization: Bearer <admin token>`.
//! * `POST /v1/devices/{id}/sync` is the devices' route: no admin token, but an HMAC of the raw
//!   body with the device's key (see [`auth`]).
//! * `/healthz`, `/metrics` and `/openapi.json` are open.
//!
//! Every error is JSON (`{"error":{"code","message"[,"field"]}}`, see [`ApiError`]); bodies are
//! limited to [`BODY_LIMIT_BYTES`]. `GET /openapi.json` ([`openapi_document`]) describes every
//! route of [`routes`] (the core table and each feature's own).
//!
//! | route | body → answer |
//! | --- | --- |
//! | `POST /v1/devices` | `{device_id, name, products: [{id, description, price_msat} \| {id, description, price: {currency, amount_minor}}]}` → 201 device; 409 `duplicate_device` |
//! | `GET /v1/devices` | → `{devices: [device]}` (pools without entry counts) |
//! | `GET /v1/devices/{id}` | → `{device_id, name, enabled, created_at, last_sync_counter, products, pools: [{pool_id, created_at, expires_at, bytes, entries, by_state}]}` |
//! | `GET /v1/devices/{id}/sync-key` | → `{device_id, sync_key}` (hex; secret: the key the device signs its uploads with) |
//! | `POST /v1/devices/{id}/disable`, `/enable` | → the device |
//! | `POST /v1/devices/{id}/pools` | `{entries_per_product, expiry_days}` → 201 `{pool_id, device_id, entries, bytes, bolt11_bytes, owner_node_id, created_at, expires_at, products: [{id, price_msat, first_seq}], file}`; over [`MAX_SYNC_PROVISION_ENTRIES`] entries 202 `{job_id, status, done, total, job}`; 409 `device_disabled`; 422 `rate_unavailable`, `no_products`; 502 `lightning_node_failed` |
//! | `GET /v1/devices/{id}/pools/{pool_id}/file` | → the pool file (`application/octet-stream`) |
//! | `GET /v1/jobs/{job_id}` | → `{job_id, status: running\|done\|failed, done, total, pool?, error?}` (per replica, in memory: [`jobs`]); 404 `unknown_job` |
//! | `POST /v1/devices/{id}/sync` | `{counter, reports: [{pool_id, index, state}], want_pool_files?}` + `X-Lnedge-Signature` → `{counter, applied, unchanged, ignored_regressions, pools: [{pool_id, file, entries, hex?}]}`; 401, 403 `device_disabled`, 409 `replayed_sync` |
//! | `GET /v1/pools/expiring?within_days=N` | (1–365, default 7) → `{pools: [{device_id, pool_id, expires_at, expires_in_secs, unused_entries}]}` of enabled devices, expiring within N days with unused entries; 400 `within_days` |
//! | `GET /v1/reports/sales` | → `{rows: [...], totals: {amount_msat, rows, by_status, by_device: {id: {…}}, by_product: {"id/product" or "id/deputy": {…}}}}`; rows are pool entries and deputy sales (`kind`) |
//! | `GET /v1/reports/sales.csv` | → [`sales_csv`](crate::accounting::sales_csv) (`text/csv`) |
//! | `POST /v1/sandbox/wallet/pay`, `/withdraw`, `/login` | sandbox only (see [`sandbox_wallet_routes`]): the sandbox wallet pays, withdraws, logs in |
//! | `POST`/`GET /v1/sandbox/cosigned`, `POST /v1/sandbox/cosigned/{id}/channel`, `POST /v1/sandbox/deposit` | sandbox only: the threshold device wallet's co-signed channels (`crate::cosigned`) |
//! | `GET /healthz`, `/metrics`, `/openapi.json` | → `{status, store}` (503 if the store fails), Prometheus text, OpenAPI 3.1 |

use std::sync::Arc;

use axum::body::Bytes;
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Path, Request};
use axum::http::request::Parts;
use axum::{middleware, Router};
use lnedge_node::LightningBackend;
use serde::de::DeserializeOwned;

use crate::engine::{Gateway, GatewayBuilder};
use crate::provision::PoolKey;
use crate::store::GatewayStore;

pub mod auth;
pub(crate) mod client;
#[cfg(feature = "sandbox")]
mod cosigned;
mod deputy;
pub(crate) mod devices;
pub mod error;
mod expiry;
pub mod jobs;
pub mod metrics;
mod ops;
mod payers;
pub(crate) mod pools;
mod refunds;
pub(crate) mod relay;
mod reports;
mod route;
mod sandbox_wallet;
mod sync;
pub mod trace;

pub use crate::pools::{MAX_ENTRIES_PER_PRODUCT, MAX_EXPIRY_DAYS};
pub use error::ApiError;
pub use expiry::MAX_WITHIN_DAYS;
pub use jobs::Jobs;
pub use metrics::Metrics;
pub use ops::{openapi_document, routes};
pub use pools::MAX_SYNC_PROVISION_ENTRIES;
pub use route::{Access, Route};

/// Largest request body accepted (413 above).
pub const BODY_LIMIT_BYTES: usize = 256 * 1024;

/// Everything the handlers share: the [`Gateway`] engine and what belongs to HTTP alone.
/// Cheap to clone (reference counted).
#[derive(Clone)]
pub struct AppState {
    /// The engine: every rule, the store, the nodes, the keys, the settings.
    pub gateway: Gateway,
    /// The admin bearer token. Secret; an empty token refuses every admin request.
    pub admin_token: String,
    /// Prometheus metrics.
    pub metrics: Arc<Metrics>,
    /// Background provisioning jobs: this replica's in memory, every replica's in the store.
    pub jobs: Arc<Jobs>,
    /// Reverse proxies whose forwarding headers name the client (`trusted_proxies`; see
    /// `api/client.rs`). Empty: the socket's peer is the client.
    pub trusted_proxies: Arc<[ipnet::IpNet]>,
    /// The sandbox wallet (`node.kind = "sandbox"` only): when present, [`app`] also routes
    /// `/v1/sandbox/wallet/…` ([`sandbox_wallet_routes`]).
    pub sandbox_wallet: Option<Arc<crate::sandbox_wallet::SandboxWallet>>,
    /// The threshold device wallet's co-signed channels (`node.kind = "sandbox"` only): when
    /// present, [`app`] also routes `/v1/sandbox/cosigned…` and `/v1/sandbox/deposit`.
    #[cfg(feature = "sandbox")]
    pub cosigned: Option<Arc<crate::cosigned::CosignedWallets>>,
}

impl AppState {
    /// The HTTP state of `gateway`: fresh metrics, no jobs.
    pub fn with_gateway(gateway: Gateway, admin_token: impl Into<String>) -> Self {
        let jobs = Arc::new(Jobs::with_store(gateway.store().clone()));
        AppState {
            gateway,
            admin_token: admin_token.into(),
            metrics: Arc::new(Metrics::new()),
            jobs,
            trusted_proxies: Arc::new([]),
            sandbox_wallet: None,
            #[cfg(feature = "sandbox")]
            cosigned: None,
        }
    }

    /// A state on a gateway with the required parts and default settings (see
    /// [`GatewayBuilder`] for the others).
    pub fn new(
        store: Arc<dyn GatewayStore>,
        owner: Arc<dyn LightningBackend>,
        pool_key: Arc<PoolKey>,
        device_master_key: [u8; 32],
        admin_token: impl Into<String>,
    ) -> Self {
        let gateway = GatewayBuilder::new(store, owner, pool_key, device_master_key).build();
        AppState::with_gateway(gateway, admin_token)
    }

    /// The same state on a gateway rebuilt by `change` (e.g. another setting, in tests).
    pub fn reconfigured(&self, change: impl FnOnce(GatewayBuilder) -> GatewayBuilder) -> Self {
        AppState { gateway: change(self.gateway.to_builder()).build(), ..self.clone() }
    }
}

impl std::fmt::Debug for AppState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AppState")
            .field("gateway", &self.gateway)
            .field("admin_token", &"<secret>")
            .finish_non_exhaustive()
    }
}

/// The whole HTTP service, built from the route tables ([`routes`] documents the same tables):
/// each endpoint routed for its documented method, the admin check on every
/// [`Access::Admin`] route.
pub fn app(state: AppState) -> Router {
    let mut router = Router::new();
    let mut endpoints = ops::all_endpoints();
    if state.sandbox_wallet.is_some() {
        endpoints.extend(sandbox_wallet::endpoints());
    }
    #[cfg(feature = "sandbox")]
    if state.cosigned.is_some() {
        endpoints.extend(cosigned::endpoints());
    }
    for e in endpoints {
        let handler = match e.route.access {
            Access::Admin => e
                .handler
                .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_admin)),
            Access::Wallet => e.handler.route_layer(middleware::map_response(allow_any_origin)),
            _ => e.handler,
        };
        router = router.route(e.route.path, handler);
    }
    router
        .merge(crate::ui::router())
        .fallback(|| async { ApiError::route_not_found() })
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .layer(middleware::from_fn_with_state(state.clone(), metrics::track))
        .layer(DefaultBodyLimit::max(BODY_LIMIT_BYTES))
        .layer(trace::layer())
        .with_state(state)
}

/// The gateway's public URL (no trailing `/`), which every link handed to a wallet is built
/// from; without one, 422 `no_public_url` saying what needed it (never a relative link).
pub(crate) fn public_url<'a>(state: &'a AppState, needed_for: &str) -> Result<&'a str, ApiError> {
    let url = state.gateway.settings().public_url.trim_end_matches('/');
    if url.is_empty() {
        return Err(ApiError::unprocessable(
            "no_public_url",
            format!(
                "the gateway has no public_url ({needed_for}): set public_url (or \
                 LNEDGE_PUBLIC_URL) to the URL wallets reach it at, e.g. https://pay.example.com"
            ),
        ));
    }
    Ok(url)
}

/// LUD-01: an LNURL route's answers (errors too) carry `Access-Control-Allow-Origin: *`, so
/// that a wallet running in a browser can read them. Only wallet routes get it: the admin and
/// device routes stay same-origin.
async fn allow_any_origin(mut response: axum::response::Response) -> axum::response::Response {
    response.headers_mut().insert(
        axum::http::header::ACCESS_CONTROL_ALLOW_ORIGIN,
        axum::http::HeaderValue::from_static("*"),
    );
    response
}

/// The sandbox wallet's routes, which [`app`] adds to [`routes`] only when
/// [`AppState::sandbox_wallet`] is set (they are not in the OpenAPI document).
pub fn sandbox_wallet_routes() -> impl Iterator<Item = Route> {
    sandbox_wallet::endpoints().into_iter().map(|e| e.route)
}

/// `Path` whose rejection is an [`ApiError`] (JSON, 400).
pub(crate) struct ApiPath<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiPath<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(ApiPath(Path::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// The query string as `T`, whose rejection is an [`ApiError`] (a JSON 400 naming the problem)
/// instead of axum's plain-text answer.
pub(crate) struct ApiQuery<T>(pub(crate) T);

impl<S: Send + Sync, T: DeserializeOwned + Send> FromRequestParts<S> for ApiQuery<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        Ok(ApiQuery(axum::extract::Query::<T>::from_request_parts(parts, state).await?.0))
    }
}

/// The raw body (within the limit) whose rejection is an [`ApiError`] (JSON, 413 over the limit).
pub(crate) struct ApiBody(pub(crate) Bytes);

impl<S: Send + Sync> FromRequest<S> for ApiBody {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Ok(ApiBody(Bytes::from_request(req, state).await?))
    }
}
