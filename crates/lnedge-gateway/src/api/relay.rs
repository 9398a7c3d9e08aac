//! HTTP routes of [`crate::relay`] (the async relay; `docs/relay.md`).
//!
//! | route | who | body → answer |
//! | --- | --- | --- |
//! | `POST /v1/payees` | admin | `{name}` → 201 `{payee_id, payee_key}` (the key is shown once) |
//! | `GET /v1/payees/{id}` | admin | → `{payee_id, name, webhook_url, unused_hashes, payments: [payment]}` |
//! | `GET /v1/relay/payments` | admin | → `{current_height, forward_node, settings, payments: [payment]}` (every payment, deadlines and blocks left) |
//! | `POST /v1/relay/payments/{hash}/cancel` | admin | → `payment` (`cancelled`, or `cancelling` while the node is unreachable); 409 `wrong_state` when forwarding or ended; 404 `unknown_payment` |
//! | `POST /v1/payees/{id}/hashes` | payee | `{payment_hashes: [hex]}` → `{added, unused}` |
//! | `PUT /v1/payees/{id}/wake` | payee | `{webhook_url \| null}` → `{payee_id, webhook_url}` |
//! | `GET /v1/payees/{id}/pending` | payee | → `{current_height, payments: [{payment_hash, state, amount_msat, held_amount_msat, claim_amount_msat, description, claim_deadline_height}]}` |
//! | `POST /v1/payees/{id}/claims` | payee | `{bolt11}` → 202 `{payment_hash, state}`; 409 `wrong_state`, 422 `cltv_budget_too_small` |
//! | `POST /v1/payees/{id}/invoices` | payer | `{amount_msat, description?}` → 201 `{payment_hash, bolt11, amount_msat, expires_at}`; 409 `no_unused_hash`; 429 `too_many_requests` (per client, `payer_invoices_per_minute`) |
//!
//! Payee routes are signed with the payee's key ([`lnedge_wire::sign`]: `X-Lnedge-Timestamp`,
//! `X-Lnedge-Signature` over method, path, timestamp and body), checked in constant time before
//! the body is parsed.

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, Uri};
use axum::Json;
use lnedge_wire::relay::{
    ClaimAccepted, ClaimRequest, CommitRequest, CommitResult, PendingList, PendingPayment,
    RegisterRequest, Registration, WakeRequest, WakeResult,
};
use lnedge_wire::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use serde::{Deserialize, Serialize};

use super::error::{parse_json, ApiError};
use super::route::{endpoint, Access, Endpoint};
use super::{ApiBody, ApiPath, AppState};
use crate::relay::{PayeeAuthError, Relay, RelayError};
use crate::store::relay::RelayPayment;

/// This module's route table (method, path, access, summary, handler), chained after the core
/// table by [`routes`](super::routes) and [`app`](super::app).
pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            "post",
            "/v1/payees",
            Access::Admin,
            "Register a payee of the async relay (admin); answers its key once",
            register,
        ),
        endpoint(
            "get",
            "/v1/payees/{id}",
            Access::Admin,
            "A payee with its unused hashes and relay payments (admin)",
            show,
        ),
        endpoint(
            "get",
            "/v1/relay/payments",
            Access::Admin,
            "Every relay payment with its state, deadline and blocks left (admin)",
            list,
        ),
        endpoint(
            "post",
            "/v1/relay/payments/{hash}/cancel",
            Access::Admin,
            "Cancel a relay payment early: the payer's HTLCs are failed back (admin)",
            cancel,
        ),
        endpoint(
            "post",
            "/v1/payees/{id}/hashes",
            Access::PayeeSigned,
            "Commit payment hashes whose preimages the payee keeps (payee-signed)",
            commit,
        ),
        endpoint(
            "put",
            "/v1/payees/{id}/wake",
            Access::PayeeSigned,
            "Set or clear the payee's wake-up webhook (payee-signed)",
            wake,
        ),
        endpoint(
            "get",
            "/v1/payees/{id}/pending",
            Access::PayeeSigned,
            "Payments held for the payee (payee-signed)",
            pending,
        ),
        endpoint(
            "post",
            "/v1/payees/{id}/claims",
            Access::PayeeSigned,
            "Hand in an invoice for a held payment's hash (payee-signed)",
            claim,
        ),
        endpoint(
            "post",
            "/v1/payees/{id}/invoices",
            Access::Open,
            "A hold invoice paying the payee, completed when it wakes (payer)",
            invoice,
        ),
    ]
}

