//! HTTP routes of [`crate::deputy`]: the LNURL-pay endpoints a wallet calls for a deputy sale,
//! the proof-of-payment fallback, the terminal's signed report and the operator's list.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /v1/deputy/{id}?p=<sealed>` | LUD-06 payRequest, fixed amount (min = max); LUD-01 errors (HTTP 200): `bad_device`, `unknown_device`, `device_disabled`, `bad_payload`, `not_authentic`, `stale_counter`, `counter_reused`, `already_paid`, `sale_expired`, `rate_unavailable`, `amount_out_of_range` |
//! | `GET /v1/deputy/{id}/callback?p=<sealed>&amount=<msat>` | `{pr, routes: [], successAction: {tag: "aes", description, ciphertext, iv}}`; also `unknown_sale`, `wrong_amount`, `lightning_node_failed` |
//! | `GET /v1/deputy/claim?invoice=&preimage=` | LUD-09 fallback: `{status: "OK", code, claim, text}` for a paid deputy invoice and its preimage |
//! | `POST /v1/deputy/{id}/sync` | terminal's report `{claimed: [counter…]}` + `X-Lnedge-Signature` → `{claimed, already_claimed, not_paid, unknown}` |
//! | `GET /v1/deputy/{id}/keys` | admin: `{device_id, seal_key, claim_key, sync_key, gateway_url}` (hex) for an enrolled device, to write into the terminal |
//! | `GET /v1/deputy/sales?device=&limit=` | admin: `{sales: [{device_id, counter, status, amount, currency, amount_msat, fiat, rate_per_btc, rate_source, payment_hash, created_at, paid_at, claimed_at}]}` |

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{middleware, Json, Router};
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use base64::Engine;
use lnedge_node::{InvoiceDescription, InvoiceParams, InvoiceState, PaymentHash, PaymentPreimage};
use lnedge_proto::deputy::{preimage_for, Currency, Sale, TerminalKeys};
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sync::{DeputyReport, DeputyReportAnswer, MAX_REPORTS};
use serde::Deserialize;
use serde_json::{json, Value};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::devices::parse_device_id;
use super::error::{parse_json, ApiError};
use super::ops::{route, Access, Route};
use super::{auth, now_secs, ApiBody, ApiPath, AppState};
use crate::deputy::{aes_success_action, amount_msat, claim_text, display_amount, metadata};
use crate::lnurl::LnurlError;
use crate::store::{BeginSale, ClaimMark, DeputySaleRecord, DeputyStatus, DeviceRecord};

/// This module's routes, chained after the core [`ROUTES`](super::ROUTES) by [`routes`](super::routes).
pub(crate) const ROUTES: &[Route] = &[
    route(
        "get",
        "/v1/deputy/{id}",
        Access::Open,
        "LNURL-pay request of a deputy sale (sealed payload p=)",
    ),
    route(
        "get",
        "/v1/deputy/{id}/callback",
        Access::Open,
        "LNURL-pay callback: the invoice and the AES claim",
    ),
    route(
        "get",
        "/v1/deputy/claim",
        Access::Open,
        "A paid deputy sale's claim from invoice + preimage (fallback)",
    ),
    route(
        "post",
        "/v1/deputy/{id}/sync",
        Access::DeviceSigned,
        "Terminal's report of claimed sales (device-signed)",
    ),
    route("get", "/v1/deputy/sales", Access::Admin, "Deputy sales with status, amounts and rates"),
    route(
        "get",
        "/v1/deputy/{id}/keys",
        Access::Admin,
        "A terminal's keys, for writing into it at enrolment",
    ),
];

/// This module's routes, merged into [`app`](super::app).
pub(crate) fn routes(state: &AppState) -> Router<AppState> {
    let admin = Router::new()
        .route("/v1/deputy/sales", get(list))
        .route("/v1/deputy/{id}/keys", get(keys))
        .route_layer(middleware::from_fn_with_state(state.clone(), auth::require_admin));
    Router::new()
        .route("/v1/deputy/claim", get(claim_fallback))
        .route("/v1/deputy/{id}", get(fetch))
        .route("/v1/deputy/{id}/callback", get(callback))
        .route("/v1/deputy/{id}/sync", post(sync))
        .merge(admin)
}

