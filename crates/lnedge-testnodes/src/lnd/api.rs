//! The REST routes, written from LND's published REST descriptions (`lightning.swagger.json`,
//! `invoices.swagger.json`, `router.swagger.json`), by hand and independently of lnedge's
//! client, so that a misreading on one side is not mirrored on the other.
//!
//! | route | RPC |
//! | --- | --- |
//! | `GET /v1/getinfo` | `Lightning.GetInfo` |
//! | `GET /v1/channels` | `Lightning.ListChannels` |
//! | `GET /v1/balance/blockchain` | `Lightning.WalletBalance` |
//! | `POST /v1/invoices` | `Lightning.AddInvoice` |
//! | `GET /v1/invoice/{r_hash_str}` | `Lightning.LookupInvoice` (hex hash) |
//! | `GET /v1/invoices/subscribe?add_index=&settle_index=` | `Lightning.SubscribeInvoices` (stream) |
//! | `POST /v2/invoices/hodl` | `Invoices.AddHoldInvoice` |
//! | `POST /v2/invoices/settle` | `Invoices.SettleInvoice` |
//! | `POST /v2/invoices/cancel` | `Invoices.CancelInvoice` |
//! | `POST /v2/router/send` | `Router.SendPaymentV2` (stream) |
//! | `GET /v2/router/track/{payment_hash}` | `Router.TrackPaymentV2` (stream; base64url hash) |
//!
//! Every route needs the macaroon in `Grpc-Metadata-macaroon` (hex).

use std::collections::HashMap;

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use bitcoin::secp256k1::PublicKey;
use serde_json::{json, Value};
use tokio::sync::watch;

use super::state::{Invoice, LndError, NewInvoice, Payment, PaymentState, ERR_NOT_FOUND};
use super::{LndNetwork, SendRequest};

#[derive(Clone)]
struct Ctx {
    network: LndNetwork,
    node: PublicKey,
    stopped: watch::Receiver<bool>,
}

/// The router of node `node`; its streams end when `stopped` turns true.
pub(crate) fn router(
    network: LndNetwork,
    node: PublicKey,
    stopped: watch::Receiver<bool>,
) -> Router {
    Router::new()
        .route("/v1/getinfo", get(getinfo))
        .route("/v1/channels", get(list_channels))
        .route("/v1/balance/blockchain", get(wallet_balance))
        .route("/v1/invoices", post(add_invoice))
        .route("/v1/invoice/{r_hash_str}", get(lookup_invoice))
        .route("/v1/invoices/subscribe", get(subscribe_invoices))
        .route("/v2/invoices/hodl", post(add_hold_invoice))
        .route("/v2/invoices/settle", post(settle_invoice))
        .route("/v2/invoices/cancel", post(cancel_invoice))
        .route("/v2/router/send", post(send_payment))
        .route("/v2/router/track/{payment_hash}", get(track_payment))
        .with_state(Ctx { network, node, stopped })
}

impl IntoResponse for LndError {
    fn into_response(self) -> Response {
        let status = StatusCode::from_u16(self.http).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
        (status, Json(json!({"code": self.code, "message": self.message, "details": []})))
            .into_response()
    }
}

/// The macaroon check LND makes before any RPC (messages as LND's macaroon service words them).
fn authorize(ctx: &Ctx, headers: &HeaderMap) -> Result<(), LndError> {
    let Some(given) = headers.get("grpc-metadata-macaroon").and_then(|v| v.to_str().ok()) else {
        return Err(LndError::unknown("expected 1 macaroon, got 0"));
    };
    let net = ctx.network.lock();
    if net.nodes.get(&ctx.node).is_some_and(|n| n.locked) {
        return Err(LndError::unknown(super::state::ERR_LOCKED));
    }
    let expected = net.nodes.get(&ctx.node).map(|n| n.macaroon_hex.clone()).unwrap_or_default();
    if hex::decode(given).is_err() {
        return Err(LndError::unknown("unable to decode macaroon: encoding/hex: invalid byte"));
    }
    if !given.eq_ignore_ascii_case(&expected) {
        return Err(LndError::unknown(
            "verification failed: signature mismatch after caveat verification",
        ));
    }
    Ok(())
}

