//! The backend conformance suite: the same scenarios, run against every implementation.
//!
//! A [`Harness`] supplies the backend under test, a second node (`payer`) with a channel to it
//! (liquidity on both sides), a way to mine blocks and a way to restart the backend on the same
//! data directory. Each scenario asserts one part of the `LightningBackend` contract.

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use bitcoin::hashes::{sha256, Hash};
use lnedge_node::{
    BackendError, BackendEvent, InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend,
    PayFailure, PayRequest, PaymentHash, PaymentPreimage,
};

/// What a conformance run needs from an implementation.
#[async_trait]
pub(crate) trait Harness: Send {
    /// The backend under test.
    fn backend(&self) -> Arc<dyn LightningBackend>;
    /// A node with a channel to the backend, able to pay its invoices and be paid by it.
    fn payer(&self) -> Arc<dyn LightningBackend>;
    /// Mines `n` blocks and waits until the backend and the payer have seen them.
    async fn mine_blocks(&self, n: u32);
    /// Stops the backend and starts it again on the same data directory.
    async fn restart_backend(&mut self);
}

/// Calls `$callback! { <args> <every scenario>, }`: the one list of conformance scenarios, so
/// that a scenario added here runs on every backend (each file shapes its own tests).
macro_rules! with_scenarios {
    ($callback:ident!($($args:tt)*)) => {
        $callback! {
            $($args)*
            liquidity_follows_a_payment,
            chosen_preimage_invoice_is_paid,
            invoice_creation_is_idempotent,
            hold_then_settle,
            hold_then_cancel,
            hold_deadline_is_respected,
            long_hold_invoice_holds_long,
            pay_failures_are_typed,
            expired_invoice_is_refused,
            events_survive_restart,
            held_htlc_survives_restart,
        }
    };
}
pub(crate) use with_scenarios;

/// Timeout for anything that should happen promptly.
const STEP: Duration = Duration::from_secs(60);

/// A preimage unique to this run and scenario.
pub(crate) fn fresh_preimage(tag: &str) -> PaymentPreimage {
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock after 1970")
        .as_nanos();
    let digest = sha256::Hash::hash(format!("{tag}/{nanos}/{}", rand::random::<u64>()).as_bytes());
    PaymentPreimage(digest.to_byte_array())
}

/// The payment hash of a preimage.
pub(crate) fn hash_of(preimage: &PaymentPreimage) -> PaymentHash {
    PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array())
}

/// Invoice parameters for `amount_msat` with a direct description.
pub(crate) fn params(amount_msat: u64, description: &str) -> InvoiceParams {
    InvoiceParams {
        amount_msat: Some(amount_msat),
        description: InvoiceDescription::Direct(description.to_owned()),
        expiry_secs: 3600,
        min_final_cltv_expiry_delta: None,
    }
}

/// A pay request with generous limits.
pub(crate) fn pay_request(invoice: &lnedge_node::lightning_invoice::Bolt11Invoice) -> PayRequest {
    PayRequest {
        invoice: invoice.clone(),
        amount_msat: None,
        max_fee_msat: 10_000,
        timeout: STEP,
        max_total_cltv_expiry_delta: None,
    }
}

/// Waits for the first event matching `want`, acknowledging the events before it.
pub(crate) async fn expect_event(
    backend: &dyn LightningBackend,
    what: &str,
    want: impl Fn(&BackendEvent) -> bool,
) -> BackendEvent {
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let queued = tokio::time::timeout_at(deadline, backend.next_event())
            .await
            .unwrap_or_else(|_| panic!("timed out waiting for {what}"))
            .expect("next_event");
        backend.event_handled(queued.id).await.expect("event_handled");
        if want(&queued.event) {
            return queued.event;
        }
    }
}

/// A payment in flight from `payer`, and the backend's `InvoiceHeld` event for it.
type HeldPayment =
    (tokio::task::JoinHandle<Result<lnedge_node::PaymentOutcome, BackendError>>, BackendEvent);

