//! [`RefundStore`] on PostgreSQL.

use async_trait::async_trait;

use super::PostgresStore;
use crate::store::refunds::RefundStore;

#[async_trait]
impl RefundStore for PostgresStore {}
