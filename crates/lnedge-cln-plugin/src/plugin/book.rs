//! The plugin's invoices and their state machine, without I/O: what an arriving HTLC, a
//! settle, a cancel or a new block does to them. The runtime (`mod.rs`) persists every entry
//! this reports as changed before it answers anyone.
//!
//! ```text
//!  open ──HTLCs reach the amount──▶ held (hold invoices) ──settle──▶ settled
//!    │                                │
//!    │ └──HTLCs reach the amount──────┼──────────────────────────▶ settled (auto-settling)
//!    └──cancel / expiry──▶ cancelled ◀┘ cancel / a block within the fail-back margin
//! ```

use std::collections::HashMap;

use serde::{Deserialize, Serialize};
use subtle::ConstantTimeEq;

use crate::wire::{InvoiceRecord, InvoiceRequest, RecordState};

/// Blocks before a held HTLC's expiry at which the plugin cancels its invoice (fails the HTLCs
/// back) by itself, so the channel never has to go on chain for it.
pub const FAILBACK_BLOCKS: u32 = 12;
/// Seconds an incomplete multi-part payment is held before its parts are failed back with
/// `mpp_timeout` (BOLT 4 and lightningd: 60 s).
pub const MPP_TIMEOUT_SECS: u64 = 60;
/// The final CLTV delta of an invoice that asks for none: CLN's `cltv-final` default.
pub const DEFAULT_CLTV: u16 = 18;

/// An HTLC paying one of the plugin's invoices.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Htlc {
    /// `short_channel_id/id`: the same HTLC replayed after a restart has the same key.
    pub key: String,
    /// `htlc.amount_msat`.
    pub amount_msat: u64,
    /// `htlc.cltv_expiry` (absolute height).
    pub cltv_expiry: u32,
}

/// One invoice, as kept in CLN's datastore.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    /// What it was created with (the preimage among it, for auto-settling invoices).
    pub request: InvoiceRequest,
    /// The payment secret the payer's onion must carry, hex.
    pub payment_secret: String,
    /// The signed BOLT 11 string.
    pub bolt11: String,
    /// Unix seconds after which an open invoice takes no HTLC.
    pub expires_at: u64,
    /// Where it stands.
    pub state: RecordState,
    /// The preimage: from the request, or from `lnedge-settle`.
    pub preimage: Option<String>,
    /// HTLCs held or settled.
    pub htlcs: Vec<Htlc>,
    /// Raised on every change.
    pub updated_index: u64,
}

impl Entry {
    /// The invoice's final CLTV delta.
    pub fn cltv(&self) -> u16 {
        self.request.cltv.unwrap_or(DEFAULT_CLTV)
    }

    /// The record the methods answer.
    pub fn record(&self) -> InvoiceRecord {
        let received_msat = match self.state {
            RecordState::Held | RecordState::Settled => {
                self.htlcs.iter().map(|h| h.amount_msat).sum()
            }
            _ => 0,
        };
        let claim_deadline_height = match self.state {
            RecordState::Held => self
                .htlcs
                .iter()
                .map(|h| h.cltv_expiry)
                .min()
                .map(|expiry| expiry.saturating_sub(FAILBACK_BLOCKS + 1)),
            _ => None,
        };
        InvoiceRecord {
            payment_hash: self.request.payment_hash.clone(),
            hold: self.request.preimage.is_none(),
            state: self.state,
            amount_msat: self.request.amount_msat,
            received_msat,
            claim_deadline_height,
            bolt11: self.bolt11.clone(),
            updated_index: self.updated_index,
        }
    }
}

/// An HTLC as the `htlc_accepted` hook reports it, for a hash of the plugin's.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Incoming {
    /// See [`Htlc::key`].
    pub key: String,
    /// `htlc.amount_msat`.
    pub amount_msat: u64,
    /// `htlc.cltv_expiry`.
    pub cltv_expiry: u32,
    /// `htlc.cltv_expiry_relative`.
    pub cltv_expiry_relative: i64,
    /// `onion.payment_secret`, hex (absent: refused).
    pub payment_secret: Option<String>,
    /// `onion.total_msat` (absent: this HTLC's amount).
    pub total_msat: Option<u64>,
}

/// What to answer the hook for an HTLC.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Decision {
    /// Not one of the plugin's hashes: `continue` (lightningd's own invoices).
    NotOurs,
    /// Fail it back: `incorrect_or_unknown_payment_details`.
    Fail,
    /// Keep it until the invoice is settled or cancelled.
    Hold,
    /// Settle it, and every other HTLC waiting on the hash, with this preimage (hex).
    Resolve(String),
}

/// Why a method refuses.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Refusal {
    /// No invoice of the plugin has the hash.
    Unknown,
    /// The invoice is in this state.
    WrongState(RecordState),
    /// An invoice of the hash exists with other parameters.
    Duplicate,
}

