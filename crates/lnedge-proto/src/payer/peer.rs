//! The seed's own transport for tokens: Lightning peer messages (BOLT 1 custom types, odd so a
//! node that does not know them ignores them) between the merchant's node and the payer's
//! gateway node.
//!
//! ```text
//! initiate_payment (45001): token (118 bytes) ‖ invoice (BOLT 11, UTF-8, the rest)
//! reject_payment   (45003): SHA-256(token) (32) ‖ invoice length (u16, big-endian) ‖ invoice
//!                            ‖ reason code (ASCII, the rest; an lnedge addition, may be empty)
//! ```
//!
//! A payment that succeeds needs no answer: the merchant's node sees the HTLC arrive. Parsing
//! never panics and answers a typed error; nothing here allocates.

use core::fmt;

use sha2::{Digest, Sha256};

use super::{PayerToken, TokenError, TOKEN_LEN};

/// The custom message type of `initiate_payment`.
pub const INITIATE_PAYMENT_TYPE: u16 = 45001;
/// The custom message type of `reject_payment`.
pub const REJECT_PAYMENT_TYPE: u16 = 45003;
/// The largest payload of a Lightning message (65 535 bytes less the 2-byte type).
pub const MAX_PAYLOAD_LEN: usize = 65_533;

/// An `initiate_payment` as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct InitiatePayment<'a> {
    /// The payer's token (its tag not checked yet).
    pub token: PayerToken,
    /// The merchant's invoice.
    pub invoice: &'a str,
}

/// A `reject_payment` as read.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RejectPayment<'a> {
    /// SHA-256 of the refused token's bytes.
    pub token_hash: [u8; 32],
    /// The invoice it came with.
    pub invoice: &'a str,
    /// Why (a stable code such as `replayed_counter`; empty when not given).
    pub reason: &'a str,
}

/// Why a peer message payload is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum PeerMessageError {
    /// Shorter than its fixed part.
    TooShort {
        /// Bytes given.
        actual: usize,
    },
    /// Longer than a Lightning message can carry (encoding only).
    TooLong,
    /// The token does not parse.
    Token(TokenError),
    /// A text field is not UTF-8 (or, for the reason, not ASCII).
    NotText,
    /// The invoice is empty.
    NoInvoice,
}

impl fmt::Display for PeerMessageError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            PeerMessageError::TooShort { actual } => {
                write!(f, "the peer message is too short ({actual} bytes)")
            }
            PeerMessageError::TooLong => f.write_str("the peer message is too long"),
            PeerMessageError::Token(e) => write!(f, "the token does not parse: {e}"),
            PeerMessageError::NotText => f.write_str("a text field is not valid text"),
            PeerMessageError::NoInvoice => f.write_str("the invoice is empty"),
        }
    }
}

impl core::error::Error for PeerMessageError {}

/// SHA-256 of a token's bytes (how `reject_payment` names it).
pub fn token_hash(token: &PayerToken) -> [u8; 32] {
    Sha256::digest(token.to_bytes()).into()
}

impl<'a> InitiatePayment<'a> {
    /// Reads a payload.
    pub fn parse(payload: &'a [u8]) -> Result<Self, PeerMessageError> {
        let (token, invoice) = payload
            .split_at_checked(TOKEN_LEN)
            .ok_or(PeerMessageError::TooShort { actual: payload.len() })?;
        let token = PayerToken::parse(token).map_err(PeerMessageError::Token)?;
        let invoice = core::str::from_utf8(invoice).map_err(|_| PeerMessageError::NotText)?;
        if invoice.is_empty() {
            return Err(PeerMessageError::NoInvoice);
        }
        Ok(InitiatePayment { token, invoice })
    }

    /// The payload's length.
    pub fn encoded_len(&self) -> usize {
        TOKEN_LEN.saturating_add(self.invoice.len())
    }

