//! Deputy sales end to end on the sandbox network, driven by a real LNURL client we did not
//! write (`lnurl-rs`): a terminal with no connection shows an LNURL, the wallet fetches it, gets
//! the invoice, pays it from an LDK node over a routing node, decrypts the LUD-10 AES success
//! action with the preimage exactly as a wallet does, and presents the claim to the terminal.
//! Also the fixture the attack tests (`deputy_attacks.rs`) share.

use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::http::{Request, StatusCode};
use lnedge_device::claim::ClaimInput;
use lnedge_device::deputy::{DeputyTerminal, Presented, ShownSale, FLASH_LEN};
use lnedge_device::MemFlash;
use lnedge_gateway::accounting::FixedRates;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::GatewayBuilder;
use lnedge_node::bitcoin::hashes::Hash as _;
use lnedge_node::lightning_invoice::Bolt11InvoiceDescriptionRef;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{parse_invoice, LightningBackend, PayRequest};
use lnedge_proto::deputy::{Currency, TerminalKeys};
use lnedge_proto::DeviceId;
use lnedge_wire::keys::device_sync_key;
use lnedge_wire::sign::sign_body as sign_sync;
use lnedge_wire::SIGNATURE_HEADER;
use serde_json::{json, Value};

use crate::support::serve_with_url;

pub(crate) const TOKEN: &str = "deputy-test-admin-token";
pub(crate) const MASTER: [u8; 32] = [0x5a; 32];

/// A gateway on a loopback socket in front of the owner's sandbox node, a customer's node one
/// routing hop away, and an enrolled terminal.
pub(crate) struct Fixture {
    pub(crate) _net: SandboxNetwork,
    pub(crate) customer: Arc<SandboxNode>,
    pub(crate) url: String,
    pub(crate) app: axum::Router,
    pub(crate) store: Arc<dyn GatewayStore>,
    pub(crate) device: DeviceId,
    _server: tokio::task::JoinHandle<()>,
}

/// What the customer's wallet ends with.
pub(crate) struct Paid {
    /// The decrypted success action: `"1234-5678 LNEDGE1…"`.
    pub(crate) text: String,
    /// The preimage (what every routing node on the path learned too).
    pub(crate) preimage: [u8; 32],
    /// The invoice paid.
    pub(crate) invoice: String,
}

impl Fixture {
    pub(crate) async fn new() -> Fixture {
        let net = SandboxNetwork::new().await.expect("network");
        let [customer, _router, owner] =
            net.line(["customer", "router", "owner"], 2_000_000).await.expect("line");
        let store: Arc<dyn GatewayStore> = Arc::new(SqliteStore::in_memory().expect("store"));
        let mut app_clone = None;
        let owner: Arc<dyn LightningBackend> = owner;
        let (url, server) = serve_with_url(|url| {
            let gateway = GatewayBuilder::new(
                store.clone(),
                owner.clone(),
                Arc::new(PoolKey::generate()),
                MASTER,
            )
            .rates(Arc::new(FixedRates::new([("EUR".to_owned(), 60_000.0)])))
            .public_url(url)
            .build();
            let state = AppState::with_gateway(gateway, TOKEN);
            let router = app(state);
            app_clone = Some(router.clone());
            router
        })
        .await;
        let device = Self::enrol_in(&store).await;
        Fixture {
            _net: net,
            customer,
            url,
            app: app_clone.expect("app"),
            store,
            device,
            _server: server,
        }
    }

    pub(crate) async fn enrol_in(store: &Arc<dyn GatewayStore>) -> DeviceId {
        let device = DeviceId(rand::random());
        store.insert_device(device, "Café Nord", &[], 1_700_000_000).await.expect("enrol");
        device
    }

