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

// Stable codes prefixed to the `reason` of stored payment failures, so that the typed failure
// can be recovered from the durable store (e.g. by a `pay` call waiting for an earlier one).
const RECIPIENT_REJECTED: &str = "recipient_rejected";
const RETRIES_EXHAUSTED: &str = "retries_exhausted";
const NO_ROUTE: &str = "no_route";
const INVOICE_EXPIRED: &str = "invoice_expired";
const OTHER: &str = "other";

/// The typed failure for an ldk-node payment failure reason.
pub(crate) fn pay_failure(reason: Option<PaymentFailureReason>) -> PayFailure {
    match reason {
        Some(PaymentFailureReason::RecipientRejected) => PayFailure::RecipientRejected,
        Some(PaymentFailureReason::RetriesExhausted) => PayFailure::RetriesExhausted,
        Some(PaymentFailureReason::RouteNotFound) => PayFailure::NoRoute(String::new()),
        // The expiry time is filled in by `pay`, which has the invoice.
        Some(PaymentFailureReason::PaymentExpired) => {
            PayFailure::InvoiceExpired { expired_at_secs: 0 }
        }
        Some(other) => PayFailure::Other(format!("{other:?}")),
        None => PayFailure::Other("no reason reported".into()),
    }
}

/// Encodes a failure as the `reason` stored with the payment and put in its event.
pub(crate) fn encode_reason(failure: &PayFailure) -> String {
    let code = match failure {
        PayFailure::RecipientRejected => RECIPIENT_REJECTED,
        PayFailure::RetriesExhausted => RETRIES_EXHAUSTED,
        PayFailure::NoRoute(_) => NO_ROUTE,
        PayFailure::InvoiceExpired { .. } => INVOICE_EXPIRED,
        _ => OTHER,
    };
    format!("{code}: {failure}")
}

/// Recovers the typed failure from a stored `reason`; `expired_at_secs` comes from the invoice.
pub(crate) fn decode_reason(reason: &str, expired_at_secs: u64) -> PayFailure {
    let (code, text) = reason.split_once(": ").unwrap_or((OTHER, reason));
    match code {
        RECIPIENT_REJECTED => PayFailure::RecipientRejected,
        RETRIES_EXHAUSTED => PayFailure::RetriesExhausted,
        NO_ROUTE => PayFailure::NoRoute(
            text.strip_prefix("no route to the payee was found")
                .map(|rest| rest.trim_start_matches(": ").to_owned())
                .unwrap_or_else(|| text.to_owned()),
        ),
        INVOICE_EXPIRED => PayFailure::InvoiceExpired { expired_at_secs },
        _ => {
            PayFailure::Other(text.strip_prefix("the payment failed: ").unwrap_or(text).to_owned())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::error::ErrorKind;

    #[test]
    fn reasons_round_trip_through_the_store_encoding() {
        for failure in [
            PayFailure::RecipientRejected,
            PayFailure::RetriesExhausted,
            PayFailure::NoRoute(String::new()),
            PayFailure::NoRoute("no channel".into()),
            PayFailure::InvoiceExpired { expired_at_secs: 77 },
            PayFailure::Other("UnexpectedError".into()),
        ] {
            let encoded = encode_reason(&failure);
            let decoded = decode_reason(&encoded, 77);
            assert_eq!(decoded, failure, "{encoded}");
        }
        assert_eq!(decode_reason("garbage", 0), PayFailure::Other("garbage".into()));
    }

    #[test]
    fn ldk_reasons_map_to_typed_failures() {
        assert_eq!(
            pay_failure(Some(PaymentFailureReason::RecipientRejected)),
            PayFailure::RecipientRejected
        );
        assert_eq!(
            pay_failure(Some(PaymentFailureReason::RouteNotFound)),
            PayFailure::NoRoute(String::new())
        );
        assert!(matches!(pay_failure(None), PayFailure::Other(_)));
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
