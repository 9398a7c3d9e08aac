//! The embedded node's seed, and signing its hold invoices with a longer final CLTV delta.
//!
//! ldk-node 0.7.1 creates every invoice with LDK's default `min_final_cltv_expiry_delta` and has
//! no parameter to change it, so an HTLC paying a hold invoice can only be held for a few blocks
//! (ADR 0011). The relay needs to hold for a day or more (ADR 0012). LDK accepts an HTLC whose
//! final CLTV is *longer* than the invoice asked for: the payment secret that
//! `receive_for_hash` registered does not encode a delta, and LDK only checks its own minimum.
//! So the backend re-signs ldk-node's invoice with the larger delta, every other field kept
//! byte for byte, with the node's own key.
//!
//! The node key is derived the way ldk-node 0.7.1 derives it (BIP 32 master of the 64-byte seed
//! → its private key as LDK's `KeysManager` seed → `KeysManager`'s node secret). The backend
//! owns the seed file (`<ldk dir>/keys_seed`, ldk-node's default place and format, so existing
//! nodes keep their identity) and hands ldk-node the bytes. At start the derived public key is
//! compared with ldk-node's node id; if they ever differ (a future ldk-node derives otherwise),
//! the backend refuses to re-sign and the relay falls back to ldk-node's own invoices, which is
//! safe (short holds), never wrong.

use std::io::Write;
use std::path::Path;

use bitcoin::bip32::Xpriv;
use bitcoin::secp256k1::{Message, PublicKey, Secp256k1, SecretKey};
use bitcoin::Network;
use lightning::sign::KeysManager;
use lightning_invoice::{
    Bolt11Invoice, MinFinalCltvExpiryDelta, RawTaggedField, SignedRawBolt11Invoice, TaggedField,
};
use rand::RngCore;

use crate::error::BackendError;

/// Length of ldk-node's seed file.
pub(super) const SEED_LEN: usize = 64;

/// The node's signing key. Secret: its `Debug` shows nothing of it.
pub(super) struct InvoiceSigner {
    key: SecretKey,
}

impl std::fmt::Debug for InvoiceSigner {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("InvoiceSigner(<secret>)")
    }
}

/// Reads the seed file, or creates it (64 random bytes, mode 0600, written to a temporary file
/// and renamed into place so a crash never leaves a short seed).
pub(super) fn load_or_create_seed(path: &Path) -> Result<[u8; SEED_LEN], BackendError> {
    let unreadable = |e: std::io::Error| {
        BackendError::Storage(format!("the node seed {} is unreadable: {e}", path.display()))
    };
    match std::fs::read(path) {
        Ok(bytes) => {
            return bytes.try_into().map_err(|bytes: Vec<u8>| {
                BackendError::Storage(format!(
                    "the node seed {} has {} bytes, not {SEED_LEN}",
                    path.display(),
                    bytes.len()
                ))
            })
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(unreadable(e)),
    }
    let dir = path.parent().unwrap_or(Path::new("."));
    crate::private_fs::create_dir(dir).map_err(|e| BackendError::Storage(e.to_string()))?;
    let mut seed = [0u8; SEED_LEN];
    rand::rngs::OsRng.fill_bytes(&mut seed);
    let mut file = tempfile::NamedTempFile::new_in(dir).map_err(unreadable)?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        file.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o600))
            .map_err(unreadable)?;
    }
    file.write_all(&seed).map_err(unreadable)?;
    file.as_file().sync_all().map_err(unreadable)?;
    file.persist(path).map_err(|e| unreadable(e.error))?;
    Ok(seed)
}

impl InvoiceSigner {
    /// The node key ldk-node 0.7.1 derives from `seed`, if its public key is `node_id`.
    pub(super) fn derive(
        seed: &[u8; SEED_LEN],
        network: Network,
        node_id: &PublicKey,
    ) -> Option<Self> {
        let master = Xpriv::new_master(network, seed).ok()?;
        let ldk_seed = master.private_key.secret_bytes();
        let key = KeysManager::new(&ldk_seed, 0, 0, true).get_node_secret_key();
        let derived = PublicKey::from_secret_key(&Secp256k1::signing_only(), &key);
        (derived == *node_id).then_some(InvoiceSigner { key })
    }

