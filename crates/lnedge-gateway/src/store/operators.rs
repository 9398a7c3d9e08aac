//! Storage for the dashboard's people (`crate::operators`): operator accounts, their sessions
//! and the audit log of every change they make.
//!
//! Part of [`GatewayStore`](super::GatewayStore) (a supertrait), implemented by both stores in
//! `sqlite/operators.rs` and `postgres/operators.rs`, with its schema in migration
//! `0007_operators.sql`.
//!
//! # Contract
//!
//! * An operator is created once ([`insert_operator`](OperatorStore::insert_operator): a name
//!   taken is [`StoreError::OperatorTaken`]) and changed only by
//!   [`put_operator`](OperatorStore::put_operator), a compare-and-set on its
//!   [`version`](OperatorRecord::version). A linking key (LNURL-auth) belongs to at most one
//!   operator (another operator's is [`StoreError::LinkingKeyTaken`]).
//! * A session is found by the SHA-256 of its token (the token itself is never stored), so a
//!   copy of the database opens no session. Sessions live in the database so that every replica
//!   knows them.
//! * The audit log is append-only: entries get increasing ids in the order they were appended.
//! * The stores hold no rules: who may do what, password hashing and expiry are
//!   `crate::operators`'.

use async_trait::async_trait;

use super::StoreError;

/// What an operator may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Role {
    /// May look and change (enrol, provision, disable, cancel…).
    Admin,
    /// May only look.
    Viewer,
}

impl Role {
    /// `admin` or `viewer`, as stored and as typed on the command line.
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Admin => "admin",
            Role::Viewer => "viewer",
        }
    }

    /// The role named `text` (`admin`, `viewer`).
    pub fn parse(text: &str) -> Option<Role> {
        match text {
            "admin" => Some(Role::Admin),
            "viewer" => Some(Role::Viewer),
            _ => None,
        }
    }
}

/// An operator account as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRecord {
    /// The login name (unique; `crate::operators` says which names are valid).
    pub name: String,
    /// What the operator may do.
    pub role: Role,
    /// The password's hash as a PHC string (`$argon2id$…`); `None`: no password login.
    pub password_hash: Option<String>,
    /// The LNURL-auth linking key (33-byte compressed public key, lowercase hex); `None`: no
    /// LNURL-auth login.
    pub linking_key: Option<String>,
    /// A disabled operator cannot log in, and their sessions stop working.
    pub enabled: bool,
    /// When the account was created (seconds since the Unix epoch).
    pub created_at: u64,
    /// Version for compare-and-set; 1 when created, one more on each write.
    pub version: u64,
}

/// A dashboard session as stored.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    /// SHA-256 of the session token (the cookie's value).
    pub token_hash: [u8; 32],
    /// The operator it belongs to.
    pub operator: String,
    /// The token every form of this session carries (CSRF protection); hex.
    pub csrf_token: String,
    /// When it was opened (seconds since the Unix epoch).
    pub created_at: u64,
    /// When it stops working (seconds since the Unix epoch).
    pub expires_at: u64,
}

/// One change an operator made, as the audit log keeps it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AuditRecord {
    /// Increasing in the order entries were appended; 0 in a record to append.
    pub id: u64,
    /// When (seconds since the Unix epoch).
    pub at: u64,
    /// Who: the operator's name (`admin-token` for the API's bearer token, `cli` for the
    /// command line).
    pub actor: String,
    /// What, as a short code (`device.enrol`, `pool.provision`, `operator.add`, `login`…).
    pub action: String,
    /// On what (a device id, a pool id, an operator's name; may be empty).
    pub target: String,
    /// Anything else worth keeping (may be empty; never a secret).
    pub detail: String,
}

/// Operators, sessions and the audit log (see the module's contract).
#[async_trait]
pub trait OperatorStore: Send + Sync {
    /// Creates an operator (`record.version` is stored as given, normally 1); a name already
    /// taken is [`StoreError::OperatorTaken`], a linking key [`StoreError::LinkingKeyTaken`].
    async fn insert_operator(&self, record: &OperatorRecord) -> Result<(), StoreError>;

    /// The operator named `name`, if any.
    async fn operator(&self, name: &str) -> Result<Option<OperatorRecord>, StoreError>;

    /// The operator whose linking key is `linking_key` (lowercase hex), if any.
    async fn operator_by_linking_key(
        &self,
        linking_key: &str,
    ) -> Result<Option<OperatorRecord>, StoreError>;

    /// Every operator, by name.
    async fn operators(&self) -> Result<Vec<OperatorRecord>, StoreError>;

    /// Writes `record` if the stored one still has version `record.version - 1`; else
    /// [`StoreError::Conflict`] ([`StoreError::UnknownOperator`] when there is none,
    /// [`StoreError::LinkingKeyTaken`] when another operator has its linking key) and nothing
    /// changes.
    async fn put_operator(&self, record: &OperatorRecord) -> Result<(), StoreError>;

    /// Stores a new session; a token hash already stored is [`StoreError::SessionTaken`].
    async fn insert_operator_session(&self, session: &SessionRecord) -> Result<(), StoreError>;

    /// The session whose token hashes to `token_hash`, if any (expired ones too: the caller
    /// judges expiry).
    async fn operator_session(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError>;

    /// Deletes the session (logout); answers whether there was one.
    async fn delete_operator_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError>;

    /// Deletes every session of `operator` (disabled, password changed); answers how many.
    async fn delete_operator_sessions_of(&self, operator: &str) -> Result<u64, StoreError>;

    /// Deletes the sessions that expired before `before`; answers how many went.
    async fn purge_operator_sessions(&self, before: u64) -> Result<u64, StoreError>;

    /// Appends `entry` (its `id` is ignored) and answers the id it got.
    async fn append_audit(&self, entry: &AuditRecord) -> Result<u64, StoreError>;

    /// Up to `limit` audit entries with an id below `before_id` (all when `None`), newest first.
    async fn audit_log(
        &self,
        before_id: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError>;
}
