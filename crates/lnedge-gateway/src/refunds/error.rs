//! What the refund and proof rules answer when they refuse.

use lnedge_node::BackendError;

use super::proof::ProofFailure;
use crate::store::StoreError;

/// Why a refund or proof operation did not succeed. Each variant carries a stable code
/// ([`RefundError::code`]) and a message naming the problem; the HTTP layer picks the status.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum RefundError {
    /// A part of the request is malformed (`field` names it).
    #[error("{field}: {message}")]
    Invalid {
        /// The request field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// A bad proof or voucher: what a bystander or a routing node would present. Counts against
    /// the client's failure budget.
    #[error(transparent)]
    Proof(#[from] ProofFailure),
    /// The refund is not in a state that allows this (not paid yet, dispensed, already claimed
    /// or paid, expired, a wrong invoice for the withdraw…).
    #[error("{message}")]
    Refused {
        /// Stable machine-readable code (`not_paid`, `refund_paid`, `refund_expired`…).
        code: &'static str,
        /// What is wrong.
        message: String,
    },
    /// The owner's node did not answer.
    #[error("the owner's node did not answer: {0}")]
    Node(BackendError),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The gateway's own records are inconsistent (a bug or a damaged database).
    #[error("{0}")]
    Internal(String),
}

impl RefundError {
    pub(crate) fn refused(code: &'static str, message: impl Into<String>) -> Self {
        RefundError::Refused { code, message: message.into() }
    }

    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        RefundError::Invalid { field, message: message.into() }
    }

    pub(crate) fn proof(code: &'static str, message: impl Into<String>) -> Self {
        RefundError::Proof(ProofFailure { code, message: message.into() })
    }

    /// The stable code of this error.
    pub fn code(&self) -> &'static str {
        match self {
            RefundError::Invalid { .. } => "invalid_field",
            RefundError::Proof(f) => f.code,
            RefundError::Refused { code, .. } => code,
            RefundError::Node(_) => "lightning_node_failed",
            RefundError::Store(_) | RefundError::Internal(_) => "internal",
        }
    }
}
