//! The sandbox wallet's routes (`/v1/sandbox/wallet/…`, only on a gateway whose node is a
//! sandbox): a customer's wallet node on the same in-process network as the owner's node, which
//! `lnedge wallet pay|withdraw|login` drives from a shell.
//!
//! | route | body → answer |
//! | --- | --- |
//! | `POST /v1/sandbox/wallet/pay` | [`PayBody`] → [`Paid`] |
//! | `POST /v1/sandbox/wallet/withdraw` | [`WithdrawBody`] → [`Withdrawn`] |
//! | `POST /v1/sandbox/wallet/login` | [`LoginBody`] → [`LoggedIn`] |
//! | `POST /v1/sandbox/wallet/invoice` | [`InvoiceBody`] → [`Invoiced`] |

use serde::{Deserialize, Serialize};

/// Path of the pay route.
pub const PAY_PATH: &str = "/v1/sandbox/wallet/pay";
/// Path of the withdraw route.
pub const WITHDRAW_PATH: &str = "/v1/sandbox/wallet/withdraw";
/// Path of the login route.
pub const LOGIN_PATH: &str = "/v1/sandbox/wallet/login";
/// Path of the invoice route (the payee side of the async relay, from a shell).
pub const INVOICE_PATH: &str = "/v1/sandbox/wallet/invoice";

/// `POST /v1/sandbox/wallet/pay`: what to pay.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PayBody {
    /// A BOLT 11 invoice (`lightning:` prefix allowed), or an LNURL-pay link: `LNURL1…`,
    /// `lnurlp://…` (LUD-17) or the `https://` (`http://`) URL itself.
    pub invoice: String,
    /// The amount in millisatoshis: required for an invoice without an amount and for an
    /// LNURL-pay whose least and largest amounts differ; otherwise it must match.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_msat: Option<u64>,
}

/// What kind of request was paid.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PaidKind {
    /// A BOLT 11 invoice given directly.
    Bolt11,
    /// An LNURL-pay (LUD-06): the invoice came from the service's callback.
    LnurlPay,
}

/// The answer of `POST /v1/sandbox/wallet/pay`: the payment went through.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Paid {
    /// What was paid.
    pub kind: PaidKind,
    /// The amount paid to the payee, in millisatoshis (without fees).
    pub amount_msat: u64,
    /// Routing fees, in millisatoshis, when the node reports them.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fee_msat: Option<u64>,
    /// The payment hash (hex).
    pub payment_hash: String,
    /// The preimage (hex): the proof of payment.
    pub preimage: String,
    /// The invoice that was paid (for an LNURL-pay, the callback's).
    pub invoice: String,
    /// What the service asks the wallet to show once paid (LUD-09/10), if anything.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub success_action: Option<SuccessAction>,
}

/// A LUD-09 success action as the wallet shows it: an `aes` one (LUD-10) already decrypted with
/// the preimage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SuccessAction {
    /// `message`, `url` or `aes`.
    pub tag: String,
    /// The `description` of a `url` or `aes` action.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// The text: a `message` action's message, an `aes` action's decrypted plaintext.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
    /// A `url` action's URL.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
}

/// `POST /v1/sandbox/wallet/withdraw`: an LNURL-withdraw (LUD-03) to take.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WithdrawBody {
    /// `LNURL1…`, `lnurlw://…` (LUD-17) or the `https://` (`http://`) URL itself (a Bolt Card
    /// tap's URL works).
    pub lnurl: String,
    /// The PIN a Bolt Card asks for above its `pinLimit`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin: Option<String>,
}

/// The answer of `POST /v1/sandbox/wallet/withdraw`: the wallet's invoice was paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Withdrawn {
    /// Received, in millisatoshis (the request's `maxWithdrawable`).
    pub amount_msat: u64,
    /// The wallet's invoice's payment hash (hex).
    pub payment_hash: String,
    /// The service's `defaultDescription`, written into the wallet's invoice.
    pub description: String,
}

/// `POST /v1/sandbox/wallet/login`: an LNURL-auth (LUD-04) to answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoginBody {
    /// `LNURL1…`, `keyauth://…` (LUD-17) or the `https://` (`http://`) URL with `tag=login` and
    /// `k1`.
    pub lnurl: String,
}

/// The answer of `POST /v1/sandbox/wallet/login`: the service accepted the signature.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct LoggedIn {
    /// The domain the linking key belongs to (LUD-05).
    pub domain: String,
    /// The linking key the service now knows the wallet by (hex, compressed).
    pub linking_key: String,
    /// The LNURL's `action` (`login`, `register`, `link`, `auth`), if it had one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
}

/// `POST /v1/sandbox/wallet/invoice`: an invoice of the sandbox wallet's node for a preimage
/// the caller holds: how `lnedge payee claim` completes a relayed payment in sandbox mode, the
/// sandbox wallet standing in for the payee's own node.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceBody {
    /// The preimage (64 hex digits); the invoice's payment hash is its SHA-256.
    pub preimage: String,
    /// The amount in millisatoshis (at least 1).
    pub amount_msat: u64,
    /// The invoice's description.
    pub description: String,
    /// How long the invoice stays payable, in seconds (default 3600).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expiry_secs: Option<u32>,
}

/// The answer of `POST /v1/sandbox/wallet/invoice`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Invoiced {
    /// The BOLT 11 invoice.
    pub invoice: String,
    /// Its payment hash (hex).
    pub payment_hash: String,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn bodies_round_trip_with_optional_fields_left_out() {
        let body: PayBody = serde_json::from_value(json!({"invoice": "lnbcrt1"})).unwrap();
        assert_eq!(body.amount_msat, None);
        let paid = Paid {
            kind: PaidKind::LnurlPay,
            amount_msat: 1000,
            fee_msat: None,
            payment_hash: "aa".into(),
            preimage: "bb".into(),
            invoice: "lnbcrt1".into(),
            success_action: Some(SuccessAction {
                tag: "aes".into(),
                description: Some("d".into()),
                text: Some("t".into()),
                url: None,
            }),
        };
        let value = serde_json::to_value(&paid).unwrap();
        assert_eq!(value["kind"], "lnurl_pay");
        assert!(value.get("fee_msat").is_none());
        assert_eq!(serde_json::from_value::<Paid>(value).unwrap(), paid);
    }
}
