//! The gateway against a hostile network and hostile local users (issue #12): each finding of
//! the black-box run is kept here as a regression, one module per area.

mod edges;
mod files;
mod identity;
mod input;
mod limits;
mod purge;
mod rate;

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request};
use lnedge_gateway::api::{app, AppState};
use lnedge_gateway::provision::PoolKey;
use lnedge_gateway::store::sqlite::SqliteStore;
use lnedge_gateway::{Gateway, GatewayBuilder};
use lnedge_node::sandbox::SandboxNetwork;

/// The admin token of every gateway in this suite.
const TOKEN: &str = "0123456789abcdef0123";

/// A gateway with `master` as its device master key, on an in-memory store and a sandbox owner
/// node (keep the network alive as long as the gateway).
async fn sandbox_gateway(master: [u8; 32]) -> (Gateway, SandboxNetwork) {
    let net = SandboxNetwork::new().await.expect("sandbox");
    let owner = net.add_node("owner").await.expect("owner");
    let store = Arc::new(SqliteStore::in_memory().expect("store"));
    (
        GatewayBuilder::new(store, owner, Arc::new(PoolKey::generate()), master)
            .public_url("https://gw.test")
            .build(),
        net,
    )
}

/// The API of [`sandbox_gateway`], called in process.
async fn router(master: [u8; 32]) -> (axum::Router, SandboxNetwork) {
    let (gateway, net) = sandbox_gateway(master).await;
    (app(AppState::with_gateway(gateway, TOKEN)), net)
}

/// A JSON request with `headers`.
fn request(method: Method, uri: &str, headers: &[(&str, String)], body: Vec<u8>) -> Request<Body> {
    let mut r =
        Request::builder().method(method).uri(uri).header("content-type", "application/json");
    for (name, value) in headers {
        r = r.header(*name, value);
    }
    r.body(Body::from(body)).expect("request")
}

/// The operator's authorization header.
fn admin() -> Vec<(&'static str, String)> {
    vec![("authorization", format!("Bearer {TOKEN}"))]
}
