//! The conformance suite on the sandbox network, plus sandbox-specific behaviour.

use std::sync::Arc;

use async_trait::async_trait;
use lnedge_node::sandbox::{SandboxNetwork, SandboxNode};
use lnedge_node::LightningBackend;

use crate::conformance::{self, Harness};

/// `payer` ⇄ `merchant` with one announced channel, liquidity on both sides.
struct SandboxHarness {
    net: SandboxNetwork,
    backend: Arc<SandboxNode>,
    payer: Arc<SandboxNode>,
}

impl SandboxHarness {
    async fn new() -> Self {
        let net = SandboxNetwork::new().await.expect("network");
        let [payer, backend] = net.line(["payer", "merchant"], 2_000_000).await.expect("line");
        SandboxHarness { net, backend, payer }
    }
}

#[async_trait]
impl Harness for SandboxHarness {
    fn backend(&self) -> Arc<dyn LightningBackend> {
        self.backend.clone()
    }
    fn payer(&self) -> Arc<dyn LightningBackend> {
        self.payer.clone()
    }
    async fn mine_blocks(&self, n: u32) {
        self.net.mine(n).await;
    }
    async fn restart_backend(&mut self) {
        self.backend = self.net.restart("merchant").await.expect("restart");
    }
}

macro_rules! conformance_tests {
    ($($name:ident),* $(,)?) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
        async fn $name() {
            let mut h = SandboxHarness::new().await;
            conformance::$name(&mut h).await;
            h.net.shutdown().await;
        }
    )*};
}

conformance_tests!(
    chosen_preimage_invoice_is_paid,
    invoice_creation_is_idempotent,
    hold_then_settle,
    hold_then_cancel,
    hold_deadline_is_respected,
    pay_failures_are_typed,
    expired_invoice_is_refused,
    events_survive_restart,
    held_htlc_survives_restart,
);
