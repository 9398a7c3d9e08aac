//! Entry points for fuzz targets: each decodes arbitrary input and, when it decodes, asserts a
//! lossless round trip. They panic only when a round trip is broken (a bug): that is their job.

#![allow(clippy::panic)]

use super::{decode_text, ndef, parse_keypad_claim, Envelope, TextCase};

/// Raw envelope bytes: decode, and if valid, re-encoding gives back exactly the input.
pub fn envelope(bytes: &[u8]) {
    if let Ok(env) = Envelope::decode(bytes) {
        let mut out = [0u8; 4096];
        if bytes.len() <= out.len() {
            let n = env.encode_into(&mut out);
            assert_eq!(n.map(|n| out.get(..n)), Ok(Some(bytes)), "envelope re-encoding differs");
        }
    }
}

/// Text: decode (bytes taken as UTF-8, lossy inputs ignored), and if valid, the upper- and
/// lower-case encodings decode to the same envelope.
pub fn text(bytes: &[u8]) {
    let Ok(s) = core::str::from_utf8(bytes) else { return };
    let _ = parse_keypad_claim(s);
    if let Ok(env) = decode_text(s) {
        for case in [TextCase::Upper, TextCase::Lower] {
            let mut buf = Buf::default();
            assert!(env.write_text(&mut buf, case).is_ok(), "decoded text fails to encode");
            assert_eq!(decode_text(buf.as_str()), Ok(env), "text round trip differs");
        }
    }
}

/// NDEF: decode, and if valid, re-encoding and decoding again gives the same message.
pub fn ndef(bytes: &[u8]) {
    if let Ok(msg) = ndef::decode(bytes) {
        let mut out = [0u8; 4096];
        let Ok(len) = msg.encoded_len() else { panic!("decoded NDEF message has no length") };
        if len <= out.len() {
            let again = msg.encode_into(&mut out).map(|n| out.get(..n).map(ndef::decode));
            assert_eq!(again, Ok(Some(Ok(msg))), "ndef round trip differs");
        }
    }
}

/// A fixed-size `fmt::Write` sink for text round trips.
struct Buf {
    bytes: [u8; 512],
    len: usize,
}

impl Default for Buf {
    fn default() -> Self {
        Buf { bytes: [0; 512], len: 0 }
    }
}

impl Buf {
    fn as_str(&self) -> &str {
        self.bytes.get(..self.len).and_then(|b| core::str::from_utf8(b).ok()).unwrap_or("")
    }
}

impl core::fmt::Write for Buf {
    fn write_str(&mut self, s: &str) -> core::fmt::Result {
        let end = self.len.checked_add(s.len()).ok_or(core::fmt::Error)?;
        self.bytes.get_mut(self.len..end).ok_or(core::fmt::Error)?.copy_from_slice(s.as_bytes());
        self.len = end;
        Ok(())
    }
}
