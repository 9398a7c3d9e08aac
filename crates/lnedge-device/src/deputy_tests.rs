use super::*;
use crate::flash::{BitOrder, FileFlash, MemFlash, PowerCut};
use lnedge_proto::deputy::claim::MAX_CODE_TRIES;
use lnedge_proto::deputy::{claim_for, preimage_for};
use lnedge_proto::envelope::{ndef, Envelope};

const MASTER: [u8; 32] = [9; 32];
const D: DeviceId = DeviceId([0x42; 16]);

fn terminal() -> DeputyTerminal<MemFlash> {
    let keys = TerminalKeys::derive(&MASTER, D);
    DeputyTerminal::open(keys, "https://gw.example", MemFlash::from_bytes(vec![0xFF; FLASH_LEN]))
        .expect("open")
}

fn reopen(t: DeputyTerminal<MemFlash>) -> DeputyTerminal<MemFlash> {
    let keys = TerminalKeys::derive(&MASTER, D);
    DeputyTerminal::open(keys, "https://gw.example", t.into_flash().reboot()).expect("reopen")
}

fn eur() -> Currency {
    Currency::parse("EUR").unwrap()
}

#[test]
fn a_sale_is_paid_once_by_its_claim() {
    let mut t = terminal();
    let shown = t.new_sale(420, eur()).unwrap();
    assert_eq!(shown.sale.counter, 1);
    assert!(shown.lnurl.starts_with("LNURL1"), "{}", shown.lnurl);
    assert!(shown.lud17.starts_with("lnurlp://gw.example/v1/deputy/"), "{}", shown.lud17);
    assert!(shown.lnurl.len() < 200, "{} chars", shown.lnurl.len());
    let keys = TerminalKeys::derive(&MASTER, D);
    let (claim, code) = claim_for(&keys.claim_key, &shown.sale);
    let text = format!("{code} {}", Envelope::DeputyClaim(claim).to_text().unwrap());
    assert_eq!(t.present(ClaimInput::Text(&text)).unwrap(), Presented::Paid(shown.sale));
    assert_eq!(t.present(ClaimInput::Text(&text)).unwrap(), Presented::AlreadyPaid(shown.sale));
    // Survives a reboot, and is reported for sync until acknowledged.
    let mut t = reopen(t);
    assert_eq!(t.unsynced_paid().unwrap(), vec![shown.sale]);
    t.mark_synced(&[1]).unwrap();
    assert!(t.unsynced_paid().unwrap().is_empty());
    assert_eq!(t.present(ClaimInput::Text(&text)).unwrap(), Presented::AlreadyPaid(shown.sale));
}

#[test]
fn keypad_and_nfc_work() {
    let mut t = terminal();
    let shown = t.new_sale(2100, Currency::SAT).unwrap();
    let keys = TerminalKeys::derive(&MASTER, D);
    let (claim, code) = claim_for(&keys.claim_key, &shown.sale);
    assert_eq!(
        t.present(ClaimInput::Keypad(&code.to_string())).unwrap(),
        Presented::Paid(shown.sale)
    );
    let second = t.new_sale(5, Currency::SAT).unwrap();
    let (claim2, _) = claim_for(&keys.claim_key, &second.sale);
    let nfc = ndef::Message::from_envelope(Envelope::DeputyClaim(claim2)).to_vec().unwrap();
    assert_eq!(t.present(ClaimInput::Ndef(&nfc)).unwrap(), Presented::Paid(second.sale));
    // The first sale's claim still names the first sale only.
    assert_eq!(t.present_claim(&claim).unwrap(), Presented::AlreadyPaid(shown.sale));
}

#[test]
fn brute_force_of_the_code_locks_the_sale_even_across_reboots() {
    let mut t = terminal();
    let shown = t.new_sale(420, eur()).unwrap();
    let keys = TerminalKeys::derive(&MASTER, D);
    let (claim, right) = claim_for(&keys.claim_key, &shown.sale);
    let wrong = |i: u32| ShortCode((right.0 + 1 + i) % 100_000_000);
    for i in 0..3 {
        assert_eq!(
            t.present_code(wrong(i)).unwrap(),
            Presented::Wrong { counter: 1, tries_left: MAX_CODE_TRIES - 1 - i as u8 }
        );
    }
    let mut t = reopen(t); // a reboot does not reset the count
    assert_eq!(t.present_code(wrong(3)).unwrap(), Presented::Wrong { counter: 1, tries_left: 1 });
    assert_eq!(t.present_code(wrong(4)).unwrap(), Presented::LockedOut { counter: 1 });
    // Locked: even the right code is refused now.
    assert_eq!(t.present_code(right).unwrap(), Presented::LockedOut { counter: 1 });
    // The full claim (128-bit MAC) still works.
    assert_eq!(t.present_claim(&claim).unwrap(), Presented::Paid(shown.sale));
}

