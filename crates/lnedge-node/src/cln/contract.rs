//! [`LightningBackend`] for [`ClnBackend`]: each method on lightningd's and the plugin's RPCs
//! (module docs of `cln`).

use async_trait::async_trait;
use bitcoin::hashes::{sha256, Hash};
use lightning_invoice::Bolt11Invoice;
use lightning_types::payment::{PaymentHash, PaymentPreimage};
use lnedge_cln_plugin::wire::{self, InvoiceRecord};
use serde_json::json;

use super::pump;
use super::rpc::CallError;
use super::ClnBackend;
use crate::backend::{
    check_pay_request, parse_invoice, InvoiceDescription, InvoiceParams, InvoiceState,
    LightningBackend, Liquidity, NodeInfo, PayRequest, PaymentOutcome, PaymentStatus,
};
use crate::error::{BackendError, PayFailure};
use crate::event::{BackendEvent, EventId, QueuedEvent};
use crate::store::StoredPayment;

/// The plugin's `lnedge-invoice` request for the contract's parameters.
fn invoice_request(
    hash: &PaymentHash,
    preimage: Option<&PaymentPreimage>,
    params: &InvoiceParams,
) -> wire::InvoiceRequest {
    let (description, description_hash) = match &params.description {
        InvoiceDescription::Direct(text) => (Some(text.clone()), None),
        InvoiceDescription::Hash(h) => (None, Some(hex::encode(h))),
    };
    wire::InvoiceRequest {
        payment_hash: hex::encode(hash.0),
        preimage: preimage.map(|p| hex::encode(p.0)),
        amount_msat: params.amount_msat,
        description,
        description_hash,
        expiry_secs: params.expiry_secs,
        cltv: params.min_final_cltv_expiry_delta,
    }
}

/// The state a plugin error names (`data.state`), for the contract's `WrongInvoiceState`.
fn state_named(e: &CallError) -> Option<&'static str> {
    let CallError::Cln { code: wire::ERR_WRONG_STATE, data, .. } = e else { return None };
    match data.as_ref()?.get("state")?.as_str()? {
        "open" => Some("open"),
        "held" => Some("held"),
        "settled" => Some("settled"),
        "cancelled" => Some("cancelled"),
        _ => None,
    }
}

impl ClnBackend {
    /// Calls one of the plugin's methods on a hash; an unknown hash is the contract's error.
    async fn plugin_call<P: serde::Serialize + std::fmt::Debug>(
        &self,
        method: &str,
        hash: &PaymentHash,
        params: &P,
    ) -> Result<Result<InvoiceRecord, CallError>, BackendError> {
        match self.rpc.call::<_, InvoiceRecord>(method, params).await {
            Err(CallError::Cln { code: wire::ERR_UNKNOWN_HASH, .. }) => {
                Err(BackendError::UnknownPaymentHash(*hash))
            }
            Err(e @ CallError::Transport(_)) | Err(e @ CallError::Decode(_)) => Err(e.into()),
            other => Ok(other),
        }
    }

    /// The plugin's record of `hash`, applied to the store; its state.
    async fn current_state(&self, hash: &PaymentHash) -> Result<InvoiceState, BackendError> {
        let request = wire::HashRequest { payment_hash: hex::encode(hash.0) };
        let record = self.plugin_call(wire::LOOKUP, hash, &request).await??;
        pump::apply(&self.store, &record)?.ok_or(BackendError::UnknownPaymentHash(*hash))
    }

    /// Creates an invoice through the plugin (which answers the invoice it has when asked again
    /// with the same request: a crash between its answer and the store's write is harmless).
    async fn add(
        &self,
        hash: PaymentHash,
        preimage: Option<PaymentPreimage>,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        params.validate()?;
        if let Some(bolt11) = self.store.existing_invoice(&hash, preimage.is_none(), &params)? {
            return parse_invoice(&bolt11);
        }
        let request = invoice_request(&hash, preimage.as_ref(), &params);
        let record = match self.rpc.call::<_, InvoiceRecord>(wire::INVOICE, &request).await {
            Ok(record) => record,
            Err(CallError::Cln { code: wire::ERR_DUPLICATE, .. }) => {
                return Err(BackendError::DuplicatePaymentHash(hash))
            }
            Err(CallError::Cln { code: wire::ERR_INVALID_PARAMS, message, .. }) => {
                return Err(BackendError::invalid("invoice parameters", message))
            }
            Err(e) => return Err(e.into()),
        };
        let invoice = parse_invoice(&record.bolt11)
            .map_err(|e| BackendError::Node(format!("the plugin's bolt11: {e}")))?;
        if invoice.recover_payee_pub_key() != self.node_id
            || invoice.payment_hash().to_byte_array() != hash.0
        {
            return Err(BackendError::Node(
                "CLN answered an invoice of another node or hash".into(),
            ));
        }
        self.store.insert_invoice(&hash, preimage.as_ref(), &params, &record.bolt11)?;
        Ok(invoice)
    }

