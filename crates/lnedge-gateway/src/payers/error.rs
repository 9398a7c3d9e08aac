//! What the payer rules answer when they refuse.

use lnedge_node::BackendError;

use crate::store::StoreError;

/// Why a card, token or payer operation did not succeed. Each refusal carries a stable code
/// ([`PayerError::code`]) and a message naming the problem; the HTTP layer picks the status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PayerError {
    /// A part of the request is malformed (`field` names it).
    #[error("{field}: {message}")]
    Invalid {
        /// The request field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// No payer (card, device, programming code, tap) answers to what was given.
    #[error("{message}")]
    NotFound {
        /// Stable code (`unknown_card`, `unknown_device`, `unknown_k1`…).
        code: &'static str,
        /// What was not found.
        message: String,
    },
    /// The request is well formed and refused by a rule (a replayed counter, a disabled card,
    /// a limit, a wrong PIN, a token for another invoice…).
    #[error("{message}")]
    Refused {
        /// Stable machine-readable code (`replayed_counter`, `over_daily_limit`…).
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The node was asked to pay and did not (definitely: nothing was paid, the reservation
    /// was released).
    #[error("the payment failed: {0}")]
    PaymentFailed(String),
    /// The node was asked to pay and its outcome is not known yet (the payment stays pending
    /// and reserved; it is not paid twice).
    #[error("the payment was sent; its outcome is not known yet")]
    PaymentPending,
    /// The owner's node did not answer.
    #[error("the owner's node did not answer: {0}")]
    Node(BackendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl PayerError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        PayerError::Invalid { field, message: message.into() }
    }

    pub(crate) fn refused(code: &'static str, message: impl Into<String>) -> Self {
        PayerError::Refused { code, message: message.into() }
    }

    pub(crate) fn not_found(code: &'static str, message: impl Into<String>) -> Self {
        PayerError::NotFound { code, message: message.into() }
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            PayerError::Invalid { .. } => "invalid_field",
            PayerError::NotFound { code, .. } | PayerError::Refused { code, .. } => code,
            PayerError::PaymentFailed(_) => "payment_failed",
            PayerError::PaymentPending => "payment_pending",
            PayerError::Node(_) => "lightning_node_failed",
            PayerError::Store(StoreError::HashTaken) => "invoice_already_paid",
            PayerError::Store(StoreError::UidTaken) => "uid_taken",
            PayerError::Store(_) => "internal",
        }
    }

    /// Whether the gateway failed (not the caller): logged, answered without detail.
    pub fn is_internal(&self) -> bool {
        matches!(self, PayerError::Node(_))
            || matches!(self, PayerError::Store(e) if !matches!(e, StoreError::HashTaken | StoreError::UidTaken | StoreError::Conflict))
    }
}
