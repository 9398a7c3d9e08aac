//! Calling an axum `Router` in process: one request in, its status and whole body out, with no
//! socket in between (the demo and the gateway bench call the gateway's real router this way).

use anyhow::Result;
use axum::body::Body;
use axum::http::Request;
use axum::Router;
use http_body_util::BodyExt;
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
}
