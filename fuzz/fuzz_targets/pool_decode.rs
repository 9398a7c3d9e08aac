//! Arbitrary bytes → `Pool::parse`; whatever parses must rebuild every entry, find it by hash,
//! and verify signatures without panicking.
#![no_main]

use libfuzzer_sys::fuzz_target;
use lnedge_proto::pool::Pool;

fuzz_target!(|data: &[u8]| {
    let Ok(pool) = Pool::parse(data) else { return };
    let _ = (pool.version(), pool.pool_id(), pool.device_id(), pool.network(), pool.refund_url_base());
    for p in pool.products() {
        let _ = (p.id, p.amount_msat, p.description, p.first_seq, p.entry_count);
    }
    let mut s = String::new();
    let mut n = 0usize;
    for e in pool.entries() {
        s.clear();
        e.write_bolt11(&mut s).expect("writing to a String cannot fail");
        assert!(s.is_ascii());
        assert!(pool.find(e.payment_hash()).is_some());
        assert_eq!(pool.entry(e.index()).map(|x| x.index()), Some(e.index()));
        n += 1;
    }
    assert_eq!(n, pool.len());
    let _ = pool.entry(pool.len());
    let _ = pool.verify_signatures();
});
