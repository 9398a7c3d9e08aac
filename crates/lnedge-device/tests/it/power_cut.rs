//! Power cut at every bit flip of every write of a sale sequence, on both flash models.
//!
//! After each cut the flash is reopened and checked: no entry went backwards, a claim or
//! outcome whose write completed is there, an entry whose claim was acknowledged is never
//! offered or claimed again (so the motor runs at most once per entry), an entry whose outcome
//! write was cut is reported pending, and the ledger goes on working.

use std::collections::HashMap;

use lnedge_device::{
    BitOrder, Flash, FlashError, FlashImage, MemFlash, PersistentLedger, PersistentLedgerError,
    PowerCut,
};
use lnedge_proto::ledger::{EntryState, LedgerError, PendingReason};
use lnedge_proto::PoolId;
use proptest::prelude::*;

const POOL: PoolId = PoolId([0xC0, 0xFF, 0xEE, 0, 0, 0, 0, 1]);

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    Offer,
    Claim,
    Dispensed,
    Failed,
}

fn do_op<F: Flash>(
    l: &mut PersistentLedger<F>,
    op: Op,
    i: u32,
) -> Result<EntryState, PersistentLedgerError> {
    let change = match op {
        Op::Offer => l.offer(i),
        Op::Claim => l.claim(i),
        Op::Dispensed => l.dispensed(i),
        Op::Failed => l.failed(i),
    }?;
    Ok(change.to)
}

/// How to make, arm and power-cycle one kind of flash.
trait Rig {
    type F: Flash;
    fn fresh(&mut self, entries: u32, cut: PowerCut) -> Self::F;
    fn reboot(&mut self, flash: Self::F, entries: u32) -> Self::F;
}

struct Mem;
impl Rig for Mem {
    type F = MemFlash;
    fn fresh(&mut self, entries: u32, cut: PowerCut) -> MemFlash {
        let mut f = MemFlash::new_ledger(POOL, entries).unwrap();
        f.set_power_cut(Some(cut));
        f
    }
    fn reboot(&mut self, flash: MemFlash, _: u32) -> MemFlash {
        flash.reboot()
    }
}

struct File {
    dir: tempfile::TempDir,
    n: u32,
}
impl Rig for File {
    type F = FlashImage;
    fn fresh(&mut self, entries: u32, cut: PowerCut) -> FlashImage {
        self.n += 1;
        let path = self.dir.path().join(format!("ledger-{}.flash", self.n));
        let mut f = FlashImage::open(path, POOL, entries).unwrap();
        f.set_power_cut(Some(cut));
        f
    }
    fn reboot(&mut self, flash: FlashImage, entries: u32) -> FlashImage {
        let path = flash.path().to_path_buf();
        drop(flash);
        FlashImage::open(path, POOL, entries).unwrap()
    }
}

/// What the driver (the vend loop) knows before the power goes.
#[derive(Default)]
struct Driver {
    /// State after the last write that returned `Ok`, per entry.
    acked: HashMap<u32, EntryState>,
    /// Motor runs per entry (the motor runs only after `claim` returned `Ok`).
    motor: HashMap<u32, u32>,
}

impl Driver {
    fn acked(&self, i: u32) -> EntryState {
        self.acked.get(&i).copied().unwrap_or(EntryState::Unused)
    }
    fn run_motor(&mut self, i: u32) {
        let n = self.motor.entry(i).or_default();
        *n += 1;
        assert_eq!(*n, 1, "motor ran twice for entry {i}");
    }
}

/// Runs `ops` with a power cut armed; returns the flash, the driver and the op that was cut.
/// Returns the number of bit flips the whole sequence needed when no cut happened.
fn run_until_cut<R: Rig>(
    rig: &mut R,
    entries: u32,
    ops: &[(Op, u32)],
    cut: PowerCut,
) -> (R::F, Driver, Option<(Op, u32, EntryState)>) {
    let flash = rig.fresh(entries, cut);
    let mut l = PersistentLedger::from_flash(flash, POOL, entries).unwrap();
    let mut d = Driver::default();
    for &(op, i) in ops {
        let before = l.state(i).ok();
        match do_op(&mut l, op, i) {
            Ok(to) => {
                d.acked.insert(i, to);
                if op == Op::Claim {
                    d.run_motor(i);
                }
            }
            Err(PersistentLedgerError::Ledger(_)) => {} // an illegal op in a random sequence
            Err(PersistentLedgerError::Write {
                source: FlashError::PowerCut { .. },
                index,
                ..
            }) => {
                assert_eq!(index, i);
                return (l.into_flash(), d, Some((op, i, before.unwrap())));
            }
            Err(e) => panic!("unexpected {e}"),
        }
    }
    (l.into_flash(), d, None)
}