/// All invoices of the plugin, by payment hash (hex).
#[derive(Debug, Default)]
pub struct Book {
    entries: HashMap<String, Entry>,
    index: u64,
}

impl Book {
    /// A book holding `entries` (as loaded from the datastore).
    pub fn load(entries: Vec<Entry>) -> Self {
        let index = entries.iter().map(|e| e.updated_index).max().unwrap_or(0);
        let entries = entries.into_iter().map(|e| (e.request.payment_hash.clone(), e)).collect();
        Book { entries, index }
    }

    /// The entry of `hash`.
    pub fn get(&self, hash: &str) -> Option<&Entry> {
        self.entries.get(hash)
    }

    /// Whether an entry exists for `request`'s hash: `Ok(Some)` with the same request,
    /// `Err(Duplicate)` with another, `Ok(None)` when none.
    pub fn existing(&self, request: &InvoiceRequest) -> Result<Option<&Entry>, Refusal> {
        match self.entries.get(&request.payment_hash) {
            None => Ok(None),
            Some(e) if e.request == *request => Ok(Some(e)),
            Some(_) => Err(Refusal::Duplicate),
        }
    }

    /// Adds a new invoice; returns it (to persist).
    pub fn insert(&mut self, mut entry: Entry) -> &Entry {
        self.index += 1;
        entry.updated_index = self.index;
        let hash = entry.request.payment_hash.clone();
        self.entries.insert(hash.clone(), entry);
        &self.entries[&hash]
    }

    /// Takes back an entry just inserted (its datastore write failed).
    pub fn remove(&mut self, hash: &str) {
        self.entries.remove(hash);
    }

    /// The entries updated after `after`, oldest first, at most `limit`.
    pub fn updates_after(&self, after: u64, limit: usize) -> Vec<InvoiceRecord> {
        let mut newer: Vec<&Entry> =
            self.entries.values().filter(|e| e.updated_index > after).collect();
        newer.sort_by_key(|e| e.updated_index);
        newer.into_iter().take(limit).map(Entry::record).collect()
    }

    fn touch(&mut self, hash: &str) -> Option<&mut Entry> {
        self.index += 1;
        let index = self.index;
        let entry = self.entries.get_mut(hash)?;
        entry.updated_index = index;
        Some(entry)
    }

    /// An HTLC for `hash` arrived at `now_secs`. Returns the decision and whether the entry
    /// changed (and must be persisted before answering).
    pub fn on_htlc(&mut self, hash: &str, htlc: &Incoming, now_secs: u64) -> (Decision, bool) {
        let Some(entry) = self.entries.get(hash) else { return (Decision::NotOurs, false) };
        match entry.state {
            // A replay (after a restart) of an HTLC settled before: settle it again.
            RecordState::Settled => {
                return match &entry.preimage {
                    Some(p) if entry.htlcs.iter().any(|h| h.key == htlc.key) => {
                        (Decision::Resolve(p.clone()), false)
                    }
                    _ => (Decision::Fail, false),
                }
            }
            RecordState::Cancelled => return (Decision::Fail, false),
            RecordState::Open | RecordState::Held => {}
        }
        if entry.htlcs.iter().any(|h| h.key == htlc.key) {
            // A replay of an HTLC already counted: same answer as before.
            return (Decision::Hold, false);
        }
        let secret_ok = htlc.payment_secret.as_deref().is_some_and(|s| {
            s.len() == entry.payment_secret.len()
                && bool::from(s.as_bytes().ct_eq(entry.payment_secret.as_bytes()))
        });
        let total = htlc.total_msat.unwrap_or(htlc.amount_msat);
        let amount_ok = match entry.request.amount_msat {
            Some(asked) => total >= asked && total <= asked.saturating_mul(2),
            None => total > 0,
        };
        let expired = entry.state == RecordState::Open
            && entry.htlcs.is_empty()
            && now_secs > entry.expires_at;
        let cltv_ok = htlc.cltv_expiry_relative >= i64::from(entry.cltv());
        if !secret_ok || !amount_ok || expired || !cltv_ok {
            return (Decision::Fail, false);
        }
        let Some(entry) = self.touch(hash) else { return (Decision::NotOurs, false) };
        entry.htlcs.push(Htlc {
            key: htlc.key.clone(),
            amount_msat: htlc.amount_msat,
            cltv_expiry: htlc.cltv_expiry,
        });
        let received: u64 = entry.htlcs.iter().map(|h| h.amount_msat).sum();
        if received < total {
            return (Decision::Hold, true);
        }
        match entry.preimage.clone() {
            Some(preimage) if entry.request.preimage.is_some() => {
                entry.state = RecordState::Settled;
                (Decision::Resolve(preimage), true)
            }
            _ => {
                entry.state = RecordState::Held;
                (Decision::Hold, true)
            }
        }
    }

