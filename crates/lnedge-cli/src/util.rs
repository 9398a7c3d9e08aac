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

/// An amount in msat as sat for reading: `12 000`, or `12 000.500` when it is not whole sats.
pub(crate) fn sat(msat: u64) -> String {
    match msat % 1000 {
        0 => group(msat / 1000),
        rest => format!("{}.{rest:03}", group(msat / 1000)),
    }
}

/// An amount given in sat or in msat (at most one of them: clap refuses both), in msat.
pub(crate) fn msat_from(
    sat: Option<u64>,
    msat: Option<u64>,
    what: &str,
) -> anyhow::Result<Option<u64>> {
    match (sat, msat) {
        (Some(sat), _) => sat
            .checked_mul(1000)
            .map(Some)
            .ok_or_else(|| anyhow::anyhow!("the {what} amount of {sat} sat is too large")),
        (None, msat) => Ok(msat),
    }
}

/// Seconds since the Unix epoch (0 if the clock is before it).
pub(crate) fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// The first and last 6 hex characters of 32 bytes.
pub(crate) fn short_hex(bytes: &[u8; 32]) -> String {
    let h = hex::encode(bytes);
    format!("{}…{}", &h[..6], &h[h.len() - 6..])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn amounts_read_as_sat_and_convert_once() {
        assert_eq!(sat(12_000_000), "12 000");
        assert_eq!(sat(1_500), "1.500");
        assert_eq!(sat(7), "0.007");
        assert_eq!(msat_from(Some(2), None, "x").ok(), Some(Some(2_000)));
        assert_eq!(msat_from(None, Some(2), "x").ok(), Some(Some(2)));
        assert_eq!(msat_from(None, None, "x").ok(), Some(None));
        let err = msat_from(Some(u64::MAX), None, "per-day").expect_err("overflow");
        assert!(err.to_string().contains("per-day amount"), "{err}");
    }

    #[test]
    fn short_hex_keeps_both_ends() {
        let mut b = [0u8; 32];
        b[0] = 0xab;
        b[31] = 0xcd;
        assert_eq!(short_hex(&b), "ab0000…0000cd");
    }
}
