//! The dashboard's people: operator accounts with roles, their sessions, and the audit log of
//! every change (`gateway.operators()`). The rules live here; the store keeps records
//! (`store::operators`), the web UI (`ui/`) and the CLI (`lnedge operator add`) call this.
//!
//! * **Accounts**: a name, a role ([`Role::Admin`] may change things, [`Role::Viewer`] may only
//!   look), a password hashed with Argon2id ([`password`]).
//! * **Sessions**: 32 random bytes, given to the browser once (the cookie) and stored as their
//!   SHA-256, so neither the database nor a log holds a usable token. Each session has its own
//!   CSRF token that every form carries; [`Session::check_csrf`] compares it in constant time.
//!   A session ends at logout, after [`SESSION_TTL_SECS`], or when its operator is disabled.
//! * **Throttling**: failed logins are counted per client address and per name in the shared
//!   rate-limit store ([`crate::limits`]), so the limit holds across replicas.
//! * **Audit**: every change an operator makes is appended with who, what, on what and when.

pub mod error;
pub mod password;

use std::sync::Arc;

use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::engine::parts::Parts;
use crate::limits::Budget;
pub use crate::store::operators::{AuditRecord, OperatorRecord, Role, SessionRecord};
use crate::store::GatewayStore;
pub use error::OperatorError;
use password::{MAX_PASSWORD_BYTES, MIN_PASSWORD_CHARS};

/// How long a session lasts from login (a working day and some).
pub const SESSION_TTL_SECS: u64 = 12 * 3_600;

/// Failed logins allowed per minute per client address, and per operator name.
pub const LOGIN_FAILURES_PER_MINUTE: u32 = 10;

/// Longest operator name.
pub const MAX_NAME_CHARS: usize = 64;

/// The actor the audit log names for changes made with the API's admin bearer token.
pub const ADMIN_TOKEN_ACTOR: &str = "admin-token";

/// A logged-in operator: who, what they may do, and the session's CSRF token.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Session {
    /// The operator's name.
    pub operator: String,
    /// Their role.
    pub role: Role,
    /// The token every form of this session must carry (not secret from its own page).
    pub csrf_token: String,
    /// When the session ends (seconds since the Unix epoch).
    pub expires_at: u64,
}

impl Session {
    /// Ok for an admin; [`OperatorError::Forbidden`] naming `action` for a viewer.
    pub fn require_admin(&self, action: &'static str) -> Result<(), OperatorError> {
        match self.role {
            Role::Admin => Ok(()),
            Role::Viewer => {
                Err(OperatorError::Forbidden { operator: self.operator.clone(), action })
            }
        }
    }

    /// Whether the operator may change things (the UI shows the controls only then).
    pub fn is_admin(&self) -> bool {
        self.role == Role::Admin
    }

    /// Ok if `presented` is this session's CSRF token (constant-time comparison).
    pub fn check_csrf(&self, presented: Option<&str>) -> Result<(), OperatorError> {
        let presented = presented.unwrap_or_default().as_bytes();
        let ok = presented.len() == self.csrf_token.len()
            && bool::from(presented.ct_eq(self.csrf_token.as_bytes()));
        ok.then_some(()).ok_or(OperatorError::BadCsrf)
    }
}

/// A session just opened: the token goes to the browser once (as the cookie) and is kept
/// nowhere else.
#[derive(Debug)]
pub struct NewSession {
    /// The session token (64 hex characters). Secret.
    pub token: String,
    /// The session.
    pub session: Session,
}

/// The operators of a [`Gateway`](crate::engine::Gateway) (`gateway.operators()`).
#[derive(Debug, Clone, Copy)]
pub struct Operators<'a> {
    gateway: &'a Arc<Parts>,
}

fn token_hash(token: &str) -> [u8; 32] {
    Sha256::digest(token.trim().as_bytes()).into()
}

