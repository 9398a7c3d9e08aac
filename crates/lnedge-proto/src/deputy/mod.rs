//! Deputy sales (PROTOCOLS.md §2, D1): per-purpose device keys, the sealed sale payload and the
//! claim derivation, all `no_std`. Issue #6 builds them here.
