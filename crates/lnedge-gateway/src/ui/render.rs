//! Templates, the page frame, error pages, and the formatting every page shares (amounts,
//! times).

use std::sync::OnceLock;

use axum::http::{header, StatusCode};
use axum::response::{Html, IntoResponse, Response};
use minijinja::{context, Environment, Value};

use crate::operators::{OperatorError, Session};

/// The templates, compiled once. Names ending in `.html` are HTML-escaped automatically.
fn templates() -> &'static Environment<'static> {
    static ENV: OnceLock<Environment<'static>> = OnceLock::new();
    ENV.get_or_init(|| {
        let mut env = Environment::new();
        for (name, source) in [
            ("base.html", include_str!("templates/base.html")),
            ("login.html", include_str!("templates/login.html")),
            ("lnurl_login.html", include_str!("templates/lnurl_login.html")),
            ("account.html", include_str!("templates/account.html")),
            ("lists.html", include_str!("templates/lists.html")),
            ("card_issued.html", include_str!("templates/card_issued.html")),
            ("card.html", include_str!("templates/card.html")),
            ("card_wiped.html", include_str!("templates/card_wiped.html")),
            ("error.html", include_str!("templates/error.html")),
            ("overview.html", include_str!("templates/overview.html")),
            ("devices.html", include_str!("templates/devices.html")),
            ("device.html", include_str!("templates/device.html")),
            ("job.html", include_str!("templates/job.html")),
            ("sales.html", include_str!("templates/sales.html")),
            ("audit.html", include_str!("templates/audit.html")),
        ] {
            // The templates are part of the binary and tested: one that does not parse is a
            // bug caught by every UI test, so failing here is loud but never silent.
            if let Err(e) = env.add_template(name, source) {
                tracing::error!(template = name, error = %e, "dashboard template does not parse");
            }
        }
        env
    })
}

/// A page to render: a template, its values, and the session it is for.
pub(crate) struct Page<'a> {
    template: &'static str,
    session: Option<&'a Session>,
    status: StatusCode,
    values: Value,
}

impl<'a> Page<'a> {
    /// `template` with `values` (a `minijinja::context!`), for `session`'s operator.
    pub(crate) fn new(template: &'static str, session: Option<&'a Session>, values: Value) -> Self {
        Page { template, session, status: StatusCode::OK, values }
    }

    /// The same page with another status code.
    pub(crate) fn status(mut self, status: StatusCode) -> Self {
        self.status = status;
        self
    }
}

impl IntoResponse for Page<'_> {
    fn into_response(self) -> Response {
        let me = self.session.map(|s| {
            context! { name => s.operator, role => s.role.as_str(), admin => s.is_admin(),
            csrf => s.csrf_token }
        });
        let rendered = templates()
            .get_template(self.template)
            .and_then(|t| t.render(context! { me => me, ..self.values }));
        match rendered {
            Ok(html) => (self.status, Html(html)).into_response(),
            Err(e) => {
                tracing::error!(template = self.template, error = %e, "rendering a dashboard page");
                (StatusCode::INTERNAL_SERVER_ERROR, "the page could not be rendered")
                    .into_response()
            }
        }
    }
}

/// The status an operator error answers with.
fn status_of(e: &OperatorError) -> StatusCode {
    match e {
        OperatorError::InvalidName(_)
        | OperatorError::PasswordLength { .. }
        | OperatorError::InvalidLinkingKey(_) => StatusCode::BAD_REQUEST,
        OperatorError::NameTaken(_) | OperatorError::LinkingKeyTaken => StatusCode::CONFLICT,
        OperatorError::NotSignedYet => StatusCode::ACCEPTED,
        OperatorError::UnknownLinkingKey(_) => StatusCode::UNAUTHORIZED,
        OperatorError::UnknownOperator(_) => StatusCode::NOT_FOUND,
        OperatorError::BadCredentials | OperatorError::NoSession => StatusCode::UNAUTHORIZED,
        OperatorError::Forbidden { .. } | OperatorError::BadCsrf => StatusCode::FORBIDDEN,
        OperatorError::Limited(_) => StatusCode::TOO_MANY_REQUESTS,
        OperatorError::Hashing(_) | OperatorError::Store(_) => StatusCode::INTERNAL_SERVER_ERROR,
    }
}

