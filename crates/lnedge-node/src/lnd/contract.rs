//! [`LightningBackend`] for [`LndBackend`]: each method on LND's RPCs (module docs of `lnd`).

use async_trait::async_trait;
use bitcoin::hashes::{sha256, Hash};
use lightning_invoice::Bolt11Invoice;
use lightning_types::payment::{PaymentHash, PaymentPreimage};
use serde_json::{json, Value};

use super::pump;
use super::rest::{b64, RestError};
use super::LndBackend;
use crate::backend::{
    check_pay_request, parse_invoice, InvoiceDescription, InvoiceParams, InvoiceState,
    LightningBackend, Liquidity, NodeInfo, PayRequest, PaymentOutcome, PaymentStatus,
};
use crate::error::{BackendError, PayFailure};
use crate::event::{EventId, QueuedEvent};
use crate::store::StoredPayment;

/// LND's messages (its `invoices` and `channeldb` packages) that the contract reads.
const STILL_OPEN: &str = "invoice still open";
const ALREADY_SETTLED: &str = "invoice already settled";
const ALREADY_CANCELED: &str = "invoice already canceled";
const DUPLICATE: &str = "invoice with payment hash already exists";
const ALREADY_PAID: &str = "invoice is already paid";
const IN_FLIGHT: &str = "payment is in transition";

/// The request body fields of an invoice (`AddInvoice` / `AddHoldInvoice`).
fn invoice_body(params: &InvoiceParams) -> Value {
    let mut body = json!({"expiry": params.expiry_secs.to_string()});
    if let Some(amount) = params.amount_msat {
        body["value_msat"] = json!(amount.to_string());
    }
    match &params.description {
        InvoiceDescription::Direct(memo) => body["memo"] = json!(memo),
        InvoiceDescription::Hash(hash) => body["description_hash"] = json!(b64(hash)),
    }
    if let Some(delta) = params.min_final_cltv_expiry_delta {
        body["cltv_expiry"] = json!(u64::from(delta).to_string());
    }
    body
}

impl LndBackend {
    /// LND's invoice of `hash`.
    async fn lookup(&self, hash: &PaymentHash) -> Result<Value, BackendError> {
        match self.rest.get(&format!("/v1/invoice/{}", hex::encode(hash.0))).await {
            Ok(v) => Ok(v),
            Err(RestError::Lnd { status: 404, .. }) => Err(BackendError::UnknownPaymentHash(*hash)),
            Err(e) => Err(e.into()),
        }
    }

    /// The state LND reports for an invoice created here (and records it, with its event).
    async fn current_state(
        &self,
        hash: &PaymentHash,
        hold: bool,
    ) -> Result<InvoiceState, BackendError> {
        let invoice = self.lookup(hash).await?;
        pump::apply(&self.store, &invoice)?;
        pump::read_invoice(&invoice, hold)
            .map(|(state, _)| state)
            .ok_or_else(|| BackendError::Node("LookupInvoice: no r_hash".into()))
    }

    /// Checks that `bolt11` is this node's invoice for `hash`, and records it.
    fn adopt(
        &self,
        hash: &PaymentHash,
        preimage: Option<&PaymentPreimage>,
        params: &InvoiceParams,
        bolt11: &str,
    ) -> Result<Bolt11Invoice, BackendError> {
        let invoice = parse_invoice(bolt11)
            .map_err(|e| BackendError::Node(format!("LND's payment_request: {e}")))?;
        if invoice.recover_payee_pub_key() != self.node_id
            || invoice.payment_hash().to_byte_array() != hash.0
        {
            return Err(BackendError::Node(
                "LND answered an invoice of another node or hash".into(),
            ));
        }
        self.store.insert_invoice(hash, preimage, params, bolt11)?;
        Ok(invoice)
    }

