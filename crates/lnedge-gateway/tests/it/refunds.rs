//! Refunds of failed vends end to end on the sandbox network: a machine jams, syncs, the
//! customer proves the payment, a real LNURL client we did not write (`lnurl-rs`) withdraws over
//! a real socket, and the owner's LDK node pays the customer's LDK node. Also: attested
//! failure receipts, restart recovery, concurrent claims on PostgreSQL. The six attacks of the
//! issue are in `refunds_attacks.rs`; sessions and LNURL-auth in `refunds_sessions.rs`.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use axum::Router;
use http_body_util::BodyExt;
use lnedge_device::claim::ClaimInput;
use lnedge_device::{Enrolment, SimulatedMotor, VendOutcome, VendingMachine};
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::refunds::{ClaimOutcome, RefundState};
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::watcher::{Handled, PaymentWatcher};
use lnedge_gateway::GatewayBuilder;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{
    parse_invoice, InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend, PayRequest,
    PaymentHash, PaymentPreimage,
};
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sync::SignedUpload;
use serde_json::{json, Value};
use tower::ServiceExt;

pub(crate) const TOKEN: &str = "refund-test-admin-token";
pub(crate) const MASTER: [u8; 32] = [0x5a; 32];
pub(crate) const PRICE_MSAT: u64 = 2_500_000;
pub(crate) const REFUND_BASE: &str = "https://gateway.example/v1/refunds";

/// A customer, an owner, a gateway and an enrolled vending machine with a pool.
pub(crate) struct World {
    pub(crate) net: SandboxNetwork,
    pub(crate) customer: Arc<SandboxNode>,
    pub(crate) owner: Arc<SandboxNode>,
    pub(crate) store: Arc<dyn GatewayStore>,
    pub(crate) state: AppState,
    pub(crate) router: Router,
    pub(crate) machine: VendingMachine<SimulatedMotor>,
    pub(crate) device: DeviceId,
    pub(crate) pool_bytes: Vec<u8>,
    pub(crate) dir: tempfile::TempDir,
}

/// One sale at the machine.
pub(crate) struct Sale {
    pub bolt11: String,
    pub(crate) preimage: [u8; 32],
    pub(crate) outcome: VendOutcome,
}

impl Sale {
    pub(crate) fn payment_hash(&self) -> [u8; 32] {
        lnedge_proto::pool::payment_hash(&self.preimage)
    }

    pub(crate) fn voucher_text(&self) -> String {
        match &self.outcome {
            VendOutcome::Failed { voucher_text, .. } => voucher_text.clone(),
            other => panic!("not a failed vend: {other:?}"),
        }
    }
}

pub(crate) use crate::support::call_json as call;

/// A GET of an admin route (the admin token sent).
pub(crate) async fn admin_get(router: &axum::Router, uri: &str) -> (StatusCode, Value) {
    let request = Request::builder()
        .uri(uri)
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    call(router, request).await
}

pub(crate) fn post(uri: &str, body: Value, admin: bool) -> Request<Body> {
    let mut b =
        Request::builder().method("POST").uri(uri).header("content-type", "application/json");
    if admin {
        b = b.header("authorization", format!("Bearer {TOKEN}"));
    }
    b.body(Body::from(body.to_string())).expect("request")
}

pub(crate) fn get(uri: &str) -> Request<Body> {
    Request::builder().uri(uri).body(Body::empty()).expect("request")
}

