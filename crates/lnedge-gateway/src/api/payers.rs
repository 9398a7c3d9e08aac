//! HTTP routes of [`crate::payers`]: Bolt Cards and payer devices.
//!
//! | route | who | body / query → answer |
//! | --- | --- | --- |
//! | `POST /v1/cards` | admin | [`IssueCard`] → 201 [`IssuedCard`] (programming link, deeplink, and the programming JSON when `uid` is given) |
//! | `GET /v1/cards` | admin | → `{payers: [...]}` (cards) |
//! | `POST /v1/cards/{id}/wipe` | admin | → [`WipedCard`] (the wipe JSON the programmer app resets the card with, and a one-time reset deeplink) |
//! | `POST /v1/cards/program/{code}` | programmer app | `{"UID"}` → DEEPLINK `{LNURLW, K0…K4}` |
//! | `POST /v1/cards/reset/{code}` | programmer app | `{"LNURLW"}` (a wiped card's reading) → DEEPLINK `{LNURLW, K0…K4}`, once |
//! | `GET /v1/card?p=&c=` | wallet / point of sale | → LUD-03 `withdrawRequest` (with `pinLimit` when the card has a PIN) or a LUD-01 error |
//! | `GET /v1/card/callback?k1=&pr=[&pin=]` | wallet / point of sale | → `{"status":"OK"}` once paid, or a LUD-01 error |
//! | `POST /v1/payer-devices` | admin | [`EnrolDevice`] → 201 `{device, token_key}` |
//! | `GET /v1/payer-devices` | admin | → `{payers: [...]}` (devices) |
//! | `POST /v1/payers/{id}/enabled` | admin | `{enabled}` → the card or device |
//! | `PUT /v1/payers/{id}/limits` | admin | `{per_payment_msat, per_day_msat}` → the card or device |
//! | `GET /v1/payers/payments?payer=&limit=` | admin | → `{payments: [...]}` |
//! | `POST /v1/pay/token` | merchant's point of sale | `{token, invoice}` → the payment (paid); 400, 403 `bad_token`/limits, 404 `unknown_device`, 409 `replayed_counter`/`invoice_already_paid`, 410 `token_expired`, 422 `wrong_invoice`/`wrong_amount`/`wrong_payee`, 502 `payment_failed`, 202 `payment_pending` |

use std::collections::HashMap;

use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lnedge_wire::lnurl::{WithdrawRequest, WITHDRAW_REQUEST_TAG};
use lnedge_wire::payers::{
    CardKeysHex, CardProgramming, CardWipe, DeeplinkKeys, DeeplinkRequest, DeeplinkResetRequest,
    EnrolDevice, EnrolledDevice, IssueCard, IssuedCard, PayToken, Payer, PayerList, PayerPayment,
    PayerPayments, SetEnabled, SetLimits, WipedCard, PROGRAMMING_PROTOCOL, PROGRAMMING_VERSION,
};

use super::devices::parse_device_id;
use super::error::{parse_json, ApiError};
use super::route::{endpoint, Access, Endpoint};
use super::{public_url, ApiBody, ApiPath, AppState};
use crate::lnurl::LnurlError;
use crate::payers::cards::parse_uid;
use crate::payers::spend::spent_today;
use crate::payers::token::parse_token;
use crate::payers::PayerError;
use crate::store::payers::{PayerKind, PayerPaymentRecord, PayerRecord};

