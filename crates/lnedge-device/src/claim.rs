//! What a customer presents to the machine: a payment preimage, by QR text, NFC or keypad.

use lnedge_proto::{DeviceId, PoolId};

/// Raw input from one of the machine's offline transports.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClaimInput<'a> {
    /// Text scanned from a QR code (or pasted): a bare 64-hex preimage as wallets show it, or an
    /// lnedge envelope (`LNEDGE1…`).
    Text(&'a str),
    /// Digits and letters typed on a keypad: the 64-hex preimage, spaces and dashes allowed.
    Keypad(&'a str),
    /// The bytes of an NFC NDEF message.
    Ndef(&'a [u8]),
}

/// Which invoice a claim says it pays, when the claim carries it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ClaimContext {
    /// The device the invoice was offered by.
    pub device_id: DeviceId,
    /// The pool the invoice came from.
    pub pool_id: PoolId,
    /// The pool entry.
    pub index: u32,
}

/// A decoded claim.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Claim {
    /// The payment preimage.
    pub preimage: [u8; 32],
    /// Where it says it belongs, if it says.
    pub context: Option<ClaimContext>,
}

/// Why input is not a claim.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ClaimParseError {
    /// Nothing was presented.
    #[error("the input is empty")]
    Empty,
    /// Not 64 hexadecimal characters.
    #[error("expected a 64-character hexadecimal preimage, got {0}")]
    NotHexPreimage(String),
    /// An envelope that does not decode.
    #[error("{0}")]
    Envelope(String),
    /// A valid envelope of a type that is not a claim.
    #[error("this is a {0}, not a payment proof")]
    NotAClaim(&'static str),
}

/// Parses 64 hex characters (spaces and dashes ignored) into a preimage.
pub(crate) fn parse_hex_preimage(text: &str) -> Result<[u8; 32], ClaimParseError> {
    let digits: String = text.chars().filter(|c| !matches!(c, ' ' | '-' | '\t')).collect();
    if digits.is_empty() {
        return Err(ClaimParseError::Empty);
    }
    let describe = || {
        if digits.len() != 64 {
            format!("{} characters", digits.len())
        } else {
            "a non-hexadecimal character".to_owned()
        }
    };
    if digits.len() != 64 || !digits.chars().all(|c| c.is_ascii_hexdigit()) {
        return Err(ClaimParseError::NotHexPreimage(describe()));
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        let pair = digits
            .get(2 * i..2 * i + 2)
            .ok_or_else(|| ClaimParseError::NotHexPreimage(describe()))?;
        *byte = u8::from_str_radix(pair, 16)
            .map_err(|_| ClaimParseError::NotHexPreimage(describe()))?;
    }
    Ok(out)
}

/// Decodes a claim from any transport.
pub fn parse_claim(input: ClaimInput<'_>) -> Result<Claim, ClaimParseError> {
    match input {
        ClaimInput::Text(text) | ClaimInput::Keypad(text) => {
            let text = text.trim();
            Ok(Claim { preimage: parse_hex_preimage(text)?, context: None })
        }
        ClaimInput::Ndef(_) => {
            Err(ClaimParseError::Envelope("NFC claims are not supported yet".into()))
        }
    }
}
