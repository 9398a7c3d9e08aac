//! The signature check at install with libsecp256k1 (the `secp256k1` crate, no heap), through
//! its static context: verification needs no context of its own, and creating one would link
//! the 32 KB signing table.

use lnedge_proto::pool::{Pool, PoolError};
use secp256k1::ffi::{self, CPtr};
use secp256k1::{ecdsa::Signature, Message, PublicKey};

/// `Pool::parse_owner_verified` with libsecp256k1's verification.
pub fn parse_owner_verified<'a>(bytes: &'a [u8], owner: &[u8; 33]) -> Result<Pool<'a>, PoolError> {
    let pool = Pool::parse_for_owner(bytes, owner)?;
    let key = PublicKey::from_slice(owner).map_err(|_| PoolError::InvalidOwnerKey)?;
    pool.verify_owner_signatures_with(|hash, sig| {
        let Ok(sig) = Signature::from_compact(sig) else { return false };
        let msg = Message::from_digest(*hash);
        // SAFETY: the static context supports verification (libsecp256k1's documentation of
        // `secp256k1_context_static`); every pointer is to a live, well-formed object.
        unsafe {
            ffi::secp256k1_ecdsa_verify(
                ffi::secp256k1_context_no_precomp,
                sig.as_c_ptr(),
                msg.as_c_ptr(),
                key.as_c_ptr(),
            ) == 1
        }
    })?;
    Ok(pool)
}
