//! Refund answers: `POST /v1/refunds/claim` (a refund opened for the customer's proof of
//! payment, with its LNURL-withdraw) and the operator's `GET /v1/reports/refunds`.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// A refund of a failed vend.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Refund {
    /// The payment hash of the failed sale (hex).
    pub payment_hash: String,
    /// The device (32 hex characters).
    pub device_id: String,
    /// The pool (16 hex characters).
    pub pool_id: String,
    /// The entry in the pool.
    pub index: u32,
    /// What is refunded, in millisatoshis.
    pub amount_msat: u64,
    /// `due`, `claimed`, `paid` or `expired`.
    pub state: String,
    /// Whether the device's attestation tag vouched for the failure.
    pub attested: bool,
    /// When it was opened (seconds since the Unix epoch).
    pub created_at: u64,
    /// When it can no longer be withdrawn.
    pub expires_at: u64,
    /// When a wallet claimed it.
    pub claimed_at: Option<u64>,
    /// When the payout completed.
    pub paid_at: Option<u64>,
    /// The last payout failure, if any.
    pub last_error: Option<String>,
}

/// `POST /v1/refunds/claim` answer: the refund and how to withdraw it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenedRefund {
    /// The refund (its fields at the top level of the answer).
    #[serde(flatten)]
    pub refund: Refund,
    /// The withdrawal's single-use secret (hex).
    pub k1: String,
    /// The LUD-03 `withdrawRequest` URL.
    pub withdraw_url: String,
    /// The same URL as a bech32 LNURL (`LNURL1…`).
    pub lnurl: String,
    /// The same URL as a LUD-17 `lnurlw://` link; `null` when it cannot be one.
    pub lnurlw: Option<String>,
}

/// `GET /v1/reports/refunds` answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundReport {
    /// Every refund.
    pub refunds: Vec<Refund>,
    /// Count and amount by state (`due`, `paid`…); states without refunds are left out.
    pub totals: BTreeMap<String, RefundTotal>,
}

/// The refunds of one state in a [`RefundReport`].
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefundTotal {
    /// How many.
    pub count: u64,
    /// Their sum, in millisatoshis.
    pub amount_msat: u64,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_opened_refund_is_flat() {
        let opened = OpenedRefund {
            refund: Refund {
                payment_hash: "ff".into(),
                device_id: "00".into(),
                pool_id: "11".into(),
                index: 2,
                amount_msat: 2_500_000,
                state: "due".into(),
                attested: false,
                created_at: 1,
                expires_at: 2,
                claimed_at: None,
                paid_at: None,
                last_error: None,
            },
            k1: "ab".into(),
            withdraw_url: "https://gw/w".into(),
            lnurl: "LNURL1".into(),
            lnurlw: None,
        };
        let value = serde_json::to_value(&opened).unwrap();
        assert_eq!(value.as_object().map(|o| o.len()), Some(16));
        assert!(value["claimed_at"].is_null() && value["lnurlw"].is_null(), "{value}");
        assert_eq!(value["state"], "due");
        assert_eq!(serde_json::from_value::<OpenedRefund>(value).unwrap(), opened);
    }
}
