//! Typed errors of the [`LightningBackend`](crate::LightningBackend) contract.
//!
//! Every error says whether retrying can help ([`ErrorKind::Transient`]) or not
//! ([`ErrorKind::Permanent`]), and names what was wrong and with which input.

use lightning_types::payment::PaymentHash;

/// Whether an operation that failed may succeed if retried unchanged.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ErrorKind {
    /// The node was busy, offline or unreachable; the same call may succeed later.
    Transient,
    /// The request itself cannot succeed (bad input, wrong state, unsupported); do not retry.
    Permanent,
}

/// Why an outgoing payment did not complete.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PayFailure {
    /// The invoice's expiry time has passed; paying it would be refused by the payee.
    #[error("the invoice expired at unix time {expired_at_secs}")]
    InvoiceExpired {
        /// When the invoice expired (seconds since the Unix epoch).
        expired_at_secs: u64,
    },
    /// No route to the payee was found with enough liquidity within the fee limit.
    #[error("no route to the payee was found{}", detail_suffix(.0))]
    NoRoute(String),
    /// The payee (or a node on the way) rejected the payment, e.g. unknown hash or wrong amount.
    #[error("the payee rejected the payment")]
    RecipientRejected,
    /// Every attempt failed and the retry budget is spent.
    #[error("every route tried failed and retries are exhausted")]
    RetriesExhausted,
    /// The payment did not complete in the time allowed.
    #[error("the payment timed out after {timeout_secs} s")]
    Timeout {
        /// The time allowed, in seconds.
        timeout_secs: u64,
    },
    /// The node cannot pay the invoice's network (e.g. a mainnet invoice on a regtest node).
    #[error("the invoice is for network {invoice_network} but this node runs on {node_network}")]
    WrongNetwork {
        /// The invoice's network.
        invoice_network: String,
        /// The node's network.
        node_network: String,
    },
    /// Any other reason reported by the node.
    #[error("the payment failed: {0}")]
    Other(String),
}

impl PayFailure {
    /// Decodes a failure code as stored in [`BackendEvent::PaymentFailed`](crate::BackendEvent)
    /// by the backends (`recipient_rejected`, `retries_exhausted`, `payment_expired`,
    /// `route_not_found`, or free text).
    pub fn from_code(code: &str) -> PayFailure {
        match code {
            "recipient_rejected" => PayFailure::RecipientRejected,
            "retries_exhausted" => PayFailure::RetriesExhausted,
            "payment_expired" => PayFailure::InvoiceExpired { expired_at_secs: 0 },
            "route_not_found" => PayFailure::NoRoute(String::new()),
            other => PayFailure::Other(other.to_owned()),
        }
    }
}

fn detail_suffix(detail: &str) -> String {
    if detail.is_empty() {
        String::new()
    } else {
        format!(": {detail}")
    }
}

/// An error returned by a [`LightningBackend`](crate::LightningBackend) operation.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum BackendError {
    /// The caller passed an invalid argument; `what` names it.
    #[error("invalid {what}: {detail}")]
    InvalidInput {
        /// Which argument was invalid (e.g. `"invoice"`, `"amount_msat"`).
        what: &'static str,
        /// What was wrong with it.
        detail: String,
    },
    /// No invoice with this payment hash was created through this backend.
    #[error("no invoice with payment hash {0} is known to this node")]
    UnknownPaymentHash(PaymentHash),
    /// An invoice for this payment hash already exists with different parameters.
    #[error("an invoice for payment hash {0} already exists with other parameters")]
    DuplicatePaymentHash(PaymentHash),
    /// The hold invoice is not in a state that allows the operation.
    #[error("hold invoice {payment_hash} is {state}, so it cannot be {operation}")]
    WrongInvoiceState {
        /// The invoice.
        payment_hash: PaymentHash,
        /// Its current state (e.g. `"open"`, `"settled"`, `"cancelled"`).
        state: &'static str,
        /// What the caller tried (e.g. `"settled"`, `"cancelled"`).
        operation: &'static str,
    },
    /// An outgoing payment failed.
    #[error(transparent)]
    Payment(#[from] PayFailure),
    /// This implementation does not support the operation.
    #[error("{operation} is not supported by the {backend} backend")]
    Unsupported {
        /// The operation's name.
        operation: &'static str,
        /// The backend's name.
        backend: &'static str,
    },
    /// The node is not running, not reachable, or not ready (e.g. still syncing).
    #[error("the node is unavailable: {0}")]
    Unavailable(String),
    /// The backend's durable state could not be read or written.
    #[error("backend storage failed: {0}")]
    Storage(String),
    /// The node reported an error not covered above.
    #[error("the node reported an error: {0}")]
    Node(String),
}

impl BackendError {
    /// Whether retrying the same call may succeed.
    pub fn kind(&self) -> ErrorKind {
        match self {
            BackendError::Unavailable(_) | BackendError::Storage(_) => ErrorKind::Transient,
            BackendError::Payment(PayFailure::Timeout { .. } | PayFailure::RetriesExhausted) => {
                ErrorKind::Transient
            }
            BackendError::Payment(PayFailure::NoRoute(_)) => ErrorKind::Transient,
            BackendError::InvalidInput { .. }
            | BackendError::UnknownPaymentHash(_)
            | BackendError::DuplicatePaymentHash(_)
            | BackendError::WrongInvoiceState { .. }
            | BackendError::Payment(_)
            | BackendError::Unsupported { .. }
            | BackendError::Node(_) => ErrorKind::Permanent,
        }
    }

    /// Shorthand for [`BackendError::InvalidInput`].
    pub fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        BackendError::InvalidInput { what, detail: detail.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_follow_the_contract() {
        assert_eq!(BackendError::Unavailable("x".into()).kind(), ErrorKind::Transient);
        assert_eq!(BackendError::invalid("amount_msat", "zero").kind(), ErrorKind::Permanent);
        assert_eq!(
            BackendError::Payment(PayFailure::RecipientRejected).kind(),
            ErrorKind::Permanent
        );
        assert_eq!(
            BackendError::Payment(PayFailure::Timeout { timeout_secs: 3 }).kind(),
            ErrorKind::Transient
        );
    }

    #[test]
    fn messages_name_the_problem() {
        let e = BackendError::invalid("invoice", "bad bech32 checksum");
        assert_eq!(e.to_string(), "invalid invoice: bad bech32 checksum");
        let e = BackendError::Unsupported { operation: "create_hold_invoice", backend: "cln" };
        assert_eq!(e.to_string(), "create_hold_invoice is not supported by the cln backend");
        assert_eq!(
            PayFailure::NoRoute(String::new()).to_string(),
            "no route to the payee was found"
        );
    }
}