    /// Creates an invoice on LND, or finds the one LND already has for the hash (a crash between
    /// LND's answer and the store's write).
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
        let mut body = invoice_body(&params);
        let path = match preimage {
            Some(p) => {
                body["r_preimage"] = json!(b64(&p.0));
                "/v1/invoices"
            }
            None => {
                body["hash"] = json!(b64(&hash.0));
                "/v2/invoices/hodl"
            }
        };
        let bolt11 = match self.rest.post(path, &body).await {
            Ok(answer) => super::rest::str_of(&answer, "payment_request").to_owned(),
            Err(e) if e.says(DUPLICATE) => {
                // LND has an invoice for this hash that the store does not: lnedge's own from
                // before a crash (same kind and amount: adopt it), or someone else's (refuse).
                let known = self.lookup(&hash).await?;
                let amount_msat = super::rest::u64_of(&known, "value_msat");
                let known_preimage = super::rest::bytes32_of(&known, "r_preimage");
                let same_kind = match preimage {
                    Some(p) => known_preimage == Some(p.0),
                    None => {
                        known_preimage.is_none()
                            && super::rest::str_of(&known, "state") != "SETTLED"
                    }
                };
                if !same_kind || amount_msat != params.amount_msat.unwrap_or(0) {
                    return Err(BackendError::DuplicatePaymentHash(hash));
                }
                super::rest::str_of(&known, "payment_request").to_owned()
            }
            Err(e) => return Err(e.into()),
        };
        self.adopt(&hash, preimage.as_ref(), &params, &bolt11)
    }

    /// Waits for the outcome of a payment LND already has (`TrackPaymentV2`), at most `timeout`;
    /// a stream that breaks is opened again until then. Still unknown at the end: a task keeps
    /// following it and the caller gets `Timeout`.
    async fn await_payment(
        &self,
        hash: PaymentHash,
        timeout: std::time::Duration,
    ) -> Result<PaymentOutcome, BackendError> {
        let path = pump::track_path(&hash);
        let deadline = tokio::time::Instant::now() + timeout;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            match tokio::time::timeout(left, pump::follow(&self.rest, &path, None, hash)).await {
                Ok(Ok(Some(event))) => return self.store.resolve_payment(event),
                Ok(Err(RestError::Lnd { status: 404, .. })) => {
                    return self.store.resolve_payment(pump::not_initiated(hash));
                }
                Err(_) => break,
                // The stream ended or broke before the outcome: follow it again.
                Ok(Ok(None)) | Ok(Err(_)) => {
                    let pause = std::time::Duration::from_millis(250).min(left);
                    tokio::time::sleep(pause).await;
                    if tokio::time::Instant::now() >= deadline {
                        break;
                    }
                }
            }
        }
        tokio::spawn(pump::track(self.rest.clone(), self.store.clone(), hash));
        Err(PayFailure::Timeout { timeout_secs: timeout.as_secs() }.into())
    }
}

