//! [`PayeeClient`]: the payee's signed HTTP calls to the gateway.

use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Serialize;

use lnedge_wire::relay::{
    ClaimAccepted, ClaimRequest, CommitRequest, CommitResult, PendingList, RegisterRequest,
    Registration, WakeRequest, WakeResult,
};
use lnedge_wire::sign::sign_request;
use lnedge_wire::{SIGNATURE_HEADER, TIMESTAMP_HEADER};

/// Why a call to the gateway failed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The gateway could not be reached or answered unreadably.
    #[error("{method} {url}: {source}")]
    Http {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The error.
        #[source]
        source: reqwest::Error,
    },
    /// The gateway refused the request.
    #[error("{method} {url}: the gateway answered {status}: {body}")]
    Refused {
        /// The method.
        method: &'static str,
        /// The URL.
        url: String,
        /// The HTTP status.
        status: u16,
        /// The error body.
        body: String,
    },
}

/// A payee's client of the gateway. The key is secret (not shown by `Debug`).
#[derive(Clone)]
pub struct PayeeClient {
    base_url: String,
    payee_id: String,
    key: zeroize::Zeroizing<[u8; 32]>,
    http: reqwest::Client,
}

impl std::fmt::Debug for PayeeClient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PayeeClient")
            .field("base_url", &self.base_url)
            .field("payee_id", &self.payee_id)
            .field("key", &"<secret>")
            .finish()
    }
}

fn http_client() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(Duration::from_secs(30))
        .build()
        .unwrap_or_else(|_| reqwest::Client::new())
}

async fn answer<T: DeserializeOwned>(
    method: &'static str,
    url: &str,
    sent: Result<reqwest::Response, reqwest::Error>,
) -> Result<T, ClientError> {
    let http = |source| ClientError::Http { method, url: url.to_owned(), source };
    let response = sent.map_err(http)?;
    let status = response.status();
    if !status.is_success() {
        let body = response.text().await.unwrap_or_default();
        return Err(ClientError::Refused {
            method,
            url: url.to_owned(),
            status: status.as_u16(),
            body,
        });
    }
    response.json().await.map_err(http)
}

/// Registers a payee with the gateway's admin token (`POST /v1/payees`).
pub async fn register(
    base_url: &str,
    admin_token: &str,
    name: &str,
) -> Result<Registration, ClientError> {
    let url = format!("{}/v1/payees", base_url.trim_end_matches('/'));
    let sent = http_client()
        .post(&url)
        .bearer_auth(admin_token)
        .json(&RegisterRequest { name: name.to_owned() })
        .send()
        .await;
    answer("POST", &url, sent).await
}

impl PayeeClient {
    /// A client for payee `payee_id` with its key, talking to the gateway at `base_url`.
    pub fn new(base_url: &str, payee_id: &str, key: [u8; 32]) -> Self {
        PayeeClient {
            base_url: base_url.trim_end_matches('/').to_owned(),
            payee_id: payee_id.to_owned(),
            key: zeroize::Zeroizing::new(key),
            http: http_client(),
        }
    }

    /// The payee's id.
    pub fn payee_id(&self) -> &str {
        &self.payee_id
    }

    async fn call<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &'static str,
        suffix: &str,
        body: Option<&B>,
    ) -> Result<T, ClientError> {
        let path = format!("/v1/payees/{}/{suffix}", self.payee_id);
        let url = format!("{}{path}", self.base_url);
        let bytes = match body {
            Some(b) => serde_json::to_vec(b).expect("wire types serialize"),
            None => Vec::new(),
        };
        let timestamp = now_secs();
        let signature = sign_request(&self.key, method, &path, timestamp, &bytes);
        let verb = reqwest::Method::from_bytes(method.as_bytes()).expect("a valid method");
        let mut request = self
            .http
            .request(verb, &url)
            .header(TIMESTAMP_HEADER, timestamp.to_string())
            .header(SIGNATURE_HEADER, signature);
        if body.is_some() {
            request = request.header("content-type", "application/json").body(bytes);
        }
        answer(method, &url, request.send().await).await
    }

    /// Commits to payment hashes (`POST /v1/payees/{id}/hashes`).
    pub async fn commit_hashes(&self, hashes: &[[u8; 32]]) -> Result<CommitResult, ClientError> {
        let body = CommitRequest { payment_hashes: hashes.iter().map(hex::encode).collect() };
        self.call("POST", "hashes", Some(&body)).await
    }

    /// Sets (or clears) the wake-up webhook (`PUT /v1/payees/{id}/wake`).
    pub async fn set_webhook(&self, webhook_url: Option<&str>) -> Result<WakeResult, ClientError> {
        let body = WakeRequest { webhook_url: webhook_url.map(str::to_owned) };
        self.call("PUT", "wake", Some(&body)).await
    }

    /// What is waiting (`GET /v1/payees/{id}/pending`).
    pub async fn pending(&self) -> Result<PendingList, ClientError> {
        self.call::<(), _>("GET", "pending", None).await
    }

    /// Hands in an invoice for a held payment (`POST /v1/payees/{id}/claims`).
    pub async fn claim(&self, bolt11: &str) -> Result<ClaimAccepted, ClientError> {
        self.call("POST", "claims", Some(&ClaimRequest { bolt11: bolt11.to_owned() })).await
    }
}

/// Seconds since the Unix epoch (the payee's clock, for signed timestamps).
fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}
