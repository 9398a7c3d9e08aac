//! The sandbox wallet: a customer's wallet node on the gateway's in-process sandbox network,
//! with a channel to the owner's node, so that a user can pay, withdraw and log in from a shell
//! (`lnedge wallet …` → `/v1/sandbox/wallet/…`) without a real node. It exists only when the
//! gateway's node is a sandbox (`node.kind = "sandbox"`); `service` starts it.
//!
//! It is an ordinary LNURL wallet, written against the LUDs (not against this gateway):
//!
//! * [`SandboxWallet::pay`]: a BOLT 11 invoice, or an LNURL-pay (LUD-06): the `payRequest`,
//!   the invoice from its callback, checked (amount, description hash = SHA-256 of the
//!   metadata), paid; a LUD-09 success action is returned, an `aes` one (LUD-10) decrypted with
//!   the preimage;
//! * [`SandboxWallet::withdraw`]: an LNURL-withdraw (LUD-03): an invoice on the wallet's node
//!   for `maxWithdrawable`, sent to the callback, waited for until settled;
//! * [`SandboxWallet::login`]: an LNURL-auth (LUD-04): `k1` signed with the LUD-05 linking key
//!   of the service's domain, derived from the wallet's seed.

use std::sync::Arc;
use std::time::Duration;

use lnedge_node::bitcoin::hashes::{sha256, Hash};
use lnedge_node::lightning_invoice::{Bolt11Invoice, Bolt11InvoiceDescriptionRef};
use lnedge_node::{
    parse_invoice, BackendError, InvoiceDescription, InvoiceParams, InvoiceState, LightningBackend,
    PayRequest, PaymentPreimage,
};
use lnedge_wire::lnurl::{PayRequest as LnurlPayRequest, WithdrawRequest};
use lnedge_wire::sandbox_wallet::{Invoiced, LoggedIn, Paid, PaidKind, SuccessAction, Withdrawn};
use serde::Deserialize;
use url::Url;
use zeroize::Zeroizing;

pub(crate) mod links;

/// How long a payment, a service's answer or a withdrawal's settlement may take.
const WAIT: Duration = Duration::from_secs(60);

/// Why the sandbox wallet did not do what it was asked.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum WalletError {
    /// A field of the request is not usable (not an invoice, not an LNURL, no amount…).
    #[error("{field}: {message}")]
    Invalid {
        /// The field.
        field: &'static str,
        /// What is wrong with it.
        message: String,
    },
    /// The link is an LNURL of another kind (a `payRequest` given to withdraw…).
    #[error("not an {expected}: the service answered a {found:?}")]
    WrongKind {
        /// What the route needs (`LNURL-withdraw (withdrawRequest)`…).
        expected: &'static str,
        /// The `tag` (or `"no tag"`) the service answered.
        found: String,
    },
    /// The service could not be reached, or did not answer in time.
    #[error("fetching {url}: {message}")]
    Unreachable {
        /// The URL fetched (without its query, which may hold secrets).
        url: String,
        /// What failed.
        message: String,
    },
    /// The service answered something that is not what the LUD says.
    #[error("the service's answer is not valid: {0}")]
    BadAnswer(String),
    /// The service answered a LUD-01 error.
    #[error("the service refused: {0}")]
    Refused(String),
    /// The service's invoice does not match what was asked for.
    #[error("the service's invoice does not match: {0}")]
    Mismatch(String),
    /// The wallet's node failed (payment failed, no route, invoice not created…).
    #[error("the wallet's node: {0}")]
    Node(#[from] BackendError),
    /// The wallet's invoice was not paid in time.
    #[error("the service did not pay the wallet's invoice within {0} s")]
    NotPaid(u64),
    /// The linking key could not be derived.
    #[error("deriving the linking key: {0}")]
    Key(String),
}

impl WalletError {
    pub(crate) fn invalid(field: &'static str, message: impl Into<String>) -> Self {
        WalletError::Invalid { field, message: message.into() }
    }
}

/// The sandbox wallet: its node, the seed its LUD-05 linking keys come from, an HTTP client.
pub struct SandboxWallet {
    node: Arc<dyn LightningBackend>,
    seed: Zeroizing<[u8; 32]>,
    http: reqwest::Client,
}

impl std::fmt::Debug for SandboxWallet {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SandboxWallet")
            .field("node", &self.node.backend_name())
            .finish_non_exhaustive()
    }
}

/// A LUD-06 callback's answer as a wallet reads it (the success action is optional and any of
/// LUD-09's kinds).
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct PayCallbackAnswer {
    pr: String,
    #[serde(default)]
    success_action: Option<RawSuccessAction>,
}

