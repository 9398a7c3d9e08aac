//! Fuzz the deputy sale payload decoder: no input may panic, and whatever opens must re-seal to
//! exactly the input (checked inside `lnedge_proto::deputy::fuzz::open`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lnedge_proto::deputy::fuzz::open(data);
});