/// The LUD-10 description shown with the encrypted claim.
const CLAIM_DESCRIPTION: &str =
    "Your claim for the terminal: type the 8-digit code, or show the LNEDGE1 code as a QR.";

#[derive(Debug, Deserialize)]
struct SaleQuery {
    p: Option<String>,
    amount: Option<String>,
}

/// An authenticated sale and its device.
struct Opened {
    sale: Sale,
    device: DeviceRecord,
    p: String,
}

fn store_failed(e: impl std::fmt::Display) -> LnurlError {
    tracing::error!(error = %e, "deputy: the store failed");
    LnurlError::new("internal_error", "the service failed; try again")
}

/// Parses the device id and opens the sealed payload (the checks of both LNURL routes).
async fn open(state: &AppState, id: &str, p: Option<&str>) -> Result<Opened, LnurlError> {
    let device_id = parse_device_id("id", id)
        .map_err(|_| LnurlError::new("bad_device", format!("`{id}` is not a device id")))?;
    let p = p.ok_or_else(|| LnurlError::new("bad_payload", "the sale payload p= is missing"))?;
    let sealed = URL_SAFE_NO_PAD
        .decode(p.trim_end_matches('='))
        .map_err(|_| LnurlError::new("bad_payload", "the sale payload p= is not base64url"))?;
    let device = state
        .gateway
        .store()
        .device(device_id)
        .await
        .map_err(store_failed)?
        .ok_or_else(|| LnurlError::new("unknown_device", format!("no terminal {device_id}")))?;
    if !device.enabled {
        return Err(LnurlError::new("device_disabled", "this terminal is disabled"));
    }
    let keys = zeroize::Zeroizing::new(
        TerminalKeys::derive(state.gateway.device_master_key(), device_id).seal_key,
    );
    let sale = Sale::open(device_id, &keys, &sealed).map_err(|e| {
        LnurlError::new("not_authentic", format!("this sale was not issued by the terminal ({e})"))
    })?;
    Ok(Opened { sale, device, p: p.to_owned() })
}

/// The invoice's payment hash of `sale`.
fn payment_hash(state: &AppState, sale: &Sale) -> [u8; 32] {
    Sha256::digest(preimage_for(state.gateway.device_master_key(), sale)).into()
}

/// Requested → paid if the node settled the invoice (the operator's view stays current without
/// a watcher hook).
async fn refresh_paid(state: &AppState, record: &mut DeputySaleRecord) -> Result<(), LnurlError> {
    if record.status != DeputyStatus::Requested || record.invoice.is_none() {
        return Ok(());
    }
    match state.gateway.owner().invoice_state(PaymentHash(record.payment_hash)).await {
        Ok(InvoiceState::Settled { .. }) => {
            let now = now_secs();
            state
                .gateway
                .store()
                .mark_deputy_paid(&record.payment_hash, now)
                .await
                .map_err(store_failed)?;
            record.status = DeputyStatus::Paid;
            record.paid_at.get_or_insert(now);
        }
        Ok(_) => {}
        Err(e) => tracing::warn!(error = %e, "deputy: reading an invoice's state failed"),
    }
    Ok(())
}

/// Checks a stored sale against the opened payload and its state: same amount (else the
/// terminal reused a counter), not paid yet, quote not expired.
async fn check_existing(
    state: &AppState,
    sale: &Sale,
    record: &mut DeputySaleRecord,
) -> Result<(), LnurlError> {
    if record.amount != sale.amount || record.currency != sale.currency.as_str() {
        return Err(LnurlError::new(
            "counter_reused",
            format!("the terminal used sale number {} twice; start a new sale", sale.counter),
        ));
    }
    refresh_paid(state, record).await?;
    if record.status != DeputyStatus::Requested {
        return Err(LnurlError::new("already_paid", "this sale is already paid"));
    }
    let expires_at = record
        .created_at
        .saturating_add(u64::from(state.gateway.settings().deputy.quote_expiry_secs));
    if now_secs() > expires_at {
        return Err(LnurlError::new("sale_expired", "this sale expired; ask for a new one"));
    }
    Ok(())
}

