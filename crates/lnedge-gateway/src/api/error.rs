//! The API's errors: every failure is a JSON body `{"error":{"code","message"[,"field"]}}`
//! ([`ErrorBody`]) with the status that tells the caller whose mistake it was. Real failures are logged once and
//! answered with an opaque 500.

use axum::extract::rejection::{BytesRejection, PathRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use lnedge_wire::error::ErrorBody;
use lnedge_wire::lnurl::StatusResponse;

use crate::provision::ProvisionError;
use crate::store::StoreError;

/// An error answered to an API caller.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ApiError {
    /// The HTTP status.
    pub status: StatusCode,
    /// A stable machine-readable code (`unknown_device`, `invalid_field`…).
    pub code: &'static str,
    /// What was wrong, for a human.
    pub message: String,
    /// The request field at fault, when there is one (`products[0].price_msat`).
    pub field: Option<String>,
}

impl ApiError {
    /// An error with a status, a code and a message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError { status, code, message: message.into(), field: None }
    }

    /// 400: a field of the request is missing or malformed.
    pub fn field(field: impl Into<String>, message: impl Into<String>) -> Self {
        let field = field.into();
        let message = format!("{field}: {}", message.into());
        ApiError {
            field: Some(field),
            ..Self::new(StatusCode::BAD_REQUEST, "invalid_field", message)
        }
    }

    /// 400: the body is not the JSON the route expects.
    pub fn malformed(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "malformed_json", message)
    }

    /// 401: missing or wrong credentials.
    pub fn unauthorized(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, code, message)
    }

    /// 404: no such route.
    pub fn route_not_found() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route")
    }

    /// 405: the route exists, not with this method.
    pub fn method_not_allowed() -> Self {
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            "method_not_allowed",
            "method not allowed on this route",
        )
    }

    /// 422: the request is well formed but cannot be carried out.
    pub fn unprocessable(code: &'static str, message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, code, message)
    }

    /// 500: a real failure. `detail` is logged here, once, and never sent to the caller.
    pub fn internal(context: &str, detail: &dyn std::fmt::Display) -> Self {
        tracing::error!(%detail, "{context}");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "internal error (logged by the gateway)",
        )
    }
}

impl std::fmt::Display for ApiError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{} {}: {}", self.status.as_u16(), self.code, self.message)
    }
}

impl std::error::Error for ApiError {}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(ErrorBody::new(self.code, self.message, self.field))).into_response()
    }
}

impl ApiError {
    /// A client over a rate limit: 429 with `code` and `message` plus when to retry; a store
    /// that could not tell answers as the store's error.
    pub(crate) fn limited(e: crate::limits::LimitError, code: &'static str, message: &str) -> Self {
        match e {
            crate::limits::LimitError::Limited(l) => ApiError::new(
                StatusCode::TOO_MANY_REQUESTS,
                code,
                format!("{message}; try again in {} s", l.retry_after_secs),
            ),
            crate::limits::LimitError::Store(e) => e.into(),
        }
    }
}

impl From<crate::refunds::RefundError> for ApiError {
    fn from(e: crate::refunds::RefundError) -> Self {
        use crate::refunds::RefundError as E;
        match e {
            E::Invalid { field, message } => ApiError::field(field, message),
            E::Proof(f) => ApiError::unprocessable(f.code, f.message),
            E::Refused { code: "refund_expired", message } => {
                ApiError::new(StatusCode::GONE, "refund_expired", message)
            }
            E::Refused { code, message } => ApiError::new(StatusCode::CONFLICT, code, message),
            E::Node(e) => ApiError::new(
                StatusCode::BAD_GATEWAY,
                "lightning_node_failed",
                format!("the owner's node did not answer: {e}"),
            ),
            E::Store(e) => e.into(),
            E::Internal(detail) => ApiError::internal("refunds", &detail),
        }
    }
}

