//! HTTP routes of [`crate::refunds`].
//!
//! | route | who | body / query → answer |
//! | --- | --- | --- |
//! | `GET /v1/refunds?v=&a=` | customer (browser) | → the refund page (HTML); a wallet (no `text/html` in `Accept`) gets a LUD-01 error naming the page |
//! | `POST /v1/refunds/claim` | customer | `{voucher, invoice, preimage}` → `{state, amount_msat, payment_hash, k1, lnurl, lnurlw, withdraw_url, expires_at}`; 409 `not_paid`, `failure_not_known`, `dispensed`, `refund_paid`, `refund_claimed`; 410 `refund_expired`; 422 proof failures; 429 |
//! | `GET /v1/refunds/withdraw?k1=` | wallet | → LUD-03 `withdrawRequest` |
//! | `GET /v1/refunds/withdraw/callback?k1=&pr=` | wallet | → `{"status":"OK"}` (payout runs) or a LUD-01 error |
//! | `GET /v1/reports/refunds` | admin | → `{refunds: [...], totals: {state: {count, amount_msat}}}` |
//! | `POST /v1/devices/{id}/attestation` | admin | `{enabled}` → `{device_id, attestation, attestation_key?}` |
//! | `POST /v1/proofs/verify` | web app | `{invoice, preimage}` → `{valid, payment_hash, amount_msat, description, payee, paid, paid_at}`; 422, 429 |
//! | `POST /v1/sessions` | web app | `{invoice, preimage}` → 201 `{token, subject, payment_hash, expires_at}`; 402 `not_paid`; 422, 429 |
//! | `GET /v1/sessions/current` | web app | `Authorization: Bearer <token>` → `{subject, payment_hash, expires_at}`; 401 |
//! | `GET /v1/auth/lnurl` | web app | → `{k1, lnurl, keyauth, url, token, expires_at}` (the token becomes a live session once a wallet signs) |
//! | `GET /v1/auth/lnurl/callback?tag=login&k1=&sig=&key=` | wallet | → LUD-04 `{"status":"OK"}` or a LUD-01 error |

use std::collections::{BTreeMap, HashMap};

use axum::extract::{Query, Request, State};
use axum::http::header::{ACCEPT, AUTHORIZATION, CONTENT_TYPE};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use lnedge_proto::DeviceId;
use lnedge_wire::lnurl::{WithdrawRequest, WITHDRAW_REQUEST_TAG};
use lnedge_wire::refunds::{OpenedRefund, Refund, RefundReport, RefundTotal};
use serde::{Deserialize, Serialize};

use super::error::{parse_json, ApiError};
use super::route::{endpoint, Access, Endpoint};
use super::{ApiBody, ApiPath, AppState};
use crate::lnurl::{self, LnurlError, Lud17};
use crate::refunds::{hex32, page, parse_voucher, IssuedSession, LoginError, RefundError};
use crate::store::refunds::{AuthOutcome, RefundRecord, RefundState};

/// This module's route table (method, path, access, summary, handler), chained after the core
/// table by [`routes`](super::routes) and [`app`](super::app).
pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            "get",
            "/v1/refunds",
            Access::Open,
            "Refund page a machine's refund QR opens (HTML)",
            voucher_page,
        ),
        endpoint(
            "post",
            "/v1/refunds/claim",
            Access::Open,
            "Prove payment for a refund voucher; get its LNURL-withdraw",
            claim,
        ),
        endpoint(
            "get",
            "/v1/refunds/withdraw",
            Access::Wallet,
            "LNURL-withdraw request of a refund (LUD-03)",
            withdraw_request,
        ),
        endpoint(
            "get",
            "/v1/refunds/withdraw/callback",
            Access::Wallet,
            "LNURL-withdraw callback: pays the refund",
            withdraw_callback,
        ),
        endpoint(
            "get",
            "/v1/reports/refunds",
            Access::Admin,
            "Refunds and their states (admin)",
            list,
        ),
        endpoint(
            "post",
            "/v1/devices/{id}/attestation",
            Access::Admin,
            "Enrol a device with an attestation key (admin)",
            attestation,
        ),
        endpoint(
            "post",
            "/v1/proofs/verify",
            Access::Open,
            "Verify a proof of payment (invoice + preimage)",
            verify,
        ),
        endpoint(
            "post",
            "/v1/sessions",
            Access::Open,
            "Issue a session bound to a proof of payment",
            create_session,
        ),
        endpoint(
            "get",
            "/v1/sessions/current",
            Access::Session,
            "The session of a bearer token",
            current_session,
        ),
        endpoint(
            "get",
            "/v1/auth/lnurl",
            Access::Open,
            "Start an LNURL-auth login (LUD-04)",
            auth_challenge,
        ),
        endpoint(
            "get",
            "/v1/auth/lnurl/callback",
            Access::Wallet,
            "LNURL-auth callback (wallet signature)",
            auth_callback,
        ),
    ]
}

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.as_ref().ok().and_then(|q| q.0.get(name)).map(String::as_str)
}

