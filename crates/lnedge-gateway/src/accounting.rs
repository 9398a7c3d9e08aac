//! Accounting: exchange rates at payment time and the CSV export of the books.

use std::fmt::Write as _;

use async_trait::async_trait;

use crate::reconcile::{SaleOrigin, SaleRow};
use crate::store::FiatQuote;

/// Decimal places of a currency's minor unit: the one ISO 4217 table, in `lnedge-proto`, that
/// the pools' fiat prices, the deputy's fiat sales and the device simulator all use.
pub use lnedge_proto::deputy::minor_unit_digits;

/// Why a fiat price could not become millisatoshis.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum FiatError {
    /// No usable rate for the currency.
    #[error("{0}")]
    RateUnavailable(String),
    /// The converted amount is not a positive number of msat that fits.
    #[error("{0}")]
    OutOfRange(String),
}

/// Converts `product`'s fiat price to msat at the rate `rates` gives now (rounded up to a
/// whole msat).
pub async fn fiat_to_msat(
    rates: &dyn RateSource,
    product: u16,
    currency: &str,
    amount_minor: u64,
) -> Result<u64, FiatError> {
    let quote = rates.quote(currency).await.map_err(|e| {
        FiatError::RateUnavailable(format!("product {product} is priced in {currency}: {e}"))
    })?;
    if !(quote.rate_per_btc.is_finite() && quote.rate_per_btc > 0.0) {
        return Err(FiatError::RateUnavailable(format!(
            "the {currency} rate from {} is not a positive number",
            quote.source
        )));
    }
    let major = amount_minor as f64 / 10f64.powi(minor_unit_digits(currency) as i32);
    let msat = (major / quote.rate_per_btc * 1e11).ceil();
    if !(msat >= 1.0 && msat < u64::MAX as f64) {
        return Err(FiatError::OutOfRange(format!(
            "product {product}: {amount_minor} {currency} minor units is {msat} msat"
        )));
    }
    Ok(msat as u64)
}

/// Why a rate could not be had.
#[derive(Debug, thiserror::Error)]
#[error("no {currency} rate: {detail}")]
pub struct RateError {
    /// The currency asked for.
    pub currency: String,
    /// What went wrong.
    pub detail: String,
}

/// Where exchange rates come from.
#[async_trait]
pub trait RateSource: Send + Sync {
    /// The price of one bitcoin in `currency` (major unit) now.
    async fn quote(&self, currency: &str) -> Result<FiatQuote, RateError>;
}

/// Rates fixed in the configuration (tests, or operators who set prices by hand).
#[derive(Debug, Clone, Default)]
pub struct FixedRates {
    rates: Vec<(String, f64)>,
}

impl FixedRates {
    /// Rates as (ISO 4217 code, price of one BTC in that currency).
    pub fn new(rates: impl IntoIterator<Item = (String, f64)>) -> Self {
        FixedRates { rates: rates.into_iter().map(|(c, r)| (c.to_ascii_uppercase(), r)).collect() }
    }
}

#[async_trait]
impl RateSource for FixedRates {
    async fn quote(&self, currency: &str) -> Result<FiatQuote, RateError> {
        let currency = currency.to_ascii_uppercase();
        self.rates
            .iter()
            .find(|(c, _)| *c == currency)
            .map(|(c, r)| FiatQuote {
                currency: c.clone(),
                rate_per_btc: *r,
                source: "fixed".into(),
            })
            .ok_or(RateError { currency, detail: "not configured".into() })
    }
}

/// Millisatoshis as bitcoin with all 11 decimals (exact: no float).
pub fn btc_string(msat: u64) -> String {
    format!("{}.{:011}", msat / 100_000_000_000, msat % 100_000_000_000)
}

fn csv_field(text: &str) -> String {
    if text.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", text.replace('"', "\"\""))
    } else {
        text.to_owned()
    }
}

/// The books as CSV (RFC 4180): one row per reconciled sale, amounts in msat, sat and BTC with
/// exact decimals, and the fiat value at the rate of payment time with 2 decimals.
pub fn sales_csv(rows: &[SaleRow]) -> String {
    let mut out = String::from(SALES_CSV_HEADER);
    for row in rows {
        write_sales_csv_row(&mut out, row);
    }
    out
}

/// The header line of [`sales_csv`] (with its CRLF).
pub const SALES_CSV_HEADER: &str = "device_id,pool_id,entry,product,payment_hash,status,paid_at,amount_msat,amount_sat,amount_btc,fiat_currency,fiat_amount,rate_per_btc,rate_source,kind,deputy_counter,payer_counter\r\n";

