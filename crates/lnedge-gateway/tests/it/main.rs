//! Integration tests of lnedge-gateway: one binary, one module per concern.

mod api;
mod broken_store;
mod cycle;
mod dashboard;
mod deputy;
mod deputy_attacks;
mod expiry;
mod hostile;
mod interop_py;
mod jobs;
mod ldk_relay;
mod own_node_relay;
mod payers;
mod pool_e2e;
mod rates_http;
mod refunds;
mod refunds_attacks;
mod refunds_sessions;
mod relay;
mod relay_api;
mod relay_restart;
mod relay_wake;
mod replicas;
mod service;
mod store;
mod support;
