//! The signature check at install with micro-ecc (vendored C, `vendor/micro-ecc`, compiled by
//! `build.rs` for secp256k1 only): its ECDSA verification is about 3 KB of code and needs no
//! context, table or heap (ADR 0021, decision 7).

use core::ffi::{c_int, c_uint, c_void};

use lnedge_proto::pool::{Pool, PoolError};

/// micro-ecc's `uECC_Curve` (a pointer to its curve description).
type Curve = *const c_void;

extern "C" {
    fn uECC_secp256k1() -> Curve;
    fn uECC_decompress(compressed: *const u8, public_key: *mut u8, curve: Curve);
    fn uECC_valid_public_key(public_key: *const u8, curve: Curve) -> c_int;
    fn uECC_verify(
        public_key: *const u8,
        message_hash: *const u8,
        hash_size: c_uint,
        signature: *const u8,
        curve: Curve,
    ) -> c_int;
}

/// The owner key as micro-ecc reads it (x ‖ y, big-endian), or `None` when the 33 bytes are not
/// a compressed point on secp256k1.
fn uncompressed(owner: &[u8; 33]) -> Option<[u8; 64]> {
    if owner[0] != 0x02 && owner[0] != 0x03 {
        return None;
    }
    let mut key = [0u8; 64];
    // SAFETY: micro-ecc reads 33 bytes of `owner` and writes 64 into `key` (its documented
    // sizes for a 256-bit curve); the curve pointer is its own static description.
    let valid = unsafe {
        let curve = uECC_secp256k1();
        uECC_decompress(owner.as_ptr(), key.as_mut_ptr(), curve);
        uECC_valid_public_key(key.as_ptr(), curve) == 1
    };
    // An x with no point on the curve decompresses to a y that fails the curve equation.
    valid.then_some(key)
}

/// Whether `owner` is a compressed secp256k1 public key (checked at enrolment).
pub fn is_public_key(owner: &[u8; 33]) -> bool {
    uncompressed(owner).is_some()
}

/// `Pool::parse_owner_verified` with micro-ecc's verification.
pub fn parse_owner_verified<'a>(bytes: &'a [u8], owner: &[u8; 33]) -> Result<Pool<'a>, PoolError> {
    let pool = Pool::parse_for_owner(bytes, owner)?;
    let key = uncompressed(owner).ok_or(PoolError::InvalidOwnerKey)?;
    pool.verify_owner_signatures_with(|hash, sig| {
        // SAFETY: micro-ecc reads the 64-byte key, the 32-byte hash (the size passed) and the
        // 64-byte r ‖ s signature; none is written; the curve is its static description.
        unsafe { uECC_verify(key.as_ptr(), hash.as_ptr(), 32, sig.as_ptr(), uECC_secp256k1()) == 1 }
    })?;
    Ok(pool)
}
