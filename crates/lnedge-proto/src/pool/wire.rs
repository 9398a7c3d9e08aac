//! Zero-copy decoding of format v1 (layout: `docs/protocols/pool-format.md`).

use core::fmt;

use k256::ecdsa::{RecoveryId, Signature, VerifyingKey};

use super::bolt11::{self, Bech32Writer, Item, SigningHasher, TemplateIter, MAX_TIMESTAMP};
use super::error::PoolError;
use super::{Network, FORMAT_VERSION};
use crate::{DeviceId, PoolId};

/// Cursor over untrusted bytes; every read is bounds-checked.
struct Reader<'a> {
    bytes: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    fn take(&mut self, n: usize, what: &'static str) -> Result<&'a [u8], PoolError> {
        let end = self.pos.checked_add(n).ok_or(PoolError::Truncated { what, offset: self.pos })?;
        let s =
            self.bytes.get(self.pos..end).ok_or(PoolError::Truncated { what, offset: self.pos })?;
        self.pos = end;
        Ok(s)
    }

    fn array<const N: usize>(&mut self, what: &'static str) -> Result<&'a [u8; N], PoolError> {
        let offset = self.pos;
        self.take(N, what)?.try_into().map_err(|_| PoolError::Truncated { what, offset })
    }

    fn u8(&mut self, what: &'static str) -> Result<u8, PoolError> {
        Ok(self.array::<1>(what)?[0])
    }

    fn u16(&mut self, what: &'static str) -> Result<u16, PoolError> {
        Ok(u16::from_be_bytes(*self.array(what)?))
    }

    fn u32(&mut self, what: &'static str) -> Result<u32, PoolError> {
        Ok(u32::from_be_bytes(*self.array(what)?))
    }

    fn u40(&mut self, what: &'static str) -> Result<u64, PoolError> {
        let b: &[u8; 5] = self.array(what)?;
        let mut full = [0u8; 8];
        for (d, s) in full.iter_mut().skip(3).zip(b.iter()) {
            *d = *s;
        }
        Ok(u64::from_be_bytes(full))
    }
}

/// Reads `n` (≤ 64) bits MSB first starting at bit `pos` of `data`; `None` if out of range.
fn read_bits(data: &[u8], pos: usize, n: u32) -> Option<u64> {
    let mut v: u64 = 0;
    for k in 0..n as usize {
        let bit = pos.checked_add(k)?;
        let byte = *data.get(bit / 8)?;
        let b = byte.wrapping_shr(7u32.wrapping_sub((bit % 8) as u32)) & 1;
        v = v.wrapping_shl(1) | u64::from(b);
    }
    Some(v)
}

/// Timestamp encoding byte: unary deltas (see the format doc).
pub(crate) const TS_UNARY: u8 = 0xFF;

/// Whether the bits of `data` after the first `used` bits are all zero (and `data` is exactly
/// as long as `used` bits need).
fn padding_is_zero(data: &[u8], used: usize) -> bool {
    let pad = data.len().saturating_mul(8).saturating_sub(used) as u32;
    match data.last() {
        Some(&last) => pad < 8 && u32::from(last) & 1u32.wrapping_shl(pad).wrapping_sub(1) == 0,
        None => true,
    }
}

/// Number of zero bits before the `(i+1)`-th one bit (MSB first): the timestamp offset of
/// entry `i` in a unary column.
fn unary_select(col: &[u8], i: usize) -> Option<u64> {
    let mut skip = i;
    let mut zeros: u64 = 0;
    for &byte in col {
        let ones = byte.count_ones() as usize;
        if ones <= skip {
            skip = skip.wrapping_sub(ones);
            zeros = zeros.saturating_add(8u64.wrapping_sub(ones as u64));
            continue;
        }
        for bit in (0..8u32).rev() {
            if byte.wrapping_shr(bit) & 1 == 1 {
                if skip == 0 {
                    return Some(zeros);
                }
                skip = skip.wrapping_sub(1);
            } else {
                zeros = zeros.saturating_add(1);
            }
        }
    }
    None
}

/// One decoded product section (all slices borrow the pool).
#[derive(Clone, Copy, Debug)]
pub(crate) struct Section<'a> {
    pub(crate) id: u16,
    pub(crate) first_seq: u32,
    pub(crate) count: u32,
    pub(crate) hrp: &'a str,
    pub(crate) amount_msat: Option<u64>,
    pub(crate) template: &'a [u8],
    pub(crate) description: Option<&'a str>,
    pub(crate) ts_base: u64,
    /// 0..=35: fixed width of each timestamp offset; [`TS_UNARY`]: unary deltas.
    pub(crate) ts_enc: u8,
    pub(crate) hashes: &'a [u8],
    pub(crate) secrets: &'a [u8],
    pub(crate) sigs: &'a [u8],
    pub(crate) recids: &'a [u8],
    pub(crate) ts_col: &'a [u8],
}

