//! Building a pool from the owner node's invoices (operator side, needs `alloc`).

use alloc::collections::BTreeSet;
use alloc::string::{String, ToString};
use alloc::vec::Vec;
use core::fmt;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::Checksum;
use k256::ecdsa::Signature;

use super::bolt11::{
    self, Item, TemplateIter, HASH_WORDS, PLACEHOLDER_HASH, PLACEHOLDER_SECRET, TAG_P, TAG_S,
};
use super::error::{Hex, PoolError};
use super::wire::{Pool, TS_UNARY};
use super::{Network, FORMAT_VERSION};
use crate::{DeviceId, PoolId};

/// bech32 with BOLT 11's longer length limit (invoices exceed bech32's 90 characters).
enum Bolt11Bech32 {}

impl Checksum for Bolt11Bech32 {
    const CODE_LENGTH: usize = 7089;
    type MidstateRepr = <bech32::Bech32 as Checksum>::MidstateRepr;
    const CHECKSUM_LENGTH: usize = bech32::Bech32::CHECKSUM_LENGTH;
    const GENERATOR_SH: [Self::MidstateRepr; 5] = bech32::Bech32::GENERATOR_SH;
    const TARGET_RESIDUE: Self::MidstateRepr = bech32::Bech32::TARGET_RESIDUE;
}

/// Why an invoice could not be added or a pool could not be finished.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BuildError {
    /// The invoice has upper-case characters; devices rebuild lower case only.
    NotLowercase {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
    },
    /// The invoice is not valid bech32 (or its checksum is wrong).
    Bech32 {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
        /// The decoder's message.
        reason: String,
    },
    /// The invoice's HRP is not `ln` + the pool network's currency + a valid amount.
    WrongHrp {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
        /// The HRP found.
        hrp: String,
        /// The pool's network.
        network: Network,
    },
    /// The data part is shorter than a timestamp and a signature.
    TooShort {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
    },
    /// A tagged field runs into the signature.
    TruncatedField {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
        /// Its tag.
        field: char,
    },
    /// A `p` or `s` field has non-zero padding bits.
    NonCanonicalField {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
        /// Its tag.
        field: char,
    },
    /// The invoice lacks a 52-word `p` or `s` field.
    MissingField {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
        /// The missing tag.
        field: char,
    },
    /// The signature's r or s is out of range, or its recovery id is not 0..=3.
    InvalidSignature {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
    },
    /// The signature is not low-S normalised.
    HighS {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
    },
    /// The HRP (currency and amount) differs from the product's first invoice.
    HrpMismatch {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
        /// The product's HRP.
        expected: String,
        /// This invoice's HRP.
        found: String,
    },
    /// A shared tagged field differs from (or is missing/extra/reordered in) the product's first
    /// invoice.
    TemplateMismatch {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
        /// The first differing field's tag.
        field: char,
    },
    /// Sequence numbers of a product must be consecutive.
    NonConsecutiveSeq {
        /// Product.
        product: u16,
        /// The next sequence number expected.
        expected: u32,
        /// The one given.
        found: u32,
    },
    /// Two entries share a payment hash.
    DuplicatePaymentHash {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
    },
    /// Something exceeds what format v1 can express.
    TooLarge {
        /// What.
        what: &'static str,
    },
    /// No invoice was added.
    Empty,
    /// The encoded pool does not parse (a bug of this builder).
    Reparse(PoolError),
    /// An entry does not rebuild to its original string.
    RoundTrip {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
    },
    /// An entry's signature does not recover the owner node id.
    Signature {
        /// Product.
        product: u16,
        /// Sequence number.
        seq: u32,
        /// The verification error.
        error: PoolError,
    },
}

