//! The refund voucher a machine shows when it took a payment but could not deliver.

use lnedge_proto::{DeviceId, PoolId};

/// Proof-free facts about a failed vend; the gateway pays the refund once it knows (from the
/// device's ledger at sync) that the entry failed, to whoever proves they paid it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RefundVoucher {
    /// The device.
    pub device_id: DeviceId,
    /// The pool.
    pub pool_id: PoolId,
    /// The pool entry that failed.
    pub index: u32,
    /// The payment hash of the invoice paid.
    pub payment_hash: [u8; 32],
    /// What was paid, in millisatoshis.
    pub amount_msat: u64,
}

/// The voucher as text for a QR code.
pub fn voucher_text(voucher: &RefundVoucher) -> String {
    let hash: String = voucher.payment_hash.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "lnedge-refund:{}/{}/{}?hash={hash}&amount_msat={}",
        voucher.device_id, voucher.pool_id, voucher.index, voucher.amount_msat
    )
}