/// The gateway's state on `store` with `owner`, its public URL `public_url`.
pub(crate) fn gateway_state(
    store: Arc<dyn GatewayStore>,
    owner: Arc<SandboxNode>,
    public_url: &str,
) -> AppState {
    let gateway = GatewayBuilder::new(store, owner, Arc::new(PoolKey::generate()), MASTER)
        .refund_url_base(REFUND_BASE)
        .public_url(public_url)
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
    let [customer, owner] = net.line(["customer", "owner"], 2_000_000).await.expect("line");
    let state = gateway_state(store.clone(), owner.clone(), "http://gateway.test");
    let router = app(state.clone());
    let device = DeviceId(rand::random());
    let (status, body) = call(
        &router,
        post(
            "/v1/devices",
            json!({"device_id": device.to_string(), "name": "Lobby",
                   "products": [{"id": 1, "description": "Cola", "price_msat": PRICE_MSAT}]}),
            true,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{body}");
    let (status, pool) = call(
        &router,
        post(
            &format!("/v1/devices/{device}/pools"),
            json!({"entries_per_product": 6, "expiry_days": 30}),
            true,
        ),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{pool}");
    let pool_id = pool["pool_id"].as_str().expect("pool id");
    let file = Request::builder()
        .uri(format!("/v1/devices/{device}/pools/{pool_id}/file"))
        .header("authorization", format!("Bearer {TOKEN}"))
        .body(Body::empty())
        .expect("request");
    let response = router.clone().oneshot(file).await.expect("answer");
    assert_eq!(response.status(), StatusCode::OK);
    let pool_bytes = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    let enrolment = Enrolment { device_id: device, owner_node_id: owner.node_id().serialize() };
    let mut machine =
        VendingMachine::enrol(&dir.path().join("machine"), enrolment, SimulatedMotor::default())
            .expect("enrol");
    machine.install_pool(pool_bytes.clone()).expect("install");
    World { net, customer, owner, store, state, router, machine, device, pool_bytes, dir }
}

impl World {
    /// The customer buys a cola; the motor jams if `jam`.
    pub(crate) async fn buy(&mut self, jam: bool) -> Sale {
        let offer = self.machine.offer(1).expect("offer");
        let request = PayRequest {
            invoice: parse_invoice(&offer.bolt11).expect("bolt11"),
            amount_msat: None,
            max_fee_msat: 10_000,
            timeout: Duration::from_secs(30),
            max_total_cltv_expiry_delta: None,
        };
        let preimage = self.customer.pay(request).await.expect("paid").preimage.0;
        if jam {
            self.machine.dispenser_mut().jam_next(1);
        }
        let outcome =
            self.machine.present(ClaimInput::Text(&hex::encode(preimage))).expect("claim");
        Sale { bolt11: offer.bolt11, preimage, outcome }
    }

    /// The gateway's watcher records `n` payments of the owner's node.
    pub(crate) async fn record_payments(&self, n: usize) {
        let watcher = PaymentWatcher {
            store: self.store.clone(),
            owner: self.owner.clone(),
            rates: Arc::new(lnedge_gateway::accounting::FixedRates::default()),
            accounting_currency: None,
        };
        let mut recorded = 0;
        while recorded < n {
            let q = tokio::time::timeout(Duration::from_secs(30), self.owner.next_event())
                .await
                .expect("events in time")
                .expect("event");
            if watcher.handle(&q.event).await.expect("handled") == Handled::Recorded {
                recorded += 1;
            }
            self.owner.event_handled(q.id).await.expect("ack");
        }
    }

    /// The machine syncs its ledger.
    pub(crate) async fn sync(&mut self) {
        let batch = self.machine.sync_batch().expect("batch");
        let SignedUpload { body, signature } =
            batch.signed(&device_sync_key(&MASTER, &self.device));
        let request = Request::builder()
            .method("POST")
            .uri(format!("/v1/devices/{}/sync", self.device))
            .header("x-lnedge-signature", signature)
            .body(Body::from(body))
            .expect("request");
        let (status, reply) = call(&self.router, request).await;
        assert_eq!(status, StatusCode::OK, "{reply}");
    }

    /// `POST /v1/refunds/claim`.
    pub(crate) async fn prove(
        &self,
        voucher: &str,
        invoice: &str,
        preimage: &[u8; 32],
    ) -> (StatusCode, Value) {
        let body =
            json!({"voucher": voucher, "invoice": invoice, "preimage": hex::encode(preimage)});
        call(&self.router, post("/v1/refunds/claim", body, false)).await
    }

    /// An invoice of the customer's node for `amount_msat`.
    pub(crate) async fn customer_invoice(&self, amount_msat: Option<u64>) -> String {
        let params = InvoiceParams {
            amount_msat,
            description: InvoiceDescription::Direct("refund".into()),
            expiry_secs: 3600,
            min_final_cltv_expiry_delta: None,
        };
        let invoice = self
            .customer
            .create_invoice(PaymentPreimage(rand::random()), params)
            .await
            .expect("customer invoice");
        invoice.to_string()
    }

    /// Waits until the refund of `hash` is in `want`.
    pub(crate) async fn wait_refund(&self, hash: &[u8; 32], want: RefundState) {
        let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
        loop {
            let r = self.store.refund(hash).await.expect("read").expect("refund");
            if r.state == want {
                return;
            }
            assert!(tokio::time::Instant::now() < deadline, "refund stuck in {:?}", r.state);
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

/// The amount the customer's node received for its invoice `bolt11`, if it settled.
pub(crate) async fn received(node: &SandboxNode, bolt11: &str) -> Option<u64> {
    let invoice = parse_invoice(bolt11).expect("bolt11");
    let hash = PaymentHash(*invoice.payment_hash().as_ref());
    match node.invoice_state(hash).await.expect("state") {
        InvoiceState::Settled { amount_msat } => Some(amount_msat),
        _ => None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jammed_motor_refund_is_paid_to_the_customer_node_with_lnurl_rs() {
    let mut w = world().await;
    let sale = w.buy(true).await;
    let voucher = sale.voucher_text();
    assert!(voucher.starts_with(REFUND_BASE), "the QR opens the gateway: {voucher}");
    w.record_payments(1).await;

    // Before the machine syncs, the gateway does not know the vend failed.
    let (status, body) = w.prove(&voucher, &sale.bolt11, &sale.preimage).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::CONFLICT, Some("failure_not_known")),
        "{body}"
    );
    w.sync().await;

    // The gateway on a real socket, for the LNURL client.
    let state = w.state.clone();
    let (base, server) =
        crate::support::serve_with_url(|url| app(state.reconfigured(|g| g.public_url(url)))).await;
    let http = reqwest::Client::new();
    let answer: Value = http
        .post(format!("{base}/v1/refunds/claim"))
        .json(&json!({"voucher": voucher, "invoice": sale.bolt11, "preimage": hex::encode(sale.preimage)}))
        .send()
        .await
        .expect("claim")
        .json()
        .await
        .expect("json");
    assert_eq!(answer["state"], "due", "{answer}");
    assert_eq!(answer["amount_msat"], PRICE_MSAT);
    let lnurl_text = answer["lnurl"].as_str().expect("lnurl");
    assert!(lnurl_text.starts_with("LNURL1"), "{lnurl_text}");
    // A plain-http gateway hands out no LUD-17 link: wallets would map it back to https.
    assert!(answer["lnurlw"].is_null(), "{answer}");

    // The wallet side: lnurl-rs decodes the LNURL, fetches the withdraw request, withdraws.
    let client = lnurl::AsyncClient::from_client(reqwest::Client::new());
    let decoded = lnurl::lnurl::LnUrl::decode(lnurl_text.to_owned()).expect("LUD-01");
    let response = client.make_request(&decoded.url).await.expect("withdraw request");
    let lnurl::LnUrlResponse::LnUrlWithdrawResponse(withdraw) = response else {
        panic!("not a withdraw request: {response:?}");
    };
    assert_eq!(withdraw.max_withdrawable, PRICE_MSAT);
    assert_eq!(withdraw.min_withdrawable, Some(PRICE_MSAT));
    let invoice = w.customer_invoice(Some(withdraw.max_withdrawable)).await;
    let outcome = client.do_withdrawal(&withdraw, &invoice).await.expect("callback");
    assert!(matches!(outcome, lnurl::Response::Ok(())), "{outcome:?}");

    w.wait_refund(&sale.payment_hash(), RefundState::Paid).await;
    assert_eq!(received(&w.customer, &invoice).await, Some(PRICE_MSAT), "sats back in the wallet");
    // LUD-03 "zero balance": fetched again, the paid refund is a withdrawRequest of 0, not an
    // error, and its description says why.
    let again = client.make_request(&decoded.url).await.expect("withdraw request again");
    let lnurl::LnUrlResponse::LnUrlWithdrawResponse(again) = again else {
        panic!("not a withdraw request: {again:?}");
    };
    assert_eq!((again.min_withdrawable, again.max_withdrawable), (Some(0), 0));
    assert!(again.default_description.contains("already paid out"), "{again:?}");

    // The operator sees it.
    let (status, report) = admin_get(&w.router, "/v1/reports/refunds").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(report["totals"]["paid"]["amount_msat"], PRICE_MSAT, "{report}");
    // …and the sales report says the sale was refunded.
    let (status, sales) = admin_get(&w.router, "/v1/reports/sales").await;
    assert_eq!(status, StatusCode::OK);
    let hash = hex::encode(sale.payment_hash());
    let row = sales["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["payment_hash"] == hash.as_str())
        .expect("the sale is in the report")
        .clone();
    assert_eq!(row["status"], "refunded", "{sales}");

    // A wallet that opens the voucher URL itself is told to prove payment in a browser.
    let page = reqwest::get(voucher.replace(REFUND_BASE, &format!("{base}/v1/refunds")))
        .await
        .expect("get");
    let text: Value = page.json().await.expect("json");
    assert_eq!(text["status"], "ERROR");
    assert!(text["reason"].as_str().expect("reason").contains("browser"), "{text}");
    server.abort();
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_attested_failure_is_refundable_before_any_sync() {
    let mut w = world().await;
    // Enrol the machine with attestation (admin), write the key into it.
    let (status, body) = call(
        &w.router,
        post(&format!("/v1/devices/{}/attestation", w.device), json!({"enabled": true}), true),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let key = hex::decode(body["attestation_key"].as_str().expect("key")).expect("hex");
    w.machine.set_attestation_key(key.try_into().expect("32 bytes")).expect("store key");

    let sale = w.buy(true).await;
    let voucher = sale.voucher_text();
    assert!(voucher.contains("&a="), "attested voucher: {voucher}");
    w.record_payments(1).await;
    // No sync: the attestation is enough.
    let (status, body) = w.prove(&voucher, &sale.bolt11, &sale.preimage).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!((body["state"].as_str(), body["attested"].as_bool()), (Some("due"), Some(true)));

    // A forged tag (or one for another voucher) is refused.
    let sale2 = w.buy(true).await;
    w.record_payments(1).await;
    let forged =
        format!("{}{}", &sale2.voucher_text()[..sale2.voucher_text().len() - 32], "00".repeat(16));
    let (status, body) = w.prove(&forged, &sale2.bolt11, &sale2.preimage).await;
    assert_eq!(
        (status, body["error"]["code"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("bad_attestation"))
    );
    // With attestation turned off the device's tags are not trusted.
    let (status, _) = call(
        &w.router,
        post(&format!("/v1/devices/{}/attestation", w.device), json!({"enabled": false}), true),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    let (status, body) = w.prove(&sale2.voucher_text(), &sale2.bolt11, &sale2.preimage).await;
    assert_eq!(body["error"]["code"], "bad_attestation", "{status} {body}");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_claimed_refund_is_paid_once_after_a_gateway_restart() {
    let mut w = world().await;
    let sale = w.buy(true).await;
    w.record_payments(1).await;
    w.sync().await;
    let (status, body) = w.prove(&sale.voucher_text(), &sale.bolt11, &sale.preimage).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let k1 = lnedge_gateway::refunds::hex32(body["k1"].as_str().expect("k1")).expect("k1");
    // The claim is recorded, then the gateway dies before paying.
    let invoice = w.customer_invoice(Some(PRICE_MSAT)).await;
    let outcome = w.store.claim_refund(&k1, &invoice, 1).await.expect("claim");
    assert!(matches!(outcome, ClaimOutcome::Claimed(_)));
    drop(std::mem::replace(&mut w.router, Router::new()));

    // A new gateway process on the same database file.
    let store: Arc<dyn GatewayStore> =
        Arc::new(SqliteStore::open(&w.dir.path().join("gw.sqlite3")).expect("reopen"));
    let restarted = gateway_state(store.clone(), w.owner.clone(), "http://gateway.test");
    assert_eq!(
        restarted.gateway.refunds().resume().await.expect("resume"),
        vec![RefundState::Paid]
    );
    assert_eq!(received(&w.customer, &invoice).await, Some(PRICE_MSAT));
    // Resuming again (another restart) pays nothing more: the refund is paid, not claimed.
    assert!(restarted.gateway.refunds().resume().await.expect("resume").is_empty());
    let refund = store.refund(&sale.payment_hash()).await.expect("read").expect("refund");
    assert_eq!(refund.state, RefundState::Paid);
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refund_invoice_must_ask_the_exact_amount() {
    let mut w = world().await;
    let sale = w.buy(true).await;
    w.record_payments(1).await;
    w.sync().await;
    let (_, body) = w.prove(&sale.voucher_text(), &sale.bolt11, &sale.preimage).await;
    let k1 = body["k1"].as_str().expect("k1").to_owned();
    for (amount, code) in [(None, "amount_required"), (Some(PRICE_MSAT + 1), "wrong_amount")] {
        let invoice = w.customer_invoice(amount).await;
        let (status, reply) =
            call(&w.router, get(&format!("/v1/refunds/withdraw/callback?k1={k1}&pr={invoice}")))
                .await;
        assert_eq!(
            (status, reply["status"].as_str(), reply["code"].as_str()),
            (StatusCode::OK, Some("ERROR"), Some(code))
        );
    }
    let refund = w.store.refund(&sale.payment_hash()).await.expect("read").expect("refund");
    assert_eq!(refund.state, RefundState::Due, "bad claims change nothing");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_expired_refund_cannot_be_withdrawn() {
    let mut w = world().await;
    let sale = w.buy(true).await;
    w.record_payments(1).await;
    w.sync().await;
    // An operator who gives refunds no time at all: the refund expires as it opens.
    let router = app(w.state.reconfigured(|g| {
        g.refunds(lnedge_gateway::refunds::RefundSettings { expiry_secs: 0, ..Default::default() })
    }));
    let body = json!({"voucher": sale.voucher_text(), "invoice": sale.bolt11, "preimage": hex::encode(sale.preimage)});
    let (status, reply) = call(&router, post("/v1/refunds/claim", body, false)).await;
    assert_eq!(
        (status, reply["error"]["code"].as_str()),
        (StatusCode::GONE, Some("refund_expired")),
        "{reply}"
    );
    let refund = w.store.refund(&sale.payment_hash()).await.expect("read").expect("refund");
    assert_eq!(refund.state, RefundState::Expired);
    let (status, report) = admin_get(&w.router, "/v1/reports/refunds").await;
    assert_eq!((status, report["totals"]["expired"]["count"].as_u64()), (StatusCode::OK, Some(1)));
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
#[ignore = "needs PostgreSQL (DATABASE_URL)"]
async fn concurrent_claims_on_postgres_have_one_winner() {
    let db = crate::store::TestDatabase::create().await;
    let store =
        lnedge_gateway::store::postgres::PostgresStore::connect(&db.url).await.expect("postgres");
    let store: Arc<dyn GatewayStore> = Arc::new(store);
    for _ in 0..5 {
        let wins =
            lnedge_gateway::store::conformance::refunds::concurrent_claims(store.clone(), 16).await;
        assert_eq!(wins, 1, "exactly one of 16 concurrent claims wins");
    }
    db.drop_it().await;
}
