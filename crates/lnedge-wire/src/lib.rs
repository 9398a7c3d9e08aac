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
//! * [`relay`]: the payee routes of the async relay and the wake-up webhook;
//! * [`error`]: the error body of every API failure;
//! * [`lnurl`]: the LNURL answers wallets get (LUD-01 status, LUD-06 pay, LUD-03 withdraw);
//! * [`pools`]: pool provisioning answers and provisioning jobs;
//! * [`deputy`]: a deputy terminal's keys and the operator's list of deputy sales;
//! * [`refunds`]: an opened refund and the refunds report;
//! * [`reports`]: the sales report;
//! * [`payers`]: Bolt Cards (issuing, the programmer app's JSON, wipe) and payer devices
//!   (enrolment, invoice-bound token payments);
//! * [`sandbox_wallet`]: the sandbox wallet's routes (`lnedge wallet pay|withdraw|login`);
//! * [`cosigned`]: the threshold device wallet's routes on a sandbox gateway.
//!
//! Nothing here does I/O: bodies are bytes, times are arguments.

pub mod cosigned;
pub mod deputy;
pub mod error;
pub mod keys;
pub mod lnurl;
pub mod payers;
pub mod pools;
pub mod refunds;
pub mod relay;
pub mod reports;
pub mod sandbox_wallet;
pub mod sign;
pub mod sync;

pub use sign::{SignatureError, SIGNATURE_HEADER, TIMESTAMP_HEADER};
