//! BOLT 11 pieces the device needs: bech32 output with checksum, the 5-bit word stream of an
//! entry, the signing hash, HRP amounts, and the template item walker. Nothing here allocates.

use core::fmt;

use sha2::{Digest, Sha256};

/// The bech32 alphabet (5-bit value → character).
pub(crate) const CHARSET: &[u8; 32] = b"qpzry9x8gf2tvdw0s3jn54khce6mua7l";

/// Tagged-field tag of the payment hash (`p`).
pub(crate) const TAG_P: u8 = 1;
/// Tagged-field tag of the payment secret (`s`).
pub(crate) const TAG_S: u8 = 16;
/// Tagged-field tag of the description (`d`).
pub(crate) const TAG_D: u8 = 13;
/// Data length (in 5-bit words) of a `p` or `s` field: 256 bits + 4 zero bits.
pub(crate) const HASH_WORDS: u16 = 52;
/// Template byte standing for the whole `p` field of an entry.
pub(crate) const PLACEHOLDER_HASH: u8 = 0xF0;
/// Template byte standing for the whole `s` field of an entry.
pub(crate) const PLACEHOLDER_SECRET: u8 = 0xF1;
/// Words of the timestamp (35 bits).
pub(crate) const TIMESTAMP_WORDS: usize = 7;
/// Largest BOLT 11 timestamp.
pub(crate) const MAX_TIMESTAMP: u64 = (1 << 35) - 1;
/// Largest data length of a tagged field (10 bits).
pub(crate) const MAX_FIELD_WORDS: u16 = 1023;

/// Bytes that hold `words` 5-bit words packed MSB first (zero padded).
pub(crate) fn packed_len(words: u16) -> usize {
    usize::from(words).saturating_mul(5).saturating_add(7) / 8
}

/// Receives the 5-bit words of an invoice's data part, in order.
pub(crate) trait WordSink {
    type Error;
    fn word(&mut self, w: u8) -> Result<(), Self::Error>;
}

/// Writes words as bech32 characters and keeps the checksum.
pub(crate) struct Bech32Writer<'w, W: fmt::Write> {
    out: &'w mut W,
    chk: u32,
}

fn polymod_step(chk: u32, v: u8) -> u32 {
    const GEN: [u32; 5] = [0x3b6a_57b2, 0x2650_8e6d, 0x1ea1_19fa, 0x3d42_33dd, 0x2a14_62b3];
    let top = chk.wrapping_shr(25);
    let mut c = (chk & 0x01ff_ffff).wrapping_shl(5) ^ u32::from(v);
    for (i, g) in GEN.iter().enumerate() {
        if top.wrapping_shr(i as u32) & 1 == 1 {
            c ^= g;
        }
    }
    c
}

impl<'w, W: fmt::Write> Bech32Writer<'w, W> {
    /// Writes `hrp` and the separator and starts the checksum.
    pub(crate) fn new(out: &'w mut W, hrp: &str) -> Result<Self, fmt::Error> {
        out.write_str(hrp)?;
        out.write_char('1')?;
        let mut chk = 1u32;
        for b in hrp.bytes() {
            chk = polymod_step(chk, b.wrapping_shr(5));
        }
        chk = polymod_step(chk, 0);
        for b in hrp.bytes() {
            chk = polymod_step(chk, b & 31);
        }
        Ok(Bech32Writer { out, chk })
    }

    /// Writes the six checksum characters.
    pub(crate) fn finish(self) -> fmt::Result {
        let mut chk = self.chk;
        for _ in 0..6 {
            chk = polymod_step(chk, 0);
        }
        chk ^= 1;
        for i in (0..6u32).rev() {
            let w = chk.wrapping_shr(i.wrapping_mul(5)) & 31;
            let c = CHARSET.get(w as usize).copied().unwrap_or(b'q');
            self.out.write_char(char::from(c))?;
        }
        Ok(())
    }
}

impl<W: fmt::Write> WordSink for Bech32Writer<'_, W> {
    type Error = fmt::Error;
    fn word(&mut self, w: u8) -> fmt::Result {
        let w = w & 31;
        self.chk = polymod_step(self.chk, w);
        let c = CHARSET.get(usize::from(w)).copied().unwrap_or(b'q');
        self.out.write_char(char::from(c))
    }
}

/// Packs words into bytes (MSB first, zero padded) and hashes them: BOLT 11's signing data.
pub(crate) struct SigningHasher {
    hasher: Sha256,
    acc: u32,
    nbits: u32,
}

