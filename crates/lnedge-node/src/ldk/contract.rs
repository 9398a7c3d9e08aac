//! The [`LightningBackend`] contract on ldk-node: invoices, hold invoices, payments, events.

use std::time::Duration;

use async_trait::async_trait;
use bitcoin::hashes::{sha256, Hash};
use ldk_node::lightning::ln::channelmanager::PaymentId;
use ldk_node::lightning::routing::router::RouteParametersConfig;
use ldk_node::lightning_invoice::{Bolt11InvoiceDescription, Description, Sha256};
use ldk_node::payment::{PaymentDirection, PaymentKind, PaymentStatus};
use ldk_node::NodeError;
use lightning_invoice::Bolt11Invoice;
use lightning_types::payment::{PaymentHash, PaymentPreimage};

use super::{errors, LdkBackend, HOLD_FAILBACK_MARGIN_BLOCKS};
use crate::backend::{
    check_pay_request, InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend,
    Liquidity, NodeInfo, PayRequest, PaymentOutcome,
};
use crate::error::{BackendError, PayFailure};
use crate::event::{BackendEvent, EventId, QueuedEvent};
use crate::store::StoredPayment;

impl LdkBackend {
    async fn create(
        &self,
        hash: PaymentHash,
        preimage: Option<PaymentPreimage>,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        params.validate()?;
        let min_final_cltv_expiry_delta = params.min_final_cltv_expiry_delta;
        if min_final_cltv_expiry_delta.is_some() && self.inner.signer.is_none() {
            // The node key could not be derived (ADR 0012): refuse rather than issue an invoice
            // whose HTLCs cannot be held as long as the caller asked.
            return Err(BackendError::Unsupported {
                operation: "min_final_cltv_expiry_delta",
                backend: self.backend_name(),
            });
        }
        let hold = preimage.is_none();
        let _guard = self.inner.create_lock.lock().await;
        if let Some(bolt11) = self.inner.store.existing_invoice(&hash, hold, &params)? {
            return bolt11.parse::<Bolt11Invoice>().map_err(|e| {
                BackendError::Storage(format!("stored invoice for {hash} is unreadable: {e}"))
            });
        }
        let description = match &params.description {
            InvoiceDescription::Direct(text) => Bolt11InvoiceDescription::Direct(
                Description::new(text.clone())
                    .map_err(|e| BackendError::invalid("description", e.to_string()))?,
            ),
            InvoiceDescription::Hash(digest) => {
                Bolt11InvoiceDescription::Hash(Sha256(sha256::Hash::from_byte_array(*digest)))
            }
        };
        let payments = self.inner.node.bolt11_payment();
        let invoice = match params.amount_msat {
            Some(amount_msat) => {
                payments.receive_for_hash(amount_msat, &description, params.expiry_secs, hash)
            }
            None => {
                payments.receive_variable_amount_for_hash(&description, params.expiry_secs, hash)
            }
        }
        .map_err(|e| errors::node_error("receive_for_hash", e))?;
        let invoice = match (min_final_cltv_expiry_delta, &self.inner.signer) {
            (Some(delta), Some(signer))
                if u64::from(delta) > invoice.min_final_cltv_expiry_delta() =>
            {
                signer.with_final_cltv(&invoice, delta)?
            }
            _ => invoice,
        };
        self.inner.store.insert_invoice(&hash, preimage.as_ref(), &params, &invoice.to_string())?;
        Ok(invoice)
    }

    /// Reconciles with ldk-node's own record when it refuses a payment as a duplicate (our
    /// store lost track of it, e.g. after a crash between sending and recording).
    fn reconcile_duplicate(&self, hash: PaymentHash) -> Result<(), BackendError> {
        let Some(details) = self.inner.node.payment(&PaymentId(hash.0)) else {
            return Ok(());
        };
        if details.direction == PaymentDirection::Inbound {
            // ldk-node keys payments by hash in both directions: it refuses to send a payment
            // whose hash it is receiving (e.g. a relay forwarding the hash of a held invoice).
            // Nothing was sent: record the failure so the caller is not left waiting.
            let failure = PayFailure::Other(
                "ldk-node 0.7.1 cannot send a payment for a hash it is receiving".into(),
            );
            let event = BackendEvent::PaymentFailed {
                payment_hash: hash,
                reason: errors::send_failure_reason(&failure),
            };
            self.inner.store.payment_resolved(&event)?;
            return Err(failure.into());
        }
        if details.status == PaymentStatus::Succeeded {
            if let PaymentKind::Bolt11 { preimage: Some(preimage), .. } = details.kind {
                let event = BackendEvent::PaymentSucceeded {
                    payment_hash: hash,
                    preimage,
                    fee_paid_msat: details.fee_paid_msat,
                };
                self.inner.store.payment_resolved(&event)?;
            }
        }
        Ok(())
    }