/// A LUD-09 success action, any tag.
#[derive(Debug, Deserialize)]
struct RawSuccessAction {
    tag: String,
    #[serde(default)]
    message: Option<String>,
    #[serde(default)]
    description: Option<String>,
    #[serde(default)]
    url: Option<String>,
    #[serde(default)]
    ciphertext: Option<String>,
    #[serde(default)]
    iv: Option<String>,
}

impl SandboxWallet {
    /// A wallet on `node`, its linking keys derived from `seed`.
    pub fn new(node: Arc<dyn LightningBackend>, seed: Zeroizing<[u8; 32]>) -> Self {
        let http = reqwest::Client::builder()
            .timeout(WAIT)
            .build()
            .unwrap_or_else(|_| reqwest::Client::new());
        SandboxWallet { node, seed, http }
    }

    /// The wallet's node.
    pub fn node(&self) -> &Arc<dyn LightningBackend> {
        &self.node
    }

    /// Pays `invoice`: a BOLT 11 invoice or an LNURL-pay link (see the module docs).
    pub async fn pay(&self, invoice: &str, amount_msat: Option<u64>) -> Result<Paid, WalletError> {
        let text = links::strip_lightning(invoice);
        if text.is_empty() {
            return Err(WalletError::invalid("invoice", "empty"));
        }
        let lower = text.to_ascii_lowercase();
        if lower.starts_with("ln") && !lower.starts_with("lnurl") {
            let invoice = parse_invoice(text)?;
            return self.pay_invoice(PaidKind::Bolt11, invoice, amount_msat, None).await;
        }
        let url = links::resolve(text, "invoice").map_err(|e| match e {
            WalletError::Invalid { field, .. } => WalletError::invalid(
                field,
                "neither a BOLT 11 invoice nor an LNURL-pay link (LNURL1…, lnurlp://, http(s)://)",
            ),
            other => other,
        })?;
        let request: LnurlPayRequest =
            self.fetch(&url, "LNURL-pay (payRequest)", lnedge_wire::lnurl::PAY_REQUEST_TAG).await?;
        let amount = match amount_msat {
            Some(a) => a,
            None if request.min_sendable == request.max_sendable => request.min_sendable,
            None => {
                return Err(WalletError::invalid(
                    "amount_msat",
                    format!(
                        "the service takes {} to {} msat: say how much",
                        request.min_sendable, request.max_sendable
                    ),
                ))
            }
        };
        if amount < request.min_sendable || amount > request.max_sendable || amount == 0 {
            return Err(WalletError::invalid(
                "amount_msat",
                format!(
                    "{amount} msat is outside the service's {} to {} msat",
                    request.min_sendable, request.max_sendable
                ),
            ));
        }
        let mut callback = parse_callback(&request.callback)?;
        callback.query_pairs_mut().append_pair("amount", &amount.to_string());
        let answer: PayCallbackAnswer = self.get_json(&callback).await?;
        let invoice =
            parse_invoice(&answer.pr).map_err(|e| WalletError::BadAnswer(format!("pr: {e}")))?;
        if invoice.amount_milli_satoshis() != Some(amount) {
            return Err(WalletError::Mismatch(format!(
                "it asks for {:?} msat, {amount} msat were asked for",
                invoice.amount_milli_satoshis()
            )));
        }
        let expected = sha256::Hash::hash(request.metadata.as_bytes());
        match invoice.description() {
            Bolt11InvoiceDescriptionRef::Hash(h) if h.0 == expected => {}
            _ => {
                return Err(WalletError::Mismatch(
                    "its description hash is not the SHA-256 of the metadata (LUD-06)".into(),
                ))
            }
        }
        self.pay_invoice(PaidKind::LnurlPay, invoice, None, answer.success_action).await
    }

    /// Pays `invoice` with the wallet's node and reads the success action, if any.
    async fn pay_invoice(
        &self,
        kind: PaidKind,
        invoice: Bolt11Invoice,
        amount_msat: Option<u64>,
        action: Option<RawSuccessAction>,
    ) -> Result<Paid, WalletError> {
        let amount = match (invoice.amount_milli_satoshis(), amount_msat) {
            (Some(a), None) => a,
            (Some(a), Some(b)) if a == b => a,
            (Some(a), Some(b)) => {
                return Err(WalletError::invalid(
                    "amount_msat",
                    format!("{b} msat, but the invoice asks for {a} msat"),
                ))
            }
            (None, Some(b)) if b > 0 => b,
            (None, _) => {
                return Err(WalletError::invalid(
                    "amount_msat",
                    "the invoice has no amount: say how much",
                ))
            }
        };
        let request = PayRequest {
            invoice: invoice.clone(),
            amount_msat: invoice.amount_milli_satoshis().is_none().then_some(amount),
            max_fee_msat: amount / 100 + 10_000,
            timeout: WAIT,
            max_total_cltv_expiry_delta: None,
        };
        let outcome = self.node.pay(request).await?;
        let success_action = action.map(|a| read_success_action(a, &outcome.preimage.0));
        Ok(Paid {
            kind,
            amount_msat: amount,
            fee_msat: outcome.fee_paid_msat,
            payment_hash: hex::encode(outcome.payment_hash.0),
            preimage: hex::encode(outcome.preimage.0),
            invoice: invoice.to_string(),
            success_action,
        })
    }

