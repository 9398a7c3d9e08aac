//! The HTTP listener: the API's router behind limits a hostile network cannot exhaust.
//!
//! `axum::serve` has no timeouts and no connection cap, so this accept loop serves each
//! connection with hyper directly:
//! - a connection is admitted only under [`ServerLimits::max_connections`] and, for its client
//!   (IP address), [`ServerLimits::max_connections_per_client`]; one beyond is answered with a
//!   JSON 503 and closed at once, so honest clients (and `/healthz`) still get in while one
//!   client holds idle sockets;
//! - hyper's header read timeout closes a connection that is slow to send its headers, or that
//!   idles between requests;
//! - the request body must arrive whole within [`ServerLimits::body_timeout_secs`] (408 after);
//! - running out of file descriptors pauses accepting instead of ending the server;
//! - on shutdown, requests in flight get [`ServerLimits::shutdown_grace_secs`]; then the
//!   remaining connections are cut, so a slow client cannot hold the service up.

use std::collections::HashMap;
use std::future::Future;
use std::net::{IpAddr, SocketAddr};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use axum::body::Body;
use axum::extract::{ConnectInfo, Request};
use axum::http::StatusCode;
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use lnedge_wire::error::ErrorBody;
use tokio::net::TcpListener;
use tokio::task::JoinSet;
use tower::ServiceExt;

use crate::api::{ApiError, BODY_LIMIT_BYTES};
use crate::config::server::ServerLimits;

/// What a refused connection reads before it is closed: a JSON 503 (the API's error body).
fn busy_response() -> Vec<u8> {
    let body = serde_json::to_string(&ErrorBody::new(
        "too_many_connections",
        "too many open connections, retry later",
        None,
    ))
    .unwrap_or_default();
    format!(
        "HTTP/1.1 503 Service Unavailable\r\ncontent-type: application/json\r\n\
         connection: close\r\ncontent-length: {}\r\n\r\n{body}",
        body.len()
    )
    .into_bytes()
}

