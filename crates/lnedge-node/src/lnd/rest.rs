//! LND's REST gateway as lnedge reads it: unary calls (JSON in, JSON out), streams (one
//! `{"result": …}` or `{"error": …}` object per line), the macaroon header, and LND's error
//! body `{"code", "message", "details"}`. Field encodings follow the gateway: bytes are base64,
//! 64-bit integers are decimal strings (read either way), enums are names.

use std::time::Duration;

use base64::engine::general_purpose::{STANDARD, URL_SAFE};
use base64::Engine;
use serde_json::Value;

use super::config::{Credentials, LndConfig};
use crate::error::BackendError;

/// How long a unary call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);

/// Why a call failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum RestError {
    /// LND could not be reached, or the connection broke (retrying may help).
    Transport(String),
    /// LND answered an error: HTTP status, gRPC code, LND's message.
    Lnd { status: u16, code: i64, message: String },
    /// LND answered something that is not what its API describes.
    Decode(String),
}

/// LND's answers while it cannot serve yet: its wallet is locked, or it is starting. Retrying
/// later helps, so these are [`BackendError::Unavailable`].
const NOT_READY: [&str; 3] =
    ["wallet locked", "server is still in the process of starting", "waiting to start"];

impl RestError {
    /// LND's message, when it answered one.
    pub(crate) fn lnd_message(&self) -> Option<&str> {
        match self {
            RestError::Lnd { message, .. } => Some(message),
            _ => None,
        }
    }

    /// Whether LND answered a message containing `what` (one of its documented strings).
    pub(crate) fn says(&self, what: &str) -> bool {
        self.lnd_message().is_some_and(|m| m.contains(what))
    }

    /// Whether LND said it is not ready (locked, starting): a later retry can succeed.
    pub(crate) fn not_ready(&self) -> bool {
        NOT_READY.iter().any(|n| self.says(n))
    }
}

impl std::fmt::Display for RestError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RestError::Transport(m) => write!(f, "LND unreachable: {m}"),
            RestError::Lnd { status, code, message } => {
                write!(f, "LND refused (HTTP {status}, code {code}): {message}")
            }
            RestError::Decode(m) => write!(f, "LND's answer is not what its API describes: {m}"),
        }
    }
}

impl From<RestError> for BackendError {
    fn from(e: RestError) -> Self {
        match e {
            RestError::Transport(_) => BackendError::Unavailable(e.to_string()),
            RestError::Lnd { .. } if e.not_ready() => BackendError::Unavailable(e.to_string()),
            RestError::Lnd { .. } | RestError::Decode(_) => BackendError::Node(e.to_string()),
        }
    }
}

/// The client.
#[derive(Clone)]
pub(crate) struct Rest {
    base: String,
    http: reqwest::Client,
    macaroon_hex: String,
}

impl std::fmt::Debug for Rest {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Rest").field("base", &self.base).finish_non_exhaustive()
    }
}

fn transport(e: reqwest::Error) -> RestError {
    // The source chain says why (certificate, refused, timed out…).
    let mut text = e.to_string();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        text.push_str(": ");
        text.push_str(&s.to_string());
        source = s.source();
    }
    RestError::Transport(text)
}

impl Rest {
    /// A client for `config` that trusts only LND's certificate.
    pub(crate) fn new(config: &LndConfig, creds: &Credentials) -> Result<Self, BackendError> {
        let cert = reqwest::Certificate::from_pem(&creds.cert_pem)
            .map_err(|e| BackendError::invalid("node.tls_cert", e.to_string()))?;
        let http = reqwest::Client::builder()
            .use_rustls_tls()
            .tls_built_in_root_certs(false)
            .add_root_certificate(cert)
            .connect_timeout(Duration::from_secs(10))
            .tcp_keepalive(Duration::from_secs(30))
            .build()
            .map_err(|e| BackendError::invalid("node.tls_cert", e.to_string()))?;
        Ok(Rest {
            base: config.rest_url.trim_end_matches('/').to_owned(),
            http,
            macaroon_hex: creds.macaroon_hex.clone(),
        })
    }

    fn request(&self, method: reqwest::Method, path: &str) -> reqwest::RequestBuilder {
        self.http
            .request(method, format!("{}{path}", self.base))
            .header("Grpc-Metadata-macaroon", &self.macaroon_hex)
    }

