//! Devices that pay (issue #14) on the sandbox network: the gateway's owner node pays a
//! merchant two hops away (`owner → hub → merchant`) for Bolt Cards (simulated NTAG 424 chips
//! producing real SUN readings) and token-signing payer devices. Each attack of the issue is a
//! test in `card_attacks.rs` and `token_attacks.rs`.

mod card_attacks;
mod cards;
mod peer;
mod pending;
mod replicas;

mod token_attacks;
mod tokens;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use lnedge_device::card::SimulatedCard;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::GatewayBuilder;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{
    parse_invoice, InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend, PaymentHash,
    PaymentPreimage,
};
use serde_json::{json, Value};

pub(crate) use crate::support::call_json as call;

pub(crate) const TOKEN: &str = "payer-test-admin-token";
pub(crate) const MASTER: [u8; 32] = [0x3c; 32];
pub(crate) const PUBLIC_URL: &str = "http://gateway.test";

/// The operator's node, a hub, a merchant, and a gateway on the operator's node.
pub(crate) struct World {
    pub(crate) net: SandboxNetwork,
    pub(crate) owner: Arc<SandboxNode>,
    pub(crate) merchant: Arc<SandboxNode>,
    pub(crate) store: Arc<dyn GatewayStore>,
    pub(crate) state: AppState,
    pub(crate) router: Router,
    pub(crate) _dir: tempfile::TempDir,
}

pub(crate) fn post(uri: &str, body: Value, admin: bool) -> Request<Body> {
    let mut b =
        Request::builder().method("POST").uri(uri).header("content-type", "application/json");
    if admin {
        b = b.header("authorization", format!("Bearer {TOKEN}"));
    }
    b.body(Body::from(body.to_string())).expect("request")
}

pub(crate) fn get(uri: &str, admin: bool) -> Request<Body> {
    let mut b = Request::builder().uri(uri);
    if admin {
        b = b.header("authorization", format!("Bearer {TOKEN}"));
    }
    b.body(Body::empty()).expect("request")
}

/// The gateway's state on `store` with `owner`.
pub(crate) fn gateway_state(store: Arc<dyn GatewayStore>, owner: Arc<SandboxNode>) -> AppState {
    let gateway = GatewayBuilder::new(store, owner, Arc::new(PoolKey::generate()), MASTER)
        .public_url(PUBLIC_URL)
        .build();
    AppState::with_gateway(gateway, TOKEN)
}

/// A world on a fresh SQLite store.
pub(crate) async fn world() -> World {
    let dir = tempfile::tempdir().expect("dir");
    let store = SqliteStore::open(&dir.path().join("gw.sqlite3")).expect("sqlite");
    world_on(Arc::new(store), dir).await
}

/// A world on `store`.
pub(crate) async fn world_on(store: Arc<dyn GatewayStore>, dir: tempfile::TempDir) -> World {
    let net = SandboxNetwork::new().await.expect("network");
    let [owner, _hub, merchant] =
        net.line(["owner", "hub", "merchant"], 4_000_000).await.expect("line");
    let state = gateway_state(store.clone(), owner.clone());
    let router = app(state.clone());
    World { net, owner, merchant, store, state, router, _dir: dir }
}

impl World {
    /// An invoice of the merchant's node for `amount_msat`.
    pub(crate) async fn invoice(&self, amount_msat: Option<u64>) -> String {
        invoice_of(&self.merchant, amount_msat, 3600).await.0
    }

    /// An invoice of the merchant's node for `amount_msat` and its preimage.
    pub(crate) async fn invoice_and_preimage(&self, amount_msat: u64) -> (String, [u8; 32]) {
        invoice_of(&self.merchant, Some(amount_msat), 3600).await
    }

