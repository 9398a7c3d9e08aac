//! Exchange rates from an HTTP JSON API, cached per currency, with a fixed-rate fallback.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use serde_json::Value;
use tokio::sync::Mutex;

use crate::accounting::{RateError, RateSource};
use crate::store::FiatQuote;

/// Time limit of one request to the rate API.
pub const HTTP_TIMEOUT: Duration = Duration::from_secs(5);

/// Default time a quote is reused before the API is asked again.
pub const DEFAULT_MAX_AGE: Duration = Duration::from_secs(60);

/// Rates fetched from a JSON API: `url` with `{currency}` replaced by the ISO 4217 code (upper
/// case), the price of one BTC at the JSON pointer `pointer` (RFC 6901) as a number or a numeric
/// string. Each currency's quote is reused for `max_age`.
pub struct HttpRates {
    url: String,
    pointer: String,
    max_age: Duration,
    client: reqwest::Client,
    cache: Mutex<HashMap<String, (Instant, FiatQuote)>>,
}

impl std::fmt::Debug for HttpRates {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("HttpRates")
            .field("url", &self.url)
            .field("pointer", &self.pointer)
            .field("max_age", &self.max_age)
            .finish_non_exhaustive()
    }
}

impl HttpRates {
    /// A source asking `url` (with `{currency}`) for the value at `pointer`.
    pub fn new(url: impl Into<String>, pointer: impl Into<String>, max_age: Duration) -> Self {
        let client = reqwest::Client::builder()
            .timeout(HTTP_TIMEOUT)
            .user_agent(concat!("lnedge-gateway/", env!("CARGO_PKG_VERSION")))
            .build()
            .unwrap_or_default();
        HttpRates {
            url: url.into(),
            pointer: pointer.into(),
            max_age,
            client,
            cache: Mutex::new(HashMap::new()),
        }
    }

    async fn fetch(&self, currency: &str) -> Result<FiatQuote, RateError> {
        let url = self.url.replace("{currency}", currency);
        let fail = |detail: String| RateError { currency: currency.to_owned(), detail };
        let response = self
            .client
            .get(&url)
            .header(reqwest::header::ACCEPT, "application/json")
            .send()
            .await
            .map_err(|e| fail(format!("{url}: request failed: {e}")))?;
        let status = response.status();
        if !status.is_success() {
            return Err(fail(format!("{url}: HTTP status {status}")));
        }
        let body =
            response.bytes().await.map_err(|e| fail(format!("{url}: reading the body: {e}")))?;
        let json: Value = serde_json::from_slice(&body)
            .map_err(|e| fail(format!("{url}: the answer is not JSON ({e})")))?;
        let value = json
            .pointer(&self.pointer)
            .ok_or_else(|| fail(format!("{url}: no value at JSON pointer {}", self.pointer)))?;
        let rate = match value {
            Value::Number(n) => n.as_f64(),
            Value::String(s) => s.trim().parse::<f64>().ok(),
            _ => None,
        };
        match rate {
            Some(rate) if rate.is_finite() && rate > 0.0 => Ok(FiatQuote {
                currency: currency.to_owned(),
                rate_per_btc: rate,
                source: url.clone(),
            }),
            _ => Err(fail(format!(
                "{url}: the value at {} is not a positive number: {value}",
                self.pointer
            ))),
        }
    }
}

#[async_trait]
impl RateSource for HttpRates {
    async fn quote(&self, currency: &str) -> Result<FiatQuote, RateError> {
        let currency = currency.to_ascii_uppercase();
        if currency.len() != 3 || !currency.bytes().all(|b| b.is_ascii_alphabetic()) {
            return Err(RateError { currency, detail: "not an ISO 4217 code".into() });
        }
        // The lock is held across the fetch: a burst of payments waits for one request.
        let mut cache = self.cache.lock().await;
        if let Some((at, quote)) = cache.get(&currency) {
            if at.elapsed() < self.max_age {
                return Ok(quote.clone());
            }
        }
        let quote = self.fetch(&currency).await?;
        cache.insert(currency, (Instant::now(), quote.clone()));
        Ok(quote)
    }
}

/// `primary`, or `fallback` when `primary` fails (the primary's error is logged).
pub struct FallbackRates<P, F> {
    /// Asked first.
    pub primary: P,
    /// Asked when the primary fails.
    pub fallback: F,
}

#[async_trait]
impl<P: RateSource, F: RateSource> RateSource for FallbackRates<P, F> {
    async fn quote(&self, currency: &str) -> Result<FiatQuote, RateError> {
        match self.primary.quote(currency).await {
            Ok(quote) => Ok(quote),
            Err(primary) => match self.fallback.quote(currency).await {
                Ok(quote) => {
                    tracing::warn!(error = %primary, "rate source failed; using the fallback");
                    Ok(quote)
                }
                Err(_) => Err(primary),
            },
        }
    }
}
