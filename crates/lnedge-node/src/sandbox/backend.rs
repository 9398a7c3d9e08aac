//! [`LightningBackend`] for a [`SandboxNode`].

use std::time::Duration;

use async_trait::async_trait;
use bitcoin::hashes::{sha256, Hash};
use bitcoin::Network;
use lightning::ln::channelmanager::{Bolt11InvoiceParameters, PaymentId};
use lightning::ln::channelmanager::{Bolt11PaymentError, Retry, RetryableSendFailure};
use lightning::routing::router::RouteParametersConfig;
use lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescription, Currency, Description};
use lightning_types::payment::{PaymentHash, PaymentPreimage};

use super::node::SandboxNode;
use crate::backend::{
    check_pay_request, InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend,
    Liquidity, NodeInfo, PayRequest, PaymentOutcome,
};
use crate::error::{BackendError, PayFailure};
use crate::event::{BackendEvent, EventId, QueuedEvent};
use crate::store::StoredPayment;

impl SandboxNode {
    fn make_invoice(
        &self,
        payment_hash: PaymentHash,
        preimage: Option<PaymentPreimage>,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        let min_final_cltv_expiry_delta = params.min_final_cltv_expiry_delta;
        params.validate()?;
        let hold = preimage.is_none();
        if let Some(existing) = self.store.existing_invoice(&payment_hash, hold, &params)? {
            return crate::backend::parse_invoice(&existing);
        }
        let description = match &params.description {
            InvoiceDescription::Direct(text) => Bolt11InvoiceDescription::Direct(
                Description::new(text.clone())
                    .map_err(|e| BackendError::invalid("description", e.to_string()))?,
            ),
            InvoiceDescription::Hash(hash) => Bolt11InvoiceDescription::Hash(
                lightning_invoice::Sha256(sha256::Hash::from_byte_array(*hash)),
            ),
        };
        let invoice = self
            .channel_manager
            .create_bolt11_invoice(Bolt11InvoiceParameters {
                amount_msats: params.amount_msat,
                description,
                invoice_expiry_delta_secs: Some(params.expiry_secs),
                min_final_cltv_expiry_delta,
                payment_hash: Some(payment_hash),
            })
            .map_err(|e| BackendError::Node(format!("creating the invoice failed: {e:?}")))?;
        self.store.insert_invoice(
            &payment_hash,
            preimage.as_ref(),
            &params,
            &invoice.to_string(),
        )?;
        Ok(invoice)
    }

    async fn wait_for_payment(
        &self,
        payment_hash: PaymentHash,
        timeout: Duration,
    ) -> Result<PaymentOutcome, BackendError> {
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let notified = self.payment_resolved.notified();
            if let Some(finished) =
                self.store.payment(&payment_hash)?.and_then(|p| p.finished(payment_hash))
            {
                return finished;
            }
            if tokio::time::timeout_at(deadline, notified).await.is_err() {
                return Err(PayFailure::Timeout { timeout_secs: timeout.as_secs() }.into());
            }
        }
    }
}

