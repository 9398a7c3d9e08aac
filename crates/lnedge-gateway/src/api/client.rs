//! Which client a request comes from, for the per-client limits
//! ([`RateLimits`](crate::limits::RateLimits)).
//!
//! The socket's peer address is the client, unless the peer is a **trusted proxy**
//! (`trusted_proxies`, a CIDR list): then the forwarding headers are read — `Forwarded`
//! (RFC 7239 `for=`) if present, else `X-Forwarded-For` — from the right, skipping trusted
//! proxies, and the first address that is not one is the client. A client cannot choose its
//! identity by sending these headers itself: from an untrusted peer they are ignored, and
//! behind a trusted proxy only what lies right of the proxy's own entry counts, which the proxy
//! wrote.
//!
//! A request with no socket at all (the in-process service of the tests and benches) is treated
//! as coming from a trusted proxy.

use std::net::{IpAddr, SocketAddr};

use axum::extract::ConnectInfo;
use axum::http::{Extensions, HeaderMap};
use ipnet::IpNet;

/// The client of a request, from its extensions (connect info), its headers and the trusted
/// proxies.
pub(crate) fn client_from(
    extensions: &Extensions,
    headers: &HeaderMap,
    trusted: &[IpNet],
) -> String {
    let peer = extensions.get::<ConnectInfo<SocketAddr>>().map(|ConnectInfo(addr)| addr.ip());
    let is_trusted = |ip: &IpAddr| trusted.iter().any(|net| net.contains(ip));
    if let Some(peer) = peer.filter(|p| !is_trusted(p)) {
        return peer.to_string();
    }
    let hops = forwarded_hops(headers);
    for hop in hops.iter().rev() {
        match hop {
            Some(ip) if is_trusted(ip) => continue,
            Some(ip) => return ip.to_string(),
            // A hop our proxies did not write legibly: nothing left of it can be trusted.
            None => break,
        }
    }
    // Every hop is trusted (or the chain is broken or absent): the nearest thing we know.
    match (hops.first(), peer) {
        (Some(Some(ip)), _) if hops.iter().all(Option::is_some) => ip.to_string(),
        (_, Some(peer)) => peer.to_string(),
        _ => "unknown".to_owned(),
    }
}

/// The addresses of the forwarding chain, left (the original client) to right (the hop nearest
/// to us); an entry that is not an IP address (`unknown`, an obfuscated node) is `None`.
fn forwarded_hops(headers: &HeaderMap) -> Vec<Option<IpAddr>> {
    let values = |name: &str| -> Vec<String> {
        headers
            .get_all(name)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','))
            .map(|v| v.trim().to_owned())
            .filter(|v| !v.is_empty())
            .collect()
    };
    let forwarded = values("forwarded");
    if !forwarded.is_empty() {
        return forwarded
            .iter()
            .map(|element| {
                element
                    .split(';')
                    .filter_map(|pair| pair.split_once('='))
                    .find(|(key, _)| key.trim().eq_ignore_ascii_case("for"))
                    .and_then(|(_, value)| parse_node(value))
            })
            .collect();
    }
    values("x-forwarded-for").iter().map(|v| parse_node(v)).collect()
}

/// An address as forwarding headers write it: `192.0.2.60`, `"[2001:db8::1]:4711"`,
/// `192.0.2.60:80`, `2001:db8::1`.
fn parse_node(text: &str) -> Option<IpAddr> {
    let text = text.trim().trim_matches('"');
    if let Ok(ip) = text.parse::<IpAddr>() {
        return Some(ip);
    }
    if let Ok(addr) = text.parse::<SocketAddr>() {
        return Some(addr.ip());
    }
    text.strip_prefix('[').and_then(|rest| rest.split(']').next()).and_then(|ip| ip.parse().ok())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::server::parse_trusted_proxies;

    fn request(peer: Option<&str>, headers: &[(&str, &str)]) -> (Extensions, HeaderMap) {
        let mut extensions = Extensions::new();
        if let Some(peer) = peer {
            extensions.insert(ConnectInfo::<SocketAddr>(peer.parse().expect("peer")));
        }
        let mut map = HeaderMap::new();
        for (name, value) in headers {
            let name = axum::http::HeaderName::from_bytes(name.as_bytes()).expect("name");
            map.append(name, value.parse().expect("header"));
        }
        (extensions, map)
    }

    fn client(peer: Option<&str>, headers: &[(&str, &str)], trusted: &[&str]) -> String {
        let trusted =
            parse_trusted_proxies(&trusted.iter().map(|s| s.to_string()).collect::<Vec<_>>())
                .expect("trusted");
        let (extensions, headers) = request(peer, headers);
        client_from(&extensions, &headers, &trusted)
    }

    #[test]
    fn without_trusted_proxies_the_socket_is_the_client_whatever_the_headers_say() {
        let spoof = [("x-forwarded-for", "1.2.3.4"), ("forwarded", "for=5.6.7.8")];
        assert_eq!(client(Some("203.0.113.7:5000"), &spoof, &[]), "203.0.113.7");
        // A peer that is not in the list is not trusted either.
        assert_eq!(client(Some("203.0.113.7:5000"), &spoof, &["10.0.0.0/8"]), "203.0.113.7");
    }

    #[test]
    fn behind_a_trusted_proxy_the_right_most_untrusted_hop_is_the_client() {
        let trusted = ["10.0.0.0/8"];
        // The client sent its own X-Forwarded-For; the proxy appended the real address.
        let xff = [("x-forwarded-for", "6.6.6.6, 198.51.100.2")];
        assert_eq!(client(Some("10.0.0.5:80"), &xff, &trusted), "198.51.100.2");
        // Two trusted proxies in a row.
        let chain = [("x-forwarded-for", "6.6.6.6, 198.51.100.2, 10.1.1.1")];
        assert_eq!(client(Some("10.0.0.5:80"), &chain, &trusted), "198.51.100.2");
        // Several header lines are one list.
        let lines = [("x-forwarded-for", "6.6.6.6"), ("x-forwarded-for", "198.51.100.3")];
        assert_eq!(client(Some("10.0.0.5:80"), &lines, &trusted), "198.51.100.3");
        // RFC 7239, with quotes, ports and IPv6; it wins over X-Forwarded-For.
        let forwarded = [
            ("forwarded", r#"for=6.6.6.6, for="[2001:db8::1]:4711";proto=https"#),
            ("x-forwarded-for", "7.7.7.7"),
        ];
        assert_eq!(client(Some("10.0.0.5:80"), &forwarded, &trusted), "2001:db8::1");
        // A single address counts as a /32.
        assert_eq!(client(Some("192.0.2.9:80"), &xff, &["192.0.2.9"]), "198.51.100.2");
    }

    #[test]
    fn broken_or_missing_chains_fall_back_to_what_is_known() {
        let trusted = ["10.0.0.0/8"];
        assert_eq!(client(Some("10.0.0.5:80"), &[], &trusted), "10.0.0.5", "no header");
        let garbage = [("x-forwarded-for", "6.6.6.6, not-an-ip")];
        assert_eq!(client(Some("10.0.0.5:80"), &garbage, &trusted), "10.0.0.5");
        let all_trusted = [("x-forwarded-for", "10.9.9.9, 10.8.8.8")];
        assert_eq!(client(Some("10.0.0.5:80"), &all_trusted, &trusted), "10.9.9.9");
        // In process (no socket): the headers, else one shared client.
        assert_eq!(client(None, &[("x-forwarded-for", "203.0.113.7, 10.0.0.1")], &[]), "10.0.0.1");
        assert_eq!(client(None, &[], &[]), "unknown");
    }
}