    /// `invoice` with its `min_final_cltv_expiry_delta` set to `delta` (the field replaced or
    /// added), every other field unchanged, signed again with the node key.
    pub(super) fn with_final_cltv(
        &self,
        invoice: &Bolt11Invoice,
        delta: u16,
    ) -> Result<Bolt11Invoice, BackendError> {
        let (mut raw, _, _) = invoice.clone().into_signed_raw().into_parts();
        let field = RawTaggedField::KnownSemantics(TaggedField::MinFinalCltvExpiryDelta(
            MinFinalCltvExpiryDelta(u64::from(delta)),
        ));
        let fields = &mut raw.data.tagged_fields;
        fields.retain(|f| {
            !matches!(f, RawTaggedField::KnownSemantics(TaggedField::MinFinalCltvExpiryDelta(_)))
        });
        fields.push(field);
        let secp = Secp256k1::signing_only();
        let signed: SignedRawBolt11Invoice = raw
            .sign::<_, std::convert::Infallible>(|hash: &Message| {
                Ok(secp.sign_ecdsa_recoverable(hash, &self.key))
            })
            .unwrap_or_else(|never| match never {});
        Bolt11Invoice::from_signed(signed).map_err(|e| {
            BackendError::Storage(format!("the re-signed invoice does not check out: {e}"))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    use bitcoin::hashes::{sha256, Hash};
    use lightning_invoice::{Currency, InvoiceBuilder, PaymentSecret};

    fn invoice(key: &SecretKey) -> Bolt11Invoice {
        let secp = Secp256k1::new();
        InvoiceBuilder::new(Currency::Regtest)
            .description("coffee".into())
            .payment_hash(sha256::Hash::hash(b"preimage"))
            .payment_secret(PaymentSecret([7; 32]))
            .amount_milli_satoshis(21_000)
            .current_timestamp()
            .min_final_cltv_expiry_delta(42)
            .build_signed(|m| secp.sign_ecdsa_recoverable(m, key))
            .expect("builds")
    }

    #[test]
    fn the_seed_file_is_created_once_and_kept() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("ldk").join("keys_seed");
        let first = load_or_create_seed(&path).expect("created");
        assert_eq!(std::fs::read(&path).expect("written"), first.to_vec());
        assert_eq!(load_or_create_seed(&path).expect("read back"), first);
        std::fs::write(&path, [1u8; 10]).expect("truncate");
        let err = load_or_create_seed(&path).expect_err("a short seed is refused");
        assert!(err.to_string().contains("has 10 bytes, not 64"), "{err}");
    }

    #[test]
    fn a_key_that_does_not_match_the_node_id_is_not_used() {
        let other = PublicKey::from_secret_key(
            &Secp256k1::new(),
            &SecretKey::from_slice(&[3; 32]).expect("key"),
        );
        assert!(InvoiceSigner::derive(&[9; SEED_LEN], Network::Regtest, &other).is_none());
    }

    #[test]
    fn re_signing_changes_only_the_final_cltv_delta() {
        let key = SecretKey::from_slice(&[5; 32]).expect("key");
        let original = invoice(&key);
        let signer = InvoiceSigner { key };
        let longer = signer.with_final_cltv(&original, 288).expect("re-signed");
        assert_eq!(longer.min_final_cltv_expiry_delta(), 288);
        assert_eq!(longer.payment_hash(), original.payment_hash());
        assert_eq!(longer.payment_secret(), original.payment_secret());
        assert_eq!(longer.amount_milli_satoshis(), original.amount_milli_satoshis());
        assert_eq!(longer.timestamp(), original.timestamp());
        assert_eq!(longer.expiry_time(), original.expiry_time());
        assert_eq!(longer.description().to_string(), original.description().to_string());
        assert_eq!(longer.recover_payee_pub_key(), original.recover_payee_pub_key());
        // Round trip through text: a wallet parses and verifies it.
        let parsed: Bolt11Invoice = longer.to_string().parse().expect("parses");
        assert_eq!(parsed.min_final_cltv_expiry_delta(), 288);
        assert!(parsed.check_signature().is_ok());
    }

    #[test]
    fn a_signature_by_another_key_is_not_the_nodes() {
        let key = SecretKey::from_slice(&[5; 32]).expect("key");
        let original = invoice(&key);
        let impostor = InvoiceSigner { key: SecretKey::from_slice(&[6; 32]).expect("key") };
        let forged = impostor.with_final_cltv(&original, 288).expect("signs");
        assert_ne!(forged.recover_payee_pub_key(), original.recover_payee_pub_key());
    }
}