impl From<crate::pools::PoolError> for ApiError {
    fn from(e: crate::pools::PoolError) -> Self {
        use crate::accounting::FiatError;
        use crate::pools::PoolError as E;
        match e {
            E::Invalid { field, message } => ApiError::field(field, message),
            E::UnknownDevice(_) => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_device", e.to_string())
            }
            E::UnknownPool { .. } => {
                ApiError::new(StatusCode::NOT_FOUND, "unknown_pool", e.to_string())
            }
            E::DeviceDisabled(_) => {
                ApiError::new(StatusCode::CONFLICT, "device_disabled", e.to_string())
            }
            E::NoProducts(_) => ApiError::unprocessable("no_products", e.to_string()),
            E::Fiat(FiatError::RateUnavailable(m)) => {
                ApiError::unprocessable("rate_unavailable", m)
            }
            E::Fiat(FiatError::OutOfRange(m)) => ApiError::unprocessable("price_out_of_range", m),
            E::Provision(p) => p.into(),
            E::Store(s) => s.into(),
            E::Internal(detail) => ApiError::internal("provisioning", &detail),
        }
    }
}

impl From<crate::sync::SyncError> for ApiError {
    fn from(e: crate::sync::SyncError) -> Self {
        use crate::sync::SyncError as E;
        let message = e.to_string();
        match e {
            E::UnknownDevice(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_device", message),
            E::MissingSignature => ApiError::unauthorized(
                "missing_signature",
                format!("the {} header is required on sync uploads", lnedge_wire::SIGNATURE_HEADER),
            ),
            E::BadSignature => ApiError::unauthorized("bad_signature", message),
            E::DeviceDisabled(_) => {
                ApiError::new(StatusCode::FORBIDDEN, "device_disabled", message)
            }
            E::TooManyReports => ApiError::field("reports", message),
            E::CounterOutOfRange(_) => ApiError::field("counter", message),
            E::Replayed { .. } => ApiError::new(StatusCode::CONFLICT, "replayed_sync", message),
            E::UnknownPool(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_pool", message),
            E::PoolOfAnotherDevice(_) => ApiError::unprocessable("pool_of_another_device", message),
            E::UnknownEntry { .. } => ApiError::unprocessable("unknown_entry", message),
            E::Store(s) => s.into(),
        }
    }
}

impl From<crate::fleet::FleetError> for ApiError {
    fn from(e: crate::fleet::FleetError) -> Self {
        use crate::fleet::FleetError as E;
        let message = e.to_string();
        match e {
            E::Invalid { field, message } => ApiError::field(field, message),
            E::DuplicateProduct(_) => ApiError::unprocessable("duplicate_product", message),
            E::UnknownDevice(_) => ApiError::new(StatusCode::NOT_FOUND, "unknown_device", message),
            E::Store(s) => s.into(),
        }
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        use StatusCode as S;
        let msg = e.to_string();
        match e {
            StoreError::UnknownDevice(_) => Self::new(S::NOT_FOUND, "unknown_device", msg),
            StoreError::UnknownPool(_) => Self::new(S::NOT_FOUND, "unknown_pool", msg),
            StoreError::DuplicateDevice(_) => Self::new(S::CONFLICT, "duplicate_device", msg),
            StoreError::DuplicatePool(_) => Self::new(S::CONFLICT, "duplicate_pool", msg),
            StoreError::HashTaken => Self::new(S::CONFLICT, "hash_taken", msg),
            StoreError::UidTaken => Self::new(S::CONFLICT, "uid_taken", msg),
            StoreError::Conflict => Self::new(
                S::SERVICE_UNAVAILABLE,
                "busy",
                "the record changed under a concurrent update; retry",
            ),
            other => Self::internal("store failed", &other),
        }
    }
}

impl From<ProvisionError> for ApiError {
    fn from(e: ProvisionError) -> Self {
        match e {
            ProvisionError::InvalidPlan(m) => Self::unprocessable("invalid_plan", m),
            ProvisionError::Backend { .. } => {
                tracing::error!(error = %e, "provisioning: the owner's node failed");
                Self::new(
                    StatusCode::BAD_GATEWAY,
                    "lightning_node_failed",
                    "the owner's Lightning node failed while creating invoices (logged by the gateway)",
                )
            }
            other => Self::internal("provisioning failed", &other),
        }
    }
}

impl From<BytesRejection> for ApiError {
    fn from(r: BytesRejection) -> Self {
        let status = r.status();
        if status == StatusCode::PAYLOAD_TOO_LARGE {
            Self::new(status, "body_too_large", "the request body is over the size limit")
        } else if status.is_client_error() {
            Self::new(status, "bad_body", r.body_text())
        } else {
            Self::internal("reading a request body failed", &r.body_text())
        }
    }
}

impl From<PathRejection> for ApiError {
    fn from(r: PathRejection) -> Self {
        if r.status().is_server_error() {
            Self::internal("path extraction failed", &r.body_text())
        } else {
            Self::new(StatusCode::BAD_REQUEST, "invalid_path", r.body_text())
        }
    }
}

impl From<QueryRejection> for ApiError {
    fn from(r: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", r.body_text())
    }
}

/// Parses a JSON body, naming the field at fault: `missing field `name``,
/// `products[0].price_msat: invalid type…`.
pub fn parse_json<T: serde::de::DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    let de = &mut serde_json::Deserializer::from_slice(body);
    match serde_path_to_error::deserialize::<_, T>(de) {
        Ok(v) => Ok(v),
        Err(e) => {
            let path = e.path().to_string();
            let inner = e.into_inner();
            let text = inner.to_string();
            // serde_json reports a missing field at the level of its parent.
            if let Some(name) =
                text.strip_prefix("missing field `").and_then(|t| t.split('`').next())
            {
                let field = if path == "." { name.to_owned() } else { format!("{path}.{name}") };
                return Err(ApiError::field(field, "missing"));
            }
            match inner.classify() {
                serde_json::error::Category::Data if path != "." => {
                    Err(ApiError::field(path, text))
                }
                _ => Err(ApiError::malformed(format!("the body is not valid JSON: {text}"))),
            }
        }
    }
}

impl IntoResponse for crate::lnurl::LnurlError {
    fn into_response(self) -> Response {
        Json(StatusResponse::error(self.code, self.reason)).into_response()
    }
}

/// The LUD-01 success answer of callbacks: `{"status":"OK"}`.
pub(crate) fn lnurl_ok() -> Response {
    Json(StatusResponse::ok()).into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Outer {
        name: String,
        items: Vec<Inner>,
    }

    #[derive(Debug, serde::Deserialize)]
    #[allow(dead_code)]
    struct Inner {
        price_msat: u64,
    }

    #[test]
    fn json_errors_name_the_field() {
        let err = parse_json::<Outer>(br#"{"items":[]}"#).expect_err("missing");
        assert_eq!((err.status, err.field.as_deref()), (StatusCode::BAD_REQUEST, Some("name")));
        let err = parse_json::<Outer>(br#"{"name":"a","items":[{}]}"#).expect_err("nested missing");
        assert_eq!(err.field.as_deref(), Some("items[0].price_msat"));
        let err =
            parse_json::<Outer>(br#"{"name":"a","items":[{"price_msat":-1}]}"#).expect_err("type");
        assert_eq!(err.field.as_deref(), Some("items[0].price_msat"));
        let err = parse_json::<Outer>(b"{nope").expect_err("syntax");
        assert_eq!((err.code, err.field), ("malformed_json", None));
    }

    #[test]
    fn store_errors_map_to_caller_statuses_and_backend_failures_to_opaque_500s() {
        let replay = crate::sync::SyncError::Replayed { counter: 1, last: 2 };
        assert_eq!(ApiError::from(replay).status, StatusCode::CONFLICT);
        assert_eq!(ApiError::from(StoreError::Conflict).status, StatusCode::SERVICE_UNAVAILABLE);
        let e = ApiError::from(StoreError::Backend("password=hunter2".into()));
        assert_eq!(e.status, StatusCode::INTERNAL_SERVER_ERROR);
        assert!(!e.message.contains("hunter2"));
    }
}