/// Ok if `name` is a valid operator name.
pub fn check_name(name: &str) -> Result<(), OperatorError> {
    let ok = !name.is_empty()
        && name.chars().count() <= MAX_NAME_CHARS
        && name.starts_with(|c: char| c.is_ascii_lowercase() || c.is_ascii_digit())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || "._-".contains(c));
    ok.then_some(()).ok_or_else(|| OperatorError::InvalidName(name.to_owned()))
}

fn check_password(password: &str) -> Result<(), OperatorError> {
    if password.chars().count() < MIN_PASSWORD_CHARS || password.len() > MAX_PASSWORD_BYTES {
        return Err(OperatorError::PasswordLength {
            min: MIN_PASSWORD_CHARS,
            max: MAX_PASSWORD_BYTES,
        });
    }
    Ok(())
}

/// Appends a change to the audit log of `store`; answers its id.
async fn append_audit(
    store: &dyn GatewayStore,
    at: u64,
    actor: &str,
    action: &str,
    target: &str,
    detail: &str,
) -> Result<u64, OperatorError> {
    let entry = AuditRecord {
        id: 0,
        at,
        actor: actor.to_owned(),
        action: action.to_owned(),
        target: target.to_owned(),
        detail: detail.to_owned(),
    };
    Ok(store.append_audit(&entry).await?)
}

/// Creates an operator in `store` at `now_secs` (the rules of [`Operators::add`], for callers
/// that have a store but no running gateway: `lnedge operator add`). The name is checked, the
/// password's length too, then it is hashed; the creation is audited as done by `actor`.
pub async fn add_operator(
    store: &dyn GatewayStore,
    now_secs: u64,
    name: &str,
    role: Role,
    password: Option<&str>,
    actor: &str,
) -> Result<OperatorRecord, OperatorError> {
    check_name(name)?;
    let password_hash = match password {
        Some(p) => {
            check_password(p)?;
            let p = p.to_owned();
            let hashed = tokio::task::spawn_blocking(move || password::hash(&p))
                .await
                .map_err(|e| OperatorError::Hashing(e.to_string()))?;
            Some(hashed.map_err(|e| OperatorError::Hashing(e.to_string()))?)
        }
        None => None,
    };
    let record = OperatorRecord {
        name: name.to_owned(),
        role,
        password_hash,
        linking_key: None,
        enabled: true,
        created_at: now_secs,
        version: 1,
    };
    store.insert_operator(&record).await?;
    append_audit(store, now_secs, actor, "operator.add", name, role.as_str()).await?;
    Ok(record)
}

/// [`Operators::set_linking_key`] on a store (for `lnedge operator link`). The key is checked
/// to be a point on secp256k1; the change is a compare-and-set (retried on a lost race) and
/// audited.
pub async fn set_linking_key(
    store: &dyn GatewayStore,
    now_secs: u64,
    name: &str,
    linking_key: Option<&str>,
    actor: &str,
) -> Result<OperatorRecord, OperatorError> {
    let key = match linking_key {
        Some(k) => {
            let k = k.trim().to_ascii_lowercase();
            let valid = k.len() == 66
                && hex::decode(&k).is_ok_and(|b| {
                    lnedge_node::bitcoin::secp256k1::PublicKey::from_slice(&b).is_ok()
                });
            if !valid {
                return Err(OperatorError::InvalidLinkingKey(k));
            }
            Some(k)
        }
        None => None,
    };
    for _ in 0..8 {
        let Some(current) = store.operator(name).await? else {
            return Err(OperatorError::UnknownOperator(name.to_owned()));
        };
        let next =
            OperatorRecord { linking_key: key.clone(), version: current.version + 1, ..current };
        match store.put_operator(&next).await {
            Ok(()) => {
                let detail = key.as_deref().unwrap_or("unlinked");
                append_audit(store, now_secs, actor, "operator.link", name, detail).await?;
                return Ok(next);
            }
            Err(crate::store::StoreError::Conflict) => continue,
            Err(e) => return Err(e.into()),
        }
    }
    Err(OperatorError::Store(crate::store::StoreError::Conflict))
}