    /// Drops the parts of an incomplete multi-part payment whose part `key` started the MPP
    /// timeout that ran out: `true` when the set is still incomplete and holds that part (their
    /// hook calls are to be failed with `mpp_timeout`). A set that completed, or a later set on
    /// the same hash, is left alone.
    pub fn drop_partial(&mut self, hash: &str, key: &str) -> bool {
        let partial = self
            .entries
            .get(hash)
            .is_some_and(|e| e.state == RecordState::Open && e.htlcs.iter().any(|h| h.key == key));
        if partial {
            if let Some(entry) = self.touch(hash) {
                entry.htlcs.clear();
            }
        }
        partial
    }

    /// `lnedge-settle`: the preimage of a held hold invoice. `Ok(true)` when it changed.
    pub fn settle(&mut self, hash: &str, preimage: &str) -> Result<bool, Refusal> {
        let entry = self.entries.get(hash).filter(|e| e.request.preimage.is_none());
        match entry.map(|e| e.state) {
            None => Err(Refusal::Unknown),
            Some(RecordState::Settled) => Ok(false),
            Some(RecordState::Held) => {
                let entry = self.touch(hash).ok_or(Refusal::Unknown)?;
                entry.state = RecordState::Settled;
                entry.preimage = Some(preimage.to_owned());
                Ok(true)
            }
            Some(state) => Err(Refusal::WrongState(state)),
        }
    }

    /// `lnedge-cancel`. `Ok(true)` when it changed (the held HTLCs must be failed).
    pub fn cancel(&mut self, hash: &str) -> Result<bool, Refusal> {
        match self.entries.get(hash).map(|e| e.state) {
            None => Err(Refusal::Unknown),
            Some(RecordState::Cancelled) => Ok(false),
            Some(RecordState::Settled) => Err(Refusal::WrongState(RecordState::Settled)),
            Some(RecordState::Open | RecordState::Held) => {
                let entry = self.touch(hash).ok_or(Refusal::Unknown)?;
                entry.state = RecordState::Cancelled;
                Ok(true)
            }
        }
    }