/// Appends one row of [`sales_csv`] (with its CRLF) to `out`: for writing the books a chunk at
/// a time.
pub fn write_sales_csv_row(out: &mut String, row: &SaleRow) {
    let (currency, fiat, rate, source) = match (&row.quote, row.fiat_amount()) {
        (Some(q), Some((_, amount))) => (
            q.currency.clone(),
            format!("{amount:.2}"),
            format!("{:.2}", q.rate_per_btc),
            q.source.clone(),
        ),
        _ => (String::new(), String::new(), String::new(), String::new()),
    };
    let hash: String = row.payment_hash.iter().map(|b| format!("{b:02x}")).collect();
    let (pool_id, index, product, counter) = match row.origin {
        SaleOrigin::Pool { pool_id, index, product } => {
            (pool_id.to_string(), index.to_string(), product.to_string(), String::new())
        }
        SaleOrigin::Deputy { counter } => {
            (String::new(), String::new(), String::new(), counter.to_string())
        }
        SaleOrigin::Card { .. } | SaleOrigin::Token { .. } => {
            (String::new(), String::new(), String::new(), String::new())
        }
    };
    let _ = write!(
        out,
        "{},{},{},{},{},{},{},{},{}.{:03},{},{},{},{},{},{},{},{}\r\n",
        row.device_id,
        pool_id,
        index,
        product,
        hash,
        row.status.as_str(),
        row.paid_at.map(|t| t.to_string()).unwrap_or_default(),
        row.amount_msat,
        row.amount_msat / 1000,
        row.amount_msat % 1000,
        btc_string(row.amount_msat),
        csv_field(&currency),
        fiat,
        rate,
        csv_field(&source),
        row.origin.kind(),
        counter,
        row.origin.payer_counter().map(|c| c.to_string()).unwrap_or_default(),
    );
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fiat_prices_convert_with_the_currency_minor_unit() {
        let rates =
            FixedRates::new([("EUR".to_owned(), 60_000.0), ("JPY".to_owned(), 9_000_000.0)]);
        // 1.50 EUR at 60 000 EUR/BTC = 2 500 sat.
        assert_eq!(fiat_to_msat(&rates, 1, "EUR", 150).await.expect("eur"), 2_500_000);
        // JPY has no minor unit: 150 JPY at 9 000 000 JPY/BTC = 1 666.67 sat, rounded up.
        assert_eq!(fiat_to_msat(&rates, 1, "JPY", 150).await.expect("jpy"), 1_666_667);
        let err = fiat_to_msat(&rates, 7, "USD", 100).await.expect_err("no usd rate");
        assert!(
            matches!(&err, FiatError::RateUnavailable(m) if m.contains("product 7") && m.contains("USD")),
            "{err}"
        );
        assert_eq!(minor_unit_digits("XPF"), 0, "one ISO 4217 table for pools and deputy sales");
        assert_eq!(minor_unit_digits("SAT"), 0);
    }

    use crate::reconcile::SaleStatus;
    use lnedge_proto::{DeviceId, PoolId};

    #[test]
    fn btc_amounts_are_exact() {
        assert_eq!(btc_string(0), "0.00000000000");
        assert_eq!(btc_string(1), "0.00000000001");
        assert_eq!(btc_string(2_500_000), "0.00002500000");
        assert_eq!(btc_string(100_000_000_000), "1.00000000000");
        assert_eq!(btc_string(u64::MAX), "184467440.73709551615");
    }

    #[tokio::test]
    async fn fixed_rates_answer_configured_currencies_only() {
        let rates = FixedRates::new([("eur".to_owned(), 60_000.0)]);
        let q = rates.quote("EUR").await.expect("eur");
        assert_eq!(
            (q.currency.as_str(), q.rate_per_btc, q.source.as_str()),
            ("EUR", 60_000.0, "fixed")
        );
        let err = rates.quote("usd").await.expect_err("usd");
        assert_eq!(err.to_string(), "no USD rate: not configured");
    }

    #[test]
    fn csv_has_exact_decimals_and_quotes_text() {
        let row = SaleRow {
            device_id: DeviceId([0xab; 16]),
            origin: SaleOrigin::Pool { pool_id: PoolId([1; 8]), index: 3, product: 2 },
            payment_hash: [0; 32],
            status: SaleStatus::RefundDue,
            amount_msat: 1_800_001,
            paid_at: Some(1_700_000_000),
            quote: Some(FiatQuote {
                currency: "EUR".into(),
                rate_per_btc: 61_234.5,
                source: "https://rates.example/a,b".into(),
            }),
        };
        let csv = sales_csv(&[row]);
        let mut lines = csv.split("\r\n");
        assert!(lines.next().expect("header").starts_with("device_id,pool_id,entry"));
        let line = lines.next().expect("row");
        assert!(
            line.contains(
                ",refund_due,1700000000,1800001,1800.001,0.00001800001,EUR,1.10,61234.50,"
            ),
            "{line}"
        );
        assert!(line.ends_with("\"https://rates.example/a,b\",pool,,"), "{line}");
        let deputy = SaleRow {
            device_id: DeviceId([0xab; 16]),
            origin: SaleOrigin::Deputy { counter: 42 },
            payment_hash: [1; 32],
            status: SaleStatus::Delivered,
            amount_msat: 7_000,
            paid_at: Some(1_700_000_001),
            quote: None,
        };
        let csv = sales_csv(&[deputy]);
        let line = csv.split("\r\n").nth(1).expect("row");
        assert!(line.starts_with(&format!("{},,,,", DeviceId([0xab; 16]))), "{line}");
        assert!(
            line.ends_with(",delivered,1700000001,7000,7.000,0.00000007000,,,,,deputy,42,"),
            "{line}"
        );
    }
}
