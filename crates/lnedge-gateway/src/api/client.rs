//! Which client a request comes from, for the per-client limits
//! ([`RateLimits`](crate::limits::RateLimits)): the socket address's IP when the
//! server runs with connect info, else the first address of `X-Forwarded-For` (set by the reverse
//! proxy in front of the gateway), else one shared `unknown` client.

use std::net::SocketAddr;

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};

/// The client of a request, from its extensions (connect info) and headers.
pub(crate) fn client_from(extensions: &Extensions, headers: &HeaderMap) -> String {
    if let Some(ConnectInfo(addr)) = extensions.get::<ConnectInfo<SocketAddr>>() {
        return addr.ip().to_string();
    }
    client_from_headers(headers)
}

fn client_from_headers(headers: &HeaderMap) -> String {
    headers
        .get("x-forwarded-for")
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.split(',').next())
        .map(|v| v.trim().to_owned())
        .filter(|v| !v.is_empty())
        .unwrap_or_else(|| "unknown".to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn clients_come_from_forwarded_for() {
        let mut headers = HeaderMap::new();
        assert_eq!(client_from_headers(&headers), "unknown");
        headers.insert("x-forwarded-for", "203.0.113.7, 10.0.0.1".parse().expect("header"));
        assert_eq!(client_from_headers(&headers), "203.0.113.7");
    }
}
