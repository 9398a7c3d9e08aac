//! The payment watcher: turns the owner node's settled invoices into payment records, with the
//! exchange rate of the moment when the operator keeps books in a fiat currency.
//!
//! It reads the backend's durable event queue and acknowledges an event only after the payment
//! is stored, so a crash between the two replays the event, and the store's idempotent
//! `record_payment` drops the replay. Several gateway replicas may watch one node: each payment
//! is counted once.

use std::sync::Arc;

use lnedge_node::{BackendEvent, LightningBackend};
use tokio::sync::watch;

use crate::accounting::RateSource;
use crate::clock::now_secs;
use crate::store::{GatewayStore, PaymentRecord, StoreError};

/// What the watcher needs.
#[derive(Clone)]
pub struct PaymentWatcher {
    /// Where payments are recorded.
    pub store: Arc<dyn GatewayStore>,
    /// The owner's node.
    pub owner: Arc<dyn LightningBackend>,
    /// Exchange rates.
    pub rates: Arc<dyn RateSource>,
    /// The currency the operator keeps books in, if any (`EUR`).
    pub accounting_currency: Option<String>,
}

impl std::fmt::Debug for PaymentWatcher {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PaymentWatcher")
            .field("store", &self.store.name())
            .field("owner", &self.owner.backend_name())
            .field("accounting_currency", &self.accounting_currency)
            .finish()
    }
}

/// What handling one event did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Handled {
    /// A pool payment was recorded (or a deputy sale marked paid).
    Recorded,
    /// A pool payment that was already recorded (a replay).
    Duplicate,
    /// Not a settled pool invoice (another invoice of the node, or another event).
    Ignored,
}

impl PaymentWatcher {
    /// Handles one event (without acknowledging it).
    pub async fn handle(&self, event: &BackendEvent) -> Result<Handled, StoreError> {
        let BackendEvent::InvoiceSettled { payment_hash, amount_msat } = event else {
            return Ok(Handled::Ignored);
        };
        if self.store.entry_by_hash(&payment_hash.0).await?.is_none() {
            // A deputy sale's invoice (issue #6): requested → paid, once.
            if self.store.mark_deputy_paid(&payment_hash.0, now_secs()).await? {
                return Ok(Handled::Recorded);
            }
            return Ok(Handled::Ignored);
        }
        let quote = match &self.accounting_currency {
            Some(currency) => match self.rates.quote(currency).await {
                Ok(q) => Some(q),
                Err(e) => {
                    // The payment is recorded without a rate rather than not at all.
                    tracing::warn!(%payment_hash, "no exchange rate for the books: {e}");
                    None
                }
            },
            None => None,
        };
        let record = PaymentRecord {
            payment_hash: payment_hash.0,
            amount_msat: *amount_msat,
            paid_at: now_secs(),
            quote,
        };
        Ok(if self.store.record_payment(&record).await? {
            Handled::Recorded
        } else {
            Handled::Duplicate
        })
    }

    /// Runs until `shutdown` turns true: reads events, records pool payments, acknowledges.
    /// Transient failures are retried after a pause; nothing is acknowledged before it is stored.
    pub async fn run(self, shutdown: watch::Receiver<bool>) {
        self.run_waking(shutdown, None).await
    }

    /// [`run`](Self::run), and wakes the relay's driver for the hash of every invoice event
    /// (held, settled, cancelled): the relay then asks the node about that payment at once
    /// instead of on its next full pass (issue #17). The relay still reads the node's state,
    /// never the event itself (ADR 0010).
    pub async fn run_waking(
        self,
        mut shutdown: watch::Receiver<bool>,
        relay: Option<Arc<crate::relay::Schedule>>,
    ) {
        loop {
            let queued = tokio::select! {
                _ = shutdown.wait_for(|stop| *stop) => return,
                queued = self.owner.next_event() => queued,
            };
            let queued = match queued {
                Ok(q) => q,
                Err(e) => {
                    tracing::warn!("reading the node's events failed, retrying: {e}");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                    continue;
                }
            };
            if let Some(schedule) = &relay {
                match &queued.event {
                    BackendEvent::InvoiceHeld { payment_hash, .. }
                    | BackendEvent::InvoiceSettled { payment_hash, .. }
                    | BackendEvent::InvoiceCancelled { payment_hash } => {
                        schedule.wake(payment_hash.0)
                    }
                    _ => {}
                }
            }
            match self.handle(&queued.event).await {
                Ok(handled) => {
                    tracing::debug!(event = ?queued.event, ?handled, "node event");
                    if let Err(e) = self.owner.event_handled(queued.id).await {
                        tracing::warn!("acknowledging a node event failed: {e}");
                    }
                }
                Err(e) => {
                    tracing::error!("recording a payment failed, will retry: {e}");
                    tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                }
            }
        }
    }
}
