//! Pool provisioning and pool files.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lnedge_proto::ledger::EntryState;
use lnedge_proto::pool::Pool;
use lnedge_proto::PoolId;
use serde::Deserialize;
use serde_json::{json, Value};

use super::devices::{load_device, parse_device_id, parse_pool_id};
use super::error::{parse_json, ApiError};
use super::{now_secs, ApiBody, ApiPath, AppState};
use crate::accounting::RateSource;
use crate::provision::{provision, PoolPlan, Product};
use crate::store::{EntryRecord, PoolRecord, Price};

/// Most invoices per product in one pool.
pub const MAX_ENTRIES_PER_PRODUCT: u32 = 10_000;
/// Longest invoice lifetime, in days.
pub const MAX_EXPIRY_DAYS: u32 = 365;

/// `POST /v1/devices/{id}/pools` body.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ProvisionRequest {
    entries_per_product: u32,
    expiry_days: u32,
}

/// Decimals of a currency's minor unit (ISO 4217); 2 unless listed.
fn minor_unit_exponent(currency: &str) -> i32 {
    match currency {
        "BIF" | "CLP" | "DJF" | "GNF" | "ISK" | "JPY" | "KMF" | "KRW" | "PYG" | "RWF" | "UGX"
        | "VND" | "VUV" | "XAF" | "XOF" | "XPF" => 0,
        "BHD" | "IQD" | "JOD" | "KWD" | "LYD" | "OMR" | "TND" => 3,
        _ => 2,
    }
}

/// Converts a fiat price to msat at the rate `rates` gives now (rounded up to a whole msat).
pub(crate) async fn fiat_to_msat(
    rates: &dyn RateSource,
    product: u16,
    currency: &str,
    amount_minor: u64,
) -> Result<u64, ApiError> {
    let quote = rates.quote(currency).await.map_err(|e| {
        ApiError::unprocessable(
            "rate_unavailable",
            format!("product {product} is priced in {currency}: {e}"),
        )
    })?;
    if !(quote.rate_per_btc.is_finite() && quote.rate_per_btc > 0.0) {
        return Err(ApiError::unprocessable(
            "rate_unavailable",
            format!("the {currency} rate from {} is not a positive number", quote.source),
        ));
    }
    let major = amount_minor as f64 / 10f64.powi(minor_unit_exponent(currency));
    let msat = (major / quote.rate_per_btc * 1e11).ceil();
    if !(msat >= 1.0 && msat < u64::MAX as f64) {
        return Err(ApiError::unprocessable(
            "price_out_of_range",
            format!("product {product}: {amount_minor} {currency} minor units is {msat} msat"),
        ));
    }
    Ok(msat as u64)
}

/// Pools of at most this many entries are provisioned within the request (201); larger ones
/// run as a background job (202, see [`jobs`](super::jobs)).
pub const MAX_SYNC_PROVISION_ENTRIES: u64 = 200;

/// `POST /v1/devices/{id}/pools` → 201 `{pool_id, device_id, entries, bytes, …}` for a small pool,
/// 202 `{job_id, status, done, total, job}` for a large one (see [`MAX_SYNC_PROVISION_ENTRIES`]).
/// Every check that can refuse the request (4xx) runs before answering either way.
pub(crate) async fn create(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<Value>), ApiError> {
    let plan = prepare(&state, &id, &body).await?;
    let total = plan.total_entries();
    if total <= MAX_SYNC_PROVISION_ENTRIES {
        let pool = build(&state, &plan, |_, _| {}).await?;
        return Ok((StatusCode::CREATED, Json(pool)));
    }
    let job_id = state.jobs.start(total);
    let task_state = state.clone();
    let task_job = job_id.clone();
    tokio::spawn(async move {
        let jobs = task_state.jobs.clone();
        let result =
            build(&task_state, &plan, |done, total| jobs.progress(&task_job, done, total)).await;
        if let Err(e) = &result {
            tracing::warn!(job = %task_job, pool = %plan.pool_id, error = %e, "provisioning job failed");
        }
        task_state.jobs.finish(&task_job, result);
    });
    Ok((
        StatusCode::ACCEPTED,
        Json(json!({
            "job_id": job_id,
            "status": "running",
            "done": 0,
            "total": total,
            "job": format!("/v1/jobs/{job_id}"),
        })),
    ))
}

/// Validates a provisioning request and allocates its sequence numbers: the plan to build.
async fn prepare(state: &AppState, id: &str, body: &[u8]) -> Result<PoolPlan, ApiError> {
    let device_id = parse_device_id("id", id)?;
    let req: ProvisionRequest = parse_json(body)?;
    if req.entries_per_product == 0 || req.entries_per_product > MAX_ENTRIES_PER_PRODUCT {
        return Err(ApiError::field(
            "entries_per_product",
            format!("must be 1 to {MAX_ENTRIES_PER_PRODUCT}"),
        ));
    }
    if req.expiry_days == 0 || req.expiry_days > MAX_EXPIRY_DAYS {
        return Err(ApiError::field("expiry_days", format!("must be 1 to {MAX_EXPIRY_DAYS}")));
    }
    let device = load_device(state, device_id).await?;
    if !device.enabled {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "device_disabled",
            format!("device {device_id} is disabled: enable it before provisioning a pool"),
        ));
    }
    if device.products.is_empty() {
        return Err(ApiError::unprocessable(
            "no_products",
            format!("device {device_id} has no products"),
        ));
    }
    // Prices first (a missing rate must not burn sequence numbers), then sequence numbers.
    let mut prices = Vec::with_capacity(device.products.len());
    for p in &device.products {
        prices.push(match &p.price {
            Price::Msat(msat) => *msat,
            Price::Fiat { currency, amount_minor } => {
                fiat_to_msat(state.gateway.rates().as_ref(), p.id, currency, *amount_minor).await?
            }
        });
    }
    let mut products = Vec::with_capacity(device.products.len());
    for (p, price_msat) in device.products.iter().zip(prices) {
        let first_seq =
            state.gateway.store().allocate_seqs(device_id, p.id, req.entries_per_product).await?;
        products.push(Product {
            id: p.id,
            description: p.description.clone(),
            price_msat,
            first_seq,
        });
    }
    Ok(PoolPlan {
        device_id,
        pool_id: PoolId(rand::random()),
        products,
        entries_per_product: req.entries_per_product,
        expiry_secs: req.expiry_days * 86_400,
        refund_url_base: state.gateway.settings().refund_url_base.clone(),
    })
}

