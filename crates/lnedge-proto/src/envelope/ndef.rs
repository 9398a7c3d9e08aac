//! NFC NDEF (NFC Forum NDEF 1.0) messages carrying envelopes and Lightning URIs.
//!
//! A message is a sequence of records. Each record starts with a header byte:
//! `MB (0x80) | ME (0x40) | CF (0x20) | SR (0x10) | IL (0x08) | TNF (3 bits)`, then the type
//! length (1 byte), the payload length (1 byte if SR, else 4 bytes big-endian), the id length
//! (1 byte, only if IL), the type, the id and the payload.
//!
//! lnedge writes at most two records, without ids, short (SR) whenever the payload has at most
//! 255 bytes:
//! 1. a URI record (TNF `0x01` well-known, type `U`): payload = URI identifier code ‖ rest of the
//!    URI. `lightning:`, `lnurlw://` and `lnurlp://` have no code: code `0x00` and the full text.
//!    A phone's OS opens a wallet from it.
//! 2. an external record (TNF `0x04`, type [`EXTERNAL_TYPE`] = `lnedge.org:env`) whose payload is
//!    the raw envelope bytes. A pool top-up (too big for a QR code) travels only this way (or by
//!    BLE); it needs a long record (4-byte length) once it exceeds 255 bytes.
//!
//! The decoder ([`decode`]) walks every record checking MB on the first, ME on the last and
//! nothing after it, refuses chunked records (CF) and reserved TNFs, skips records it does not
//! know (e.g. an Android application record), and returns the URI and/or the envelope.

use core::fmt;

use super::{Envelope, EnvelopeError};

/// Message Begin flag.
pub const FLAG_MB: u8 = 0x80;
/// Message End flag.
pub const FLAG_ME: u8 = 0x40;
/// Chunk Flag.
pub const FLAG_CF: u8 = 0x20;
/// Short Record flag (1-byte payload length).
pub const FLAG_SR: u8 = 0x10;
/// ID Length present flag.
pub const FLAG_IL: u8 = 0x08;
/// Type Name Format: empty record.
pub const TNF_EMPTY: u8 = 0x00;
/// Type Name Format: NFC Forum well-known type.
pub const TNF_WELL_KNOWN: u8 = 0x01;
/// Type Name Format: NFC Forum external type.
pub const TNF_EXTERNAL: u8 = 0x04;
/// Type Name Format: unchanged (only in the middle of a chunked record).
pub const TNF_UNCHANGED: u8 = 0x06;
/// Type Name Format: reserved.
pub const TNF_RESERVED: u8 = 0x07;

/// The external type of the record carrying an envelope (compared case-insensitively, as the NFC
/// Forum RTD requires for external type names).
pub const EXTERNAL_TYPE: &[u8] = b"lnedge.org:env";
/// The well-known type of a URI record.
pub const URI_TYPE: &[u8] = b"U";

/// The URI identifier codes of the NFC Forum URI RTD: code `n` abbreviates `URI_PREFIXES[n]`.
pub const URI_PREFIXES: [&str; 36] = [
    "",
    "http://www.",
    "https://www.",
    "http://",
    "https://",
    "tel:",
    "mailto:",
    "ftp://anonymous:anonymous@",
    "ftp://ftp.",
    "ftps://",
    "sftp://",
    "smb://",
    "nfs://",
    "ftp://",
    "dav://",
    "news:",
    "telnet://",
    "imap:",
    "rtsp://",
    "urn:",
    "pop:",
    "sip:",
    "sips:",
    "tftp:",
    "btspp://",
    "btl2cap://",
    "btgoep://",
    "tcpobex://",
    "irdaobex://",
    "file://",
    "urn:epc:id:",
    "urn:epc:tag:",
    "urn:epc:pat:",
    "urn:epc:raw:",
    "urn:epc:",
    "urn:nfc:",
];