impl<'a> Section<'a> {
    /// Reads and validates one product section (everything but the per-entry timestamp range).
    fn read(r: &mut Reader<'a>, network: Network) -> Result<Self, PoolError> {
        let id = r.u16("product id")?;
        let first_seq = r.u32("first seq")?;
        let count = r.u32("entry count")?;
        if count == 0 {
            return Err(PoolError::EmptyProduct { product: id });
        }
        first_seq
            .checked_add(count.wrapping_sub(1))
            .ok_or(PoolError::SeqOverflow { product: id })?;
        let hrp_len = r.u8("hrp length")?;
        let hrp = r.take(usize::from(hrp_len), "hrp")?;
        let hrp = core::str::from_utf8(hrp).map_err(|_| PoolError::InvalidHrp { product: id })?;
        let amount_msat = bolt11::hrp_amount(hrp, network.hrp_prefix())
            .map_err(|_| PoolError::InvalidHrp { product: id })?;
        let template_len = r.u16("template length")?;
        let template = r.take(usize::from(template_len), "template")?;
        let description = validate_template(template, id)?;
        let ts_base = r.u40("timestamp base")?;
        let ts_enc = r.u8("timestamp encoding")?;
        if ts_base > MAX_TIMESTAMP || (ts_enc > 35 && ts_enc != TS_UNARY) {
            return Err(PoolError::InvalidTimestamp { product: id });
        }
        let unary_len =
            if ts_enc == TS_UNARY { Some(r.u32("timestamp column length")?) } else { None };
        let too_large = PoolError::TooLarge { product: id };
        let n = usize::try_from(count).map_err(|_| too_large)?;
        let col32 = n.checked_mul(32).ok_or(too_large)?;
        let col64 = n.checked_mul(64).ok_or(too_large)?;
        let recid_len = n.checked_mul(2).and_then(|b| b.checked_add(7)).ok_or(too_large)? / 8;
        let ts_len = match unary_len {
            Some(l) => usize::try_from(l).map_err(|_| too_large)?,
            None => {
                n.checked_mul(usize::from(ts_enc))
                    .and_then(|b| b.checked_add(7))
                    .ok_or(too_large)?
                    / 8
            }
        };
        let hashes = r.take(col32, "payment hashes")?;
        let secrets = r.take(col32, "payment secrets")?;
        let sigs = r.take(col64, "signatures")?;
        let recids = r.take(recid_len, "recovery ids")?;
        let ts_col = r.take(ts_len, "timestamps")?;
        Ok(Section {
            id,
            first_seq,
            count,
            hrp,
            amount_msat,
            template,
            description,
            ts_base,
            ts_enc,
            hashes,
            secrets,
            sigs,
            recids,
            ts_col,
        })
    }

    fn len(&self) -> usize {
        self.count as usize
    }