/// A uint64 field: the REST gateway takes a number or a decimal string.
fn u64_field(body: &Value, name: &str) -> Result<u64, LndError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(0),
        Some(Value::Number(n)) => {
            n.as_u64().ok_or_else(|| LndError::invalid(format!("{name}: not a uint64")))
        }
        Some(Value::String(s)) => {
            s.parse().map_err(|_| LndError::invalid(format!("{name}: not a uint64")))
        }
        Some(_) => Err(LndError::invalid(format!("{name}: not a uint64"))),
    }
}

/// A bytes field: base64 (standard or URL-safe, as the gateway accepts).
fn bytes_field(body: &Value, name: &str) -> Result<Option<Vec<u8>>, LndError> {
    match body.get(name) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) if s.is_empty() => Ok(None),
        Some(Value::String(s)) => STANDARD
            .decode(s)
            .or_else(|_| URL_SAFE.decode(s))
            .map(Some)
            .map_err(|_| LndError::invalid(format!("{name}: bad base64"))),
        Some(_) => Err(LndError::invalid(format!("{name}: not bytes"))),
    }
}

fn bytes32(body: &Value, name: &str) -> Result<Option<[u8; 32]>, LndError> {
    bytes_field(body, name)?
        .map(|b| {
            b.try_into().map_err(|_| LndError::unknown(format!("{name}: must be exactly 32 bytes")))
        })
        .transpose()
}

fn s(n: u64) -> String {
    n.to_string()
}

/// `lnrpc.Invoice` as the gateway writes it.
fn invoice_json(i: &Invoice) -> Value {
    let htlcs: Vec<Value> = i
        .htlcs
        .iter()
        .enumerate()
        .map(|(n, h)| {
            json!({"chan_id": "1", "htlc_index": s(n as u64), "amt_msat": s(h.amt_msat),
                   "accept_height": h.accept_height, "accept_time": s(i.creation_date),
                   "resolve_time": "0", "expiry_height": h.expiry_height, "state": h.state,
                   "custom_records": {}, "mpp_total_amt_msat": s(h.amt_msat), "amp": null})
        })
        .collect();
    json!({
        "memo": i.memo,
        "r_preimage": i.preimage.map(|p| STANDARD.encode(p)).unwrap_or_default(),
        "r_hash": STANDARD.encode(i.hash),
        "value": s(i.value_msat / 1000),
        "value_msat": s(i.value_msat),
        "settled": i.state == super::state::InvoiceState::Settled,
        "creation_date": s(i.creation_date),
        "settle_date": s(i.settle_date),
        "payment_request": i.payment_request,
        "description_hash": i.description_hash.map(|h| STANDARD.encode(h)).unwrap_or_default(),
        "expiry": s(i.expiry),
        "fallback_addr": "",
        "cltv_expiry": s(i.cltv_expiry),
        "route_hints": [],
        "private": false,
        "add_index": s(i.add_index),
        "settle_index": s(i.settle_index),
        "amt_paid": s(i.amt_paid_msat),
        "amt_paid_sat": s(i.amt_paid_msat / 1000),
        "amt_paid_msat": s(i.amt_paid_msat),
        "state": i.state.name(),
        "htlcs": htlcs,
        "features": {},
        "is_keysend": false,
        "payment_addr": STANDARD.encode(i.payment_addr),
        "is_amp": false,
    })
}

