//! Deputy sales (PROTOCOLS.md §2, D1): sealed sale payloads served as LNURL-pay (LUD-06/17) with a LUD-10 AES success action carrying the claim: issue #6.

/// The operator's settings of this feature (part of [`AppState`](crate::api::AppState)).
#[derive(Debug, Clone, Default)]
#[non_exhaustive]
pub struct DeputySettings {}