    /// Writes the payload into `out`; answers its length.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, PeerMessageError> {
        let len = self.encoded_len();
        if len > MAX_PAYLOAD_LEN {
            return Err(PeerMessageError::TooLong);
        }
        let out = out.get_mut(..len).ok_or(PeerMessageError::TooLong)?;
        let (token, invoice) = out.split_at_mut(TOKEN_LEN);
        token.copy_from_slice(&self.token.to_bytes());
        invoice.copy_from_slice(self.invoice.as_bytes());
        Ok(len)
    }
}

impl<'a> RejectPayment<'a> {
    /// Reads a payload.
    pub fn parse(payload: &'a [u8]) -> Result<Self, PeerMessageError> {
        let short = PeerMessageError::TooShort { actual: payload.len() };
        let (hash, rest) = payload.split_at_checked(32).ok_or(short)?;
        let (len, rest) = rest.split_at_checked(2).ok_or(short)?;
        let len = usize::from(u16::from_be_bytes([
            *len.first().ok_or(short)?,
            *len.get(1).ok_or(short)?,
        ]));
        let (invoice, reason) = rest.split_at_checked(len).ok_or(short)?;
        let invoice = core::str::from_utf8(invoice).map_err(|_| PeerMessageError::NotText)?;
        if !reason.is_ascii() {
            return Err(PeerMessageError::NotText);
        }
        let reason = core::str::from_utf8(reason).map_err(|_| PeerMessageError::NotText)?;
        let mut token_hash = [0u8; 32];
        token_hash.copy_from_slice(hash);
        Ok(RejectPayment { token_hash, invoice, reason })
    }

    /// The payload's length.
    pub fn encoded_len(&self) -> usize {
        34usize.saturating_add(self.invoice.len()).saturating_add(self.reason.len())
    }

    /// Writes the payload into `out`; answers its length.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, PeerMessageError> {
        let len = self.encoded_len();
        let invoice_len =
            u16::try_from(self.invoice.len()).map_err(|_| PeerMessageError::TooLong)?;
        if len > MAX_PAYLOAD_LEN || !self.reason.is_ascii() {
            return Err(PeerMessageError::TooLong);
        }
        let out = out.get_mut(..len).ok_or(PeerMessageError::TooLong)?;
        let (hash, rest) = out.split_at_mut(32);
        hash.copy_from_slice(&self.token_hash);
        let (prefix, rest) = rest.split_at_mut(2);
        prefix.copy_from_slice(&invoice_len.to_be_bytes());
        let (invoice, reason) = rest.split_at_mut(self.invoice.len());
        invoice.copy_from_slice(self.invoice.as_bytes());
        reason.copy_from_slice(self.reason.as_bytes());
        Ok(len)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used, clippy::indexing_slicing)]
    use super::*;
    use crate::payer::tests::authorization;

    fn sample_token() -> PayerToken {
        authorization().sign(&crate::payer::PayerKey([1; 32]))
    }

    #[test]
    fn initiate_and_reject_round_trip() {
        let token = sample_token();
        let msg = InitiatePayment { token, invoice: "lnbcrt10n1example" };
        let mut buf = [0u8; 256];
        let n = msg.encode_into(&mut buf).expect("encode");
        assert_eq!(InitiatePayment::parse(&buf[..n]), Ok(msg));
        assert_eq!(InitiatePayment::parse(&buf[..TOKEN_LEN]), Err(PeerMessageError::NoInvoice));
        assert!(matches!(
            InitiatePayment::parse(&buf[..10]),
            Err(PeerMessageError::TooShort { .. })
        ));

        let reject = RejectPayment {
            token_hash: token_hash(&token),
            invoice: "lnbcrt10n1example",
            reason: "replayed_counter",
        };
        let n = reject.encode_into(&mut buf).expect("encode");
        assert_eq!(RejectPayment::parse(&buf[..n]), Ok(reject));
        assert!(RejectPayment::parse(&buf[..40]).is_err(), "cut inside the invoice");
        let mut bad = buf;
        bad[n - 1] = 0xff;
        assert_eq!(RejectPayment::parse(&bad[..n]), Err(PeerMessageError::NotText));
    }
}