/// Why an NDEF message could not be decoded or encoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum NdefError {
    /// No bytes at all.
    Empty,
    /// The message ends inside a record.
    Truncated,
    /// The first record lacks the MB flag.
    MissingMessageBegin,
    /// A record after the first has the MB flag.
    UnexpectedMessageBegin,
    /// The bytes end without a record having the ME flag.
    MissingMessageEnd,
    /// Bytes follow the record with the ME flag.
    TrailingBytes {
        /// How many.
        count: usize,
    },
    /// A chunked record (CF flag or TNF "unchanged"): lnedge never writes them.
    ChunkedRecord,
    /// TNF 0x07 (reserved).
    ReservedTnf,
    /// An empty record (TNF 0x00) with a type, id or payload.
    MalformedEmptyRecord,
    /// A URI record with no identifier code byte.
    EmptyUriRecord,
    /// A URI identifier code above 0x23 (reserved for future use).
    UnknownUriCode(u8),
    /// The URI after its identifier code is not UTF-8.
    UriNotUtf8,
    /// Two URI records or two envelope records in one message.
    DuplicateRecord,
    /// Neither a URI record nor an lnedge envelope record.
    NoLnedgeRecord,
    /// The envelope record's payload is not a valid envelope.
    Envelope(EnvelopeError),
    /// Nothing to encode (no URI and no envelope).
    EmptyMessage,
    /// A record payload longer than `u32::MAX` bytes.
    RecordTooLarge,
    /// The output buffer is too small.
    BufferTooSmall {
        /// Bytes needed.
        needed: usize,
        /// Bytes available.
        available: usize,
    },
}

impl fmt::Display for NdefError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            NdefError::Empty => write!(f, "empty NDEF message"),
            NdefError::Truncated => write!(f, "NDEF message ends inside a record"),
            NdefError::MissingMessageBegin => write!(f, "first NDEF record lacks the MB flag"),
            NdefError::UnexpectedMessageBegin => {
                write!(f, "NDEF record after the first has the MB flag")
            }
            NdefError::MissingMessageEnd => {
                write!(f, "NDEF message has no record with the ME flag")
            }
            NdefError::TrailingBytes { count } => {
                write!(f, "{count} bytes follow the last NDEF record")
            }
            NdefError::ChunkedRecord => write!(f, "chunked NDEF records are not supported"),
            NdefError::ReservedTnf => write!(f, "NDEF record has the reserved TNF 0x07"),
            NdefError::MalformedEmptyRecord => {
                write!(f, "empty NDEF record has a type, id or payload")
            }
            NdefError::EmptyUriRecord => write!(f, "NDEF URI record has no identifier code"),
            NdefError::UnknownUriCode(c) => {
                write!(f, "NDEF URI identifier code 0x{c:02x} is reserved")
            }
            NdefError::UriNotUtf8 => write!(f, "NDEF URI record is not UTF-8"),
            NdefError::DuplicateRecord => {
                write!(f, "NDEF message has two URI records or two envelope records")
            }
            NdefError::NoLnedgeRecord => {
                write!(f, "NDEF message has neither a URI record nor an lnedge envelope record")
            }
            NdefError::Envelope(e) => write!(f, "NDEF envelope record: {e}"),
            NdefError::EmptyMessage => write!(f, "nothing to encode: no URI and no envelope"),
            NdefError::RecordTooLarge => write!(f, "NDEF record payload exceeds 4 GiB"),
            NdefError::BufferTooSmall { needed, available } => {
                write!(f, "output buffer too small: {needed} bytes needed, {available} available")
            }
        }
    }
}

impl core::error::Error for NdefError {}

impl From<EnvelopeError> for NdefError {
    fn from(e: EnvelopeError) -> Self {
        NdefError::Envelope(e)
    }
}

/// A URI as an NDEF URI record holds it: an abbreviated prefix (by identifier code) and the rest.
#[derive(Clone, Copy, Debug)]
pub struct Uri<'a> {
    code: u8,
    rest: &'a str,
}

impl<'a> Uri<'a> {
    /// A URI from its full text, abbreviated with the longest matching prefix of
    /// [`URI_PREFIXES`] (case-sensitive, so the text round-trips exactly). `lightning:`,
    /// `lnurlw://` and `lnurlp://` URIs get code `0x00`.
    pub fn new(full: &'a str) -> Self {
        let mut best = Uri { code: 0, rest: full };
        let mut best_len = 0usize;
        for (code, prefix) in URI_PREFIXES.iter().enumerate() {
            if prefix.len() > best_len {
                if let (Some(rest), Ok(code)) = (full.strip_prefix(prefix), u8::try_from(code)) {
                    best = Uri { code, rest };
                    best_len = prefix.len();
                }
            }
        }
        best
    }

