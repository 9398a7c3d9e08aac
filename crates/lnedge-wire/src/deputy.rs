//! The deputy terminal's admin answers: its keys (`GET /v1/deputy/{id}/keys`, written into the
//! terminal at enrolment) and the operator's list of sales (`GET /v1/deputy/sales`). The
//! terminal's signed report and its answer are in [`sync`](crate::sync).

use serde::{Deserialize, Serialize};

/// `GET /v1/deputy/{id}/keys` answer: what a terminal is provisioned with (hex). Secret: the
/// keys are not shown by `Debug`. The preimage key is never handed out.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeputyKeys {
    /// The terminal's device id (32 hex characters).
    pub device_id: String,
    /// The key sealing the terminal's sale payloads (64 hex characters).
    pub seal_key: String,
    /// The key of the claims the terminal checks offline (64 hex characters).
    pub claim_key: String,
    /// The key the terminal signs its reports with (64 hex characters).
    pub sync_key: String,
    /// The gateway's public URL, the base of the terminal's LNURLs (empty when not set).
    pub gateway_url: String,
}

impl std::fmt::Debug for DeputyKeys {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("DeputyKeys")
            .field("device_id", &self.device_id)
            .field("seal_key", &"<secret>")
            .field("claim_key", &"<secret>")
            .field("sync_key", &"<secret>")
            .field("gateway_url", &self.gateway_url)
            .finish()
    }
}

/// `GET /v1/deputy/sales` answer.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeputySales {
    /// The sales, newest first.
    pub sales: Vec<DeputySale>,
}

/// One deputy sale as the operator sees it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeputySale {
    /// The terminal (32 hex characters).
    pub device_id: String,
    /// The terminal's sale counter.
    pub counter: u64,
    /// `requested`, `paid` or `claimed`.
    pub status: String,
    /// The amount rung up, in the currency's minor unit (sat for `SAT`).
    pub amount: u64,
    /// The currency code (`EUR`, `SAT`…).
    pub currency: String,
    /// What the invoice asks for, in millisatoshis.
    pub amount_msat: u64,
    /// The fiat amount as the terminal showed it (`4.20 EUR`); `null` for sat sales.
    pub fiat: Option<String>,
    /// The exchange rate the amount was converted at; `null` for sat sales.
    pub rate_per_btc: Option<f64>,
    /// Where that rate came from; `null` for sat sales.
    pub rate_source: Option<String>,
    /// The invoice's payment hash (hex).
    pub payment_hash: String,
    /// Whether an invoice was issued (a wallet called the callback).
    pub invoiced: bool,
    /// When the sale was first fetched (seconds since the Unix epoch).
    pub created_at: u64,
    /// When the node settled it.
    pub paid_at: Option<u64>,
    /// When the terminal reported its claim.
    pub claimed_at: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_not_debug_printed() {
        let keys = DeputyKeys {
            device_id: "00".into(),
            seal_key: "aa".into(),
            claim_key: "bb".into(),
            sync_key: "cc".into(),
            gateway_url: String::new(),
        };
        let shown = format!("{keys:?}");
        assert!(!shown.contains("aa") && !shown.contains("bb") && !shown.contains("cc"), "{shown}");
    }

    #[test]
    fn absent_rates_are_null() {
        let sale = DeputySale {
            device_id: "00".into(),
            counter: 1,
            status: "paid".into(),
            amount: 100,
            currency: "SAT".into(),
            amount_msat: 100_000,
            fiat: None,
            rate_per_btc: None,
            rate_source: None,
            payment_hash: "ff".into(),
            invoiced: true,
            created_at: 5,
            paid_at: Some(6),
            claimed_at: None,
        };
        let value = serde_json::to_value(&sale).unwrap();
        assert!(value["fiat"].is_null() && value["claimed_at"].is_null(), "{value}");
        assert_eq!(value.as_object().map(|o| o.len()), Some(14));
        assert_eq!(serde_json::from_value::<DeputySale>(value).unwrap(), sale);
    }
}
