//! Fuzz the offline envelope's ndef decoder: no input may panic, and whatever decodes must
//! round-trip losslessly (checked inside `lnedge_proto::envelope::fuzz::ndef`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lnedge_proto::envelope::fuzz::ndef(data);
});
