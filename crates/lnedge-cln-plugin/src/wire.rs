//! The JSON-RPC methods the plugin adds to Core Lightning, as lnedge's CLN backend calls them
//! (through `lightningd`'s `lightning-rpc` socket, which passes them to the plugin). One home for
//! both sides: the plugin answers these types, the backend sends and reads them.
//!
//! Hashes, preimages and description hashes are lower-case hex, as CLN writes them; amounts are
//! integers in millisatoshis, as CLN ≥ 23.02 writes them.

use serde::{Deserialize, Serialize};

/// Creates an invoice: `lnedge-invoice` ([`InvoiceRequest`] → [`InvoiceRecord`]).
pub const INVOICE: &str = "lnedge-invoice";
/// Settles a held invoice: `lnedge-settle` ([`SettleRequest`] → [`InvoiceRecord`]).
pub const SETTLE: &str = "lnedge-settle";
/// Cancels an invoice: `lnedge-cancel` ([`HashRequest`] → [`InvoiceRecord`]).
pub const CANCEL: &str = "lnedge-cancel";
/// Looks an invoice up: `lnedge-lookup` ([`HashRequest`] → [`InvoiceRecord`]).
pub const LOOKUP: &str = "lnedge-lookup";
/// Waits for invoice updates after an index: `lnedge-waitupdates` ([`WaitRequest`] →
/// [`WaitResponse`]).
pub const WAIT: &str = "lnedge-waitupdates";

/// Error code: no invoice of the plugin has this payment hash.
pub const ERR_UNKNOWN_HASH: i32 = 1901;
/// Error code: the invoice is not in a state that allows the operation; `data.state` names it.
pub const ERR_WRONG_STATE: i32 = 1902;
/// Error code: an invoice with this payment hash exists with other parameters.
pub const ERR_DUPLICATE: i32 = 1903;
/// Error code: a parameter is malformed; the message names it. (JSON-RPC's "invalid params".)
pub const ERR_INVALID_PARAMS: i32 = -32602;

/// `lnedge-invoice`: an invoice for `payment_hash`, settled by the plugin with `preimage` when
/// one is given, held until `lnedge-settle` when not.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRequest {
    /// SHA-256 of the preimage, hex.
    pub payment_hash: String,
    /// The preimage (hex) of an invoice the plugin settles by itself; absent: a hold invoice.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub preimage: Option<String>,
    /// The amount; absent: the payer chooses.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_msat: Option<u64>,
    /// BOLT 11 `d`: the description text. Exactly one of this and `description_hash`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// BOLT 11 `h`: SHA-256 of a description carried elsewhere (LNURL-pay metadata), hex.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description_hash: Option<String>,
    /// Seconds until the invoice expires.
    pub expiry_secs: u32,
    /// The invoice's `min_final_cltv_expiry_delta`; absent: the plugin's default (18, as CLN's
    /// `cltv-final`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cltv: Option<u16>,
}

/// `lnedge-settle`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SettleRequest {
    /// The preimage, hex.
    pub preimage: String,
}

/// `lnedge-cancel` and `lnedge-lookup`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HashRequest {
    /// The payment hash, hex.
    pub payment_hash: String,
}

/// `lnedge-waitupdates`: the invoices whose `updated_index` is above `after_index`, oldest
/// first; waits up to `timeout_secs` for one when there is none (then answers none).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitRequest {
    /// The highest index the caller has seen.
    pub after_index: u64,
    /// How long to wait when nothing is newer.
    pub timeout_secs: u32,
}

/// The answer of `lnedge-waitupdates`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WaitResponse {
    /// Newer invoices, by `updated_index` ascending (at most 100).
    pub updates: Vec<InvoiceRecord>,
}

/// Where an invoice stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RecordState {
    /// Not paid.
    Open,
    /// A hold invoice whose HTLCs are held.
    Held,
    /// Paid and settled.
    Settled,
    /// Cancelled (by the caller, at expiry, or near the held HTLCs' expiry).
    Cancelled,
}

impl RecordState {
    /// The lower-case name.
    pub fn name(self) -> &'static str {
        match self {
            RecordState::Open => "open",
            RecordState::Held => "held",
            RecordState::Settled => "settled",
            RecordState::Cancelled => "cancelled",
        }
    }
}

/// An invoice of the plugin, as the methods answer it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct InvoiceRecord {
    /// The payment hash, hex.
    pub payment_hash: String,
    /// Whether it waits for `lnedge-settle`.
    pub hold: bool,
    /// Where it stands.
    pub state: RecordState,
    /// The amount asked (absent: any).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub amount_msat: Option<u64>,
    /// What the HTLCs held or settled carry, in msat.
    pub received_msat: u64,
    /// While held: the last block at which `lnedge-settle` is still taken (the plugin cancels
    /// at the next one, before the HTLCs expire).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub claim_deadline_height: Option<u32>,
    /// The BOLT 11 string, signed by the node.
    pub bolt11: String,
    /// Raised on every change, across all invoices of the plugin.
    pub updated_index: u64,
}

/// A 32-byte value from hex, or a message naming `what`.
pub fn hex32(what: &str, text: &str) -> Result<[u8; 32], String> {
    let bytes = hex::decode(text).map_err(|_| format!("{what}: not hex"))?;
    bytes.try_into().map_err(|_| format!("{what}: must be 32 bytes"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn records_read_as_written_and_states_by_name() {
        let record = InvoiceRecord {
            payment_hash: "ab".repeat(32),
            hold: true,
            state: RecordState::Held,
            amount_msat: Some(5_000),
            received_msat: 5_000,
            claim_deadline_height: Some(120),
            bolt11: "lnbcrt1".into(),
            updated_index: 7,
        };
        let json = serde_json::to_value(&record).expect("json");
        assert_eq!(json["state"], "held");
        assert_eq!(serde_json::from_value::<InvoiceRecord>(json).expect("back"), record);
        assert_eq!(hex32("payment_hash", "zz").unwrap_err(), "payment_hash: not hex");
        assert_eq!(hex32("preimage", "abcd").unwrap_err(), "preimage: must be 32 bytes");
        assert_eq!(hex32("x", &"01".repeat(32)).expect("ok"), [1; 32]);
    }
}
