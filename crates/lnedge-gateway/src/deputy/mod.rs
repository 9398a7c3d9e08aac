//! Deputy sales (PROTOCOLS.md §2, D1): sealed sale payloads served as LNURL-pay (LUD-06/17) with
//! a LUD-10 AES success action carrying the claim (issue #6).
//!
//! The rules are [`sales::Deputy`] (`Gateway::deputy`): a sale's lifecycle from the wallet's
//! fetch to the terminal's report. This module holds what they compute: fiat conversion, the
//! LUD-06 metadata, the claim text and its LUD-10 encryption. The HTTP side is `api/deputy.rs`.
//! Formats: `docs/protocols/deputy.md`.

pub mod sales;

use aes::cipher::{BlockDecryptMut, BlockEncryptMut, KeyIvInit};
use base64::engine::general_purpose::STANDARD as BASE64;
use base64::Engine;
use lnedge_proto::deputy::{claim_for, Currency, DisplayAmount, Sale, TerminalKeys};
use lnedge_proto::envelope::Envelope;

use crate::store::FiatQuote;

/// The operator's settings of this feature (part of the [`GatewaySettings`](crate::engine::GatewaySettings)).
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct DeputySettings {
    /// Seconds a fetched sale's amount (and fiat rate) holds: the callback must come within it,
    /// and the invoice expires that long after it is created.
    pub quote_expiry_secs: u32,
    /// The largest sale accepted, in millisatoshis.
    pub max_amount_msat: u64,
}

impl Default for DeputySettings {
    fn default() -> Self {
        DeputySettings { quote_expiry_secs: 600, max_amount_msat: 10_000_000_000 }
    }
}

impl DeputySettings {
    /// Sets [`quote_expiry_secs`](Self::quote_expiry_secs).
    pub fn with_quote_expiry_secs(mut self, secs: u32) -> Self {
        self.quote_expiry_secs = secs;
        self
    }

    /// Sets [`max_amount_msat`](Self::max_amount_msat).
    pub fn with_max_amount_msat(mut self, msat: u64) -> Self {
        self.max_amount_msat = msat;
        self
    }
}

pub use crate::accounting::minor_unit_digits;

/// Why an amount could not be converted.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[non_exhaustive]
pub enum AmountError {
    /// The rate source gave an unusable rate.
    #[error("the {currency} rate {rate} is not a positive number")]
    BadRate {
        /// The currency.
        currency: String,
        /// The rate.
        rate: f64,
    },
    /// The amount is below one satoshi or above the configured maximum.
    #[error("{amount_msat} msat is outside 1 000..={max_msat} msat")]
    OutOfRange {
        /// The converted amount.
        amount_msat: u64,
        /// The maximum.
        max_msat: u64,
    },
}

/// The sale's amount in millisatoshis: `SAT` amounts exactly, fiat amounts at `quote`, rounded
/// to the nearest whole satoshi (what every wallet can pay).
pub fn amount_msat(
    sale: &Sale,
    quote: Option<&FiatQuote>,
    max_msat: u64,
) -> Result<u64, AmountError> {
    let msat = if sale.currency.is_sat() {
        sale.amount.saturating_mul(1000)
    } else {
        let currency = sale.currency.as_str();
        let rate = quote.map_or(0.0, |q| q.rate_per_btc);
        if !(rate.is_finite() && rate > 0.0) {
            return Err(AmountError::BadRate { currency: currency.to_owned(), rate });
        }
        let major = sale.amount as f64 / 10f64.powi(minor_unit_digits(currency) as i32);
        let sat = (major / rate * 100_000_000.0).round();
        if sat >= (u64::MAX / 1000) as f64 {
            u64::MAX
        } else {
            (sat as u64).saturating_mul(1000)
        }
    };
    if msat < 1000 || msat > max_msat {
        return Err(AmountError::OutOfRange { amount_msat: msat, max_msat });
    }
    Ok(msat)
}

/// The amount as people read it: `4.20 EUR`, `2100 sat` ([`DisplayAmount`], in `lnedge-proto`).
pub fn display_amount(amount: u64, currency: &Currency) -> String {
    DisplayAmount::new(amount, *currency).to_string()
}

/// The LUD-06 metadata string (the invoice's description hash is its SHA-256).
pub fn metadata(sale: &Sale, device_name: &str) -> String {
    let text = format!(
        "{} at {} (sale {})",
        display_amount(sale.amount, &sale.currency),
        device_name,
        sale.counter
    );
    serde_json::json!([["text/plain", text]]).to_string()
}