    /// Checks what [`Section::read`] leaves to a pass over the entries: zero padding and every
    /// timestamp within 35 bits. `first_index` is the global index of the first entry.
    fn validate_entries(&self, first_index: usize) -> Result<(), PoolError> {
        let product = self.id;
        let n = self.len();
        if !padding_is_zero(self.recids, n.saturating_mul(2)) {
            return Err(PoolError::NonZeroPadding { product });
        }
        let room = MAX_TIMESTAMP.saturating_sub(self.ts_base);
        if self.ts_enc == TS_UNARY {
            // Exactly `n` one-bits; fewer than 8 padding zeros after the last one.
            let ones: usize = self.ts_col.iter().map(|b| b.count_ones() as usize).sum();
            let last = self.ts_col.last().copied().unwrap_or(0);
            if ones != n || last == 0 {
                return Err(PoolError::InvalidTimestamp { product });
            }
            let bits = self.ts_col.len().saturating_mul(8);
            let zeros = bits.saturating_sub(ones).saturating_sub(last.trailing_zeros() as usize);
            if zeros as u64 > room {
                let index = first_index.saturating_add(n.saturating_sub(1));
                return Err(PoolError::TimestampOutOfRange { index });
            }
        } else {
            let w = usize::from(self.ts_enc);
            if !padding_is_zero(self.ts_col, n.saturating_mul(w)) {
                return Err(PoolError::NonZeroPadding { product });
            }
            if w > 0 && (1u64.wrapping_shl(w as u32).wrapping_sub(1)) > room {
                for i in 0..n {
                    match read_bits(self.ts_col, i.saturating_mul(w), w as u32) {
                        Some(off) if off <= room => {}
                        _ => {
                            return Err(PoolError::TimestampOutOfRange {
                                index: first_index.saturating_add(i),
                            })
                        }
                    }
                }
            }
        }
        Ok(())
    }

    /// (recovery id, timestamp) of local entry `i`.
    fn meta_of(&self, i: usize) -> Option<(u8, u64)> {
        let recid = read_bits(self.recids, i.checked_mul(2)?, 2)? as u8;
        let off = if self.ts_enc == TS_UNARY {
            unary_select(self.ts_col, i)?
        } else {
            let w = u32::from(self.ts_enc);
            read_bits(self.ts_col, i.checked_mul(w as usize)?, w)?
        };
        Some((recid, self.ts_base.checked_add(off)?))
    }

    fn entry(self, local: usize, index: usize) -> Option<Entry<'a>> {
        let start = local.checked_mul(32)?;
        let payment_hash = self.hashes.get(start..start.checked_add(32)?)?.try_into().ok()?;
        let payment_secret = self.secrets.get(start..start.checked_add(32)?)?.try_into().ok()?;
        let s64 = local.checked_mul(64)?;
        let signature = self.sigs.get(s64..s64.checked_add(64)?)?.try_into().ok()?;
        let (recovery_id, timestamp) = self.meta_of(local)?;
        let seq = self.first_seq.checked_add(u32::try_from(local).ok()?)?;
        Some(Entry {
            section: self,
            index,
            seq,
            payment_hash,
            payment_secret,
            signature,
            recovery_id,
            timestamp,
        })
    }
}

/// Validates a template: well-formed items, exactly one hash and one secret placeholder.
/// Returns the description (first `d` field) if it is UTF-8.
fn validate_template(template: &[u8], product: u16) -> Result<Option<&str>, PoolError> {
    let (mut hashes, mut secrets) = (0u32, 0u32);
    let mut description = None;
    let mut seen_d = false;
    for item in TemplateIter::new(template) {
        match item.map_err(|reason| PoolError::InvalidTemplate { product, reason })? {
            Item::Hash => hashes = hashes.saturating_add(1),
            Item::Secret => secrets = secrets.saturating_add(1),
            Item::Literal { tag, len, data } if tag == bolt11::TAG_D && !seen_d => {
                seen_d = true;
                let n = usize::from(len).saturating_mul(5) / 8;
                description = data.get(..n).and_then(|d| core::str::from_utf8(d).ok());
            }
            Item::Literal { .. } => {}
        }
    }
    match (hashes, secrets) {
        (1, 1) => Ok(description),
        (1, _) => {
            Err(PoolError::InvalidTemplate { product, reason: "needs exactly one payment secret" })
        }
        _ => Err(PoolError::InvalidTemplate { product, reason: "needs exactly one payment hash" }),
    }
}

/// A parsed, structurally valid pool borrowing its bytes. Signatures are checked separately
/// ([`Pool::verify_signatures`]) or at once ([`Pool::parse_verified`]).
#[derive(Clone, Copy, Debug)]
pub struct Pool<'a> {
    version: u8,
    pool_id: PoolId,
    device_id: DeviceId,
    owner: [u8; 33],
    network: Network,
    refund_url_base: &'a str,
    product_count: u16,
    products: &'a [u8],
    len: usize,
}