impl SigningHasher {
    pub(crate) fn new(hrp: &str) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(hrp.as_bytes());
        SigningHasher { hasher, acc: 0, nbits: 0 }
    }

    pub(crate) fn finish(mut self) -> [u8; 32] {
        if self.nbits > 0 {
            let b = self.acc.wrapping_shl(8u32.wrapping_sub(self.nbits)) & 0xff;
            self.hasher.update([b as u8]);
        }
        self.hasher.finalize().into()
    }
}

impl WordSink for SigningHasher {
    type Error = core::convert::Infallible;
    fn word(&mut self, w: u8) -> Result<(), Self::Error> {
        self.acc = self.acc.wrapping_shl(5) | u32::from(w & 31);
        self.nbits = self.nbits.wrapping_add(5);
        if self.nbits >= 8 {
            self.nbits = self.nbits.wrapping_sub(8);
            let b = self.acc.wrapping_shr(self.nbits) & 0xff;
            self.hasher.update([b as u8]);
            self.acc &= 1u32.wrapping_shl(self.nbits).wrapping_sub(1);
        }
        Ok(())
    }
}

/// Emits `n_words` words read MSB first from `bytes` (bits past the end read as zero).
pub(crate) fn emit_bytes<S: WordSink>(
    bytes: &[u8],
    n_words: usize,
    sink: &mut S,
) -> Result<(), S::Error> {
    let mut acc: u32 = 0;
    let mut nbits: u32 = 0;
    let mut it = bytes.iter();
    for _ in 0..n_words {
        if nbits < 5 {
            let b = it.next().copied().unwrap_or(0);
            acc = acc.wrapping_shl(8) | u32::from(b);
            nbits = nbits.wrapping_add(8);
        }
        nbits = nbits.wrapping_sub(5);
        let w = acc.wrapping_shr(nbits) & 31;
        acc &= 1u32.wrapping_shl(nbits).wrapping_sub(1);
        sink.word(w as u8)?;
    }
    Ok(())
}

/// Emits a tagged field's tag and 10-bit length.
pub(crate) fn emit_field_header<S: WordSink>(
    tag: u8,
    len: u16,
    sink: &mut S,
) -> Result<(), S::Error> {
    sink.word(tag & 31)?;
    sink.word((len.wrapping_shr(5) & 31) as u8)?;
    sink.word((len & 31) as u8)
}

/// One item of a product template.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Item<'a> {
    /// A tagged field shared by every entry: tag, data length in words, packed data.
    Literal { tag: u8, len: u16, data: &'a [u8] },
    /// The entry's payment hash field (`p`, 52 words).
    Hash,
    /// The entry's payment secret field (`s`, 52 words).
    Secret,
}

/// Walks a template; yields an error (once) on malformed bytes.
pub(crate) struct TemplateIter<'a> {
    rest: &'a [u8],
    failed: bool,
}

impl<'a> TemplateIter<'a> {
    pub(crate) fn new(template: &'a [u8]) -> Self {
        TemplateIter { rest: template, failed: false }
    }
}

impl<'a> Iterator for TemplateIter<'a> {
    type Item = Result<Item<'a>, &'static str>;

    fn next(&mut self) -> Option<Self::Item> {
        if self.failed {
            return None;
        }
        let (&first, rest) = self.rest.split_first()?;
        let res = match first {
            PLACEHOLDER_HASH => {
                self.rest = rest;
                Ok(Item::Hash)
            }
            PLACEHOLDER_SECRET => {
                self.rest = rest;
                Ok(Item::Secret)
            }
            tag if tag < 32 => match (rest.first(), rest.get(1)) {
                (Some(&hi), Some(&lo)) => {
                    let len = u16::from_be_bytes([hi, lo]);
                    let n = packed_len(len);
                    match (
                        len <= MAX_FIELD_WORDS,
                        rest.get(2..).and_then(|r| r.split_at_checked(n)),
                    ) {
                        (false, _) => Err("field longer than 1023 words"),
                        (true, None) => Err("field data runs past the template"),
                        (true, Some((data, after))) => {
                            // Padding bits after the last word must be zero (one encoding only).
                            let pad =
                                (n.wrapping_mul(8)).wrapping_sub(usize::from(len).wrapping_mul(5));
                            let last = data.last().copied().unwrap_or(0);
                            if u32::from(last) & 1u32.wrapping_shl(pad as u32).wrapping_sub(1) != 0
                            {
                                Err("non-zero padding bits in a field")
                            } else {
                                self.rest = after;
                                Ok(Item::Literal { tag, len, data })
                            }
                        }
                    }
                }
                _ => Err("field header runs past the template"),
            },
            _ => Err("unknown template item"),
        };
        if res.is_err() {
            self.failed = true;
        }
        Some(res)
    }
}

