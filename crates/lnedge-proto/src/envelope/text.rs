//! Text encodings of an envelope: bech32m for QR codes, bare hex and keypad entry for claims,
//! refund voucher URLs (plain and LUD-17 `lnurlw://`).
//!
//! * QR text is bech32m with HRP `lnedge`, written in upper case (`LNEDGE1…`) so that a QR
//!   encoder can use alphanumeric mode. Envelopes of at most [`TEXT_MAX_ENVELOPE_LEN`] bytes
//!   only; pool top-ups are refused whatever their size ([`TextError::NfcOnly`]).
//! * [`decode_text`] takes either case (not mixed), an optional `lnedge:` or `lightning:` scheme,
//!   surrounding ASCII whitespace, and — for claims — a bare 64-hex-digit preimage as wallets
//!   show it.
//! * [`parse_keypad_claim`] reads 64 hex digits typed on a keypad, grouped with spaces or dashes.

use core::fmt;

use bech32::primitives::decode::{
    CharError, CheckedHrpstring, CheckedHrpstringError, ChecksumError, UncheckedHrpstringError,
};
use bech32::{Bech32m, Hrp};

use super::{Claim, Envelope, EnvelopeError};

/// The bech32m human-readable part of envelope text.
pub const HRP: &str = "lnedge";

/// The largest envelope (in bytes, type byte included) that text/QR encoding accepts.
///
/// 128 bytes are 218 bech32m characters: a version-8 QR code in alphanumeric mode at error
/// correction level M (capacity 221), still readable from a small display. Claims (33 or 61
/// bytes: 66 or 111 characters) and refund vouchers (73 bytes: 130 characters) fit; pool top-ups
/// go over NFC or BLE.
pub const TEXT_MAX_ENVELOPE_LEN: usize = 128;

/// The longest envelope text [`decode_text`] reads (after trimming and removing a scheme):
/// `lnedge` ‖ `1` ‖ data ‖ 6-character checksum for a [`TEXT_MAX_ENVELOPE_LEN`]-byte envelope.
pub const TEXT_MAX_LEN: usize = HRP.len() + 1 + (TEXT_MAX_ENVELOPE_LEN * 8).div_ceil(5) + 6;

const HRP_VALUE: Hrp = Hrp::parse_unchecked(HRP);

/// The letter case of envelope text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum TextCase {
    /// `LNEDGE1…`: for QR codes (alphanumeric mode).
    Upper,
    /// `lnedge1…`: for URLs and logs.
    Lower,
}

/// Why text could not be decoded as an envelope, or an envelope not encoded as text.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum TextError {
    /// Nothing but whitespace (or a bare scheme).
    Empty,
    /// Upper and lower case letters mixed in bech32 text.
    MixedCase,
    /// The text is longer than any envelope text can be.
    TooLong {
        /// Length of the text, in bytes.
        len: usize,
        /// The maximum.
        max: usize,
    },
    /// No `1` separator between the human-readable part and the data.
    MissingSeparator,
    /// Nothing after the separator.
    NoData,
    /// Fewer characters after the separator than the 6-character checksum.
    TooShort,
    /// A character outside the bech32 alphabet.
    InvalidChar(char),
    /// The human-readable part is malformed.
    InvalidHrp,
    /// A well-formed bech32 string whose human-readable part is not `lnedge` (e.g. an invoice).
    WrongHrp,
    /// The bech32m checksum does not match (a typo, or a bech32 rather than bech32m string).
    BadChecksum,
    /// The data part's padding bits are not canonical.
    BadPadding,
    /// The bytes inside are not a valid envelope.
    Envelope(EnvelopeError),
    /// This envelope type is carried by NFC or BLE only (a pool top-up).
    NfcOnly {
        /// The envelope's type byte.
        type_byte: u8,
    },
    /// The envelope is larger than [`TEXT_MAX_ENVELOPE_LEN`].
    EnvelopeTooLong {
        /// The envelope's length in bytes.
        len: usize,
        /// [`TEXT_MAX_ENVELOPE_LEN`].
        max: usize,
    },
    /// The `fmt::Write` sink refused the text.
    Write,
}

