//! Operations: health, metrics, and the OpenAPI document.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::{json, Value};

use super::route::{endpoint, Access, Endpoint, Route};
use super::AppState;

/// `GET /healthz` answer.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Health {
    /// `ok` or `unavailable`.
    status: &'static str,
    /// The store's kind (`sqlite`, `postgres`).
    store: &'static str,
}

/// `GET /healthz` → 200 `{"status":"ok","store":"sqlite"}`, or 503 if the store does not answer.
pub(crate) async fn healthz(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let store = state.gateway.store().name();
    match state.gateway.health().await {
        Ok(_) => (StatusCode::OK, Json(Health { status: "ok", store })),
        Err(e) => {
            tracing::error!(error = %e, "health check: the store failed");
            (StatusCode::SERVICE_UNAVAILABLE, Json(Health { status: "unavailable", store }))
        }
    }
}

/// `GET /metrics` → Prometheus text format.
pub(crate) async fn metrics(State(state): State<AppState>) -> Response {
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4; charset=utf-8")], state.metrics.render())
        .into_response()
}

/// `GET /openapi.json`.
pub(crate) async fn openapi() -> Json<Value> {
    Json(openapi_document())
}

/// The core routes of [`app`](super::app). Each feature module has a table of its own;
/// [`routes`] chains them all.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint("get", "/healthz", Access::Open, "Liveness, with a store ping", healthz),
        endpoint("get", "/metrics", Access::Open, "Prometheus metrics", metrics),
        endpoint("get", "/openapi.json", Access::Open, "This document", openapi),
        endpoint(
            "post",
            "/v1/devices",
            Access::Admin,
            "Enrol a device with its products",
            super::devices::enrol,
        ),
        endpoint("get", "/v1/devices", Access::Admin, "List devices", super::devices::list),
        endpoint(
            "get",
            "/v1/devices/{id}",
            Access::Admin,
            "One device, with products and pools",
            super::devices::show,
        ),
        endpoint(
            "get",
            "/v1/devices/{id}/sync-key",
            Access::Admin,
            "The device's sync key (secret), to write into the device",
            super::devices::sync_key,
        ),
        endpoint(
            "post",
            "/v1/devices/{id}/disable",
            Access::Admin,
            "Disable a device (no sync, no pools)",
            super::devices::disable,
        ),
        endpoint(
            "post",
            "/v1/devices/{id}/enable",
            Access::Admin,
            "Enable a device",
            super::devices::enable,
        ),
        endpoint(
            "post",
            "/v1/devices/{id}/pools",
            Access::Admin,
            "Provision a pool of invoices on the owner's node",
            super::pools::create,
        ),
        endpoint(
            "get",
            "/v1/devices/{id}/pools/{pool_id}/file",
            Access::Admin,
            "Download a pool file",
            super::pools::file,
        ),
        endpoint(
            "get",
            "/v1/jobs/{job_id}",
            Access::Admin,
            "A provisioning job's progress and result (this replica)",
            super::jobs::show,
        ),
        endpoint(
            "post",
            "/v1/devices/{id}/sync",
            Access::DeviceSigned,
            "Device upload of ledger states (device-signed)",
            super::sync::sync,
        ),
        endpoint(
            "get",
            "/v1/pools/expiring",
            Access::Admin,
            "Pools of enabled devices expiring soon with unused entries",
            super::expiry::expiring,
        ),
        endpoint(
            "get",
            "/v1/reports/sales",
            Access::Admin,
            "Reconciled sales with totals (JSON)",
            super::reports::sales,
        ),
        endpoint(
            "get",
            "/v1/reports/sales.csv",
            Access::Admin,
            "Reconciled sales (CSV)",
            super::reports::sales_csv_file,
        ),
    ]
}

fn error_response(description: &str) -> Value {
    json!({ "description": description, "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Error" } } } })
}

fn json_body(schema: &str) -> Value {
    json!({ "required": true, "content": { "application/json": { "schema": { "$ref": format!("#/components/schemas/{schema}") } } } })
}

