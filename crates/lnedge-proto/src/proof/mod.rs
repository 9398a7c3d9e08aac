//! Proofs of payment (PROTOCOLS.md §6) and attested failure receipts.
//!
//! # Proof of payment
//!
//! The preimage alone proves nothing about *who* paid: every routing node on the path learns it.
//! A proof is `(invoice, preimage)`: the BOLT 11 invoice carries a 32-byte *payment secret* that
//! only the payer and the payee ever see (routing nodes get the payment hash and, on the way
//! back, the preimage; never the secret). So a proof is valid iff
//!
//! 1. the invoice's signature recovers the expected payee (the owner's node) — checked where the
//!    invoice is parsed (`lightning-invoice`, in the gateway);
//! 2. `SHA256(preimage)` equals the invoice's payment hash ([`preimage_matches`], constant time);
//! 3. the invoice's payment secret equals the one the payee recorded ([`secrets_match`],
//!    constant time).
//!
//! A routing node (hash + preimage, no secret) fails 3; a bystander who photographed the
//! invoice (hash + secret, no preimage) fails 2; an invoice altered in any field fails 1.
//!
//! [`CompactProof`] is the same proof without the invoice, for QR codes and keypads where the
//! verifier already knows the invoice by its hash (the gateway knows every pool invoice):
//! `0x01 ‖ preimage (32) ‖ payment secret (32)`, as bytes or bech32m text with HRP `lnproof`.
//!
//! # Attested failure receipts
//!
//! A device enrolled with an attestation key ([`attestation_key`], derived per device from a
//! gateway secret) appends to its refund voucher the tag [`attestation_tag`]: the gateway
//! verifies it ([`verify_attestation`]) and makes the refund due at once instead of waiting for
//! the device's next sync. Everything here is `no_std` and allocation-free.

use core::fmt;

use bech32::primitives::decode::CheckedHrpstring;
use bech32::{Bech32m, Hrp};
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use crate::envelope::{Envelope, RefundVoucher, REFUND_VOUCHER_LEN};
use crate::DeviceId;

#[cfg(all(test, feature = "alloc"))]
mod tests;

type HmacSha256 = Hmac<Sha256>;

/// Version byte of [`CompactProof`].
pub const PROOF_V1: u8 = 0x01;
/// Length of an encoded [`CompactProof`]: version ‖ preimage ‖ payment secret.
pub const PROOF_LEN: usize = 1 + 32 + 32;
/// Human-readable part of a [`CompactProof`] as text.
pub const PROOF_HRP: &str = "lnproof";
/// Length of an attestation tag (HMAC-SHA256 truncated to 128 bits).
pub const ATTESTATION_TAG_LEN: usize = 16;
/// Domain separator of the per-device attestation key derivation.
pub const ATTESTATION_KEY_LABEL: &[u8] = b"lnedge/device-attest";
/// Domain separator of the attestation tag.
pub const ATTESTATION_TAG_LABEL: &[u8] = b"lnedge/refund-attestation/v1";

const PROOF_HRP_VALUE: Hrp = Hrp::parse_unchecked(PROOF_HRP);

/// Why a proof (or an attestation) was refused.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum ProofError {
    /// The encoded proof is not [`PROOF_LEN`] bytes long.
    WrongLength {
        /// The length found.
        actual: usize,
    },
    /// The version byte is not one this build knows.
    UnknownVersion(u8),
    /// The text is not bech32m with the `lnproof` prefix.
    NotProofText,
    /// `SHA256(preimage)` is not the invoice's payment hash (e.g. a bystander's guess).
    PreimageMismatch,
    /// The payment secret is not the invoice's (e.g. a routing node's forgery).
    SecretMismatch,
    /// The `fmt::Write` sink refused the text.
    Write,
}

