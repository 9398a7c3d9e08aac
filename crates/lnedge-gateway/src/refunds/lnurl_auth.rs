//! LNURL-auth (LUD-04): the wallet signs the 32 raw bytes of the challenge `k1` with its
//! linking key (LUD-05 derives one per service domain); the signature is DER ECDSA over
//! secp256k1, the key a 33-byte compressed public key, both hex. Checked strictly, as the
//! reference verifiers do: an uncompressed (65-byte) key is refused, and so is a high-S
//! signature (malleable: the reference verifiers reject it, so a wallet that makes them would
//! fail elsewhere too; accepting it here would only hide the bug).

use lnedge_node::bitcoin::secp256k1::{ecdsa::Signature, Message, PublicKey, Secp256k1};

/// Why a LUD-04 answer was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum AuthError {
    /// `key` is not a hex compressed public key.
    #[error("key is not a hex-encoded secp256k1 public key")]
    BadKey,
    /// `key` is an uncompressed (65-byte) public key; LUD-04 asks for the 33-byte form.
    #[error("key must be a compressed (33-byte) public key, as LUD-04 asks")]
    UncompressedKey,
    /// `sig` has a high S value (LUD-04 reference verifiers require low S).
    #[error("sig has a high S value; sign with low S (BIP 62 / libsecp256k1's default)")]
    HighS,
    /// `sig` is not hex DER.
    #[error("sig is not a hex DER signature")]
    BadSignatureEncoding,
    /// The signature does not verify for `k1` and `key`.
    #[error("the signature does not verify for this k1 and key")]
    BadSignature,
}

/// Verifies `sig` (hex DER, low S) over the raw 32-byte `k1` with `key` (hex, 33-byte
/// compressed).
pub fn verify(k1: &[u8; 32], sig_hex: &str, key_hex: &str) -> Result<PublicKey, AuthError> {
    let key_bytes = hex::decode(key_hex.trim()).map_err(|_| AuthError::BadKey)?;
    let key = PublicKey::from_slice(&key_bytes).map_err(|_| AuthError::BadKey)?;
    if key_bytes.len() != 33 {
        return Err(AuthError::UncompressedKey);
    }
    let sig_bytes = hex::decode(sig_hex.trim()).map_err(|_| AuthError::BadSignatureEncoding)?;
    let sig = Signature::from_der(&sig_bytes).map_err(|_| AuthError::BadSignatureEncoding)?;
    let mut low = sig;
    low.normalize_s();
    if low != sig {
        return Err(AuthError::HighS);
    }
    let message = Message::from_digest(*k1);
    Secp256k1::verification_only()
        .verify_ecdsa(&message, &sig, &key)
        .map_err(|_| AuthError::BadSignature)?;
    Ok(key)
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The official example of LUD-04 (/work/shared/testdata/lnurl-vectors.json).
    const K1: &str = "e2af6254a8df433264fa23f67eb8188635d15ce883e8fc020989d5f82ae6f11e";
    const KEY: &str = "02c3b844b8104f0c1b15c507774c9ba7fc609f58f343b9b149122e944dd20c9362";
    const SIG: &str = "304402203767faf494f110b139293d9bab3c50e07b3bf33c463d4aa767256cd09132dc5102205821f8efacdb5c595b92ada255876d9201e126e2f31a140d44561cc1f7e9e43d";

    #[test]
    fn lud04_vector_verifies_and_tampering_fails() {
        let k1 = crate::refunds::hex32(K1).expect("k1");
        assert_eq!(verify(&k1, SIG, KEY).map(|k| k.to_string()), Ok(KEY.to_owned()));
        let mut other = k1;
        other[0] ^= 1;
        assert_eq!(verify(&other, SIG, KEY), Err(AuthError::BadSignature));
        assert_eq!(verify(&k1, SIG, "02ab"), Err(AuthError::BadKey));
        assert_eq!(verify(&k1, "3044", KEY), Err(AuthError::BadSignatureEncoding));
    }

    #[test]
    fn uncompressed_keys_and_high_s_signatures_are_refused() {
        let k1 = crate::refunds::hex32(K1).expect("k1");
        let key: PublicKey = KEY.parse().expect("key");
        let uncompressed = hex::encode(key.serialize_uncompressed());
        assert_eq!(verify(&k1, SIG, &uncompressed), Err(AuthError::UncompressedKey));
        // The same signature with S replaced by n − S: valid math, high S.
        let sig = Signature::from_der(&hex::decode(SIG).expect("hex")).expect("der");
        let compact = sig.serialize_compact();
        let n = lnedge_node::bitcoin::secp256k1::constants::CURVE_ORDER;
        let mut s_high = [0u8; 32];
        let mut borrow = 0i16;
        for i in (0..32).rev() {
            let d = i16::from(n[i]) - i16::from(compact[32 + i]) - borrow;
            borrow = i16::from(d < 0);
            s_high[i] = (d + if d < 0 { 256 } else { 0 }) as u8;
        }
        let mut high = [0u8; 64];
        high[..32].copy_from_slice(&compact[..32]);
        high[32..].copy_from_slice(&s_high);
        let high = Signature::from_compact(&high).expect("high-S signature parses");
        assert_ne!(high, sig);
        let high_hex = hex::encode(high.serialize_der());
        assert_eq!(verify(&k1, &high_hex, KEY), Err(AuthError::HighS));
    }
}
