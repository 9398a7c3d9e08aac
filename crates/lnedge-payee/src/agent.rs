//! [`PayeeAgent`]: wake, fetch what is waiting, complete it.

use std::sync::Arc;

use async_trait::async_trait;
use lnedge_node::{
    BackendError, InvoiceDescription, InvoiceParams, LightningBackend, PaymentPreimage,
};
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

/// What the agent needs of the payee's own node: an invoice for a preimage the payee holds.
/// Any [`LightningBackend`] is one ([`PayeeAgent::new`]); `lnedge payee claim` uses the
/// sandbox wallet of a gateway in sandbox mode.
#[async_trait]
pub trait PayeeNode: Send + Sync {
    /// What the node is, for logs (`sandbox`, `ldk-node`, `sandbox wallet at …`).
    fn name(&self) -> String;

    /// A BOLT 11 invoice for `preimage` (its hash is the payment hash), `amount_msat`,
    /// `description`, payable for `expiry_secs`. The same preimage again gives an invoice for
    /// the same hash (never a second payment).
    async fn invoice(
        &self,
        preimage: [u8; 32],
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
    ) -> Result<String, BackendError>;
}

/// A [`LightningBackend`] as the payee's node.
struct BackendNode(Arc<dyn LightningBackend>);

#[async_trait]
impl PayeeNode for BackendNode {
    fn name(&self) -> String {
        self.0.backend_name().to_owned()
    }

    async fn invoice(
        &self,
        preimage: [u8; 32],
        amount_msat: u64,
        description: &str,
        expiry_secs: u32,
    ) -> Result<String, BackendError> {
        let params = InvoiceParams {
            amount_msat: Some(amount_msat),
            description: InvoiceDescription::Direct(description.to_owned()),
            expiry_secs,
            min_final_cltv_expiry_delta: None,
        };
        Ok(self.0.create_invoice(PaymentPreimage(preimage), params).await?.to_string())
    }
}

/// The payee agent: a client, the preimage file, and the payee's own node.
pub struct PayeeAgent {
    client: PayeeClient,
    preimages: Mutex<PreimageFile>,
    node: Arc<dyn PayeeNode>,
    invoice_expiry_secs: u32,
}

impl std::fmt::Debug for PayeeAgent {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayeeAgent")
            .field("client", &self.client)
            .field("node", &self.node.name())
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
        Self::with_node(client, preimages, Arc::new(BackendNode(node)))
    }

    /// An agent whose node is any [`PayeeNode`].
    pub fn with_node(
        client: PayeeClient,
        preimages: PreimageFile,
        node: Arc<dyn PayeeNode>,
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
            let invoice = self
                .node
                .invoice(
                    preimage,
                    payment.claim_amount_msat,
                    &payment.description,
                    self.invoice_expiry_secs,
                )
                .await?;
            match self.client.claim(&invoice).await {
                Ok(_) => report.claimed = report.claimed.saturating_add(1),
                Err(ClientError::Refused { body, .. }) => report.refused.push(body),
                Err(e) => return Err(e.into()),
            }
        }
        Ok(report)
    }
}