    async fn wait_for_outcome(
        &self,
        hash: PaymentHash,
        request: &PayRequest,
    ) -> Result<PaymentOutcome, BackendError> {
        let deadline = tokio::time::Instant::now() + request.timeout;
        let expired_at_secs = request
            .invoice
            .duration_since_epoch()
            .saturating_add(request.invoice.expiry_time())
            .as_secs();
        loop {
            let notified = self.inner.payments_changed.notified();
            match self.inner.store.payment(&hash)? {
                Some(StoredPayment::Succeeded { preimage, fee_paid_msat }) => {
                    return Ok(PaymentOutcome { payment_hash: hash, preimage, fee_paid_msat });
                }
                Some(StoredPayment::Failed { reason }) => {
                    return Err(errors::decode_reason(&reason, expired_at_secs).into());
                }
                Some(StoredPayment::Pending) | None => {}
            }
            let now = tokio::time::Instant::now();
            if now >= deadline {
                return Err(PayFailure::Timeout { timeout_secs: request.timeout.as_secs() }.into());
            }
            // Poll as a fallback in case a notification raced the read above.
            let wake = deadline.min(now + Duration::from_millis(250));
            let _ = tokio::time::timeout_at(wake, notified).await;
        }
    }
}

fn hash_of(preimage: &PaymentPreimage) -> PaymentHash {
    PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array())
}

#[async_trait]
impl LightningBackend for LdkBackend {
    fn backend_name(&self) -> &'static str {
        "ldk-node"
    }

    async fn info(&self) -> Result<NodeInfo, BackendError> {
        let status = self.inner.node.status();
        if !status.is_running {
            return Err(BackendError::Unavailable("the ldk-node is not running".into()));
        }
        Ok(NodeInfo {
            node_id: self.inner.node.node_id(),
            network: self.inner.network,
            alias: self.inner.alias.clone(),
            block_height: status.current_best_block.height,
        })
    }

    async fn liquidity(&self) -> Result<Liquidity, BackendError> {
        let node = &self.inner.node;
        if !node.status().is_running {
            return Err(BackendError::Unavailable("the ldk-node is not running".into()));
        }
        let channels = node.list_channels();
        Ok(Liquidity::of_channels(
            channels
                .iter()
                .map(|c| (c.is_usable, c.outbound_capacity_msat, c.inbound_capacity_msat)),
            Some(node.list_balances().spendable_onchain_balance_sats),
        ))
    }

    async fn create_invoice(
        &self,
        preimage: PaymentPreimage,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        self.create(hash_of(&preimage), Some(preimage), params).await
    }

    async fn create_hold_invoice(
        &self,
        payment_hash: PaymentHash,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        self.create(payment_hash, None, params).await
    }

    async fn settle_hold_invoice(&self, preimage: PaymentPreimage) -> Result<(), BackendError> {
        let hash = hash_of(&preimage);
        let _guard = self.inner.state_lock.lock().await;
        let invoice = self
            .inner
            .store
            .invoice(&hash)?
            .filter(|i| i.hold)
            .ok_or(BackendError::UnknownPaymentHash(hash))?;
        let wrong = |state: &InvoiceState| BackendError::WrongInvoiceState {
            payment_hash: hash,
            state: state.name(),
            operation: "settled",
        };
        match invoice.state {
            InvoiceState::Held { amount_msat, claim_deadline_height } => {
                let height = self.inner.height();
                if let Some(deadline) = claim_deadline_height {
                    if height.saturating_add(HOLD_FAILBACK_MARGIN_BLOCKS) >= deadline {
                        // Too late to claim safely: fail back now, as the watcher would.
                        self.inner.cancel_locked(hash)?;
                        return Err(wrong(&InvoiceState::Cancelled));
                    }
                }
                self.inner.claiming().insert(hash);
                let claimed =
                    self.inner.node.bolt11_payment().claim_for_hash(hash, amount_msat, preimage);
                if claimed.is_err() {
                    self.inner.claiming().remove(&hash);
                }
                claimed.map_err(|e| errors::node_error("claim_for_hash", e))
            }
            InvoiceState::Settled { .. } => Ok(()),
            state @ (InvoiceState::Open | InvoiceState::Cancelled) => Err(wrong(&state)),
        }
    }

    async fn cancel_hold_invoice(&self, payment_hash: PaymentHash) -> Result<(), BackendError> {
        let _guard = self.inner.state_lock.lock().await;
        let invoice = self
            .inner
            .store
            .invoice(&payment_hash)?
            .filter(|i| i.hold)
            .ok_or(BackendError::UnknownPaymentHash(payment_hash))?;
        let settled = BackendError::WrongInvoiceState {
            payment_hash,
            state: "settled",
            operation: "cancelled",
        };
        match invoice.state {
            InvoiceState::Cancelled => Ok(()),
            InvoiceState::Settled { .. } => Err(settled),
            // A settle was issued: the preimage is out, the HTLCs can no longer be failed.
            InvoiceState::Held { .. } if self.inner.claiming().contains(&payment_hash) => {
                Err(settled)
            }
            InvoiceState::Open | InvoiceState::Held { .. } => {
                self.inner.cancel_locked(payment_hash)
            }
        }
    }

    async fn invoice_state(&self, payment_hash: PaymentHash) -> Result<InvoiceState, BackendError> {
        self.inner
            .store
            .invoice(&payment_hash)?
            .map(|i| i.state)
            .ok_or(BackendError::UnknownPaymentHash(payment_hash))
    }

    async fn pay(&self, request: PayRequest) -> Result<PaymentOutcome, BackendError> {
        self.pay_limited(request).await
    }

    async fn payment_status(
        &self,
        payment_hash: PaymentHash,
    ) -> Result<Option<crate::PaymentStatus>, BackendError> {
        Ok(self.inner.store.payment(&payment_hash)?.map(|p| p.into_status(payment_hash)))
    }

    async fn next_event(&self) -> Result<QueuedEvent, BackendError> {
        self.inner.store.next_event().await
    }

    async fn event_handled(&self, id: EventId) -> Result<(), BackendError> {
        self.inner.store.event_handled(id)
    }
}