    /// A URI from an identifier code and the rest of the text.
    pub fn from_parts(code: u8, rest: &'a str) -> Result<Self, NdefError> {
        if usize::from(code) >= URI_PREFIXES.len() {
            return Err(NdefError::UnknownUriCode(code));
        }
        Ok(Uri { code, rest })
    }

    /// The URI identifier code.
    pub fn code(&self) -> u8 {
        self.code
    }

    /// The prefix the identifier code stands for (`""` for code `0x00`).
    pub fn prefix(&self) -> &'static str {
        URI_PREFIXES.get(usize::from(self.code)).copied().unwrap_or("")
    }

    /// The URI text after the prefix.
    pub fn rest(&self) -> &'a str {
        self.rest
    }

    /// The URI's length in bytes, prefix expanded.
    pub fn len(&self) -> usize {
        self.prefix().len().saturating_add(self.rest.len())
    }

    /// Whether the URI is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Whether the full URI equals `s`.
    pub fn eq_str(&self, s: &str) -> bool {
        s.strip_prefix(self.prefix()) == Some(self.rest)
    }

    /// The URI's scheme if it is one a Lightning wallet handles (`lightning:`, `lnurlw:`,
    /// `lnurlp:`, `lnurlc:`, `keyauth:`), else `None`. The scheme is compared without case.
    pub fn lightning_scheme(&self) -> Option<&'static str> {
        if self.code != 0 {
            return None;
        }
        ["lightning:", "lnurlw:", "lnurlp:", "lnurlc:", "keyauth:"]
            .into_iter()
            .find(|s| self.rest.get(..s.len()).is_some_and(|head| head.eq_ignore_ascii_case(s)))
    }
}

impl PartialEq for Uri<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len()
            && self
                .prefix()
                .bytes()
                .chain(self.rest.bytes())
                .eq(other.prefix().bytes().chain(other.rest.bytes()))
    }
}

impl Eq for Uri<'_> {}

impl fmt::Display for Uri<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.prefix())?;
        f.write_str(self.rest)
    }
}

/// One NDEF record, as it appears in a message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Record<'a> {
    /// The header byte (flags and TNF).
    pub header: u8,
    /// The record type.
    pub record_type: &'a [u8],
    /// The record id (empty if none).
    pub id: &'a [u8],
    /// The payload.
    pub payload: &'a [u8],
}

impl Record<'_> {
    /// The Type Name Format (low 3 bits of the header).
    pub fn tnf(&self) -> u8 {
        self.header & 0x07
    }
}

/// An iterator over the records of an NDEF message, checking the framing; it yields an error
/// once and then stops. Obtained from [`records`].
#[derive(Clone, Debug)]
pub struct Records<'a> {
    rest: &'a [u8],
    first: bool,
    done: bool,
}

/// Iterates the records of an NDEF message.
pub fn records(bytes: &[u8]) -> Records<'_> {
    Records { rest: bytes, first: true, done: false }
}

fn take_n<'a>(bytes: &mut &'a [u8], n: usize) -> Result<&'a [u8], NdefError> {
    if bytes.len() < n {
        return Err(NdefError::Truncated);
    }
    let (head, rest) = bytes.split_at(n);
    *bytes = rest;
    Ok(head)
}

fn take_u8(bytes: &mut &[u8]) -> Result<u8, NdefError> {
    let (&b, rest) = bytes.split_first().ok_or(NdefError::Truncated)?;
    *bytes = rest;
    Ok(b)
}

