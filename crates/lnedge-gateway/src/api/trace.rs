//! The request log: method, route and path, with the values of secret query parameters
//! replaced, at every level.
//!
//! Some LNURL flows put a secret in the query string because the LUDs say so: a refund's `k1`
//! (LUD-03: whoever holds it can claim the refund), an LNURL-auth `k1` until it is answered,
//! and the deputy fallback's `preimage` (LUD-09 wallets that cannot show a success action). The
//! default trace layer logs the whole URI at `debug`; this one never writes those values.

use axum::http::{Request, Uri};
use tower_http::trace::{MakeSpan, TraceLayer};

/// Query parameters whose values are never logged.
/// A card's `pin`, and a card reading's `p` and `c` (a reading refused unused could be replayed
/// once the card pays again) are secret too.
pub const SECRET_PARAMS: &[&str] = &["k1", "preimage", "token", "secret", "sig", "pin", "p", "c"];

/// Paths whose last segment is a secret (a card's one-time programming code).
pub const SECRET_PATH_PREFIXES: &[&str] = &["/v1/cards/program/", "/v1/cards/reset/"];

/// `uri`'s path and query with the value of every [`SECRET_PARAMS`] parameter, and the secret
/// segment of a [`SECRET_PATH_PREFIXES`] path, replaced by `***`.
pub fn redacted(uri: &Uri) -> String {
    let path = match SECRET_PATH_PREFIXES.iter().find(|p| uri.path().starts_with(*p)) {
        Some(prefix) => format!("{prefix}***"),
        None => uri.path().to_owned(),
    };
    let Some(query) = uri.query() else { return path };
    let query: Vec<String> = query
        .split('&')
        .map(|pair| match pair.split_once('=') {
            Some((name, _)) if SECRET_PARAMS.iter().any(|s| s.eq_ignore_ascii_case(name)) => {
                format!("{name}=***")
            }
            _ => pair.to_owned(),
        })
        .collect();
    format!("{path}?{}", query.join("&"))
}

/// The span of one request: method and redacted URI.
#[derive(Debug, Clone, Copy, Default)]
pub struct RedactedSpan;

impl<B> MakeSpan<B> for RedactedSpan {
    fn make_span(&mut self, request: &Request<B>) -> tracing::Span {
        tracing::debug_span!("request", method = %request.method(), uri = %redacted(request.uri()))
    }
}

/// The gateway's request trace layer.
pub fn layer() -> TraceLayer<
    tower_http::classify::SharedClassifier<tower_http::classify::ServerErrorsAsFailures>,
    RedactedSpan,
> {
    TraceLayer::new_for_http().make_span_with(RedactedSpan)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secret_values_never_reach_the_log() {
        let uri: Uri = "/v1/refunds/claim?k1=deadbeef&pr=lnbc1xyz&K1=cafe".parse().unwrap();
        assert_eq!(redacted(&uri), "/v1/refunds/claim?k1=***&pr=lnbc1xyz&K1=***");
        let uri: Uri = "/v1/deputy/claim?invoice=lnbc1&preimage=00ff".parse().unwrap();
        assert_eq!(redacted(&uri), "/v1/deputy/claim?invoice=lnbc1&preimage=***");
        let uri: Uri = "/healthz".parse().unwrap();
        assert_eq!(redacted(&uri), "/healthz");
        let uri: Uri = "/v1/card/callback?k1=ab&pr=lnbc1&pin=1234".parse().unwrap();
        assert_eq!(redacted(&uri), "/v1/card/callback?k1=***&pr=lnbc1&pin=***");
        let uri: Uri = "/v1/card?p=0011&c=2233".parse().unwrap();
        assert_eq!(redacted(&uri), "/v1/card?p=***&c=***");
        let uri: Uri = "/v1/cards/program/00112233445566778899aabbccddeeff".parse().unwrap();
        assert_eq!(redacted(&uri), "/v1/cards/program/***");
        let uri: Uri = "/v1/cards/reset/00112233445566778899aabbccddeeff".parse().unwrap();
        assert_eq!(redacted(&uri), "/v1/cards/reset/***");
        let uri: Uri = "/x?flag&k1".parse().unwrap();
        assert_eq!(redacted(&uri), "/x?flag&k1", "a name without a value has nothing to hide");
    }
}
