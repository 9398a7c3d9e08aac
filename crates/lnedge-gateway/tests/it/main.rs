//! Integration tests of lnedge-gateway: one binary, one module per concern.

mod api;
mod cycle;
mod jobs;
mod pool_e2e;
mod store;
