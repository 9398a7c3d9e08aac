//! # lnedge-wire
//!
//! The contracts lnedge's crates exchange over HTTP, each written once so that the device, the
//! payee agent, the CLI and the gateway agree by construction:
//!
//! * [`keys`]: per-purpose keys derived from the gateway's master key (a device's sync key, a
//!   payee's key);
//! * [`sign`]: the signature headers and the HMAC schemes of device uploads, payee requests and
//!   wake-up webhooks;
//! * [`sync`]: the device sync upload (`POST /v1/devices/{id}/sync`) and its answer, and the
//!   deputy terminal's report (`POST /v1/deputy/{id}/sync`);
//! * [`relay`]: the payee routes of the async relay and the wake-up webhook.
//!
//! Nothing here does I/O: bodies are bytes, times are arguments.

pub mod keys;
pub mod relay;
pub mod sign;
pub mod sync;

pub use sign::{SignatureError, SIGNATURE_HEADER, TIMESTAMP_HEADER};
