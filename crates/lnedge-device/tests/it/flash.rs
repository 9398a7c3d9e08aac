//! The flash models and the persistent ledger without power cuts.

use lnedge_device::{
    Flash, FlashError, FlashImage, MemFlash, PersistentLedger, PersistentLedgerError,
};
use lnedge_proto::ledger::{EntryState, LedgerError, PendingClaim, PendingReason, HEADER_LEN};
use lnedge_proto::PoolId;

const POOL: PoolId = PoolId([1, 2, 3, 4, 5, 6, 7, 8]);

#[test]
fn file_image_is_created_erased_and_refuses_setting_bits() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.flash");
    let mut f = FlashImage::open(&path, POOL, 4).unwrap();
    let bytes = f.read_all().unwrap();
    assert_eq!(bytes.len(), HEADER_LEN + 4);
    assert_eq!(&bytes[HEADER_LEN..], &[0xFF; 4]);
    assert_eq!(&bytes[..4], b"LNLG");
    f.program(HEADER_LEN, 0xF0).unwrap();
    let err = f.program(HEADER_LEN, 0xFC).unwrap_err();
    assert!(
        matches!(err, FlashError::SetsBit { offset, old: 0xF0, new: 0xFC } if offset == HEADER_LEN)
    );
    assert!(err.to_string().contains("would set a bit"), "{err}");
    assert!(matches!(f.program(HEADER_LEN + 4, 0), Err(FlashError::OutOfRange { .. })));
    drop(f);
    let mut f = FlashImage::open(&path, POOL, 4).unwrap();
    assert_eq!(f.read_byte(HEADER_LEN).unwrap(), 0xF0);
    let err = FlashImage::open(&path, PoolId([9; 8]), 4).unwrap_err();
    assert!(
        matches!(err, FlashError::Image { source: LedgerError::WrongPool { .. }, .. }),
        "{err}"
    );
    assert!(err.to_string().contains("ledger.flash"), "{err}");
    let err = FlashImage::open(&path, POOL, 5).unwrap_err();
    assert!(matches!(err, FlashError::Image { source: LedgerError::WrongEntryCount { .. }, .. }));
}

#[test]
fn torn_file_write_leaves_a_partial_byte() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.flash");
    let mut f = FlashImage::open(&path, POOL, 2).unwrap();
    // 0xFF -> 0xF0 clears bits 0..=3; cut after 2 of them.
    let err = f.write_with_power_cut(HEADER_LEN, 0xF0, 2).unwrap_err();
    assert!(matches!(err, FlashError::PowerCut { left: 0xFC, .. }), "{err}");
    assert!(matches!(f.read_byte(HEADER_LEN), Err(FlashError::PowerLost)));
    drop(f);
    let mut f = FlashImage::open(&path, POOL, 2).unwrap();
    assert_eq!(f.read_byte(HEADER_LEN).unwrap(), 0xFC);
    // Enough budget: the write completes.
    f.write_with_power_cut(HEADER_LEN + 1, 0xFC, 2).unwrap();
    assert_eq!(f.read_byte(HEADER_LEN + 1).unwrap(), 0xFC);
    f.program(HEADER_LEN + 1, 0xF0).unwrap();
}

#[test]
fn mem_flash_behaves_like_the_file() {
    let mut f = MemFlash::new_ledger(POOL, 2).unwrap();
    f.program(HEADER_LEN, 0xFC).unwrap();
    assert!(matches!(f.program(HEADER_LEN, 0xFE), Err(FlashError::SetsBit { .. })));
    f.set_power_cut(Some(lnedge_device::PowerCut {
        after_bit_flips: 1,
        order: lnedge_device::BitOrder::HighFirst,
    }));
    assert!(matches!(f.program(HEADER_LEN, 0xF0), Err(FlashError::PowerCut { left: 0xF4, .. })));
    assert!(matches!(f.read_all(), Err(FlashError::PowerLost)));
    let f = f.reboot();
    assert_eq!(f.bytes()[HEADER_LEN], 0xF4);
}

#[test]
fn persistent_ledger_survives_reopen() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("ledger.flash");
    let mut l = PersistentLedger::open(&path, POOL, 3).unwrap();
    assert!(l.pending_after_crash().is_empty());
    let i = l.next_unused(0..3).unwrap();
    l.offer(i).unwrap();
    l.claim(i).unwrap();
    l.dispensed(i).unwrap();
    l.claim(1).unwrap(); // the machine "crashes" while the motor runs
    drop(l);

    let mut l = PersistentLedger::open(&path, POOL, 3).unwrap();
    assert_eq!(l.state(0).unwrap(), EntryState::Dispensed);
    assert_eq!(
        l.pending_after_crash(),
        &[PendingClaim { index: 1, reason: PendingReason::Unresolved }]
    );
    let err = l.claim(0).unwrap_err();
    assert!(matches!(
        err,
        PersistentLedgerError::Ledger(LedgerError::AlreadyClaimed {
            index: 0,
            state: EntryState::Dispensed
        })
    ));
    assert_eq!(err.to_string(), "claim ledger: entry 0 already used (state dispensed)");
    assert!(l.offer(1).is_err());
    l.failed(1).unwrap();
    assert!(l.pending().is_empty());
    assert!(matches!(
        l.claim(3),
        Err(PersistentLedgerError::Ledger(LedgerError::IndexOutOfRange { .. }))
    ));
    assert_eq!(l.next_unused(0..3), Some(2));
    let c = l.counts();
    assert_eq!((c.unused, c.dispensed, c.failed), (1, 1, 1));
    // Still correct after reopen (pending resolved).
    drop(l);
    let l = PersistentLedger::open(&path, POOL, 3).unwrap();
    assert!(l.pending_after_crash().is_empty());
    assert!(matches!(
        PersistentLedger::open(&path, PoolId([0; 8]), 3),
        Err(PersistentLedgerError::Open(FlashError::Image {
            source: LedgerError::WrongPool { .. },
            ..
        }))
    ));
}
