//! Tokens over the Lightning connection (sandbox backend): the merchant's node sends
//! `initiate_payment` (peer message 45001: token ‖ invoice) to the gateway's node; the gateway
//! pays it as `POST /v1/pay/token` would, or answers `reject_payment` (45003: SHA-256(token) ‖
//! invoice ‖ reason code). Wire format: `lnedge_proto::payer::peer`. ldk-node exposes no custom
//! message handler, so on that backend the HTTP route is the transport
//! (`docs/protocols/peer-messages.md`).

use std::sync::Arc;

use lnedge_node::sandbox::{PeerMessage, SandboxNode};
use lnedge_proto::payer::peer::{
    token_hash, InitiatePayment, RejectPayment, INITIATE_PAYMENT_TYPE, REJECT_PAYMENT_TYPE,
};
use sha2::{Digest, Sha256};
use tokio::sync::broadcast::error::RecvError;
use tokio::sync::watch;

use crate::engine::Gateway;

/// Serves `initiate_payment` messages arriving at `node` until `stop` turns true (or the node
/// stops). Each message is handled in its own task.
pub async fn serve(gateway: Gateway, node: Arc<SandboxNode>, mut stop: watch::Receiver<bool>) {
    let mut inbox = node.subscribe_peer_messages();
    loop {
        tokio::select! {
            _ = stop.changed() => return,
            received = inbox.recv() => match received {
                Ok(message) if message.type_id == INITIATE_PAYMENT_TYPE => {
                    let (gateway, node) = (gateway.clone(), node.clone());
                    tokio::spawn(async move { handle(&gateway, &node, message).await });
                }
                Ok(_) => {}
                Err(RecvError::Lagged(missed)) => {
                    tracing::warn!(missed, "peer messages: fell behind; the oldest were dropped");
                }
                Err(RecvError::Closed) => return,
            },
        }
    }
}

/// Pays one `initiate_payment`, or answers `reject_payment` to its sender.
async fn handle(gateway: &Gateway, node: &SandboxNode, message: PeerMessage) {
    let (hash, invoice, refusal) = match InitiatePayment::parse(&message.payload) {
        Err(e) => {
            // Name what was sent as best as can be done: the hash of its token-sized head.
            let head =
                message.payload.get(..lnedge_proto::payer::TOKEN_LEN).unwrap_or(&message.payload);
            (Sha256::digest(head).into(), String::new(), format!("invalid_field: {e}"))
        }
        Ok(initiate) => {
            let hash = token_hash(&initiate.token);
            match gateway.payers().pay_token(&initiate.token, initiate.invoice).await {
                Ok(paid) => {
                    tracing::info!(peer = %message.peer, amount_msat = paid.amount_msat, "paid a token sent by peer message");
                    return;
                }
                Err(e) => {
                    if e.is_internal() {
                        tracing::error!(error = %e, "peer token payment: the gateway failed");
                    }
                    (hash, initiate.invoice.to_owned(), e.code().to_owned())
                }
            }
        }
    };
    let code = refusal.split(':').next().unwrap_or_default();
    let reject = RejectPayment { token_hash: hash, invoice: &invoice, reason: code };
    let mut payload = vec![0u8; reject.encoded_len()];
    match reject.encode_into(&mut payload) {
        Ok(n) => payload.truncate(n),
        Err(e) => {
            tracing::warn!(error = %e, "reject_payment does not fit a message; not sent");
            return;
        }
    }
    if let Err(e) = node.send_peer_message(message.peer, REJECT_PAYMENT_TYPE, payload) {
        tracing::warn!(peer = %message.peer, error = %e, "reject_payment could not be sent");
    }
}
