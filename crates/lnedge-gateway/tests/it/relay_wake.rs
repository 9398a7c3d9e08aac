//! The relay's driver as the service runs it (issue #17): woken by what changes — the payment
//! watcher's events, a claim, a block that brings a deadline within the cancel margin — with
//! its full pass (which asks the node about every payment) set to once an hour, so nothing in
//! this test is found by polling.

use std::sync::Arc;
use std::time::Duration;

use lnedge_gateway::accounting::FixedRates;
use lnedge_gateway::relay::{Relay, RelaySettings};
use lnedge_gateway::store::relay::RelayState;
use lnedge_gateway::watcher::PaymentWatcher;

use crate::relay::{pay, Payee, World, AMOUNT_MSAT};

/// Waits (generously, never ticking the relay) until the stored payment is in `state`.
async fn until_stored(relay: &Relay, hash: &[u8; 32], state: RelayState) {
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    loop {
        let stored = relay.store().relay_payment(hash).await.expect("read").expect("exists");
        if stored.state == state {
            return;
        }
        assert!(tokio::time::Instant::now() < deadline, "never {state}: {stored:?}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_driver_is_woken_by_events_claims_and_blocks_not_by_polling() {
    let w = World::new().await;
    let mut settings = RelaySettings::default();
    settings.full_pass_interval = Duration::from_secs(3_600);
    settings.poll_interval = Duration::from_millis(200);
    let relay = Relay::new(w.store(), w.gateway.clone(), w.master, settings);
    let payee = Payee::enrol(&relay, 2).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let watcher = PaymentWatcher {
        store: relay.store().clone(),
        owner: w.gateway.clone(),
        rates: Arc::new(FixedRates::default()),
        accounting_currency: None,
    };
    let watching = tokio::spawn(watcher.run_waking(stopped.clone(), Some(relay.schedule())));
    let driving = tokio::spawn(relay.clone().run(stopped));

    // Held: the node's InvoiceHeld reaches the watcher, which wakes the driver.
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "woken").await.expect("offer");
    let paying = pay(&w.payer, &offer.bolt11);
    until_stored(&relay, &offer.payment_hash, RelayState::Held).await;
    // Claimed: the claim drives the payment; the payment task drives it to the end.
    let held = relay.store().relay_payment(&offer.payment_hash).await.expect("read").expect("held");
    payee.claim(&relay, &*w.sensor, &held).await.expect("claim");
    until_stored(&relay, &offer.payment_hash, RelayState::Settled).await;
    assert!(paying.await.expect("join").is_ok(), "the payer's payment completes");

    // Never claimed: the block that brings the deadline within the margin wakes it.
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "sleeps").await.expect("offer");
    let paying = pay(&w.payer, &offer.bolt11);
    until_stored(&relay, &offer.payment_hash, RelayState::Held).await;
    let held = relay.store().relay_payment(&offer.payment_hash).await.expect("read").expect("held");
    let deadline = held.claim_deadline_height.expect("deadline");
    let margin = relay.settings().cancel_margin_blocks;
    w.net.mine(deadline - margin - w.net.chain().height() - 1).await;
    tokio::time::sleep(Duration::from_millis(600)).await; // three height reads
    let stored = relay.store().relay_payment(&offer.payment_hash).await.expect("read").expect("x");
    assert_eq!(stored.state, RelayState::Held, "one block before the cancel point it is held");
    w.net.mine(1).await;
    until_stored(&relay, &offer.payment_hash, RelayState::Expired).await;
    assert!(paying.await.expect("join").is_err(), "the payer is refunded");
    assert_eq!(relay.schedule().planned(), 0, "nothing left to look at");

    stop.send(true).expect("stop");
    watching.await.expect("watcher stops");
    driving.await.expect("driver stops");
}

/// An invoice nobody pays is ended at its expiry by the schedule alone (the full pass is an
/// hour away, and no event ever comes for it).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unpaid_offer_expires_on_time_without_a_full_pass() {
    let w = World::new().await;
    let mut settings = RelaySettings::default();
    settings.full_pass_interval = Duration::from_secs(3_600);
    settings.invoice_expiry_secs = 2;
    let relay = Relay::new(w.store(), w.gateway.clone(), w.master, settings);
    let payee = Payee::enrol(&relay, 1).await;
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let driving = tokio::spawn(relay.clone().run(stopped));
    let offer = relay.offer(&payee.id, AMOUNT_MSAT, "nobody pays").await.expect("offer");
    until_stored(&relay, &offer.payment_hash, RelayState::Expired).await;
    stop.send(true).expect("stop");
    driving.await.expect("driver stops");
}
