//! What a customer presents to the machine: a payment preimage, by QR text, NFC or keypad,
//! decoded with the offline envelope of `lnedge_proto::envelope`.

use lnedge_proto::envelope::{self, ndef, Envelope};
pub use lnedge_proto::envelope::{Claim, ClaimContext};

/// Raw input from one of the machine's offline transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimInput<'a> {
    /// Text scanned from a QR code or pasted: a bare 64-hex preimage as wallets show it, or an
    /// lnedge envelope (`LNEDGE1…`), optionally behind `lightning:` / `lnedge:`.
    Text(&'a str),
    /// Typed on a keypad: the 64-hex preimage, spaces and dashes allowed.
    Keypad(&'a str),
    /// The bytes of an NFC NDEF message carrying an lnedge envelope record.
    Ndef(&'a [u8]),
}

/// Why input is not a claim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimParseError {
    /// Scanned or pasted text that does not decode.
    #[error("{0}")]
    Text(envelope::TextError),
    /// Keypad input that is not 64 hex digits.
    #[error("{0}")]
    Keypad(envelope::KeypadError),
    /// An NFC message that does not decode.
    #[error("NFC message: {0}")]
    Ndef(ndef::NdefError),
    /// An NFC message without an lnedge envelope (e.g. only a link).
    #[error("the NFC message carries no lnedge envelope")]
    NoEnvelope,
    /// A valid envelope of a type that is not a claim.
    #[error("this is a {0}, not a payment proof")]
    NotAClaim(&'static str),
}

fn claim_of(envelope: Envelope<'_>) -> Result<Claim, ClaimParseError> {
    match envelope {
        Envelope::Claim(claim) => Ok(claim),
        Envelope::RefundVoucher(_) => Err(ClaimParseError::NotAClaim("refund voucher")),
        Envelope::PoolTopUp(_) => Err(ClaimParseError::NotAClaim("pool top-up")),
        Envelope::DeputyClaim(_) => Err(ClaimParseError::NotAClaim("deputy sale claim")),
        Envelope::PayerToken(_) => Err(ClaimParseError::NotAClaim("payer token")),
    }
}

/// Decodes a claim from any transport.
pub fn parse_claim(input: ClaimInput<'_>) -> Result<Claim, ClaimParseError> {
    match input {
        ClaimInput::Text(text) => {
            claim_of(envelope::decode_text(text).map_err(ClaimParseError::Text)?)
        }
        ClaimInput::Keypad(text) => {
            envelope::parse_keypad_claim(text).map_err(ClaimParseError::Keypad)
        }
        ClaimInput::Ndef(bytes) => {
            let message = ndef::decode(bytes).map_err(ClaimParseError::Ndef)?;
            claim_of(message.envelope.ok_or(ClaimParseError::NoEnvelope)?)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lnedge_proto::{DeviceId, PoolId};

    #[test]
    fn every_transport_reads_a_claim() {
        let preimage = [0xab; 32];
        let hex: String = preimage.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(parse_claim(ClaimInput::Text(&hex)).expect("hex").preimage, preimage);
        let grouped = hex
            .to_uppercase()
            .as_bytes()
            .chunks(4)
            .map(|c| std::str::from_utf8(c).expect("ascii"))
            .collect::<Vec<_>>()
            .join("-");
        assert_eq!(parse_claim(ClaimInput::Keypad(&grouped)).expect("keypad").preimage, preimage);
        let context =
            ClaimContext { device_id: DeviceId([1; 16]), pool_id: PoolId([2; 8]), entry_index: 7 };
        let claim = Claim { preimage, context: Some(context) };
        let text = Envelope::Claim(claim).to_text_case(envelope::TextCase::Upper).expect("text");
        assert!(text.starts_with("LNEDGE1"), "{text}");
        assert_eq!(parse_claim(ClaimInput::Text(&text)).expect("envelope"), claim);
        let nfc = ndef::Message::from_envelope(Envelope::Claim(claim)).to_vec().expect("ndef");
        assert_eq!(parse_claim(ClaimInput::Ndef(&nfc)).expect("nfc"), claim);
    }

    #[test]
    fn non_claims_are_named() {
        let voucher = envelope::RefundVoucher {
            device_id: DeviceId([1; 16]),
            pool_id: PoolId([2; 8]),
            entry_index: 1,
            payment_hash: [3; 32],
            amount_msat: 5,
            counter: 1,
        };
        let text = Envelope::RefundVoucher(voucher).to_text().expect("text");
        let err = parse_claim(ClaimInput::Text(&text)).expect_err("voucher");
        assert_eq!(err.to_string(), "this is a refund voucher, not a payment proof");
        assert!(matches!(parse_claim(ClaimInput::Text("hello")), Err(ClaimParseError::Text(_))));
        assert!(matches!(parse_claim(ClaimInput::Keypad("12")), Err(ClaimParseError::Keypad(_))));
        assert!(matches!(
            parse_claim(ClaimInput::Ndef(&[0xff, 0, 1])),
            Err(ClaimParseError::Ndef(_))
        ));
        let link = ndef::Message::from_uri("lightning:lnbc1").to_vec().expect("ndef");
        assert_eq!(parse_claim(ClaimInput::Ndef(&link)), Err(ClaimParseError::NoEnvelope));
    }
}
