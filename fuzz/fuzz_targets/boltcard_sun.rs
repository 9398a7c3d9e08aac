//! Fuzz Bolt Card SUN verification: any `p` ‖ `c` under fixed keys must give a typed answer,
//! never a panic (`lnedge_proto::payer::fuzz::sun`).
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    lnedge_proto::payer::fuzz::sun(data);
});
