//! Small helpers shared by the subcommands.

use lnedge_node::bitcoin::hashes::{sha256, Hash};
use lnedge_node::lightning_invoice::Bolt11Invoice;
use lnedge_node::{InvoiceDescription, InvoiceParams, PayRequest, PaymentHash, PaymentPreimage};
use std::time::Duration;

/// A random preimage and its payment hash.
pub(crate) fn random_preimage() -> (PaymentPreimage, PaymentHash) {
    let preimage = PaymentPreimage(rand::random());
    (preimage, PaymentHash(sha256::Hash::hash(&preimage.0).to_byte_array()))
}

/// Invoice parameters for `amount_msat` with a direct description, valid for an hour.
pub(crate) fn params(amount_msat: u64, description: &str) -> InvoiceParams {
    InvoiceParams {
        amount_msat: Some(amount_msat),
        description: InvoiceDescription::Direct(description.to_owned()),
        expiry_secs: 3600,
        min_final_cltv_expiry_delta: None,
    }
}

/// Pays `invoice` with a fee limit of 1 % (at least 1 sat) and a 30 s timeout.
pub(crate) fn pay_request(invoice: &Bolt11Invoice) -> PayRequest {
    let amount = invoice.amount_milli_satoshis().unwrap_or(0);
    PayRequest {
        invoice: invoice.clone(),
        amount_msat: None,
        max_fee_msat: (amount / 100).max(1_000),
        timeout: Duration::from_secs(30),
        max_total_cltv_expiry_delta: None,
    }
}

/// `1234567` → `"1 234 567"` (one copy, the device simulator's).
pub(crate) use lnedge_device::simulator::group_thousands as group;

/// The first and last 6 hex characters of 32 bytes.
pub(crate) fn short_hex(bytes: &[u8; 32]) -> String {
    let h = hex::encode(bytes);
    format!("{}…{}", &h[..6], &h[h.len() - 6..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_hex_keeps_both_ends() {
        let mut b = [0u8; 32];
        b[0] = 0xab;
        b[31] = 0xcd;
        assert_eq!(short_hex(&b), "ab0000…0000cd");
    }
}