/// The claim as the wallet shows it after paying: `"1234-5678 LNEDGE1…"` (short code for a
/// keypad, then the full claim envelope for QR/NFC).
pub fn claim_text(master: &[u8; 32], sale: &Sale) -> String {
    let keys = TerminalKeys::derive(master, sale.device_id);
    let (claim, code) = claim_for(&keys.claim_key, sale);
    // A 41-byte envelope always fits the text encoding.
    let envelope = Envelope::DeputyClaim(claim).to_text().unwrap_or_default();
    format!("{code} {envelope}")
}

/// A LUD-10 `aes` success action's (ciphertext, iv), both base64: AES-256-CBC, PKCS#7, key =
/// the payment preimage.
pub fn aes_success_action(preimage: &[u8; 32], plaintext: &str, iv: [u8; 16]) -> (String, String) {
    let cipher = cbc::Encryptor::<aes::Aes256>::new(preimage.into(), &iv.into());
    let ciphertext =
        cipher.encrypt_padded_vec_mut::<aes::cipher::block_padding::Pkcs7>(plaintext.as_bytes());
    (BASE64.encode(ciphertext), BASE64.encode(iv))
}

/// Decrypts a LUD-10 `aes` success action as a wallet does (base64 ciphertext and iv, key = the
/// preimage). `None` if it does not decrypt to UTF-8 text.
pub fn decrypt_aes_success_action(
    preimage: &[u8; 32],
    ciphertext_b64: &str,
    iv_b64: &str,
) -> Option<String> {
    let iv: [u8; 16] = BASE64.decode(iv_b64).ok()?.try_into().ok()?;
    let ciphertext = BASE64.decode(ciphertext_b64).ok()?;
    let cipher = cbc::Decryptor::<aes::Aes256>::new(preimage.into(), &iv.into());
    let plain =
        cipher.decrypt_padded_vec_mut::<aes::cipher::block_padding::Pkcs7>(&ciphertext).ok()?;
    String::from_utf8(plain).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use lnedge_proto::DeviceId;

    #[test]
    fn lud10_known_answer() {
        // lud10_aes of shared/testdata/lnurl-vectors.json.
        let preimage: [u8; 32] =
            hex::decode("c8ee18fe748fa31dd763bec8efa0a1ff7cb150fd12fb6e7f683b56fe04976b1c")
                .unwrap()
                .try_into()
                .unwrap();
        let iv: [u8; 16] = core::array::from_fn(|i| i as u8);
        let (ciphertext, iv) = aes_success_action(&preimage, "Secret data", iv);
        assert_eq!(iv, "AAECAwQFBgcICQoLDA0ODw==");
        assert_eq!(ciphertext, "V18OdJa/x4zl8aDmtb7OWQ==");
        assert_eq!(
            decrypt_aes_success_action(&preimage, &ciphertext, &iv).as_deref(),
            Some("Secret data")
        );
        assert_eq!(decrypt_aes_success_action(&[0; 32], &ciphertext, &iv), None);
    }

    fn sale(amount: u64, currency: &str) -> Sale {
        Sale {
            device_id: DeviceId([1; 16]),
            counter: 1,
            amount,
            currency: Currency::parse(currency).unwrap(),
        }
    }

    #[test]
    fn amounts_convert() {
        let q = FiatQuote { currency: "EUR".into(), rate_per_btc: 60_000.0, source: "x".into() };
        // 4.20 EUR at 60 000 EUR/BTC = 7 000 sat.
        assert_eq!(amount_msat(&sale(420, "EUR"), Some(&q), u64::MAX), Ok(7_000_000));
        assert_eq!(amount_msat(&sale(2100, "SAT"), None, u64::MAX), Ok(2_100_000));
        let jpy =
            FiatQuote { currency: "JPY".into(), rate_per_btc: 10_000_000.0, source: "x".into() };
        assert_eq!(amount_msat(&sale(1000, "JPY"), Some(&jpy), u64::MAX), Ok(10_000_000));
        assert!(matches!(
            amount_msat(&sale(420, "EUR"), None, u64::MAX),
            Err(AmountError::BadRate { .. })
        ));
        assert!(matches!(
            amount_msat(&sale(420, "EUR"), Some(&q), 1_000_000),
            Err(AmountError::OutOfRange { amount_msat: 7_000_000, .. })
        ));
        assert_eq!(display_amount(420, &Currency::parse("EUR").unwrap()), "4.20 EUR");
        assert_eq!(display_amount(5, &Currency::parse("KWD").unwrap()), "0.005 KWD");
        assert_eq!(display_amount(21, &Currency::SAT), "21 sat");
        assert_eq!(
            metadata(&sale(420, "EUR"), "Café \"Nord\""),
            r#"[["text/plain","4.20 EUR at Café \"Nord\" (sale 1)"]]"#
        );
    }
}