/// `lnrpc.Payment` as the gateway writes it.
fn payment_json(p: &Payment) -> Value {
    let (status, preimage, reason) = match &p.state {
        PaymentState::InFlight => ("IN_FLIGHT", "0".repeat(64), "FAILURE_REASON_NONE"),
        PaymentState::Succeeded(pre) => ("SUCCEEDED", hex::encode(pre), "FAILURE_REASON_NONE"),
        PaymentState::Failed(reason) => ("FAILED", "0".repeat(64), *reason),
    };
    json!({
        "payment_hash": hex::encode(p.hash),
        "value": s(p.value_msat / 1000),
        "creation_date": s(p.creation_date),
        "fee": "0",
        "payment_preimage": preimage,
        "value_sat": s(p.value_msat / 1000),
        "value_msat": s(p.value_msat),
        "payment_request": p.payment_request,
        "status": status,
        "fee_sat": "0",
        "fee_msat": "0",
        "creation_time_ns": s(p.creation_date * 1_000_000_000),
        "htlcs": [],
        "payment_index": s(p.payment_index),
        "failure_reason": reason,
    })
}

/// Answers `read` of this node's state, after the macaroon check.
fn read_node(
    ctx: &Ctx,
    headers: &HeaderMap,
    read: impl FnOnce(&super::state::Node) -> Value,
) -> Result<Json<Value>, LndError> {
    authorize(ctx, headers)?;
    let net = ctx.network.lock();
    let node = net.nodes.get(&ctx.node).ok_or_else(|| LndError::unknown("no node"))?;
    Ok(Json(read(node)))
}

async fn list_channels(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
) -> Result<Json<Value>, LndError> {
    read_node(&ctx, &headers, |node| {
        let channels: Vec<Value> =
            node.channels.iter().map(super::channels::channel_json).collect();
        json!({ "channels": channels })
    })
}

async fn wallet_balance(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
) -> Result<Json<Value>, LndError> {
    read_node(&ctx, &headers, |node| super::channels::wallet_json(&node.wallet))
}

async fn getinfo(State(ctx): State<Ctx>, headers: HeaderMap) -> Result<Json<Value>, LndError> {
    authorize(&ctx, &headers)?;
    let net = ctx.network.lock();
    let node = net.nodes.get(&ctx.node).ok_or_else(|| LndError::unknown("no node"))?;
    Ok(Json(json!({
        "version": "0.18.5-beta lnedge-testnodes",
        "identity_pubkey": ctx.node.to_string(),
        "alias": node.alias,
        "num_active_channels": node.channels.iter().filter(|c| c.active).count().max(1),
        "block_height": net.height,
        "synced_to_chain": true,
        "synced_to_graph": true,
        "chains": [{"chain": "bitcoin", "network": "regtest"}],
        "uris": [],
    })))
}

fn new_invoice(body: &Value, hold: bool) -> Result<NewInvoice, LndError> {
    let value_msat = match u64_field(body, "value_msat")? {
        0 => u64_field(body, "value")? * 1000,
        msat => msat,
    };
    Ok(NewInvoice {
        preimage: if hold { None } else { bytes32(body, "r_preimage")? },
        hash: if hold {
            Some(
                bytes32(body, "hash")?
                    .ok_or_else(|| LndError::unknown("hash must be exactly 32 bytes"))?,
            )
        } else {
            None
        },
        value_msat,
        memo: body.get("memo").and_then(Value::as_str).unwrap_or_default().to_owned(),
        description_hash: bytes32(body, "description_hash")?,
        expiry: u64_field(body, "expiry")?,
        cltv_expiry: u64_field(body, "cltv_expiry")?,
    })
}

