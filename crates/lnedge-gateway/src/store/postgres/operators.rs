//! [`OperatorStore`] on PostgreSQL.

use async_trait::async_trait;
use tokio_postgres::error::SqlState;

use super::{pg, PostgresStore};
use crate::store::codec::operators::{self, AUDIT_COLUMNS, OPERATOR_COLUMNS, SESSION_COLUMNS};
use crate::store::codec::to_i64;
use crate::store::operators::{AuditRecord, OperatorRecord, OperatorStore, SessionRecord};
use crate::store::StoreError;

/// A write's error: which unique or foreign key the row broke, by the constraint's name.
fn constraint(context: &str, e: tokio_postgres::Error, name: &str) -> StoreError {
    let broken = e.as_db_error().and_then(|d| d.constraint()).unwrap_or_default();
    match e.code() {
        Some(code) if *code == SqlState::UNIQUE_VIOLATION => match broken {
            "operators_pkey" => StoreError::OperatorTaken(name.to_owned()),
            "operators_by_linking_key" => StoreError::LinkingKeyTaken,
            "operator_sessions_pkey" => StoreError::SessionTaken,
            _ => pg(context, e),
        },
        Some(code) if *code == SqlState::FOREIGN_KEY_VIOLATION => {
            StoreError::UnknownOperator(name.to_owned())
        }
        _ => pg(context, e),
    }
}

#[async_trait]
impl OperatorStore for PostgresStore {
    async fn insert_operator(&self, record: &OperatorRecord) -> Result<(), StoreError> {
        let r = record;
        let (created, version) =
            (to_i64(r.created_at, "created_at")?, to_i64(r.version, "version")?);
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO operators ({OPERATOR_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7)"
                ),
                &[
                    &r.name,
                    &r.role.as_str(),
                    &r.password_hash,
                    &r.linking_key,
                    &r.enabled,
                    &created,
                    &version,
                ],
            )
            .await
            .map_err(|e| constraint("creating operator", e, &r.name))?;
        Ok(())
    }

    async fn operator(&self, name: &str) -> Result<Option<OperatorRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE name = $1"),
                &[&name],
            )
            .await
            .map_err(|e| pg("reading operator", e))?;
        row.as_ref().map(operators::operator).transpose()
    }

    async fn operator_by_linking_key(
        &self,
        linking_key: &str,
    ) -> Result<Option<OperatorRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {OPERATOR_COLUMNS} FROM operators WHERE linking_key = $1"),
                &[&linking_key],
            )
            .await
            .map_err(|e| pg("reading operator by linking key", e))?;
        row.as_ref().map(operators::operator).transpose()
    }

    async fn operators(&self) -> Result<Vec<OperatorRecord>, StoreError> {
        let client = self.client().await?;
        let rows = client
            .query(&format!("SELECT {OPERATOR_COLUMNS} FROM operators ORDER BY name"), &[])
            .await
            .map_err(|e| pg("listing operators", e))?;
        rows.iter().map(operators::operator).collect()
    }

    async fn put_operator(&self, record: &OperatorRecord) -> Result<(), StoreError> {
        let r = record;
        let version = to_i64(r.version, "version")?;
        let client = self.client().await?;
        let changed = client
            .execute(
                "UPDATE operators SET role = $2, password_hash = $3, linking_key = $4,
                        enabled = $5, version = $6
                 WHERE name = $1 AND version = $7",
                &[
                    &r.name,
                    &r.role.as_str(),
                    &r.password_hash,
                    &r.linking_key,
                    &r.enabled,
                    &version,
                    &(version - 1),
                ],
            )
            .await
            .map_err(|e| constraint("writing operator", e, &r.name))?;
        if changed == 1 {
            return Ok(());
        }
        let exists = client
            .query_opt("SELECT 1 FROM operators WHERE name = $1", &[&r.name])
            .await
            .map_err(|e| pg("reading operator", e))?
            .is_some();
        Err(if exists { StoreError::Conflict } else { StoreError::UnknownOperator(r.name.clone()) })
    }

    async fn insert_operator_session(&self, session: &SessionRecord) -> Result<(), StoreError> {
        let s = session;
        let (created, expires) =
            (to_i64(s.created_at, "created_at")?, to_i64(s.expires_at, "expires_at")?);
        let client = self.client().await?;
        client
            .execute(
                &format!(
                    "INSERT INTO operator_sessions ({SESSION_COLUMNS}) VALUES ($1, $2, $3, $4, $5)"
                ),
                &[&&s.token_hash[..], &s.operator, &s.csrf_token, &created, &expires],
            )
            .await
            .map_err(|e| constraint("creating session", e, &s.operator))?;
        Ok(())
    }

    async fn operator_session(
        &self,
        token_hash: &[u8; 32],
    ) -> Result<Option<SessionRecord>, StoreError> {
        let client = self.client().await?;
        let row = client
            .query_opt(
                &format!("SELECT {SESSION_COLUMNS} FROM operator_sessions WHERE token_hash = $1"),
                &[&&token_hash[..]],
            )
            .await
            .map_err(|e| pg("reading session", e))?;
        row.as_ref().map(operators::session).transpose()
    }

    async fn delete_operator_session(&self, token_hash: &[u8; 32]) -> Result<bool, StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM operator_sessions WHERE token_hash = $1", &[&&token_hash[..]])
            .await
            .map(|n| n == 1)
            .map_err(|e| pg("deleting session", e))
    }

    async fn delete_operator_sessions_of(&self, operator: &str) -> Result<u64, StoreError> {
        let client = self.client().await?;
        client
            .execute("DELETE FROM operator_sessions WHERE operator = $1", &[&operator])
            .await
            .map_err(|e| pg("deleting sessions", e))
    }

    async fn purge_operator_sessions(&self, before: u64) -> Result<u64, StoreError> {
        let before = to_i64(before, "before")?;
        let client = self.client().await?;
        client
            .execute("DELETE FROM operator_sessions WHERE expires_at < $1", &[&before])
            .await
            .map_err(|e| pg("purging sessions", e))
    }

    async fn append_audit(&self, entry: &AuditRecord) -> Result<u64, StoreError> {
        let a = entry;
        let at = to_i64(a.at, "at")?;
        let client = self.client().await?;
        let row = client
            .query_one(
                "INSERT INTO audit_log (at, actor, action, target, detail)
                 VALUES ($1, $2, $3, $4, $5) RETURNING id",
                &[&at, &a.actor, &a.action, &a.target, &a.detail],
            )
            .await
            .map_err(|e| pg("appending to the audit log", e))?;
        let id: i64 = row.try_get(0).map_err(|e| pg("reading audit_log.id", e))?;
        u64::try_from(id).map_err(|_| StoreError::Backend("audit_log.id is negative".into()))
    }

    async fn audit_log(
        &self,
        before_id: Option<u64>,
        limit: u32,
    ) -> Result<Vec<AuditRecord>, StoreError> {
        let before = to_i64(before_id.unwrap_or(i64::MAX as u64), "before_id")?;
        let client = self.client().await?;
        let rows = client
            .query(
                &format!(
                    "SELECT {AUDIT_COLUMNS} FROM audit_log WHERE id < $1 ORDER BY id DESC LIMIT $2"
                ),
                &[&before, &i64::from(limit)],
            )
            .await
            .map_err(|e| pg("reading the audit log", e))?;
        rows.iter().map(operators::audit).collect()
    }
}