/// Checks the rebooted ledger and keeps using it.
fn check_after_reboot<F: Flash>(
    flash: F,
    entries: u32,
    mut d: Driver,
    cut_op: Option<(Op, u32, EntryState)>,
) {
    let mut l = PersistentLedger::from_flash(flash, POOL, entries).unwrap();
    let pending: HashMap<u32, PendingReason> =
        l.pending_after_crash().iter().map(|p| (p.index, p.reason)).collect();
    for i in 0..entries {
        let s = l.state(i).unwrap();
        let acked = d.acked(i);
        assert_eq!(pending.contains_key(&i), s == EntryState::Claimed, "entry {i}");
        match cut_op {
            Some((op, j, from)) if j == i => {
                assert_eq!(from, acked);
                assert!(acked.may_become(s), "entry {i} went back from {acked} to {s}");
                let target = match op {
                    Op::Offer => EntryState::Offered,
                    Op::Claim => EntryState::Claimed,
                    Op::Dispensed => EntryState::Dispensed,
                    Op::Failed => EntryState::Failed,
                };
                assert!(s.may_become(target), "cut {op:?} on entry {i} left {s}");
                match (op, s) {
                    (Op::Claim, EntryState::Claimed) => {
                        // The claim was never acknowledged: the motor did not run.
                        assert_eq!(pending[&i], PendingReason::ClaimCut);
                        assert!(!d.motor.contains_key(&i));
                    }
                    (Op::Dispensed, EntryState::Claimed) => assert!(matches!(
                        pending[&i],
                        PendingReason::DispensedCut | PendingReason::Unresolved
                    )),
                    (Op::Failed, EntryState::Claimed) => assert!(matches!(
                        pending[&i],
                        PendingReason::FailedCut | PendingReason::Unresolved
                    )),
                    _ => {}
                }
            }
            _ => assert_eq!(s, acked, "entry {i}: an acknowledged write was lost"),
        }
    }
    // A replayed preimage never runs the motor again; claimed entries are never offered.
    for i in 0..entries {
        let s = l.state(i).unwrap();
        if s.is_claimed() {
            assert!(matches!(
                l.claim(i),
                Err(PersistentLedgerError::Ledger(LedgerError::AlreadyClaimed { .. }))
            ));
            assert!(l.offer(i).is_err());
            assert_ne!(l.next_unused(0..entries), Some(i));
        } else if d.motor.contains_key(&i) {
            panic!("entry {i} was vended but reads {s}");
        }
    }
    // Resolve what is pending (by the operator: no motor), then sell everything left.
    for p in l.pending_after_crash().to_vec() {
        let r = if p.reason == PendingReason::DispensedCut {
            l.dispensed(p.index)
        } else {
            l.failed(p.index)
        };
        r.unwrap();
    }
    assert!(l.pending().is_empty());
    for i in 0..entries {
        match l.state(i).unwrap() {
            EntryState::Unused | EntryState::Offered => {
                l.offer(i).unwrap();
                l.claim(i).unwrap();
                d.run_motor(i);
                l.dispensed(i).unwrap();
            }
            _ => {}
        }
    }
    let c = l.counts();
    assert_eq!(c.unused + c.offered + c.claimed, 0);
    assert_eq!(c.dispensed + c.failed, entries);
}

/// Cuts the power at every bit flip of `ops` (both bit orders); returns how many cut points were
/// simulated.
fn cut_everywhere<R: Rig>(rig: &mut R, entries: u32, ops: &[(Op, u32)]) -> u64 {
    let mut points = 0;
    for order in [BitOrder::LowFirst, BitOrder::HighFirst] {
        let mut k = 0;
        loop {
            let cut = PowerCut { after_bit_flips: k, order };
            let (flash, d, cut_op) = run_until_cut(rig, entries, ops, cut);
            let done = cut_op.is_none();
            let flash = rig.reboot(flash, entries);
            check_after_reboot(flash, entries, d, cut_op);
            if done {
                break;
            }
            points += 1;
            k += 1;
        }
    }
    points
}