/// The base URL callbacks are built from: `AppState::public_url`, or — when the operator did
/// not set one — the request's `Host` (`https://`, `http://` for loopback hosts).
fn base_url(state: &AppState, headers: &HeaderMap) -> String {
    if !state.gateway.settings().public_url.is_empty() {
        return state.gateway.settings().public_url.trim_end_matches('/').to_owned();
    }
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok()).unwrap_or("");
    let loopback =
        host.starts_with("127.") || host.starts_with("localhost") || host.starts_with("[::1]");
    format!("{}://{host}", if loopback { "http" } else { "https" })
}

fn pay_request(base: &str, opened: &Opened, record: &DeputySaleRecord) -> Response {
    let callback = format!("{base}/v1/deputy/{}/callback?p={}", opened.sale.device_id, opened.p);
    Json(json!({
        "tag": "payRequest",
        "callback": callback,
        "minSendable": record.amount_msat,
        "maxSendable": record.amount_msat,
        "metadata": metadata(&opened.sale, &opened.device.name),
        "commentAllowed": 0,
    }))
    .into_response()
}

/// `GET /v1/deputy/{id}?p=`: the LUD-06 payRequest of a sale.
async fn fetch(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    Query(query): Query<SaleQuery>,
) -> Response {
    let base = base_url(&state, &headers);
    match fetch_inner(&state, &base, &id, query).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn fetch_inner(
    state: &AppState,
    base: &str,
    id: &str,
    query: SaleQuery,
) -> Result<Response, LnurlError> {
    let opened = open(state, id, query.p.as_deref()).await?;
    let sale = opened.sale;
    if let Some(mut existing) = state
        .gateway
        .store()
        .deputy_sale(sale.device_id, sale.counter)
        .await
        .map_err(store_failed)?
    {
        check_existing(state, &sale, &mut existing).await?;
        return Ok(pay_request(base, &opened, &existing));
    }
    let quote = if sale.currency.is_sat() {
        None
    } else {
        Some(state.gateway.rates().quote(sale.currency.as_str()).await.map_err(|e| {
            LnurlError::new(
                "rate_unavailable",
                format!("no exchange rate for {}: {e}", sale.currency),
            )
        })?)
    };
    let msat = amount_msat(&sale, quote.as_ref(), state.gateway.settings().deputy.max_amount_msat)
        .map_err(|e| LnurlError::new("amount_out_of_range", e.to_string()))?;
    let record = DeputySaleRecord {
        device_id: sale.device_id,
        counter: sale.counter,
        amount: sale.amount,
        currency: sale.currency.as_str().to_owned(),
        amount_msat: msat,
        quote,
        payment_hash: payment_hash(state, &sale),
        created_at: now_secs(),
        invoice: None,
        status: DeputyStatus::Requested,
        paid_at: None,
        claimed_at: None,
    };
    match state.gateway.store().begin_deputy_sale(&record).await.map_err(store_failed)? {
        BeginSale::Created => Ok(pay_request(base, &opened, &record)),
        BeginSale::Existing(mut existing) => {
            check_existing(state, &sale, &mut existing).await?;
            Ok(pay_request(base, &opened, &existing))
        }
        BeginSale::Stale { highest } => Err(LnurlError::new(
            "stale_counter",
            format!(
                "sale number {} is older than the terminal's sale {highest}: replayed or stale",
                sale.counter
            ),
        )),
    }
}

/// `GET /v1/deputy/{id}/callback?p=&amount=`: the invoice, with the claim in a LUD-10 AES
/// success action.
async fn callback(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    Query(query): Query<SaleQuery>,
) -> Response {
    match callback_inner(&state, &id, query).await {
        Ok(response) => response,
        Err(e) => e.into_response(),
    }
}

async fn callback_inner(
    state: &AppState,
    id: &str,
    query: SaleQuery,
) -> Result<Response, LnurlError> {
    let opened = open(state, id, query.p.as_deref()).await?;
    let sale = opened.sale;
    let mut record = state
        .gateway
        .store()
        .deputy_sale(sale.device_id, sale.counter)
        .await
        .map_err(store_failed)?
        .ok_or_else(|| LnurlError::new("unknown_sale", "fetch the sale's LNURL first"))?;
    check_existing(state, &sale, &mut record).await?;
    let amount = query
        .amount
        .as_deref()
        .ok_or_else(|| LnurlError::new("wrong_amount", "amount= (msat) is required"))?;
    if amount.parse::<u64>().ok() != Some(record.amount_msat) {
        return Err(LnurlError::new(
            "wrong_amount",
            format!("this sale is exactly {} msat, not {amount}", record.amount_msat),
        ));
    }
    let preimage = zeroize::Zeroizing::new(preimage_for(state.gateway.device_master_key(), &sale));
    let invoice = match record.invoice.take() {
        Some(invoice) => invoice,
        None => {
            let description_hash: [u8; 32] =
                Sha256::digest(metadata(&sale, &opened.device.name).as_bytes()).into();
            let params = InvoiceParams {
                amount_msat: Some(record.amount_msat),
                description: InvoiceDescription::Hash(description_hash),
                expiry_secs: state.gateway.settings().deputy.quote_expiry_secs,
                min_final_cltv_expiry_delta: None,
            };
            let invoice = state
                .gateway
                .owner()
                .create_invoice(PaymentPreimage(*preimage), params)
                .await
                .map_err(|e| {
                    tracing::error!(error = %e, "deputy: the node failed to create an invoice");
                    LnurlError::new("lightning_node_failed", "the Lightning node failed; try again")
                })?;
            state
                .gateway
                .store()
                .set_deputy_invoice(sale.device_id, sale.counter, &invoice.to_string())
                .await
                .map_err(store_failed)?
        }
    };
    let plaintext = claim_text(state.gateway.device_master_key(), &sale);
    let (ciphertext, iv) = aes_success_action(&preimage, &plaintext, rand::random());
    Ok(Json(json!({
        "pr": invoice,
        "routes": [],
        "successAction": {
            "tag": "aes",
            "description": CLAIM_DESCRIPTION,
            "ciphertext": ciphertext,
            "iv": iv,
        },
    }))
    .into_response())
}

#[derive(Debug, Deserialize)]
struct ClaimQuery {
    invoice: Option<String>,
    preimage: Option<String>,
}

/// `GET /v1/deputy/claim?invoice=&preimage=`: the LUD-09 fallback for wallets that do not show
/// `aes` success actions. The proof is the invoice (its payment secret is known to the payer and
/// the payee, not to routing nodes) with its preimage (known to the payer, the payee and routing
/// nodes, not to bystanders); the claim is given for paid sales only.
async fn claim_fallback(
    State(state): State<AppState>,
    Query(query): Query<ClaimQuery>,
) -> Result<Json<Value>, ApiError> {
    let text = query.invoice.ok_or_else(|| ApiError::field("invoice", "is required"))?;
    let invoice =
        lnedge_node::parse_invoice(&text).map_err(|e| ApiError::field("invoice", e.to_string()))?;
    let preimage: [u8; 32] = hex::decode(query.preimage.as_deref().unwrap_or_default())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::field("preimage", "expected 64 hex characters"))?;
    let hash: [u8; 32] = Sha256::digest(preimage).into();
    let invoice_hash: &[u8; 32] = invoice.payment_hash().as_ref();
    let refused =
        || ApiError::unprocessable("not_a_proof", "this is not a paid deputy sale's proof");
    if !bool::from(hash.ct_eq(invoice_hash)) {
        return Err(refused());
    }
    let mut record = state.gateway.store().deputy_sale_by_hash(&hash).await?.ok_or_else(refused)?;
    let stored = record.invoice.clone().unwrap_or_default();
    let same =
        Sha256::digest(stored.as_bytes()).ct_eq(&Sha256::digest(invoice.to_string().as_bytes()));
    if !bool::from(same) {
        return Err(refused());
    }
    refresh_paid(&state, &mut record).await.map_err(|e| ApiError::internal("deputy", &e))?;
    if record.status == DeputyStatus::Requested {
        return Err(ApiError::unprocessable("not_paid", "this sale is not paid yet"));
    }
    let currency = Currency::parse(&record.currency)
        .map_err(|e| ApiError::internal("deputy: stored currency", &e))?;
    let sale = Sale {
        device_id: record.device_id,
        counter: record.counter,
        amount: record.amount,
        currency,
    };
    let text = claim_text(state.gateway.device_master_key(), &sale);
    let (code, claim) = text.split_once(' ').unwrap_or((&text, ""));
    Ok(Json(json!({ "status": "OK", "code": code, "claim": claim, "text": text })))
}

