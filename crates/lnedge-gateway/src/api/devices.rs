//! The fleet registry: enrol, list, show, enable and disable devices.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::http::StatusCode;
use axum::Json;
use lnedge_proto::{DeviceId, PoolId};
use serde::{Deserialize, Serialize};

use super::error::{parse_json, ApiError};
use super::{ApiBody, ApiPath, AppState};
use crate::fleet::PoolSummary;
use crate::store::{DeviceRecord, Price, ProductRecord};

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

/// A product as the engine takes it (the price form checked here: one of the two is given).
fn product_record(i: usize, p: ProductInput) -> Result<ProductRecord, ApiError> {
    let field = |name: &str| format!("products[{i}].{name}");
    let price = match (p.price_msat, p.price) {
        (Some(msat), None) => Price::Msat(msat),
        (None, Some(fiat)) => {
            Price::Fiat { currency: fiat.currency, amount_minor: fiat.amount_minor }
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

/// A device as the API answers it (`GET /v1/devices/{id}`, enrol, enable, disable).
#[derive(Debug, Serialize)]
pub(crate) struct DeviceBody {
    device_id: String,
    name: String,
    enabled: bool,
    created_at: u64,
    last_sync_counter: u64,
    products: Vec<ProductBody>,
    pools: Vec<PoolBody>,
}

/// A product: `{id, description, price_msat}` or `{id, description, price: {…}}`.
#[derive(Debug, Serialize)]
pub(crate) struct ProductBody {
    id: u16,
    description: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    price_msat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    price: Option<FiatPriceBody>,
}

#[derive(Debug, Serialize)]
struct FiatPriceBody {
    currency: String,
    amount_minor: u64,
}

/// A pool of a device; `entries` and `by_state` only in detailed views.
#[derive(Debug, Serialize)]
struct PoolBody {
    pool_id: String,
    created_at: u64,
    expires_at: u64,
    bytes: usize,
    #[serde(skip_serializing_if = "Option::is_none")]
    entries: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    by_state: Option<BTreeMap<&'static str, usize>>,
}

/// `GET /v1/devices` answer.
#[derive(Debug, Serialize)]
pub(crate) struct DeviceList {
    devices: Vec<DeviceBody>,
}

/// `GET /v1/devices/{id}/sync-key` answer. Secret.
#[derive(Serialize)]
pub(crate) struct SyncKeyBody {
    device_id: String,
    sync_key: String,
}

/// `POST /v1/devices` → 201 with the device.
pub(crate) async fn enrol(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<DeviceBody>), ApiError> {
    let req: EnrolRequest = parse_json(&body)?;
    let id = parse_device_id("device_id", &req.device_id)?;
    let products = req
        .products
        .into_iter()
        .enumerate()
        .map(|(i, p)| product_record(i, p))
        .collect::<Result<Vec<_>, _>>()?;
    let fleet = state.gateway.fleet();
    let record = fleet.enrol(id, &req.name, products).await?;
    Ok((StatusCode::CREATED, Json(device_body(&state, record, true).await?)))
}

/// `GET /v1/devices` → `{"devices": [...]}`.
pub(crate) async fn list(State(state): State<AppState>) -> Result<Json<DeviceList>, ApiError> {
    let mut devices = Vec::new();
    for record in state.gateway.fleet().devices().await? {
        devices.push(device_body(&state, record, false).await?);
    }
    Ok(Json(DeviceList { devices }))
}

/// `GET /v1/devices/{id}` → the device, with a summary of each pool.
pub(crate) async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeviceBody>, ApiError> {
    let id = parse_device_id("id", &id)?;
    let record = state.gateway.fleet().device(id).await?;
    Ok(Json(device_body(&state, record, true).await?))
}

/// `GET /v1/devices/{id}/sync-key` → `{device_id, sync_key}`: the device's sync key (hex,
/// `lnedge_wire::keys::device_sync_key`), to write into the device at enrolment. Secret.
pub(crate) async fn sync_key(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<SyncKeyBody>, ApiError> {
    let id = parse_device_id("id", &id)?;
    let key = state.gateway.fleet().sync_key(id).await?;
    Ok(Json(SyncKeyBody { device_id: id.to_string(), sync_key: hex::encode(*key) }))
}

/// `POST /v1/devices/{id}/disable`.
pub(crate) async fn disable(
    state: State<AppState>,
    id: ApiPath<String>,
) -> Result<Json<DeviceBody>, ApiError> {
    set_enabled(state, id, false).await
}

/// `POST /v1/devices/{id}/enable`.
pub(crate) async fn enable(
    state: State<AppState>,
    id: ApiPath<String>,
) -> Result<Json<DeviceBody>, ApiError> {
    set_enabled(state, id, true).await
}

async fn set_enabled(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    enabled: bool,
) -> Result<Json<DeviceBody>, ApiError> {
    let id = parse_device_id("id", &id)?;
    let record = state.gateway.fleet().set_enabled(id, enabled).await?;
    Ok(Json(device_body(&state, record, true).await?))
}

/// A product as the API answers it.
fn product_body(p: &ProductRecord) -> ProductBody {
    let (price_msat, price) = match &p.price {
        Price::Msat(msat) => (Some(*msat), None),
        Price::Fiat { currency, amount_minor } => {
            (None, Some(FiatPriceBody { currency: currency.clone(), amount_minor: *amount_minor }))
        }
    };
    ProductBody { id: p.id, description: p.description.clone(), price_msat, price }
}

/// A pool summary; with entry counts by state when the view has them.
fn pool_body(p: &PoolSummary) -> PoolBody {
    let (entries, by_state) = match &p.by_state {
        Some((total, by)) => (Some(*total), Some(by.iter().map(|(s, n)| (s.name(), *n)).collect())),
        None => (None, None),
    };
    PoolBody {
        pool_id: p.pool.id.to_string(),
        created_at: p.pool.created_at,
        expires_at: p.pool.expires_at,
        bytes: p.pool.bytes.len(),
        entries,
        by_state,
    }
}

/// A device as the API answers it. `detailed`: with per-pool entry counts by state.
async fn device_body(
    state: &AppState,
    d: DeviceRecord,
    detailed: bool,
) -> Result<DeviceBody, ApiError> {
    let view = state.gateway.fleet().view(d, detailed).await?;
    let d = &view.device;
    Ok(DeviceBody {
        device_id: d.id.to_string(),
        name: d.name.clone(),
        enabled: d.enabled,
        created_at: d.created_at,
        last_sync_counter: d.last_sync_counter,
        products: d.products.iter().map(product_body).collect(),
        pools: view.pools.iter().map(pool_body).collect(),
    })
}