/// An error page for an operator error (a store failure is logged and not detailed).
pub(crate) fn error_page(session: Option<&Session>, e: &OperatorError) -> Response {
    let status = status_of(e);
    let message = if status == StatusCode::INTERNAL_SERVER_ERROR {
        tracing::error!(error = %e, "dashboard request failed");
        "the gateway could not do this (its log says why); try again".to_owned()
    } else {
        e.to_string()
    };
    let mut response = message_page(session, status, &message);
    if let OperatorError::Limited(l) = e {
        if let Ok(v) = l.retry_after_secs.to_string().parse() {
            response.headers_mut().insert(header::RETRY_AFTER, v);
        }
    }
    response
}

/// An error page for an engine error the JSON API also answers (its status and message: one
/// mapping for both).
pub(crate) fn api_error_page(
    session: Option<&Session>,
    e: impl Into<crate::api::ApiError>,
) -> Response {
    let e = e.into();
    let message = match &e.field {
        Some(field) if !e.message.starts_with(field.as_str()) => format!("{field}: {}", e.message),
        _ => e.message.clone(),
    };
    message_page(session, e.status, &message)
}

/// An error page saying `message` with `status`.
pub(crate) fn message_page(
    session: Option<&Session>,
    status: StatusCode,
    message: &str,
) -> Response {
    Page::new(
        "error.html",
        session,
        context! { title => status.canonical_reason().unwrap_or("Error"), status => status.as_u16(),
        message => message },
    )
    .status(status)
    .into_response()
}

/// `12,345 sat` (millisatoshis shown in whole satoshis, rounded down; below one sat in msat).
pub(crate) fn sats(msat: u64) -> String {
    if msat > 0 && msat < 1_000 {
        return format!("{msat} msat");
    }
    format!("{} sat", grouped(msat / 1_000))
}

/// `1,234,567`.
pub(crate) fn grouped(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// `2026-12-07 13:05 UTC` (empty for 0).
pub(crate) fn when(secs: u64) -> String {
    let Ok(t) = time::OffsetDateTime::from_unix_timestamp(secs as i64) else {
        return String::new();
    };
    if secs == 0 {
        return String::new();
    }
    format!(
        "{:04}-{:02}-{:02} {:02}:{:02} UTC",
        t.year(),
        u8::from(t.month()),
        t.day(),
        t.hour(),
        t.minute()
    )
}

/// `2026-12-07` (the UTC day of `secs`).
pub(crate) fn day(secs: u64) -> String {
    when(secs).get(..10).unwrap_or_default().to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_and_times_read_as_people_write_them() {
        assert_eq!(sats(0), "0 sat");
        assert_eq!(sats(999), "999 msat");
        assert_eq!(sats(2_500_000), "2,500 sat");
        assert_eq!(sats(1_234_567_890_000), "1,234,567,890 sat");
        assert_eq!(grouped(100), "100");
        assert_eq!(grouped(1_000), "1,000");
        assert_eq!(when(0), "");
        assert_eq!(when(1_765_112_700), "2025-12-07 13:05 UTC");
        assert_eq!(day(1_765_112_700), "2025-12-07");
    }

    #[test]
    fn every_template_parses() {
        let env = templates();
        for name in ["base.html", "login.html", "error.html", "overview.html", "devices.html"] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
        for name in [
            "device.html",
            "job.html",
            "sales.html",
            "audit.html",
            "lnurl_login.html",
            "account.html",
        ] {
            assert!(env.get_template(name).is_ok(), "{name}");
        }
    }
}
