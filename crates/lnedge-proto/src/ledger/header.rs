//! The ledger image header: which pool the entry bytes belong to.

use sha2::{Digest, Sha256};

use super::LedgerError;
use crate::PoolId;

/// First four bytes of every ledger image.
pub const MAGIC: [u8; 4] = *b"LNLG";
/// The header version this code writes and reads.
pub const VERSION: u8 = 1;
/// Length of the header; entry `i` is the byte at `HEADER_LEN + i`.
pub const HEADER_LEN: usize = 32;

/// The decoded header of a ledger image.
///
/// Layout (32 bytes): `magic "LNLG" (4) ‖ version (1) ‖ reserved 0 (3) ‖ pool id (8) ‖
/// entry count (u32 LE) ‖ reserved 0 (8) ‖ check (4) = SHA-256(bytes 0..28)[0..4]`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub struct Header {
    /// The pool whose entries this ledger tracks.
    pub pool_id: PoolId,
    /// Number of entries (equal to the pool's).
    pub entries: u32,
}

fn check(body: &[u8; 28]) -> [u8; 4] {
    let digest = Sha256::digest(body);
    let mut out = [0u8; 4];
    for (o, d) in out.iter_mut().zip(digest.iter()) {
        *o = *d;
    }
    out
}

impl Header {
    /// Encodes the header.
    pub fn encode(&self) -> [u8; HEADER_LEN] {
        let mut body = [0u8; 28];
        let [m0, m1, m2, m3] = MAGIC;
        let [p0, p1, p2, p3, p4, p5, p6, p7] = self.pool_id.0;
        let [e0, e1, e2, e3] = self.entries.to_le_bytes();
        let fields =
            [m0, m1, m2, m3, VERSION, 0, 0, 0, p0, p1, p2, p3, p4, p5, p6, p7, e0, e1, e2, e3];
        for (b, v) in body.iter_mut().zip(fields) {
            *b = v;
        }
        let mut out = [0u8; HEADER_LEN];
        for (o, v) in out.iter_mut().zip(body.iter().chain(check(&body).iter())) {
            *o = *v;
        }
        out
    }

    /// Decodes the header at the start of `image` (which may be longer).
    pub fn decode(image: &[u8]) -> Result<Header, LedgerError> {
        let Some((head, _)) = image.split_first_chunk::<HEADER_LEN>() else {
            return Err(LedgerError::TooShort { len: image.len() });
        };
        let [m0, m1, m2, m3, version, r0, r1, r2, p0, p1, p2, p3, p4, p5, p6, p7, e0, e1, e2, e3, rest @ ..] =
            *head;
        if [m0, m1, m2, m3] != MAGIC {
            return Err(LedgerError::BadMagic { found: [m0, m1, m2, m3] });
        }
        if version != VERSION {
            return Err(LedgerError::UnsupportedVersion { version });
        }
        let Some((body, check_bytes)) = head.split_first_chunk::<28>() else {
            return Err(LedgerError::TooShort { len: image.len() });
        };
        if check(body) != *check_bytes {
            return Err(LedgerError::HeaderChecksum);
        }
        for (offset, b) in (5..).zip([r0, r1, r2]) {
            if b != 0 {
                return Err(LedgerError::ReservedNotZero { offset });
            }
        }
        for (offset, b) in (20..28).zip(rest) {
            if b != 0 {
                return Err(LedgerError::ReservedNotZero { offset });
            }
        }
        Ok(Header {
            pool_id: PoolId([p0, p1, p2, p3, p4, p5, p6, p7]),
            entries: u32::from_le_bytes([e0, e1, e2, e3]),
        })
    }

    /// Length of the whole image (header and one byte per entry), `None` if it overflows `usize`.
    pub fn image_len(&self) -> Option<usize> {
        usize::try_from(self.entries).ok()?.checked_add(HEADER_LEN)
    }
}

/// Offset in the image of entry `index`'s byte, `None` on overflow.
pub fn entry_offset(index: u32) -> Option<usize> {
    usize::try_from(index).ok()?.checked_add(HEADER_LEN)
}
