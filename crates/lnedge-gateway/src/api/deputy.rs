//! HTTP routes of [`crate::deputy`] (the rules: [`Deputy`](crate::deputy::sales::Deputy)): the LNURL-pay endpoints a wallet calls for a deputy sale,
//! the proof-of-payment fallback, the terminal's signed report and the operator's list.
//!
//! | route | answer |
//! | --- | --- |
//! | `GET /v1/deputy/{id}?p=<sealed>` | LUD-06 payRequest, fixed amount (min = max); LUD-01 errors (HTTP 200): `bad_device`, `unknown_device`, `device_disabled`, `bad_payload`, `not_authentic`, `stale_counter`, `counter_reused`, `already_paid`, `sale_expired`, `rate_unavailable`, `amount_out_of_range` |
//! | `GET /v1/deputy/{id}/callback/<sealed>?amount=<msat>` (the payRequest's callback; `…/callback?p=<sealed>&amount=` also works) | `{pr, routes: [], successAction: {tag: "aes", description, ciphertext, iv}}`; also `unknown_sale`, `wrong_amount`, `lightning_node_failed` |
//! | `GET /v1/deputy/claim?invoice=&preimage=` | LUD-09 fallback: `{status: "OK", code, claim, text}` for a paid deputy invoice and its preimage |
//! | `POST /v1/deputy/{id}/sync` | terminal's report `{claimed: [counter…]}` + `X-Lnedge-Signature` → `{claimed, already_claimed, not_paid, unknown}` |
//! | `GET /v1/deputy/{id}/keys` | admin: `{device_id, seal_key, claim_key, sync_key, gateway_url}` (hex) for an enrolled device, to write into the terminal |
//! | `GET /v1/deputy/sales?device=&limit=` | admin: `{sales: [{device_id, counter, status, amount, currency, amount_msat, fiat, rate_per_btc, rate_source, payment_hash, created_at, paid_at, claimed_at}]}` |

use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lnedge_proto::deputy::Currency;
use lnedge_proto::DeviceId;
use lnedge_wire::deputy::{DeputyKeys, DeputySale, DeputySales};
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::lnurl::{self as lud, AesSuccessAction, PayCallback, PayRequest};
use lnedge_wire::sync::{DeputyReport, DeputyReportAnswer, MAX_REPORTS};
use serde::{Deserialize, Serialize};

use super::devices::parse_device_id;
use super::error::{parse_json, ApiError};
use super::route::{endpoint, Access, Endpoint};
use super::{ApiBody, ApiPath, AppState};
use crate::deputy::display_amount;
use crate::deputy::sales::{ClaimProofError, CLAIM_DESCRIPTION};
use crate::lnurl::LnurlError;
use crate::store::DeputySaleRecord;

/// This module's route table (method, path, access, summary, handler), chained after the core
/// table by [`routes`](super::routes) and [`app`](super::app).
pub(crate) fn endpoints() -> Vec<Endpoint> {
    vec![
        endpoint(
            "get",
            "/v1/deputy/{id}",
            Access::Wallet,
            "LNURL-pay request of a deputy sale (sealed payload p=)",
            fetch,
        ),
        endpoint(
            "get",
            "/v1/deputy/{id}/callback",
            Access::Wallet,
            "LNURL-pay callback: the invoice and the AES claim",
            callback,
        ),
        endpoint(
            "get",
            "/v1/deputy/{id}/callback/{p}",
            Access::Wallet,
            "LNURL-pay callback with the sale in the path (what the payRequest names)",
            callback_in_path,
        ),
        endpoint(
            "get",
            "/v1/deputy/claim",
            Access::Open,
            "A paid deputy sale's claim from invoice + preimage (fallback)",
            claim_fallback,
        ),
        endpoint(
            "post",
            "/v1/deputy/{id}/sync",
            Access::DeviceSigned,
            "Terminal's report of claimed sales (device-signed)",
            sync,
        ),
        endpoint(
            "get",
            "/v1/deputy/sales",
            Access::Admin,
            "Deputy sales with status, amounts and rates",
            list,
        ),
        endpoint(
            "get",
            "/v1/deputy/{id}/keys",
            Access::Admin,
            "A terminal's keys, for writing into it at enrolment",
            keys,
        ),
    ]
}

#[derive(Debug, Deserialize)]
struct SaleQuery {
    p: Option<String>,
    amount: Option<String>,
}

/// The device id and sealed payload of both LNURL routes, as LUD-01 errors when malformed.
fn sale_params<'q>(id: &str, query: &'q SaleQuery) -> Result<(DeviceId, &'q str), LnurlError> {
    let device = parse_device_id("id", id)
        .map_err(|_| LnurlError::new("bad_device", format!("`{id}` is not a device id")))?;
    let p = query
        .p
        .as_deref()
        .ok_or_else(|| LnurlError::new("bad_payload", "the sale payload p= is missing"))?;
    Ok((device, p))
}

