//! Tests of the claim ledger: encoding, torn writes, the state machine against a model.
#![allow(
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::arithmetic_side_effects,
    clippy::panic
)]

extern crate std;

use std::collections::{BTreeSet, HashMap};
use std::vec::Vec;

use proptest::prelude::*;

use super::*;
use crate::PoolId;

const POOL: PoolId = PoolId([0xA5, 1, 2, 3, 4, 5, 6, 7]);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Offer,
    Claim,
    Dispensed,
    Failed,
}

const OPS: [Op; 4] = [Op::Offer, Op::Claim, Op::Dispensed, Op::Failed];

fn run<S: AsRef<[u8]>>(l: &Ledger<S>, op: Op, i: u32) -> Result<ChangeSet, LedgerError> {
    match op {
        Op::Offer => l.offer(i),
        Op::Claim => l.claim(i),
        Op::Dispensed => l.dispensed(i),
        Op::Failed => l.failed(i),
    }
}

/// A one-entry ledger whose entry byte is `byte`.
fn ledger_with(byte: u8) -> Ledger<Vec<u8>> {
    let mut image = new_image(POOL, 1).unwrap();
    image[HEADER_LEN] = byte;
    Ledger::open(image).unwrap()
}

#[test]
fn encodings_only_clear_bits_and_round_trip() {
    for s in EntryState::ALL {
        assert_eq!(EntryState::decode(s.encoding()), s, "{s}");
        assert!(Reading::of(s.encoding()).is_canonical());
        for later in EntryState::ALL {
            if s.may_become(later) {
                assert_eq!(later.encoding() & !s.encoding(), 0, "{s} -> {later} sets a bit");
            }
        }
    }
    assert_eq!(EntryState::ALL.map(EntryState::encoding), [0xFF, 0xFC, 0xF0, 0xC0, 0x30]);
}

/// Decoding is total: every byte maps to a state, and the pending reason is given exactly for
/// claimed entries. Spot checks of the rule.
#[test]
fn every_byte_decodes() {
    let mut per_state: HashMap<EntryState, usize> = HashMap::new();
    for b in 0..=255u8 {
        let r = Reading::of(b);
        *per_state.entry(r.state).or_default() += 1;
        assert_eq!(r.pending_reason().is_some(), r.state == EntryState::Claimed, "{b:#04x}");
        // The decoded state never says less than the bits show: a byte with any claim/outcome
        // bit cleared is at least claimed (never offered again).
        if b & 0xFC != 0xFC {
            assert!(r.state.is_claimed(), "{b:#04x}");
        }
        // A final state needs its whole group cleared.
        if r.state == EntryState::Dispensed {
            assert_eq!(b & 0x30, 0);
        }
        if r.state == EntryState::Failed {
            assert_eq!(b & 0xC0, 0);
            assert_ne!(b & 0x30, 0);
        }
    }
    assert_eq!(per_state.values().sum::<usize>(), 256);
    assert_eq!(per_state[&EntryState::Unused], 1);
    assert_eq!(per_state[&EntryState::Offered], 3);
    assert_eq!(EntryState::decode(0xF8), EntryState::Claimed); // cut claim
    assert_eq!(Reading::of(0xF8).pending_reason(), Some(PendingReason::ClaimCut));
    assert_eq!(Reading::of(0xF0).pending_reason(), Some(PendingReason::Unresolved));
    assert_eq!(Reading::of(0xE0).pending_reason(), Some(PendingReason::DispensedCut));
    assert_eq!(Reading::of(0x70).pending_reason(), Some(PendingReason::FailedCut));
    assert_eq!(EntryState::decode(0x00), EntryState::Dispensed); // unreachable: no refund
}

/// Every subset of `bits`.
fn subsets(bits: u8) -> impl Iterator<Item = u8> {
    (0..=255u8).filter(move |s| s & !bits == 0)
}

/// From the erased byte, explore every byte reachable by legal writes, each of which may be cut
/// after any subset of its bits was cleared (flash clears bits in an unknown order). Checks at
/// every intermediate byte: the state is between the write's start and end state (never
/// backwards, never a different outcome), a completed write lands exactly on its target, a
/// claim once started is never offered again, and no byte says both dispensed and failed.
#[test]
fn torn_writes_from_every_reachable_byte_are_safe() {
    let mut seen = BTreeSet::from([ERASED]);
    let mut todo = std::vec![ERASED];
    let mut cuts = 0usize;
    while let Some(x) = todo.pop() {
        let ledger = ledger_with(x);
        let from = EntryState::decode(x);
        for op in OPS {
            let Ok(change) = run(&ledger, op, 0) else { continue };
            assert_eq!(change.from, from);
            assert_eq!(change.value & !x, 0, "write sets a bit");
            assert_eq!(EntryState::decode(change.value), change.to, "completed {op:?} on {x:#04x}");
            let to_clear = x & !change.value;
            for cut in subsets(to_clear) {
                cuts += 1;
                let y = x & !cut;
                let s = EntryState::decode(y);
                assert!(
                    from.may_become(s) && s.may_become(change.to),
                    "{op:?} on {x:#04x} cut at {y:#04x}: {from} -> {s} -> {}",
                    change.to
                );
                assert!(!(y & 0x30 == 0 && y & 0xC0 == 0), "{y:#04x} both outcomes");
                if from.is_claimed() || s.is_claimed() {
                    assert!(ledger_with(y).offer(0).is_err());
                }
                if seen.insert(y) {
                    todo.push(y);
                }
            }
        }
    }
    // 0xFF plus the torn bytes of every path.
    std::eprintln!("{} reachable bytes, {cuts} cut writes checked", seen.len());
    assert_eq!(seen.len(), 184);
    assert_eq!(cuts, 2203);
}

