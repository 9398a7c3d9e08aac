//! Invoice-bound tokens: a payer device signs one invoice (hash, amount, payee, expiry) with
//! its counter (`lnedge_proto::payer`); the merchant hands the token and the invoice to the
//! gateway (`POST /v1/pay/token`, or the peer message `initiate_payment`), which pays it once.
//!
//! Checked in this order, each refusal with its own code: the token parses (`invalid_field`),
//! names an enrolled payer device (`unknown_device`), its tag verifies with that device's key
//! (`bad_token`: forged, altered, or another device's), the invoice is the one it names
//! (`wrong_invoice`, `wrong_amount`, `wrong_payee`), it has not expired (`token_expired`) and
//! does not live too long (`token_lifetime`), then [`spend::reserve`] (counter strictly above the
//! device's last, stored with the reservation: `replayed_counter`; limits) and
//! [`spend::pay_once`] (`invoice_already_paid`).

use lnedge_proto::envelope::{decode_text, Envelope};
use lnedge_proto::payer::{PayerKey, PayerToken, TokenError, TOKEN_LEN};

use super::spend::{self, Spend};
use super::{payable_invoice, PayerError, Payers};
use crate::store::payers::{PayerKind, PayerPaymentRecord};

/// Reads a token as 236 hex digits or as envelope text (`LNEDGE1…`, type `0x20`).
pub fn parse_token(text: &str) -> Result<PayerToken, PayerError> {
    let text = text.trim();
    let bad = |m: String| PayerError::invalid("token", m);
    if text.len() == TOKEN_LEN * 2 && text.bytes().all(|b| b.is_ascii_hexdigit()) {
        let bytes = hex::decode(text).map_err(|e| bad(e.to_string()))?;
        return PayerToken::parse(&bytes).map_err(|e| bad(e.to_string()));
    }
    match decode_text(text) {
        Ok(Envelope::PayerToken(token)) => Ok(token),
        Ok(_) => Err(bad("the envelope is not a payer token".into())),
        Err(e) => Err(bad(format!("neither {} hex digits nor envelope text: {e}", TOKEN_LEN * 2))),
    }
}

fn token_refusal(e: TokenError) -> PayerError {
    let code = match e {
        TokenError::BadTag => "bad_token",
        TokenError::WrongInvoice => "wrong_invoice",
        TokenError::WrongAmount => "wrong_amount",
        TokenError::WrongPayee => "wrong_payee",
        TokenError::Expired => "token_expired",
        _ => return PayerError::invalid("token", e.to_string()),
    };
    PayerError::refused(code, e.to_string())
}

impl Payers<'_> {
    /// Pays `invoice` on the authority of `token` (see the module for the checks).
    pub async fn pay_token(
        &self,
        token: &PayerToken,
        invoice: &str,
    ) -> Result<PayerPaymentRecord, PayerError> {
        let auth = &token.authorization;
        let device = self.gateway.store().payer(auth.device_id).await?.ok_or_else(|| {
            PayerError::not_found("unknown_device", format!("no payer device {}", auth.device_id))
        })?;
        spend::check_kind(&device, PayerKind::Device)?;
        token
            .verify(&PayerKey::derive(self.gateway.device_master_key(), &device.id))
            .map_err(token_refusal)?;
        let now = self.gateway.now_secs();
        let (invoice, amount_msat) = payable_invoice(invoice, now)?;
        let payee = invoice.recover_payee_pub_key().serialize();
        auth.check_invoice(invoice.payment_hash().as_ref(), amount_msat, &payee, now)
            .map_err(token_refusal)?;
        let settings = self.settings();
        if auth.expires_at > now.saturating_add(settings.token_max_lifetime_secs) {
            return Err(PayerError::refused(
                "token_lifetime",
                format!(
                    "the token is valid for more than {} s; the device must sign shorter-lived tokens",
                    settings.token_max_lifetime_secs
                ),
            ));
        }
        let reserved = spend::reserve(
            self.gateway,
            settings,
            device.id,
            Spend { amount_msat, counter: Some(auth.counter), pin: None },
        )
        .await?;
        spend::pay_once(self.gateway, settings, &reserved, auth.counter, &invoice, amount_msat)
            .await
    }
}
