//! [`RelayStore`] on SQLite.

use async_trait::async_trait;

use super::SqliteStore;
use crate::store::relay::RelayStore;

#[async_trait]
impl RelayStore for SqliteStore {}
