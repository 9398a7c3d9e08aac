//! The fleet registry: enrol, list, show, enable and disable devices.

use std::collections::HashSet;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lnedge_proto::ledger::EntryState;
use lnedge_proto::{DeviceId, PoolId};
use serde::Deserialize;
use serde_json::{json, Value};

use super::error::{parse_json, ApiError};
use super::{now_secs, ApiBody, ApiPath, AppState};
use crate::store::{DeviceRecord, Price, ProductRecord};

/// Longest device name accepted.
const MAX_NAME_BYTES: usize = 200;
/// Longest product description (what fits in a BOLT 11 description field of a pool).
const MAX_DESCRIPTION_BYTES: usize = 639;

/// `POST /v1/devices` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct EnrolRequest {
    device_id: String,
    name: String,
    products: Vec<ProductInput>,
}

/// A product as the API takes it: `price_msat` or `price: {currency, amount_minor}`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProductInput {
    id: u16,
    description: String,
    #[serde(default)]
    price_msat: Option<u64>,
    #[serde(default)]
    price: Option<FiatPriceInput>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct FiatPriceInput {
    currency: String,
    amount_minor: u64,
}

/// Parses a device id (32 hex characters).
pub(crate) fn parse_device_id(field: &str, text: &str) -> Result<DeviceId, ApiError> {
    let bytes = hex::decode(text).map_err(|_| {
        ApiError::field(field, format!("`{text}` is not hex (expected 32 hex characters)"))
    })?;
    let bytes: [u8; 16] = bytes.try_into().map_err(|b: Vec<u8>| {
        ApiError::field(field, format!("expected 16 bytes (32 hex characters), found {}", b.len()))
    })?;
    Ok(DeviceId(bytes))
}

/// Parses a pool id (16 hex characters).
pub(crate) fn parse_pool_id(field: &str, text: &str) -> Result<PoolId, ApiError> {
    lnedge_wire::sync::parse_pool_id(text).map_err(|message| ApiError::field(field, message))
}

fn product_record(i: usize, p: ProductInput) -> Result<ProductRecord, ApiError> {
    let field = |name: &str| format!("products[{i}].{name}");
    if p.description.is_empty() || p.description.len() > MAX_DESCRIPTION_BYTES {
        return Err(ApiError::field(
            field("description"),
            format!("must be 1 to {MAX_DESCRIPTION_BYTES} bytes"),
        ));
    }
    let price = match (p.price_msat, p.price) {
        (Some(0), None) => return Err(ApiError::field(field("price_msat"), "must be above 0")),
        (Some(msat), None) => Price::Msat(msat),
        (None, Some(fiat)) => {
            let currency = fiat.currency.to_ascii_uppercase();
            if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_uppercase()) {
                return Err(ApiError::field(
                    field("price.currency"),
                    format!("`{}` is not an ISO 4217 code (three letters)", fiat.currency),
                ));
            }
            if fiat.amount_minor == 0 {
                return Err(ApiError::field(field("price.amount_minor"), "must be above 0"));
            }
            Price::Fiat { currency, amount_minor: fiat.amount_minor }
        }
        (None, None) => {
            return Err(ApiError::field(
                field("price_msat"),
                "missing (give `price_msat` or `price`)",
            ))
        }
        (Some(_), Some(_)) => {
            return Err(ApiError::field(
                field("price"),
                "give either `price_msat` or `price`, not both",
            ))
        }
    };
    Ok(ProductRecord { id: p.id, description: p.description, price })
}

/// `POST /v1/devices` → 201 with the device.
pub(crate) async fn enrol(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let req: EnrolRequest = parse_json(&body)?;
    let id = parse_device_id("device_id", &req.device_id)?;
    let name = req.name.trim();
    if name.is_empty() || name.len() > MAX_NAME_BYTES {
        return Err(ApiError::field("name", format!("must be 1 to {MAX_NAME_BYTES} bytes")));
    }
    let mut seen = HashSet::new();
    let mut products = Vec::with_capacity(req.products.len());
    for (i, p) in req.products.into_iter().enumerate() {
        if !seen.insert(p.id) {
            return Err(ApiError::unprocessable(
                "duplicate_product",
                format!("product id {} appears twice", p.id),
            ));
        }
        products.push(product_record(i, p)?);
    }
    state.gateway.store().insert_device(id, name, &products, now_secs()).await?;
    tracing::info!(device = %id, products = products.len(), "device enrolled");
    let record = load_device(&state, id).await?;
    Ok((StatusCode::CREATED, Json(device_json(&state, &record, true).await?)))
}

