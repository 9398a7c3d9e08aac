//! The event pump: ldk-node events → store (and event queue) → `event_handled`, plus the
//! watcher that fails held HTLCs back before their claim deadline.

use std::sync::Arc;
use std::time::Duration;

use ldk_node::Event;
use lightning_types::payment::PaymentHash;
use tokio::sync::watch;

use super::{errors, Inner, HOLD_FAILBACK_MARGIN_BLOCKS};
use crate::backend::InvoiceState;
use crate::error::BackendError;
use crate::event::BackendEvent;

/// How often the deadline watcher looks at the block height.
const WATCH_INTERVAL: Duration = Duration::from_millis(500);
/// Pause before retrying an event whose persistence failed.
const RETRY_DELAY: Duration = Duration::from_millis(500);

/// Runs until `shutdown` turns true (or its sender is dropped).
pub(super) async fn run(inner: Arc<Inner>, mut shutdown: watch::Receiver<bool>) {
    let mut watch_tick = tokio::time::interval(WATCH_INTERVAL);
    watch_tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        if *shutdown.borrow() {
            break;
        }
        tokio::select! {
            changed = shutdown.changed() => {
                if changed.is_err() {
                    break;
                }
            }
            // `next_event_async` only peeks: the event stays queued until `event_handled`.
            event = inner.node.next_event_async() => {
                match handle_event(&inner, &event).await {
                    Ok(()) => {
                        if let Err(e) = inner.node.event_handled() {
                            tracing::warn!("ldk-node could not acknowledge {event:?}: {e}");
                            tokio::time::sleep(RETRY_DELAY).await;
                        }
                    }
                    Err(e) => {
                        tracing::warn!("handling ldk-node event {event:?} failed, will retry: {e}");
                        tokio::time::sleep(RETRY_DELAY).await;
                    }
                }
            }
            _ = watch_tick.tick() => {
                if let Err(e) = fail_back_due_holds(&inner).await {
                    tracing::warn!("checking held HTLCs against their deadlines failed: {e}");
                }
            }
        }
    }
}

/// Translates one ldk-node event and persists its consequences; idempotent, so a replay after a
/// crash does no harm.
async fn handle_event(inner: &Inner, event: &Event) -> Result<(), BackendError> {
    match event {
        Event::PaymentClaimable { payment_hash, claimable_amount_msat, claim_deadline, .. } => {
            on_claimable(inner, *payment_hash, *claimable_amount_msat, *claim_deadline).await
        }
        Event::PaymentReceived { payment_hash, amount_msat, .. } => {
            let _guard = inner.state_lock.lock().await;
            if inner.store.invoice(payment_hash)?.is_some() {
                let state = InvoiceState::Settled { amount_msat: *amount_msat };
                let event = BackendEvent::InvoiceSettled {
                    payment_hash: *payment_hash,
                    amount_msat: *amount_msat,
                };
                inner.store.transition(payment_hash, state, Some(&event))?;
            }
            inner.claiming().remove(payment_hash);
            Ok(())
        }
        Event::PaymentSuccessful { payment_hash, payment_preimage, fee_paid_msat, .. } => {
            let Some(preimage) = payment_preimage else {
                // Only events written by ldk-node ≤ 0.4.2 lack it.
                tracing::warn!("payment {payment_hash} succeeded without a preimage; ignored");
                return Ok(());
            };
            let event = BackendEvent::PaymentSucceeded {
                payment_hash: *payment_hash,
                preimage: *preimage,
                fee_paid_msat: *fee_paid_msat,
            };
            inner.store.payment_resolved(&event)?;
            inner.payments_changed.notify_waiters();
            Ok(())
        }
        Event::PaymentFailed { payment_hash: Some(payment_hash), reason, .. } => {
            let event = BackendEvent::PaymentFailed {
                payment_hash: *payment_hash,
                reason: errors::failure_code(*reason).to_owned(),
            };
            inner.store.payment_resolved(&event)?;
            inner.payments_changed.notify_waiters();
            Ok(())
        }
        _ => Ok(()),
    }
}

async fn on_claimable(
    inner: &Inner,
    hash: PaymentHash,
    amount_msat: u64,
    claim_deadline: Option<u32>,
) -> Result<(), BackendError> {
    let _guard = inner.state_lock.lock().await;
    let payments = inner.node.bolt11_payment();
    let fail = |why: &str| {
        tracing::info!("failing back the HTLCs for {hash}: {why}");
        if let Err(e) = payments.fail_for_hash(hash) {
            tracing::warn!("failing back {hash} failed: {e}");
        }
    };
    let Some(invoice) = inner.store.invoice(&hash)? else {
        // Registered with the node but not through this backend: we hold no preimage for it,
        // and ldk-node requires failing what cannot be claimed.
        fail("no invoice was created for it through the backend");
        return Ok(());
    };
    match (invoice.state, invoice.preimage) {
        (InvoiceState::Open, Some(preimage)) => {
            if let Err(e) = payments.claim_for_hash(hash, amount_msat, preimage) {
                fail(&format!("claiming failed: {e}"));
            }
            Ok(())
        }
        (InvoiceState::Open, None) => {
            if let Some(deadline) = claim_deadline {
                if inner.height().saturating_add(HOLD_FAILBACK_MARGIN_BLOCKS) >= deadline {
                    return inner.cancel_locked(hash);
                }
            }
            let state = InvoiceState::Held { amount_msat, claim_deadline_height: claim_deadline };
            let event = BackendEvent::InvoiceHeld {
                payment_hash: hash,
                amount_msat,
                claim_deadline_height: claim_deadline,
            };
            inner.store.transition(&hash, state, Some(&event))?;
            Ok(())
        }
        // Already held (a replay after restart) or already settled (ldk-node refuses
        // duplicate payments to a settled hash itself).
        (InvoiceState::Held { .. } | InvoiceState::Settled { .. }, _) => Ok(()),
        (InvoiceState::Cancelled, _) => {
            fail("the invoice was cancelled");
            Ok(())
        }
    }
}

/// Fails back held HTLCs whose claim deadline is (nearly) reached.
async fn fail_back_due_holds(inner: &Inner) -> Result<(), BackendError> {
    let height = inner.height();
    let due: Vec<PaymentHash> = inner
        .store
        .held_invoices()?
        .into_iter()
        .filter(|(_, deadline)| {
            deadline.is_some_and(|d| height.saturating_add(HOLD_FAILBACK_MARGIN_BLOCKS) >= d)
        })
        .map(|(hash, _)| hash)
        .collect();
    for hash in due {
        let _guard = inner.state_lock.lock().await;
        if inner.claiming().contains(&hash) {
            continue; // settle was issued before the deadline; the claim is under way
        }
        if let Some(invoice) = inner.store.invoice(&hash)? {
            if matches!(invoice.state, InvoiceState::Held { .. }) {
                tracing::info!("held HTLCs for {hash} reached their claim deadline at {height}");
                inner.cancel_locked(hash)?;
            }
        }
    }
    Ok(())
}
