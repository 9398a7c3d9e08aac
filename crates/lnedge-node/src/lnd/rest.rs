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
            .send_repeatable(|| self.request(reqwest::Method::GET, path).timeout(CALL_TIMEOUT))
            .await?;
        Self::answer(response).await
    }

    /// `POST path` with `body`, for a call LND may receive twice with the same effect (settle
    /// and cancel of a hold invoice: a second one answers "already settled/canceled", which
    /// the callers read as done).
    pub(crate) async fn post_repeatable(
        &self,
        path: &str,
        body: &Value,
    ) -> Result<Value, RestError> {
        let response = self
            .send_repeatable(|| {
                self.request(reqwest::Method::POST, path).timeout(CALL_TIMEOUT).json(body)
            })
            .await?;
        Self::answer(response).await
    }

    /// Sends a request that may be sent twice, once more when the first try got no answer at
    /// all: a kept-alive connection that LND closed (a restart, a proxy's idle timeout) can be
    /// taken from the pool just as it goes, and the request then fails without reaching LND.
    /// A timeout is not retried (the call may still be running there).
    async fn send_repeatable(
        &self,
        build: impl Fn() -> reqwest::RequestBuilder,
    ) -> Result<reqwest::Response, RestError> {
        match build().send().await {
            Err(e) if !e.is_timeout() && e.status().is_none() => {
                tracing::debug!(error = %transport(e), "LND call failed without an answer; once more");
                build().send().await.map_err(transport)
            }
            sent => sent.map_err(transport),
        }
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

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    /// A plain-HTTP server that reads the first connection's request and closes it unanswered
    /// (what a kept-alive connection to a restarting LND looks like), then answers `{}` to
    /// every later request. Returns its URL and the number of connections it accepted.
    async fn drops_the_first_connection() -> (String, std::sync::Arc<std::sync::atomic::AtomicUsize>)
    {
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = accepted.clone();
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let n = count.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let mut buf = [0u8; 4096];
                let _ = socket.read(&mut buf).await;
                if n > 0 {
                    let answer = "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: 2\r\nconnection: close\r\n\r\n{}";
                    let _ = socket.write_all(answer.as_bytes()).await;
                }
                drop(socket);
            }
        });
        (url, accepted)
    }

    fn client(base: String) -> Rest {
        Rest { base, http: reqwest::Client::new(), macaroon_hex: "00".into() }
    }

    #[tokio::test]
    async fn a_read_that_got_no_answer_is_sent_once_more() {
        let (url, accepted) = drops_the_first_connection().await;
        let answer = client(url).get("/v1/getinfo").await.expect("the second try is answered");
        assert_eq!(answer, serde_json::json!({}));
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn a_repeatable_post_is_sent_once_more_and_a_plain_one_is_not() {
        let (url, accepted) = drops_the_first_connection().await;
        let body = serde_json::json!({"preimage": "AA=="});
        let plain = client(url.clone()).post("/v1/invoices", &body).await;
        assert!(matches!(plain, Err(RestError::Transport(_))), "{plain:?}");
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 1);
        let (url, accepted) = drops_the_first_connection().await;
        let settle = client(url).post_repeatable("/v2/invoices/settle", &body).await;
        assert_eq!(settle.expect("answered"), serde_json::json!({}));
        assert_eq!(accepted.load(std::sync::atomic::Ordering::SeqCst), 2);
    }
}