/// `GET /v1/devices` → `{"devices": [...]}`.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<Value>, ApiError> {
    let mut devices = Vec::new();
    for record in state.gateway.store().devices().await? {
        devices.push(device_json(&state, &record, false).await?);
    }
    Ok(Json(json!({ "devices": devices })))
}

/// `GET /v1/devices/{id}` → the device, with a summary of each pool.
pub(crate) async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_device_id("id", &id)?;
    let record = load_device(&state, id).await?;
    Ok(Json(device_json(&state, &record, true).await?))
}

/// `GET /v1/devices/{id}/sync-key` → `{device_id, sync_key}`: the device's sync key (hex,
/// `lnedge_wire::keys::device_sync_key`), to write into the device at enrolment. Secret.
pub(crate) async fn sync_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let id = parse_device_id("id", &id)?;
    load_device(&state, id).await?;
    let key = zeroize::Zeroizing::new(lnedge_wire::keys::device_sync_key(
        state.gateway.device_master_key(),
        &id,
    ));
    Ok(Json(json!({ "device_id": id.to_string(), "sync_key": hex::encode(*key) })))
}

/// `POST /v1/devices/{id}/disable`.
pub(crate) async fn disable(
    state: State<AppState>,
    id: ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(state, id, false).await
}

/// `POST /v1/devices/{id}/enable`.
pub(crate) async fn enable(
    state: State<AppState>,
    id: ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    set_enabled(state, id, true).await
}

async fn set_enabled(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    enabled: bool,
) -> Result<Json<Value>, ApiError> {
    let id = parse_device_id("id", &id)?;
    state.gateway.store().set_device_enabled(id, enabled).await?;
    tracing::info!(device = %id, enabled, "device enabled state changed");
    let record = load_device(&state, id).await?;
    Ok(Json(device_json(&state, &record, true).await?))
}

/// The device, or 404.
pub(crate) async fn load_device(state: &AppState, id: DeviceId) -> Result<DeviceRecord, ApiError> {
    state.gateway.store().device(id).await?.ok_or_else(|| {
        ApiError::new(StatusCode::NOT_FOUND, "unknown_device", format!("unknown device {id}"))
    })
}

/// A product as JSON: `{id, description, price_msat}` or `{id, description, price: {…}}`.
pub(crate) fn product_json(p: &ProductRecord) -> Value {
    match &p.price {
        Price::Msat(msat) => {
            json!({ "id": p.id, "description": p.description, "price_msat": msat })
        }
        Price::Fiat { currency, amount_minor } => json!({
            "id": p.id,
            "description": p.description,
            "price": { "currency": currency, "amount_minor": amount_minor },
        }),
    }
}

/// The lower-case name of a ledger state (`unused`, `offered`, …).
pub(crate) fn state_name(s: EntryState) -> &'static str {
    match s {
        EntryState::Unused => "unused",
        EntryState::Offered => "offered",
        EntryState::Claimed => "claimed",
        EntryState::Dispensed => "dispensed",
        EntryState::Failed => "failed",
    }
}

/// A device as JSON. `detailed`: with per-pool entry counts by state (one store query per pool).
async fn device_json(
    state: &AppState,
    d: &DeviceRecord,
    detailed: bool,
) -> Result<Value, ApiError> {
    let mut pools = Vec::new();
    for pool in state.gateway.store().pools(d.id).await? {
        let mut summary = json!({
            "pool_id": pool.id.to_string(),
            "created_at": pool.created_at,
            "expires_at": pool.expires_at,
            "bytes": pool.bytes.len(),
        });
        if detailed {
            let entries = state.gateway.store().entries(pool.id).await?;
            let mut by_state = serde_json::Map::new();
            for s in EntryState::ALL {
                let n = entries.iter().filter(|e| e.state == s).count();
                by_state.insert(state_name(s).to_owned(), json!(n));
            }
            summary["entries"] = json!(entries.len());
            summary["by_state"] = Value::Object(by_state);
        }
        pools.push(summary);
    }
    Ok(json!({
        "device_id": d.id.to_string(),
        "name": d.name,
        "enabled": d.enabled,
        "created_at": d.created_at,
        "last_sync_counter": d.last_sync_counter,
        "products": d.products.iter().map(product_json).collect::<Vec<_>>(),
        "pools": pools,
    }))
}
