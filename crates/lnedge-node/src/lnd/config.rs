//! [`LndConfig`]: how to reach an operator's LND (its REST gateway, `restlisten`), and the
//! credentials it asks for, checked at start with errors that name the configuration key.

use std::path::{Path, PathBuf};

use crate::error::BackendError;

/// How to reach LND.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LndConfig {
    /// `node.rest_url`: LND's REST address, `https://host:8080` (LND's `restlisten`).
    pub rest_url: String,
    /// `node.tls_cert`: LND's `tls.cert` (PEM): the only certificate trusted for `rest_url`.
    pub tls_cert: PathBuf,
    /// `node.macaroon`: a macaroon file (binary, as LND writes `admin.macaroon`), with at least
    /// `info:read`, `invoices:read`, `invoices:write`, `offchain:read`, `offchain:write`.
    pub macaroon: PathBuf,
    /// Where the backend keeps its store (invoices, preimages, the event queue, stream cursors).
    pub data_dir: PathBuf,
}

/// The credentials read from the files named by an [`LndConfig`].
#[derive(Clone)]
pub(crate) struct Credentials {
    pub(crate) cert_pem: Vec<u8>,
    pub(crate) macaroon_hex: String,
}

impl std::fmt::Debug for Credentials {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credentials").finish_non_exhaustive()
    }
}

fn bad(key: &'static str, path: &Path, problem: impl std::fmt::Display) -> BackendError {
    BackendError::invalid(key, format!("{}: {problem}", path.display()))
}

impl LndConfig {
    /// Checks the URL and reads the certificate and the macaroon; each error names its key.
    pub(crate) fn credentials(&self) -> Result<Credentials, BackendError> {
        check_url(&self.rest_url)?;
        let cert_pem =
            std::fs::read(&self.tls_cert).map_err(|e| bad("node.tls_cert", &self.tls_cert, e))?;
        if !String::from_utf8_lossy(&cert_pem).contains("-----BEGIN CERTIFICATE-----") {
            return Err(bad(
                "node.tls_cert",
                &self.tls_cert,
                "not a PEM certificate (LND's tls.cert starts with -----BEGIN CERTIFICATE-----)",
            ));
        }
        reqwest::Certificate::from_pem(&cert_pem).map_err(|e| {
            bad("node.tls_cert", &self.tls_cert, format!("unreadable certificate: {e}"))
        })?;
        let macaroon =
            std::fs::read(&self.macaroon).map_err(|e| bad("node.macaroon", &self.macaroon, e))?;
        if macaroon.is_empty() {
            return Err(bad("node.macaroon", &self.macaroon, "empty file"));
        }
        // A macaroon written as hex text (as `lncli bakemacaroon` prints it) is accepted too.
        let text = String::from_utf8_lossy(&macaroon);
        let macaroon_hex =
            if text.trim().len() % 2 == 0 && text.trim().bytes().all(|b| b.is_ascii_hexdigit()) {
                text.trim().to_ascii_lowercase()
            } else {
                hex::encode(&macaroon)
            };
        Ok(Credentials { cert_pem, macaroon_hex })
    }
}

/// `rest_url` must be an `https://host:port` URL (LND serves REST over TLS only).
fn check_url(rest_url: &str) -> Result<(), BackendError> {
    let rest = rest_url.strip_prefix("https://").ok_or_else(|| {
        BackendError::invalid(
            "node.rest_url",
            format!("{rest_url:?}: must be https://host:port (LND serves REST over TLS)"),
        )
    })?;
    if rest.trim_end_matches('/').is_empty() || rest.contains(char::is_whitespace) {
        return Err(BackendError::invalid("node.rest_url", format!("{rest_url:?}: no host")));
    }
    Ok(())
}
