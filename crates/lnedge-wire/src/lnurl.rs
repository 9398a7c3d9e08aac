//! The LNURL answers the gateway gives wallets, with the field names of the LUDs: LUD-01 status
//! answers, the LUD-06 `payRequest` and its callback's answer with a LUD-10 `aes` success action
//! (deputy sales), and the LUD-03 `withdrawRequest` (refunds).

use serde::{Deserialize, Serialize};

/// The `tag` of a LUD-06 [`PayRequest`].
pub const PAY_REQUEST_TAG: &str = "payRequest";
/// The `tag` of a LUD-03 [`WithdrawRequest`].
pub const WITHDRAW_REQUEST_TAG: &str = "withdrawRequest";
/// The `tag` of a LUD-10 [`AesSuccessAction`].
pub const AES_TAG: &str = "aes";

/// `url` with `name=value` appended as a wallet appends a callback's parameters (LUD-03,
/// LUD-06): after `?` when the URL has no query yet, else after `&`. `value` is written as is
/// (pass it URL-safe).
pub fn with_param(url: &str, name: &str, value: impl std::fmt::Display) -> String {
    let separator = if url.contains('?') { '&' } else { '?' };
    format!("{url}{separator}{name}={value}")
}

/// The `status` of a LUD-01 answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum Status {
    /// `"OK"`.
    #[serde(rename = "OK")]
    Ok,
    /// `"ERROR"`.
    #[serde(rename = "ERROR")]
    Error,
}

impl Status {
    /// `OK` or `ERROR`, as on the wire.
    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "OK",
            Status::Error => "ERROR",
        }
    }
}

/// A LUD-01 status answer: `{"status":"OK"}` (a callback succeeded) or
/// `{"status":"ERROR","reason","code"}` (always HTTP 200, as wallets expect).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StatusResponse {
    /// `OK` or `ERROR`.
    pub status: Status,
    /// What the wallet shows the user (errors only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
    /// The gateway's stable machine-readable code (`voucher_used`, `stale_counter`…; errors
    /// only, an lnedge addition to LUD-01).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
}

impl StatusResponse {
    /// `{"status":"OK"}`.
    pub fn ok() -> Self {
        StatusResponse { status: Status::Ok, reason: None, code: None }
    }

    /// `{"status":"ERROR","reason":reason,"code":code}`.
    pub fn error(code: impl Into<String>, reason: impl Into<String>) -> Self {
        StatusResponse {
            status: Status::Error,
            reason: Some(reason.into()),
            code: Some(code.into()),
        }
    }
}

/// A LUD-06 `payRequest` (the answer to the LNURL a wallet scanned).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayRequest {
    /// [`PAY_REQUEST_TAG`].
    pub tag: String,
    /// Where the wallet asks for the invoice (`&amount=<msat>` appended).
    pub callback: String,
    /// Least amount payable, in millisatoshis (`minSendable`).
    pub min_sendable: u64,
    /// Largest amount payable, in millisatoshis (`maxSendable`; equal to the least for a
    /// fixed-amount sale).
    pub max_sendable: u64,
    /// The LUD-06 metadata: a JSON array as a string, committed to by the invoice's
    /// description hash.
    pub metadata: String,
    /// Longest comment accepted (LUD-12, `commentAllowed`); 0: none.
    #[serde(default)]
    pub comment_allowed: u32,
}

/// The answer of a [`PayRequest`]'s callback: the invoice and what the wallet shows once paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PayCallback {
    /// The BOLT 11 invoice (`pr`).
    pub pr: String,
    /// Route hints of LUD-06; always empty here (the invoice carries its own).
    pub routes: Vec<serde_json::Value>,
    /// What the wallet shows after paying (`successAction`).
    pub success_action: AesSuccessAction,
}

/// A LUD-10 `aes` success action: a text encrypted with the payment's preimage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AesSuccessAction {
    /// [`AES_TAG`].
    pub tag: String,
    /// Shown with the decrypted text.
    pub description: String,
    /// The text, AES-256-CBC under the preimage (base64).
    pub ciphertext: String,
    /// The initialisation vector (base64, 16 bytes).
    pub iv: String,
}

/// A LUD-03 `withdrawRequest` (a wallet withdrawing a refund).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct WithdrawRequest {
    /// [`WITHDRAW_REQUEST_TAG`].
    pub tag: String,
    /// Where the wallet sends its invoice (`?k1=&pr=` appended).
    pub callback: String,
    /// The single-use secret of this withdrawal (hex).
    pub k1: String,
    /// The description the wallet puts in its invoice (`defaultDescription`).
    pub default_description: String,
    /// Least amount withdrawable, in millisatoshis (`minWithdrawable`).
    pub min_withdrawable: u64,
    /// Largest amount withdrawable, in millisatoshis (`maxWithdrawable`).
    pub max_withdrawable: u64,
    /// The Bolt Card PIN extension (`pinLimit`): from this amount (millisatoshis) up, the
    /// callback needs `&pin=`. Absent when no PIN is asked.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pin_limit: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn callback_parameters_go_after_question_mark_or_ampersand() {
        assert_eq!(
            with_param("https://gw/cb/abc", "amount", 7000),
            "https://gw/cb/abc?amount=7000"
        );
        assert_eq!(
            with_param("https://gw/cb?p=x", "amount", 7000),
            "https://gw/cb?p=x&amount=7000"
        );
    }

    #[test]
    fn status_answers_are_lud01() {
        assert_eq!(serde_json::to_value(StatusResponse::ok()).unwrap(), json!({"status": "OK"}));
        assert_eq!(
            serde_json::to_value(StatusResponse::error("k1_used", "already answered")).unwrap(),
            json!({"status": "ERROR", "reason": "already answered", "code": "k1_used"})
        );
    }

    #[test]
    fn lnurl_bodies_use_the_lud_field_names() {
        let pay = PayRequest {
            tag: PAY_REQUEST_TAG.into(),
            callback: "https://gw/cb".into(),
            min_sendable: 1000,
            max_sendable: 1000,
            metadata: "[]".into(),
            comment_allowed: 0,
        };
        let value = serde_json::to_value(&pay).unwrap();
        assert_eq!(
            value,
            json!({"tag": "payRequest", "callback": "https://gw/cb", "minSendable": 1000,
                   "maxSendable": 1000, "metadata": "[]", "commentAllowed": 0})
        );
        assert_eq!(serde_json::from_value::<PayRequest>(value).unwrap(), pay);
        let answer = PayCallback {
            pr: "lnbc1".into(),
            routes: vec![],
            success_action: AesSuccessAction {
                tag: AES_TAG.into(),
                description: "d".into(),
                ciphertext: "c".into(),
                iv: "i".into(),
            },
        };
        assert_eq!(
            serde_json::to_value(&answer).unwrap(),
            json!({"pr": "lnbc1", "routes": [], "successAction":
                   {"tag": "aes", "description": "d", "ciphertext": "c", "iv": "i"}})
        );
        let withdraw = WithdrawRequest {
            pin_limit: None,
            tag: WITHDRAW_REQUEST_TAG.into(),
            callback: "https://gw/w".into(),
            k1: "00".into(),
            default_description: "refund".into(),
            min_withdrawable: 5,
            max_withdrawable: 5,
        };
        assert_eq!(
            serde_json::to_value(&withdraw).unwrap(),
            json!({"tag": "withdrawRequest", "callback": "https://gw/w", "k1": "00",
                   "defaultDescription": "refund", "minWithdrawable": 5, "maxWithdrawable": 5})
        );
    }
}
