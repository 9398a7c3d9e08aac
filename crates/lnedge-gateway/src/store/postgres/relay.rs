//! [`RelayStore`] on PostgreSQL.

use async_trait::async_trait;

use super::PostgresStore;
use crate::store::relay::RelayStore;

#[async_trait]
impl RelayStore for PostgresStore {}
