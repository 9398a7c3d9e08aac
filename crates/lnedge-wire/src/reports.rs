//! The sales report (`GET /v1/reports/sales`): reconciled rows and their totals.

use serde::{Deserialize, Serialize};

/// `GET /v1/reports/sales` answer. The totals' shape is the gateway's own reconciliation result
/// (`lnedge_gateway::reconcile::SalesTotals`: `{amount_msat, rows, by_status, by_device,
/// by_product}`), so it stays a parameter here: a client reads it as [`serde_json::Value`] (the
/// default) or skips it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesReport<T = serde_json::Value> {
    /// Every paid or claimed pool entry and every paid deputy sale, reconciled.
    pub rows: Vec<SalesRow>,
    /// Sums of the rows: all, by device, by product.
    pub totals: T,
}

/// One reconciled sale (or anomaly). The pool fields are `null` for a deputy sale and
/// `deputy_counter` is `null` for a pool entry.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SalesRow {
    /// The device (32 hex characters).
    pub device_id: String,
    /// `pool`, `deputy`, `card` or `token`.
    pub kind: String,
    /// The pool (16 hex characters).
    pub pool_id: Option<String>,
    /// The entry in the pool.
    pub index: Option<u32>,
    /// The product of the entry.
    pub product: Option<u16>,
    /// The terminal's sale counter.
    pub deputy_counter: Option<u64>,
    /// A card's tap or a payer device's token counter (kinds `card` and `token`: money out,
    /// status `spent`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub payer_counter: Option<u32>,
    /// The payment hash (hex).
    pub payment_hash: String,
    /// The reconciled status (`delivered`, `refund_due`, `paid_not_claimed`…).
    pub status: String,
    /// Amount received in millisatoshis (0 if not paid).
    pub amount_msat: u64,
    /// When the node settled it (seconds since the Unix epoch), if paid.
    pub paid_at: Option<u64>,
    /// The exchange rate at payment time, if captured.
    pub quote: Option<Quote>,
    /// The fiat value at that rate, if captured.
    pub fiat: Option<FiatAmount>,
}

/// An exchange rate captured when a payment settled.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Quote {
    /// The currency (`EUR`).
    pub currency: String,
    /// Units of the currency per bitcoin.
    pub rate_per_btc: f64,
    /// Where the rate came from.
    pub source: String,
}

/// A fiat value. Money is never a float in the API: `amount` is a decimal string with 2 places
/// (as in the CSV).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FiatAmount {
    /// The currency (`EUR`).
    pub currency: String,
    /// The amount in the major unit, 2 decimal places (`"1.20"`).
    pub amount: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn absent_fields_are_null_and_totals_parse_as_a_value() {
        let row = SalesRow {
            device_id: "00".into(),
            kind: "deputy".into(),
            pool_id: None,
            index: None,
            product: None,
            deputy_counter: Some(3),
            payer_counter: None,
            payment_hash: "ff".into(),
            status: "delivered".into(),
            amount_msat: 1000,
            paid_at: Some(9),
            quote: None,
            fiat: Some(FiatAmount { currency: "EUR".into(), amount: "1.20".into() }),
        };
        let report = SalesReport { rows: vec![row], totals: json!({"rows": 1}) };
        let value = serde_json::to_value(&report).unwrap();
        assert!(value["rows"][0]["pool_id"].is_null() && value["rows"][0]["quote"].is_null());
        assert_eq!(value["rows"][0]["fiat"], json!({"currency": "EUR", "amount": "1.20"}));
        assert_eq!(serde_json::from_value::<SalesReport>(value).unwrap(), report);
    }
}