impl fmt::Display for BuildError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BuildError::NotLowercase { product, seq } => {
                write!(f, "product {product} seq {seq}: invoice is not lower case")
            }
            BuildError::Bech32 { product, seq, reason } => {
                write!(f, "product {product} seq {seq}: invalid bech32: {reason}")
            }
            BuildError::WrongHrp { product, seq, hrp, network } => write!(
                f,
                "product {product} seq {seq}: invoice prefix {hrp:?} is not a {network} invoice with a valid amount"
            ),
            BuildError::TooShort { product, seq } => {
                write!(f, "product {product} seq {seq}: invoice too short")
            }
            BuildError::TruncatedField { product, seq, field } => {
                write!(f, "product {product} seq {seq}: field `{field}` is truncated")
            }
            BuildError::NonCanonicalField { product, seq, field } => {
                write!(f, "product {product} seq {seq}: field `{field}` has non-zero padding bits")
            }
            BuildError::MissingField { product, seq, field } => {
                write!(f, "product {product} seq {seq}: no 52-word `{field}` field")
            }
            BuildError::InvalidSignature { product, seq } => {
                write!(f, "product {product} seq {seq}: invalid signature")
            }
            BuildError::HighS { product, seq } => {
                write!(f, "product {product} seq {seq}: signature is not low-s normalised")
            }
            BuildError::HrpMismatch { product, seq, expected, found } => write!(
                f,
                "product {product} seq {seq}: prefix/amount {found:?} differs from the product's {expected:?}"
            ),
            BuildError::TemplateMismatch { product, seq, field } => write!(
                f,
                "product {product} seq {seq}: field `{field}` differs from the product's first invoice"
            ),
            BuildError::NonConsecutiveSeq { product, expected, found } => {
                write!(f, "product {product}: expected seq {expected}, got {found}")
            }
            BuildError::DuplicatePaymentHash { product, seq } => {
                write!(f, "product {product} seq {seq}: payment hash already in the pool")
            }
            BuildError::TooLarge { what } => write!(f, "{what} too large for pool format v1"),
            BuildError::Empty => f.write_str("no invoice added"),
            BuildError::Reparse(e) => write!(f, "encoded pool does not parse: {e}"),
            BuildError::RoundTrip { product, seq } => {
                write!(f, "product {product} seq {seq}: rebuilt invoice differs from the original")
            }
            BuildError::Signature { product, seq, error } => {
                write!(f, "product {product} seq {seq}: {error}")
            }
        }
    }
}

impl core::error::Error for BuildError {}

struct DraftEntry {
    hash: [u8; 32],
    secret: [u8; 32],
    sig: [u8; 64],
    recid: u8,
    timestamp: u64,
    original: String,
}

struct DraftProduct {
    id: u16,
    first_seq: u32,
    hrp: String,
    template: Vec<u8>,
    entries: Vec<DraftEntry>,
}

/// Builds a pool from the owner node's invoices; [`PoolBuilder::finish`] proves the device
/// rebuilds each one byte for byte and that each recovers the owner node id.
pub struct PoolBuilder {
    pool_id: PoolId,
    device_id: DeviceId,
    owner: [u8; 33],
    network: Network,
    refund_url_base: String,
    products: Vec<DraftProduct>,
    hashes: BTreeSet<[u8; 32]>,
}

impl fmt::Debug for PoolBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PoolBuilder")
            .field("pool_id", &self.pool_id)
            .field("device_id", &self.device_id)
            .field("owner", &format_args!("{}", Hex(&self.owner)))
            .field("network", &self.network)
            .field("entries", &self.hashes.len())
            .finish_non_exhaustive()
    }
}

/// Packs 5-bit words into bytes, MSB first, zero padded.
fn pack(words: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(words.len().saturating_mul(5).saturating_add(7) / 8);
    let (mut acc, mut nbits) = (0u32, 0u32);
    for &w in words {
        acc = acc.wrapping_shl(5) | u32::from(w & 31);
        nbits = nbits.wrapping_add(5);
        if nbits >= 8 {
            nbits = nbits.wrapping_sub(8);
            out.push((acc.wrapping_shr(nbits) & 0xff) as u8);
            acc &= 1u32.wrapping_shl(nbits).wrapping_sub(1);
        }
    }
    if nbits > 0 {
        out.push((acc.wrapping_shl(8u32.wrapping_sub(nbits)) & 0xff) as u8);
    }
    out
}

fn tag_char(tag: u8) -> char {
    bolt11::CHARSET.get(usize::from(tag)).map_or('?', |&c| char::from(c))
}

fn item_char(item: Option<Result<Item<'_>, &'static str>>) -> Option<char> {
    match item? {
        Ok(Item::Literal { tag, .. }) => Some(tag_char(tag)),
        Ok(Item::Hash) => Some('p'),
        Ok(Item::Secret) => Some('s'),
        Err(_) => Some('?'),
    }
}