/// The client a failure is counted against (see [`super::client`]).
fn client_of(state: &AppState, request: &Request) -> String {
    super::client::client_from(request.extensions(), request.headers(), &state.trusted_proxies)
}

/// Runs a proof-checking step under the client's failure budget: 429 when it is spent; a bad
/// proof spends one token.
async fn limited<T, F>(state: &AppState, client: &str, f: F) -> Result<T, ApiError>
where
    F: std::future::Future<Output = Result<T, RefundError>>,
{
    let (limits, budget) =
        (state.gateway.limits(), state.gateway.settings().refunds.proof_failures);
    limits.check("proof-failures", client, budget).await.map_err(|e| {
        ApiError::limited(e, "too_many_failures", "too many failed proofs from this client")
    })?;
    match f.await {
        Ok(v) => Ok(v),
        Err(e @ RefundError::Proof(_)) => {
            limits.failed("proof-failures", client, budget).await?;
            Err(e.into())
        }
        Err(e) => Err(e.into()),
    }
}

/// An absolute URL of this gateway: `public_url`, or when that is empty the origin of the refund
/// URL base (`https://gw.example/v1/refunds` → `https://gw.example`). Without either there is no
/// URL a wallet could reach: 422 `no_public_url`, never a relative link.
fn url(state: &AppState, path: &str) -> Result<String, ApiError> {
    let fallback = state
        .gateway
        .settings()
        .refund_url_base
        .trim_end_matches('/')
        .trim_end_matches("/v1/refunds");
    let base = if fallback.starts_with("https://") || fallback.starts_with("http://") {
        super::public_url(state, "wallets follow this link").unwrap_or(fallback)
    } else {
        super::public_url(state, "wallets follow this link")?
    };
    Ok(format!("{base}{path}"))
}

// ---- refunds ------------------------------------------------------------------------------

