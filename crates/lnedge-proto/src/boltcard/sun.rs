//! SUN readings: `p` (encrypted PICCData) and `c` (truncated CMAC).

use aes::cipher::{BlockDecrypt, BlockEncrypt, KeyInit};
use aes::Aes128;
use cmac::{Cmac, Mac};
use subtle::ConstantTimeEq;

/// The PICCData tag of a reading with UID and counter mirrored (NTAG 424 DNA).
const PICC_TAG: u8 = 0xC7;
/// The first bytes of SV2, the session MAC key's derivation input.
const SV2_PREFIX: [u8; 6] = [0x3C, 0xC3, 0x00, 0x01, 0x00, 0x80];

/// What a valid reading says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SunReading {
    /// The card's 7-byte UID.
    pub uid: [u8; 7],
    /// The card's tap counter (24 bits).
    pub counter: u32,
}

/// Why a reading is refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum SunError {
    /// `p` does not decrypt to PICCData (the tag byte is not 0xC7): another card's key, or not
    /// a Bolt Card reading.
    NotPiccData,
    /// `c` does not match: tampered, replayed with another `p`, or the wrong file-read key.
    BadMac,
}

impl core::fmt::Display for SunError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str(match self {
            SunError::NotPiccData => "p does not decrypt to a card reading (wrong card key?)",
            SunError::BadMac => "c does not authenticate p (tampered or wrong key)",
        })
    }
}

impl core::error::Error for SunError {}

/// AES-CMAC (NIST SP 800-38B) of `message` under `key`.
pub(crate) fn cmac(key: &[u8; 16], parts: &[&[u8]]) -> [u8; 16] {
    let mut mac = <Cmac<Aes128> as KeyInit>::new(key.into());
    for part in parts {
        mac.update(part);
    }
    mac.finalize().into_bytes().into()
}

/// The 8-byte `c` of a reading: the odd-indexed bytes of `CMAC(Ks, "")`,
/// `Ks = CMAC(K2, SV2)`, `SV2 = 3CC300010080 ‖ UID ‖ counter (3 bytes, little-endian)`.
fn mac(k2: &[u8; 16], uid: &[u8; 7], counter_le: &[u8; 3]) -> [u8; 8] {
    let session = cmac(k2, &[&SV2_PREFIX, uid, counter_le]);
    let full = cmac(&session, &[]);
    let mut c = [0u8; 8];
    for (byte, odd) in c.iter_mut().zip(full.iter().skip(1).step_by(2)) {
        *byte = *odd;
    }
    c
}

/// Verifies a reading: decrypts `p` with `k1` (one AES block, IV 0), checks the PICCData tag,
/// recomputes `c` with `k2` and compares it in constant time. The counter is not judged here:
/// the caller must accept only a counter above the card's last accepted one, and store it.
pub fn verify(
    k1: &[u8; 16],
    k2: &[u8; 16],
    p: &[u8; 16],
    c: &[u8; 8],
) -> Result<SunReading, SunError> {
    let reading = decrypt(k1, p)?;
    check_mac(k2, &reading, c)?;
    Ok(reading)
}

/// Checks `c` for a reading already [`decrypt`]ed, with the card's `k2`, in constant time: the
/// second half of [`verify`], for a server that decrypted `p` first to find the card.
pub fn check_mac(k2: &[u8; 16], reading: &SunReading, c: &[u8; 8]) -> Result<(), SunError> {
    let [c0, c1, c2, _] = reading.counter.to_le_bytes();
    if bool::from(mac(k2, &reading.uid, &[c0, c1, c2]).ct_eq(c)) {
        Ok(())
    } else {
        Err(SunError::BadMac)
    }
}

/// Decrypts `p` with `k1` (shared by every card of an issuer) and answers the UID and counter
/// it claims, **not authenticated yet**: the server looks the card up by this UID, derives its
/// `k2` and then calls [`verify`]. Nothing may be decided on an unverified reading.
pub fn decrypt(k1: &[u8; 16], p: &[u8; 16]) -> Result<SunReading, SunError> {
    // CBC with a zero IV over a single block is the block cipher itself.
    let mut block = (*p).into();
    Aes128::new(k1.into()).decrypt_block(&mut block);
    let picc: [u8; 16] = block.into();
    let [tag, u0, u1, u2, u3, u4, u5, u6, c0, c1, c2, ..] = picc;
    if tag != PICC_TAG {
        return Err(SunError::NotPiccData);
    }
    Ok(SunReading {
        uid: [u0, u1, u2, u3, u4, u5, u6],
        counter: u32::from_le_bytes([c0, c1, c2, 0]),
    })
}

/// Makes the `(p, c)` a card with keys `k1`, `k2` and `uid` shows at tap `counter` (24 bits;
/// higher bits are dropped), with `random` as PICCData's padding: what a card simulator needs.
pub fn read(
    k1: &[u8; 16],
    k2: &[u8; 16],
    uid: &[u8; 7],
    counter: u32,
    random: &[u8; 5],
) -> ([u8; 16], [u8; 8]) {
    let [c0, c1, c2, _] = counter.to_le_bytes();
    let [u0, u1, u2, u3, u4, u5, u6] = *uid;
    let [r0, r1, r2, r3, r4] = *random;
    let picc = [PICC_TAG, u0, u1, u2, u3, u4, u5, u6, c0, c1, c2, r0, r1, r2, r3, r4];
    let counter_le = [c0, c1, c2];
    let mut block = picc.into();
    Aes128::new(k1.into()).encrypt_block(&mut block);
    (block.into(), mac(k2, uid, &counter_le))
}