impl From<RelayError> for ApiError {
    fn from(e: RelayError) -> Self {
        let message = e.to_string();
        match e {
            RelayError::UnknownPayee(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_payee", message)
            }
            RelayError::UnknownPayment { .. } | RelayError::NotFound(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_payment", message)
            }
            RelayError::NoUnusedHash(_) => {
                ApiError::new(StatusCode::CONFLICT, "no_unused_hash", message)
            }
            RelayError::Invalid { field, message } => ApiError::field(field, message),
            RelayError::WrongState { .. } => {
                ApiError::new(StatusCode::CONFLICT, "wrong_state", message)
            }
            RelayError::CltvBudget { .. } => {
                ApiError::unprocessable("cltv_budget_too_small", message)
            }
            RelayError::Conflict(_) => {
                ApiError::new(StatusCode::CONFLICT, "concurrent_update", message)
            }
            RelayError::Store(e) => e.into(),
            RelayError::Node(e) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "lightning_node_failed",
                format!("the gateway's node: {e}"),
            ),
        }
    }
}

/// Checks the payee's signature of this request ([`Relay::verify_payee_request`]).
fn verify_payee(
    relay: &Relay,
    payee_id: &str,
    method: &str,
    uri: &Uri,
    headers: &HeaderMap,
    body: &[u8],
) -> Result<(), ApiError> {
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    relay
        .verify_payee_request(
            payee_id,
            method,
            uri.path(),
            header(TIMESTAMP_HEADER),
            header(SIGNATURE_HEADER),
            body,
        )
        .map_err(|e| match e {
            PayeeAuthError::Missing => ApiError::unauthorized(
                "missing_signature",
                format!(
                    "payee requests need the {TIMESTAMP_HEADER} and {SIGNATURE_HEADER} headers"
                ),
            ),
            PayeeAuthError::Stale => ApiError::unauthorized("stale_signature", e.to_string()),
            _ => ApiError::unauthorized("bad_signature", e.to_string()),
        })
}

/// A 32-byte hash given as 64 hex characters in `field` (also the dashboard's relay actions).
pub(crate) fn parse_hash(field: &'static str, text: &str) -> Result<[u8; 32], ApiError> {
    hex::decode(text.trim())
        .ok()
        .and_then(|b| <[u8; 32]>::try_from(b).ok())
        .ok_or_else(|| ApiError::field(field, format!("{text:?} is not 64 hex characters")))
}

/// A relay payment as the admin routes show it, with the blocks left before its claim deadline.
#[derive(Debug, Serialize)]
struct PaymentView {
    payment_hash: String,
    payee_id: String,
    state: &'static str,
    amount_msat: u64,
    description: String,
    bolt11: String,
    created_at: u64,
    expires_at: u64,
    held_amount_msat: Option<u64>,
    fee_msat: Option<u64>,
    claim_deadline_height: Option<u32>,
    blocks_left: Option<i64>,
    held_at: Option<u64>,
    attempts: u32,
    notified: bool,
    notify_attempts: u32,
    reason: Option<String>,
    updated_at: u64,
}