/// This module's route table.
pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint("post", "/v1/cards", Access::Admin, "Issue a Bolt Card (admin)", issue),
        endpoint("get", "/v1/cards", Access::Admin, "List Bolt Cards (admin)", list_cards),
        endpoint(
            "post",
            "/v1/cards/{id}/wipe",
            Access::Admin,
            "Wipe a Bolt Card: it never pays again; answers the wipe JSON (admin)",
            wipe,
        ),
        endpoint(
            "post",
            "/v1/cards/program/{code}",
            Access::Open,
            "Bolt Card programmer app: the card's UID in, its keys out (DEEPLINK)",
            program,
        ),
        endpoint(
            "post",
            "/v1/cards/reset/{code}",
            Access::Open,
            "Bolt Card programmer app: a wiped card's reading in, its keys out (DEEPLINK reset)",
            reset,
        ),
        endpoint(
            "get",
            "/v1/card",
            Access::Wallet,
            "A Bolt Card tap: LNURL-withdraw request (LUD-03) from p and c",
            tap,
        ),
        endpoint(
            "get",
            "/v1/card/callback",
            Access::Wallet,
            "A Bolt Card tap's callback: pays the invoice",
            tap_callback,
        ),
        endpoint(
            "post",
            "/v1/payer-devices",
            Access::Admin,
            "Enrol a token-signing payer device (admin)",
            enrol_device,
        ),
        endpoint(
            "get",
            "/v1/payer-devices",
            Access::Admin,
            "List payer devices (admin)",
            list_devices,
        ),
        endpoint(
            "post",
            "/v1/payers/{id}/enabled",
            Access::Admin,
            "Enable (and unlock) or disable a card or payer device (admin)",
            set_enabled,
        ),
        endpoint(
            "put",
            "/v1/payers/{id}/limits",
            Access::Admin,
            "Set a card's or payer device's limits (admin)",
            set_limits,
        ),
        endpoint(
            "get",
            "/v1/payers/payments",
            Access::Admin,
            "Payments made for cards and payer devices (admin)",
            payments,
        ),
        endpoint(
            "post",
            "/v1/pay/token",
            Access::Open,
            "Pay an invoice on the authority of a payer device's token",
            pay_token,
        ),
    ]
}

impl From<PayerError> for ApiError {
    fn from(e: PayerError) -> Self {
        use StatusCode as S;
        let code = e.code();
        let message = e.to_string();
        match e {
            PayerError::Invalid { field, message } => ApiError::field(field, message),
            PayerError::NotFound { .. } => ApiError::new(S::NOT_FOUND, code, message),
            PayerError::Refused { .. } => ApiError::new(refusal_status(code), code, message),
            PayerError::PaymentFailed(_) => ApiError::new(S::BAD_GATEWAY, code, message),
            PayerError::PaymentPending => ApiError::new(S::ACCEPTED, code, message),
            PayerError::Node(e) => {
                tracing::error!(error = %e, "payer: the owner's node failed");
                ApiError::new(
                    S::SERVICE_UNAVAILABLE,
                    "lightning_node_failed",
                    "the gateway's node did not answer; try again",
                )
            }
            PayerError::Store(s) => s.into(),
        }
    }
}

/// The status of a refusal: whose mistake, and whether retrying can help.
fn refusal_status(code: &str) -> StatusCode {
    match code {
        "bad_token" | "bad_mac" | "bad_reading" => StatusCode::FORBIDDEN,
        "replayed_counter"
        | "invoice_already_paid"
        | "uid_taken"
        | "uid_mismatch"
        | "duplicate_payer"
        | "unknown_k1" => StatusCode::CONFLICT,
        "token_expired" | "invoice_expired" | "tap_expired" | "code_expired" => StatusCode::GONE,
        "wrong_invoice" | "wrong_amount" | "wrong_payee" | "token_lifetime" => {
            StatusCode::UNPROCESSABLE_ENTITY
        }
        _ => StatusCode::FORBIDDEN,
    }
}

/// A LUD-01 error for a wallet-facing route (HTTP 200, see `crate::lnurl`); the gateway's own
/// failures are logged and answered without detail.
fn lnurl_error(e: PayerError, what: &str) -> Response {
    if e.is_internal() {
        tracing::error!(error = %e, "{what}: the gateway failed");
        return LnurlError::new("internal", "the gateway failed; try again").into_response();
    }
    LnurlError::new(e.code(), e.to_string()).into_response()
}

fn payer_body(p: &PayerRecord, now: u64) -> Payer {
    Payer {
        id: p.id.to_string(),
        kind: p.kind.as_str().to_owned(),
        name: p.name.clone(),
        state: p.state.as_str().to_owned(),
        uid: p.uid.map(hex::encode),
        key_version: p.key_version,
        counter: p.counter,
        per_payment_msat: p.per_payment_msat,
        per_day_msat: p.per_day_msat,
        spent_today_msat: spent_today(p, now),
        has_pin: p.pin_hash.is_some(),
        pin_limit_msat: p.pin_limit_msat,
        created_at: p.created_at,
    }
}

