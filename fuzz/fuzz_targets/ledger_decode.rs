//! Fuzz the claim-ledger image decoder and every transition on whatever it accepts: no input may
//! panic, and a computed change set must only clear bits.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lnedge_proto::ledger::decode_image;

fuzz_target!(|data: &[u8]| {
    let Ok(ledger) = decode_image(data) else { return };
    let _ = ledger.counts();
    let _ = ledger.pending().count();
    let n = ledger.entry_count();
    for index in 0..n.min(64).saturating_add(1) {
        let _ = ledger.reading(index);
        for change in [ledger.offer(index), ledger.claim(index), ledger.dispensed(index), ledger.failed(index)]
            .into_iter()
            .flatten()
        {
            assert_eq!(change.value & !change.old, 0, "a transition may only clear bits");
        }
    }
});
