//! # lnedge-gateway
//!
//! The operator service (axum): device fleet, pool provisioning, device sync and
//! reconciliation, LNURL endpoints, refunds, accounting, metrics. Storage: SQLite by default,
//! PostgreSQL for several replicas. It reaches Lightning only through
//! `lnedge_node::LightningBackend`.
//!
//! This crate is filled by the gateway work; it holds no code yet.
