//! Fuzz the payer token decoder: no input may panic, and whatever parses must round-trip
//! (checked inside `lnedge_proto::payer::fuzz::token`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lnedge_proto::payer::fuzz::token(data);
});