#[test]
fn claims_for_other_sales_terminals_or_amounts_fail() {
    let mut t = terminal();
    let first = t.new_sale(100, eur()).unwrap();
    let second = t.new_sale(200, eur()).unwrap();
    let keys = TerminalKeys::derive(&MASTER, D);
    // The first sale's claim, edited to name the second sale.
    let (mut claim, _) = claim_for(&keys.claim_key, &first.sale);
    claim.counter = second.sale.counter;
    assert_eq!(t.present_claim(&claim).unwrap(), Presented::Forged { counter: 2 });
    // A claim for the same counter at another terminal.
    let other = TerminalKeys::derive(&MASTER, DeviceId([7; 16]));
    let (foreign, _) =
        claim_for(&other.claim_key, &Sale { device_id: other.device_id, ..second.sale });
    assert_eq!(t.present_claim(&foreign).unwrap(), Presented::OtherTerminal(other.device_id));
    // A sale that was never made here.
    let (future, _) = claim_for(&keys.claim_key, &Sale { counter: 9, ..second.sale });
    assert_eq!(t.present_claim(&future).unwrap(), Presented::UnknownSale(9));
    // The preimage a routing node sees is not a claim, in any form.
    let preimage = preimage_for(&MASTER, &second.sale);
    let hex: String = preimage.iter().map(|b| format!("{b:02x}")).collect();
    assert!(t.present(ClaimInput::Text(&hex)).is_err());
    let as_claim =
        DeputyClaim { device_id: D, counter: 2, tag: preimage[..16].try_into().unwrap() };
    assert_eq!(t.present_claim(&as_claim).unwrap(), Presented::Forged { counter: 2 });
    assert_eq!(
        t.present(ClaimInput::Keypad("12")).map_err(|e| e.to_string()).unwrap_err(),
        "not a claim or code: expected 8 digits"
    );
}

#[test]
fn the_counter_is_on_flash_before_the_qr_and_never_reused_after_a_power_cut() {
    let mut t = terminal();
    t.new_sale(1, Currency::SAT).unwrap();
    // Power goes right after the counter bit is cleared (1 flip), while recording the sale.
    t.flash_mut().set_power_cut(Some(PowerCut { after_bit_flips: 1, order: BitOrder::LowFirst }));
    assert!(matches!(t.new_sale(2, Currency::SAT), Err(DeputyTerminalError::Flash(_))));
    let mut t = reopen(t);
    assert_eq!(t.counter(), 2, "the reserved counter stays used");
    assert_eq!(t.slot(2).unwrap(), None, "the torn record is ignored (never shown)");
    let next = t.new_sale(3, Currency::SAT).unwrap();
    assert_eq!(next.sale.counter, 3, "a fresh counter: no nonce reuse");
    // Power goes before the counter bit is cleared: nothing was shown, the counter is free.
    t.flash_mut().set_power_cut(Some(PowerCut { after_bit_flips: 0, order: BitOrder::LowFirst }));
    assert!(t.new_sale(4, Currency::SAT).is_err());
    let mut t = reopen(t);
    assert_eq!(t.new_sale(4, Currency::SAT).unwrap().sale.counter, 4);
}

#[test]
fn images_of_other_devices_are_refused_and_files_persist() {
    let t = terminal();
    let flash = t.into_flash().reboot();
    let other = TerminalKeys::derive(&MASTER, DeviceId([1; 16]));
    assert!(matches!(
        DeputyTerminal::open(other, "https://gw", flash),
        Err(DeputyTerminalError::WrongImage(_))
    ));
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("deputy.flash");
    let keys = TerminalKeys::derive(&MASTER, D);
    let mut t = DeputyTerminal::open(
        keys.clone(),
        "https://gw",
        FileFlash::open(&path, FLASH_LEN).unwrap(),
    )
    .unwrap();
    t.new_sale(7, Currency::SAT).unwrap();
    drop(t);
    let mut t =
        DeputyTerminal::open(keys, "https://gw", FileFlash::open(&path, FLASH_LEN).unwrap())
            .unwrap();
    assert_eq!(t.counter(), 1);
    assert_eq!(t.pending().unwrap().map(|s| s.sale.amount), Some(7));
}
