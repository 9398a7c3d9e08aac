//! The HTTP exchange-rate source against a tiny local JSON server.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use lnedge_gateway::accounting::{FixedRates, RateSource};
use lnedge_gateway::rates_http::{FallbackRates, HttpRates};

async fn price(State(hits): State<Arc<AtomicUsize>>, Path(kind): Path<String>) -> Response {
    hits.fetch_add(1, Ordering::SeqCst);
    let json = |body: &'static str| ([("content-type", "application/json")], body).into_response();
    match kind.as_str() {
        "ok" => json(r#"{"data":{"price":"61234.5"}}"#),
        "number" => json(r#"{"data":{"price":70000}}"#),
        "bad-json" => json("<html>nope</html>"),
        "missing" => json(r#"{"data":{}}"#),
        "negative" => json(r#"{"data":{"price":-3}}"#),
        _ => (StatusCode::NOT_FOUND, "no such price").into_response(),
    }
}

/// A server on 127.0.0.1:0; returns its base URL and the request counter.
async fn server() -> (String, Arc<AtomicUsize>) {
    let hits = Arc::new(AtomicUsize::new(0));
    let app = Router::new().route("/{kind}/price", get(price)).with_state(hits.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.expect("bind");
    let addr = listener.local_addr().expect("addr");
    tokio::spawn(async move { axum::serve(listener, app).await.expect("serve") });
    (format!("http://{addr}"), hits)
}

fn source(base: &str, kind: &str, max_age: Duration) -> HttpRates {
    HttpRates::new(format!("{base}/{kind}/price?fiat={{currency}}"), "/data/price", max_age)
}

#[tokio::test]
async fn quotes_are_fetched_and_cached() {
    let (base, hits) = server().await;
    let rates = source(&base, "ok", Duration::from_secs(60));
    let q = rates.quote("eur").await.expect("quote");
    assert_eq!(q.currency, "EUR");
    assert_eq!(q.rate_per_btc, 61_234.5);
    assert_eq!(q.source, format!("{base}/ok/price?fiat=EUR"));
    for _ in 0..5 {
        assert_eq!(rates.quote("EUR").await.expect("cached").rate_per_btc, 61_234.5);
    }
    assert_eq!(hits.load(Ordering::SeqCst), 1, "a burst is served from the cache");
    rates.quote("USD").await.expect("usd");
    assert_eq!(hits.load(Ordering::SeqCst), 2, "each currency is cached apart");

    // A zero max age asks every time; numbers are accepted as well as strings.
    let rates = source(&base, "number", Duration::ZERO);
    assert_eq!(rates.quote("CHF").await.expect("number").rate_per_btc, 70_000.0);
    rates.quote("CHF").await.expect("again");
    assert_eq!(hits.load(Ordering::SeqCst), 4);
}

#[tokio::test]
async fn errors_name_the_url_and_the_problem() {
    let (base, _) = server().await;
    let max_age = Duration::from_secs(60);
    let cases = [
        ("gone", "HTTP status 404"),
        ("bad-json", "not JSON"),
        ("missing", "no value at JSON pointer /data/price"),
        ("negative", "not a positive number"),
    ];
    for (kind, expected) in cases {
        let err = source(&base, kind, max_age).quote("EUR").await.expect_err(kind).to_string();
        let url = format!("{base}/{kind}/price?fiat=EUR");
        assert!(err.starts_with("no EUR rate: "), "{err}");
        assert!(err.contains(&url), "{kind}: {err}");
        assert!(err.contains(expected), "{kind}: {err}");
    }
    // Nothing listens: a request error, not a hang.
    let dead = HttpRates::new("http://127.0.0.1:9/{currency}", "/p", max_age);
    assert!(dead.quote("EUR").await.expect_err("refused").to_string().contains("request failed"));
}

#[tokio::test]
async fn fixed_rates_are_the_fallback() {
    let (base, _) = server().await;
    let rates = FallbackRates {
        primary: source(&base, "gone", Duration::from_secs(60)),
        fallback: FixedRates::new([("EUR".to_owned(), 60_000.0)]),
    };
    let q = rates.quote("eur").await.expect("fallback");
    assert_eq!((q.rate_per_btc, q.source.as_str()), (60_000.0, "fixed"));
    let err = rates.quote("USD").await.expect_err("neither").to_string();
    assert!(err.contains("HTTP status 404"), "the primary's error is reported: {err}");

    let rates = FallbackRates {
        primary: source(&base, "ok", Duration::from_secs(60)),
        fallback: FixedRates::new([("EUR".to_owned(), 60_000.0)]),
    };
    assert_eq!(rates.quote("EUR").await.expect("primary").rate_per_btc, 61_234.5);
}