#[async_trait]
impl LightningBackend for SandboxNode {
    fn backend_name(&self) -> &'static str {
        "sandbox"
    }

    async fn info(&self) -> Result<NodeInfo, BackendError> {
        Ok(NodeInfo {
            node_id: self.node_id(),
            network: Network::Regtest,
            alias: self.name().to_owned(),
            block_height: self.channel_manager.current_best_block().height,
        })
    }

    async fn liquidity(&self) -> Result<Liquidity, BackendError> {
        let channels = self.channel_manager.list_channels();
        // The simulated chain funds channels directly; the sandbox has no on-chain wallet.
        Ok(Liquidity::of_channels(
            channels
                .iter()
                .map(|c| (c.is_usable, c.outbound_capacity_msat, c.inbound_capacity_msat)),
            None,
        ))
    }

    async fn create_invoice(
        &self,
        preimage: PaymentPreimage,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        self.make_invoice(hash, Some(preimage), params)
    }

    async fn create_hold_invoice(
        &self,
        payment_hash: PaymentHash,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        self.make_invoice(payment_hash, None, params)
    }

    async fn settle_hold_invoice(&self, preimage: PaymentPreimage) -> Result<(), BackendError> {
        let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        let invoice = self.store.invoice(&hash)?.ok_or(BackendError::UnknownPaymentHash(hash))?;
        match invoice.state {
            InvoiceState::Held { .. } => {
                // Remember the preimage first: a claim replayed after a crash can then finish.
                self.store.record_preimage(&hash, &preimage)?;
                self.channel_manager.claim_funds(preimage);
                Ok(())
            }
            InvoiceState::Settled { .. } if invoice.preimage == Some(preimage) || !invoice.hold => {
                Ok(())
            }
            state => Err(BackendError::WrongInvoiceState {
                payment_hash: hash,
                state: state.name(),
                operation: "settled",
            }),
        }
    }

    async fn cancel_hold_invoice(&self, payment_hash: PaymentHash) -> Result<(), BackendError> {
        let invoice = self
            .store
            .invoice(&payment_hash)?
            .ok_or(BackendError::UnknownPaymentHash(payment_hash))?;
        match invoice.state {
            InvoiceState::Cancelled => Ok(()),
            InvoiceState::Open | InvoiceState::Held { .. } if invoice.hold => {
                let event = BackendEvent::InvoiceCancelled { payment_hash };
                self.store.transition(&payment_hash, InvoiceState::Cancelled, Some(&event))?;
                self.channel_manager.fail_htlc_backwards(&payment_hash);
                Ok(())
            }
            state => Err(BackendError::WrongInvoiceState {
                payment_hash,
                state: if invoice.hold { state.name() } else { "auto-settling" },
                operation: "cancelled",
            }),
        }
    }

    async fn invoice_state(&self, payment_hash: PaymentHash) -> Result<InvoiceState, BackendError> {
        self.store
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
        Ok(self.store.payment(&payment_hash)?.map(|p| p.into_status(payment_hash)))
    }

    async fn next_event(&self) -> Result<QueuedEvent, BackendError> {
        self.store.next_event().await
    }

    async fn event_handled(&self, id: EventId) -> Result<(), BackendError> {
        self.store.event_handled(id)
    }
}

impl SandboxNode {
    /// [`LightningBackend::pay`], with the optional limit on the route's total CLTV delta.
    async fn pay_limited(&self, request: PayRequest) -> Result<PaymentOutcome, BackendError> {
        let max_total_cltv_expiry_delta = request.max_total_cltv_expiry_delta;
        if request.invoice.currency() != Currency::Regtest {
            return Err(PayFailure::WrongNetwork {
                invoice_network: format!("{:?}", request.invoice.currency()).to_lowercase(),
                node_network: "regtest".into(),
            }
            .into());
        }
        let hash = PaymentHash(request.invoice.payment_hash().to_byte_array());
        match self.store.payment(&hash)? {
            Some(StoredPayment::Succeeded { preimage, fee_paid_msat }) => {
                return Ok(PaymentOutcome { payment_hash: hash, preimage, fee_paid_msat })
            }
            Some(StoredPayment::Pending) => {
                return self.wait_for_payment(hash, request.timeout).await
            }
            Some(StoredPayment::Failed { .. }) | None => {}
        }
        check_pay_request(&request)?;
        self.store.payment_started(&hash)?;
        let mut route_config = RouteParametersConfig {
            max_total_routing_fee_msat: Some(request.max_fee_msat),
            ..RouteParametersConfig::default()
        };
        if let Some(limit) = max_total_cltv_expiry_delta {
            route_config.max_total_cltv_expiry_delta = limit;
        }
        let sent = self.channel_manager.pay_for_bolt11_invoice(
            &request.invoice,
            PaymentId(hash.0),
            request.amount_msat,
            route_config,
            Retry::Timeout(request.timeout),
        );
        if let Err(e) = sent {
            let failure = match e {
                Bolt11PaymentError::InvalidAmount => {
                    BackendError::invalid("amount_msat", "below the invoice's amount")
                }
                Bolt11PaymentError::SendingFailed(RetryableSendFailure::PaymentExpired) => {
                    PayFailure::InvoiceExpired { expired_at_secs: 0 }.into()
                }
                Bolt11PaymentError::SendingFailed(RetryableSendFailure::RouteNotFound) => {
                    PayFailure::NoRoute(format!(
                        "within a fee limit of {} msat",
                        request.max_fee_msat
                    ))
                    .into()
                }
                Bolt11PaymentError::SendingFailed(RetryableSendFailure::DuplicatePayment) => {
                    BackendError::Unavailable(
                        "an earlier attempt to pay this invoice is still being resolved".into(),
                    )
                }
                Bolt11PaymentError::SendingFailed(other) => {
                    PayFailure::Other(format!("{other:?}")).into()
                }
            };
            // Nothing was sent: record the attempt as failed so a retry may start afresh.
            let event =
                BackendEvent::PaymentFailed { payment_hash: hash, reason: failure.to_string() };
            self.store.payment_resolved(&event)?;
            return Err(failure);
        }
        self.wait_for_payment(hash, request.timeout).await
    }
}
