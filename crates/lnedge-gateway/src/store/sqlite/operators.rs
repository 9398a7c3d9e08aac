//! [`OperatorStore`] on SQLite.

use async_trait::async_trait;
use rusqlite::params;

use super::{backend, query_all, query_opt, SqliteStore};
use crate::store::codec::operators::{self, AUDIT_COLUMNS, OPERATOR_COLUMNS, SESSION_COLUMNS};
use crate::store::codec::to_i64;
use crate::store::operators::{AuditRecord, OperatorRecord, OperatorStore, SessionRecord};
use crate::store::StoreError;

/// An operator write's error: the name (primary key) or the linking key (unique index) taken.
fn operator_taken(context: &str, name: &str, e: rusqlite::Error) -> StoreError {
    match &e {
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
        {
            StoreError::OperatorTaken(name.to_owned())
        }
        rusqlite::Error::SqliteFailure(f, _)
            if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_UNIQUE =>
        {
            StoreError::LinkingKeyTaken
        }
        _ => backend(context, e),
    }
}

impl SqliteStore {
    /// The operator whose `column` (`name` or `linking_key`) is `value`.
    async fn operator_where(
        &self,
        column: &'static str,
        value: &str,
        what: &'static str,
    ) -> Result<Option<OperatorRecord>, StoreError> {
        let value = value.to_owned();
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE {column} = ?1"),
                params![value],
                what,
                |r| operators::operator(r),
            )
        })
        .await
    }
}

#[async_trait]
impl OperatorStore for SqliteStore {
    async fn insert_operator(&self, record: &OperatorRecord) -> Result<(), StoreError> {
        let r = record.clone();
        let (created, version) =
            (to_i64(r.created_at, "created_at")?, to_i64(r.version, "version")?);
        self.run(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO operators ({OPERATOR_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"
                ),
                params![
                    r.name,
                    r.role.as_str(),
                    r.password_hash,
                    r.linking_key,
                    r.enabled,
                    created,
                    version
                ],
            )
            .map_err(|e| operator_taken("creating operator", &r.name, e))?;
            Ok(())
        })
        .await
    }

    async fn operator(&self, name: &str) -> Result<Option<OperatorRecord>, StoreError> {
        self.operator_where("name", name, "reading operator").await
    }

    async fn operator_by_linking_key(
        &self,
        linking_key: &str,
    ) -> Result<Option<OperatorRecord>, StoreError> {
        self.operator_where("linking_key", linking_key, "reading operator by linking key").await
    }

    async fn operators(&self) -> Result<Vec<OperatorRecord>, StoreError> {
        self.read_many(move |conn| {
            query_all(
                conn,
                &format!("SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY name"),
                [],
                "listing operators",
                |r| operators::operator(r),
            )
        })
        .await
    }

    async fn put_operator(&self, record: &OperatorRecord) -> Result<(), StoreError> {
        let r = record.clone();
        let version = to_i64(r.version, "version")?;
        self.run(move |conn| {
            let changed = conn
                .execute(
                    "UPDATE operators SET role = ?2, password_hash = ?3, linking_key = ?4,
                            enabled = ?5, version = ?6
                     WHERE name = ?1 AND version = ?7",
                    params![
                        r.name,
                        r.role.as_str(),
                        r.password_hash,
                        r.linking_key,
                        r.enabled,
                        version,
                        version - 1
                    ],
                )
                .map_err(|e| operator_taken("writing operator", &r.name, e))?;
            if changed == 1 {
                return Ok(());
            }
            let exists = conn
                .query_row("SELECT 1 FROM operators WHERE name = ?1", params![r.name], |_| Ok(()))
                .is_ok();
            Err(if exists { StoreError::Conflict } else { StoreError::UnknownOperator(r.name) })
        })
        .await
    }

    async fn insert_operator_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let s = session.clone();
        let (created, expires) =
            (to_i64(s.created_at, "created_at")?, to_i64(s.expires_at, "expires_at")?);
        self.run(move |conn| {
            conn.execute(
                &format!(
                    "INSERT INTO operator_sessions ({SESSION_COLUMNS}) VALUES (?1, ?2, ?3, ?4, ?5)"
                ),
                params![&s.token_hash[..], s.operator, s.csrf_token, created, expires],
            )
            .map_err(|e| match &e {
                rusqlite::Error::SqliteFailure(f, _)
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_PRIMARYKEY =>
                {
                    StoreError::SessionTaken
                }
                rusqlite::Error::SqliteFailure(f, _)
                    if f.extended_code == rusqlite::ffi::SQLITE_CONSTRAINT_FOREIGNKEY =>
                {
                    StoreError::UnknownOperator(s.operator.clone())
                }
                _ => backend("creating session", e),
            })?;
            Ok(())
        })
        .await
    }

    async fn operator_session(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        let hash = *token_hash;
        self.run(move |conn| {
            query_opt(
                conn,
                &format!("SELECT {SESSION_COLUMNS} FROM operator_sessions WHERE token_hash = ?1"),
                params![&hash[..]],
                "reading session",
                |r| operators::session(r),
            )
        })
        .await
    }

    async fn delete_operator_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let hash = *token_hash;
        self.run(move |conn| {
            conn.execute("DELETE FROM operator_sessions WHERE token_hash = ?1", params![&hash[..]])
                .map(|n| n == 1)
                .map_err(|e| backend("deleting session", e))
        })
        .await
    }

    async fn delete_operator_sessions_of(&self, operator: &str) -> Result<u64, StoreError> {
        let name = operator.to_owned();
        self.run(move |conn| {
            conn.execute("DELETE FROM operator_sessions WHERE operator = ?1", params![name])
                .map(|n| n as u64)
                .map_err(|e| backend("deleting sessions", e))
        })
        .await
    }

    async fn purge_operator_sessions(&self, before: u64) -> Result<u64, StoreError> {
        let before = to_i64(before, "before")?;
        self.run(move |conn| {
            conn.execute("DELETE FROM operator_sessions WHERE expires_at < ?1", params![before])
                .map(|n| n as u64)
                .map_err(|e| backend("purging sessions", e))
        })
        .await
    }

    async fn append_audit(&self, entry: &AuditRecord) -> Result<u64, StoreError> {
        let a = entry.clone();
        let at = to_i64(a.at, "at")?;
        self.run(move |conn| {
            conn.execute(
                "INSERT INTO audit_log (at, actor, action, target, detail)
                 VALUES (?1, ?2, ?3, ?4, ?5)",
                params![at, a.actor, a.action, a.target, a.detail],
            )
            .map_err(|e| backend("appending to the audit log", e))?;
            u64::try_from(conn.last_insert_rowid())
                .map_err(|_| StoreError::Backend("audit_log.id is negative".into()))
        })
        .await
    }

    async fn audit_log(
        &self,
        before_id: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let before = to_i64(before_id.unwrap_or(i64::MAX as u64), "before_id")?;
        self.read_many(move |conn| {
            query_all(
                conn,
                &format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id < ?1 ORDER BY id DESC LIMIT ?2"
                ),
                params![before, limit],
                "reading the audit log",
                |r| operators::audit(r),
            )
        })
        .await
    }
}