    /// Runs `xpay` on a connection of its own in a task (lightningd goes on paying if this
    /// process stops waiting) and waits for it at most `timeout`.
    async fn xpay(
        &self,
        request: &PayRequest,
        hash: PaymentHash,
    ) -> Result<PaymentOutcome, BackendError> {
        let mut params = json!({
            "invstring": request.invoice.to_string(),
            "maxfee": request.max_fee_msat,
            "retry_for": request.timeout.as_secs().clamp(1, 3600),
        });
        if let Some(amount) = request.amount_msat {
            params["amount_msat"] = json!(amount);
        }
        if let Some(limit) = request.max_total_cltv_expiry_delta {
            params["maxdelay"] = json!(limit);
        }
        let (rpc, store) = (self.rpc.clone(), self.store.clone());
        let task = tokio::spawn(async move {
            let answer: Result<cln_rpc::model::responses::XpayResponse, CallError> =
                rpc.call_alone("xpay", &params).await;
            let event = match answer {
                Ok(paid) => BackendEvent::PaymentSucceeded {
                    payment_hash: hash,
                    preimage: PaymentPreimage(paid.payment_preimage.into()),
                    fee_paid_msat: Some(
                        paid.amount_sent_msat.msat().saturating_sub(paid.amount_msat.msat()),
                    ),
                },
                // Already paying this hash: follow that payment.
                Err(CallError::Cln { code: 200, .. }) => {
                    return pump::track(rpc, store, hash).await
                }
                Err(e) => match pump::failure_code(&e) {
                    Some(reason) => BackendEvent::PaymentFailed { payment_hash: hash, reason },
                    // The answer was lost: lightningd may still be paying.
                    None => return pump::track(rpc, store, hash).await,
                },
            };
            let _ = store.resolve_payment(event);
        });
        let outcome = tokio::time::timeout(request.timeout, async {
            let _ = task.await;
            self.store.payment(&hash)
        })
        .await;
        match outcome {
            Ok(Err(e)) => Err(e),
            Ok(Ok(stored)) => stored.and_then(|p| p.finished(hash)).unwrap_or_else(|| {
                // Still pending: the task (or `track`) records the outcome.
                Err(PayFailure::Timeout { timeout_secs: request.timeout.as_secs() }.into())
            }),
            Err(_) => Err(PayFailure::Timeout { timeout_secs: request.timeout.as_secs() }.into()),
        }
    }

