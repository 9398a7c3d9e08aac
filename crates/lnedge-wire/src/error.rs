//! The error body of every gateway API failure: `{"error":{"code","message"[,"field"]}}`, with
//! the HTTP status telling whose mistake it was (the gateway's `ApiError` maps each failure).

use serde::{Deserialize, Serialize};

/// The JSON body of a failed API call: `{"error": {...}}`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorBody {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// What went wrong: a stable code, a message for a human and, for a malformed request, the
/// field at fault. Also the `error` of a failed provisioning [`Job`](crate::pools::Job).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorDetail {
    /// A stable machine-readable code (`unknown_device`, `invalid_field`…).
    pub code: String,
    /// What was wrong, for a human.
    pub message: String,
    /// The request field at fault (`products[0].price_msat`); absent when there is none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
}

impl ErrorBody {
    /// The body of an error with this code, message and field.
    pub fn new(code: impl Into<String>, message: impl Into<String>, field: Option<String>) -> Self {
        ErrorBody { error: ErrorDetail { code: code.into(), message: message.into(), field } }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_field_is_left_out_when_there_is_none() {
        let body = ErrorBody::new("not_found", "no such route", None);
        assert_eq!(
            serde_json::to_string(&body).expect("serializes"),
            r#"{"error":{"code":"not_found","message":"no such route"}}"#
        );
        let body = ErrorBody::new("invalid_field", "name: missing", Some("name".into()));
        let text = serde_json::to_string(&body).expect("serializes");
        assert_eq!(
            text,
            r#"{"error":{"code":"invalid_field","message":"name: missing","field":"name"}}"#
        );
        assert_eq!(serde_json::from_str::<ErrorBody>(&text).expect("parses"), body);
    }
}