#[async_trait]
impl LightningBackend for LndBackend {
    fn backend_name(&self) -> &'static str {
        "lnd"
    }

    async fn info(&self) -> Result<NodeInfo, BackendError> {
        let info = self.rest.get("/v1/getinfo").await?;
        Ok(NodeInfo {
            node_id: self.node_id,
            network: self.network,
            alias: super::rest::str_of(&info, "alias").to_owned(),
            block_height: super::rest::u64_of(&info, "block_height") as u32,
        })
    }

    /// `ListChannels` and `WalletBalance`: per channel, `active` is usable, what it can send is
    /// `local_balance − local_constraints.chan_reserve_sat` and what it can receive
    /// `remote_balance − remote_constraints.chan_reserve_sat` (LND's balances are whole sat and
    /// already leave out the commitment fee); on chain, `confirmed_balance`.
    async fn liquidity(&self) -> Result<Liquidity, BackendError> {
        use super::rest::u64_of;
        let listed = self.rest.get("/v1/channels").await?;
        let wallet = self.rest.get("/v1/balance/blockchain").await?;
        let reserve = |c: &Value, side: &str| match c.get(format!("{side}_constraints")) {
            Some(constraints) => u64_of(constraints, "chan_reserve_sat"),
            None => u64_of(c, &format!("{side}_chan_reserve_sat")),
        };
        let channels =
            listed.get("channels").and_then(Value::as_array).cloned().unwrap_or_default();
        Ok(Liquidity::of_channels(
            channels.iter().map(|c| {
                let usable = c.get("active").and_then(Value::as_bool).unwrap_or(false);
                let out = u64_of(c, "local_balance").saturating_sub(reserve(c, "local"));
                let inb = u64_of(c, "remote_balance").saturating_sub(reserve(c, "remote"));
                (usable, out.saturating_mul(1_000), inb.saturating_mul(1_000))
            }),
            Some(u64_of(&wallet, "confirmed_balance")),
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
        let stored = self.store.invoice(&hash)?.filter(|i| i.hold);
        if stored.is_none() {
            return Err(BackendError::UnknownPaymentHash(hash));
        }
        let wrong = |state: &'static str| BackendError::WrongInvoiceState {
            payment_hash: hash,
            state,
            operation: "settled",
        };
        match self.current_state(&hash, true).await? {
            InvoiceState::Settled { .. } => return Ok(()),
            InvoiceState::Open => return Err(wrong("open")),
            InvoiceState::Cancelled => return Err(wrong("cancelled")),
            InvoiceState::Held { .. } => {}
        }
        self.store.record_preimage(&hash, &preimage)?;
        match self
            .rest
            .post_repeatable("/v2/invoices/settle", &json!({"preimage": b64(&preimage.0)}))
            .await
        {
            Ok(_) => {}
            Err(e) if e.says(ALREADY_SETTLED) => {}
            Err(e) if e.says(ALREADY_CANCELED) => return Err(wrong("cancelled")),
            Err(e) if e.says(STILL_OPEN) => return Err(wrong("open")),
            Err(e) => return Err(e.into()),
        }
        // Record the settlement now (the stream reports it too; the store keeps it once).
        self.current_state(&hash, true).await.map(|_| ())
    }

    async fn cancel_hold_invoice(&self, payment_hash: PaymentHash) -> Result<(), BackendError> {
        let hash = payment_hash;
        if self.store.invoice(&hash)?.filter(|i| i.hold).is_none() {
            return Err(BackendError::UnknownPaymentHash(hash));
        }
        let settled = BackendError::WrongInvoiceState {
            payment_hash: hash,
            state: "settled",
            operation: "cancelled",
        };
        match self.current_state(&hash, true).await? {
            InvoiceState::Settled { .. } => return Err(settled),
            InvoiceState::Cancelled => return Ok(()),
            InvoiceState::Open | InvoiceState::Held { .. } => {}
        }
        match self
            .rest
            .post_repeatable("/v2/invoices/cancel", &json!({"payment_hash": b64(&hash.0)}))
            .await
        {
            Ok(_) => {}
            Err(e) if e.says(ALREADY_SETTLED) => return Err(settled),
            Err(e) => return Err(e.into()),
        }
        self.current_state(&hash, true).await.map(|_| ())
    }

    async fn invoice_state(&self, payment_hash: PaymentHash) -> Result<InvoiceState, BackendError> {
        let Some(stored) = self.store.invoice(&payment_hash)? else {
            return Err(BackendError::UnknownPaymentHash(payment_hash));
        };
        self.current_state(&payment_hash, stored.hold).await
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
        let mut body = json!({
            "payment_request": request.invoice.to_string(),
            "fee_limit_msat": request.max_fee_msat.to_string(),
            "timeout_seconds": request.timeout.as_secs().clamp(1, 3600),
            "no_inflight_updates": true,
        });
        if let Some(amount) = request.amount_msat {
            body["amt_msat"] = json!(amount.to_string());
        }
        if let Some(limit) = request.max_total_cltv_expiry_delta {
            body["cltv_limit"] = json!(limit);
        }
        let started = tokio::time::Instant::now();
        let sent = tokio::time::timeout(
            request.timeout,
            pump::follow(&self.rest, "/v2/router/send", Some(&body), hash),
        )
        .await;
        let left = request.timeout.saturating_sub(started.elapsed());
        match sent {
            Ok(Ok(Some(event))) => self.store.resolve_payment(event),
            Ok(Err(e)) if e.says(ALREADY_PAID) || e.says(IN_FLIGHT) => {
                self.await_payment(hash, left).await
            }
            Ok(Err(e @ RestError::Lnd { .. })) => {
                // LND refused before sending anything: a final failure of this attempt.
                let reason = e.lnd_message().unwrap_or_default().to_owned();
                let failed = crate::BackendEvent::PaymentFailed { payment_hash: hash, reason };
                let _ = self.store.resolve_payment(failed);
                Err(e.into())
            }
            // The stream broke (a network blip, LND restarting): LND may still be paying, or
            // may never have started. Follow it for the rest of the wait.
            Ok(Ok(None)) | Ok(Err(_)) => self.await_payment(hash, left).await,
            // The wait ran out: a task keeps following it.
            Err(_) => {
                tokio::spawn(pump::track(self.rest.clone(), self.store.clone(), hash));
                Err(PayFailure::Timeout { timeout_secs: request.timeout.as_secs() }.into())
            }
        }
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
