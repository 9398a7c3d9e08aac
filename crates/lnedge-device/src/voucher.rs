//! The refund voucher a machine shows when it took a payment but could not deliver: an offline
//! envelope (`lnedge_proto::envelope::RefundVoucher`), shown as a QR code.

pub use lnedge_proto::envelope::RefundVoucher;
use lnedge_proto::envelope::{refund_lnurlw, refund_url, Envelope, TextCase};

/// The voucher as QR text: a link to the gateway's refund endpoint when the pool names one
/// (`refund_url_base`, LUD-17 `lnurlw://` for https bases), else the bare envelope in upper case
/// (QR alphanumeric mode).
pub fn voucher_text(voucher: &RefundVoucher, refund_url_base: &str) -> String {
    if refund_url_base.is_empty() {
        // A refund voucher always fits the text limit; fall back to a readable form otherwise.
        Envelope::RefundVoucher(*voucher)
            .to_text_case(TextCase::Upper)
            .unwrap_or_else(|e| format!("refund voucher for entry {} ({e})", voucher.entry_index))
    } else {
        refund_lnurlw(refund_url_base, voucher)
            .unwrap_or_else(|_| refund_url(refund_url_base, voucher))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use lnedge_proto::{DeviceId, PoolId};

    fn voucher() -> RefundVoucher {
        RefundVoucher {
            device_id: DeviceId([1; 16]),
            pool_id: PoolId([2; 8]),
            entry_index: 3,
            payment_hash: [4; 32],
            amount_msat: 1_800_000,
            counter: 1,
        }
    }

    #[test]
    fn vouchers_become_lud17_links_or_envelopes() {
        let link = voucher_text(&voucher(), "https://gw.example/refund");
        assert!(link.starts_with("lnurlw://gw.example/refund?v=lnedge1"), "{link}");
        let bare = voucher_text(&voucher(), "");
        assert!(bare.starts_with("LNEDGE1"), "{bare}");
        let decoded = lnedge_proto::envelope::decode_text(&bare).expect("decodes");
        assert_eq!(decoded, Envelope::RefundVoucher(voucher()));
    }
}