/// `GET /v1/refunds?v=…[&a=…]`: the page for browsers, a LUD-01 error naming it for wallets.
async fn voucher_page(
    State(state): State<AppState>,
    headers: HeaderMap,
    params: Params,
) -> Response {
    let wants_html =
        headers.get(ACCEPT).and_then(|v| v.to_str().ok()).is_some_and(|v| v.contains("text/html"));
    let Some(v) = param(&params, "v") else {
        return ApiError::field("v", "the refund voucher (v=lnedge1…) is missing").into_response();
    };
    let query = match param(&params, "a") {
        Some(a) => format!("v={v}&a={a}"),
        None => format!("v={v}"),
    };
    let voucher = match parse_voucher(&format!("?{query}")) {
        Ok((voucher, _)) => voucher,
        Err(e) => return ApiError::from(e).into_response(),
    };
    if !wants_html {
        let page = match url(&state, &format!("/v1/refunds?{query}")) {
            Ok(page) => page,
            Err(e) => return LnurlError::new(e.code, e.message).into_response(),
        };
        return LnurlError::new(
            "proof_required",
            format!("open {page} in a browser to prove your payment, then withdraw"),
        )
        .into_response();
    }
    let status = match state.gateway.refunds().of_payment(&voucher.payment_hash).await {
        Ok(Some(r)) => r.state.as_str(),
        Ok(None) => "not claimed yet",
        Err(e) => return ApiError::from(e).into_response(),
    };
    (
        [(CONTENT_TYPE, "text/html; charset=utf-8")],
        page::refund_page(&query, voucher.amount_msat, status),
    )
        .into_response()
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ClaimRequest {
    voucher: String,
    invoice: String,
    preimage: String,
    #[serde(default)]
    attestation: Option<String>,
}

fn refund(r: &RefundRecord) -> Refund {
    Refund {
        payment_hash: hex::encode(r.payment_hash),
        device_id: r.device_id.to_string(),
        pool_id: r.pool_id.to_string(),
        index: r.index,
        amount_msat: r.amount_msat,
        state: r.state.as_str().to_owned(),
        attested: r.attested,
        created_at: r.created_at,
        expires_at: r.expires_at,
        claimed_at: r.claimed_at,
        paid_at: r.paid_at,
        last_error: r.last_error.clone(),
    }
}

/// `POST /v1/refunds/claim`.
async fn claim(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<OpenedRefund>, ApiError> {
    let client = client_of(&state, &request);
    let ApiBody(body) =
        <ApiBody as axum::extract::FromRequest<AppState>>::from_request(request, &state).await?;
    let req: ClaimRequest = parse_json(&body)?;
    url(&state, "")?; // no refund is opened that no wallet could withdraw
    let (voucher, mut tag) = parse_voucher(&req.voucher)?;
    if let Some(a) = &req.attestation {
        tag = Some(hex::decode(a.trim()).map_err(|_| ApiError::field("attestation", "not hex"))?);
    }
    let opened = limited(
        &state,
        &client,
        state.gateway.refunds().open(&voucher, tag.as_deref(), &req.invoice, &req.preimage),
    )
    .await?;
    let k1 = hex::encode(opened.k1);
    let withdraw_url = url(&state, &format!("/v1/refunds/withdraw?k1={k1}"))?;
    Ok(Json(OpenedRefund {
        refund: refund(&opened.refund),
        k1,
        lnurl: lnurl::encode(&withdraw_url),
        lnurlw: lnurl::lud17(&withdraw_url, Lud17::Withdraw),
        withdraw_url,
    }))
}

/// `GET /v1/refunds/withdraw?k1=`: LUD-03 `withdrawRequest` for a due refund.
async fn withdraw_request(State(state): State<AppState>, params: Params) -> Response {
    let Some(k1) = param(&params, "k1").and_then(hex32) else {
        return LnurlError::new("bad_k1", "k1 must be 64 hex digits").into_response();
    };
    let refund = match state.gateway.refunds().by_k1(&k1).await {
        Ok(Some(r)) => r,
        Ok(None) => return LnurlError::new("unknown_k1", "no refund has this k1").into_response(),
        Err(e) => {
            tracing::error!(error = %e, "withdraw request: the store failed");
            return LnurlError::new("internal", "try again").into_response();
        }
    };
    // LUD-03 "zero balance": nothing left to withdraw is a success with 0, not an error, so the
    // wallet can tell "nothing to withdraw" from a failure; the description says why.
    let (amount_msat, description) = if refund.state != RefundState::Due
        || refund.expires_at <= state.gateway.now_secs()
    {
        let reason = match refund.state {
            RefundState::Paid => "this refund was already paid out",
            RefundState::Claimed => "this refund is being paid out",
            _ => "this refund expired",
        };
        (0, format!("Nothing to withdraw: {reason}"))
    } else {
        (refund.amount_msat, format!("Refund of a failed vend ({} sat)", refund.amount_msat / 1000))
    };
    let callback = match url(&state, "/v1/refunds/withdraw/callback") {
        Ok(callback) => callback,
        Err(e) => return LnurlError::new(e.code, e.message).into_response(),
    };
    Json(WithdrawRequest {
        tag: WITHDRAW_REQUEST_TAG.to_owned(),
        callback,
        k1: hex::encode(k1),
        default_description: description,
        min_withdrawable: amount_msat,
        max_withdrawable: amount_msat,
        pin_limit: None,
    })
    .into_response()
}

/// `GET /v1/refunds/withdraw/callback?k1=&pr=`.
async fn withdraw_callback(State(state): State<AppState>, params: Params) -> Response {
    let (Some(k1), Some(pr)) = (param(&params, "k1"), param(&params, "pr")) else {
        return LnurlError::new("missing_parameter", "k1 and pr are required").into_response();
    };
    match state.gateway.refunds().claim(k1, pr).await {
        Ok(_) => super::error::lnurl_ok(),
        Err(e @ (RefundError::Store(_) | RefundError::Internal(_) | RefundError::Node(_))) => {
            tracing::error!(error = %e, "refund claim: the gateway failed");
            LnurlError::new("internal", "the gateway could not record the claim; try again")
                .into_response()
        }
        Err(e) => LnurlError::new(e.code(), e.to_string()).into_response(),
    }
}

/// `GET /v1/reports/refunds` (admin): every refund (due ones past expiry are marked expired
/// first) and totals by state.
async fn list(State(state): State<AppState>) -> Result<Json<RefundReport>, ApiError> {
    let refunds = state.gateway.refunds().report().await?;
    let mut totals: BTreeMap<String, RefundTotal> = BTreeMap::new();
    for r in &refunds {
        let t = totals.entry(r.state.as_str().to_owned()).or_default();
        t.count = t.count.saturating_add(1);
        t.amount_msat = t.amount_msat.saturating_add(r.amount_msat);
    }
    Ok(Json(RefundReport { refunds: refunds.iter().map(refund).collect(), totals }))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct AttestationRequest {
    enabled: bool,
}

/// `POST /v1/devices/{id}/attestation` answer; the key (secret) only when enabling.
#[derive(Serialize)]
struct AttestationAnswer {
    device_id: String,
    attestation: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    attestation_key: Option<String>,
}

/// `POST /v1/devices/{id}/attestation` (admin) `{enabled}`: with `true`, also answers the
/// device's attestation key (hex) to write into the device.
async fn attestation(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<Json<AttestationAnswer>, ApiError> {
    let device: DeviceId = super::devices::parse_device_id("id", &id)?;
    let req: AttestationRequest = parse_json(&body)?;
    let key = state.gateway.refunds().set_attestation(device, req.enabled).await?;
    let attestation_key = key.map(|key| hex::encode(*key));
    Ok(Json(AttestationAnswer {
        device_id: device.to_string(),
        attestation: req.enabled,
        attestation_key,
    }))
}

// ---- proofs and sessions ------------------------------------------------------------------

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProofRequest {
    invoice: String,
    preimage: String,
}

/// `POST /v1/proofs/verify` answer (only valid proofs are answered 200).
#[derive(Serialize)]
struct ProofAnswer {
    valid: bool,
    payment_hash: String,
    amount_msat: Option<u64>,
    received_msat: Option<u64>,
    description: Option<String>,
    payee: String,
    paid: bool,
    paid_at: Option<u64>,
}

/// `POST /v1/sessions` answer. The token is secret.
#[derive(Serialize)]
struct NewSession {
    token: String,
    subject: String,
    payment_hash: String,
    expires_at: u64,
}

/// `GET /v1/sessions/current` answer.
#[derive(Serialize)]
struct SessionAnswer {
    subject: String,
    payment_hash: Option<String>,
    created_at: u64,
    expires_at: u64,
}

/// `GET /v1/auth/lnurl` answer. The token is secret.
#[derive(Serialize)]
struct AuthChallenge {
    k1: String,
    url: String,
    lnurl: String,
    keyauth: Option<String>,
    token: String,
    expires_at: u64,
}

async fn proof_request(
    state: &AppState,
    request: Request,
) -> Result<(String, ProofRequest), ApiError> {
    let client = client_of(state, &request);
    let ApiBody(body) =
        <ApiBody as axum::extract::FromRequest<AppState>>::from_request(request, state).await?;
    Ok((client, parse_json(&body)?))
}

/// `POST /v1/proofs/verify` — a receipt check; grants nothing, so it is not single-use.
async fn verify(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<ProofAnswer>, ApiError> {
    let (client, req) = proof_request(&state, request).await?;
    let p =
        limited(&state, &client, state.gateway.refunds().verify_proof(&req.invoice, &req.preimage))
            .await?;
    Ok(Json(ProofAnswer {
        valid: true,
        payment_hash: hex::encode(p.payment_hash),
        amount_msat: p.amount_msat,
        received_msat: p.received_msat,
        description: p.description,
        payee: p.payee,
        paid: p.paid,
        paid_at: p.paid_at,
    }))
}

/// `POST /v1/sessions` — a session bound to the payment. Presenting the proof again issues a
/// new token and revokes the earlier one (session recovery; one live session per payment).
async fn create_session(
    State(state): State<AppState>,
    request: Request,
) -> Result<(StatusCode, Json<NewSession>), ApiError> {
    let (client, req) = proof_request(&state, request).await?;
    let p =
        limited(&state, &client, state.gateway.refunds().verify_proof(&req.invoice, &req.preimage))
            .await?;
    if !p.paid {
        return Err(ApiError::new(
            StatusCode::PAYMENT_REQUIRED,
            "not_paid",
            "the invoice is genuine but its payment is not settled (or not recorded yet)",
        ));
    }
    let IssuedSession { token, record: session } =
        state.gateway.refunds().issue_payment_session(p.payment_hash).await?;
    Ok((
        StatusCode::CREATED,
        Json(NewSession {
            token,
            subject: session.subject,
            payment_hash: hex::encode(p.payment_hash),
            expires_at: session.expires_at,
        }),
    ))
}

/// `GET /v1/sessions/current` with `Authorization: Bearer <token>`.
async fn current_session(
    State(state): State<AppState>,
    headers: HeaderMap,
) -> Result<Json<SessionAnswer>, ApiError> {
    let token = headers
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split_once(' '))
        .and_then(|(scheme, t)| scheme.eq_ignore_ascii_case("bearer").then_some(t.trim()))
        .ok_or_else(|| {
            ApiError::unauthorized(
                "missing_token",
                "an `Authorization: Bearer <session token>` header is required",
            )
        })?;
    let session = state.gateway.refunds().session(token).await?.ok_or_else(|| {
        ApiError::unauthorized(
            "no_session",
            "no live session for this token (not logged in yet, expired or revoked)",
        )
    })?;
    Ok(Json(SessionAnswer {
        subject: session.subject,
        payment_hash: session.payment_hash.map(hex::encode),
        created_at: session.created_at,
        expires_at: session.expires_at,
    }))
}

// ---- LNURL-auth ---------------------------------------------------------------------------

/// `GET /v1/auth/lnurl`: a fresh challenge, the LNURL for the wallet, and the session token the
/// web page keeps (it becomes live once a wallet signs the challenge).
async fn auth_challenge(
    State(state): State<AppState>,
    request: Request,
) -> Result<Json<AuthChallenge>, ApiError> {
    let client = client_of(&state, &request);
    url(&state, "")?; // no challenge is spent on a link no wallet could follow
    let issued = state.gateway.refunds().issue_auth_challenge(&client).await.map_err(|e| {
        ApiError::limited(
            e,
            "too_many_requests",
            "too many login challenges asked for by this client",
        )
    })?;
    let (k1_hex, token, expires_at) = (hex::encode(issued.k1), issued.token, issued.expires_at);
    let callback = url(&state, &format!("/v1/auth/lnurl/callback?tag=login&k1={k1_hex}"))?;
    Ok(Json(AuthChallenge {
        k1: k1_hex,
        lnurl: lnurl::encode(&callback),
        keyauth: lnurl::lud17(&callback, Lud17::Auth),
        url: callback,
        token,
        expires_at,
    }))
}

/// `GET /v1/auth/lnurl/callback?tag=login&k1=&sig=&key=` (LUD-04).
async fn auth_callback(State(state): State<AppState>, params: Params) -> Response {
    let (Some(k1), Some(sig), Some(key)) =
        (param(&params, "k1"), param(&params, "sig"), param(&params, "key"))
    else {
        return LnurlError::new("missing_parameter", "k1, sig and key are required")
            .into_response();
    };
    if param(&params, "tag").is_some_and(|t| t != "login") {
        return LnurlError::new("bad_tag", "only tag=login is supported").into_response();
    }
    let Some(k1) = hex32(k1) else {
        return LnurlError::new("bad_k1", "k1 must be 64 hex digits").into_response();
    };
    match state.gateway.refunds().complete_login(&k1, sig, key).await {
        Ok(AuthOutcome::Completed) => super::error::lnurl_ok(),
        Ok(AuthOutcome::Unknown) => {
            LnurlError::new("unknown_k1", "no login challenge has this k1").into_response()
        }
        Ok(AuthOutcome::Used) => {
            LnurlError::new("k1_used", "this login challenge was already answered").into_response()
        }
        Ok(AuthOutcome::Expired) => {
            LnurlError::new("k1_expired", "this login challenge expired").into_response()
        }
        Err(LoginError::BadSignature(e)) => LnurlError::new("bad_signature", e).into_response(),
        Err(LoginError::Store(e)) => {
            tracing::error!(error = %e, "LNURL-auth: the store failed");
            LnurlError::new("internal", "try again").into_response()
        }
    }
}
