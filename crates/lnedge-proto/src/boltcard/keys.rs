//! The Bolt Card DETERMINISTIC key scheme: every card's keys from one issuer key, its UID and
//! a version (raised when a card is wiped and re-issued). PRF = AES-CMAC.

use super::sun::cmac;

/// The five application keys of a card (K0 app master, K1 SDM meta read, K2 SDM file read,
/// K3 and K4 reserved), as the programming JSON hands them to the NFC programmer app.
#[derive(Clone, PartialEq, Eq)]
pub struct CardKeys {
    /// K0..K4.
    pub k: [[u8; 16]; 5],
}

impl core::fmt::Debug for CardKeys {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        f.write_str("CardKeys(<secret>)")
    }
}

/// K1 = PRF(IssuerKey, 2d003f77): shared by every card of the issuer (it decrypts `p`, which
/// must be read before the card is known).
pub fn issuer_k1(issuer_key: &[u8; 16]) -> [u8; 16] {
    cmac(issuer_key, &[&[0x2d, 0x00, 0x3f, 0x77]])
}

/// The keys of the card `uid` at `version`: CardKey = PRF(IssuerKey, 2d003f75 ‖ UID ‖
/// Version as 4 bytes little-endian); K0 = PRF(CardKey, 2d003f76), K1 = [`issuer_k1`],
/// K2 = PRF(CardKey, 2d003f78), K3 = PRF(CardKey, 2d003f79), K4 = PRF(CardKey, 2d003f7a).
pub fn card_keys(issuer_key: &[u8; 16], uid: &[u8; 7], version: u32) -> CardKeys {
    let card_key = cmac(issuer_key, &[&[0x2d, 0x00, 0x3f, 0x75], uid, &version.to_le_bytes()]);
    let derive = |tag: u8| cmac(&card_key, &[&[0x2d, 0x00, 0x3f, tag]]);
    CardKeys { k: [derive(0x76), issuer_k1(issuer_key), derive(0x78), derive(0x79), derive(0x7a)] }
}

/// The card's ID = PRF(IssuerKey, 2d003f7b ‖ UID): a stable handle that does not reveal the UID.
pub fn card_id(issuer_key: &[u8; 16], uid: &[u8; 7]) -> [u8; 16] {
    cmac(issuer_key, &[&[0x2d, 0x00, 0x3f, 0x7b], uid])
}

/// The card key itself (tests check it against the published vector).
#[cfg(test)]
pub(crate) fn card_key(issuer_key: &[u8; 16], uid: &[u8; 7], version: u32) -> [u8; 16] {
    cmac(issuer_key, &[&[0x2d, 0x00, 0x3f, 0x75], uid, &version.to_le_bytes()])
}