impl<'a> Operators<'a> {
    pub(crate) fn new(gateway: &'a Arc<Parts>) -> Self {
        Operators { gateway }
    }

    /// Creates an operator with `role` and, if given, a password; `actor` is who did it (the
    /// audit log says so). See [`add_operator`].
    pub async fn add(
        &self,
        name: &str,
        role: Role,
        password: Option<&str>,
        actor: &str,
    ) -> Result<OperatorRecord, OperatorError> {
        add_operator(
            self.gateway.store().as_ref(),
            self.gateway.now_secs(),
            name,
            role,
            password,
            actor,
        )
        .await
    }

    /// Every operator, by name.
    pub async fn list(&self) -> Result<Vec<OperatorRecord>, OperatorError> {
        Ok(self.gateway.store().operators().await?)
    }

    /// Logs `name` in with `password` from `client` (an address, for throttling). Wrong name,
    /// wrong password and a disabled account are the same [`OperatorError::BadCredentials`],
    /// in about the same time.
    pub async fn login_password(
        &self,
        name: &str,
        password: &str,
        client: &str,
    ) -> Result<NewSession, OperatorError> {
        let limits = crate::limits::RateLimits::new(self.gateway);
        let budget = Budget::per_minute(LOGIN_FAILURES_PER_MINUTE);
        let account = format!("name:{}", name.to_lowercase());
        limits.check("ui-login", client, budget).await?;
        limits.check("ui-login", &account, budget).await?;
        let record = if name.len() <= MAX_NAME_CHARS * 4 && password.len() <= MAX_PASSWORD_BYTES {
            self.gateway.store().operator(name).await?
        } else {
            None
        };
        let candidate = password.to_owned();
        let stored = record.as_ref().and_then(|r| r.password_hash.clone());
        let matched = tokio::task::spawn_blocking(move || match stored {
            Some(phc) => password::verify(&candidate, &phc),
            None => {
                password::verify_nothing(&candidate);
                false
            }
        })
        .await
        .map_err(|e| OperatorError::Hashing(e.to_string()))?;
        match record {
            Some(r) if matched && r.enabled => {
                let session = self.open(&r).await?;
                self.audit(&r.name, "login", "", "password").await?;
                Ok(session)
            }
            _ => {
                limits.failed("ui-login", client, budget).await?;
                limits.failed("ui-login", &account, budget).await?;
                tracing::info!(operator = %name, client, "dashboard login refused");
                Err(OperatorError::BadCredentials)
            }
        }
    }

    /// Logs in with LNURL-auth (LUD-04): `auth_token` is the token of a login challenge
    /// (`gateway.refunds().issue_auth_challenge`) that a wallet has signed; its linking key must
    /// be an enabled operator's. [`OperatorError::NotSignedYet`] while the wallet has not signed.
    pub async fn login_lnurl(&self, auth_token: &str) -> Result<NewSession, OperatorError> {
        let signed = crate::refunds::Refunds::new(self.gateway).session(auth_token).await?;
        let Some(key) = signed.as_ref().and_then(|s| s.subject.strip_prefix("lnurl-auth:")) else {
            return Err(OperatorError::NotSignedYet);
        };
        match self.gateway.store().operator_by_linking_key(key).await? {
            Some(op) if op.enabled => {
                let session = self.open(&op).await?;
                self.audit(&op.name, "login", "", "lnurl-auth").await?;
                Ok(session)
            }
            _ => {
                tracing::info!(linking_key = %key, "dashboard LNURL-auth login of no operator");
                Err(OperatorError::UnknownLinkingKey(key.to_owned()))
            }
        }
    }

