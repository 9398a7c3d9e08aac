//! Mapping ldk-node's errors and payment failure reasons onto the backend contract's types.

use ldk_node::lightning::events::PaymentFailureReason;
use ldk_node::{BuildError, NodeError};

use crate::error::{BackendError, PayFailure};

/// Maps an ldk-node error from `operation` to a [`BackendError`] with the right kind.
pub(crate) fn node_error(operation: &'static str, e: NodeError) -> BackendError {
    let detail = format!("ldk-node {operation} failed: {}", lower(&e.to_string()));
    match e {
        NodeError::NotRunning
        | NodeError::AlreadyRunning
        | NodeError::ConnectionFailed
        | NodeError::TxSyncFailed
        | NodeError::TxSyncTimeout
        | NodeError::WalletOperationTimeout
        | NodeError::FeerateEstimationUpdateFailed
        | NodeError::FeerateEstimationUpdateTimeout
        | NodeError::GossipUpdateFailed
        | NodeError::GossipUpdateTimeout
        | NodeError::LiquiditySourceUnavailable => BackendError::Unavailable(detail),
        NodeError::PersistenceFailed => BackendError::Storage(detail),
        NodeError::InvalidAmount => BackendError::invalid("amount_msat", detail),
        NodeError::InvalidInvoice => BackendError::invalid("invoice", detail),
        NodeError::InvalidPaymentHash => BackendError::invalid("payment_hash", detail),
        NodeError::InvalidPaymentPreimage => BackendError::invalid("preimage", detail),
        NodeError::InvalidNetwork => BackendError::invalid("network", detail),
        NodeError::InvalidNodeId | NodeError::InvalidPublicKey => {
            BackendError::invalid("node_id", detail)
        }
        NodeError::InvalidSocketAddress => BackendError::invalid("address", detail),
        // `send` returns this when LDK refused to start the payment: in practice no route was
        // found (the invoice's expiry was checked before sending).
        NodeError::PaymentSendingFailed => BackendError::Payment(PayFailure::NoRoute(detail)),
        _ => BackendError::Node(detail),
    }
}

/// Maps a failure to build the node.
pub(crate) fn build_error(e: BuildError) -> BackendError {
    let detail = format!("building the ldk-node failed: {}", lower(&e.to_string()));
    match e {
        BuildError::InvalidListeningAddresses | BuildError::InvalidAnnouncementAddresses => {
            BackendError::invalid("listen_addr", detail)
        }
        BuildError::InvalidNodeAlias => BackendError::invalid("alias", detail),
        BuildError::NetworkMismatch => BackendError::invalid("network", detail),
        BuildError::StoragePathAccessFailed
        | BuildError::ReadFailed
        | BuildError::WriteFailed
        | BuildError::KVStoreSetupFailed => BackendError::Storage(detail),
        _ => BackendError::Node(detail),
    }
}

/// ldk-node's messages start upper-case and end with a period; ours are lower-case clauses.
fn lower(message: &str) -> String {
    let message = message.trim_end_matches('.');
    let mut chars = message.chars();
    match chars.next() {
        Some(first) => first.to_lowercase().chain(chars).collect(),
        None => String::new(),
    }
}

// Stable codes stored as the `reason` of node-reported payment failures (the same codes the
// sandbox backend stores), so that the typed failure can be recovered from the durable store,
// e.g. by a `pay` call waiting for an earlier one.
const RECIPIENT_REJECTED: &str = "recipient_rejected";
const RETRIES_EXHAUSTED: &str = "retries_exhausted";
const PAYMENT_EXPIRED: &str = "payment_expired";
const ROUTE_NOT_FOUND: &str = "route_not_found";

/// The stored code for an ldk-node payment failure reason.
pub(crate) fn failure_code(reason: Option<PaymentFailureReason>) -> &'static str {
    match reason {
        Some(PaymentFailureReason::RecipientRejected) => RECIPIENT_REJECTED,
        Some(PaymentFailureReason::RetriesExhausted) => RETRIES_EXHAUSTED,
        Some(PaymentFailureReason::PaymentExpired) => PAYMENT_EXPIRED,
        Some(PaymentFailureReason::RouteNotFound) => ROUTE_NOT_FOUND,
        Some(PaymentFailureReason::UserAbandoned) => "abandoned",
        _ => "unexpected_error",
    }
}

/// The stored `reason` for a failure detected before anything was sent.
pub(crate) fn send_failure_reason(failure: &PayFailure) -> String {
    match failure {
        PayFailure::NoRoute(_) => ROUTE_NOT_FOUND.to_owned(),
        other => other.to_string(),
    }
}

/// Recovers the typed failure from a stored `reason`; `expired_at_secs` comes from the invoice.
pub(crate) fn decode_reason(reason: &str, expired_at_secs: u64) -> PayFailure {
    match reason {
        RECIPIENT_REJECTED => PayFailure::RecipientRejected,
        RETRIES_EXHAUSTED => PayFailure::RetriesExhausted,
        PAYMENT_EXPIRED => PayFailure::InvoiceExpired { expired_at_secs },
        ROUTE_NOT_FOUND => PayFailure::NoRoute(String::new()),
        other => PayFailure::Other(other.to_owned()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn ldk_reasons_round_trip_through_the_stored_code() {
        let cases = [
            (PaymentFailureReason::RecipientRejected, PayFailure::RecipientRejected),
            (PaymentFailureReason::RetriesExhausted, PayFailure::RetriesExhausted),
            (PaymentFailureReason::RouteNotFound, PayFailure::NoRoute(String::new())),
            (
                PaymentFailureReason::PaymentExpired,
                PayFailure::InvoiceExpired { expired_at_secs: 7 },
            ),
            (PaymentFailureReason::UserAbandoned, PayFailure::Other("abandoned".into())),
            (PaymentFailureReason::UnexpectedError, PayFailure::Other("unexpected_error".into())),
        ];
        for (reason, failure) in cases {
            assert_eq!(decode_reason(failure_code(Some(reason)), 7), failure, "{reason:?}");
        }
        assert_eq!(
            decode_reason(failure_code(None), 0),
            PayFailure::Other("unexpected_error".into())
        );
    }

    #[test]
    fn send_failures_keep_their_type_when_they_can() {
        let no_route = PayFailure::NoRoute("ldk-node send failed".into());
        assert_eq!(
            decode_reason(&send_failure_reason(&no_route), 0),
            PayFailure::NoRoute(String::new())
        );
        let other = PayFailure::Other("the node is unavailable".into());
        let decoded = decode_reason(&send_failure_reason(&other), 0);
        assert_eq!(
            decoded,
            PayFailure::Other("the payment failed: the node is unavailable".into())
        );
    }

    #[test]
    fn node_errors_have_the_right_kind() {
        let e = node_error("send", NodeError::NotRunning);
        assert_eq!(e.kind(), ErrorKind::Transient);
        assert_eq!(
            e.to_string(),
            "the node is unavailable: ldk-node send failed: node is not running"
        );
        let e = node_error("receive", NodeError::InvalidAmount);
        assert!(matches!(e, BackendError::InvalidInput { what: "amount_msat", .. }));
        assert_eq!(e.kind(), ErrorKind::Permanent);
        assert_eq!(node_error("x", NodeError::InvoiceCreationFailed).kind(), ErrorKind::Permanent);
    }
}