impl<'a> Pool<'a> {
    /// Parses a pool, validating every length and structure: afterwards no accessor can fail on
    /// these bytes. Does not check signatures.
    pub fn parse(bytes: &'a [u8]) -> Result<Pool<'a>, PoolError> {
        let mut r = Reader { bytes, pos: 0 };
        let version = *bytes.first().ok_or(PoolError::Empty)?;
        if version != FORMAT_VERSION {
            return Err(PoolError::UnsupportedVersion(version));
        }
        r.pos = 1;
        let pool_id = PoolId(*r.array("pool id")?);
        let device_id = DeviceId(*r.array("device id")?);
        let owner: [u8; 33] = *r.array("owner node id")?;
        if !matches!(owner.first(), Some(2 | 3)) {
            return Err(PoolError::InvalidOwnerKey);
        }
        let nb = r.u8("network")?;
        let network = Network::from_byte(nb).ok_or(PoolError::UnknownNetwork(nb))?;
        let url_len = r.u16("refund url length")?;
        let url = r.take(usize::from(url_len), "refund url")?;
        let refund_url_base = core::str::from_utf8(url).map_err(|_| PoolError::InvalidRefundUrl)?;
        let product_count = r.u16("product count")?;
        if product_count == 0 {
            return Err(PoolError::NoProducts);
        }
        let products_start = r.pos;
        let mut len: usize = 0;
        let mut prev: Option<u16> = None;
        for _ in 0..product_count {
            let s = Section::read(&mut r, network)?;
            if prev.is_some_and(|p| p >= s.id) {
                return Err(PoolError::ProductsNotAscending { product: s.id });
            }
            prev = Some(s.id);
            s.validate_entries(len)?;
            len = len.checked_add(s.len()).ok_or(PoolError::TooLarge { product: s.id })?;
        }
        if r.pos != bytes.len() {
            return Err(PoolError::TrailingBytes { offset: r.pos });
        }
        let products = bytes.get(products_start..).ok_or(PoolError::Empty)?;
        Ok(Pool {
            version,
            pool_id,
            device_id,
            owner,
            network,
            refund_url_base,
            product_count,
            products,
            len,
        })
    }

    /// [`Pool::parse`], then refuses a pool whose owner is not `expected_owner` and checks every
    /// signature ([`Pool::verify_signatures`]).
    pub fn parse_verified(
        bytes: &'a [u8],
        expected_owner: &[u8; 33],
    ) -> Result<Pool<'a>, PoolError> {
        let pool = Pool::parse_for_owner(bytes, expected_owner)?;
        pool.verify_signatures()?;
        Ok(pool)
    }

