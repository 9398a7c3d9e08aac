//! The refund voucher a machine shows when it took a payment but could not deliver: an offline
//! envelope (`lnedge_proto::envelope::RefundVoucher`), shown as a QR code.
//!
//! When the pool names the gateway's refund endpoint the QR holds its `https://` URL
//! (`<base>?v=<voucher>`): a phone camera opens it in the browser, where the customer proves the
//! payment and receives an LNURL-withdraw (docs/refunds.md). A device enrolled with an
//! attestation key adds `&a=<tag>` ([`lnedge_proto::proof::attestation_tag`]): a failure receipt
//! the gateway trusts at once, without waiting for the device's next sync.

pub use lnedge_proto::envelope::RefundVoucher;
use lnedge_proto::envelope::{refund_url, Envelope, TextCase};
use lnedge_proto::proof::attestation_tag;

/// The name of the query parameter carrying the attestation tag (32 hex digits).
pub const ATTESTATION_PARAM: &str = "a";

/// The voucher as QR text: the `https://` refund URL when the pool names the gateway
/// (`refund_url_base`), else the bare envelope in upper case (QR alphanumeric mode).
pub fn voucher_text(voucher: &RefundVoucher, refund_url_base: &str) -> String {
    attested_voucher_text(voucher, refund_url_base, None)
}

/// [`voucher_text`], with the attestation tag of a device enrolled with attestation key `key`
/// (`&a=<hex>` on the URL; after the envelope, separated by `:`, for the bare form).
pub fn attested_voucher_text(
    voucher: &RefundVoucher,
    refund_url_base: &str,
    key: Option<&[u8; 32]>,
) -> String {
    let tag = key.map(|k| hex(&attestation_tag(k, voucher)));
    if refund_url_base.is_empty() {
        // A refund voucher always fits the text limit; fall back to a readable form otherwise.
        let text = Envelope::RefundVoucher(*voucher)
            .to_text_case(TextCase::Upper)
            .unwrap_or_else(|e| format!("refund voucher for entry {} ({e})", voucher.entry_index));
        match tag {
            Some(tag) => format!("{text}:{}", tag.to_uppercase()),
            None => text,
        }
    } else {
        let url = refund_url(refund_url_base, voucher);
        match tag {
            Some(tag) => format!("{url}&{ATTESTATION_PARAM}={tag}"),
            None => url,
        }
    }
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
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
    fn vouchers_become_refund_urls_or_envelopes() {
        let link = voucher_text(&voucher(), "https://gw.example/refund");
        assert!(link.starts_with("https://gw.example/refund?v=lnedge1"), "{link}");
        let bare = voucher_text(&voucher(), "");
        assert!(bare.starts_with("LNEDGE1"), "{bare}");
        let decoded = lnedge_proto::envelope::decode_text(&bare).expect("decodes");
        assert_eq!(decoded, Envelope::RefundVoucher(voucher()));
    }

    #[test]
    fn attested_vouchers_carry_a_tag_that_verifies() {
        let key = [9u8; 32];
        let link = attested_voucher_text(&voucher(), "https://gw.example/refund", Some(&key));
        let (url, tag) = link.split_once("&a=").expect("tag parameter");
        assert_eq!(url, voucher_text(&voucher(), "https://gw.example/refund"), "same voucher");
        let tag: Vec<u8> = (0..tag.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(&tag[i..i + 2], 16).expect("hex"))
            .collect();
        assert!(lnedge_proto::proof::verify_attestation(&key, &voucher(), &tag));
    }
}