/// Serves `router` on `listener` under `limits` until `shutdown` completes; then gives requests
/// in flight the grace period and returns.
pub async fn serve_http(
    listener: TcpListener,
    router: Router,
    limits: ServerLimits,
    shutdown: impl Future<Output = ()> + Send + 'static,
) {
    let body_timeout = limits.body_timeout();
    let router = router.layer(middleware::from_fn(move |request: Request, next: Next| {
        read_body_within(body_timeout, request, next)
    }));
    let mut http = hyper::server::conn::http1::Builder::new();
    http.timer(TokioTimer::new()).header_read_timeout(limits.header_timeout());
    let admissions = Admissions::new(&limits);
    let busy = busy_response();
    let graceful = GracefulShutdown::new();
    let mut connections = JoinSet::new();
    let mut accept_errors_logged = false;
    tokio::pin!(shutdown);

    loop {
        let (stream, peer) = tokio::select! {
            () = &mut shutdown => break,
            Some(_) = connections.join_next() => continue,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => {
                    accept_errors_logged = false;
                    accepted
                }
                Err(e) => {
                    // EMFILE and friends: the connections we hold will close; wait, don't die.
                    if !accept_errors_logged {
                        tracing::warn!(error = %e, "cannot accept connections; retrying");
                        accept_errors_logged = true;
                    }
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(admission) = admissions.admit(peer.ip()) else {
            // Best effort, without waiting: a client that does not read gets only the close.
            let _ = stream.try_write(&busy);
            tracing::debug!(client = %peer.ip(), "connection refused: over the connection limit");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let router = router.clone();
        let service = hyper::service::service_fn(move |mut request: Request<_>| {
            request.extensions_mut().insert(ConnectInfo::<SocketAddr>(peer));
            router.clone().oneshot(request.map(Body::new))
        });
        let connection = graceful.watch(http.serve_connection(TokioIo::new(stream), service));
        connections.spawn(async move {
            if let Err(e) = connection.await {
                tracing::debug!(client = %peer.ip(), error = %e, "connection ended");
            }
            drop(admission);
        });
    }

    drop(listener);
    let in_flight = connections.len();
    tracing::info!(in_flight, "shutting down: finishing requests in flight");
    if tokio::time::timeout(limits.shutdown_grace(), graceful.shutdown()).await.is_err() {
        tracing::warn!(
            open = connections.len(),
            grace_secs = limits.shutdown_grace_secs,
            "connections still open after the grace period: closing them"
        );
    }
    connections.shutdown().await;
}

/// Reads the whole request body within `timeout` (408 after) and at most
/// [`BODY_LIMIT_BYTES`] (413 above), so a handler never waits on a slow client.
async fn read_body_within(timeout: Duration, request: Request, next: Next) -> Response {
    let (parts, body) = request.into_parts();
    let read = tokio::time::timeout(timeout, axum::body::to_bytes(body, BODY_LIMIT_BYTES)).await;
    let bytes = match read {
        Ok(Ok(bytes)) => bytes,
        Ok(Err(e)) => {
            let too_large = std::error::Error::source(&e)
                .is_some_and(|s| s.is::<http_body_util::LengthLimitError>());
            return close(if too_large {
                // The same answer as the handlers' own body limit (`api::ApiBody`).
                ApiError::new(
                    StatusCode::PAYLOAD_TOO_LARGE,
                    "body_too_large",
                    "the request body is over the size limit",
                )
            } else {
                ApiError::new(StatusCode::BAD_REQUEST, "bad_body", format!("reading the body: {e}"))
            });
        }
        Err(_) => {
            return close(ApiError::new(
                StatusCode::REQUEST_TIMEOUT,
                "request_timeout",
                format!("the request body did not arrive within {} s", timeout.as_secs()),
            ))
        }
    };
    next.run(Request::from_parts(parts, Body::from(bytes))).await
}

/// The API's JSON error, with the connection closed after it (the body was not read whole).
fn close(error: ApiError) -> Response {
    let mut response = error.into_response();
    response
        .headers_mut()
        .insert(axum::http::header::CONNECTION, axum::http::HeaderValue::from_static("close"));
    response
}

/// The open connections, all together and per client.
struct Admissions {
    max_total: usize,
    max_per_client: usize,
    open: Arc<Mutex<Open>>,
}

#[derive(Default)]
struct Open {
    total: usize,
    per_client: HashMap<IpAddr, usize>,
}

/// One admitted connection; dropping it frees its place.
struct Admission {
    client: IpAddr,
    open: Arc<Mutex<Open>>,
}

impl Admissions {
    fn new(limits: &ServerLimits) -> Self {
        Admissions {
            max_total: limits.max_connections,
            max_per_client: limits.max_connections_per_client,
            open: Arc::default(),
        }
    }

    fn admit(&self, client: IpAddr) -> Option<Admission> {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        let of_client = open.per_client.get(&client).copied().unwrap_or(0);
        if open.total >= self.max_total || of_client >= self.max_per_client {
            return None;
        }
        open.total += 1;
        open.per_client.insert(client, of_client + 1);
        Some(Admission { client, open: self.open.clone() })
    }
}

impl Drop for Admission {
    fn drop(&mut self) {
        let mut open = self.open.lock().unwrap_or_else(|p| p.into_inner());
        open.total = open.total.saturating_sub(1);
        if let Some(n) = open.per_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                open.per_client.remove(&self.client);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admissions_cap_the_total_and_each_client_and_free_on_drop() {
        let admissions = Admissions::new(&ServerLimits {
            max_connections: 3,
            max_connections_per_client: 2,
            ..Default::default()
        });
        let a: IpAddr = "10.0.0.1".parse().unwrap();
        let b: IpAddr = "10.0.0.2".parse().unwrap();
        let c: IpAddr = "10.0.0.3".parse().unwrap();
        let a1 = admissions.admit(a).expect("a 1");
        let _a2 = admissions.admit(a).expect("a 2");
        assert!(admissions.admit(a).is_none(), "a's third is over its cap");
        let _b1 = admissions.admit(b).expect("b 1");
        assert!(admissions.admit(c).is_none(), "the total is reached");
        drop(a1);
        let _c1 = admissions.admit(c).expect("a place was freed");
        assert!(admissions.admit(a).is_none(), "the total is reached again");
    }

    #[test]
    fn the_busy_answer_is_well_formed() {
        let busy = busy_response();
        let text = std::str::from_utf8(&busy).unwrap();
        let (head, body) = text.split_once("\r\n\r\n").unwrap();
        assert!(head.contains(&format!("content-length: {}", body.len())), "{head}");
        let json: serde_json::Value = serde_json::from_str(body).unwrap();
        assert_eq!(json["error"]["code"], "too_many_connections");
    }
}
