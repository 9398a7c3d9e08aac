//! # lnedge-cln-plugin
//!
//! Core Lightning has no hold invoices and signs only invoices whose preimage it knows and whose
//! description it hashes itself. lnedge needs invoices for a hash whose preimage it does not
//! know (the async relay), a description *hash* given without its text (LNURL-pay metadata) and
//! a long final CLTV delta, so it ships this small plugin (`lnedge-cln-hold`, ADR 0018):
//!
//! * [`wire`]: the JSON-RPC methods it adds to lightningd, the one contract between it and
//!   lnedge's CLN backend (`lnedge_node::cln`), which depends on this crate without the
//!   `plugin` feature for just that;
//! * [`plugin`] (feature `plugin`, on by default): the methods, the `htlc_accepted` hook holding
//!   HTLCs of its invoices, `block_added` failing them back before they expire, state in CLN's
//!   datastore. [`run`] runs it over any pair of byte streams: lightningd's stdin / stdout in
//!   the binary, a test's pipes in `lnedge-testnodes`' lightningd stand-in.

pub mod wire;

#[cfg(feature = "plugin")]
pub mod plugin;

#[cfg(feature = "plugin")]
pub use plugin::book::{DEFAULT_CLTV, FAILBACK_BLOCKS};
#[cfg(feature = "plugin")]
pub use plugin::{run, run_embedded};