#[test]
fn transitions_follow_the_rules() {
    let mut l = Ledger::open(new_image(POOL, 3).unwrap()).unwrap();
    assert_eq!(l.next_unused(0..3), Some(0));
    let c = l.offer(0).unwrap();
    assert_eq!((c.offset, c.value), (HEADER_LEN, 0xFC));
    l.apply(&c).unwrap();
    assert!(l.offer(0).unwrap().is_noop());
    assert_eq!(l.next_unused(0..3), Some(1));
    assert_eq!(l.next_unused(1..1), None);
    assert_eq!(l.next_unused(2..100), Some(2));
    assert_eq!(
        l.dispensed(0),
        Err(LedgerError::NotClaimed { index: 0, state: EntryState::Offered })
    );
    let c = l.claim(0).unwrap();
    l.apply(&c).unwrap();
    assert_eq!(
        l.apply(&c),
        Err(LedgerError::StaleChangeSet { index: 0, expected: 0xFC, found: 0xF0 })
    );
    assert_eq!(
        l.claim(0),
        Err(LedgerError::AlreadyClaimed { index: 0, state: EntryState::Claimed })
    );
    assert_eq!(
        l.offer(0),
        Err(LedgerError::AlreadyClaimed { index: 0, state: EntryState::Claimed })
    );
    assert_eq!(
        l.pending().collect::<Vec<_>>(),
        [PendingClaim { index: 0, reason: PendingReason::Unresolved }]
    );
    let c = l.failed(0).unwrap();
    l.apply(&c).unwrap();
    assert_eq!(
        l.dispensed(0),
        Err(LedgerError::AlreadyResolved { index: 0, state: EntryState::Failed })
    );
    // Claim of an entry never shown (the hash identifies it).
    let c = l.claim(2).unwrap();
    assert_eq!(c.from, EntryState::Unused);
    l.apply(&c).unwrap();
    l.apply(&l.dispensed(2).unwrap()).unwrap();
    assert_eq!(l.claim(3), Err(LedgerError::IndexOutOfRange { index: 3, entries: 3 }));
    assert_eq!(
        l.state(u32::MAX),
        Err(LedgerError::IndexOutOfRange { index: u32::MAX, entries: 3 })
    );
    assert_eq!(
        l.counts(),
        Counts { unused: 1, offered: 0, claimed: 0, dispensed: 1, failed: 1, torn: 0 }
    );
    let forged = ChangeSet {
        index: 1,
        from: EntryState::Unused,
        to: EntryState::Unused,
        offset: HEADER_LEN + 1,
        old: 0xFF,
        value: 0xFF,
    };
    l.apply(&forged).unwrap();
    let mut bad = l.claim(0).unwrap_err();
    assert!(std::format!("{bad}").contains("entry 0 already used"));
    bad = l.apply(&ChangeSet { offset: HEADER_LEN, ..forged }).unwrap_err();
    assert!(matches!(bad, LedgerError::StaleChangeSet { .. }));
}

#[test]
fn header_is_checked() {
    let image = new_image(POOL, 2).unwrap();
    assert_eq!(image.len(), HEADER_LEN + 2);
    assert_eq!(&image[..4], b"LNLG");
    let l = decode_image(&image).unwrap();
    assert_eq!(l.header(), Header { pool_id: POOL, entries: 2 });
    let other = PoolId([9; 8]);
    assert_eq!(
        Ledger::open_for_pool(&image[..], other, 2).unwrap_err(),
        LedgerError::WrongPool { expected: other, found: POOL }
    );
    assert_eq!(
        Ledger::open_for_pool(&image[..], POOL, 3).unwrap_err(),
        LedgerError::WrongEntryCount { expected: 3, found: 2 }
    );
    assert!(Ledger::open_for_pool(&image[..], POOL, 2).is_ok());
    assert_eq!(decode_image(&image[..10]).unwrap_err(), LedgerError::TooShort { len: 10 });
    assert_eq!(
        decode_image(&image[..HEADER_LEN + 1]).unwrap_err(),
        LedgerError::LengthMismatch {
            entries: 2,
            expected_len: HEADER_LEN + 2,
            actual_len: HEADER_LEN + 1
        }
    );
    let mut bad = image.clone();
    bad[0] = b'X';
    assert!(matches!(decode_image(&bad), Err(LedgerError::BadMagic { .. })));
    let mut bad = image.clone();
    bad[4] = 2;
    assert_eq!(decode_image(&bad).unwrap_err(), LedgerError::UnsupportedVersion { version: 2 });
    for i in 5..HEADER_LEN {
        let mut bad = image.clone();
        bad[i] ^= 1;
        assert_eq!(decode_image(&bad).unwrap_err(), LedgerError::HeaderChecksum, "byte {i}");
    }
    let mut buf = [0u8; HEADER_LEN + 3];
    assert!(init_image(&mut buf[..HEADER_LEN + 2], POOL, 3).is_err());
    init_image(&mut buf, POOL, 3).unwrap();
    assert_eq!(Ledger::open(&buf[..]).unwrap().counts().unused, 3);
}

