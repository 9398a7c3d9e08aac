//! Fuzz the peer message decoders (`initiate_payment`, `reject_payment`): no input may panic,
//! and whatever parses must round-trip (checked inside `lnedge_proto::payer::fuzz::peer`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lnedge_proto::payer::fuzz::peer(data);
});
