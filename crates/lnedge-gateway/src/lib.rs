//! # lnedge-gateway
//!
//! The operator's side of lnedge. It reaches Lightning only through
//! [`lnedge_node::LightningBackend`].
//!
//! * [`provision`] — builds invoice pools: N invoices per product on the owner's node with
//!   preimages derived from the operator's pool key (recomputable by the operator, never sent to
//!   the device), verified byte for byte before the pool file is written.
//!
//! The HTTP service (fleet registry, sync, LNURL, refunds, accounting) grows here with the
//! gateway work.

pub mod accounting;
pub mod api;
pub mod config;
pub mod expiry;
pub mod provision;
pub mod rates_http;
pub mod reconcile;
pub mod service;
pub mod store;
pub mod watcher;
