//! [`DeputyStore`] on PostgreSQL.

use async_trait::async_trait;

use super::PostgresStore;
use crate::store::deputy::DeputyStore;

#[async_trait]
impl DeputyStore for PostgresStore {}
