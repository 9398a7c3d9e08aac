//! Refunds of failed vends (LNURL-withdraw, LUD-03/17), proofs of payment (PROTOCOLS.md §6), receipts and sessions for web apps, and LNURL-auth (LUD-04): issue #5.

/// The operator's settings of this feature (part of [`AppState`](crate::api::AppState)).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct RefundSettings {}
