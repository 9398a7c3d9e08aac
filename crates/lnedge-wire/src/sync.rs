//! Device uploads: the vending machine's ledger sync (`POST /v1/devices/{id}/sync`) with its
//! answer, and the deputy terminal's report (`POST /v1/deputy/{id}/sync`).
//!
//! A device builds a [`SyncRequest`] (or a [`DeputyReport`]), signs its exact body bytes with
//! its sync key ([`SyncRequest::signed`] → [`SignedUpload`]) and sends the bytes with the
//! [`SIGNATURE_HEADER`](crate::SIGNATURE_HEADER); the gateway verifies the signature over the
//! raw bytes before it parses them.

use lnedge_proto::ledger::EntryState;
use lnedge_proto::PoolId;
use serde::{Deserialize, Serialize};

use crate::sign::sign_body;

/// Most reports in one upload (and most counters in one deputy report).
pub const MAX_REPORTS: usize = 10_000;

/// One ledger entry's state, as a device reports it: `{"pool_id": hex, "index": n, "state":
/// "offered" | "claimed" | "dispensed" | "failed"}`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncReport {
    /// The pool (16 hex characters on the wire).
    #[serde(with = "pool_id_hex")]
    pub pool_id: PoolId,
    /// The entry's index in the pool.
    pub index: u32,
    /// The state the device's ledger holds (never `unused` on the wire).
    #[serde(with = "state_name")]
    pub state: EntryState,
}

/// The body of `POST /v1/devices/{id}/sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SyncRequest {
    /// Grows with every upload of the device (replay protection).
    pub counter: u64,
    /// Every entry that is no longer unused.
    pub reports: Vec<SyncReport>,
    /// Ask for the new pools' bytes (hex) in the answer, to top up in the same exchange.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub want_pool_files: bool,
}

/// A body and the signature that goes with it in [`SIGNATURE_HEADER`](crate::SIGNATURE_HEADER).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SignedUpload {
    /// The exact bytes to send.
    pub body: Vec<u8>,
    /// Lower-case hex of `HMAC-SHA256(sync key, body)`.
    pub signature: String,
}

impl SyncRequest {
    /// A request reporting `reports` (entries still `Unused` are left out).
    pub fn new(counter: u64, reports: impl IntoIterator<Item = SyncReport>) -> SyncRequest {
        SyncRequest {
            counter,
            reports: reports.into_iter().filter(|r| r.state != EntryState::Unused).collect(),
            want_pool_files: false,
        }
    }

    /// The same request, asking for the new pools' files in the answer.
    pub fn with_pool_files(mut self) -> SyncRequest {
        self.want_pool_files = true;
        self
    }

    /// The JSON body.
    pub fn to_body(&self) -> Vec<u8> {
        serde_json::to_vec(self).expect("a sync request always serializes")
    }

    /// The body, signed with the device's sync key.
    pub fn signed(&self, sync_key: &[u8; 32]) -> SignedUpload {
        signed(self.to_body(), sync_key)
    }
}

fn signed(body: Vec<u8>, sync_key: &[u8; 32]) -> SignedUpload {
    let signature = sign_body(sync_key, &body);
    SignedUpload { body, signature }
}

/// A pool the device has not installed yet, in a [`SyncResponse`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewPool {
    /// The pool (hex).
    pub pool_id: String,
    /// Where to download the pool file (a path on the gateway, admin).
    pub file: String,
    /// Entries in the pool.
    pub entries: u32,
    /// The pool file itself (hex), when the request asked for it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hex: Option<String>,
}

/// The answer to `POST /v1/devices/{id}/sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SyncResponse {
    /// The request's counter, now the last applied.
    pub counter: u64,
    /// Entries whose state moved forward.
    pub applied: u32,
    /// Entries already in the reported state.
    pub unchanged: u32,
    /// Reports that would have moved a state backward (ignored: states only move forward).
    pub ignored_regressions: u32,
    /// Pools provisioned for the device that it has never reported, oldest first.
    pub pools: Vec<NewPool>,
}

/// The body of `POST /v1/deputy/{id}/sync`: the sales whose claim the terminal accepted.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeputyReport {
    /// The sales' counters.
    pub claimed: Vec<u64>,
}

impl DeputyReport {
    /// The body, signed with the terminal's sync key.
    pub fn signed(&self, sync_key: &[u8; 32]) -> SignedUpload {
        signed(serde_json::to_vec(self).expect("a report always serializes"), sync_key)
    }
}

