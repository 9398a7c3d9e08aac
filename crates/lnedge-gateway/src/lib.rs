//! # lnedge-gateway
//!
//! The operator's side of lnedge. It reaches Lightning only through
//! [`lnedge_node::LightningBackend`].
//!
//! * [`provision`] — builds invoice pools: N invoices per product on the owner's node with
//!   preimages derived from the operator's pool key (recomputable by the operator, never sent to
//!   the device), verified byte for byte before the pool file is written.
//!
//! * [`engine`] — the [`Gateway`] handle: every rule, the background tasks.
//! * [`api`] — the HTTP service (axum): parse, call the engine, answer.
//! * [`store`] — the storage contract and its SQLite and PostgreSQL implementations.
//! * [`lnurl`] — what every LNURL endpoint shares (LUD-01 encoding, LUD-17 links, error bodies).
//! * [`refunds`] — refunds, proofs of payment, sessions and LNURL-auth.
//! * [`deputy`] — deputy sales over LNURL-pay.
//! * [`relay`] — the async relay for offline payees.
//! * `cosigned` (sandbox builds) — co-signed channels of the threshold device wallet.

pub mod accounting;
pub mod api;
pub mod books;
pub mod bounds;
pub mod clock;
pub mod config;
#[cfg(feature = "sandbox")]
pub mod cosigned;
pub mod deputy;
pub mod engine;
pub mod expiry;
pub mod fleet;
pub mod limits;
pub mod lnurl;
pub mod operators;
pub mod payers;
pub mod pools;
pub mod provision;
pub mod rates_http;
pub mod reconcile;
pub mod refunds;
pub mod relay;
pub mod sample;
pub mod sandbox_wallet;
pub mod service;
pub mod store;
pub mod sync;
pub mod ui;
pub mod watcher;

pub use engine::{Gateway, GatewayBuilder, GatewaySettings};