/// `POST /v1/deputy/{id}/sync`: the terminal reports the sales it accepted a claim for. Signed
/// like the pool sync (`X-Lnedge-Signature`, device sync key); marking is idempotent, so a
/// replayed report changes nothing.
async fn sync(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<Json<DeputyReportAnswer>, ApiError> {
    let device = parse_device_id("id", &id)?;
    auth::verify_sync_signature(state.gateway.device_master_key(), &device, &headers, &body)?;
    let report: DeputyReport = parse_json(&body)?;
    if report.claimed.len() > MAX_REPORTS {
        return Err(ApiError::field(
            "claimed",
            format!("at most {MAX_REPORTS} counters per report"),
        ));
    }
    let (mut claimed, mut already, mut not_paid, mut unknown) = (0u32, 0u32, vec![], vec![]);
    for counter in report.claimed {
        if let Some(mut record) = state.gateway.store().deputy_sale(device, counter).await? {
            refresh_paid(&state, &mut record)
                .await
                .map_err(|e| ApiError::internal("deputy", &e))?;
        }
        match state.gateway.store().mark_deputy_claimed(device, counter, now_secs()).await? {
            ClaimMark::Claimed => claimed += 1,
            ClaimMark::AlreadyClaimed => already += 1,
            ClaimMark::NotPaid => {
                tracing::warn!(%device, counter, "deputy: terminal accepted an unpaid sale");
                not_paid.push(counter);
            }
            ClaimMark::Unknown => unknown.push(counter),
        }
    }
    Ok(Json(DeputyReportAnswer { claimed, already_claimed: already, not_paid, unknown }))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    device: Option<String>,
    limit: Option<u32>,
}

fn sale_json(record: &DeputySaleRecord) -> Value {
    let fiat = Currency::parse(&record.currency)
        .ok()
        .filter(|c| !c.is_sat())
        .map(|c| display_amount(record.amount, &c));
    json!({
        "device_id": record.device_id.to_string(),
        "counter": record.counter,
        "status": record.status.as_str(),
        "amount": record.amount,
        "currency": record.currency,
        "amount_msat": record.amount_msat,
        "fiat": fiat,
        "rate_per_btc": record.quote.as_ref().map(|q| q.rate_per_btc),
        "rate_source": record.quote.as_ref().map(|q| q.source.clone()),
        "payment_hash": hex::encode(record.payment_hash),
        "invoiced": record.invoice.is_some(),
        "created_at": record.created_at,
        "paid_at": record.paid_at,
        "claimed_at": record.claimed_at,
    })
}

/// `GET /v1/deputy/sales?device=&limit=` (admin): newest first, with requested sales whose
/// invoice the node settled moved to paid on the way.
async fn list(
    State(state): State<AppState>,
    Query(query): Query<ListQuery>,
) -> Result<Json<Value>, ApiError> {
    let device: Option<DeviceId> =
        query.device.as_deref().map(|d| parse_device_id("device", d)).transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 10_000);
    let mut sales = state.gateway.store().deputy_sales(device, limit).await?;
    for record in &mut sales {
        refresh_paid(&state, record).await.map_err(|e| ApiError::internal("deputy", &e))?;
    }
    Ok(Json(json!({ "sales": sales.iter().map(sale_json).collect::<Vec<_>>() })))
}

/// `GET /v1/deputy/{id}/keys` (admin): what a terminal is provisioned with. The preimage key is
/// never handed out.
async fn keys(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<Value>, ApiError> {
    let device = parse_device_id("id", &id)?;
    super::devices::load_device(&state, device).await?;
    let keys = TerminalKeys::derive(state.gateway.device_master_key(), device);
    let sync_key =
        zeroize::Zeroizing::new(device_sync_key(state.gateway.device_master_key(), &device));
    Ok(Json(json!({
        "device_id": device.to_string(),
        "seal_key": hex::encode(keys.seal_key),
        "claim_key": hex::encode(keys.claim_key),
        "sync_key": hex::encode(*sync_key),
        "gateway_url": state.gateway.settings().public_url,
    })))
}
