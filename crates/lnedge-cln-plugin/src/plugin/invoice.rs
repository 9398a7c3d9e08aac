//! Checking an `lnedge-invoice` request and building the invoice that CLN then signs
//! (`signinvoice` replaces the placeholder signature with the node's).

use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{Secp256k1, SecretKey};
use lightning_invoice::{
    Bolt11InvoiceDescription, Currency, Description, InvoiceBuilder, PaymentSecret, Sha256,
};

use crate::wire::{hex32, InvoiceRequest};

/// The currency of CLN's `network` (its `init` configuration).
pub fn currency(network: &str) -> Result<Currency, String> {
    match network {
        "bitcoin" => Ok(Currency::Bitcoin),
        "testnet" | "testnet4" => Ok(Currency::BitcoinTestnet),
        "signet" => Ok(Currency::Signet),
        "regtest" => Ok(Currency::Regtest),
        other => Err(format!("unknown network {other:?}")),
    }
}

/// Checks a request: hashes and preimage well-formed and matching, exactly one description,
/// positive amount and expiry. The message names the parameter at fault.
pub fn check(request: &InvoiceRequest) -> Result<(), String> {
    let hash = hex32("payment_hash", &request.payment_hash)?;
    if let Some(preimage) = &request.preimage {
        let preimage = hex32("preimage", preimage)?;
        if sha256::Hash::hash(&preimage).to_byte_array() != hash {
            return Err("preimage: its SHA-256 is not payment_hash".into());
        }
    }
    match (&request.description, &request.description_hash) {
        (Some(text), None) if text.len() > 639 => {
            return Err(format!("description: {} bytes exceeds BOLT 11's 639", text.len()))
        }
        (Some(_), None) => {}
        (None, Some(h)) => {
            hex32("description_hash", h)?;
        }
        _ => return Err("description: give exactly one of description and description_hash".into()),
    }
    if request.amount_msat == Some(0) {
        return Err("amount_msat: must be positive (or absent)".into());
    }
    if request.expiry_secs == 0 {
        return Err("expiry_secs: must be positive".into());
    }
    Ok(())
}

/// The invoice for a checked request, signed with a throw-away key for `signinvoice` to
/// replace. `now` is the creation time (since the Unix epoch).
pub fn unsigned(
    request: &InvoiceRequest,
    currency: Currency,
    payment_secret: [u8; 32],
    cltv: u16,
    now: Duration,
) -> Result<String, String> {
    let hash = hex32("payment_hash", &request.payment_hash)?;
    let description = match (&request.description, &request.description_hash) {
        (Some(text), _) => Bolt11InvoiceDescription::Direct(
            Description::new(text.clone()).map_err(|e| format!("description: {e}"))?,
        ),
        (None, Some(h)) => Bolt11InvoiceDescription::Hash(Sha256(sha256::Hash::from_byte_array(
            hex32("description_hash", h)?,
        ))),
        (None, None) => return Err("description: missing".into()),
    };
    let builder = InvoiceBuilder::new(currency)
        .invoice_description(description)
        .payment_hash(sha256::Hash::from_byte_array(hash))
        .payment_secret(PaymentSecret(payment_secret))
        .duration_since_epoch(now)
        .min_final_cltv_expiry_delta(u64::from(cltv))
        .expiry_time(Duration::from_secs(u64::from(request.expiry_secs)))
        .basic_mpp();
    let builder = match request.amount_msat {
        Some(amount) => builder.amount_milli_satoshis(amount),
        None => builder,
    };
    let placeholder = SecretKey::from_slice(&[0x01; 32]).map_err(|e| e.to_string())?;
    let secp = Secp256k1::signing_only();
    builder
        .build_signed(|msg| secp.sign_ecdsa_recoverable(msg, &placeholder))
        .map(|invoice| invoice.to_string())
        .map_err(|e| format!("building the invoice: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> InvoiceRequest {
        let preimage = [7u8; 32];
        InvoiceRequest {
            payment_hash: hex::encode(sha256::Hash::hash(&preimage).to_byte_array()),
            preimage: Some(hex::encode(preimage)),
            amount_msat: Some(5_000),
            description: None,
            description_hash: Some("ab".repeat(32)),
            expiry_secs: 600,
            cltv: Some(288),
        }
    }

    #[test]
    fn requests_are_checked_by_parameter() {
        assert_eq!(check(&request()), Ok(()));
        let mut r = request();
        r.preimage = Some("08".repeat(32));
        assert_eq!(check(&r).unwrap_err(), "preimage: its SHA-256 is not payment_hash");
        let mut r = request();
        r.description = Some("both".into());
        assert!(check(&r).unwrap_err().starts_with("description: give exactly one"));
        let mut r = request();
        r.amount_msat = Some(0);
        assert!(check(&r).unwrap_err().starts_with("amount_msat"));
        let mut r = request();
        r.payment_hash = "xyz".into();
        assert_eq!(check(&r).unwrap_err(), "payment_hash: not hex");
        assert!(currency("mars").is_err());
    }

    #[test]
    fn the_invoice_carries_what_was_asked() {
        let text = unsigned(
            &request(),
            Currency::Regtest,
            [9; 32],
            288,
            Duration::from_secs(1_700_000_000),
        )
        .expect("invoice");
        let invoice: lightning_invoice::Bolt11Invoice = text.parse().expect("parses");
        assert_eq!(invoice.amount_milli_satoshis(), Some(5_000));
        assert_eq!(invoice.min_final_cltv_expiry_delta(), 288);
        assert_eq!(invoice.payment_secret().0, [9; 32]);
        assert_eq!(hex::encode(invoice.payment_hash().to_byte_array()), request().payment_hash);
        assert!(matches!(
            invoice.description(),
            lightning_invoice::Bolt11InvoiceDescriptionRef::Hash(h) if h.0.to_byte_array() == [0xab; 32]
        ));
    }
}
