//! The async relay on the sandbox network (real LDK nodes): payer → gateway → sensor.
//!
//! The relay's driver is stepped by hand ([`Relay::tick`]) so each test decides when the
//! gateway "runs"; blocks are mined to move time.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Bytes;
use axum::http::HeaderMap;
use axum::routing::post;
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::relay::{Relay, RelayError, RelaySettings};
use lnedge_gateway::store::relay::{RelayPayment, RelayState};
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::store::GatewayStore;
use lnedge_gateway::GatewayBuilder;
use lnedge_node::bitcoin::hashes::{sha256, Hash};
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::{
    parse_invoice, BackendError, InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend,
    PayRequest, PaymentOutcome, PaymentPreimage,
};
use lnedge_payee::{PayeeAgent, PayeeClient, PreimageFile};
use lnedge_wire::relay::WakeNotification;
use lnedge_wire::sign::verify_webhook;
use lnedge_wire::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use tokio::task::JoinHandle;

pub(crate) const AMOUNT_MSAT: u64 = 50_000_000;

/// payer → gateway → sensor, the gateway's store in a temporary directory.
pub(crate) struct World {
    pub(crate) net: SandboxNetwork,
    pub(crate) payer: Arc<SandboxNode>,
    pub(crate) gateway: Arc<SandboxNode>,
    pub(crate) sensor: Arc<SandboxNode>,
    pub(crate) dir: tempfile::TempDir,
    pub(crate) master: [u8; 32],
}

impl World {
    pub(crate) async fn new() -> World {
        let net = SandboxNetwork::new().await.expect("network");
        let [payer, gateway, sensor] =
            net.line(["payer", "gateway", "sensor"], 2_000_000).await.expect("line");
        World {
            net,
            payer,
            gateway,
            sensor,
            dir: tempfile::tempdir().expect("dir"),
            master: rand::random(),
        }
    }

    /// A store handle on the gateway's database file (a new one each call: a "new process").
    pub(crate) fn store(&self) -> Arc<dyn GatewayStore> {
        Arc::new(SqliteStore::open(&self.dir.path().join("gateway.sqlite3")).expect("store"))
    }

    pub(crate) fn relay(&self, store: Arc<dyn GatewayStore>, node: Arc<SandboxNode>) -> Relay {
        Relay::new(store, node, self.master, RelaySettings::default())
    }
}

/// An offer of [`AMOUNT_MSAT`] paid by `w`'s payer and held by the relay: the offer, the
/// payer's payment (waiting), the held payment.
pub(crate) async fn held(
    w: &World,
    relay: &Relay,
    payee: &Payee,
    description: &str,
) -> (RelayPayment, JoinHandle<Result<PaymentOutcome, BackendError>>, RelayPayment) {
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, description).await.expect("offer");
    let paying = pay(&w.payer, &offer.bolt11);
    let held = until(relay, &offer.payment_hash, RelayState::Held).await;
    (offer, paying, held)
}

/// A payee with preimages for the hashes it committed.
pub(crate) struct Payee {
    pub(crate) id: String,
    pub(crate) preimages: Vec<[u8; 32]>,
}

impl Payee {
    pub(crate) async fn enrol(relay: &Relay, hashes: usize) -> Payee {
        let (record, _key) = relay.register("sensor").await.expect("register");
        let preimages: Vec<[u8; 32]> = (0..hashes).map(|_| rand::random()).collect();
        let commitments: Vec<[u8; 32]> = preimages.iter().map(hash).collect();
        relay.commit(&record.id, &commitments).await.expect("commit");
        Payee { id: record.id, preimages }
    }

    pub(crate) fn preimage(&self, hash_: &[u8; 32]) -> [u8; 32] {
        *self.preimages.iter().find(|p| hash(p) == *hash_).expect("a preimage of ours")
    }

    /// The payee's invoice for a held payment: on its own node (sandbox or ldk-node), for the
    /// preimage of the payment's hash and the claim amount (held − fee).
    pub(crate) async fn invoice(
        &self,
        node: &dyn LightningBackend,
        payment: &RelayPayment,
    ) -> lnedge_node::lightning_invoice::Bolt11Invoice {
        let held = payment.held_amount_msat.expect("held");
        let params = InvoiceParams {
            amount_msat: Some(held - payment.fee_msat.expect("fee")),
            description: InvoiceDescription::Direct("sensor reading".into()),
            expiry_secs: 3600,
            min_final_cltv_expiry_delta: None,
        };
        let preimage = PaymentPreimage(self.preimage(&payment.payment_hash));
        node.create_invoice(preimage, params).await.expect("payee invoice")
    }