    /// [`Pool::parse`], then refuses a pool whose owner is not `expected_owner` and checks every
    /// signature against it ([`Pool::verify_owner_signatures`]: one ECDSA verification per
    /// entry, no key recovery — for microcontrollers).
    pub fn parse_owner_verified(
        bytes: &'a [u8],
        expected_owner: &[u8; 33],
    ) -> Result<Pool<'a>, PoolError> {
        let pool = Pool::parse_for_owner(bytes, expected_owner)?;
        pool.verify_owner_signatures()?;
        Ok(pool)
    }

    /// [`Pool::parse`], then refuses a pool whose owner is not `expected_owner`
    /// ([`PoolError::WrongOwner`]); no signature is checked yet.
    pub fn parse_for_owner(
        bytes: &'a [u8],
        expected_owner: &[u8; 33],
    ) -> Result<Pool<'a>, PoolError> {
        let pool = Pool::parse(bytes)?;
        if pool.owner != *expected_owner {
            return Err(PoolError::WrongOwner { expected: *expected_owner, found: pool.owner });
        }
        Ok(pool)
    }

    /// Format version (first byte).
    pub fn version(&self) -> u8 {
        self.version
    }

    /// The pool's id.
    pub fn pool_id(&self) -> PoolId {
        self.pool_id
    }

    /// The device this pool was issued to.
    pub fn device_id(&self) -> DeviceId {
        self.device_id
    }

    /// The owner's node id (compressed public key) every invoice is signed by.
    pub fn owner_node_id(&self) -> [u8; 33] {
        self.owner
    }

    /// The network of the invoices.
    pub fn network(&self) -> Network {
        self.network
    }

    /// Base URL for refund LNURLs (may be empty). Not covered by any signature.
    pub fn refund_url_base(&self) -> &'a str {
        self.refund_url_base
    }

    /// The products, in ascending id order.
    pub fn products(&self) -> Products<'a> {
        Products { sections: self.sections(), remaining: self.product_count }
    }

    fn sections(&self) -> Sections<'a> {
        Sections {
            r: Reader { bytes: self.products, pos: 0 },
            network: self.network,
            remaining: self.product_count,
        }
    }

    /// Total number of entries.
    pub fn len(&self) -> usize {
        self.len
    }

    /// Whether the pool has no entry (never true for a parsed pool).
    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Entry `i` (global index: the products' entries in order).
    pub fn entry(&self, i: usize) -> Option<Entry<'a>> {
        let mut base: usize = 0;
        for s in self.sections() {
            let end = base.checked_add(s.len())?;
            if i < end {
                return s.entry(i.checked_sub(base)?, i);
            }
            base = end;
        }
        None
    }

    /// Every entry in global index order.
    pub fn entries(&self) -> Entries<'a> {
        Entries { sections: self.sections(), current: None, local: 0, index: 0 }
    }

    /// The entry with this payment hash (the first one, should a pool repeat a hash).
    pub fn find(&self, payment_hash: &[u8; 32]) -> Option<Entry<'a>> {
        let mut base: usize = 0;
        for s in self.sections() {
            for (local, h) in s.hashes.chunks_exact(32).enumerate() {
                if h == payment_hash {
                    return s.entry(local, base.checked_add(local)?);
                }
            }
            base = base.checked_add(s.len())?;
        }
        None
    }

    /// Checks that every entry's signature is low-S and recovers the owner node id.
    /// The error names the first failing entry.
    pub fn verify_signatures(&self) -> Result<(), PoolError> {
        self.check_each(Entry::check_signer)
    }

    /// Runs `check` on every entry with the owner's key; the first failure is returned.
    fn check_each(
        &self,
        check: fn(&Entry<'a>, &VerifyingKey) -> Result<(), PoolError>,
    ) -> Result<(), PoolError> {
        let owner =
            VerifyingKey::from_sec1_bytes(&self.owner).map_err(|_| PoolError::InvalidOwnerKey)?;
        self.entries().try_for_each(|e| check(&e, &owner))
    }

    /// Checks that every entry's signature is low-S and **verifies under the owner's key**: one
    /// ECDSA verification per entry instead of a key recovery (which computes a square root and
    /// then verifies as well), about half the work. What it does not check is the recovery id:
    /// a pool whose recovery ids were altered passes, and wallets would recover another payee
    /// from those invoices and fail to pay them — a refused sale, never a payment to anyone but
    /// the owner (a signature that verifies under the owner's key cannot be made without it).
    /// The firmware uses this (ADR 0021); hosts use [`Pool::verify_signatures`].
    pub fn verify_owner_signatures(&self) -> Result<(), PoolError> {
        self.check_each(Entry::verify_signature)
    }

    /// [`Pool::verify_owner_signatures`] with another ECDSA verifier: `verify(hash, signature)`
    /// must return true only if the 64-byte compact `signature` (r ‖ s) is a valid signature
    /// of the 32-byte `hash` under [`Pool::owner_node_id`]. A high-S signature is refused here
    /// before `verify` sees it ([`PoolError::HighS`], as [`Pool::verify_owner_signatures`]),
    /// so a verifier that accepts both forms (micro-ecc's `uECC_verify`) keeps the same rule.
    /// The first entry refused is named ([`PoolError::SignerMismatch`]). For devices whose
    /// stack or flash the default verifier does not fit (ADR 0021).
    pub fn verify_owner_signatures_with(
        &self,
        mut verify: impl FnMut(&[u8; 32], &[u8; 64]) -> bool,
    ) -> Result<(), PoolError> {
        for e in self.entries() {
            if !s_is_low(e.signature) {
                return Err(PoolError::HighS { index: e.index });
            }
            if !verify(&e.signing_hash(), e.signature) {
                return Err(PoolError::SignerMismatch { index: e.index });
            }
        }
        Ok(())
    }
}