impl<'a> Records<'a> {
    fn next_record(&mut self) -> Result<Option<Record<'a>>, NdefError> {
        if self.rest.is_empty() {
            return Err(if self.first { NdefError::Empty } else { NdefError::MissingMessageEnd });
        }
        let mut r = self.rest;
        let header = take_u8(&mut r)?;
        let mb = header & FLAG_MB != 0;
        if self.first && !mb {
            return Err(NdefError::MissingMessageBegin);
        }
        if !self.first && mb {
            return Err(NdefError::UnexpectedMessageBegin);
        }
        let tnf = header & 0x07;
        if header & FLAG_CF != 0 || tnf == TNF_UNCHANGED {
            return Err(NdefError::ChunkedRecord);
        }
        if tnf == TNF_RESERVED {
            return Err(NdefError::ReservedTnf);
        }
        let type_len = take_u8(&mut r)?;
        let payload_len = if header & FLAG_SR != 0 {
            usize::from(take_u8(&mut r)?)
        } else {
            let b = take_n(&mut r, 4)?;
            let len = b.try_into().map(u32::from_be_bytes).map_err(|_| NdefError::Truncated)?;
            usize::try_from(len).map_err(|_| NdefError::Truncated)?
        };
        let id_len = if header & FLAG_IL != 0 { take_u8(&mut r)? } else { 0 };
        let record_type = take_n(&mut r, usize::from(type_len))?;
        let id = take_n(&mut r, usize::from(id_len))?;
        let payload = take_n(&mut r, payload_len)?;
        if tnf == TNF_EMPTY && (type_len != 0 || id_len != 0 || payload_len != 0) {
            return Err(NdefError::MalformedEmptyRecord);
        }
        self.first = false;
        self.rest = r;
        if header & FLAG_ME != 0 {
            self.done = true;
            if !r.is_empty() {
                return Err(NdefError::TrailingBytes { count: r.len() });
            }
        }
        Ok(Some(Record { header, record_type, id, payload }))
    }
}

impl<'a> Iterator for Records<'a> {
    type Item = Result<Record<'a>, NdefError>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.done {
            return None;
        }
        match self.next_record() {
            Ok(rec) => rec.map(Ok),
            Err(e) => {
                self.done = true;
                Some(Err(e))
            }
        }
    }
}

/// What lnedge reads from and writes to an NDEF message: a URI (for wallets) and/or an envelope
/// (for lnedge apps and devices). Encoded in this order: URI record first (a phone's OS
/// dispatches on the first record), then the envelope record.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Message<'a> {
    /// The URI record (`lightning:` invoice, `lnurlw://` refund link, …).
    pub uri: Option<Uri<'a>>,
    /// The external `lnedge.org:env` record's envelope.
    pub envelope: Option<Envelope<'a>>,
}

/// Decodes an NDEF message: checks the framing of every record and returns its URI record and
/// its lnedge envelope record (at least one of them). Unknown records are skipped. Never panics.
pub fn decode(bytes: &[u8]) -> Result<Message<'_>, NdefError> {
    let mut msg = Message { uri: None, envelope: None };
    for rec in records(bytes) {
        let rec = rec?;
        match rec.tnf() {
            TNF_WELL_KNOWN if rec.record_type == URI_TYPE => {
                let (&code, rest) = rec.payload.split_first().ok_or(NdefError::EmptyUriRecord)?;
                let rest = core::str::from_utf8(rest).map_err(|_| NdefError::UriNotUtf8)?;
                let uri = Uri::from_parts(code, rest)?;
                if msg.uri.replace(uri).is_some() {
                    return Err(NdefError::DuplicateRecord);
                }
            }
            TNF_EXTERNAL if rec.record_type.eq_ignore_ascii_case(EXTERNAL_TYPE) => {
                let env = Envelope::decode(rec.payload)?;
                if msg.envelope.replace(env).is_some() {
                    return Err(NdefError::DuplicateRecord);
                }
            }
            _ => {}
        }
    }
    if msg.uri.is_none() && msg.envelope.is_none() {
        return Err(NdefError::NoLnedgeRecord);
    }
    Ok(msg)
}

/// Length of a record without id: header, type length, payload length (1 or 4), type, payload.
fn record_len(type_len: usize, payload_len: usize) -> Result<usize, NdefError> {
    let len_field = if payload_len <= 255 { 1 } else { 4 };
    if u32::try_from(payload_len).is_err() {
        return Err(NdefError::RecordTooLarge);
    }
    2usize
        .checked_add(len_field)
        .and_then(|n| n.checked_add(type_len))
        .and_then(|n| n.checked_add(payload_len))
        .ok_or(NdefError::RecordTooLarge)
}

struct Out<'o> {
    out: &'o mut [u8],
    pos: usize,
}

