//! [`DeputyStore`] on SQLite.

use async_trait::async_trait;

use super::SqliteStore;
use crate::store::deputy::DeputyStore;

#[async_trait]
impl DeputyStore for SqliteStore {}