/// Emits the data part before the signature: timestamp, then the template's fields with the
/// entry's hash and secret at the placeholders.
pub(crate) fn emit_fields<S: WordSink>(
    template: &[u8],
    timestamp: u64,
    hash: &[u8; 32],
    secret: &[u8; 32],
    sink: &mut S,
) -> Result<(), S::Error> {
    for i in (0..TIMESTAMP_WORDS as u32).rev() {
        sink.word((timestamp.wrapping_shr(i.wrapping_mul(5)) & 31) as u8)?;
    }
    for item in TemplateIter::new(template) {
        // A template that got here was validated by `Pool::parse`; an error cannot occur.
        match item {
            Ok(Item::Literal { tag, len, data }) => {
                emit_field_header(tag, len, sink)?;
                emit_bytes(data, usize::from(len), sink)?;
            }
            Ok(Item::Hash) => {
                emit_field_header(TAG_P, HASH_WORDS, sink)?;
                emit_bytes(hash, usize::from(HASH_WORDS), sink)?;
            }
            Ok(Item::Secret) => {
                emit_field_header(TAG_S, HASH_WORDS, sink)?;
                emit_bytes(secret, usize::from(HASH_WORDS), sink)?;
            }
            Err(_) => break,
        }
    }
    Ok(())
}

/// Parses the amount after the currency prefix of an HRP, in millisatoshi.
/// `Ok(None)`: no amount. `Err`: malformed or overflowing.
pub(crate) fn parse_amount(s: &str) -> Result<Option<u64>, ()> {
    let Some(&last) = s.as_bytes().last() else {
        return Ok(None);
    };
    // msat per unit; pico is handled apart (0.1 msat).
    let (digits, per_unit) = match last {
        b'm' => (s.get(..s.len().saturating_sub(1)), Some(100_000_000u64)),
        b'u' => (s.get(..s.len().saturating_sub(1)), Some(100_000)),
        b'n' => (s.get(..s.len().saturating_sub(1)), Some(100)),
        b'p' => (s.get(..s.len().saturating_sub(1)), None),
        b'0'..=b'9' => (Some(s), Some(100_000_000_000)),
        _ => return Err(()),
    };
    let digits = digits.ok_or(())?;
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return Err(());
    }
    match per_unit {
        Some(m) => decimal(digits)?.checked_mul(m).map(Some).ok_or(()),
        // Pico-bitcoin is a tenth of a millisatoshi: the amount must end in 0, and the msat
        // are the digits before it (no 64-bit division: small devices parse this too).
        None => match digits.strip_suffix('0') {
            Some(msat) => decimal(msat).map(Some),
            None => Err(()),
        },
    }
}

/// The value of ASCII decimal digits (checked by the caller); 0 for none; `Err` on overflow.
fn decimal(digits: &str) -> Result<u64, ()> {
    digits.bytes().try_fold(0u64, |v, b| {
        v.checked_mul(10).and_then(|v| v.checked_add(u64::from(b.wrapping_sub(b'0')))).ok_or(())
    })
}

/// The amount of an HRP for `prefix` (`lnbc`…), or `Err` if the HRP is not `prefix` + amount.
pub(crate) fn hrp_amount(hrp: &str, prefix: &str) -> Result<Option<u64>, ()> {
    let rest = hrp.strip_prefix(prefix).ok_or(())?;
    parse_amount(rest)
}

#[cfg(test)]
mod tests {
    use super::parse_amount;

    #[test]
    fn amounts_in_every_multiplier_and_the_pico_rules() {
        let cases: [(&str, Result<Option<u64>, ()>); 14] = [
            ("", Ok(None)),
            ("1", Ok(Some(100_000_000_000))),
            ("25m", Ok(Some(2_500_000_000))),
            ("2500u", Ok(Some(250_000_000))),
            ("20n", Ok(Some(2_000))),
            // Pico: a tenth of a msat; the amount must end in 0.
            ("10p", Ok(Some(1))),
            ("0p", Ok(Some(0))),
            ("9678785340p", Ok(Some(967_878_534))),
            ("15p", Err(())),
            ("p", Err(())),
            ("1x", Err(())),
            ("m", Err(())),
            ("184467440737095516160p", Err(())), // (u64::MAX + 1) msat: overflows
            ("18446744073709551615u", Err(())),  // overflows once multiplied
        ];
        for (text, expected) in cases {
            assert_eq!(parse_amount(text), expected, "{text:?}");
        }
        // The largest pico amount: u64::MAX msat, read without multiplying by ten first.
        assert_eq!(parse_amount("184467440737095516150p"), Ok(Some(u64::MAX)));
    }
}