impl fmt::Display for ProofError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            ProofError::WrongLength { actual } => {
                write!(f, "a proof of payment is {PROOF_LEN} bytes long, got {actual}")
            }
            ProofError::UnknownVersion(v) => write!(f, "unknown proof version 0x{v:02x}"),
            ProofError::NotProofText => {
                write!(f, "not a proof of payment text (bech32m with prefix \"{PROOF_HRP}\")")
            }
            ProofError::PreimageMismatch => {
                write!(f, "the preimage does not hash to the invoice's payment hash")
            }
            ProofError::SecretMismatch => {
                write!(f, "the payment secret does not match the invoice's")
            }
            ProofError::Write => write!(f, "the text sink refused the proof"),
        }
    }
}

impl core::error::Error for ProofError {}

/// `SHA256(preimage) == payment_hash`, compared in constant time.
pub fn preimage_matches(preimage: &[u8; 32], payment_hash: &[u8; 32]) -> bool {
    let digest: [u8; 32] = Sha256::digest(preimage).into();
    digest.ct_eq(payment_hash).into()
}

/// Two payment secrets are equal, compared in constant time.
pub fn secrets_match(presented: &[u8; 32], recorded: &[u8; 32]) -> bool {
    presented.ct_eq(recorded).into()
}

/// Checks a proof against what the payee recorded for the invoice: the preimage must hash to
/// `payment_hash` and the presented secret must equal `recorded_secret`. Both comparisons run
/// (constant time) before the answer is given; the preimage is reported first.
pub fn check(
    preimage: &[u8; 32],
    presented_secret: &[u8; 32],
    payment_hash: &[u8; 32],
    recorded_secret: &[u8; 32],
) -> Result<(), ProofError> {
    let preimage_ok = preimage_matches(preimage, payment_hash);
    let secret_ok = secrets_match(presented_secret, recorded_secret);
    match (preimage_ok, secret_ok) {
        (true, true) => Ok(()),
        (false, _) => Err(ProofError::PreimageMismatch),
        (true, false) => Err(ProofError::SecretMismatch),
    }
}

/// A proof of payment without its invoice: the verifier looks the invoice up by
/// `SHA256(preimage)`. Its `Debug` output hides both secrets.
#[derive(Clone, Copy, PartialEq, Eq)]
pub struct CompactProof {
    /// The payment preimage.
    pub preimage: [u8; 32],
    /// The invoice's payment secret.
    pub payment_secret: [u8; 32],
}

impl fmt::Debug for CompactProof {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("CompactProof")
            .field("preimage", &"<secret>")
            .field("payment_secret", &"<secret>")
            .finish()
    }
}

impl CompactProof {
    /// The payment hash the proof answers: `SHA256(preimage)`.
    pub fn payment_hash(&self) -> [u8; 32] {
        Sha256::digest(self.preimage).into()
    }

    /// Checks the proof against the secret the payee recorded for its payment hash.
    pub fn check(&self, recorded_secret: &[u8; 32]) -> Result<(), ProofError> {
        check(&self.preimage, &self.payment_secret, &self.payment_hash(), recorded_secret)
    }

    /// `0x01 ‖ preimage ‖ payment secret`.
    pub fn encode(&self) -> [u8; PROOF_LEN] {
        let mut out = [0u8; PROOF_LEN];
        let (version, rest) = out.split_at_mut(1);
        let (preimage, secret) = rest.split_at_mut(32);
        version.copy_from_slice(&[PROOF_V1]);
        preimage.copy_from_slice(&self.preimage);
        secret.copy_from_slice(&self.payment_secret);
        out
    }

    /// Decodes exactly [`PROOF_LEN`] bytes. Never panics.
    pub fn decode(bytes: &[u8]) -> Result<Self, ProofError> {
        let bytes: &[u8; PROOF_LEN] =
            bytes.try_into().map_err(|_| ProofError::WrongLength { actual: bytes.len() })?;
        let (&version, rest) = bytes.split_first().ok_or(ProofError::WrongLength { actual: 0 })?;
        if version != PROOF_V1 {
            return Err(ProofError::UnknownVersion(version));
        }
        let (preimage, secret) = rest.split_at(32);
        let preimage: [u8; 32] =
            preimage.try_into().map_err(|_| ProofError::WrongLength { actual: bytes.len() })?;
        let payment_secret: [u8; 32] =
            secret.try_into().map_err(|_| ProofError::WrongLength { actual: bytes.len() })?;
        Ok(CompactProof { preimage, payment_secret })
    }

