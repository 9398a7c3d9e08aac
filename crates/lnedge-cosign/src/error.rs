//! The typed errors of key generation, signing and message decoding.

use thiserror::Error;

/// Why a co-signing step failed.
#[derive(Debug, Error, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum CosignError {
    /// A message from the other party could not be decoded (`what` names the message).
    #[error("malformed {what}: {detail}")]
    Malformed {
        /// The message that did not decode.
        what: &'static str,
        /// The decoder's complaint.
        detail: String,
    },
    /// The other party's message does not belong to this step or this session.
    #[error("unexpected message: {0}")]
    Unexpected(&'static str),
    /// The threshold protocol aborted; it may be run again with fresh randomness.
    #[error("co-signing protocol aborted (may be retried): {0}")]
    Aborted(String),
    /// The other party provably cheated in a way that puts the key at risk: this key share must
    /// never sign with it again (a new key is needed).
    #[error("co-signing protocol aborted and the key share is now retired: {0}")]
    Banned(String),
    /// The two parties ended key generation with different public keys.
    #[error("the parties disagree on the joint public key")]
    KeyMismatch,
    /// The joint signature does not verify under the joint key.
    #[error("the joint signature does not verify under the joint key")]
    BadSignature,
    /// The device refused to co-sign (its policy's reason).
    #[error("the device refused: {0}")]
    Refused(String),
    /// The device link did not carry the request, or the device could not serve it.
    #[error("device link: {0}")]
    Link(String),
    /// The gateway did not pay what the device asked (its reason), or answered with a preimage
    /// that is not the invoice's.
    #[error("payment failed: {0}")]
    PaymentFailed(String),
    /// A transaction or script given for signing is not what a channel signature can be for.
    #[error("invalid {what}: {detail}")]
    Invalid {
        /// The field or object at fault.
        what: &'static str,
        /// What is wrong with it.
        detail: String,
    },
}

impl CosignError {
    pub(crate) fn malformed(what: &'static str, err: impl std::fmt::Display) -> Self {
        CosignError::Malformed { what, detail: err.to_string() }
    }

    pub(crate) fn invalid(what: &'static str, detail: impl Into<String>) -> Self {
        CosignError::Invalid { what, detail: detail.into() }
    }
}

impl From<dkls23::protocols::Abort> for CosignError {
    fn from(abort: dkls23::protocols::Abort) -> Self {
        match abort.kind {
            dkls23::protocols::AbortKind::Recoverable => CosignError::Aborted(abort.description()),
            dkls23::protocols::AbortKind::BanCounterparty(_) => {
                CosignError::Banned(abort.description())
            }
        }
    }
}