    /// Waits (at most `timeout`) for a payment already under way to be recorded.
    async fn await_payment(
        &self,
        hash: PaymentHash,
        timeout: std::time::Duration,
    ) -> Result<PaymentOutcome, BackendError> {
        let deadline = tokio::time::Instant::now() + timeout;
        let mut tracker = None;
        loop {
            if let Some(finished) = self.store.payment(&hash)?.and_then(|p| p.finished(hash)) {
                return finished;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(PayFailure::Timeout { timeout_secs: timeout.as_secs() }.into());
            }
            if tracker.is_none() {
                let (rpc, store) = (self.rpc.clone(), self.store.clone());
                tracker = Some(tokio::spawn(pump::track(rpc, store, hash)));
            }
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

#[async_trait]
impl LightningBackend for ClnBackend {
    fn backend_name(&self) -> &'static str {
        "cln"
    }

    async fn info(&self) -> Result<NodeInfo, BackendError> {
        let info: cln_rpc::model::responses::GetinfoResponse =
            self.rpc.call("getinfo", &json!({})).await?;
        Ok(NodeInfo {
            node_id: self.node_id,
            network: self.network,
            alias: info.alias,
            block_height: info.blockheight,
        })
    }

    /// `listpeerchannels` and `listfunds`: the channels not closed or closing count; a channel
    /// is usable when its peer is connected and it is `CHANNELD_NORMAL`; what it can send and
    /// receive are lightningd's own `spendable_msat` / `receivable_msat` (reserves and fees
    /// already taken off); on chain, the confirmed outputs not reserved.
    async fn liquidity(&self) -> Result<Liquidity, BackendError> {
        use cln_rpc::model::responses::{
            ListfundsOutputsStatus, ListfundsResponse, ListpeerchannelsResponse,
        };
        use cln_rpc::primitives::ChannelState;
        let peers: ListpeerchannelsResponse = self.rpc.call("listpeerchannels", &json!({})).await?;
        let funds: ListfundsResponse = self.rpc.call("listfunds", &json!({})).await?;
        let open = |state: ChannelState| {
            matches!(
                state,
                ChannelState::CHANNELD_AWAITING_LOCKIN
                    | ChannelState::CHANNELD_NORMAL
                    | ChannelState::CHANNELD_AWAITING_SPLICE
                    | ChannelState::DUALOPEND_AWAITING_LOCKIN
            )
        };
        let msat = |a: Option<cln_rpc::primitives::Amount>| a.map_or(0, |a| a.msat());
        let onchain_msat: u64 = funds
            .outputs
            .iter()
            .filter(|o| o.status == ListfundsOutputsStatus::CONFIRMED && !o.reserved)
            .map(|o| o.amount_msat.msat())
            .sum();
        Ok(Liquidity::of_channels(
            peers.channels.iter().filter(|c| open(c.state)).map(|c| {
                let usable = c.peer_connected && c.state == ChannelState::CHANNELD_NORMAL;
                (usable, msat(c.spendable_msat), msat(c.receivable_msat))
            }),
            Some(onchain_msat / 1_000),
        ))
    }

    async fn create_invoice(
        &self,
        preimage: PaymentPreimage,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        self.add(hash, Some(preimage), params).await
    }

    async fn create_hold_invoice(
        &self,
        payment_hash: PaymentHash,
        params: InvoiceParams,
    ) -> Result<Bolt11Invoice, BackendError> {
        self.add(payment_hash, None, params).await
    }

    async fn settle_hold_invoice(&self, preimage: PaymentPreimage) -> Result<(), BackendError> {
        let hash = PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array());
        if self.store.invoice(&hash)?.filter(|i| i.hold).is_none() {
            return Err(BackendError::UnknownPaymentHash(hash));
        }
        self.store.record_preimage(&hash, &preimage)?;
        let request = wire::SettleRequest { preimage: hex::encode(preimage.0) };
        match self.plugin_call(wire::SETTLE, &hash, &request).await? {
            Ok(record) => pump::apply(&self.store, &record).map(|_| ()),
            Err(e) => match state_named(&e) {
                Some(state) => Err(BackendError::WrongInvoiceState {
                    payment_hash: hash,
                    state,
                    operation: "settled",
                }),
                None => Err(e.into()),
            },
        }
    }

    async fn cancel_hold_invoice(&self, payment_hash: PaymentHash) -> Result<(), BackendError> {
        let hash = payment_hash;
        if self.store.invoice(&hash)?.filter(|i| i.hold).is_none() {
            return Err(BackendError::UnknownPaymentHash(hash));
        }
        let request = wire::HashRequest { payment_hash: hex::encode(hash.0) };
        match self.plugin_call(wire::CANCEL, &hash, &request).await? {
            Ok(record) => pump::apply(&self.store, &record).map(|_| ()),
            Err(e) => match state_named(&e) {
                Some(state) => Err(BackendError::WrongInvoiceState {
                    payment_hash: hash,
                    state,
                    operation: "cancelled",
                }),
                None => Err(e.into()),
            },
        }
    }

    async fn invoice_state(&self, payment_hash: PaymentHash) -> Result<InvoiceState, BackendError> {
        if self.store.invoice(&payment_hash)?.is_none() {
            return Err(BackendError::UnknownPaymentHash(payment_hash));
        }
        self.current_state(&payment_hash).await
    }

    async fn pay(&self, request: PayRequest) -> Result<PaymentOutcome, BackendError> {
        check_pay_request(&request)?;
        let hash = PaymentHash(*request.invoice.payment_hash().as_ref());
        match self.store.payment(&hash)? {
            Some(StoredPayment::Succeeded { preimage, fee_paid_msat }) => {
                return Ok(PaymentOutcome { payment_hash: hash, preimage, fee_paid_msat })
            }
            Some(StoredPayment::Pending) => return self.await_payment(hash, request.timeout).await,
            Some(StoredPayment::Failed { .. }) | None => {}
        }
        self.store.payment_started(&hash)?;
        self.xpay(&request, hash).await
    }

    async fn payment_status(
        &self,
        payment_hash: PaymentHash,
    ) -> Result<Option<PaymentStatus>, BackendError> {
        Ok(self.store.payment(&payment_hash)?.map(|p| p.into_status(payment_hash)))
    }

    async fn next_event(&self) -> Result<QueuedEvent, BackendError> {
        self.store.next_event().await
    }

    async fn event_handled(&self, id: EventId) -> Result<(), BackendError> {
        self.store.event_handled(id)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn wrong_states_are_read_from_the_plugins_error_data() {
        let e = CallError::Cln {
            code: wire::ERR_WRONG_STATE,
            message: "the invoice of … is open".into(),
            data: Some(json!({"state": "open"})),
        };
        assert_eq!(state_named(&e), Some("open"));
        let other = CallError::Cln { code: 1, message: String::new(), data: None };
        assert_eq!(state_named(&other), None);
    }

    #[test]
    fn xpay_codes_map_to_the_stores_failure_codes() {
        let cln = |code| CallError::Cln { code, message: "m".into(), data: None };
        assert_eq!(pump::failure_code(&cln(203)).as_deref(), Some("recipient_rejected"));
        assert_eq!(pump::failure_code(&cln(205)).as_deref(), Some("route_not_found"));
        assert_eq!(pump::failure_code(&cln(209)).as_deref(), Some("retries_exhausted"));
        assert_eq!(pump::failure_code(&CallError::Transport("x".into())), None);
    }
}
