//! [`PayeeAgent`]: wake, fetch what is waiting, complete it.

use std::sync::Arc;

use lnedge_node::{InvoiceDescription, InvoiceParams, LightningBackend, PaymentPreimage};
use tokio::sync::Mutex;

use crate::client::{ClientError, PayeeClient};
use crate::preimages::{PreimageError, PreimageFile};

/// Why a wake-up failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AgentError {
    /// Talking to the gateway failed.
    #[error(transparent)]
    Client(#[from] ClientError),
    /// The preimage file failed.
    #[error(transparent)]
    Preimages(#[from] PreimageError),
    /// The payee's node failed.
    #[error("the payee's node: {0}")]
    Node(#[from] lnedge_node::BackendError),
}

/// What one wake-up did.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct WakeReport {
    /// Held payments claimed now.
    pub claimed: u32,
    /// Payments already being forwarded (claimed earlier).
    pub in_flight: u32,
    /// Held payments for hashes whose preimage this agent does not hold (skipped).
    pub unknown: u32,
    /// Claims the gateway refused (e.g. too close to the deadline), with the reason.
    pub refused: Vec<String>,
}

/// The payee agent: a client, the preimage file, and the payee's own node.
pub struct PayeeAgent {
    client: PayeeClient,
    preimages: Mutex<PreimageFile>,
    node: Arc<dyn LightningBackend>,
    invoice_expiry_secs: u32,
}

impl std::fmt::Debug for PayeeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayeeAgent")
            .field("client", &self.client)
            .field("node", &self.node.backend_name())
            .finish_non_exhaustive()
    }
}

impl PayeeAgent {
    /// An agent.
    pub fn new(
        client: PayeeClient,
        preimages: PreimageFile,
        node: Arc<dyn LightningBackend>,
    ) -> Self {
        PayeeAgent { client, preimages: Mutex::new(preimages), node, invoice_expiry_secs: 3600 }
    }

    /// The client.
    pub fn client(&self) -> &PayeeClient {
        &self.client
    }

    /// Makes `n` fresh preimages (stored first) and commits their hashes; returns how many
    /// committed hashes are unused now.
    pub async fn commit(&self, n: usize) -> Result<u64, AgentError> {
        let hashes = self.preimages.lock().await.generate(n)?;
        Ok(self.client.commit_hashes(&hashes).await?.unused)
    }

    /// Fetches what is waiting and claims every held payment whose preimage it holds: an
    /// invoice on its own node for the same hash and the claim amount, handed to the gateway.
    /// Safe to call again at any time (the node returns the same invoice for a hash, the gateway
    /// accepts a repeated claim).
    pub async fn wake_once(&self) -> Result<WakeReport, AgentError> {
        let pending = self.client.pending().await?;
        let mut report = WakeReport::default();
        for payment in pending.payments {
            if payment.state != "held" {
                report.in_flight = report.in_flight.saturating_add(1);
                continue;
            }
            let hash =
                hex::decode(&payment.payment_hash).ok().and_then(|b| <[u8; 32]>::try_from(b).ok());
            let preimage = match hash {
                Some(h) => self.preimages.lock().await.preimage(&h),
                None => None,
            };
            let Some(preimage) = preimage else {
                report.unknown = report.unknown.saturating_add(1);
                continue;
            };
            let params = InvoiceParams {
                amount_msat: Some(payment.claim_amount_msat),
                description: InvoiceDescription::Direct(payment.description.clone()),
                expiry_secs: self.invoice_expiry_secs,
                min_final_cltv_expiry_delta: None,
            };
            let invoice = self.node.create_invoice(PaymentPreimage(preimage), params).await?;
            match self.client.claim(&invoice.to_string()).await {
                Ok(_) => report.claimed = report.claimed.saturating_add(1),
                Err(ClientError::Refused { body, .. }) => report.refused.push(body),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }
}
