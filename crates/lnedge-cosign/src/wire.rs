//! The byte encoding of every message on the device link (postcard: compact, no schema).

use serde::de::DeserializeOwned;
use serde::Serialize;

use crate::error::CosignError;

/// Encodes a message for the device link.
pub fn encode<T: Serialize>(message: &T) -> Vec<u8> {
    postcard::to_allocvec(message).expect("co-signing messages always serialize")
}

/// Decodes a message from the device link; `what` names it in the error.
pub fn decode<T: DeserializeOwned>(what: &'static str, bytes: &[u8]) -> Result<T, CosignError> {
    postcard::from_bytes(bytes).map_err(|e| CosignError::malformed(what, e))
}