impl fmt::Display for TextError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            TextError::Empty => write!(f, "empty envelope text"),
            TextError::MixedCase => write!(f, "envelope text mixes upper and lower case"),
            TextError::TooLong { len, max } => {
                write!(f, "envelope text of {len} characters is longer than the maximum {max}")
            }
            TextError::MissingSeparator => write!(f, "envelope text has no '1' separator"),
            TextError::NoData => write!(f, "envelope text has no data after the separator"),
            TextError::TooShort => write!(f, "envelope text is too short to hold a checksum"),
            TextError::InvalidChar(c) => {
                write!(f, "envelope text contains {c:?}, not a bech32 character")
            }
            TextError::InvalidHrp => write!(f, "envelope text has a malformed human-readable part"),
            TextError::WrongHrp => {
                write!(f, "text is bech32 but not an lnedge envelope (prefix is not \"{HRP}\")")
            }
            TextError::BadChecksum => write!(f, "envelope text has a bad bech32m checksum"),
            TextError::BadPadding => write!(f, "envelope text has non-canonical padding"),
            TextError::Envelope(e) => write!(f, "envelope text holds an invalid envelope: {e}"),
            TextError::NfcOnly { type_byte } => write!(
                f,
                "envelope type 0x{type_byte:02x} is carried over NFC or BLE only, not as text"
            ),
            TextError::EnvelopeTooLong { len, max } => {
                write!(f, "envelope of {len} bytes is too long for text/QR (maximum {max} bytes)")
            }
            TextError::Write => write!(f, "the text sink refused the envelope text"),
        }
    }
}

impl core::error::Error for TextError {}

impl From<EnvelopeError> for TextError {
    fn from(e: EnvelopeError) -> Self {
        TextError::Envelope(e)
    }
}

impl Envelope<'_> {
    /// Encodes the envelope into `buf` for text encoding, refusing NFC-only types and envelopes
    /// over [`TEXT_MAX_ENVELOPE_LEN`].
    fn text_bytes<'b>(
        &self,
        buf: &'b mut [u8; TEXT_MAX_ENVELOPE_LEN],
    ) -> Result<&'b [u8], TextError> {
        if let Envelope::PoolTopUp(_) = self {
            return Err(TextError::NfcOnly { type_byte: self.type_byte() });
        }
        let len = self.encoded_len()?;
        if len > TEXT_MAX_ENVELOPE_LEN {
            return Err(TextError::EnvelopeTooLong { len, max: TEXT_MAX_ENVELOPE_LEN });
        }
        let n = self.encode_into(buf)?;
        buf.get(..n).ok_or(TextError::Envelope(EnvelopeError::BufferTooSmall {
            needed: n,
            available: TEXT_MAX_ENVELOPE_LEN,
        }))
    }

    /// Writes the envelope as bech32m text (`LNEDGE1…` or `lnedge1…`) into any `fmt::Write`
    /// sink (a `heapless::String`, a display buffer, a `String`). No allocation.
    pub fn write_text<W: fmt::Write>(&self, w: &mut W, case: TextCase) -> Result<(), TextError> {
        let mut buf = [0u8; TEXT_MAX_ENVELOPE_LEN];
        let bytes = self.text_bytes(&mut buf)?;
        match case {
            TextCase::Upper => bech32::encode_upper_to_fmt::<Bech32m, W>(w, HRP_VALUE, bytes),
            TextCase::Lower => bech32::encode_lower_to_fmt::<Bech32m, W>(w, HRP_VALUE, bytes),
        }
        .map_err(|_| TextError::Write)
    }

    /// The length in characters of the envelope's text.
    pub fn text_len(&self) -> Result<usize, TextError> {
        let mut buf = [0u8; TEXT_MAX_ENVELOPE_LEN];
        let bytes = self.text_bytes(&mut buf)?;
        bech32::encoded_length::<Bech32m>(HRP_VALUE, bytes).map_err(|_| {
            TextError::EnvelopeTooLong { len: bytes.len(), max: TEXT_MAX_ENVELOPE_LEN }
        })
    }

    /// The envelope as upper-case bech32m text for a QR code (`LNEDGE1…`).
    #[cfg(feature = "alloc")]
    pub fn to_text(&self) -> Result<alloc::string::String, TextError> {
        self.to_text_case(TextCase::Upper)
    }

    /// The envelope as bech32m text in the given case.
    #[cfg(feature = "alloc")]
    pub fn to_text_case(&self, case: TextCase) -> Result<alloc::string::String, TextError> {
        let mut s = alloc::string::String::new();
        self.write_text(&mut s, case)?;
        Ok(s)
    }
}

