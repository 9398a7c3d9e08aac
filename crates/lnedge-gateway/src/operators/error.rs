//! What can go wrong with operators and their sessions.

use crate::limits::{LimitError, Limited};
use crate::store::StoreError;

/// Why an operator operation failed. Each variant names the problem; none carries a secret.
#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    /// The name is not 1–64 characters of `a-z 0-9 . _ -` starting with a letter or digit.
    #[error("operator names are 1–64 characters of a-z, 0-9, '.', '_' and '-', starting with a letter or digit; got {0:?}")]
    InvalidName(String),
    /// The password is too short or too long.
    #[error("a password has {min} to {max} bytes, at least {min} characters")]
    PasswordLength {
        /// Fewest characters.
        min: usize,
        /// Most bytes.
        max: usize,
    },
    /// An operator with this name exists.
    #[error("an operator named {0:?} exists")]
    NameTaken(String),
    /// No operator with this name.
    #[error("no operator named {0:?}")]
    UnknownOperator(String),
    /// The name and password do not match an enabled operator (which of them is wrong is not
    /// said).
    #[error("the name or the password is wrong, or the account is disabled")]
    BadCredentials,
    /// The wallet has not signed the LNURL-auth challenge yet (or the challenge expired).
    #[error("waiting for the wallet to sign the login challenge")]
    NotSignedYet,
    /// A wallet signed in with a linking key no enabled operator has.
    #[error("this wallet's linking key {0} belongs to no enabled operator: an admin links it with `lnedge operator link NAME --linking-key {0}`")]
    UnknownLinkingKey(String),
    /// A linking key that is not a 33-byte compressed secp256k1 public key in hex.
    #[error("a linking key is a 33-byte compressed public key in hex (66 characters); got {0:?}")]
    InvalidLinkingKey(String),
    /// The linking key already belongs to another operator.
    #[error("this linking key already belongs to another operator")]
    LinkingKeyTaken,
    /// No session, or it ended (logout, expiry, the operator disabled).
    #[error("not logged in (or the session ended): log in again")]
    NoSession,
    /// The operator's role may not do this.
    #[error("{operator:?} is a viewer: only an admin may {action}")]
    Forbidden {
        /// Who tried.
        operator: String,
        /// What they tried.
        action: &'static str,
    },
    /// A form came without this session's CSRF token, or with another.
    #[error(
        "the form's CSRF token is missing or not this session's: reload the page and try again"
    )]
    BadCsrf,
    /// Too many failed logins from this client or for this name.
    #[error(transparent)]
    Limited(#[from] Limited),
    /// The password could not be hashed.
    #[error("the password could not be hashed: {0}")]
    Hashing(String),
    /// The store failed.
    #[error(transparent)]
    Store(StoreError),
}

impl From<StoreError> for OperatorError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::OperatorTaken(name) => OperatorError::NameTaken(name),
            StoreError::UnknownOperator(name) => OperatorError::UnknownOperator(name),
            StoreError::LinkingKeyTaken => OperatorError::LinkingKeyTaken,
            other => OperatorError::Store(other),
        }
    }
}

impl From<LimitError> for OperatorError {
    fn from(e: LimitError) -> Self {
        match e {
            LimitError::Limited(l) => OperatorError::Limited(l),
            LimitError::Store(s) => s.into(),
        }
    }
}