/// The answer to `POST /v1/deputy/{id}/sync`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeputyReportAnswer {
    /// Sales newly marked claimed.
    pub claimed: u32,
    /// Sales that were already marked.
    pub already_claimed: u32,
    /// Counters of sales the gateway has not seen paid (the terminal accepted an unpaid sale).
    pub not_paid: Vec<u64>,
    /// Counters the gateway does not know.
    pub unknown: Vec<u64>,
}

/// Parses a ledger state's wire name (`unused` is never sent).
pub fn parse_state(text: &str) -> Result<EntryState, String> {
    match text {
        "offered" => Ok(EntryState::Offered),
        "claimed" => Ok(EntryState::Claimed),
        "dispensed" => Ok(EntryState::Dispensed),
        "failed" => Ok(EntryState::Failed),
        other => Err(format!("`{other}` is not one of offered, claimed, dispensed, failed")),
    }
}

/// Parses a pool id (16 hex characters).
pub fn parse_pool_id(text: &str) -> Result<PoolId, String> {
    let bytes = hex::decode(text)
        .map_err(|_| format!("`{text}` is not hex (expected 16 hex characters)"))?;
    let bytes: [u8; 8] = bytes
        .try_into()
        .map_err(|b: Vec<u8>| format!("expected 8 bytes (16 hex characters), found {}", b.len()))?;
    Ok(PoolId(bytes))
}

mod pool_id_hex {
    use lnedge_proto::PoolId;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(id: &PoolId, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(id)
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<PoolId, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_pool_id(&text).map_err(serde::de::Error::custom)
    }
}

mod state_name {
    use lnedge_proto::ledger::EntryState;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(state: &EntryState, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(state.name())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<EntryState, D::Error> {
        let text = String::deserialize(d)?;
        super::parse_state(&text).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sign::verify_body;

    fn report(index: u32, state: EntryState) -> SyncReport {
        SyncReport { pool_id: PoolId([0xab; 8]), index, state }
    }

    #[test]
    fn the_body_is_the_documented_json_and_round_trips() {
        let req =
            SyncRequest::new(7, [report(0, EntryState::Dispensed), report(1, EntryState::Unused)]);
        let body = req.to_body();
        assert_eq!(
            String::from_utf8(body.clone()).expect("utf-8"),
            r#"{"counter":7,"reports":[{"pool_id":"abababababababab","index":0,"state":"dispensed"}]}"#,
            "unused entries are left out; want_pool_files only when asked"
        );
        assert_eq!(serde_json::from_slice::<SyncRequest>(&body).expect("parses"), req);
        let with_files = req.with_pool_files();
        assert!(String::from_utf8(with_files.to_body())
            .expect("utf-8")
            .ends_with(r#","want_pool_files":true}"#));
    }

    #[test]
    fn bad_fields_are_named_in_the_error() {
        let bad_state = r#"{"counter":1,"reports":[{"pool_id":"abababababababab","index":0,"state":"stolen"}]}"#;
        let e = serde_json::from_str::<SyncRequest>(bad_state).expect_err("bad state");
        assert!(e.to_string().contains("`stolen` is not one of"), "{e}");
        let bad_pool = r#"{"counter":1,"reports":[{"pool_id":"zz","index":0,"state":"offered"}]}"#;
        let e = serde_json::from_str::<SyncRequest>(bad_pool).expect_err("bad pool");
        assert!(e.to_string().contains("is not hex"), "{e}");
        assert!(serde_json::from_str::<SyncRequest>(r#"{"counter":1,"reports":[],"x":1}"#).is_err());
    }

    #[test]
    fn signed_uploads_verify_with_the_sync_key_only() {
        let key = [9u8; 32];
        let up = SyncRequest::new(1, [report(3, EntryState::Failed)]).signed(&key);
        assert_eq!(verify_body(&key, &up.body, &up.signature), Ok(()));
        assert!(verify_body(&[1; 32], &up.body, &up.signature).is_err());
        let deputy = DeputyReport { claimed: vec![4, 5] }.signed(&key);
        assert_eq!(deputy.body, br#"{"claimed":[4,5]}"#);
        assert_eq!(verify_body(&key, &deputy.body, &deputy.signature), Ok(()));
    }
}