    /// A terminal for `device`, provisioned with the keys the admin route hands out.
    pub(crate) async fn terminal(&self, device: DeviceId) -> DeputyTerminal<MemFlash> {
        let (status, keys) = self.admin_get(&format!("/v1/deputy/{device}/keys")).await;
        assert_eq!(status, StatusCode::OK, "{keys}");
        let hex32 = |field: &str| -> [u8; 32] {
            hex::decode(keys[field].as_str().expect(field)).expect("hex").try_into().expect("32")
        };
        let keys = TerminalKeys {
            device_id: device,
            seal_key: hex32("seal_key"),
            claim_key: hex32("claim_key"),
        };
        assert_eq!(keys, TerminalKeys::derive(&MASTER, device));
        DeputyTerminal::open(keys, &self.url, MemFlash::from_bytes(vec![0xFF; FLASH_LEN]))
            .expect("terminal")
    }

    pub(crate) async fn admin_get(&self, uri: &str) -> (StatusCode, Value) {
        let request = Request::get(uri)
            .header("authorization", format!("Bearer {TOKEN}"))
            .body(Body::empty())
            .expect("request");
        call(&self.app, request).await
    }

    /// A plain GET of the gateway (what a wallet sends), as JSON.
    pub(crate) async fn get(&self, url: &str) -> Value {
        let path = url.strip_prefix(&self.url).expect("a URL of this gateway");
        let (status, body) =
            call(&self.app, Request::get(path).body(Body::empty()).expect("request")).await;
        assert_eq!(status, StatusCode::OK, "LNURL routes answer 200: {body}");
        body
    }

    /// The wallet's whole flow with `lnurl-rs` and the customer's node.
    pub(crate) async fn wallet_pays(&self, shown: &ShownSale) -> Paid {
        let client = lnurl::Builder::default().build_async().expect("client");
        // The wallet scans the QR: LUD-01 bech32 (lnurl-rs decodes it).
        let lnurl: lnurl::lnurl::LnUrl = shown.lnurl.parse().expect("an LNURL");
        assert_eq!(lnurl.url, shown.url);
        let response = client.make_request(&lnurl.url).await.expect("payRequest");
        let lnurl::LnUrlResponse::LnUrlPayResponse(pay) = response else {
            panic!("not a payRequest: {response:?}")
        };
        assert_eq!(pay.min_sendable, pay.max_sendable, "a fixed amount");
        let invoice = client.get_invoice(&pay, pay.min_sendable, None, None).await.expect("pr");
        let bolt11 = parse_invoice(invoice.invoice()).expect("BOLT 11");
        // LUD-06: the wallet checks the description hash against the metadata.
        match bolt11.description() {
            Bolt11InvoiceDescriptionRef::Hash(h) => {
                assert_eq!(*h.0.as_byte_array(), pay.metadata_hash(), "description hash")
            }
            other => panic!("expected a description hash, got {other:?}"),
        }
        let outcome = self
            .customer
            .pay(PayRequest {
                invoice: bolt11,
                amount_msat: None,
                max_fee_msat: 50_000,
                timeout: Duration::from_secs(60),
                max_total_cltv_expiry_delta: None,
            })
            .await
            .expect("the customer pays");
        // LUD-10: AES-256-CBC with the preimage, as the wallet decrypts it.
        let Some(lnurl::pay::SuccessAction::AES(aes)) = invoice.success_action() else {
            panic!("expected an aes success action")
        };
        let text = aes.decrypt(&outcome.preimage.0).expect("decrypts with the preimage");
        Paid { text, preimage: outcome.preimage.0, invoice: invoice.pr.clone() }
    }

    /// Signed terminal report of claimed sales.
    pub(crate) async fn report_claimed(&self, device: DeviceId, counters: &[u64]) -> Value {
        let body = json!({ "claimed": counters }).to_string();
        let key = device_sync_key(&MASTER, &device);
        let request = Request::post(format!("/v1/deputy/{device}/sync"))
            .header(SIGNATURE_HEADER, sign_sync(&key, body.as_bytes()))
            .header("content-type", "application/json")
            .body(Body::from(body))
            .expect("request");
        let (status, answer) = call(&self.app, request).await;
        assert_eq!(status, StatusCode::OK, "{answer}");
        answer
    }
}

