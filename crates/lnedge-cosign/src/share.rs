//! A party's key share: what the device keeps in its storage, and the gateway in its store.

use std::fmt;

use bitcoin::secp256k1::PublicKey;
use dkls23::protocols::Party;
use k256::elliptic_curve::sec1::ToSec1Point;
use k256::Secp256k1;
use serde::{Deserialize, Serialize};

use crate::error::CosignError;
use crate::Role;

/// The first byte of an encoded share: the encoding's version (2 added the epoch).
const SHARE_VERSION: u8 = 2;

/// One party's share of a joint 2-of-2 key. It signs only together with the other party's
/// share. Its `Debug` shows the role and the joint key, never the secret.
pub struct KeyShare {
    role: Role,
    party: Party<Secp256k1>,
    public_key: PublicKey,
    epoch: u32,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    role: Role,
    party: Party<Secp256k1>,
    epoch: u32,
}

impl KeyShare {
    pub(crate) fn new(role: Role, party: Party<Secp256k1>) -> Result<KeyShare, CosignError> {
        KeyShare::at_epoch(role, party, 0)
    }

    pub(crate) fn at_epoch(
        role: Role,
        party: Party<Secp256k1>,
        epoch: u32,
    ) -> Result<KeyShare, CosignError> {
        let public_key = to_public_key(&party.pk)?;
        Ok(KeyShare { role, party, public_key, epoch })
    }

    /// How many refreshes made this share (0 for key generation's): both parties' shares of one
    /// epoch sign together, and no others.
    pub fn epoch(&self) -> u32 {
        self.epoch
    }

    /// Which party holds this share.
    pub fn role(&self) -> Role {
        self.role
    }

    /// The joint public key (the same on both sides).
    pub fn public_key(&self) -> PublicKey {
        self.public_key
    }

    pub(crate) fn party(&self) -> &Party<Secp256k1> {
        &self.party
    }

    /// Encodes the share for storage (secret: keep it where the device keeps keys).
    pub fn to_bytes(&self) -> Vec<u8> {
        let stored = StoredRef { role: self.role, party: &self.party, epoch: self.epoch };
        postcard::to_extend(&stored, vec![SHARE_VERSION]).expect("a key share always serializes")
    }

    /// Decodes a share written by [`KeyShare::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<KeyShare, CosignError> {
        match bytes.split_first() {
            Some((&SHARE_VERSION, body)) => {
                let stored: Stored = postcard::from_bytes(body)
                    .map_err(|e| CosignError::malformed("key share", e))?;
                KeyShare::at_epoch(stored.role, stored.party, stored.epoch)
            }
            Some((version, _)) => Err(CosignError::malformed(
                "key share",
                format!("unknown encoding version {version}"),
            )),
            None => Err(CosignError::malformed("key share", "empty")),
        }
    }
}

#[derive(Serialize)]
struct StoredRef<'a> {
    role: Role,
    party: &'a Party<Secp256k1>,
    epoch: u32,
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyShare")
            .field("role", &self.role)
            .field("public_key", &self.public_key)
            .field("epoch", &self.epoch)
            .finish_non_exhaustive()
    }
}

/// A k256 point as libsecp256k1's public key (the type LDK and rust-bitcoin use).
pub(crate) fn to_public_key(point: &k256::AffinePoint) -> Result<PublicKey, CosignError> {
    let encoded = point.to_sec1_point(true);
    PublicKey::from_slice(encoded.as_bytes())
        .map_err(|e| CosignError::invalid("joint public key", e.to_string()))
}

#[cfg(test)]
mod tests {
    use bitcoin::secp256k1::{Message, Secp256k1, SecretKey};
    use k256::elliptic_curve::PrimeField;

    use crate::sign::{DeviceSigning, GatewaySigning};

    /// The public keys a BOLT 3 funding script (2 <key> <key> 2 CHECKMULTISIG) accepts.
    fn script_keys(script: &bitcoin::Script) -> Vec<bitcoin::secp256k1::PublicKey> {
        script
            .instructions()
            .filter_map(|i| i.ok()?.push_bytes().map(|b| b.as_bytes().to_vec()))
            .filter_map(|bytes| bitcoin::secp256k1::PublicKey::from_slice(&bytes).ok())
            .collect()
    }

    #[test]
    fn the_gateway_alone_cannot_sign_for_the_funding_output() {
        let (device, gateway) = crate::keygen::in_process().unwrap();

        let bridge = SecretKey::from_slice(&[5; 32]).unwrap().public_key(&Secp256k1::new());
        let script =
            lightning::ln::chan_utils::make_funding_redeemscript(&gateway.public_key(), &bridge);
        let keys = script_keys(&script);
        assert_eq!(keys.len(), 2);
        let hash = [0x5a; 32];
        let message = Message::from_digest(hash);
        let ctx = Secp256k1::new();

        // The gateway's share used as a key: its own public key is not in the script, and what it
        // signs verifies under neither key of the script.
        let share = SecretKey::from_slice(gateway.party().poly_point.to_repr().as_slice()).unwrap();
        assert!(!keys.contains(&share.public_key(&ctx)));
        let alone = ctx.sign_ecdsa(&message, &share);
        assert!(keys.iter().all(|k| ctx.verify_ecdsa(&message, &alone, k).is_err()));

        // With the device's share, the joint signature verifies under the script's joint key.
        let (g, open) = GatewaySigning::open(&gateway, (), hash).unwrap();
        let (d, accept) = DeviceSigning::accept(&device, &open, hash).unwrap();
        let (g, finish) = g.finish(&gateway, accept).unwrap();
        let (done, _) = d.finish(&device, finish).unwrap();
        let joint = g.done(&gateway, done).unwrap();
        assert_eq!(
            keys.iter().filter(|k| ctx.verify_ecdsa(&message, &joint, k).is_ok()).count(),
            1
        );
    }
}