impl LdkBackend {
    /// [`LightningBackend::pay`], with the optional limit on the route's total CLTV delta.
    async fn pay_limited(&self, request: PayRequest) -> Result<PaymentOutcome, BackendError> {
        let max_total_cltv_expiry_delta = request.max_total_cltv_expiry_delta;
        check_pay_request(&request)?;
        let invoice_network = request.invoice.network();
        if invoice_network != self.inner.network {
            return Err(PayFailure::WrongNetwork {
                invoice_network: invoice_network.to_string(),
                node_network: self.inner.network.to_string(),
            }
            .into());
        }
        let hash = PaymentHash(request.invoice.payment_hash().to_byte_array());
        {
            let _guard = self.inner.pay_lock.lock().await;
            match self.inner.store.payment(&hash)? {
                Some(StoredPayment::Succeeded { preimage, fee_paid_msat }) => {
                    return Ok(PaymentOutcome { payment_hash: hash, preimage, fee_paid_msat });
                }
                // In flight: wait for the same outcome below, unless ldk-node never heard of it
                // (a crash between recording the start and sending): then send it now.
                Some(StoredPayment::Pending)
                    if self.inner.node.payment(&PaymentId(hash.0)).is_some() => {}
                // Never sent, or failed before: (re)send.
                Some(StoredPayment::Pending | StoredPayment::Failed { .. }) | None => {
                    self.inner.store.payment_started(&hash)?;
                    let mut route = RouteParametersConfig::default()
                        .with_max_total_routing_fee_msat(request.max_fee_msat);
                    if let Some(limit) = max_total_cltv_expiry_delta {
                        route.max_total_cltv_expiry_delta = limit;
                    }
                    let payments = self.inner.node.bolt11_payment();
                    let sent = match request.amount_msat {
                        None => payments.send(&request.invoice, Some(route)),
                        Some(amount_msat) => {
                            payments.send_using_amount(&request.invoice, amount_msat, Some(route))
                        }
                    };
                    match sent {
                        Ok(_) => {}
                        Err(NodeError::DuplicatePayment) => self.reconcile_duplicate(hash)?,
                        Err(e) => {
                            let error = errors::node_error("send", e);
                            let failure = match &error {
                                BackendError::Payment(failure) => failure.clone(),
                                other => PayFailure::Other(other.to_string()),
                            };
                            let event = BackendEvent::PaymentFailed {
                                payment_hash: hash,
                                reason: errors::send_failure_reason(&failure),
                            };
                            self.inner.store.payment_resolved(&event)?;
                            return Err(error);
                        }
                    }
                }
            }
        }
        self.wait_for_outcome(hash, &request).await
    }
}
