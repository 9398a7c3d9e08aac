//! The async relay for offline payees (PROTOCOLS.md §5, the "Lightning Rod"): hold invoices for a payee's hashes, forwarded when the payee wakes: issue #7.

/// The operator's settings of this feature (part of [`AppState`](crate::api::AppState)).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RelaySettings {}