/// The tag of the first item where two templates differ, if they do.
fn first_difference(expected: &[u8], found: &[u8]) -> Option<char> {
    let (mut a, mut b) = (TemplateIter::new(expected), TemplateIter::new(found));
    loop {
        let (x, y) = (a.next(), b.next());
        if x.is_none() && y.is_none() {
            return None;
        }
        if x != y {
            return item_char(x).or(item_char(y));
        }
    }
}

fn push_u16(out: &mut Vec<u8>, v: u16) {
    out.extend_from_slice(&v.to_be_bytes());
}

impl PoolBuilder {
    /// A builder for a pool of `device_id` whose invoices are signed by `owner_node_id`.
    pub fn new(
        pool_id: PoolId,
        device_id: DeviceId,
        owner_node_id: [u8; 33],
        network: Network,
    ) -> Self {
        PoolBuilder {
            pool_id,
            device_id,
            owner: owner_node_id,
            network,
            refund_url_base: String::new(),
            products: Vec::new(),
            hashes: BTreeSet::new(),
        }
    }

    /// Sets the refund URL base (default empty).
    pub fn refund_url_base(&mut self, url: &str) -> &mut Self {
        self.refund_url_base = url.to_string();
        self
    }

    /// Adds invoice `bolt11` as entry `seq` of `product`. The first invoice of a product defines
    /// its template; later ones must share every field but `p`, `s`, timestamp and signature,
    /// and follow with consecutive `seq`.
    pub fn add(&mut self, product: u16, seq: u32, bolt11: &str) -> Result<(), BuildError> {
        let at = (product, seq);
        if bolt11.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(BuildError::NotLowercase { product, seq });
        }
        let checked = CheckedHrpstring::new::<Bolt11Bech32>(bolt11)
            .map_err(|e| BuildError::Bech32 { product, seq, reason: e.to_string() })?;
        let sep = bolt11.rfind('1').ok_or(BuildError::TooShort { product, seq })?;
        let hrp = bolt11.get(..sep).ok_or(BuildError::TooShort { product, seq })?;
        if bolt11::hrp_amount(hrp, self.network.hrp_prefix()).is_err() {
            return Err(BuildError::WrongHrp {
                product,
                seq,
                hrp: hrp.to_string(),
                network: self.network,
            });
        }
        let words: Vec<u8> = checked
            .data_part_ascii_no_checksum()
            .iter()
            .map(|&c| bolt11::CHARSET.iter().position(|&x| x == c).unwrap_or(0) as u8)
            .collect();
        let sig_start =
            words.len().checked_sub(104).ok_or(BuildError::TooShort { product, seq })?;
        let (head, sig_words) = words.split_at(sig_start);
        let (ts_words, mut fields) = head
            .split_at_checked(bolt11::TIMESTAMP_WORDS)
            .ok_or(BuildError::TooShort { product, seq })?;
        let timestamp = ts_words.iter().fold(0u64, |acc, &w| acc.wrapping_shl(5) | u64::from(w));
        let sig65 = pack(sig_words);
        let (sig, recid) = match (sig65.get(..64), sig65.get(64)) {
            (Some(s), Some(&r)) if r <= 3 => (s, r),
            _ => return Err(BuildError::InvalidSignature { product, seq }),
        };
        let parsed = Signature::from_slice(sig)
            .map_err(|_| BuildError::InvalidSignature { product, seq })?;
        if parsed.normalize_s().is_some() {
            return Err(BuildError::HighS { product, seq });
        }