/// Strips a case-insensitive ASCII prefix.
fn strip_prefix_ci<'s>(s: &'s str, prefix: &str) -> Option<&'s str> {
    let head = s.get(..prefix.len())?;
    if head.eq_ignore_ascii_case(prefix) {
        s.get(prefix.len()..)
    } else {
        None
    }
}

/// The value of one hex digit.
fn hex_value(c: char) -> Option<u8> {
    c.to_digit(16).and_then(|d| u8::try_from(d).ok())
}

/// Parses exactly 64 hex digits (either case), nothing else.
fn parse_hex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    let mut digits = s.chars();
    for byte in out.iter_mut() {
        let hi = hex_value(digits.next()?)?;
        let lo = hex_value(digits.next()?)?;
        *byte = (hi << 4) | lo;
    }
    Some(out)
}

/// Decodes envelope text as scanned from a QR code or pasted.
///
/// Accepts, after trimming ASCII whitespace and an optional `lnedge:` or `lightning:` scheme
/// (any case): bech32m text with HRP `lnedge` in upper or lower case (never mixed), or a bare
/// 64-hex-digit preimage, which decodes as a [`Claim`] without context. Only envelopes without
/// borrowed parts come out of text (no pool top-ups), hence `Envelope<'static>`. Never panics.
pub fn decode_text(text: &str) -> Result<Envelope<'static>, TextError> {
    let mut s = text.trim_ascii();
    for scheme in ["lnedge:", "lightning:"] {
        if let Some(rest) = strip_prefix_ci(s, scheme) {
            s = rest.trim_ascii();
            break;
        }
    }
    if s.is_empty() {
        return Err(TextError::Empty);
    }
    if s.len() > TEXT_MAX_LEN {
        return Err(TextError::TooLong { len: s.len(), max: TEXT_MAX_LEN });
    }
    if let Some(preimage) = parse_hex32(s) {
        return Ok(Envelope::Claim(Claim::bare(preimage)));
    }
    let has_upper = s.bytes().any(|b| b.is_ascii_uppercase());
    let has_lower = s.bytes().any(|b| b.is_ascii_lowercase());
    if has_upper && has_lower {
        return Err(TextError::MixedCase);
    }
    let checked = CheckedHrpstring::new::<Bech32m>(s).map_err(map_bech32_error)?;
    if checked.hrp() != HRP_VALUE {
        return Err(TextError::WrongHrp);
    }
    checked.validate_segwit_padding().map_err(|_| TextError::BadPadding)?;
    let mut buf = [0u8; TEXT_MAX_ENVELOPE_LEN];
    let mut n = 0usize;
    for byte in checked.byte_iter() {
        let slot = buf.get_mut(n).ok_or(TextError::TooLong { len: s.len(), max: TEXT_MAX_LEN })?;
        *slot = byte;
        n = n.saturating_add(1);
    }
    let bytes = buf.get(..n).unwrap_or_default();
    let envelope = Envelope::decode(bytes)?;
    envelope.to_static().ok_or(TextError::NfcOnly { type_byte: envelope.type_byte() })
}