fn payment_body(p: &PayerPaymentRecord) -> PayerPayment {
    PayerPayment {
        payment_hash: hex::encode(p.payment_hash),
        payer_id: p.payer_id.to_string(),
        kind: p.kind.as_str().to_owned(),
        counter: p.counter,
        amount_msat: p.amount_msat,
        fee_msat: p.fee_msat,
        state: p.state.as_str().to_owned(),
        failure: p.failure.clone(),
        created_at: p.created_at,
        settled_at: p.settled_at,
    }
}

/// The base of every card's URL: `lnurlw://<host>/v1/card`. A Bolt Card always carries a
/// `lnurlw://` link and points of sale fetch it over `https://` (`http://` for `.onion`), so a
/// gateway whose cards are used by third-party points of sale needs an `https` public URL; an
/// `http://` one (a test, the sandbox) is written the same way and read back by our own tools.
fn lnurlw_base(state: &AppState) -> Result<String, ApiError> {
    let url = format!("{}/v1/card", public_url(state, "cards are programmed with it")?);
    let rest = url.strip_prefix("https://").or_else(|| url.strip_prefix("http://"));
    rest.map(|rest| format!("lnurlw://{rest}")).ok_or_else(|| {
        ApiError::unprocessable("no_public_url", "public_url must be an http(s) URL")
    })
}

fn programming_body(
    state: &AppState,
    p: &crate::payers::CardProgramming,
) -> Result<CardProgramming, ApiError> {
    Ok(CardProgramming {
        protocol_name: PROGRAMMING_PROTOCOL.to_owned(),
        protocol_version: PROGRAMMING_VERSION,
        card_name: p.card.name.clone(),
        id: p.card.id.to_string(),
        lnurlw_base: lnurlw_base(state)?,
        uid_privacy: "Y".to_owned(),
        keys: CardKeysHex::from_keys(&p.keys.k),
    })
}

/// `POST /v1/cards` (admin).
async fn issue(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<IssuedCard>), ApiError> {
    let req: IssueCard = parse_json(&body)?;
    let base = public_url(&state, "cards are programmed with it")?.to_owned();
    let uid = req.uid.as_deref().map(parse_uid).transpose()?;
    let issued = state
        .gateway
        .payers()
        .issue_card(crate::payers::IssueCard {
            name: req.name,
            per_payment_msat: req.per_payment_msat,
            per_day_msat: req.per_day_msat,
            pin: req.pin,
            pin_limit_msat: req.pin_limit_msat,
            uid,
        })
        .await?;
    let program_url = format!("{base}/v1/cards/program/{}", issued.program_code);
    let deeplink = format!(
        "boltcard://program?url={}",
        url::form_urlencoded::byte_serialize(program_url.as_bytes()).collect::<String>()
    );
    let programming =
        issued.programming.as_ref().map(|p| programming_body(&state, p)).transpose()?;
    let now = state.gateway.now_secs();
    Ok((
        StatusCode::CREATED,
        Json(IssuedCard {
            card: payer_body(&issued.card, now),
            program_url,
            deeplink,
            program_expires_at: issued.card.program_expires_at,
            programming,
        }),
    ))
}

async fn list_kind(state: &AppState, kind: PayerKind) -> Result<Json<PayerList>, ApiError> {
    let now = state.gateway.now_secs();
    let payers = state.gateway.payers().list().await?;
    Ok(Json(PayerList {
        payers: payers.iter().filter(|p| p.kind == kind).map(|p| payer_body(p, now)).collect(),
    }))
}

/// `GET /v1/cards` (admin).
async fn list_cards(State(state): State<AppState>) -> Result<Json<PayerList>, ApiError> {
    list_kind(&state, PayerKind::Card).await
}

/// `GET /v1/payer-devices` (admin).
async fn list_devices(State(state): State<AppState>) -> Result<Json<PayerList>, ApiError> {
    list_kind(&state, PayerKind::Device).await
}

