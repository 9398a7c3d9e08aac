//! A party's key share: what the device keeps in its storage, and the gateway in its store.

use std::fmt;

use bitcoin::secp256k1::PublicKey;
use dkls23::protocols::Party;
use k256::elliptic_curve::sec1::ToSec1Point;
use k256::Secp256k1;
use serde::{Deserialize, Serialize};

use crate::error::CosignError;
use crate::Role;

/// The first byte of an encoded share: the encoding's version.
const SHARE_VERSION: u8 = 1;

/// One party's share of a joint 2-of-2 key. It signs only together with the other party's
/// share. Its `Debug` shows the role and the joint key, never the secret.
pub struct KeyShare {
    role: Role,
    party: Party<Secp256k1>,
    public_key: PublicKey,
}

#[derive(Serialize, Deserialize)]
struct Stored {
    role: Role,
    party: Party<Secp256k1>,
}

impl KeyShare {
    pub(crate) fn new(role: Role, party: Party<Secp256k1>) -> Result<KeyShare, CosignError> {
        let public_key = to_public_key(&party.pk)?;
        Ok(KeyShare { role, party, public_key })
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
        let stored = StoredRef { role: self.role, party: &self.party };
        postcard::to_extend(&stored, vec![SHARE_VERSION]).expect("a key share always serializes")
    }

    /// Decodes a share written by [`KeyShare::to_bytes`].
    pub fn from_bytes(bytes: &[u8]) -> Result<KeyShare, CosignError> {
        match bytes.split_first() {
            Some((&SHARE_VERSION, body)) => {
                let stored: Stored =
                    postcard::from_bytes(body).map_err(|e| CosignError::malformed("key share", e))?;
                KeyShare::new(stored.role, stored.party)
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
}

impl fmt::Debug for KeyShare {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("KeyShare")
            .field("role", &self.role)
            .field("public_key", &self.public_key)
            .finish_non_exhaustive()
    }
}

/// A k256 point as libsecp256k1's public key (the type LDK and rust-bitcoin use).
pub(crate) fn to_public_key(point: &k256::AffinePoint) -> Result<PublicKey, CosignError> {
    let encoded = point.to_sec1_point(true);
    PublicKey::from_slice(encoded.as_bytes())
        .map_err(|e| CosignError::invalid("joint public key", e.to_string()))
}