    /// Stores `held` as forwarding to an invoice of the payee's node without sending it (as
    /// after a crash between the two); answers the stored payment.
    pub(crate) async fn forwarding_unsent(
        &self,
        relay: &Relay,
        node: &dyn LightningBackend,
        held: &RelayPayment,
    ) -> RelayPayment {
        let invoice = self.invoice(node, held).await;
        let mut forwarding = held.clone();
        forwarding.state = RelayState::Forwarding;
        forwarding.claim_bolt11 = Some(invoice.to_string());
        forwarding.attempts = 1;
        relay.store().update_relay_payment(&forwarding).await.expect("write").expect("won")
    }

    /// The payee wakes: an invoice of its node for the held payment, handed to the relay.
    pub(crate) async fn claim(
        &self,
        relay: &Relay,
        node: &dyn LightningBackend,
        payment: &RelayPayment,
    ) -> Result<RelayPayment, RelayError> {
        let invoice = self.invoice(node, payment).await;
        relay.claim(&self.id, &invoice.to_string()).await
    }
}

pub(crate) fn hash(preimage: &[u8; 32]) -> [u8; 32] {
    sha256::Hash::hash(preimage).to_byte_array()
}

/// The payer pays `bolt11` in the background (its HTLC is held until the relay resolves it).
pub(crate) fn pay(
    payer: &Arc<SandboxNode>,
    bolt11: &str,
) -> JoinHandle<Result<PaymentOutcome, BackendError>> {
    let payer = payer.clone();
    let invoice = parse_invoice(bolt11).expect("the relay's invoice parses");
    tokio::spawn(async move {
        payer
            .pay(PayRequest {
                invoice,
                amount_msat: None,
                max_fee_msat: 10_000,
                timeout: Duration::from_secs(120),
                max_total_cltv_expiry_delta: None,
            })
            .await
    })
}

/// Ticks the relay until the payment reaches `state` (at most 60 s).
pub(crate) async fn until(relay: &Relay, hash_: &[u8; 32], state: RelayState) -> RelayPayment {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let _ = relay.tick().await;
        let stored = relay_payment(relay, hash_).await;
        if stored.state == state {
            return stored;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "payment did not become {state}: {stored:?}"
        );
        tokio::time::sleep(Duration::from_millis(25)).await;
    }
}

pub(crate) async fn relay_payment(relay: &Relay, hash_: &[u8; 32]) -> RelayPayment {
    relay.store().relay_payment(hash_).await.expect("read").expect("exists")
}

