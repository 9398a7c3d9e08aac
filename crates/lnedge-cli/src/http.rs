//! Talking to a gateway's HTTP API.
//!
//! * [`call`]: an axum `Router` in process: one request in, its status and whole body out, with
//!   no socket in between (the demo and the gateway bench call the gateway's real router this
//!   way).
//! * [`AdminClient`]: a running gateway over the network with the operator's admin token
//!   (`lnedge card …`); a refusal comes back as [`Refused`], with the gateway's error code and
//!   message ([`ErrorBody`]).

use std::time::Duration;

use anyhow::{Context, Result};
use axum::body::Body;
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
use lnedge_wire::error::ErrorBody;
use serde::de::DeserializeOwned;
use serde::Serialize;
use tower::ServiceExt;

/// Sends `method uri` with `headers` and `body` to `router`; returns the status and the body.
pub(crate) async fn call(
    router: &Router,
    method: &str,
    uri: &str,
    headers: &[(&str, &str)],
    body: impl Into<Body>,
) -> Result<(u16, Vec<u8>)> {
    let mut request = Request::builder().method(method).uri(uri);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = router.clone().oneshot(request.body(body.into())?).await?;
    let status = response.status().as_u16();
    Ok((status, response.into_body().collect().await?.to_bytes().to_vec()))
}

/// A gateway's refusal: the HTTP status and its error body (`{"error":{code, message, field}}`),
/// or the body's text when it is not one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Refused {
    /// `POST`, `GET`…
    pub(crate) method: &'static str,
    /// The path asked for.
    pub(crate) path: String,
    /// The HTTP status.
    pub(crate) status: u16,
    /// The gateway's error code (`uid_taken`…), when the body is an [`ErrorBody`].
    pub(crate) code: Option<String>,
    /// The gateway's message, or the body's text.
    pub(crate) message: String,
    /// The request field at fault, if the gateway named one.
    pub(crate) field: Option<String>,
}

impl Refused {
    /// The refusal of `method path` with `status` and `body`.
    fn new(method: &'static str, path: &str, status: u16, body: &[u8]) -> Self {
        let (code, message, field) = match serde_json::from_slice::<ErrorBody>(body) {
            Ok(b) => (Some(b.error.code), b.error.message, b.error.field),
            Err(_) => (None, String::from_utf8_lossy(body).trim().to_owned(), None),
        };
        Refused { method, path: path.to_owned(), status, code, message, field }
    }
}

impl std::fmt::Display for Refused {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "the gateway refused {} {} ({}", self.method, self.path, self.status)?;
        if let Some(code) = &self.code {
            write!(f, " {code}")?;
        }
        write!(f, "): {}", self.message)?;
        if let Some(field) = &self.field {
            write!(f, " [field {field}]")?;
        }
        Ok(())
    }
}

impl std::error::Error for Refused {}

/// A running gateway's admin API (`Authorization: Bearer <admin token>`).
#[derive(Debug, Clone)]
pub(crate) struct AdminClient {
    base: String,
    token: String,
    http: reqwest::Client,
}

impl AdminClient {
    /// The gateway at `base` (`http://127.0.0.1:18080`) with the admin `token`.
    pub(crate) fn new(base: &str, token: &str) -> Self {
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(60))
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        AdminClient { base: base.trim_end_matches('/').to_owned(), token: token.to_owned(), http }
    }

    /// `method path` with `body` as JSON; the answer parsed as `T`, or [`Refused`] (in the
    /// error chain) when the gateway says no.
    pub(crate) async fn send<B: Serialize, T: DeserializeOwned>(
        &self,
        method: &'static str,
        path: &str,
        body: Option<&B>,
    ) -> Result<T> {
        let url = format!("{}{path}", self.base);
        let verb = reqwest::Method::from_bytes(method.as_bytes())
            .with_context(|| format!("{method} is not an HTTP method"))?;
        let mut request = self.http.request(verb, &url).bearer_auth(&self.token);
        if let Some(body) = body {
            request = request.json(body);
        }
        let response = request
            .send()
            .await
            .with_context(|| format!("cannot reach the gateway: {method} {url}"))?;
        let status = response.status();
        let bytes = response
            .bytes()
            .await
            .with_context(|| format!("reading the answer to {method} {url}"))?;
        if !status.is_success() {
            return Err(Refused::new(method, path, status.as_u16(), &bytes).into());
        }
        serde_json::from_slice(&bytes).with_context(|| {
            format!(
                "the gateway's answer to {method} {path} is not what was expected: {}",
                String::from_utf8_lossy(&bytes)
            )
        })
    }

    /// `GET path`.
    pub(crate) async fn get<T: DeserializeOwned>(&self, path: &str) -> Result<T> {
        self.send::<(), T>("GET", path, None).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use axum::http::{HeaderMap, StatusCode};
    use axum::routing::post;

    #[tokio::test]
    async fn one_request_in_status_and_body_out() -> Result<()> {
        let router = Router::new().route(
            "/echo",
            post(|headers: HeaderMap, body: String| async move {
                let greeting = headers.get("x-greeting").and_then(|v| v.to_str().ok());
                (StatusCode::CREATED, format!("{} {body}", greeting.unwrap_or("?")))
            }),
        );
        let (status, body) =
            call(&router, "POST", "/echo", &[("x-greeting", "hi")], "there").await?;
        assert_eq!((status, body.as_slice()), (201, &b"hi there"[..]));
        let (status, _) = call(&router, "GET", "/nowhere", &[], Body::empty()).await?;
        assert_eq!(status, 404);
        Ok(())
    }

    #[test]
    fn a_refusal_names_the_code_message_and_field() {
        let body = br#"{"error":{"code":"invalid_field","message":"name: empty","field":"name"}}"#;
        let refused = Refused::new("POST", "/v1/cards", 400, body);
        assert_eq!(refused.code.as_deref(), Some("invalid_field"));
        assert_eq!(
            refused.to_string(),
            "the gateway refused POST /v1/cards (400 invalid_field): name: empty [field name]"
        );
        let refused = Refused::new("GET", "/v1/cards", 502, b"Bad Gateway\n");
        assert_eq!(refused.to_string(), "the gateway refused GET /v1/cards (502): Bad Gateway");
    }
}
