//! Opening a co-signed channel in the sandbox.

use std::sync::Arc;

use bitcoin::{OutPoint, ScriptBuf, Transaction};
use lightning::ln::types::ChannelId;
use lnedge_cosign::gateway::GatewayCosigner;

use super::keys::Cosigned;
use crate::error::BackendError;
use crate::sandbox::node::user_config;
use crate::sandbox::{SandboxNetwork, SandboxNode};

impl SandboxNetwork {
    /// Opens a private channel of `capacity_sat` from `from` (the gateway's node) to `to` (the
    /// bridge) whose funding key is the joint key of `cosigner`'s device: the device's keys are
    /// asked first, the device funds the channel from its own coins (give it some with
    /// [`SandboxNetwork::deposit`]), and every signature by the funding key needs the device
    /// from then on. The whole capacity is the device's opening balance. Waits until the channel
    /// is usable.
    pub async fn open_cosigned_channel(
        &self,
        from: &SandboxNode,
        to: &SandboxNode,
        capacity_sat: u64,
        cosigner: Arc<GatewayCosigner>,
    ) -> Result<ChannelId, BackendError> {
        let asking = cosigner.clone();
        let device_keys = tokio::task::spawn_blocking(move || asking.channel_keys())
            .await
            .map_err(|e| BackendError::Node(format!("asking the device's keys panicked: {e}")))?
            .map_err(|e| BackendError::Node(format!("the device's keys: {e}")))?;
        let user_channel_id: u128 = rand::random();
        from.disk.cosign.register(user_channel_id, cosigner, device_keys, capacity_sat);
        let mut config = user_config();
        // Private: an announcement needs a synchronous funding-key signature.
        config.channel_handshake_config.announce_for_forwarding = false;
        from.connect(to.node_id(), to.listen_addr()).await?;
        from.channel_manager
            .create_channel(to.node_id(), capacity_sat, 0, user_channel_id, None, Some(config))
            .map_err(|e| {
                BackendError::Node(format!("opening a co-signed channel failed: {e:?}"))
            })?;
        self.wait("the funding transaction", || self.chain().mempool_len() > 0).await?;
        self.mine(6).await;
        self.wait("the co-signed channel to become usable", || {
            from.channels().iter().any(|c| c.is_usable && c.user_channel_id == user_channel_id)
        })
        .await?;
        from.channels()
            .into_iter()
            .find(|c| c.user_channel_id == user_channel_id)
            .map(|c| c.channel_id)
            .ok_or_else(|| BackendError::Node("the co-signed channel vanished".into()))
    }
}

/// Has the device of a co-signed channel fund it: the channel's funding script (which LDK knows
/// once the bridge accepted) goes to the device, which checks it holds its joint key and signs a
/// transaction from its own coins.
pub(crate) fn device_funding(
    node: &SandboxNode,
    cosigned: &Cosigned,
    temporary_channel_id: ChannelId,
    value_sat: u64,
    output_script: &ScriptBuf,
) -> Result<Transaction, BackendError> {
    let redeem_script = node
        .channels()
        .into_iter()
        .find(|c| c.channel_id == temporary_channel_id)
        .and_then(|c| c.funding_redeem_script)
        .ok_or_else(|| {
            BackendError::Node("the channel's funding script is not known yet".into())
        })?;
    if redeem_script.to_p2wsh() != *output_script {
        return Err(BackendError::Node("LDK's funding script and output disagree".into()));
    }
    let tx = cosigned
        .cosigner
        .fund(value_sat, redeem_script)
        .map_err(|e| BackendError::Node(e.to_string()))?;
    if tx.output.first().map(|o| &o.script_pubkey) != Some(output_script) {
        return Err(BackendError::Node(
            "the device's transaction does not fund the channel".into(),
        ));
    }
    Ok(tx)
}

impl SandboxNetwork {
    /// Pays `value_sat` on chain to `script` (as if from an exchange: an input from nowhere),
    /// mines it and returns the output: a device's coins for its channel.
    pub async fn deposit(&self, script: ScriptBuf, value_sat: u64) -> OutPoint {
        let tx = crate::sandbox::driver::funding_transaction(value_sat, script);
        let outpoint = OutPoint { txid: tx.compute_txid(), vout: 0 };
        lightning::chain::chaininterface::BroadcasterInterface::broadcast_transactions(
            &**self.chain(),
            &[&tx],
        );
        self.mine(1).await;
        outpoint
    }
}

impl SandboxNode {
    /// Starts a cooperative close of `channel_id` with `peer` (for a co-signed channel the
    /// closing transaction needs the device).
    pub fn close_channel(
        &self,
        channel_id: &ChannelId,
        peer: &bitcoin::secp256k1::PublicKey,
    ) -> Result<(), BackendError> {
        self.channel_manager
            .close_channel(channel_id, peer)
            .map_err(|e| BackendError::Node(format!("closing the channel failed: {e:?}")))
    }

    /// Force-closes `channel_id` with `peer`: broadcasts the node's latest commitment, which for
    /// a co-signed channel only the device can complete.
    pub fn force_close(
        &self,
        channel_id: &ChannelId,
        peer: &bitcoin::secp256k1::PublicKey,
    ) -> Result<(), BackendError> {
        self.channel_manager
            .force_close_broadcasting_latest_txn(channel_id, peer, "force close".into())
            .map_err(|e| BackendError::Node(format!("force-closing the channel failed: {e:?}")))
    }

    /// Tells LDK that signatures it was refused may be asked again (a device came back).
    pub fn retry_signatures(&self) {
        self.channel_manager.signer_unblocked(None);
        self.chain_monitor.signer_unblocked(None);
    }
}