/// What the payee's node received for the hash.
pub(crate) async fn received(node: &SandboxNode, hash_: &[u8; 32]) -> InvoiceState {
    node.invoice_state(lnedge_node::PaymentHash(*hash_)).await.expect("invoice state")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sleeping_sensor_is_paid_when_it_wakes_over_http() {
    let w = World::new().await;
    let store = w.store();
    let state = AppState::new(
        store.clone(),
        w.gateway.clone(),
        Arc::new(PoolKey::generate()),
        w.master,
        "admin",
    )
    // The payee's webhook is a loopback server here.
    .reconfigured(|b| {
        let mut relay = RelaySettings::default();
        relay.allow_private_webhooks = true;
        b.relay(relay)
    });
    let relay = state.gateway.relay();
    let (base, server) = crate::support::serve(app(state)).await;

    // The payee's webhook: records the notifications whose signature verifies.
    let seen: Arc<Mutex<Vec<WakeNotification>>> = Arc::default();
    let registration = lnedge_payee::register(&base, "admin", "sensor").await.expect("register");
    let key: [u8; 32] = hex::decode(&registration.payee_key).expect("hex").try_into().expect("32");
    let hook = {
        let seen = seen.clone();
        axum::Router::new().route(
            "/hook",
            post(move |headers: HeaderMap, body: Bytes| async move {
                let ts: u64 = headers[TIMESTAMP_HEADER].to_str().expect("ts").parse().expect("ts");
                let sig = headers[SIGNATURE_HEADER].to_str().expect("sig");
                verify_webhook(&key, ts, &body, sig, crate::support::now_secs())
                    .expect("the gateway signed the webhook");
                seen.lock().expect("lock").push(serde_json::from_slice(&body).expect("json"));
                "ok"
            }),
        )
    };
    let (hook_base, hook_server) = crate::support::serve(hook).await;

    let client = PayeeClient::new(&base, &registration.payee_id, key);
    let preimages = PreimageFile::open(&w.dir.path().join("sensor-preimages.json")).expect("file");
    let agent = PayeeAgent::new(client.clone(), preimages, w.sensor.clone());
    assert_eq!(agent.commit(3).await.expect("commit"), 3);
    client.set_webhook(Some(&format!("{hook_base}/hook"))).await.expect("webhook");
    // A wrong key is refused.
    let forged = PayeeClient::new(&base, &registration.payee_id, [9; 32]);
    let err = forged.pending().await.expect_err("forged");
    assert!(err.to_string().contains("bad_signature"), "{err}");

    // The payer asks for an invoice and pays it; the sensor sleeps.
    let http = reqwest::Client::new();
    let offer: serde_json::Value = http
        .post(format!("{base}/v1/payees/{}/invoices", registration.payee_id))
        .json(&serde_json::json!({ "amount_msat": AMOUNT_MSAT, "description": "one reading" }))
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    let bolt11 = offer["bolt11"].as_str().expect("bolt11").to_owned();
    let payment_hash: [u8; 32] = hex::decode(offer["payment_hash"].as_str().expect("hash"))
        .expect("hex")
        .try_into()
        .expect("32");
    let paying = pay(&w.payer, &bolt11);
    let held = until(&relay, &payment_hash, RelayState::Held).await;
    assert_eq!(held.held_amount_msat, Some(AMOUNT_MSAT));
    let fee = RelaySettings::default().fee_msat(AMOUNT_MSAT);
    assert_eq!(held.fee_msat, Some(fee));
    assert!(held.claim_deadline_height.expect("deadline") > w.net.chain().height() + 200);
    assert!(!paying.is_finished(), "the payer waits while the sensor sleeps");

    // Woken by the webhook (signed, delivered in the background), the sensor fetches what waits
    // and completes it. Further passes do not send it again once it was delivered.
    let t = tokio::time::Instant::now();
    while seen.lock().expect("lock").is_empty() {
        assert!(t.elapsed() < Duration::from_secs(10), "no webhook delivered");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    while !relay_payment(&relay, &payment_hash).await.notified {
        assert!(t.elapsed() < Duration::from_secs(10), "the delivery was not recorded");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    for _ in 0..3 {
        relay.tick().await.expect("tick");
    }
    let notes = seen.lock().expect("lock").clone();
    assert_eq!(notes.len(), 1, "one wake-up: {notes:?}");
    assert_eq!(notes[0].payment_hash, hex::encode(payment_hash));
    assert_eq!(notes[0].claim_amount_msat, AMOUNT_MSAT - fee);
    let report = agent.wake_once().await.expect("wake");
    assert_eq!((report.claimed, report.unknown), (1, 0), "{report:?}");
    let outcome = paying.await.expect("join").expect("the payer's payment completes");
    assert_eq!(hash(&outcome.preimage.0), payment_hash);
    let settled = until(&relay, &payment_hash, RelayState::Settled).await;
    assert_eq!(settled.attempts, 1);
    assert_eq!(
        received(&w.sensor, &payment_hash).await,
        InvoiceState::Settled { amount_msat: AMOUNT_MSAT - fee }
    );
    assert_eq!(
        received(&w.gateway, &payment_hash).await,
        InvoiceState::Settled { amount_msat: AMOUNT_MSAT }
    );
    // Nothing waits any more; the operator sees the settled payment.
    assert!(client.pending().await.expect("pending").payments.is_empty());
    let ops: serde_json::Value = http
        .get(format!("{base}/v1/relay/payments"))
        .bearer_auth("admin")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ops["payments"][0]["state"], "settled", "{ops}");
    server.abort();
    hook_server.abort();
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_sensor_that_never_wakes_gets_the_payer_refunded_before_the_deadline() {
    let w = World::new().await;
    let relay = w.relay(w.store(), w.gateway.clone());
    let payee = Payee::enrol(&relay, 1).await;
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "one reading").await.expect("offer");
    let paying = pay(&w.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    let deadline = held.claim_deadline_height.expect("deadline");
    let margin = relay.settings().cancel_margin_blocks;

    // Up to one block before the cancel point the HTLC stays held.
    let height = w.net.chain().height();
    w.net.mine(deadline - margin - height - 1).await;
    relay.tick().await.expect("tick");
    assert_eq!(relay_payment(&relay, &offer.payment_hash).await.state, RelayState::Held);
    assert!(!paying.is_finished());

    // One more block: the relay fails the payer back, `margin` blocks before the deadline.
    w.net.mine(1).await;
    relay.tick().await.expect("tick");
    let expired = relay_payment(&relay, &offer.payment_hash).await;
    assert_eq!(expired.state, RelayState::Expired, "{expired:?}");
    assert!(
        expired.reason.as_deref().unwrap_or("").contains("did not claim in time"),
        "{expired:?}"
    );
    let refused = paying.await.expect("join");
    assert!(refused.is_err(), "the payer's payment failed back: {refused:?}");
    assert!(w.net.chain().height() < deadline, "refunded before the claim deadline");
    assert_eq!(received(&w.gateway, &offer.payment_hash).await, InvoiceState::Cancelled);
    // The payer's funds are spendable again: it can pay someone else the same amount.
    let again = relay.offer(&payee.id, AMOUNT_MSAT, "x").await;
    assert!(matches!(again, Err(RelayError::NoUnusedHash(_))), "the hash was used once");
    // The sensor waking late cannot claim anymore.
    let late = payee.claim(&relay, &*w.sensor, &expired).await;
    assert!(matches!(late, Err(RelayError::WrongState { .. })), "{late:?}");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_gateway_killed_mid_relay_resumes_without_double_paying() {
    let w = World::new().await;
    let relay = w.relay(w.store(), w.gateway.clone());
    let payee = Payee::enrol(&relay, 2).await;

    // Crash 1: forwarding persisted, the payment never sent (a crash between the two).
    let (offer, paying, held) = held(&w, &relay, &payee, "r1").await;
    payee.forwarding_unsent(&relay, &*w.sensor, &held).await;
    drop(relay);
    let relay = w.relay(w.store(), w.gateway.clone());
    let settled = until(&relay, &offer.payment_hash, RelayState::Settled).await;
    assert_eq!(settled.attempts, 1);
    paying.await.expect("join").expect("payer done");

    // Crash 2: killed while the downstream payment is in flight.
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "r2").await.expect("offer");
    let paying = pay(&w.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    payee.claim(&relay, &*w.sensor, &held).await.expect("claim");
    relay.abort();
    drop(relay);
    let relay = w.relay(w.store(), w.gateway.clone());
    let settled = until(&relay, &offer.payment_hash, RelayState::Settled).await;
    paying.await.expect("join").expect("payer done");
    let fee = settled.fee_msat.expect("fee");
    // Paid exactly once: the sensor's node received one payment of the claim amount.
    assert_eq!(
        received(&w.sensor, &offer.payment_hash).await,
        InvoiceState::Settled { amount_msat: AMOUNT_MSAT - fee }
    );
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_node_restarted_while_holding_keeps_the_htlc() {
    let w = World::new().await;
    let relay = w.relay(w.store(), w.gateway.clone());
    let payee = Payee::enrol(&relay, 1).await;
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "r").await.expect("offer");
    let paying = pay(&w.payer, &offer.bolt11);
    until(&relay, &offer.payment_hash, RelayState::Held).await;

    let gateway = w.net.restart("gateway").await.expect("restart");
    drop(relay);
    let relay = w.relay(w.store(), gateway.clone());
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    assert!(matches!(received(&gateway, &offer.payment_hash).await, InvoiceState::Held { .. }));
    payee.claim(&relay, &*w.sensor, &held).await.expect("claim after the restart");
    until(&relay, &offer.payment_hash, RelayState::Settled).await;
    paying.await.expect("join").expect("payer done");
    w.net.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_payments_to_one_hash_cannot_both_be_taken() {
    let w = World::new().await;
    let second_payer = w.net.add_node("second").await.expect("node");
    w.net.open_channel(&second_payer, &w.gateway, 1_000_000, 0).await.expect("channel");
    w.net.wait_for_gossip().await.expect("gossip");
    let relay = w.relay(w.store(), w.gateway.clone());
    let payee = Payee::enrol(&relay, 2).await;
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "r").await.expect("offer");
    // Every invoice gets its own hash: a hash is never offered twice.
    let other = relay.offer(&payee.id, AMOUNT_MSAT, "r").await.expect("offer");
    assert_ne!(offer.payment_hash, other.payment_hash);

    let first = pay(&w.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    // A second payer paying the same invoice while it is held is failed back.
    let second = pay(&second_payer, &offer.bolt11).await.expect("join");
    assert!(second.is_err(), "the second HTLC set is refused: {second:?}");
    assert_eq!(held.held_amount_msat, Some(AMOUNT_MSAT));

    // Claims must match the held payment: amount and payee.
    let params = InvoiceParams {
        amount_msat: Some(AMOUNT_MSAT),
        description: InvoiceDescription::Direct("greedy".into()),
        expiry_secs: 3600,
        min_final_cltv_expiry_delta: None,
    };
    let preimage = PaymentPreimage(payee.preimage(&offer.payment_hash));
    // (made on another node: the sensor's node keeps one invoice per hash)
    let greedy = second_payer.create_invoice(preimage, params).await.expect("invoice");
    let err = relay.claim(&payee.id, &greedy.to_string()).await.expect_err("greedy");
    assert!(matches!(err, RelayError::Invalid { field: "bolt11", .. }), "{err}");
    let stranger = Payee::enrol(&relay, 1).await;
    let err = payee.claim(&relay, &*w.sensor, &held).await;
    let claimed = err.expect("the right claim");
    assert_eq!(claimed.state, RelayState::Forwarding);
    // Claiming again with the same invoice is idempotent; another payee cannot claim it.
    let err = relay.claim(&stranger.id, claimed.claim_bolt11.as_deref().expect("claim")).await;
    assert!(matches!(err, Err(RelayError::UnknownPayment { .. })), "{err:?}");
    until(&relay, &offer.payment_hash, RelayState::Settled).await;
    first.await.expect("join").expect("first payer done");
    // After settlement a new payment to the hash cannot get a relay invoice, and the relay
    // payment stays settled with one attempt.
    let after = relay_payment(&relay, &offer.payment_hash).await;
    assert_eq!((after.state, after.attempts), (RelayState::Settled, 1));
    w.net.shutdown().await;
}

/// ADR 0012: the gateway holds on one node and pays the payee from another
/// (`[relay.forward_node]`); the operator's view names the forwarding node and its events are
/// drained.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_separate_forward_node_pays_the_payee() {
    let net = SandboxNetwork::new().await.expect("network");
    let [payer, gateway] = net.line(["payer", "gateway"], 2_000_000).await.expect("line");
    let forward = net.add_node("forward").await.expect("forward");
    let sensor = net.add_node("sensor").await.expect("sensor");
    net.open_channel(&forward, &sensor, 2_000_000, 0).await.expect("channel");
    let dir = tempfile::tempdir().expect("dir");
    let store: Arc<dyn GatewayStore> =
        Arc::new(SqliteStore::open(&dir.path().join("gw.sqlite3")).expect("store"));
    let engine =
        GatewayBuilder::new(store, gateway.clone(), Arc::new(PoolKey::generate()), [4; 32])
            .relay_forward_node(Some(forward.clone()))
            .build();
    let state = AppState::with_gateway(engine, "admin");
    let relay = state.gateway.relay();
    assert!(relay.has_forward_node());
    let (stop, stop_rx) = tokio::sync::watch::channel(false);
    let drain = tokio::spawn(lnedge_gateway::relay::drain_events(forward.clone(), stop_rx));
    let payee = Payee::enrol(&relay, 2).await;

    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "reading").await.expect("offer");
    let paying = pay(&payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    payee.claim(&relay, &*sensor, &held).await.expect("claim");
    let settled = until(&relay, &offer.payment_hash, RelayState::Settled).await;
    let outcome = paying.await.expect("join").expect("the payer's payment completes");
    assert_eq!(hash(&outcome.preimage.0), offer.payment_hash);
    let claim_amount = AMOUNT_MSAT - settled.fee_msat.expect("fee");
    assert_eq!(
        received(&sensor, &offer.payment_hash).await,
        InvoiceState::Settled { amount_msat: claim_amount }
    );
    let hash_ = lnedge_node::PaymentHash(offer.payment_hash);
    assert!(
        matches!(
            forward.payment_status(hash_).await.expect("status"),
            Some(lnedge_node::PaymentStatus::Succeeded(_))
        ),
        "the forward node paid the sensor"
    );
    assert_eq!(gateway.payment_status(hash_).await.expect("status"), None, "not the holder");

    // The operator sees which node forwards.
    let (base, server) = crate::support::serve(app(state)).await;
    let ops: serde_json::Value = reqwest::Client::new()
        .get(format!("{base}/v1/relay/payments"))
        .bearer_auth("admin")
        .send()
        .await
        .expect("send")
        .json()
        .await
        .expect("json");
    assert_eq!(ops["forward_node"]["node_id"], forward.node_id().to_string(), "{ops}");
    // The forward node's events were acknowledged by the drain task.
    let left = tokio::time::timeout(Duration::from_millis(300), forward.next_event()).await;
    assert!(left.is_err(), "an event was left in the forward node's queue: {left:?}");
    let _ = stop.send(true);
    drain.await.expect("the drain task stops");
    server.abort();
    net.shutdown().await;
}

/// A payment the holding node was forwarding when the operator added `[relay.forward_node]` is
/// finished from the holding node's record, not sent a second time from the new node.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_a_forward_node_mid_payment_does_not_pay_twice() {
    let w = World::new().await;
    let forward = w.net.add_node("forward").await.expect("forward");
    w.net.open_channel(&forward, &w.sensor, 2_000_000, 0).await.expect("channel");
    let relay = w.relay(w.store(), w.gateway.clone());
    let payee = Payee::enrol(&relay, 1).await;
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "reading").await.expect("offer");
    let paying = pay(&w.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    payee.claim(&relay, &*w.sensor, &held).await.expect("claim");
    let hash_ = lnedge_node::PaymentHash(offer.payment_hash);
    while w.gateway.payment_status(hash_).await.expect("status").is_none() {
        tokio::time::sleep(Duration::from_millis(5)).await; // until the holding node sent it
    }
    relay.abort(); // the process stops; the holding node's payment goes on
    drop(relay);

    let relay = Relay::new(w.store(), w.gateway.clone(), w.master, RelaySettings::default())
        .with_forward_node(forward.clone());
    let settled = until(&relay, &offer.payment_hash, RelayState::Settled).await;
    assert_eq!(settled.attempts, 1);
    paying.await.expect("join").expect("the payer's payment completes");
    assert_eq!(forward.payment_status(hash_).await.expect("status"), None, "not sent again");
    assert!(matches!(
        w.gateway.payment_status(hash_).await.expect("status"),
        Some(lnedge_node::PaymentStatus::Succeeded(_))
    ));
    w.net.shutdown().await;
}

/// A payee whose webhook hangs (a sleeping device often does) does not slow the driver: its
/// delivery runs in the background while a pass completes at once.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hanging_webhook_does_not_stall_the_driver() {
    let w = World::new().await;
    // Accepts connections, never answers; counts them.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    let accepted = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let hang = tokio::spawn({
        let accepted = accepted.clone();
        async move {
            let mut open = Vec::new();
            while let Ok((socket, _)) = listener.accept().await {
                accepted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                open.push(socket);
            }
        }
    });
    let mut settings = RelaySettings::default();
    settings.webhook_timeout = Duration::from_secs(60);
    settings.allow_private_webhooks = true;
    let relay = Relay::new(w.store(), w.gateway.clone(), w.master, settings);
    let payee = Payee::enrol(&relay, 1).await;
    relay.set_webhook(&payee.id, Some(&format!("http://{addr}/wake"))).await.expect("webhook");
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "reading").await.expect("offer");
    let paying = pay(&w.payer, &offer.bolt11);
    let held = until(&relay, &offer.payment_hash, RelayState::Held).await;
    // Passes return while the delivery hangs (an inline delivery would hold each one for the
    // 60 s webhook timeout), and the delivery in flight is not started again.
    for _ in 0..5 {
        tokio::time::timeout(Duration::from_secs(30), relay.tick())
            .await
            .expect("a pass returns while the webhook hangs")
            .expect("tick");
    }
    let t = tokio::time::Instant::now();
    while accepted.load(std::sync::atomic::Ordering::SeqCst) == 0 {
        assert!(t.elapsed() < Duration::from_secs(10), "the webhook was never called");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    relay.tick().await.expect("tick");
    assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1, "one delivery in flight");
    assert!(!relay_payment(&relay, &offer.payment_hash).await.notified);
    // The payee polls instead and completes the payment meanwhile.
    payee.claim(&relay, &*w.sensor, &held).await.expect("claim");
    until(&relay, &offer.payment_hash, RelayState::Settled).await;
    paying.await.expect("join").expect("paid");
    relay.abort();
    hang.abort();
    w.net.shutdown().await;
}