        let mut template = Vec::new();
        let (mut hash, mut secret) = (None::<[u8; 32]>, None::<[u8; 32]>);
        while let Some((&tag, rest)) = fields.split_first() {
            let field = tag_char(tag);
            let (len_words, rest) = rest.split_at_checked(2).ok_or(BuildError::TruncatedField {
                product,
                seq,
                field,
            })?;
            let len = len_words.iter().fold(0u16, |acc, &w| acc.wrapping_shl(5) | u16::from(w));
            let (data, rest) = rest
                .split_at_checked(usize::from(len))
                .ok_or(BuildError::TruncatedField { product, seq, field })?;
            fields = rest;
            let slot = match tag {
                TAG_P if len == HASH_WORDS && hash.is_none() => Some((&mut hash, PLACEHOLDER_HASH)),
                TAG_S if len == HASH_WORDS && secret.is_none() => {
                    Some((&mut secret, PLACEHOLDER_SECRET))
                }
                _ => None,
            };
            match slot {
                Some((slot, placeholder)) => {
                    let bytes = pack(data);
                    // 52 words = 256 bits + 4 padding bits, which must be zero.
                    match (bytes.get(..32).map(<[u8; 32]>::try_from), bytes.get(32)) {
                        (Some(Ok(v)), Some(0)) => *slot = Some(v),
                        _ => return Err(BuildError::NonCanonicalField { product, seq, field }),
                    }
                    template.push(placeholder);
                }
                None => {
                    template.push(tag);
                    push_u16(&mut template, len);
                    template.extend_from_slice(&pack(data));
                }
            }
        }
        let hash = hash.ok_or(BuildError::MissingField { product, seq, field: 'p' })?;
        let secret = secret.ok_or(BuildError::MissingField { product, seq, field: 's' })?;
        if self.hashes.contains(&hash) {
            return Err(BuildError::DuplicatePaymentHash { product, seq });
        }
        let mut sig_arr = [0u8; 64];
        sig_arr.copy_from_slice(sig);
        let entry = DraftEntry {
            hash,
            secret,
            sig: sig_arr,
            recid,
            timestamp,
            original: bolt11.to_string(),
        };