pub(crate) use crate::support::call_json as call;

pub(crate) fn eur() -> Currency {
    Currency::parse("EUR").expect("EUR")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_terminal_sells_4_20_eur_to_an_lnurl_wallet_and_checks_the_claim() {
    let fx = Fixture::new().await;
    let mut terminal = fx.terminal(fx.device).await;
    let shown = terminal.new_sale(420, eur()).expect("sale");
    assert!(shown.lnurl.starts_with("LNURL1"));
    // A plain-http gateway gets no LUD-17 link (wallets would map it to https): the NFC link is
    // the LNURL itself.
    assert_eq!(shown.lud17, format!("lightning:{}", shown.lnurl));

    // The wallet's fetch: 4.20 EUR at 60 000 EUR/BTC is 7 000 sat.
    let pay = fx.get(&shown.url).await;
    assert_eq!(
        (pay["minSendable"].as_u64(), pay["maxSendable"].as_u64()),
        (Some(7_000_000), Some(7_000_000))
    );
    assert_eq!(pay["metadata"], r#"[["text/plain","4.20 EUR at Café Nord (sale 1)"]]"#);
    // Fetching again (wallets do) answers the same pending sale.
    assert_eq!(fx.get(&shown.url).await, pay);

    let (_, listed) = fx.admin_get(&format!("/v1/deputy/sales?device={}", fx.device)).await;
    assert_eq!(listed["sales"][0]["status"], "requested", "{listed}");

    let paid = fx.wallet_pays(&shown).await;
    let (code, claim) = paid.text.split_once(' ').expect("code and claim");
    assert_eq!(code.len(), 9, "{code}");
    assert!(claim.starts_with("LNEDGE1"), "{claim}");

    // A wrong code is refused, the right one accepted; the full claim then says "already".
    let first = code.chars().next().expect("a digit");
    let wrong = format!("{}{}", if first == '1' { '2' } else { '1' }, code.get(1..).expect("rest"));
    assert!(matches!(
        terminal.present(ClaimInput::Keypad(&wrong)).expect("present"),
        Presented::Wrong { counter: 1, tries_left: 4 }
    ));
    assert_eq!(
        terminal.present(ClaimInput::Keypad(code)).expect("code"),
        Presented::Paid(shown.sale)
    );
    assert_eq!(
        terminal.present(ClaimInput::Text(&paid.text)).expect("claim"),
        Presented::AlreadyPaid(shown.sale)
    );

    // The operator sees it paid, with the fiat amount and the rate.
    let (_, listed) = fx.admin_get(&format!("/v1/deputy/sales?device={}", fx.device)).await;
    let row = &listed["sales"][0];
    assert_eq!(
        (&row["status"], &row["amount_msat"], &row["fiat"], &row["rate_per_btc"]),
        (&json!("paid"), &json!(7_000_000), &json!("4.20 EUR"), &json!(60_000.0)),
        "{listed}"
    );
    // A fetch of the paid sale now says so.
    let again = fx.get(&shown.url).await;
    assert_eq!((&again["status"], &again["code"]), (&json!("ERROR"), &json!("already_paid")));

    // The terminal syncs: the sale becomes claimed.
    let sales: Vec<u64> =
        terminal.unsynced_paid().expect("unsynced").iter().map(|s| s.counter).collect();
    assert_eq!(sales, [1]);
    let answer = fx.report_claimed(fx.device, &sales).await;
    assert_eq!(answer["claimed"], 1, "{answer}");
    terminal.mark_synced(&sales).expect("synced");
    let (_, listed) = fx.admin_get("/v1/deputy/sales").await;
    assert_eq!(listed["sales"][0]["status"], "claimed", "{listed}");
    assert_eq!(fx.report_claimed(fx.device, &sales).await["already_claimed"], 1);

    // The books: the sales report carries the deputy sale, delivered (the CSV's columns are
    // checked in `accounting`).
    let (_, books) = fx.admin_get("/v1/reports/sales").await;
    let row = books["rows"]
        .as_array()
        .expect("rows")
        .iter()
        .find(|r| r["kind"] == "deputy")
        .expect("the deputy sale is in the sales report")
        .clone();
    assert_eq!(row["deputy_counter"], 1, "{books}");
    assert_eq!(row["status"], "delivered", "{books}");
    assert_eq!(row["device_id"], fx.device.to_string(), "{books}");
    assert!(row["amount_msat"].as_u64().unwrap_or(0) > 0, "{books}");
    assert!(row["pool_id"].is_null(), "{books}");
    let deputy_total = &books["totals"]["by_product"][format!("{}/deputy", fx.device)];
    assert_eq!(deputy_total["rows"], 1, "{books}");

    // LUD-09 fallback: invoice + preimage give the same claim.
    let uri = format!(
        "/v1/deputy/claim?invoice={}&preimage={}",
        paid.invoice,
        hex::encode(paid.preimage)
    );
    let (status, fallback) =
        call(&fx.app, Request::get(uri).body(Body::empty()).expect("req")).await;
    assert_eq!(status, StatusCode::OK, "{fallback}");
    assert_eq!(fallback["text"], paid.text.as_str());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_payment_watcher_marks_deputy_sales_paid() {
    use lnedge_gateway::store::DeputyStatus;
    use lnedge_gateway::watcher::{Handled, PaymentWatcher};
    use lnedge_node::{BackendEvent, PaymentHash};

    let fx = Fixture::new().await;
    let mut terminal = fx.terminal(fx.device).await;
    let shown = terminal.new_sale(2_100, Currency::SAT).expect("sale");
    let pay = fx.get(&shown.url).await;
    assert_eq!(pay["minSendable"], 2_100_000);
    let sale = fx.store.deputy_sale(fx.device, 1).await.expect("store").expect("recorded");
    let watcher = PaymentWatcher {
        store: fx.store.clone(),
        owner: fx.customer.clone(),
        rates: Arc::new(FixedRates::default()),
        accounting_currency: None,
    };
    let settled = BackendEvent::InvoiceSettled {
        payment_hash: PaymentHash(sale.payment_hash),
        amount_msat: 2_100_000,
    };
    assert_eq!(watcher.handle(&settled).await.expect("handled"), Handled::Recorded);
    assert_eq!(watcher.handle(&settled).await.expect("handled"), Handled::Ignored, "once");
    let sale = fx.store.deputy_sale(fx.device, 1).await.expect("store").expect("recorded");
    assert_eq!(sale.status, DeputyStatus::Paid);
    assert_eq!(code_of_error(&fx.get(&shown.url).await), "already_paid");
}

fn code_of_error(answer: &Value) -> &str {
    assert_eq!(answer["status"], "ERROR", "{answer}");
    answer["code"].as_str().expect("code")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_a_public_url_callbacks_follow_the_host_header() {
    let fx = Fixture::new().await;
    let router = app(AppState::new(
        fx.store.clone(),
        fx.customer.clone(),
        Arc::new(PoolKey::generate()),
        MASTER,
        TOKEN,
    ));
    let mut terminal = fx.terminal(fx.device).await;
    let shown = terminal.new_sale(2_100, Currency::SAT).expect("sale");
    let path = shown.url.strip_prefix(&fx.url).expect("path").to_owned();
    for (host, scheme) in [("gw.example", "https"), ("127.0.0.1:8080", "http")] {
        let request =
            Request::get(&path).header("host", host).body(Body::empty()).expect("request");
        let (_, pay) = call(&router, request).await;
        let callback = pay["callback"].as_str().expect("callback");
        assert!(callback.starts_with(&format!("{scheme}://{host}/v1/deputy/")), "{callback}");
    }
}