fn map_bech32_error(e: CheckedHrpstringError) -> TextError {
    match e {
        CheckedHrpstringError::Parse(UncheckedHrpstringError::Char(c)) => match c {
            CharError::MissingSeparator => TextError::MissingSeparator,
            CharError::NothingAfterSeparator => TextError::NoData,
            CharError::InvalidChar(ch) => TextError::InvalidChar(ch),
            CharError::MixedCase => TextError::MixedCase,
            _ => TextError::InvalidHrp,
        },
        CheckedHrpstringError::Parse(_) => TextError::InvalidHrp,
        CheckedHrpstringError::Checksum(ChecksumError::CodeLength(e)) => {
            TextError::TooLong { len: e.encoded_length, max: TEXT_MAX_LEN }
        }
        CheckedHrpstringError::Checksum(ChecksumError::InvalidLength) => TextError::TooShort,
        CheckedHrpstringError::Checksum(_) => TextError::BadChecksum,
        _ => TextError::BadChecksum,
    }
}

/// Why keypad input is not a claim.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum KeypadError {
    /// A character that is neither a hex digit nor a space or dash separator.
    InvalidChar {
        /// The character.
        ch: char,
        /// Its position (in characters, from 0).
        position: usize,
    },
    /// Not exactly 64 hex digits.
    WrongLength {
        /// Hex digits typed.
        digits: usize,
    },
}

impl fmt::Display for KeypadError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            KeypadError::InvalidChar { ch, position } => write!(
                f,
                "{ch:?} at position {position} is not a hex digit (0-9, A-F), space or dash"
            ),
            KeypadError::WrongLength { digits } => {
                write!(f, "a claim is 64 hex digits, {digits} were typed")
            }
        }
    }
}

impl core::error::Error for KeypadError {}

/// Reads a claim typed on a keypad: 64 hex digits (`0-9`, `A-F`, lower case too), grouped by
/// any number of spaces or dashes (`1A2B-3C4D …`). The result has no context.
pub fn parse_keypad_claim(input: &str) -> Result<Claim, KeypadError> {
    let mut preimage = [0u8; 32];
    let mut digits = 0usize;
    for (position, ch) in input.chars().enumerate() {
        if ch == ' ' || ch == '-' {
            continue;
        }
        let v = hex_value(ch).ok_or(KeypadError::InvalidChar { ch, position })?;
        if let Some(byte) = preimage.get_mut(digits / 2) {
            *byte = if digits % 2 == 0 { v << 4 } else { *byte | v };
        }
        digits = digits.saturating_add(1);
    }
    if digits != 64 {
        return Err(KeypadError::WrongLength { digits });
    }
    Ok(Claim::bare(preimage))
}

/// Shows a preimage as a keypad code: 64 upper-case hex digits in groups of four joined by
/// dashes (`1A2B-3C4D-…`), what [`parse_keypad_claim`] reads back.
#[derive(Clone, Copy, Debug)]
pub struct KeypadCode<'c>(pub &'c [u8; 32]);

impl fmt::Display for KeypadCode<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, pair) in self.0.chunks(2).enumerate() {
            if i > 0 {
                f.write_str("-")?;
            }
            for b in pair {
                write!(f, "{b:02X}")?;
            }
        }
        Ok(())
    }
}

/// The refund voucher as a URL on the gateway: `<base>?v=<bech32m lower case>` (or `&v=` when
/// `base` already has a query).
#[cfg(feature = "alloc")]
pub fn refund_url(base: &str, voucher: &super::RefundVoucher) -> alloc::string::String {
    let mut url = alloc::string::String::from(base);
    url.push(if base.contains('?') { '&' } else { '?' });
    url.push_str("v=");
    // A refund voucher is 73 bytes: always text-encodable into a String.
    let _ = Envelope::RefundVoucher(*voucher).write_text(&mut url, TextCase::Lower);
    url
}

/// Why a URL cannot be written as a LUD-17 `lnurlw://` link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum Lud17Error {
    /// LUD-17 maps `lnurlw://` to `https://` (or `http://` for onion hosts): a plain-http base on
    /// another host would change meaning.
    NotHttps,
}

