//! Signed pool fixtures shared by the simulator and the firmware suites.

use std::time::Duration;

use bitcoin::hashes::{sha256, Hash};
use bitcoin::secp256k1::{PublicKey, Secp256k1, SecretKey};
use lightning_invoice::{Currency as InvoiceCurrency, InvoiceBuilder, PaymentSecret};
use lnedge_proto::pool::payment_hash;

/// The owner node's key (every fixture invoice is signed with it).
pub(crate) fn owner() -> SecretKey {
    SecretKey::from_slice(&[0x42; 32]).expect("key")
}

/// The owner's node id.
pub(crate) fn owner_id() -> [u8; 33] {
    PublicKey::from_secret_key(&Secp256k1::new(), &owner()).serialize()
}

/// A regtest invoice for `amount_msat` paying to `preimage`'s hash, signed by the owner.
pub(crate) fn invoice(
    description: &str,
    amount_msat: u64,
    preimage: &[u8; 32],
    seq: u32,
) -> String {
    let secp = Secp256k1::new();
    let secret = sha256::Hash::hash(&seq.to_be_bytes()).to_byte_array();
    InvoiceBuilder::new(InvoiceCurrency::Regtest)
        .description(description.to_owned())
        .payment_hash(sha256::Hash::from_byte_array(payment_hash(preimage)))
        .payment_secret(PaymentSecret(secret))
        .duration_since_epoch(Duration::from_secs(1_700_000_000))
        .min_final_cltv_expiry_delta(144)
        .expiry_time(Duration::from_secs(30 * 24 * 3600))
        .payee_pub_key(PublicKey::from_secret_key(&secp, &owner()))
        .basic_mpp()
        .amount_milli_satoshis(amount_msat)
        .build_signed(|h| secp.sign_ecdsa_recoverable(h, &owner()))
        .expect("signed")
        .to_string()
}