/// Creates the invoices of `plan`, stores the complete pool and returns its JSON description.
async fn build(
    state: &AppState,
    plan: &PoolPlan,
    progress: impl FnMut(u64, u64),
) -> Result<Value, ApiError> {
    let device_id = plan.device_id;
    let provisioned =
        provision(state.gateway.owner().as_ref(), state.gateway.pool_key(), plan, progress).await?;
    let pool = Pool::parse(&provisioned.bytes)
        .map_err(|e| ApiError::internal("the pool just built does not parse", &e))?;
    let mut entries = Vec::with_capacity(pool.len());
    for e in pool.entries() {
        let price = plan.products.iter().find(|p| p.id == e.product()).map_or(0, |p| p.price_msat);
        entries.push(EntryRecord {
            pool_id: plan.pool_id,
            index: u32::try_from(e.index())
                .map_err(|_| ApiError::internal("pool index", &e.index()))?,
            product: e.product(),
            seq: e.seq(),
            payment_hash: *e.payment_hash(),
            amount_msat: e.amount_msat().unwrap_or(price),
            state: EntryState::Unused,
        });
    }
    let created_at = now_secs();
    let record = PoolRecord {
        id: plan.pool_id,
        device_id,
        created_at,
        expires_at: created_at + u64::from(plan.expiry_secs),
        bytes: provisioned.bytes,
    };
    state.gateway.store().insert_pool(&record, &entries).await?;
    state
        .metrics
        .provisioned_entries
        .with_label_values(&[&device_id.to_string()])
        .inc_by(entries.len() as u64);
    Ok(json!({
            "pool_id": record.id.to_string(),
            "device_id": device_id.to_string(),
            "entries": entries.len(),
            "bytes": record.bytes.len(),
            "bolt11_bytes": provisioned.bolt11_bytes,
            "owner_node_id": hex::encode(provisioned.owner_node_id),
            "created_at": record.created_at,
            "expires_at": record.expires_at,
            "products": plan.products.iter().map(|p| json!({
                "id": p.id,
                "price_msat": p.price_msat,
                "first_seq": p.first_seq,
            })).collect::<Vec<_>>(),
            "file": format!("/v1/devices/{device_id}/pools/{}/file", record.id),
    }))
}

/// `GET /v1/devices/{id}/pools/{pool_id}/file` → the pool file (`application/octet-stream`).
pub(crate) async fn file(
    State(state): State<AppState>,
    ApiPath((id, pool_id)): ApiPath<(String, String)>,
) -> Result<Response, ApiError> {
    let device_id = parse_device_id("id", &id)?;
    let pool_id = parse_pool_id("pool_id", &pool_id)?;
    load_device(&state, device_id).await?;
    let pool = state
        .gateway
        .store()
        .pools(device_id)
        .await?
        .into_iter()
        .find(|p| p.id == pool_id)
        .ok_or_else(|| {
            ApiError::new(
                StatusCode::NOT_FOUND,
                "unknown_pool",
                format!("device {device_id} has no pool {pool_id}"),
            )
        })?;
    Ok((
        [
            (header::CONTENT_TYPE, "application/octet-stream".to_owned()),
            (header::CONTENT_DISPOSITION, format!("attachment; filename=\"{pool_id}.pool\"")),
        ],
        pool.bytes,
    )
        .into_response())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::accounting::FixedRates;

    #[tokio::test]
    async fn fiat_prices_convert_with_the_currency_minor_unit() {
        let rates =
            FixedRates::new([("EUR".to_owned(), 60_000.0), ("JPY".to_owned(), 9_000_000.0)]);
        // 1.50 EUR at 60 000 EUR/BTC = 2 500 sat.
        assert_eq!(fiat_to_msat(&rates, 1, "EUR", 150).await.expect("eur"), 2_500_000);
        // JPY has no minor unit: 150 JPY at 9 000 000 JPY/BTC = 1 666.67 sat, rounded up.
        assert_eq!(fiat_to_msat(&rates, 1, "JPY", 150).await.expect("jpy"), 1_666_667);
        let err = fiat_to_msat(&rates, 7, "USD", 100).await.expect_err("no usd rate");
        assert_eq!((err.status, err.code), (StatusCode::UNPROCESSABLE_ENTITY, "rate_unavailable"));
        assert!(err.message.contains("product 7") && err.message.contains("USD"), "{err}");
    }
}