    /// Issues a card with `extra` fields, programmed at once with a random UID; answers the
    /// card's id and the simulated chip.
    pub(crate) async fn card(&self, extra: Value) -> (String, SimulatedCard) {
        let uid = hex::encode(rand::random::<[u8; 7]>());
        let mut body = json!({"name": "Test card", "uid": uid});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, issued) = call(&self.router, post("/v1/cards", body, true)).await;
        assert_eq!(status, StatusCode::CREATED, "{issued}");
        let p = &issued["programming"];
        let card = SimulatedCard::programmed(
            &uid,
            p["k1"].as_str().expect("k1"),
            p["k2"].as_str().expect("k2"),
            p["lnurlw_base"].as_str().expect("base"),
        )
        .expect("programmed");
        (issued["card"]["id"].as_str().expect("id").to_owned(), card)
    }

    /// `GET /v1/card?p=&c=` with a reading.
    pub(crate) async fn tap_with(&self, p: &str, c: &str) -> Value {
        let (status, body) = call(&self.router, get(&format!("/v1/card?p={p}&c={c}"), false)).await;
        assert_eq!(status, StatusCode::OK, "LNURL answers are 200: {body}");
        body
    }

    /// A tap of `card`: the withdraw request (or the LUD-01 error).
    pub(crate) async fn tap(&self, card: &mut SimulatedCard) -> Value {
        let (p, c) = card.tap_reading().expect("tap");
        self.tap_with(&p, &c).await
    }

    /// The withdraw callback with `invoice` (and a PIN).
    pub(crate) async fn callback(&self, k1: &str, invoice: &str, pin: Option<&str>) -> Value {
        let pin = pin.map(|p| format!("&pin={p}")).unwrap_or_default();
        let (status, body) =
            call(&self.router, get(&format!("/v1/card/callback?k1={k1}&pr={invoice}{pin}"), false))
                .await;
        assert_eq!(status, StatusCode::OK, "LNURL answers are 200: {body}");
        body
    }

    /// Tap, then pay `amount_msat` to the merchant: the callback's answer.
    pub(crate) async fn tap_and_pay(&self, card: &mut SimulatedCard, amount_msat: u64) -> Value {
        let request = self.tap(card).await;
        let Some(k1) = request["k1"].as_str() else { return request };
        let invoice = self.invoice(Some(amount_msat)).await;
        self.callback(k1, &invoice, None).await
    }

    /// What the merchant received for `bolt11`, if it is settled.
    pub(crate) async fn received(&self, bolt11: &str) -> Option<u64> {
        received(&self.merchant, bolt11).await
    }
}

/// An invoice of `node` and its preimage.
pub(crate) async fn invoice_of(
    node: &SandboxNode,
    amount_msat: Option<u64>,
    expiry: u32,
) -> (String, [u8; 32]) {
    let preimage: [u8; 32] = rand::random();
    let params = InvoiceParams {
        amount_msat,
        description: InvoiceDescription::Direct("parking".into()),
        expiry_secs: expiry,
        min_final_cltv_expiry_delta: None,
    };
    let invoice = node
        .create_invoice(PaymentPreimage(preimage), params)
        .await
        .expect("merchant invoice")
        .to_string();
    (invoice, preimage)
}

/// What `node` received for `bolt11`, if it is settled.
pub(crate) async fn received(node: &SandboxNode, bolt11: &str) -> Option<u64> {
    let invoice = parse_invoice(bolt11).expect("bolt11");
    let hash = PaymentHash(*invoice.payment_hash().as_ref());
    match node.invoice_state(hash).await.expect("state") {
        InvoiceState::Settled { amount_msat } => Some(amount_msat),
        _ => None,
    }
}

/// Asserts a LUD-01 error with `code`.
#[track_caller]
pub(crate) fn assert_lnurl_error(body: &Value, code: &str) {
    assert_eq!(body["status"], "ERROR", "{body}");
    assert_eq!(body["code"], code, "{body}");
}

/// A payer device enrolled at the gateway (`POST /v1/payer-devices`), on erased flash.
pub(crate) async fn payer_device(
    router: &Router,
    per_payment_msat: u64,
    per_day_msat: u64,
) -> lnedge_device::payer::PayerDevice<lnedge_device::flash::MemFlash> {
    use lnedge_device::payer::{PayerDevice, PayerLimits, FLASH_LEN};
    let (status, enrolled) = call(
        router,
        post(
            "/v1/payer-devices",
            json!({"name": "Car unit", "per_payment_msat": per_payment_msat,
                   "per_day_msat": per_day_msat}),
            true,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{enrolled}");
    let id: [u8; 16] = hex::decode(enrolled["device"]["id"].as_str().expect("id"))
        .expect("hex")
        .try_into()
        .expect("16 bytes");
    let key: [u8; 32] = hex::decode(enrolled["token_key"].as_str().expect("key"))
        .expect("hex")
        .try_into()
        .expect("32 bytes");
    PayerDevice::open(
        lnedge_proto::DeviceId(id),
        lnedge_proto::payer::PayerKey(key),
        PayerLimits { max_per_payment_msat: per_payment_msat, budget_msat: u64::MAX / 2 },
        lnedge_device::flash::MemFlash::from_bytes(vec![0xFF; FLASH_LEN]),
    )
    .expect("device")
}

/// What a token authorizes for `bolt11`: its hash, amount and payee.
pub(crate) fn terms(bolt11: &str) -> ([u8; 32], u64, [u8; 33]) {
    let invoice = parse_invoice(bolt11).expect("bolt11");
    (
        *invoice.payment_hash().as_ref(),
        invoice.amount_milli_satoshis().expect("amount"),
        invoice.recover_payee_pub_key().serialize(),
    )
}

/// `POST /v1/pay/token`.
pub(crate) async fn pay_token(router: &Router, token: &str, invoice: &str) -> (StatusCode, Value) {
    call(router, post("/v1/pay/token", json!({"token": token, "invoice": invoice}), false)).await
}