impl fmt::Display for Lud17Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Lud17Error::NotHttps => write!(
                f,
                "base URL must be https:// (or http:// on an .onion or loopback host) for lnurlw://"
            ),
        }
    }
}

impl core::error::Error for Lud17Error {}

/// Whether `url` can be written as a LUD-17 link (`lnurlw://`, `lnurlp://`, `keyauth://`) that
/// every LUD-17 client maps back to `url`: `https://`, or `http://` for a `.onion` host. A
/// plain `http://` URL cannot (clients put `https://` back), so it is handed out as a LUD-01
/// `LNURL…` only.
pub fn lud17_round_trips(url: &str) -> bool {
    if url.get(..8).is_some_and(|s| s.eq_ignore_ascii_case("https://")) {
        return true;
    }
    let Some(rest) =
        url.get(7..).filter(|_| url.get(..7).is_some_and(|s| s.eq_ignore_ascii_case("http://")))
    else {
        return false;
    };
    let h = host_of(rest).trim_end_matches('.');
    h.len() >= 6
        && h.get(h.len().saturating_sub(6)..).is_some_and(|t| t.eq_ignore_ascii_case(".onion"))
}

/// The host of the authority that starts `rest` (after `scheme://`), without port or userinfo.
fn host_of(rest: &str) -> &str {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let authority = rest.get(..end).unwrap_or(rest);
    let authority = authority.rsplit('@').next().unwrap_or(authority);
    if let Some(v6) = authority.strip_prefix('[') {
        return v6.split(']').next().unwrap_or(v6);
    }
    authority.split(':').next().unwrap_or(authority)
}

#[cfg(feature = "alloc")]
/// Whether LUD-17 (and the loopback test convention) maps `lnurl*://host` to `http://`.
fn is_http_host(host: &str) -> bool {
    let h = host.trim_end_matches('.');
    let onion = h.len() >= 6
        && h.get(h.len().saturating_sub(6)..).is_some_and(|t| t.eq_ignore_ascii_case(".onion"));
    onion || h.eq_ignore_ascii_case("localhost") || h == "::1" || h.starts_with("127.")
}

/// The refund voucher as a LUD-17 `lnurlw://` link: [`refund_url`] with `https://` replaced by
/// `lnurlw://`. A `http://` base is accepted only for `.onion` hosts (LUD-17) and loopback hosts
/// (the convention of lnedge's test servers), which wallets map back to `http://`.
#[cfg(feature = "alloc")]
pub fn refund_lnurlw(
    base: &str,
    voucher: &super::RefundVoucher,
) -> Result<alloc::string::String, Lud17Error> {
    let url = refund_url(base, voucher);
    let rest = if let Some(rest) = strip_prefix_ci(&url, "https://") {
        rest
    } else if let Some(rest) = strip_prefix_ci(&url, "http://") {
        if !is_http_host(host_of(rest)) {
            return Err(Lud17Error::NotHttps);
        }
        rest
    } else {
        return Err(Lud17Error::NotHttps);
    };
    Ok(alloc::format!("lnurlw://{rest}"))
}

/// Maps a LUD-17 link (`lnurlw://`, `lnurlp://`, `lnurlc://`, `keyauth://`, any case) to the URL
/// to fetch: `https://`, or `http://` for `.onion` (LUD-17) and loopback hosts (lnedge's test
/// convention). `None` if the scheme is none of these.
#[cfg(feature = "alloc")]
pub fn lud17_to_url(link: &str) -> Option<alloc::string::String> {
    let rest = ["lnurlw://", "lnurlp://", "lnurlc://", "keyauth://"]
        .iter()
        .find_map(|scheme| strip_prefix_ci(link, scheme))?;
    let scheme = if is_http_host(host_of(rest)) { "http" } else { "https" };
    Some(alloc::format!("{scheme}://{rest}"))
}