/// Half the order of secp256k1's group, big-endian: a signature's S above it is "high".
pub(super) const HALF_ORDER: [u8; 32] = [
    0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff,
    0x5d, 0x57, 0x6e, 0x73, 0x57, 0xa4, 0x50, 0x1d, 0xdf, 0xe9, 0x2f, 0x46, 0x68, 0x1b, 0x20, 0xa0,
];

/// Whether the S half of a compact signature (r ‖ s, big-endian) is at most half the group
/// order (BIP 62's low S, what libsecp256k1 and k256's `normalize_s` call normalized): a
/// comparison of public bytes, no arithmetic.
pub(super) fn s_is_low(signature: &[u8; 64]) -> bool {
    signature[32..] <= HALF_ORDER[..]
}

/// Walks the product sections of a parsed pool.
#[derive(Clone)]
struct Sections<'a> {
    r: Reader<'a>,
    network: Network,
    remaining: u16,
}

impl Clone for Reader<'_> {
    fn clone(&self) -> Self {
        Reader { bytes: self.bytes, pos: self.pos }
    }
}

impl<'a> Iterator for Sections<'a> {
    type Item = Section<'a>;
    fn next(&mut self) -> Option<Section<'a>> {
        self.remaining = self.remaining.checked_sub(1)?;
        // Validated by `Pool::parse`, so this cannot fail; stop rather than panic if it did.
        Section::read(&mut self.r, self.network).ok()
    }
}

/// A product of a pool: the fixed facts its invoices share.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Product<'a> {
    /// Product id.
    pub id: u16,
    /// Amount of every invoice, if the invoices carry one.
    pub amount_msat: Option<u64>,
    /// The `d` field, if present and UTF-8.
    pub description: Option<&'a str>,
    /// Sequence number of the first entry (the next ones follow consecutively).
    pub first_seq: u32,
    /// Number of entries.
    pub entry_count: u32,
    /// The invoices' human-readable part (`lnbcrt25u`…).
    pub hrp: &'a str,
}

impl<'a> From<Section<'a>> for Product<'a> {
    fn from(s: Section<'a>) -> Self {
        Product {
            id: s.id,
            amount_msat: s.amount_msat,
            description: s.description,
            first_seq: s.first_seq,
            entry_count: s.count,
            hrp: s.hrp,
        }
    }
}

/// Iterator over a pool's products.
#[derive(Clone)]
pub struct Products<'a> {
    sections: Sections<'a>,
    remaining: u16,
}

impl<'a> Iterator for Products<'a> {
    type Item = Product<'a>;
    fn next(&mut self) -> Option<Product<'a>> {
        self.remaining = self.remaining.checked_sub(1)?;
        self.sections.next().map(Product::from)
    }
}

/// Iterator over a pool's entries.
#[derive(Clone)]
pub struct Entries<'a> {
    sections: Sections<'a>,
    current: Option<Section<'a>>,
    local: usize,
    index: usize,
}

impl<'a> Iterator for Entries<'a> {
    type Item = Entry<'a>;
    fn next(&mut self) -> Option<Entry<'a>> {
        loop {
            match self.current {
                Some(s) if self.local < s.len() => {
                    let e = s.entry(self.local, self.index)?;
                    self.local = self.local.checked_add(1)?;
                    self.index = self.index.checked_add(1)?;
                    return Some(e);
                }
                _ => {
                    self.current = Some(self.sections.next()?);
                    self.local = 0;
                }
            }
        }
    }
}

/// One pre-signed invoice of a pool.
#[derive(Clone, Copy)]
pub struct Entry<'a> {
    section: Section<'a>,
    index: usize,
    seq: u32,
    payment_hash: &'a [u8; 32],
    payment_secret: &'a [u8; 32],
    signature: &'a [u8; 64],
    recovery_id: u8,
    timestamp: u64,
}