    /// Links to the session's operator the wallet that signed the LNURL-auth challenge of
    /// `auth_token` (the operator scanned a QR code while logged in): its linking key, which
    /// the wallet derives for this gateway's domain, becomes theirs. [`OperatorError::NotSignedYet`]
    /// while the wallet has not signed.
    pub async fn link_signed_wallet(
        &self,
        session: &Session,
        auth_token: &str,
    ) -> Result<OperatorRecord, OperatorError> {
        let signed = crate::refunds::Refunds::new(self.gateway).session(auth_token).await?;
        let Some(key) = signed.as_ref().and_then(|s| s.subject.strip_prefix("lnurl-auth:")) else {
            return Err(OperatorError::NotSignedYet);
        };
        self.set_linking_key(&session.operator, Some(key), &session.operator).await
    }

    /// Links the wallet whose LNURL-auth linking key is `linking_key` (hex, 33-byte compressed)
    /// to operator `name`, or unlinks it with `None`; `actor` is who did it.
    pub async fn set_linking_key(
        &self,
        name: &str,
        linking_key: Option<&str>,
        actor: &str,
    ) -> Result<OperatorRecord, OperatorError> {
        set_linking_key(
            self.gateway.store().as_ref(),
            self.gateway.now_secs(),
            name,
            linking_key,
            actor,
        )
        .await
    }

    /// Opens a session for `operator` (after a login it passed).
    async fn open(&self, operator: &OperatorRecord) -> Result<NewSession, OperatorError> {
        let token = hex::encode(rand::random::<[u8; 32]>());
        let now = self.gateway.now_secs();
        let record = SessionRecord {
            token_hash: token_hash(&token),
            operator: operator.name.clone(),
            csrf_token: hex::encode(rand::random::<[u8; 32]>()),
            created_at: now,
            expires_at: now.saturating_add(SESSION_TTL_SECS),
        };
        self.gateway.store().insert_operator_session(&record).await?;
        let session = Session {
            operator: operator.name.clone(),
            role: operator.role,
            csrf_token: record.csrf_token,
            expires_at: record.expires_at,
        };
        Ok(NewSession { token, session })
    }

    /// The session of `token` (the cookie's value), if it is still good: not expired, its
    /// operator still enabled. The role is read now, so a changed role applies at once.
    pub async fn session(&self, token: &str) -> Result<Session, OperatorError> {
        let store = self.gateway.store();
        let Some(record) = store.operator_session(&token_hash(token)).await? else {
            return Err(OperatorError::NoSession);
        };
        if record.expires_at <= self.gateway.now_secs() {
            return Err(OperatorError::NoSession);
        }
        match store.operator(&record.operator).await? {
            Some(op) if op.enabled => Ok(Session {
                operator: op.name,
                role: op.role,
                csrf_token: record.csrf_token,
                expires_at: record.expires_at,
            }),
            _ => Err(OperatorError::NoSession),
        }
    }

    /// Ends the session of `token` (logout). Ending one that is gone is not an error.
    pub async fn logout(&self, token: &str) -> Result<(), OperatorError> {
        let store = self.gateway.store();
        let hash = token_hash(token);
        if let Some(record) = store.operator_session(&hash).await? {
            store.delete_operator_session(&hash).await?;
            self.audit(&record.operator, "logout", "", "").await?;
        }
        Ok(())
    }

    /// Appends a change to the audit log.
    pub async fn audit(
        &self,
        actor: &str,
        action: &str,
        target: &str,
        detail: &str,
    ) -> Result<u64, OperatorError> {
        let (store, now) = (self.gateway.store().as_ref(), self.gateway.now_secs());
        append_audit(store, now, actor, action, target, detail).await
    }

    /// Up to `limit` audit entries older than `before_id` (the newest when `None`), newest
    /// first.
    pub async fn audit_log(
        &self,
        before_id: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, OperatorError> {
        Ok(self.gateway.store().audit_log(before_id, limit).await?)
    }

    /// Deletes the expired sessions (housekeeping); answers how many went.
    pub async fn purge(&self) -> Result<u64, OperatorError> {
        Ok(self.gateway.store().purge_operator_sessions(self.gateway.now_secs()).await?)
    }
}