/// A day of sales: offered-and-paid, failed vend, paid without being shown, re-offer, a cut in
/// every kind of write.
fn scenario() -> Vec<(Op, u32)> {
    use Op::*;
    vec![
        (Offer, 0),
        (Claim, 0),
        (Dispensed, 0),
        (Offer, 1),
        (Offer, 1),
        (Claim, 1),
        (Failed, 1),
        (Claim, 2),
        (Dispensed, 2),
        (Offer, 3),
        (Claim, 3),
    ]
}

#[test]
fn power_cut_at_every_bit_in_memory() {
    let points = cut_everywhere(&mut Mem, 5, &scenario());
    // Bit flips: sale 0: 2+2+2, sale 1: 2+0+2+2, entry 2: 4+2, entry 3: 2+2 = 22 per order.
    assert_eq!(points, 44);
}

#[test]
fn power_cut_at_every_bit_on_a_file() {
    let mut rig = File { dir: tempfile::tempdir().unwrap(), n: 0 };
    let points = cut_everywhere(&mut rig, 5, &scenario());
    assert_eq!(points, 44);
}

/// A cut that happens again while resolving pending claims after the first reboot.
#[test]
fn power_cut_during_recovery() {
    let mut total = 0;
    for first in 0..10u64 {
        for second in 0..4u64 {
            let cut = PowerCut { after_bit_flips: first, order: BitOrder::LowFirst };
            let (flash, _, _) = run_until_cut(&mut Mem, 3, &scenario_small(), cut);
            let mut flash = flash.reboot();
            flash.set_power_cut(Some(PowerCut {
                after_bit_flips: second,
                order: BitOrder::HighFirst,
            }));
            let mut l = PersistentLedger::from_flash(flash, POOL, 3).unwrap();
            let pending = l.pending_after_crash().to_vec();
            for p in &pending {
                if l.failed(p.index).is_err() {
                    break;
                }
            }
            let flash = l.into_flash().reboot();
            let l = PersistentLedger::from_flash(flash, POOL, 3).unwrap();
            for p in &pending {
                let s = l.state(p.index).unwrap();
                assert!(matches!(s, EntryState::Claimed | EntryState::Failed), "{s}");
                if s == EntryState::Claimed {
                    assert!(l.pending_after_crash().iter().any(|q| q.index == p.index));
                }
            }
            total += 1;
        }
    }
    assert_eq!(total, 40);
}

fn scenario_small() -> Vec<(Op, u32)> {
    vec![(Op::Offer, 0), (Op::Claim, 0), (Op::Claim, 1), (Op::Dispensed, 0)]
}

fn op_strategy() -> impl Strategy<Value = (Op, u32)> {
    (prop::sample::select(vec![Op::Offer, Op::Claim, Op::Dispensed, Op::Failed]), 0u32..4)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    /// Random operation sequences (illegal ones included), power cut at every bit flip.
    #[test]
    fn power_cut_at_every_bit_of_random_sequences(ops in prop::collection::vec(op_strategy(), 1..16)) {
        cut_everywhere(&mut Mem, 4, &ops);
    }
}

/// Every sequence of three operations on two entries (512 sequences), power cut at every bit
/// flip of each, both bit orders.
#[test]
fn power_cut_at_every_bit_of_all_short_sequences() {
    let all: Vec<(Op, u32)> = [Op::Offer, Op::Claim, Op::Dispensed, Op::Failed]
        .into_iter()
        .flat_map(|op| [(op, 0), (op, 1)])
        .collect();
    let mut points = 0;
    let mut sequences = 0;
    for a in &all {
        for b in &all {
            for c in &all {
                points += cut_everywhere(&mut Mem, 2, &[*a, *b, *c]);
                sequences += 1;
            }
        }
    }
    eprintln!("{sequences} sequences, {points} power-cut points");
    assert_eq!(sequences, 512);
    assert_eq!(points, 4056);
}