/// The base URL callbacks are built from: the gateway's `public_url`, or — when the operator
/// did not set one — the request's `Host` ([`callback_base`]).
fn base_url(state: &AppState, headers: &HeaderMap) -> Result<String, LnurlError> {
    let host = headers.get(axum::http::header::HOST).and_then(|h| h.to_str().ok());
    callback_base(&state.gateway.settings().public_url, host)
}

/// `public_url` when set; else `host` parsed as a real authority (`host[:port]`, no user info):
/// `http://` only for a loopback host (`localhost`, `127.0.0.0/8`, `[::1]`), else `https://`.
/// A `Host` that is not such an authority is refused rather than handed to a wallet.
fn callback_base(public_url: &str, host: Option<&str>) -> Result<String, LnurlError> {
    if !public_url.is_empty() {
        return Ok(public_url.trim_end_matches('/').to_owned());
    }
    let bad_host = || {
        LnurlError::new(
            "bad_host",
            "the Host header is not a host[:port]; the operator should set public_url",
        )
    };
    let host = host.filter(|h| !h.is_empty() && !h.contains('@')).ok_or_else(bad_host)?;
    let authority: axum::http::uri::Authority = host.parse().map_err(|_| bad_host())?;
    let name = authority.host();
    let ip = name.trim_start_matches('[').trim_end_matches(']').parse::<std::net::IpAddr>();
    let loopback = name.eq_ignore_ascii_case("localhost") || ip.is_ok_and(|ip| ip.is_loopback());
    Ok(format!("{}://{}", if loopback { "http" } else { "https" }, authority.as_str()))
}