/// Starts paying `invoice` from `payer` and waits until `backend` holds it.
pub(crate) async fn pay_and_hold(
    payer: Arc<dyn LightningBackend>,
    backend: &dyn LightningBackend,
    invoice: &lnedge_node::lightning_invoice::Bolt11Invoice,
) -> HeldPayment {
    let hash = PaymentHash(invoice.payment_hash().to_byte_array());
    let pay = tokio::spawn({
        let invoice = invoice.clone();
        async move { payer.pay(pay_request(&invoice)).await }
    });
    let held = expect_event(
        backend,
        "InvoiceHeld",
        |e| matches!(e, BackendEvent::InvoiceHeld { payment_hash, .. } if *payment_hash == hash),
    )
    .await;
    (pay, held)
}

/// Acknowledges every event queued right now.
pub(crate) async fn drain_events(backend: &dyn LightningBackend) {
    while let Ok(Ok(queued)) =
        tokio::time::timeout(Duration::from_millis(200), backend.next_event()).await
    {
        backend.event_handled(queued.id).await.expect("event_handled");
    }
}

/// An invoice with a caller-chosen preimage settles by itself and releases that preimage.
/// What the node can send and receive (an operator's dashboard shows it) moves with a payment
/// it receives: its channel to the payer counts as usable, and after a payment of 20,000 sat
/// what it can send grew, and what it can receive shrank, by that amount (within 1 %: a real
/// daemon may fold fee buffers into these figures).
pub(crate) async fn liquidity_follows_a_payment(h: &mut dyn Harness) {
    const AMOUNT_MSAT: u64 = 20_000_000;
    let (backend, payer) = (h.backend(), h.payer());
    let before = backend.liquidity().await.expect("liquidity");
    assert!(before.channels >= 1 && before.usable_channels >= 1, "{before:?}");
    assert!(before.inbound_msat > AMOUNT_MSAT, "room to receive the payment: {before:?}");
    let preimage = fresh_preimage("liquidity");
    let invoice =
        backend.create_invoice(preimage, params(AMOUNT_MSAT, "liquidity")).await.expect("invoice");
    payer.pay(pay_request(&invoice)).await.expect("payment succeeds");
    let near = |delta: u64| delta.abs_diff(AMOUNT_MSAT) <= AMOUNT_MSAT / 100;
    let deadline = tokio::time::Instant::now() + STEP;
    loop {
        let after = backend.liquidity().await.expect("liquidity");
        let gained = after.outbound_msat.saturating_sub(before.outbound_msat);
        let lost = before.inbound_msat.saturating_sub(after.inbound_msat);
        if near(gained) && near(lost) {
            assert_eq!(after.channels, before.channels, "{before:?} -> {after:?}");
            break;
        }
        assert!(tokio::time::Instant::now() < deadline, "{before:?} -> {after:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The liquidity figures of a backend whose test server modelled a channel to `payer` of
/// 10,000,000 sat, half each side, with a 1 % reserve: the balances less the reserves, the
/// confirmed wallet balance after `set_wallet(250,000 confirmed, 40,000 unconfirmed)`, a
/// payment above what the payer can send refused with nothing moved, and the channel counted
/// but not usable after `set_offline`.
pub(crate) async fn liquidity_details(
    backend: &dyn LightningBackend,
    payer: &dyn LightningBackend,
    set_wallet: impl Fn(u64, u64),
    set_offline: impl Fn(),
) {
    let seen = backend.liquidity().await.expect("liquidity");
    let expected = lnedge_node::Liquidity {
        channels: 1,
        usable_channels: 1,
        outbound_msat: 4_900_000_000,
        inbound_msat: 4_900_000_000,
        onchain_sat: Some(0),
    };
    assert_eq!(seen, expected);
    set_wallet(250_000, 40_000);
    assert_eq!(backend.liquidity().await.expect("liquidity").onchain_sat, Some(250_000));

    let too_much = params(4_950_000_000, "more than the payer can send");
    let invoice =
        backend.create_invoice(fresh_preimage("too-much"), too_much).await.expect("invoice");
    let refused = payer.pay(pay_request(&invoice)).await;
    assert!(refused.is_err(), "{refused:?}");
    assert_eq!(backend.liquidity().await.expect("liquidity").outbound_msat, 4_900_000_000);

    set_offline();
    let offline = backend.liquidity().await.expect("liquidity");
    assert_eq!((offline.channels, offline.usable_channels), (1, 0), "{offline:?}");
}

pub(crate) async fn chosen_preimage_invoice_is_paid(h: &mut dyn Harness) {
    let (backend, payer) = (h.backend(), h.payer());
    let preimage = fresh_preimage("chosen");
    let hash = hash_of(&preimage);
    let invoice =
        backend.create_invoice(preimage, params(21_000, "coffee")).await.expect("invoice");
    assert_eq!(invoice.payment_hash().to_byte_array(), hash.0);
    assert_eq!(invoice.amount_milli_satoshis(), Some(21_000));
    let info = backend.info().await.expect("info");
    assert_eq!(invoice.recover_payee_pub_key(), info.node_id, "signed by the backend's node key");

    let outcome = payer.pay(pay_request(&invoice)).await.expect("payment succeeds");
    assert_eq!(outcome.preimage, preimage, "the payer learns the chosen preimage");
    let settled = expect_event(
        &*backend,
        "InvoiceSettled",
        |e| matches!(e, BackendEvent::InvoiceSettled { payment_hash, .. } if *payment_hash == hash),
    )
    .await;
    assert_eq!(settled, BackendEvent::InvoiceSettled { payment_hash: hash, amount_msat: 21_000 });
    assert_eq!(
        backend.invoice_state(hash).await.expect("state"),
        InvoiceState::Settled { amount_msat: 21_000 }
    );
    let ok = expect_event(&*payer, "PaymentSucceeded", |e| {
        matches!(e, BackendEvent::PaymentSucceeded { payment_hash, .. } if *payment_hash == hash)
    })
    .await;
    assert!(matches!(ok, BackendEvent::PaymentSucceeded { preimage: p, .. } if p == preimage));
}

/// Creating an invoice twice with the same parameters returns the same invoice; with other
/// parameters it is refused.
pub(crate) async fn invoice_creation_is_idempotent(h: &mut dyn Harness) {
    let backend = h.backend();
    let preimage = fresh_preimage("idem");
    let a = backend.create_invoice(preimage, params(5_000, "tea")).await.expect("first");
    let b = backend.create_invoice(preimage, params(5_000, "tea")).await.expect("second");
    assert_eq!(a.to_string(), b.to_string());
    let err = backend.create_invoice(preimage, params(6_000, "tea")).await.expect_err("changed");
    assert_eq!(err, BackendError::DuplicatePaymentHash(hash_of(&preimage)));
    let err = backend
        .create_hold_invoice(hash_of(&preimage), params(5_000, "tea"))
        .await
        .expect_err("hold for the same hash");
    assert_eq!(err, BackendError::DuplicatePaymentHash(hash_of(&preimage)));
}

/// A hold invoice's HTLC is held (with a deadline in the future) until settled.
pub(crate) async fn hold_then_settle(h: &mut dyn Harness) {
    let (backend, payer) = (h.backend(), h.payer());
    let preimage = fresh_preimage("hold-settle");
    let hash = hash_of(&preimage);
    let invoice =
        backend.create_hold_invoice(hash, params(30_000, "locker 7")).await.expect("hold");
    assert_eq!(backend.invoice_state(hash).await.expect("state"), InvoiceState::Open);
    let err = backend.settle_hold_invoice(preimage).await.expect_err("nothing held yet");
    assert!(matches!(err, BackendError::WrongInvoiceState { state: "open", .. }), "{err}");

    let (pay, held) = pay_and_hold(payer.clone(), &*backend, &invoice).await;
    let height = backend.info().await.expect("info").block_height;
    match held {
        BackendEvent::InvoiceHeld { amount_msat, claim_deadline_height, .. } => {
            assert_eq!(amount_msat, 30_000);
            let deadline = claim_deadline_height.expect("a claim deadline is reported");
            assert!(deadline > height, "deadline {deadline} must be after the tip {height}");
        }
        other => panic!("unexpected {other:?}"),
    }
    assert!(matches!(backend.invoice_state(hash).await.expect("state"), InvoiceState::Held { .. }));
    assert!(!pay.is_finished(), "the payer waits while the HTLC is held");

    backend.settle_hold_invoice(preimage).await.expect("settle");
    let outcome = pay.await.expect("join").expect("payment completes after settle");
    assert_eq!(outcome.preimage, preimage);
    expect_event(&*backend, "InvoiceSettled", |e| {
        matches!(e, BackendEvent::InvoiceSettled { payment_hash, amount_msat: 30_000 } if *payment_hash == hash)
    })
    .await;
    backend.settle_hold_invoice(preimage).await.expect("settling again is a no-op");
    let err = backend.cancel_hold_invoice(hash).await.expect_err("cannot cancel a settled invoice");
    assert!(matches!(err, BackendError::WrongInvoiceState { state: "settled", .. }), "{err}");
}

/// Cancelling a held invoice fails the payer's payment back; the invoice stays cancelled.
pub(crate) async fn hold_then_cancel(h: &mut dyn Harness) {
    let (backend, payer) = (h.backend(), h.payer());
    let preimage = fresh_preimage("hold-cancel");
    let hash = hash_of(&preimage);
    let invoice = backend.create_hold_invoice(hash, params(40_000, "tap 3")).await.expect("hold");
    let (pay, _) = pay_and_hold(payer.clone(), &*backend, &invoice).await;
    backend.cancel_hold_invoice(hash).await.expect("cancel");
    let err = pay.await.expect("join").expect_err("the payment fails after cancel");
    assert!(
        matches!(err, BackendError::Payment(PayFailure::RecipientRejected)),
        "a cancelled hold invoice reads as the payee rejecting: {err}"
    );
    expect_event(
        &*backend,
        "InvoiceCancelled",
        |e| matches!(e, BackendEvent::InvoiceCancelled { payment_hash } if *payment_hash == hash),
    )
    .await;
    assert_eq!(backend.invoice_state(hash).await.expect("state"), InvoiceState::Cancelled);
    backend.cancel_hold_invoice(hash).await.expect("cancelling again is a no-op");
    let err = backend.settle_hold_invoice(preimage).await.expect_err("cancelled");
    assert!(matches!(err, BackendError::WrongInvoiceState { state: "cancelled", .. }), "{err}");
}

/// A held HTLC that is not resolved is failed back before its deadline, and reported.
pub(crate) async fn hold_deadline_is_respected(h: &mut dyn Harness) {
    let (backend, payer) = (h.backend(), h.payer());
    let preimage = fresh_preimage("hold-deadline");
    let hash = hash_of(&preimage);
    let invoice = backend.create_hold_invoice(hash, params(50_000, "charger")).await.expect("hold");
    let (pay, held) = pay_and_hold(payer.clone(), &*backend, &invoice).await;
    let BackendEvent::InvoiceHeld { claim_deadline_height: Some(deadline), .. } = held else {
        panic!("no deadline in {held:?}");
    };
    let height = backend.info().await.expect("info").block_height;
    h.mine_blocks(deadline.saturating_sub(height) + 1).await;
    expect_event(
        &*backend,
        "InvoiceCancelled at the deadline",
        |e| matches!(e, BackendEvent::InvoiceCancelled { payment_hash } if *payment_hash == hash),
    )
    .await;
    let err = pay.await.expect("join").expect_err("the payer gets its money back");
    assert!(matches!(err, BackendError::Payment(_)), "{err}");
    let err = backend.settle_hold_invoice(preimage).await.expect_err("too late to settle");
    assert!(matches!(err, BackendError::WrongInvoiceState { state: "cancelled", .. }), "{err}");
}

/// A hold invoice with a long final CLTV delta (the async relay's) is the node's own invoice,
/// carries the delta, and its HTLCs can be held about that long.
pub(crate) async fn long_hold_invoice_holds_long(h: &mut dyn Harness) {
    let (backend, payer) = (h.backend(), h.payer());
    let preimage = fresh_preimage("long-hold");
    let hash = hash_of(&preimage);
    let invoice = backend
        .create_hold_invoice(
            hash,
            InvoiceParams { min_final_cltv_expiry_delta: Some(288), ..params(40_000, "sensor") },
        )
        .await
        .expect("a long hold invoice");
    // LDK itself adds a few blocks of slack to the delta it is asked for.
    assert!(invoice.min_final_cltv_expiry_delta() >= 288, "{invoice}");
    let node_id = backend.info().await.expect("info").node_id;
    assert_eq!(invoice.recover_payee_pub_key(), node_id, "signed by the node itself");
    assert!(invoice.check_signature().is_ok());
    let height = backend.info().await.expect("info").block_height;
    let (pay, held) = pay_and_hold(payer.clone(), &*backend, &invoice).await;
    let BackendEvent::InvoiceHeld { claim_deadline_height: Some(deadline), .. } = held else {
        panic!("no deadline in {held:?}");
    };
    // LDK keeps a fail-back buffer of a few dozen blocks below the HTLC's expiry.
    assert!(
        deadline >= height + 288 - 48,
        "claim deadline {deadline} at height {height}: the long delta was not honoured"
    );
    // A few blocks later it is still held, then it settles.
    h.mine_blocks(6).await;
    assert!(matches!(backend.invoice_state(hash).await.expect("state"), InvoiceState::Held { .. }));
    backend.settle_hold_invoice(preimage).await.expect("settle");
    let outcome = pay.await.expect("join").expect("the payer's payment completes");
    assert_eq!(outcome.preimage, preimage);
    drain_events(&*backend).await;
}

/// Payment failures and bad input come back as typed errors.
pub(crate) async fn pay_failures_are_typed(h: &mut dyn Harness) {
    let (backend, payer) = (h.backend(), h.payer());
    // The payee does not know the hash: it rejects.
    let payee_invoice =
        payer.create_invoice(fresh_preimage("reject"), params(1_000, "x")).await.expect("invoice");
    let foreign_preimage = fresh_preimage("foreign");
    let foreign_invoice = backend
        .create_hold_invoice(hash_of(&foreign_preimage), params(2_000, "y"))
        .await
        .expect("hold");
    backend.cancel_hold_invoice(hash_of(&foreign_preimage)).await.expect("cancel before paying");
    let err = payer.pay(pay_request(&foreign_invoice)).await.expect_err("cancelled invoice");
    assert!(matches!(err, BackendError::Payment(PayFailure::RecipientRejected)), "{err}");

    // An amount where the invoice fixes one.
    let mut req = pay_request(&payee_invoice);
    req.amount_msat = Some(5);
    let err = backend.pay(req).await.expect_err("amount given twice");
    assert!(matches!(err, BackendError::InvalidInput { what: "amount_msat", .. }), "{err}");

    // Garbage and unknown hashes.
    let err = lnedge_node::parse_invoice("lnbc1notaninvoice").expect_err("garbage");
    assert!(matches!(err, BackendError::InvalidInput { what: "invoice", .. }), "{err}");
    let err = backend.settle_hold_invoice(fresh_preimage("unknown")).await.expect_err("unknown");
    assert!(matches!(err, BackendError::UnknownPaymentHash(_)), "{err}");
    let err = backend.cancel_hold_invoice(PaymentHash([0xee; 32])).await.expect_err("unknown");
    assert!(matches!(err, BackendError::UnknownPaymentHash(_)), "{err}");
    let err = backend.invoice_state(PaymentHash([0xee; 32])).await.expect_err("unknown");
    assert!(matches!(err, BackendError::UnknownPaymentHash(_)), "{err}");

    // The backend pays too, and paying twice does not pay twice.
    let preimage = fresh_preimage("backend-pays");
    let invoice = payer.create_invoice(preimage, params(3_000, "z")).await.expect("invoice");
    let first = backend.pay(pay_request(&invoice)).await.expect("backend pays");
    assert_eq!(first.preimage, preimage);
    let second = backend.pay(pay_request(&invoice)).await.expect("paying again");
    assert_eq!(second, first, "the second call returns the first outcome");
}

/// An expired invoice is refused before anything is sent.
pub(crate) async fn expired_invoice_is_refused(h: &mut dyn Harness) {
    let (backend, payer) = (h.backend(), h.payer());
    let mut p = params(1_000, "short-lived");
    p.expiry_secs = 1;
    let invoice = backend.create_invoice(fresh_preimage("expired"), p).await.expect("invoice");
    tokio::time::sleep(Duration::from_millis(2_100)).await;
    let err = payer.pay(pay_request(&invoice)).await.expect_err("expired");
    assert!(matches!(err, BackendError::Payment(PayFailure::InvoiceExpired { .. })), "{err}");
}

/// Unacknowledged events are delivered again after a restart, acknowledged ones never, and no
/// event is queued twice.
pub(crate) async fn events_survive_restart(h: &mut dyn Harness) {
    drain_events(&*h.backend()).await;
    let preimages: Vec<_> = (0..2).map(|i| fresh_preimage(&format!("restart-{i}"))).collect();
    for preimage in &preimages {
        let invoice =
            h.backend().create_invoice(*preimage, params(7_000, "restart")).await.expect("invoice");
        h.payer().pay(pay_request(&invoice)).await.expect("paid");
    }
    let hashes: Vec<_> = preimages.iter().map(hash_of).collect();
    // Wait until both settlements are queued, acknowledge only the first.
    let first = expect_event(&*h.backend(), "first settlement", |e| {
        matches!(e, BackendEvent::InvoiceSettled { payment_hash, .. } if *payment_hash == hashes[0])
    })
    .await;
    assert!(matches!(first, BackendEvent::InvoiceSettled { .. }));
    let pending = h.backend().next_event().await.expect("second is queued");
    assert_eq!(pending.event.payment_hash(), hashes[1]);

    h.restart_backend().await;
    let backend = h.backend();
    let again =
        tokio::time::timeout(STEP, backend.next_event()).await.expect("in time").expect("event");
    assert_eq!(again.event.payment_hash(), hashes[1], "the unacknowledged event comes back");
    backend.event_handled(again.id).await.expect("ack");
    backend.event_handled(again.id).await.expect("acknowledging twice is fine");
    // Nothing about these payments is delivered again (the node may replay facts at start-up).
    tokio::time::sleep(Duration::from_millis(500)).await;
    while let Ok(Ok(q)) =
        tokio::time::timeout(Duration::from_millis(300), backend.next_event()).await
    {
        assert!(!hashes.contains(&q.event.payment_hash()), "duplicate after restart: {q:?}");
        backend.event_handled(q.id).await.expect("ack");
    }
    // The state survived too.
    assert!(matches!(
        backend.invoice_state(hashes[0]).await.expect("state"),
        InvoiceState::Settled { amount_msat: 7_000 }
    ));
    // And the restarted backend still works.
    let preimage = fresh_preimage("after-restart");
    let invoice = backend.create_invoice(preimage, params(8_000, "after")).await.expect("invoice");
    let outcome = h.payer().pay(pay_request(&invoice)).await.expect("paid after restart");
    assert_eq!(outcome.preimage, preimage);
}

/// A held HTLC survives a restart of the backend and can still be settled.
pub(crate) async fn held_htlc_survives_restart(h: &mut dyn Harness) {
    let preimage = fresh_preimage("held-restart");
    let hash = hash_of(&preimage);
    let invoice =
        h.backend().create_hold_invoice(hash, params(11_000, "held")).await.expect("hold");
    let (pay, _) = pay_and_hold(h.payer(), &*h.backend(), &invoice).await;
    h.restart_backend().await;
    let backend = h.backend();
    assert!(
        matches!(backend.invoice_state(hash).await.expect("state"), InvoiceState::Held { .. }),
        "still held after restart"
    );
    backend.settle_hold_invoice(preimage).await.expect("settle after restart");
    let outcome = pay.await.expect("join").expect("payer completes");
    assert_eq!(outcome.preimage, preimage);
}