async fn add_invoice(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, LndError> {
    authorize(&ctx, &headers)?;
    let mut new = new_invoice(&body, false)?;
    if new.preimage.is_none() {
        new.preimage = Some(rand::random());
    }
    let mut net = ctx.network.lock();
    let node = net.nodes.get_mut(&ctx.node).ok_or_else(|| LndError::unknown("no node"))?;
    let i = node.add_invoice(new)?;
    Ok(Json(json!({"r_hash": STANDARD.encode(i.hash), "payment_request": i.payment_request,
                   "add_index": s(i.add_index), "payment_addr": STANDARD.encode(i.payment_addr)})))
}

async fn add_hold_invoice(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, LndError> {
    authorize(&ctx, &headers)?;
    let new = new_invoice(&body, true)?;
    let mut net = ctx.network.lock();
    let node = net.nodes.get_mut(&ctx.node).ok_or_else(|| LndError::unknown("no node"))?;
    let i = node.add_invoice(new)?;
    Ok(Json(json!({"payment_request": i.payment_request, "add_index": s(i.add_index),
                   "payment_addr": STANDARD.encode(i.payment_addr)})))
}

async fn lookup_invoice(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Result<Json<Value>, LndError> {
    authorize(&ctx, &headers)?;
    let hash: [u8; 32] = hex::decode(&hash)
        .ok()
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| LndError::invalid("unable to decode hash: invalid length"))?;
    let mut net = ctx.network.lock();
    let node = net.nodes.get_mut(&ctx.node).ok_or_else(|| LndError::unknown("no node"))?;
    let invoice = node.invoice_mut(&hash).ok_or_else(|| LndError::not_found(ERR_NOT_FOUND))?;
    Ok(Json(invoice_json(invoice)))
}

async fn settle_invoice(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, LndError> {
    authorize(&ctx, &headers)?;
    let preimage = bytes32(&body, "preimage")?
        .ok_or_else(|| LndError::unknown("preimage must be exactly 32 bytes"))?;
    ctx.network.settle(ctx.node, preimage)?;
    Ok(Json(json!({})))
}

async fn cancel_invoice(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Json<Value>, LndError> {
    authorize(&ctx, &headers)?;
    let hash = bytes32(&body, "payment_hash")?
        .ok_or_else(|| LndError::unknown("payment_hash must be exactly 32 bytes"))?;
    ctx.network.cancel(ctx.node, hash)?;
    Ok(Json(json!({})))
}

/// A streaming body: one `{"result": …}` line per message `step` yields from its state, until
/// it yields `None` or the server stops (the stream then ends, as a dropped connection would).
fn stream<S, F, Fut>(stopped: watch::Receiver<bool>, init: S, step: F) -> Response
where
    S: Send + 'static,
    F: FnMut(S) -> Fut + Send + 'static,
    Fut: std::future::Future<Output = Option<(Value, S)>> + Send,
{
    let lines = futures_util::stream::unfold(
        (Some(init), step, stopped),
        |(state, mut step, mut stopped)| async move {
            let state = state?;
            let (item, state) = tokio::select! {
                next = step(state) => next?,
                _ = stopped.wait_for(|s| *s) => return None,
            };
            let line = format!("{}\n", json!({"result": item}));
            Some((Ok::<_, std::convert::Infallible>(line), (Some(state), step, stopped)))
        },
    );
    Response::builder()
        .header("content-type", "application/json")
        .body(Body::from_stream(lines))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

/// What a `SubscribeInvoices` stream still has to send.
struct InvoiceFeed {
    backlog: std::vec::IntoIter<Value>,
    updates: tokio::sync::broadcast::Receiver<u64>,
    network: LndNetwork,
    node: PublicKey,
}

async fn subscribe_invoices(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, LndError> {
    authorize(&ctx, &headers)?;
    let num = |k: &str| q.get(k).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
    let (add_index, settle_index) = (num("add_index"), num("settle_index"));
    let feed = {
        let net = ctx.network.lock();
        let node = net.nodes.get(&ctx.node).ok_or_else(|| LndError::unknown("no node"))?;
        // LND first sends the invoices added after add_index, then those settled after
        // settle_index (each only when its index is non-zero), then live updates.
        let mut backlog: Vec<Value> = Vec::new();
        if add_index > 0 {
            backlog
                .extend(node.invoices.iter().filter(|i| i.add_index > add_index).map(invoice_json));
        }
        if settle_index > 0 {
            let mut settled: Vec<&Invoice> =
                node.invoices.iter().filter(|i| i.settle_index > settle_index).collect();
            settled.sort_by_key(|i| i.settle_index);
            backlog.extend(settled.into_iter().map(invoice_json));
        }
        InvoiceFeed {
            backlog: backlog.into_iter(),
            updates: node.invoice_updates.subscribe(),
            network: ctx.network.clone(),
            node: ctx.node,
        }
    };
    Ok(stream(ctx.stopped.clone(), feed, |mut feed: InvoiceFeed| async move {
        if let Some(next) = feed.backlog.next() {
            return Some((next, feed));
        }
        loop {
            let add_index = match feed.updates.recv().await {
                Ok(i) => i,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => continue,
                Err(_) => return None,
            };
            let json = {
                let net = feed.network.lock();
                let node = net.nodes.get(&feed.node)?;
                node.invoices.get(add_index.checked_sub(1)? as usize).map(invoice_json)
            };
            if let Some(json) = json {
                return Some((json, feed));
            }
        }
    }))
}

async fn send_payment(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Json(body): Json<Value>,
) -> Result<Response, LndError> {
    authorize(&ctx, &headers)?;
    let request = SendRequest {
        payment_request: body
            .get("payment_request")
            .and_then(Value::as_str)
            .unwrap_or_default()
            .to_owned(),
        amt_msat: u64_field(&body, "amt_msat")?,
        cltv_limit: u64_field(&body, "cltv_limit")? as u32,
    };
    if body.get("timeout_seconds").is_none() {
        return Err(LndError::unknown("timeout_seconds must be specified"));
    }
    let updates = ctx
        .network
        .lock()
        .nodes
        .get(&ctx.node)
        .map(|n| n.payment_updates.subscribe())
        .ok_or_else(|| LndError::unknown("no node"))?;
    let hash = ctx.network.send(ctx.node, &request)?;
    Ok(payment_stream(&ctx, hash, updates))
}

async fn track_payment(
    State(ctx): State<Ctx>,
    headers: HeaderMap,
    Path(hash): Path<String>,
) -> Result<Response, LndError> {
    authorize(&ctx, &headers)?;
    let hash: [u8; 32] = URL_SAFE
        .decode(&hash)
        .or_else(|_| STANDARD.decode(&hash))
        .ok()
        .and_then(|h| h.try_into().ok())
        .ok_or_else(|| LndError::invalid("invalid payment hash"))?;
    let updates = {
        let net = ctx.network.lock();
        let node = net.nodes.get(&ctx.node).ok_or_else(|| LndError::unknown("no node"))?;
        if !node.payments.contains_key(&hash) {
            return Err(LndError::not_found(super::state::ERR_NOT_INITIATED));
        }
        node.payment_updates.subscribe()
    };
    Ok(payment_stream(&ctx, hash, updates))
}

/// What a payment stream still has to send.
struct PaymentFeed {
    first: bool,
    done: bool,
    updates: tokio::sync::broadcast::Receiver<[u8; 32]>,
    network: LndNetwork,
    node: PublicKey,
    hash: [u8; 32],
}

impl PaymentFeed {
    fn current(&mut self) -> Option<Value> {
        let net = self.network.lock();
        let payment = net.nodes.get(&self.node)?.payments.get(&self.hash)?;
        self.done = payment.state != PaymentState::InFlight;
        Some(payment_json(payment))
    }
}

/// The payment's current state, then every change, ending after a final one.
fn payment_stream(
    ctx: &Ctx,
    hash: [u8; 32],
    updates: tokio::sync::broadcast::Receiver<[u8; 32]>,
) -> Response {
    let feed = PaymentFeed {
        first: true,
        done: false,
        updates,
        network: ctx.network.clone(),
        node: ctx.node,
        hash,
    };
    stream(ctx.stopped.clone(), feed, |mut feed: PaymentFeed| async move {
        if feed.done {
            return None;
        }
        if std::mem::replace(&mut feed.first, false) {
            let now = feed.current()?;
            return Some((now, feed));
        }
        loop {
            match feed.updates.recv().await {
                Ok(h) if h == feed.hash => break,
                Ok(_) => continue,
                Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => break,
                Err(_) => return None,
            }
        }
        let now = feed.current()?;
        Some((now, feed))
    })
}