fn op_strategy(n: u32) -> impl Strategy<Value = (Op, u32)> {
    (prop::sample::select(OPS.to_vec()), 0..n + 1)
}

proptest! {
    /// Random operation sequences: the ledger agrees with a plain model, states never go
    /// backwards, each entry is dispensed at most once.
    #[test]
    fn ledger_matches_model(n in 1u32..8, ops in prop::collection::vec(op_strategy(8), 0..80)) {
        let mut l = Ledger::open(new_image(POOL, n).unwrap()).unwrap();
        let mut model: HashMap<u32, EntryState> = HashMap::new();
        let mut dispensed: HashMap<u32, u32> = HashMap::new();
        for (op, i) in ops {
            let before = if i < n { Some(*model.get(&i).unwrap_or(&EntryState::Unused)) } else { None };
            let expected = before.map(|s| match (op, s) {
                (Op::Offer, EntryState::Unused | EntryState::Offered) => Ok(EntryState::Offered),
                (Op::Claim, EntryState::Unused | EntryState::Offered) => Ok(EntryState::Claimed),
                (Op::Offer | Op::Claim, s) => Err(LedgerError::AlreadyClaimed { index: i, state: s }),
                (Op::Dispensed, EntryState::Claimed) => Ok(EntryState::Dispensed),
                (Op::Failed, EntryState::Claimed) => Ok(EntryState::Failed),
                (_, s @ (EntryState::Unused | EntryState::Offered)) => Err(LedgerError::NotClaimed { index: i, state: s }),
                (_, s) => Err(LedgerError::AlreadyResolved { index: i, state: s }),
            });
            let got = run(&l, op, i);
            match (expected, got) {
                (None, Err(e)) => prop_assert_eq!(e, LedgerError::IndexOutOfRange { index: i, entries: n }),
                (Some(Ok(to)), Ok(change)) => {
                    prop_assert_eq!(change.to, to);
                    l.apply(&change).unwrap();
                    model.insert(i, to);
                    if to == EntryState::Dispensed {
                        let c = dispensed.entry(i).or_default();
                        *c += 1;
                        prop_assert_eq!(*c, 1);
                    }
                }
                (Some(Err(e)), Err(g)) => prop_assert_eq!(e, g),
                (e, g) => prop_assert!(false, "{:?} {} on {:?}: model {:?}, ledger {:?}", op, i, before, e, g),
            }
            if let Some(b) = before {
                prop_assert!(b.may_become(l.state(i).unwrap()));
            }
            for j in 0..n {
                prop_assert_eq!(l.state(j).unwrap(), *model.get(&j).unwrap_or(&EntryState::Unused));
                prop_assert!(l.reading(j).unwrap().is_canonical());
            }
        }
        let c = l.counts();
        prop_assert_eq!(c.unused + c.offered + c.claimed + c.dispensed + c.failed, n);
        prop_assert_eq!(l.pending().count() as u32, c.claimed);
    }

    /// Any byte string: decoding never panics.
    #[test]
    fn decode_image_never_panics(bytes in prop::collection::vec(any::<u8>(), 0..80)) {
        let _ = decode_image(&bytes);
    }

    /// A valid header over arbitrary entry bytes: every operation is total.
    #[test]
    fn any_entry_bytes_are_usable(body in prop::collection::vec(any::<u8>(), 0..40), i in 0u32..45) {
        let mut image = new_image(POOL, body.len() as u32).unwrap();
        image[HEADER_LEN..].copy_from_slice(&body);
        let mut l = Ledger::open(image).unwrap();
        let _ = (l.counts(), l.pending().count(), l.next_unused(0..50), l.next_unused(i..3));
        for op in OPS {
            if let Ok(change) = run(&l, op, i) {
                let before = l.state(i).unwrap();
                l.apply(&change).unwrap();
                let after = l.state(i).unwrap();
                prop_assert!(before.may_become(after));
                prop_assert_eq!(after, change.to);
            }
        }
    }
}