    /// Takes the LNURL-withdraw `lnurl` (see the module docs).
    pub async fn withdraw(&self, lnurl: &str, pin: Option<&str>) -> Result<Withdrawn, WalletError> {
        let url = links::resolve(lnurl, "lnurl")?;
        let request: WithdrawRequest = self
            .fetch(
                &url,
                "LNURL-withdraw (withdrawRequest)",
                lnedge_wire::lnurl::WITHDRAW_REQUEST_TAG,
            )
            .await?;
        let amount = request.max_withdrawable;
        if amount == 0 || amount < request.min_withdrawable {
            return Err(WalletError::Refused(format!(
                "nothing to withdraw (maxWithdrawable {amount} msat)"
            )));
        }
        if request.pin_limit.is_some_and(|limit| amount >= limit) && pin.is_none() {
            return Err(WalletError::invalid("pin", "the service asks for a PIN for this amount"));
        }
        let mut description = request.default_description.clone();
        while description.len() > 639 {
            description.pop();
        }
        let preimage = PaymentPreimage(rand::random());
        let invoice = self
            .node
            .create_invoice(
                preimage,
                InvoiceParams {
                    amount_msat: Some(amount),
                    description: InvoiceDescription::Direct(description.clone()),
                    expiry_secs: 600,
                    min_final_cltv_expiry_delta: None,
                },
            )
            .await?;
        let payment_hash = lnedge_node::PaymentHash(invoice.payment_hash().to_byte_array());
        let mut callback = parse_callback(&request.callback)?;
        callback
            .query_pairs_mut()
            .append_pair("k1", &request.k1)
            .append_pair("pr", &invoice.to_string());
        if let Some(pin) = pin {
            callback.query_pairs_mut().append_pair("pin", pin);
        }
        self.expect_ok(&callback).await?;
        let deadline = tokio::time::Instant::now() + WAIT;
        loop {
            if let InvoiceState::Settled { amount_msat } =
                self.node.invoice_state(payment_hash).await?
            {
                return Ok(Withdrawn {
                    amount_msat,
                    payment_hash: hex::encode(payment_hash.0),
                    description,
                });
            }
            if tokio::time::Instant::now() > deadline {
                return Err(WalletError::NotPaid(WAIT.as_secs()));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Answers the LNURL-auth `lnurl` (see the module docs).
    pub async fn login(&self, lnurl: &str) -> Result<LoggedIn, WalletError> {
        let url = links::resolve(lnurl, "lnurl")?;
        let param =
            |name: &str| url.query_pairs().find(|(k, _)| k == name).map(|(_, v)| v.into_owned());
        let tag = param("tag");
        if tag.as_deref() != Some("login") {
            return Err(WalletError::invalid(
                "lnurl",
                format!(
                    "not an LNURL-auth link (tag={}; LUD-04 needs tag=login)",
                    tag.as_deref().unwrap_or("none")
                ),
            ));
        }
        let k1: [u8; 32] = param("k1")
            .and_then(|k| hex::decode(k).ok())
            .and_then(|k| k.try_into().ok())
            .ok_or_else(|| WalletError::invalid("lnurl", "its k1 is not 32 bytes of hex"))?;
        let domain = url.host_str().unwrap_or_default().to_owned();
        let key = links::linking_key(&self.seed, &domain)?;
        let (sig, linking_key) = links::sign_k1(&key, &k1);
        let mut callback = url.clone();
        callback.query_pairs_mut().append_pair("sig", &sig).append_pair("key", &linking_key);
        self.expect_ok(&callback).await?;
        Ok(LoggedIn { domain, linking_key, action: param("action") })
    }

    /// An invoice of the wallet's node for `preimage_hex` (64 hex digits), `amount_msat` and
    /// `description`: the payee side of the async relay from a shell (`lnedge payee claim`),
    /// the sandbox wallet standing in for the payee's own node. The same preimage gives the
    /// same invoice again (the node's contract), so a repeated claim is harmless.
    pub async fn invoice(
        &self,
        preimage_hex: &str,
        amount_msat: u64,
        description: &str,
        expiry_secs: Option<u32>,
    ) -> Result<Invoiced, WalletError> {
        let preimage: [u8; 32] = hex::decode(preimage_hex.trim())
            .ok()
            .and_then(|p| p.try_into().ok())
            .ok_or_else(|| WalletError::invalid("preimage", "not 64 hex digits"))?;
        if amount_msat == 0 {
            return Err(WalletError::invalid("amount_msat", "must be at least 1"));
        }
        let expiry_secs = expiry_secs.unwrap_or(3600);
        if !(60..=7 * 86_400).contains(&expiry_secs) {
            return Err(WalletError::invalid("expiry_secs", "must be 60 to 604800"));
        }
        let params = InvoiceParams {
            amount_msat: Some(amount_msat),
            description: InvoiceDescription::Direct(description.to_owned()),
            expiry_secs,
            min_final_cltv_expiry_delta: None,
        };
        let invoice = self.node.create_invoice(PaymentPreimage(preimage), params).await?;
        Ok(Invoiced {
            payment_hash: hex::encode(invoice.payment_hash().as_byte_array()),
            invoice: invoice.to_string(),
        })
    }

    /// GETs `url` as an LNURL request of the kind tagged `tag`.
    async fn fetch<T: serde::de::DeserializeOwned>(
        &self,
        url: &Url,
        expected: &'static str,
        tag: &str,
    ) -> Result<T, WalletError> {
        let value: serde_json::Value = self.get_json(url).await?;
        let found = value.get("tag").and_then(|t| t.as_str());
        if found != Some(tag) {
            return Err(WalletError::WrongKind {
                expected,
                found: found.unwrap_or("no tag").to_owned(),
            });
        }
        serde_json::from_value(value)
            .map_err(|e| WalletError::BadAnswer(format!("{expected}: {e}")))
    }

    /// GETs `url` and expects LUD-01's `{"status":"OK"}`.
    async fn expect_ok(&self, url: &Url) -> Result<(), WalletError> {
        let value: serde_json::Value = self.get_json(url).await?;
        match value.get("status").and_then(|s| s.as_str()) {
            Some(s) if s.eq_ignore_ascii_case("OK") => Ok(()),
            _ => {
                Err(WalletError::BadAnswer(format!("expected {{\"status\":\"OK\"}}, got {value}")))
            }
        }
    }

    /// GETs `url` as JSON; a LUD-01 error answer becomes [`WalletError::Refused`].
    async fn get_json<T: serde::de::DeserializeOwned>(&self, url: &Url) -> Result<T, WalletError> {
        let shown = {
            let mut u = url.clone();
            u.set_query(None);
            u.to_string()
        };
        let unreachable =
            |message: String| WalletError::Unreachable { url: shown.clone(), message };
        let response =
            self.http.get(url.clone()).send().await.map_err(|e| unreachable(e.to_string()))?;
        let status = response.status();
        let bytes = response.bytes().await.map_err(|e| unreachable(e.to_string()))?;
        let value: serde_json::Value = serde_json::from_slice(&bytes).map_err(|_| {
            WalletError::BadAnswer(format!(
                "HTTP {status}, not JSON: {}",
                String::from_utf8_lossy(&bytes[..bytes.len().min(200)])
            ))
        })?;
        if value
            .get("status")
            .and_then(|s| s.as_str())
            .is_some_and(|s| s.eq_ignore_ascii_case("ERROR"))
        {
            let reason = value.get("reason").and_then(|r| r.as_str()).unwrap_or("no reason given");
            return Err(WalletError::Refused(reason.to_owned()));
        }
        if !status.is_success() {
            return Err(unreachable(format!("HTTP {status}")));
        }
        serde_json::from_value(value).map_err(|e| WalletError::BadAnswer(e.to_string()))
    }
}

/// A callback URL from a service's answer.
fn parse_callback(callback: &str) -> Result<Url, WalletError> {
    let url = Url::parse(callback)
        .map_err(|e| WalletError::BadAnswer(format!("callback {callback:?} is not a URL ({e})")))?;
    if !matches!(url.scheme(), "http" | "https") {
        return Err(WalletError::BadAnswer(format!("callback {callback:?} is not http(s)")));
    }
    Ok(url)
}

/// A LUD-09 success action as shown to the user: `aes` (LUD-10) decrypted with `preimage`.
fn read_success_action(action: RawSuccessAction, preimage: &[u8; 32]) -> SuccessAction {
    let text = match action.tag.as_str() {
        "message" => action.message,
        "aes" => match (&action.ciphertext, &action.iv) {
            (Some(c), Some(iv)) => Some(
                crate::deputy::decrypt_aes_success_action(preimage, c, iv)
                    .unwrap_or_else(|| "(the aes success action does not decrypt)".to_owned()),
            ),
            _ => None,
        },
        _ => None,
    };
    SuccessAction { tag: action.tag, description: action.description, text, url: action.url }
}