impl PaymentView {
    fn new(p: &RelayPayment, height: u32) -> Self {
        PaymentView {
            payment_hash: hex::encode(p.payment_hash),
            payee_id: p.payee_id.clone(),
            state: p.state.name(),
            amount_msat: p.amount_msat,
            description: p.description.clone(),
            bolt11: p.bolt11.clone(),
            created_at: p.created_at,
            expires_at: p.expires_at,
            held_amount_msat: p.held_amount_msat,
            fee_msat: p.fee_msat,
            claim_deadline_height: p.claim_deadline_height,
            blocks_left: p.claim_deadline_height.map(|d| i64::from(d) - i64::from(height)),
            held_at: p.held_at,
            attempts: p.attempts,
            notified: p.notified,
            notify_attempts: p.notify_attempts,
            reason: p.reason.clone(),
            updated_at: p.updated_at,
        }
    }
}

/// `GET /v1/payees/{id}` answer.
#[derive(Debug, Serialize)]
pub(crate) struct PayeeView {
    payee_id: String,
    name: String,
    webhook_url: Option<String>,
    created_at: u64,
    unused_hashes: u64,
    payments: Vec<PaymentView>,
}

/// `GET /v1/relay/payments` answer.
#[derive(Debug, Serialize)]
pub(crate) struct RelayList {
    current_height: u32,
    /// The node that pays the payees when it is not the holding node (ADR 0012); `null` when
    /// the holding node pays them.
    forward_node: Option<ForwardNode>,
    settings: SettingsView,
    payments: Vec<PaymentView>,
}

#[derive(Debug, Serialize)]
struct ForwardNode {
    backend: &'static str,
    node_id: String,
}

/// The relay's settings that shape its payments.
#[derive(Debug, Serialize)]
struct SettingsView {
    fee_base_msat: u64,
    fee_ppm: u64,
    max_hold_secs: u64,
    hold_final_cltv_expiry_delta: u16,
    cancel_margin_blocks: u32,
    safety_margin_blocks: u32,
    route_budget_blocks: u32,
    invoice_expiry_secs: u32,
    max_attempts: u32,
    payer_invoices_per_minute: u32,
}

/// `POST /v1/payees/{id}/invoices` answer.
#[derive(Debug, Serialize)]
pub(crate) struct PayerInvoice {
    payment_hash: String,
    bolt11: String,
    amount_msat: u64,
    expires_at: u64,
}

async fn register(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<Registration>), ApiError> {
    let req: RegisterRequest = parse_json(&body)?;
    let (payee, key) = state.gateway.relay().register(&req.name).await?;
    Ok((
        StatusCode::CREATED,
        Json(Registration { payee_id: payee.id, payee_key: hex::encode(key), name: payee.name }),
    ))
}