impl Out<'_> {
    fn put(&mut self, bytes: &[u8]) -> Result<(), NdefError> {
        let available = self.out.len();
        let end = self.pos.checked_add(bytes.len()).ok_or(NdefError::RecordTooLarge)?;
        self.out
            .get_mut(self.pos..end)
            .ok_or(NdefError::BufferTooSmall { needed: end, available })?
            .copy_from_slice(bytes);
        self.pos = end;
        Ok(())
    }

    /// Writes a record header, type and payload length; the caller writes the payload.
    fn record_head(
        &mut self,
        flags: u8,
        tnf: u8,
        record_type: &[u8],
        payload_len: usize,
    ) -> Result<(), NdefError> {
        let len = u32::try_from(payload_len).map_err(|_| NdefError::RecordTooLarge)?;
        let type_len = u8::try_from(record_type.len()).map_err(|_| NdefError::RecordTooLarge)?;
        match u8::try_from(len) {
            Ok(short) => self.put(&[flags | FLAG_SR | tnf, type_len, short])?,
            Err(_) => {
                self.put(&[flags | tnf, type_len])?;
                self.put(&len.to_be_bytes())?;
            }
        }
        self.put(record_type)
    }
}

impl Message<'_> {
    fn uri_payload_len(uri: &Uri<'_>) -> Result<usize, NdefError> {
        uri.rest.len().checked_add(1).ok_or(NdefError::RecordTooLarge)
    }

    /// The encoded length in bytes.
    pub fn encoded_len(&self) -> Result<usize, NdefError> {
        let mut total = 0usize;
        if let Some(uri) = &self.uri {
            total = record_len(URI_TYPE.len(), Self::uri_payload_len(uri)?)?;
        }
        if let Some(env) = &self.envelope {
            let rec = record_len(EXTERNAL_TYPE.len(), env.encoded_len()?)?;
            total = total.checked_add(rec).ok_or(NdefError::RecordTooLarge)?;
        }
        if total == 0 {
            return Err(NdefError::EmptyMessage);
        }
        Ok(total)
    }

    /// Encodes into the front of `out` without allocating; returns the number of bytes written.
    /// Fails with [`NdefError::BufferTooSmall`] before writing anything if `out` is too short.
    pub fn encode_into(&self, out: &mut [u8]) -> Result<usize, NdefError> {
        let needed = self.encoded_len()?;
        if out.len() < needed {
            return Err(NdefError::BufferTooSmall { needed, available: out.len() });
        }
        let mut w = Out { out, pos: 0 };
        if let Some(uri) = &self.uri {
            let me = if self.envelope.is_none() { FLAG_ME } else { 0 };
            w.record_head(FLAG_MB | me, TNF_WELL_KNOWN, URI_TYPE, Self::uri_payload_len(uri)?)?;
            w.put(&[uri.code])?;
            w.put(uri.rest.as_bytes())?;
        }
        if let Some(env) = &self.envelope {
            let mb = if self.uri.is_none() { FLAG_MB } else { 0 };
            let len = env.encoded_len()?;
            w.record_head(mb | FLAG_ME, TNF_EXTERNAL, EXTERNAL_TYPE, len)?;
            let start = w.pos;
            let end = start.checked_add(len).ok_or(NdefError::RecordTooLarge)?;
            let available = w.out.len();
            let dst = w
                .out
                .get_mut(start..end)
                .ok_or(NdefError::BufferTooSmall { needed: end, available })?;
            env.encode_into(dst)?;
            w.pos = end;
        }
        Ok(w.pos)
    }

    /// Encodes into a new vector.
    #[cfg(feature = "alloc")]
    pub fn to_vec(&self) -> Result<alloc::vec::Vec<u8>, NdefError> {
        let mut v = alloc::vec![0u8; self.encoded_len()?];
        let n = self.encode_into(&mut v)?;
        v.truncate(n);
        Ok(v)
    }
}

impl<'a> Message<'a> {
    /// A message with only a URI record (e.g. `lightning:<invoice>` shown by a vending machine).
    pub fn from_uri(uri: &'a str) -> Self {
        Message { uri: Some(Uri::new(uri)), envelope: None }
    }

    /// A message with only an envelope record.
    pub fn from_envelope(envelope: Envelope<'a>) -> Self {
        Message { uri: None, envelope: Some(envelope) }
    }
}
