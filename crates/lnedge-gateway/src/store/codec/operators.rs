//! Operator, session and audit rows ⇄ [`OperatorRecord`], [`SessionRecord`], [`AuditRecord`].

use super::Columns;
use crate::store::operators::{AuditRecord, OperatorRecord, Role, SessionRecord};
use crate::store::StoreError;

/// The columns of `operators`, in the order the writers bind them.
pub(crate) const OPERATOR_COLUMNS: &str =
    "name, role, password_hash, linking_key, enabled, created_at, version";

/// The columns of `operator_sessions`, in the order the writers bind them.
pub(crate) const SESSION_COLUMNS: &str = "token_hash, operator, csrf_token, created_at, expires_at";

/// The columns of `audit_log` (the id first: the writers leave it to the database).
pub(crate) const AUDIT_COLUMNS: &str = "id, at, actor, action, target, detail";

/// An `operators` row.
pub(crate) fn operator(row: &impl Columns) -> Result<OperatorRecord, StoreError> {
    let role = row.text("role")?;
    Ok(OperatorRecord {
        name: row.text("name")?,
        role: Role::parse(&role)
            .ok_or_else(|| StoreError::Backend(format!("operators.role {role:?} is unknown")))?,
        password_hash: row.text_or_null("password_hash")?,
        linking_key: row.text_or_null("linking_key")?,
        enabled: row.flag("enabled")?,
        created_at: row.u64("created_at")?,
        version: row.u64("version")?,
    })
}

/// An `operator_sessions` row.
pub(crate) fn session(row: &impl Columns) -> Result<SessionRecord, StoreError> {
    Ok(SessionRecord {
        token_hash: row.hash32("token_hash")?,
        operator: row.text("operator")?,
        csrf_token: row.text("csrf_token")?,
        created_at: row.u64("created_at")?,
        expires_at: row.u64("expires_at")?,
    })
}

/// An `audit_log` row.
pub(crate) fn audit(row: &impl Columns) -> Result<AuditRecord, StoreError> {
    Ok(AuditRecord {
        id: row.u64("id")?,
        at: row.u64("at")?,
        actor: row.text("actor")?,
        action: row.text("action")?,
        target: row.text("target")?,
        detail: row.text("detail")?,
    })
}
