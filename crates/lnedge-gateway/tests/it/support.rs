//! Shared test plumbing: the gateway on a real loopback socket (for clients that speak HTTP, such
//! as `lnurl-rs`).

#![allow(dead_code)] // each suite uses the part it needs

use axum::Router;
use tokio::net::TcpListener;
use tokio::task::JoinHandle;

/// Serves `app` on `127.0.0.1:<free port>`; returns its base URL (`http://127.0.0.1:PORT`, no
/// trailing slash) and the server task (abort it to stop).
pub(crate) async fn serve(app: Router) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let addr = listener.local_addr().expect("local addr");
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (format!("http://{addr}"), task)
}

/// Binds a loopback port first (so the base URL is known before the app is built, e.g. for
/// `AppState::public_url`), then serves the app `make` builds from that URL.
pub(crate) async fn serve_with_url(make: impl FnOnce(&str) -> Router) -> (String, JoinHandle<()>) {
    let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind a loopback port");
    let url = format!("http://{}", listener.local_addr().expect("local addr"));
    let app = make(&url);
    let task = tokio::spawn(async move {
        axum::serve(listener, app).await.expect("serve");
    });
    (url, task)
}

/// A loopback address with a port that was free a moment ago (for services that bind it
/// themselves, such as `service::serve`).
pub(crate) fn free_addr() -> std::net::SocketAddr {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    listener.local_addr().expect("addr")
}

/// Seconds since the Unix epoch (the test's clock, for signed timestamps).
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// Sends one request to the in-process service and collects the answer's status and body.
pub(crate) async fn call_bytes(
    router: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, Vec<u8>) {
    use http_body_util::BodyExt;
    use tower::ServiceExt;
    let response = router.clone().oneshot(request).await.expect("the router answers");
    let status = response.status();
    let body = response.into_body().collect().await.expect("body").to_bytes().to_vec();
    (status, body)
}

/// [`call_bytes`], the body as JSON (a body that is not JSON comes back as `{"text": …}`).
pub(crate) async fn call_json(
    router: &axum::Router,
    request: axum::http::Request<axum::body::Body>,
) -> (axum::http::StatusCode, serde_json::Value) {
    let (status, body) = call_bytes(router, request).await;
    let value = serde_json::from_slice(&body)
        .unwrap_or_else(|_| serde_json::json!({ "text": String::from_utf8_lossy(&body) }));
    (status, value)
}
