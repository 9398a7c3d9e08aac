//! [`RefundStore`] on SQLite.

use async_trait::async_trait;

use super::SqliteStore;
use crate::store::refunds::RefundStore;

#[async_trait]
impl RefundStore for SqliteStore {}