    /// A block at `height` (and the time `now_secs`): cancels the held invoices whose HTLCs come
    /// within [`FAILBACK_BLOCKS`] of expiring and the open hold invoices past their expiry.
    /// Returns the hashes cancelled.
    pub fn on_block(&mut self, height: u32, now_secs: u64) -> Vec<String> {
        let due: Vec<String> = self
            .entries
            .values()
            .filter(|e| match e.state {
                RecordState::Held => e
                    .htlcs
                    .iter()
                    .map(|h| h.cltv_expiry)
                    .min()
                    .is_some_and(|expiry| height + FAILBACK_BLOCKS >= expiry),
                RecordState::Open => {
                    e.request.preimage.is_none() && e.htlcs.is_empty() && now_secs > e.expires_at
                }
                _ => false,
            })
            .map(|e| e.request.payment_hash.clone())
            .collect();
        for hash in &due {
            let _ = self.cancel(hash);
        }
        due
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(hash: &str, preimage: Option<&str>, amount_msat: u64) -> Entry {
        Entry {
            request: InvoiceRequest {
                payment_hash: hash.into(),
                preimage: preimage.map(str::to_owned),
                amount_msat: Some(amount_msat),
                description: Some("tea".into()),
                description_hash: None,
                expiry_secs: 600,
                cltv: None,
            },
            payment_secret: "55".repeat(32),
            bolt11: "lnbcrt".into(),
            expires_at: 1_000,
            state: RecordState::Open,
            preimage: preimage.map(str::to_owned),
            htlcs: vec![],
            updated_index: 0,
        }
    }

    fn htlc(key: &str, amount_msat: u64, expiry: u32) -> Incoming {
        Incoming {
            key: key.into(),
            amount_msat,
            cltv_expiry: expiry,
            cltv_expiry_relative: 40,
            payment_secret: Some("55".repeat(32)),
            total_msat: Some(amount_msat),
        }
    }

    #[test]
    fn auto_settling_invoice_resolves_and_a_replay_resolves_again() {
        let mut book = Book::default();
        book.insert(entry("aa", Some("0f"), 1_000));
        assert_eq!(
            book.on_htlc("bb", &htlc("1x1x1/0", 1_000, 150), 10),
            (Decision::NotOurs, false)
        );
        assert_eq!(
            book.on_htlc("aa", &htlc("1x1x1/0", 1_000, 150), 10),
            (Decision::Resolve("0f".into()), true)
        );
        assert_eq!(book.get("aa").map(|e| e.state), Some(RecordState::Settled));
        assert_eq!(
            book.on_htlc("aa", &htlc("1x1x1/0", 1_000, 150), 10),
            (Decision::Resolve("0f".into()), false)
        );
        assert_eq!(book.on_htlc("aa", &htlc("1x1x1/1", 1_000, 150), 10), (Decision::Fail, false));
    }

    #[test]
    fn bad_htlcs_are_failed() {
        let mut book = Book::default();
        book.insert(entry("aa", None, 1_000));
        let mut wrong_secret = htlc("k", 1_000, 150);
        wrong_secret.payment_secret = Some("56".repeat(32));
        assert_eq!(book.on_htlc("aa", &wrong_secret, 10).0, Decision::Fail);
        let mut no_secret = htlc("k", 1_000, 150);
        no_secret.payment_secret = None;
        assert_eq!(book.on_htlc("aa", &no_secret, 10).0, Decision::Fail);
        assert_eq!(book.on_htlc("aa", &htlc("k", 999, 150), 10).0, Decision::Fail);
        assert_eq!(book.on_htlc("aa", &htlc("k", 2_001, 150), 10).0, Decision::Fail);
        let mut short = htlc("k", 1_000, 150);
        short.cltv_expiry_relative = 17;
        assert_eq!(book.on_htlc("aa", &short, 10).0, Decision::Fail);
        assert_eq!(book.on_htlc("aa", &htlc("k", 1_000, 150), 1_001).0, Decision::Fail, "expired");
        assert_eq!(book.get("aa").map(|e| e.state), Some(RecordState::Open));
    }

    #[test]
    fn hold_invoice_holds_parts_then_settles_or_is_cancelled_near_expiry() {
        let mut book = Book::default();
        book.insert(entry("aa", None, 1_000));
        let mut part = htlc("k1", 400, 150);
        part.total_msat = Some(1_000);
        assert_eq!(book.on_htlc("aa", &part, 10), (Decision::Hold, true));
        assert_eq!(book.get("aa").map(|e| e.state), Some(RecordState::Open), "not all parts yet");
        assert!(book.drop_partial("aa", "k1"), "the MPP timeout drops a lone part");
        assert!(!book.drop_partial("aa", "k1"));
        assert_eq!(book.on_htlc("aa", &part, 10), (Decision::Hold, true), "a new first part");
        assert!(!book.drop_partial("aa", "k0"), "an older timer leaves a new set alone");
        let mut rest = htlc("k2", 600, 140);
        rest.total_msat = Some(1_000);
        assert_eq!(book.on_htlc("aa", &rest, 10), (Decision::Hold, true));
        let record = book.get("aa").map(Entry::record).expect("record");
        assert_eq!((record.state, record.received_msat), (RecordState::Held, 1_000));
        assert_eq!(record.claim_deadline_height, Some(140 - FAILBACK_BLOCKS - 1));
        assert_eq!(book.on_htlc("aa", &rest, 10), (Decision::Hold, false), "replay");
        assert_eq!(book.settle("zz", "00"), Err(Refusal::Unknown));

        assert!(book.on_block(140 - FAILBACK_BLOCKS - 1, 10).is_empty());
        assert_eq!(book.on_block(140 - FAILBACK_BLOCKS, 10), vec!["aa".to_owned()]);
        assert_eq!(book.settle("aa", "0f"), Err(Refusal::WrongState(RecordState::Cancelled)));
        assert_eq!(book.cancel("aa"), Ok(false));
    }

    #[test]
    fn settle_and_cancel_follow_the_states_and_raise_the_index() {
        let mut book = Book::default();
        book.insert(entry("aa", None, 1_000));
        assert_eq!(book.settle("aa", "0f"), Err(Refusal::WrongState(RecordState::Open)));
        book.on_htlc("aa", &htlc("k", 1_000, 150), 10);
        let before = book.get("aa").map(|e| e.updated_index).unwrap_or(0);
        assert_eq!(book.settle("aa", "0f"), Ok(true));
        assert!(book.get("aa").map(|e| e.updated_index).unwrap_or(0) > before);
        assert_eq!(book.settle("aa", "0f"), Ok(false));
        assert_eq!(book.cancel("aa"), Err(Refusal::WrongState(RecordState::Settled)));
        assert_eq!(book.updates_after(0, 10).len(), 1);
        assert!(book.updates_after(book.index, 10).is_empty());

        let mut other = entry("bb", None, 1_000);
        other.request.amount_msat = Some(2_000);
        assert_eq!(book.existing(&other.request).err(), None);
        let mut changed = entry("aa", None, 1_000).request;
        changed.amount_msat = Some(7);
        assert_eq!(book.existing(&changed).err(), Some(Refusal::Duplicate));
        let reloaded = Book::load(vec![book.get("aa").cloned().expect("aa")]);
        assert_eq!(reloaded.index, book.get("aa").map(|e| e.updated_index).unwrap_or(0));
    }
}
