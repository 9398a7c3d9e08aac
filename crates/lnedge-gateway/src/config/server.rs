//! The `[server]` section (what one client, or a hostile network, may hold of the HTTP server)
//! and the `trusted_proxies` setting (whose forwarding headers name the client).
//!
//! ```toml
//! [server]
//! header_timeout_secs = 10       # request line + headers; also a kept-alive connection's idle wait
//! body_timeout_secs = 30         # the whole request body
//! max_connections = 1024         # open connections, all clients together
//! max_connections_per_client = 32
//! shutdown_grace_secs = 10       # requests in flight may finish; then connections are cut
//! ```

use std::net::IpAddr;
use std::time::Duration;

use serde::Deserialize;

use ipnet::IpNet;

use super::ConfigError;

/// Limits of the HTTP server (the `[server]` section). Defaults suit a gateway on the open
/// internet; every value is checked by [`ServerLimits::validate`].
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ServerLimits {
    /// Seconds a client has to send a request's line and headers. The same timer runs while a
    /// kept-alive connection waits for its next request, so it is also the idle timeout.
    pub header_timeout_secs: u64,
    /// Seconds a client has to send a request's whole body (408 after).
    pub body_timeout_secs: u64,
    /// Open connections of all clients together; a connection beyond it is answered 503 and
    /// closed.
    pub max_connections: usize,
    /// Open connections of one client (one IP address); beyond it, 503 and closed. It keeps a
    /// client that holds idle sockets from starving the others.
    pub max_connections_per_client: usize,
    /// Seconds requests in flight may take to finish after a shutdown signal; then the
    /// remaining connections are cut and the service stops.
    pub shutdown_grace_secs: u64,
}

impl Default for ServerLimits {
    fn default() -> Self {
        ServerLimits {
            header_timeout_secs: 10,
            body_timeout_secs: 30,
            max_connections: 1024,
            max_connections_per_client: 32,
            shutdown_grace_secs: 10,
        }
    }
}

impl ServerLimits {
    /// The header (and idle) timeout.
    pub fn header_timeout(&self) -> Duration {
        Duration::from_secs(self.header_timeout_secs)
    }

    /// The body timeout.
    pub fn body_timeout(&self) -> Duration {
        Duration::from_secs(self.body_timeout_secs)
    }

    /// The shutdown grace period.
    pub fn shutdown_grace(&self) -> Duration {
        Duration::from_secs(self.shutdown_grace_secs)
    }

    /// Refuses a value that would disable a limit or make the server unusable, naming its key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let secs = [
            ("server.header_timeout_secs", self.header_timeout_secs),
            ("server.body_timeout_secs", self.body_timeout_secs),
            ("server.shutdown_grace_secs", self.shutdown_grace_secs),
        ];
        for (key, value) in secs {
            if value == 0 || value > 3_600 {
                return Err(ConfigError::Invalid {
                    key,
                    message: format!("{value} must be between 1 and 3600 seconds"),
                });
            }
        }
        if self.max_connections == 0 || self.max_connections > 1_000_000 {
            return Err(ConfigError::Invalid {
                key: "server.max_connections",
                message: format!("{} must be between 1 and 1000000", self.max_connections),
            });
        }
        if self.max_connections_per_client == 0
            || self.max_connections_per_client > self.max_connections
        {
            return Err(ConfigError::Invalid {
                key: "server.max_connections_per_client",
                message: format!(
                    "{} must be between 1 and max_connections ({})",
                    self.max_connections_per_client, self.max_connections
                ),
            });
        }
        Ok(())
    }
}

/// Parses the `trusted_proxies` setting: CIDR blocks (`10.0.0.0/8`) or single addresses.
pub fn parse_trusted_proxies(entries: &[String]) -> Result<Vec<IpNet>, String> {
    entries
        .iter()
        .map(|entry| {
            let entry = entry.trim();
            entry
                .parse::<IpNet>()
                .or_else(|_| entry.parse::<IpAddr>().map(IpNet::from))
                .map_err(|_| format!("{entry:?} is not a CIDR block (10.0.0.0/8) or an IP address"))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_trusted_proxy_entries_are_named() {
        let err = parse_trusted_proxies(&["10.0.0.0/8".into(), "10.0.0.0/33".into()]).unwrap_err();
        assert!(err.contains("10.0.0.0/33"), "{err}");
        assert_eq!(parse_trusted_proxies(&["192.0.2.9".into()]).unwrap().len(), 1);
    }

    #[test]
    fn defaults_are_valid_and_bad_values_are_named() {
        ServerLimits::default().validate().expect("defaults");
        let cases = [
            (ServerLimits { header_timeout_secs: 0, ..Default::default() }, "header_timeout"),
            (ServerLimits { body_timeout_secs: 7_200, ..Default::default() }, "body_timeout"),
            (ServerLimits { shutdown_grace_secs: 0, ..Default::default() }, "shutdown_grace"),
            (ServerLimits { max_connections: 0, ..Default::default() }, "max_connections"),
            (
                ServerLimits { max_connections: 10, ..Default::default() },
                "max_connections_per_client",
            ),
        ];
        for (limits, key) in cases {
            let err = limits.validate().expect_err(key).to_string();
            assert!(err.contains(key), "{err}");
        }
    }
}