    async fn answer(response: reqwest::Response) -> Result<Value, RestError> {
        let status = response.status();
        let bytes = response.bytes().await.map_err(transport)?;
        if !status.is_success() {
            return Err(lnd_error(status.as_u16(), &bytes));
        }
        serde_json::from_slice(&bytes).map_err(|e| RestError::Decode(e.to_string()))
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Result<Value, RestError> {
        let response = self
            .request(reqwest::Method::GET, path)
            .timeout(CALL_TIMEOUT)
            .send()
            .await
            .map_err(transport)?;
        Self::answer(response).await
    }

    /// `POST path` with `body`.
    pub(crate) async fn post(&self, path: &str, body: &Value) -> Result<Value, RestError> {
        let response = self
            .request(reqwest::Method::POST, path)
            .timeout(CALL_TIMEOUT)
            .json(body)
            .send()
            .await
            .map_err(transport)?;
        Self::answer(response).await
    }

    /// Opens a stream: `GET path` (no body) or `POST path` with `body`.
    pub(crate) async fn stream(
        &self,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Lines, RestError> {
        let request = match body {
            Some(b) => self.request(reqwest::Method::POST, path).json(b),
            None => self.request(reqwest::Method::GET, path),
        };
        let response = request.send().await.map_err(transport)?;
        let status = response.status();
        if !status.is_success() {
            let bytes = response.bytes().await.map_err(transport)?;
            return Err(lnd_error(status.as_u16(), &bytes));
        }
        Ok(Lines { response, buf: Vec::new() })
    }
}

/// LND's error body, or the body's text.
fn lnd_error(status: u16, bytes: &[u8]) -> RestError {
    match serde_json::from_slice::<Value>(bytes) {
        Ok(v) => {
            let e = v.get("error").unwrap_or(&v);
            RestError::Lnd {
                status,
                code: e.get("code").and_then(Value::as_i64).unwrap_or(0),
                message: e.get("message").and_then(Value::as_str).unwrap_or_default().to_owned(),
            }
        }
        Err(_) => RestError::Lnd {
            status,
            code: 0,
            message: String::from_utf8_lossy(bytes).trim().to_owned(),
        },
    }
}

/// The messages of an open stream.
#[derive(Debug)]
pub(crate) struct Lines {
    response: reqwest::Response,
    buf: Vec<u8>,
}

impl Lines {
    /// The next message's `result`; `None` when the stream ended (LND closed it, or the
    /// connection dropped).
    pub(crate) async fn next(&mut self) -> Result<Option<Value>, RestError> {
        loop {
            if let Some(at) = self.buf.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = self.buf.drain(..=at).collect();
                let text = String::from_utf8_lossy(&line);
                if text.trim().is_empty() {
                    continue;
                }
                let v: Value = serde_json::from_str(text.trim())
                    .map_err(|e| RestError::Decode(format!("stream line: {e}")))?;
                if let Some(result) = v.get("result") {
                    return Ok(Some(result.clone()));
                }
                if let Some(error) = v.get("error") {
                    return Err(lnd_error(500, error.to_string().as_bytes()));
                }
                return Err(RestError::Decode(format!("stream line without result: {text}")));
            }
            match self.response.chunk().await.map_err(transport)? {
                Some(chunk) => self.buf.extend_from_slice(&chunk),
                None => return Ok(None),
            }
        }
    }
}

/// A uint64 field (a decimal string or a number); 0 when absent.
pub(crate) fn u64_of(v: &Value, name: &str) -> u64 {
    match v.get(name) {
        Some(Value::String(s)) => s.parse().unwrap_or(0),
        Some(Value::Number(n)) => n.as_u64().unwrap_or(0),
        _ => 0,
    }
}

/// A string field; empty when absent.
pub(crate) fn str_of<'a>(v: &'a Value, name: &str) -> &'a str {
    v.get(name).and_then(Value::as_str).unwrap_or_default()
}

/// A 32-byte field in base64 (the gateway's bytes encoding).
pub(crate) fn bytes32_of(v: &Value, name: &str) -> Option<[u8; 32]> {
    let s = v.get(name)?.as_str()?;
    STANDARD.decode(s).or_else(|_| URL_SAFE.decode(s)).ok()?.try_into().ok()
}

/// Bytes for a request body.
pub(crate) fn b64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Bytes for a URL path segment (`TrackPaymentV2`'s hash: base64url).
pub(crate) fn b64_url(bytes: &[u8]) -> String {
    URL_SAFE.encode(bytes)
}