/// `POST /v1/cards/{id}/wipe` (admin).
async fn wipe(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<WipedCard>, ApiError> {
    let id = parse_device_id("id", &id)?;
    let payers = state.gateway.payers();
    let wiped = payers.wipe(id).await?;
    let card = match &wiped {
        Some(w) => w.card.clone(),
        None => payers.get(id).await?,
    };
    let reset_url = wiped
        .as_ref()
        .map(|w| {
            public_url(&state, "a wiped card's reset link")
                .map(|base| format!("{base}/v1/cards/reset/{}", w.reset_code))
        })
        .transpose()?;
    let reset_deeplink = reset_url.as_deref().map(|url| {
        format!(
            "boltcard://reset?url={}",
            url::form_urlencoded::byte_serialize(url.as_bytes()).collect::<String>()
        )
    });
    let wipe = wiped.map(|w| CardWipe {
        action: "wipe".to_owned(),
        uid: hex::encode(w.uid),
        version: w.version,
        keys: CardKeysHex::from_keys(&w.keys.k),
    });
    Ok(Json(WipedCard {
        card: payer_body(&card, state.gateway.now_secs()),
        wipe,
        reset_url,
        reset_deeplink,
    }))
}

/// `POST /v1/cards/program/{code}` (the programmer app, DEEPLINK `program`).
async fn program(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<Json<DeeplinkKeys>, ApiError> {
    let req: DeeplinkRequest = parse_json(&body)?;
    let uid = parse_uid(&req.uid).map_err(|_| ApiError::field("UID", "14 hex digits (7 bytes)"))?;
    let lnurlw = lnurlw_base(&state)?;
    let programmed = state.gateway.payers().program(&code, &uid).await?;
    let CardKeysHex { k0, k1, k2, k3, k4 } = CardKeysHex::from_keys(&programmed.keys.k);
    Ok(Json(DeeplinkKeys { lnurlw, k0, k1, k2, k3, k4 }))
}

/// `POST /v1/cards/reset/{code}` (the programmer app, DEEPLINK `reset`).
async fn reset(
    State(state): State<AppState>,
    ApiPath(code): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<Json<DeeplinkKeys>, ApiError> {
    let req: DeeplinkResetRequest = parse_json(&body)?;
    let (mut p, mut c) = (None, None);
    if let Some((_, query)) = req.lnurlw.split_once('?') {
        for (name, value) in url::form_urlencoded::parse(query.as_bytes()) {
            match name.as_ref() {
                "p" => p = Some(value.into_owned()),
                "c" => c = Some(value.into_owned()),
                _ => {}
            }
        }
    }
    let (Some(p), Some(c)) = (p, c) else {
        return Err(ApiError::field("LNURLW", "the card's URL with its p= and c="));
    };
    let lnurlw = lnurlw_base(&state)?;
    let keys = state.gateway.payers().reset(&code, &p, &c).await?;
    let CardKeysHex { k0, k1, k2, k3, k4 } = CardKeysHex::from_keys(&keys.keys.k);
    Ok(Json(DeeplinkKeys { lnurlw, k0, k1, k2, k3, k4 }))
}

type Params = Result<Query<HashMap<String, String>>, axum::extract::rejection::QueryRejection>;

fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params.as_ref().ok().and_then(|q| q.0.get(name)).map(String::as_str)
}

/// `GET /v1/card?p=&c=`: a tap.
async fn tap(State(state): State<AppState>, params: Params) -> Response {
    let (Some(p), Some(c)) = (param(&params, "p"), param(&params, "c")) else {
        return LnurlError::new("missing_parameter", "p and c are required").into_response();
    };
    let callback = match public_url(&state, "a card's withdraw callback") {
        Ok(base) => format!("{base}/v1/card/callback"),
        Err(e) => return LnurlError::new(e.code, e.message).into_response(),
    };
    match state.gateway.payers().tap(p, c).await {
        Ok(opened) => {
            let spent = opened.max_withdrawable_msat == 0;
            Json(WithdrawRequest {
                tag: WITHDRAW_REQUEST_TAG.to_owned(),
                callback,
                k1: hex::encode(opened.k1),
                default_description: if spent {
                    format!(
                        "{} (Bolt Card): today's limit is spent; it pays again tomorrow (UTC)",
                        opened.card.name
                    )
                } else {
                    format!("{} (Bolt Card)", opened.card.name)
                },
                min_withdrawable: if spent { 0 } else { crate::payers::tap::MIN_WITHDRAWABLE_MSAT },
                max_withdrawable: opened.max_withdrawable_msat,
                pin_limit: opened.card.pin_limit_msat,
            })
            .into_response()
        }
        Err(e) => lnurl_error(e, "card tap"),
    }
}

/// `GET /v1/card/callback?k1=&pr=[&pin=]`.
async fn tap_callback(State(state): State<AppState>, params: Params) -> Response {
    let (Some(k1), Some(pr)) = (param(&params, "k1"), param(&params, "pr")) else {
        return LnurlError::new("missing_parameter", "k1 and pr are required").into_response();
    };
    match state.gateway.payers().tap_callback(k1, pr, param(&params, "pin")).await {
        Ok(_) => super::error::lnurl_ok(),
        Err(e) => lnurl_error(e, "card callback"),
    }
}

/// `POST /v1/payer-devices` (admin).
async fn enrol_device(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<(StatusCode, Json<EnrolledDevice>), ApiError> {
    let req: EnrolDevice = parse_json(&body)?;
    let id = req.id.as_deref().map(|id| parse_device_id("id", id)).transpose()?;
    let issued = state
        .gateway
        .payers()
        .enrol_device(crate::payers::NewDevice {
            id,
            name: req.name,
            per_payment_msat: req.per_payment_msat,
            per_day_msat: req.per_day_msat,
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(EnrolledDevice {
            device: payer_body(&issued.device, state.gateway.now_secs()),
            token_key: hex::encode(issued.key.0),
        }),
    ))
}

/// `POST /v1/payers/{id}/enabled` (admin).
async fn set_enabled(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<Json<Payer>, ApiError> {
    let id = parse_device_id("id", &id)?;
    let req: SetEnabled = parse_json(&body)?;
    let p = state.gateway.payers().set_enabled(id, req.enabled).await?;
    Ok(Json(payer_body(&p, state.gateway.now_secs())))
}

/// `PUT /v1/payers/{id}/limits` (admin).
async fn set_limits(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiBody(body): ApiBody,
) -> Result<Json<Payer>, ApiError> {
    let id = parse_device_id("id", &id)?;
    let req: SetLimits = parse_json(&body)?;
    let p = state.gateway.payers().set_limits(id, req.per_payment_msat, req.per_day_msat).await?;
    Ok(Json(payer_body(&p, state.gateway.now_secs())))
}

/// `GET /v1/payers/payments?payer=&limit=` (admin).
async fn payments(
    State(state): State<AppState>,
    params: Params,
) -> Result<Json<PayerPayments>, ApiError> {
    if let Err(e) = &params {
        return Err(ApiError::field("query", e.body_text()));
    }
    let payer = param(&params, "payer").map(|p| parse_device_id("payer", p)).transpose()?;
    let limit = match param(&params, "limit") {
        Some(l) => l
            .parse::<u32>()
            .ok()
            .filter(|l| (1..=10_000).contains(l))
            .ok_or_else(|| ApiError::field("limit", "1 to 10000"))?,
        None => 1_000,
    };
    let list = state.gateway.payers().payments(payer, limit).await?;
    Ok(Json(PayerPayments { payments: list.iter().map(payment_body).collect() }))
}

/// `POST /v1/pay/token`.
async fn pay_token(
    State(state): State<AppState>,
    ApiBody(body): ApiBody,
) -> Result<Json<PayerPayment>, ApiError> {
    let req: PayToken = parse_json(&body)?;
    let token = parse_token(&req.token)?;
    let paid = state.gateway.payers().pay_token(&token, &req.invoice).await?;
    Ok(Json(payment_body(&paid)))
}