async fn show(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<PayeeView>, ApiError> {
    let relay = state.gateway.relay();
    let (payee, unused, payments) = relay.payee_view(&id).await?;
    let height = relay.height().await?;
    Ok(Json(PayeeView {
        payee_id: payee.id,
        name: payee.name,
        webhook_url: payee.webhook_url,
        created_at: payee.created_at,
        unused_hashes: unused,
        payments: payments.iter().map(|p| PaymentView::new(p, height)).collect(),
    }))
}

async fn list(State(state): State<AppState>) -> Result<Json<RelayList>, ApiError> {
    let relay = state.gateway.relay();
    let height = relay.height().await?;
    let s = relay.settings();
    let payments = relay.payments().await?;
    let forward_node = match &state.gateway.relay_forward_node() {
        Some(node) => {
            let info = node.info().await.map_err(crate::relay::RelayError::from)?;
            Some(ForwardNode { backend: node.backend_name(), node_id: info.node_id.to_string() })
        }
        None => None,
    };
    Ok(Json(RelayList {
        current_height: height,
        forward_node,
        settings: SettingsView {
            fee_base_msat: s.fee_base_msat,
            fee_ppm: s.fee_ppm,
            max_hold_secs: s.max_hold_secs,
            hold_final_cltv_expiry_delta: s.hold_final_cltv_expiry_delta,
            cancel_margin_blocks: s.cancel_margin_blocks,
            safety_margin_blocks: s.safety_margin_blocks,
            route_budget_blocks: s.route_budget_blocks,
            invoice_expiry_secs: s.invoice_expiry_secs,
            max_attempts: s.max_attempts,
            payer_invoices_per_minute: s.payer_invoices.per_minute,
        },
        payments: payments.iter().map(|p| PaymentView::new(p, height)).collect(),
    }))
}

async fn cancel(
    State(state): State<AppState>,
    ApiPath(hash): ApiPath<String>,
) -> Result<Json<PaymentView>, ApiError> {
    let hash = parse_hash("hash", &hash)?;
    let relay = state.gateway.relay();
    let payment = relay.cancel(&hash, crate::operators::ADMIN_TOKEN_ACTOR).await?;
    let height = relay.height().await?;
    Ok(Json(PaymentView::new(&payment, height)))
}

async fn commit(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<Json<CommitResult>, ApiError> {
    let relay = state.gateway.relay();
    verify_payee(&relay, &id, "POST", &uri, &headers, &body)?;
    let req: CommitRequest = parse_json(&body)?;
    let hashes = req
        .payment_hashes
        .iter()
        .map(|h| parse_hash("payment_hashes", h))
        .collect::<Result<Vec<_>, _>>()?;
    let (added, unused) = relay.commit(&id, &hashes).await?;
    Ok(Json(CommitResult { added, unused }))
}

async fn wake(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<Json<WakeResult>, ApiError> {
    let relay = state.gateway.relay();
    verify_payee(&relay, &id, "PUT", &uri, &headers, &body)?;
    let req: WakeRequest = parse_json(&body)?;
    relay.set_webhook(&id, req.webhook_url.as_deref()).await?;
    Ok(Json(WakeResult { payee_id: id, webhook_url: req.webhook_url }))
}

async fn pending(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
) -> Result<Json<PendingList>, ApiError> {
    let relay = state.gateway.relay();
    verify_payee(&relay, &id, "GET", &uri, &headers, b"")?;
    let payments = relay.pending(&id).await?;
    let current_height = relay.height().await?;
    let payments = payments
        .into_iter()
        .map(|p| PendingPayment {
            payment_hash: hex::encode(p.payment_hash),
            state: p.state.name().to_owned(),
            amount_msat: p.amount_msat,
            held_amount_msat: p.held_msat(),
            claim_amount_msat: p.claim_amount_msat(),
            description: p.description,
            claim_deadline_height: p.claim_deadline_height,
        })
        .collect();
    Ok(Json(PendingList { current_height, payments }))
}

async fn claim(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    uri: Uri,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<ClaimAccepted>), ApiError> {
    let relay = state.gateway.relay();
    verify_payee(&relay, &id, "POST", &uri, &headers, &body)?;
    let req: ClaimRequest = parse_json(&body)?;
    let payment = relay.claim(&id, &req.bolt11).await?;
    Ok((
        StatusCode::ACCEPTED,
        Json(ClaimAccepted {
            payment_hash: hex::encode(payment.payment_hash),
            state: payment.state.name().to_owned(),
        }),
    ))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct InvoiceRequest {
    amount_msat: u64,
    #[serde(default)]
    description: Option<String>,
}

async fn invoice(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    extensions: axum::http::Extensions,
    headers: HeaderMap,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<PayerInvoice>), ApiError> {
    let client = super::client::client_from(&extensions, &headers, &state.trusted_proxies);
    let budget = state.gateway.settings().relay.payer_invoices;
    state.gateway.limits().spend("relay-payer", &client, budget).await.map_err(|e| {
        ApiError::limited(e, "too_many_requests", "too many invoices asked for by this client")
    })?;
    let req: InvoiceRequest = parse_json(&body)?;
    let description = req.description.unwrap_or_else(|| "payment to an offline device".into());
    let payment = state.gateway.relay().offer(&id, req.amount_msat, &description).await?;
    Ok((
        StatusCode::CREATED,
        Json(PayerInvoice {
            payment_hash: hex::encode(payment.payment_hash),
            bolt11: payment.bolt11,
            amount_msat: payment.amount_msat,
            expires_at: payment.expires_at,
        }),
    ))
}