    /// Writes the proof as bech32m text (`lnproof1…`, lower case).
    pub fn write_text(&self, out: &mut impl fmt::Write) -> Result<(), ProofError> {
        bech32::encode_lower_to_fmt::<Bech32m, _>(out, PROOF_HRP_VALUE, &self.encode())
            .map_err(|_| ProofError::Write)
    }

    /// The proof as bech32m text (`lnproof1…`).
    #[cfg(feature = "alloc")]
    pub fn to_text(&self) -> alloc::string::String {
        let mut s = alloc::string::String::new();
        // Writing into a String never fails and 65 bytes are within bech32m's limits.
        let _ = self.write_text(&mut s);
        s
    }

    /// Decodes bech32m text (either case, surrounding whitespace ignored). Never panics.
    pub fn decode_text(text: &str) -> Result<Self, ProofError> {
        let checked =
            CheckedHrpstring::new::<Bech32m>(text.trim()).map_err(|_| ProofError::NotProofText)?;
        if checked.hrp() != PROOF_HRP_VALUE {
            return Err(ProofError::NotProofText);
        }
        let mut buf = [0u8; PROOF_LEN];
        let mut len = 0usize;
        for byte in checked.byte_iter() {
            let slot = buf.get_mut(len).ok_or(ProofError::WrongLength { actual: len })?;
            *slot = byte;
            len = len.saturating_add(1);
        }
        Self::decode(buf.get(..len).unwrap_or(&[]))
    }
}

/// A device's attestation key: `HMAC-SHA256(master, "lnedge/device-attest" ‖ device_id)`.
/// Separate from every other key derived for the device (sync, deputy).
pub fn attestation_key(master: &[u8; 32], device: &DeviceId) -> [u8; 32] {
    let mut mac = new_mac(master);
    mac.update(ATTESTATION_KEY_LABEL);
    mac.update(&device.0);
    mac.finalize().into_bytes().into()
}

fn new_mac(key: &[u8]) -> HmacSha256 {
    // HMAC takes keys of any length: this constructor cannot fail.
    match HmacSha256::new_from_slice(key) {
        Ok(mac) => mac,
        Err(_) => unreachable_mac(),
    }
}

#[cold]
fn unreachable_mac() -> ! {
    // `Hmac::new_from_slice` only fails for fixed-size keys of another length; SHA-256 HMAC has
    // no such restriction.
    #[allow(clippy::panic)]
    {
        panic!("HMAC-SHA256 accepts keys of any length")
    }
}

/// The tag a device with attestation key `key` appends to `voucher`:
/// `HMAC-SHA256(key, "lnedge/refund-attestation/v1" ‖ voucher envelope bytes)` truncated to
/// [`ATTESTATION_TAG_LEN`] bytes.
pub fn attestation_tag(key: &[u8; 32], voucher: &RefundVoucher) -> [u8; ATTESTATION_TAG_LEN] {
    let mut bytes = [0u8; REFUND_VOUCHER_LEN];
    // The buffer has exactly the voucher's length: encoding cannot fail.
    let _ = Envelope::RefundVoucher(*voucher).encode_into(&mut bytes);
    let mut mac = new_mac(key);
    mac.update(ATTESTATION_TAG_LABEL);
    mac.update(&bytes);
    let full: [u8; 32] = mac.finalize().into_bytes().into();
    let mut tag = [0u8; ATTESTATION_TAG_LEN];
    for (t, f) in tag.iter_mut().zip(full.iter()) {
        *t = *f;
    }
    tag
}

/// Whether `tag` is the attestation of `voucher` under `key` (constant time; a tag of another
/// length never verifies).
pub fn verify_attestation(key: &[u8; 32], voucher: &RefundVoucher, tag: &[u8]) -> bool {
    let want = attestation_tag(key, voucher);
    tag.len() == ATTESTATION_TAG_LEN && bool::from(want.as_slice().ct_eq(tag))
}