/// `GET /v1/deputy/{id}?p=`: the LUD-06 payRequest of a sale.
async fn fetch(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    headers: HeaderMap,
    Query(query): Query<SaleQuery>,
) -> Response {
    let answer = async {
        let (device, p) = sale_params(&id, &query)?;
        let opened = state.gateway.deputy().fetch(device, p).await?;
        let base = base_url(&state, &headers)?;
        Ok::<_, LnurlError>(PayRequest {
            tag: lud::PAY_REQUEST_TAG.to_owned(),
            // The sale in the path, not the query: some clients (httpx-based ones) replace the
            // callback's query string when they add `amount`, instead of appending to it.
            callback: format!("{base}/v1/deputy/{device}/callback/{p}"),
            min_sendable: opened.record.amount_msat,
            max_sendable: opened.record.amount_msat,
            metadata: opened.metadata,
            comment_allowed: 0,
        })
    };
    match answer.await {
        Ok(body) => Json(body).into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/deputy/{id}/callback/{p}?amount=`: [`callback`] with the sale in the path.
async fn callback_in_path(
    state: State<AppState>,
    ApiPath((id, p)): ApiPath<(String, String)>,
    Query(query): Query<SaleQuery>,
) -> Response {
    callback(state, ApiPath(id), Query(SaleQuery { p: Some(p), amount: query.amount })).await
}

/// `GET /v1/deputy/{id}/callback?p=&amount=`: the invoice, with the claim in a LUD-10 AES
/// success action.
async fn callback(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    Query(query): Query<SaleQuery>,
) -> Response {
    let answer = async {
        let (device, p) = sale_params(&id, &query)?;
        state.gateway.deputy().invoice(device, p, query.amount.as_deref()).await
    };
    match answer.await {
        Ok(invoice) => Json(PayCallback {
            pr: invoice.bolt11,
            routes: Vec::new(),
            success_action: AesSuccessAction {
                tag: lud::AES_TAG.to_owned(),
                description: CLAIM_DESCRIPTION.to_owned(),
                ciphertext: invoice.ciphertext,
                iv: invoice.iv,
            },
        })
        .into_response(),
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/deputy/claim` answer (LUD-09 style): the claim the terminal checks, split as the
/// terminal's keypad code and the rest, and whole.
#[derive(Debug, Serialize)]
pub(crate) struct ClaimAnswer {
    status: lud::Status,
    code: String,
    claim: String,
    text: String,
}

#[derive(Debug, Deserialize)]
struct ClaimQuery {
    invoice: Option<String>,
    preimage: Option<String>,
}

/// `GET /v1/deputy/claim?invoice=&preimage=`: the LUD-09 fallback for wallets that do not show
/// `aes` success actions ([`Deputy::claim_for_proof`](crate::deputy::sales::Deputy::claim_for_proof)).
async fn claim_fallback(
    State(state): State<AppState>,
    Query(query): Query<ClaimQuery>,
) -> Result<Json<ClaimAnswer>, ApiError> {
    let text = query.invoice.ok_or_else(|| ApiError::field("invoice", "is required"))?;
    let invoice =
        lnedge_node::parse_invoice(&text).map_err(|e| ApiError::field("invoice", e.to_string()))?;
    let preimage: [u8; 32] = hex::decode(query.preimage.as_deref().unwrap_or_default())
        .ok()
        .and_then(|b| b.try_into().ok())
        .ok_or_else(|| ApiError::field("preimage", "expected 64 hex characters"))?;
    let claim = match state.gateway.deputy().claim_for_proof(&invoice, &preimage).await {
        Ok(claim) => claim,
        Err(e @ ClaimProofError::NotAProof) => {
            return Err(ApiError::unprocessable("not_a_proof", e.to_string()))
        }
        Err(e @ ClaimProofError::NotPaid) => {
            return Err(ApiError::unprocessable("not_paid", e.to_string()))
        }
        Err(e) => return Err(ApiError::internal("deputy", &e)),
    };
    let text = claim.text;
    let (code, claim) = text.split_once(' ').unwrap_or((&text, ""));
    Ok(Json(ClaimAnswer {
        status: lud::Status::Ok,
        code: code.to_owned(),
        claim: claim.to_owned(),
        text,
    }))
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
    state.gateway.sync().verify_signature(&device, &body, super::sync::signature(&headers))?;
    let report: DeputyReport = parse_json(&body)?;
    if report.claimed.len() > MAX_REPORTS {
        return Err(ApiError::field(
            "claimed",
            format!("at most {MAX_REPORTS} counters per report"),
        ));
    }
    let answer = state
        .gateway
        .deputy()
        .report(device, &report.claimed)
        .await
        .map_err(|e| ApiError::internal("deputy", &e))?;
    Ok(Json(answer))
}

#[derive(Debug, Deserialize)]
struct ListQuery {
    device: Option<String>,
    limit: Option<u32>,
}

fn sale(record: &DeputySaleRecord) -> DeputySale {
    let fiat = Currency::parse(&record.currency)
        .ok()
        .filter(|c| !c.is_sat())
        .map(|c| display_amount(record.amount, &c));
    DeputySale {
        device_id: record.device_id.to_string(),
        counter: record.counter,
        status: record.status.as_str().to_owned(),
        amount: record.amount,
        currency: record.currency.clone(),
        amount_msat: record.amount_msat,
        fiat,
        rate_per_btc: record.quote.as_ref().map(|q| q.rate_per_btc),
        rate_source: record.quote.as_ref().map(|q| q.source.clone()),
        payment_hash: hex::encode(record.payment_hash),
        invoiced: record.invoice.is_some(),
        created_at: record.created_at,
        paid_at: record.paid_at,
        claimed_at: record.claimed_at,
    }
}

/// `GET /v1/deputy/sales?device=&limit=` (admin): newest first, with requested sales whose
/// invoice the node settled moved to paid on the way.
async fn list(
    State(state): State<AppState>,
    super::ApiQuery(query): super::ApiQuery<ListQuery>,
) -> Result<Json<DeputySales>, ApiError> {
    let device: Option<DeviceId> =
        query.device.as_deref().map(|d| parse_device_id("device", d)).transpose()?;
    let limit = query.limit.unwrap_or(100).clamp(1, 10_000);
    let sales = state
        .gateway
        .deputy()
        .sales(device, limit)
        .await
        .map_err(|e| ApiError::internal("deputy", &e))?;
    Ok(Json(DeputySales { sales: sales.iter().map(sale).collect() }))
}

/// `GET /v1/deputy/{id}/keys` (admin): what a terminal is provisioned with. The preimage key is
/// never handed out.
async fn keys(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
) -> Result<Json<DeputyKeys>, ApiError> {
    let device = parse_device_id("id", &id)?;
    state.gateway.fleet().device(device).await?;
    super::public_url(&state, "a deputy terminal builds its LNURLs from it")?;
    let keys = state.gateway.deputy().terminal_keys(device);
    let sync_key =
        zeroize::Zeroizing::new(device_sync_key(state.gateway.device_master_key(), &device));
    Ok(Json(DeputyKeys {
        device_id: device.to_string(),
        seal_key: hex::encode(keys.seal_key),
        claim_key: hex::encode(keys.claim_key),
        sync_key: hex::encode(*sync_key),
        gateway_url: state.gateway.settings().public_url.clone(),
    }))
}

#[cfg(test)]
mod tests {
    use super::callback_base;

    #[test]
    fn callbacks_go_to_the_public_url_or_a_real_host() {
        let base =
            |public: &str, host: Option<&str>| callback_base(public, host).map_err(|e| e.code);
        assert_eq!(
            base("https://pay.example/", Some("evil.example")),
            Ok("https://pay.example".into())
        );
        assert_eq!(base("", Some("pay.example:8443")), Ok("https://pay.example:8443".into()));
        assert_eq!(base("", Some("127.0.0.1:8080")), Ok("http://127.0.0.1:8080".into()));
        assert_eq!(base("", Some("localhost:8080")), Ok("http://localhost:8080".into()));
        assert_eq!(base("", Some("[::1]:8080")), Ok("http://[::1]:8080".into()));
        // Found before: these passed as loopback and went out as http:// to another host.
        assert_eq!(
            base("", Some("127.0.0.1.evil.example")),
            Ok("https://127.0.0.1.evil.example".into())
        );
        assert_eq!(
            base("", Some("localhost.evil.example")),
            Ok("https://localhost.evil.example".into())
        );
        for bad in ["localhost@evil.example", "", "a b", "evil.example/path"] {
            assert_eq!(base("", Some(bad)), Err("bad_host"), "{bad:?}");
        }
        assert_eq!(base("", None), Err("bad_host"));
    }
}