        match self.products.iter_mut().find(|p| p.id == product) {
            Some(p) => {
                let expected = p
                    .first_seq
                    .checked_add(
                        u32::try_from(p.entries.len())
                            .map_err(|_| BuildError::TooLarge { what: "product" })?,
                    )
                    .ok_or(BuildError::TooLarge { what: "sequence number" })?;
                if seq != expected {
                    return Err(BuildError::NonConsecutiveSeq { product, expected, found: seq });
                }
                if p.hrp != hrp {
                    return Err(BuildError::HrpMismatch {
                        product,
                        seq,
                        expected: p.hrp.clone(),
                        found: hrp.to_string(),
                    });
                }
                if let Some(field) = first_difference(&p.template, &template) {
                    return Err(BuildError::TemplateMismatch { product: at.0, seq: at.1, field });
                }
                p.entries.push(entry);
            }
            None => self.products.push(DraftProduct {
                id: product,
                first_seq: seq,
                hrp: hrp.to_string(),
                template,
                entries: alloc::vec![entry],
            }),
        }
        self.hashes.insert(hash);
        Ok(())
    }

    /// Encodes the pool, then re-parses it and checks that every entry rebuilds its original
    /// string exactly and recovers the owner node id.
    pub fn finish(&self) -> Result<Vec<u8>, BuildError> {
        let bytes = self.encode()?;
        let pool = Pool::parse(&bytes).map_err(BuildError::Reparse)?;
        let mut originals = Vec::new();
        let mut products: Vec<&DraftProduct> = self.products.iter().collect();
        products.sort_by_key(|p| p.id);
        for p in &products {
            for (i, e) in p.entries.iter().enumerate() {
                originals.push((p.id, p.first_seq.wrapping_add(i as u32), e.original.as_str()));
            }
        }
        if originals.len() != pool.len() {
            return Err(BuildError::Reparse(PoolError::TooLarge { product: 0 }));
        }
        let mut buf = String::new();
        for (entry, &(product, seq, original)) in pool.entries().zip(originals.iter()) {
            buf.clear();
            if entry.write_bolt11(&mut buf).is_err() || buf != original {
                return Err(BuildError::RoundTrip { product, seq });
            }
        }
        pool.verify_signatures().map_err(|error| {
            let index = match error {
                PoolError::InvalidSignature { index }
                | PoolError::HighS { index }
                | PoolError::SignerMismatch { index } => index,
                _ => 0,
            };
            let (product, seq, _) = originals.get(index).copied().unwrap_or((0, 0, ""));
            BuildError::Signature { product, seq, error }
        })?;
        Ok(bytes)
    }

    fn encode(&self) -> Result<Vec<u8>, BuildError> {
        if self.products.is_empty() {
            return Err(BuildError::Empty);
        }
        let mut out = Vec::new();
        out.push(FORMAT_VERSION);
        out.extend_from_slice(&self.pool_id.0);
        out.extend_from_slice(&self.device_id.0);
        out.extend_from_slice(&self.owner);
        out.push(self.network.to_byte());
        let url_len = u16::try_from(self.refund_url_base.len())
            .map_err(|_| BuildError::TooLarge { what: "refund url" })?;
        push_u16(&mut out, url_len);
        out.extend_from_slice(self.refund_url_base.as_bytes());
        let count = u16::try_from(self.products.len())
            .map_err(|_| BuildError::TooLarge { what: "product count" })?;
        push_u16(&mut out, count);
        let mut products: Vec<&DraftProduct> = self.products.iter().collect();
        products.sort_by_key(|p| p.id);
        for p in products {
            out.extend_from_slice(&p.id.to_be_bytes());
            out.extend_from_slice(&p.first_seq.to_be_bytes());
            let n = u32::try_from(p.entries.len())
                .map_err(|_| BuildError::TooLarge { what: "entry count" })?;
            out.extend_from_slice(&n.to_be_bytes());
            let hrp_len =
                u8::try_from(p.hrp.len()).map_err(|_| BuildError::TooLarge { what: "hrp" })?;
            out.push(hrp_len);
            out.extend_from_slice(p.hrp.as_bytes());
            let t_len = u16::try_from(p.template.len())
                .map_err(|_| BuildError::TooLarge { what: "template" })?;
            push_u16(&mut out, t_len);
            out.extend_from_slice(&p.template);
            let ts: Vec<u64> = p.entries.iter().map(|e| e.timestamp).collect();
            let base = ts.iter().copied().min().unwrap_or(0);
            let max = ts.iter().copied().max().unwrap_or(0);
            let width = 64u32.saturating_sub(max.saturating_sub(base).leading_zeros());
            let fixed_bits = u64::from(width).saturating_mul(ts.len() as u64);
            let monotone = ts.windows(2).all(|w| matches!(w, [a, b] if a <= b));
            let unary_bits = (ts.len() as u64).saturating_add(max.saturating_sub(base));
            out.extend_from_slice(base.to_be_bytes().get(3..).unwrap_or_default());
            let ts_col = if monotone && unary_bits < fixed_bits {
                out.push(TS_UNARY);
                let mut bits = Vec::new();
                let mut prev = base;
                for &t in &ts {
                    bits.extend(core::iter::repeat_n(0u64, t.saturating_sub(prev) as usize));
                    bits.push(1);
                    prev = t;
                }
                let col = pack_bits(&bits, 1);
                let len = u32::try_from(col.len())
                    .map_err(|_| BuildError::TooLarge { what: "timestamps" })?;
                out.extend_from_slice(&len.to_be_bytes());
                col
            } else {
                out.push(width as u8);
                let offsets: Vec<u64> = ts.iter().map(|t| t.saturating_sub(base)).collect();
                pack_bits(&offsets, width)
            };
            for e in &p.entries {
                out.extend_from_slice(&e.hash);
            }
            for e in &p.entries {
                out.extend_from_slice(&e.secret);
            }
            for e in &p.entries {
                out.extend_from_slice(&e.sig);
            }
            let recids: Vec<u64> = p.entries.iter().map(|e| u64::from(e.recid)).collect();
            out.extend_from_slice(&pack_bits(&recids, 2));
            out.extend_from_slice(&ts_col);
        }
        Ok(out)
    }
}

/// Packs `width`-bit values MSB first, zero padded.
fn pack_bits(values: &[u64], width: u32) -> Vec<u8> {
    let mut out = Vec::new();
    let (mut acc, mut nbits) = (0u8, 0u32);
    for &v in values {
        for k in (0..width).rev() {
            acc = acc.wrapping_shl(1) | (v.wrapping_shr(k) & 1) as u8;
            nbits = nbits.wrapping_add(1);
            if nbits == 8 {
                out.push(acc);
                acc = 0;
                nbits = 0;
            }
        }
    }
    if nbits > 0 {
        out.push(acc.wrapping_shl(8u32.wrapping_sub(nbits)));
    }
    out
}