fn operation(route: &Route) -> Value {
    let Route { method, path, access, summary } = *route;
    let mut op =
        json!({ "summary": summary, "operationId": format!("{method} {path}"), "responses": {} });
    let mut params = Vec::new();
    if path.contains("{id}") {
        let what = if path.starts_with("/v1/payees/") { "payee id" } else { "device id" };
        params.push(json!({ "name": "id", "in": "path", "required": true, "description": format!("{what}, 32 hex characters"), "schema": { "type": "string", "pattern": "^[0-9a-fA-F]{32}$" } }));
    }
    if path.contains("{pool_id}") {
        params.push(json!({ "name": "pool_id", "in": "path", "required": true, "description": "pool id, 16 hex characters", "schema": { "type": "string", "pattern": "^[0-9a-fA-F]{16}$" } }));
    }
    if path.contains("{p}") {
        params.push(json!({ "name": "p", "in": "path", "required": true, "description": "a deputy sale's sealed payload (base64url), as the payRequest's callback names it", "schema": { "type": "string" } }));
    }
    if path.contains("{code}") {
        params.push(json!({ "name": "code", "in": "path", "required": true, "description": "a card's one-time programming or reset code (32 hex characters; secret)", "schema": { "type": "string", "pattern": "^[0-9a-fA-F]{32}$" } }));
    }
    if path.contains("{job_id}") {
        params.push(json!({ "name": "job_id", "in": "path", "required": true, "description": "job id from a 202 provisioning answer", "schema": { "type": "string" } }));
    }
    if access == Access::DeviceSigned {
        params.push(json!({ "name": "X-Lnedge-Signature", "in": "header", "required": true, "description": "hex HMAC-SHA256(device_key, raw body), device_key = HMAC-SHA256(master, \"lnedge/device-sync\" || device_id)", "schema": { "type": "string" } }));
        op["responses"]["401"] = error_response("missing or bad signature");
    }
    if path == "/v1/devices/{id}/sync" {
        op["requestBody"] = json_body("SyncRequest");
        op["responses"]["200"] = json!({ "description": "applied", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/SyncOutcome" } } } });
        op["responses"]["401"] = error_response("missing or bad signature");
        op["responses"]["403"] = error_response("device disabled");
        op["responses"]["409"] = error_response("replayed sync counter");
    }
    if !params.is_empty() {
        op["parameters"] = Value::Array(params);
    }
    match access {
        Access::Admin => {
            op["security"] = json!([{ "admin": [] }]);
            op["responses"]["401"] = error_response("missing or bad admin token");
        }
        Access::Session => {
            op["security"] = json!([{ "session": [] }]);
            op["responses"]["401"] = error_response("missing, unknown or expired session token");
        }
        Access::PayeeSigned => {
            op["responses"]["401"] = error_response("missing or bad payee signature");
        }
        Access::Wallet => {
            op["description"] = json!("An LNURL route (LUD-01): answers carry `Access-Control-Allow-Origin: *`; refusals are LUD-01 `{\"status\":\"ERROR\",\"reason\"}` bodies.");
        }
        Access::Open | Access::DeviceSigned => {}
    }
    match (method, path) {
        ("post", "/v1/devices") => {
            op["requestBody"] = json_body("EnrolRequest");
            op["responses"]["201"] = json!({ "description": "enrolled", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Device" } } } });
            op["responses"]["409"] = error_response("already enrolled");
        }
        ("post", "/v1/devices/{id}/pools") => {
            op["requestBody"] = json_body("ProvisionRequest");
            op["responses"]["201"] = json!({ "description": "provisioned", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/ProvisionedPool" } } } });
            op["responses"]["202"] = json!({ "description": "large pool: provisioning as a job (poll `job`)", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Job" } } } });
            op["responses"]["409"] = error_response("device disabled");
            op["responses"]["502"] = error_response("the owner's Lightning node failed");
        }
        ("get", "/v1/devices/{id}/pools/{pool_id}/file") => {
            op["responses"]["200"] = json!({ "description": "pool file", "content": { "application/octet-stream": { "schema": { "type": "string", "format": "binary" } } } });
        }
        ("post", "/v1/payees/{id}/invoices") => {
            op["responses"]["201"] = json!({ "description": "a hold invoice for one of the payee's committed hashes", "content": { "application/json": { "schema": { "type": "object", "properties": {
                "payment_hash": { "type": "string" }, "bolt11": { "type": "string" }, "amount_msat": { "type": "integer" }, "expires_at": { "type": "integer" } } } } } });
            op["responses"]["400"] =
                error_response("amount_msat missing, zero or not covering the relay's fee");
            op["responses"]["409"] = error_response("the payee has no unused committed hash");
            op["responses"]["429"] = error_response("too many invoices asked for by this client");
        }
        ("get", "/v1/jobs/{job_id}") => {
            op["responses"]["200"] = json!({ "description": "the job", "content": { "application/json": { "schema": { "$ref": "#/components/schemas/Job" } } } });
        }
        ("get", "/v1/reports/sales.csv") => {
            op["responses"]["200"] = json!({ "description": "CSV (RFC 4180)", "content": { "text/csv": { "schema": { "type": "string" } } } });
        }
        ("get", "/v1/pools/expiring") => {
            op["parameters"] = json!([{ "name": "within_days", "in": "query", "required": false, "description": "horizon in days (default 7)", "schema": { "type": "integer", "minimum": 1, "maximum": super::expiry::MAX_WITHIN_DAYS, "default": 7 } }]);
            op["responses"]["200"] = json!({ "description": "pools to re-provision, soonest first", "content": { "application/json": { "schema": { "type": "object", "properties": { "pools": { "type": "array", "items": { "type": "object", "properties": {
                "device_id": { "type": "string" }, "pool_id": { "type": "string" }, "expires_at": { "type": "integer" },
                "expires_in_secs": { "type": "integer" }, "unused_entries": { "type": "integer" } } } } } } } } });
        }
        ("get", "/metrics") => {
            op["responses"]["200"] = json!({ "description": "Prometheus text format", "content": { "text/plain": { "schema": { "type": "string" } } } });
        }
        ("post", "/v1/devices/{id}/sync") => {}
        _ => {
            op["responses"]["200"] = json!({ "description": "OK", "content": { "application/json": { "schema": { "type": "object" } } } });
        }
    }
    if path.starts_with("/v1/") {
        op["responses"]["400"] = error_response("malformed request (the `field` names what)");
        op["responses"]["404"] = error_response("unknown device or pool");
        op["responses"]["413"] = error_response("body over the size limit");
        op["responses"]["422"] = error_response("valid request that cannot be carried out");
    }
    op
}

/// Every route of [`app`](super::app): (method, path, summary). The OpenAPI document is built
/// from it; the tests check that each route answers and is documented.
pub fn routes() -> impl Iterator<Item = Route> {
    all_endpoints().into_iter().map(|e| e.route)
}

/// Every endpoint of the API: the core table and each feature's.
pub(crate) fn all_endpoints() -> Vec<Endpoint> {
    let mut all = endpoints();
    all.extend(super::refunds::endpoints());
    all.extend(super::deputy::endpoints());
    all.extend(super::relay::endpoints());
    all.extend(super::payers::endpoints());
    all
}

/// The OpenAPI 3.1 document of every route in [`routes`].
pub fn openapi_document() -> Value {
    let mut paths = serde_json::Map::new();
    for r in routes() {
        let entry = paths.entry(r.path.to_string()).or_insert_with(|| json!({}));
        entry[r.method] = operation(&r);
    }
    let product = json!({
        "type": "object", "required": ["id", "description"],
        "properties": {
            "id": { "type": "integer", "minimum": 0, "maximum": 65535 },
            "description": { "type": "string", "minLength": 1, "maxLength": 639 },
            "price_msat": { "type": "integer", "minimum": 1 },
            "price": { "type": "object", "required": ["currency", "amount_minor"], "properties": {
                "currency": { "type": "string", "pattern": "^[A-Za-z]{3}$" },
                "amount_minor": { "type": "integer", "minimum": 1 } } }
        },
        "description": "exactly one of price_msat and price"
    });
    json!({
        "openapi": "3.1.0",
        "info": { "title": "lnedge gateway", "version": env!("CARGO_PKG_VERSION"), "description": "Operator API of a fleet of offline Lightning vending machines." },
        "paths": paths,
        "components": {
            "securitySchemes": { "admin": { "type": "http", "scheme": "bearer", "description": "the operator's admin token" }, "session": { "type": "http", "scheme": "bearer", "description": "a session token from /v1/sessions or LNURL-auth" } },
            "schemas": {
                "Error": { "type": "object", "required": ["error"], "properties": { "error": { "type": "object", "required": ["code", "message"], "properties": {
                    "code": { "type": "string" }, "message": { "type": "string" }, "field": { "type": "string" } } } } },
                "Product": product,
                "EnrolRequest": { "type": "object", "required": ["device_id", "name", "products"], "properties": {
                    "device_id": { "type": "string", "pattern": "^[0-9a-fA-F]{32}$" },
                    "name": { "type": "string" },
                    "products": { "type": "array", "items": { "$ref": "#/components/schemas/Product" } } } },
                "Device": { "type": "object", "properties": {
                    "device_id": { "type": "string" }, "name": { "type": "string" }, "enabled": { "type": "boolean" },
                    "created_at": { "type": "integer" }, "last_sync_counter": { "type": "integer" },
                    "products": { "type": "array", "items": { "$ref": "#/components/schemas/Product" } },
                    "pools": { "type": "array", "items": { "type": "object" } } } },
                "ProvisionRequest": { "type": "object", "required": ["entries_per_product", "expiry_days"], "properties": {
                    "entries_per_product": { "type": "integer", "minimum": 1, "maximum": crate::pools::MAX_ENTRIES_PER_PRODUCT },
                    "expiry_days": { "type": "integer", "minimum": 1, "maximum": crate::pools::MAX_EXPIRY_DAYS } } },
                "ProvisionedPool": { "type": "object", "properties": {
                    "pool_id": { "type": "string" }, "device_id": { "type": "string" }, "entries": { "type": "integer" },
                    "bytes": { "type": "integer" }, "file": { "type": "string" } } },
                "Job": { "type": "object", "required": ["job_id", "status", "done", "total"], "properties": {
                    "job_id": { "type": "string" }, "status": { "type": "string", "enum": ["running", "done", "failed"] },
                    "done": { "type": "integer" }, "total": { "type": "integer" }, "job": { "type": "string" },
                    "pool": { "$ref": "#/components/schemas/ProvisionedPool" },
                    "error": { "type": "object", "properties": { "code": { "type": "string" }, "message": { "type": "string" } } } } },
                "SyncRequest": { "type": "object", "required": ["counter", "reports"], "properties": {
                    "counter": { "type": "integer", "minimum": 1, "description": "must grow with every upload" },
                    "reports": { "type": "array", "items": { "type": "object", "required": ["pool_id", "index", "state"], "properties": {
                        "pool_id": { "type": "string", "pattern": "^[0-9a-fA-F]{16}$" },
                        "index": { "type": "integer", "minimum": 0 },
                        "state": { "type": "string", "enum": ["offered", "claimed", "dispensed", "failed"] } } } },
                    "want_pool_files": { "type": "boolean", "default": false, "description": "include the new pools' files (hex) in the answer" } } },
                "SyncOutcome": { "type": "object", "properties": {
                    "counter": { "type": "integer" }, "applied": { "type": "integer" }, "unchanged": { "type": "integer" },
                    "ignored_regressions": { "type": "integer" },
                    "pools": { "type": "array", "description": "pools newer than every pool the device has reported: install them", "items": { "type": "object", "required": ["pool_id", "file", "entries"], "properties": {
                        "pool_id": { "type": "string" }, "file": { "type": "string" }, "entries": { "type": "integer" },
                        "hex": { "type": "string", "description": "the pool file, hex-encoded (only with want_pool_files)" } } } } } }
            }
        }
    })
}