impl fmt::Debug for Entry<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Entry")
            .field("index", &self.index)
            .field("product", &self.section.id)
            .field("seq", &self.seq)
            .field("payment_hash", &format_args!("{}", super::error::Hex(self.payment_hash)))
            .field("timestamp", &self.timestamp)
            .finish_non_exhaustive()
    }
}

impl<'a> Entry<'a> {
    /// Global index in the pool.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Product id.
    pub fn product(&self) -> u16 {
        self.section.id
    }

    /// Sequence number (input of the operator's preimage derivation).
    pub fn seq(&self) -> u32 {
        self.seq
    }

    /// Payment hash.
    pub fn payment_hash(&self) -> &'a [u8; 32] {
        self.payment_hash
    }

    /// Payment secret (public to anyone who sees the invoice).
    pub fn payment_secret(&self) -> &'a [u8; 32] {
        self.payment_secret
    }

    /// Invoice timestamp (seconds since the Unix epoch).
    pub fn timestamp(&self) -> u64 {
        self.timestamp
    }

    /// Compact signature `r ‖ s`.
    pub fn signature(&self) -> &'a [u8; 64] {
        self.signature
    }

    /// Recovery id (0..=3).
    pub fn recovery_id(&self) -> u8 {
        self.recovery_id
    }

    /// Amount of the invoice, if it carries one.
    pub fn amount_msat(&self) -> Option<u64> {
        self.section.amount_msat
    }

    /// BOLT 11 signing hash: SHA-256(hrp ‖ data part without signature, packed to bytes).
    pub fn signing_hash(&self) -> [u8; 32] {
        let mut h = SigningHasher::new(self.section.hrp);
        let res = bolt11::emit_fields(
            self.section.template,
            self.timestamp,
            self.payment_hash,
            self.payment_secret,
            &mut h,
        );
        match res {
            Ok(()) => h.finish(),
            Err(never) => match never {},
        }
    }

    /// Writes the exact BOLT 11 string (lower case, with checksum) without allocating.
    pub fn write_bolt11<W: fmt::Write>(&self, out: &mut W) -> fmt::Result {
        let mut w = Bech32Writer::new(out, self.section.hrp)?;
        bolt11::emit_fields(
            self.section.template,
            self.timestamp,
            self.payment_hash,
            self.payment_secret,
            &mut w,
        )?;
        let mut sig = [0u8; 65];
        for (d, s) in sig.iter_mut().zip(self.signature.iter()) {
            *d = *s;
        }
        sig[64] = self.recovery_id;
        bolt11::emit_bytes(&sig, 104, &mut w)?;
        w.finish()
    }

    /// The BOLT 11 string.
    #[cfg(feature = "alloc")]
    pub fn bolt11(&self) -> alloc::string::String {
        let mut s = alloc::string::String::new();
        // Writing to a String cannot fail.
        let _ = self.write_bolt11(&mut s);
        s
    }

    /// The entry's signature, refused if malformed or not low-S.
    fn low_s_signature(&self) -> Result<Signature, PoolError> {
        let index = self.index;
        let sig = Signature::from_slice(self.signature)
            .map_err(|_| PoolError::InvalidSignature { index })?;
        if sig.normalize_s().is_some() {
            return Err(PoolError::HighS { index });
        }
        Ok(sig)
    }

    fn verify_signature(&self, owner: &VerifyingKey) -> Result<(), PoolError> {
        use k256::ecdsa::signature::hazmat::PrehashVerifier;
        owner
            .verify_prehash(&self.signing_hash(), &self.low_s_signature()?)
            .map_err(|_| PoolError::SignerMismatch { index: self.index })
    }

    fn check_signer(&self, owner: &VerifyingKey) -> Result<(), PoolError> {
        let index = self.index;
        let sig = self.low_s_signature()?;
        let recid =
            RecoveryId::from_byte(self.recovery_id).ok_or(PoolError::InvalidSignature { index })?;
        let found = VerifyingKey::recover_from_prehash(&self.signing_hash(), &sig, recid)
            .map_err(|_| PoolError::SignerMismatch { index })?;
        if found == *owner {
            Ok(())
        } else {
            Err(PoolError::SignerMismatch { index })
        }
    }
}
