//! # lnedge-node
//!
//! The [`LightningBackend`] contract — the only way lnedge talks to a Lightning node — and its
//! implementations:
//!
//! * `sandbox` (cargo feature `sandbox`): an in-process network of real LDK nodes connected over loopback TCP, with a
//!   simulated chain. The embedded default for `lnedge demo`, the tests and the benchmarks.
//! * [`lnd`] and [`cln`]: the operator's own LND or Core Lightning.
//! * [`ldk`]: embedded [ldk-node](https://docs.rs/ldk-node) with an esplora, electrum or
//!   bitcoind chain source: the production node for operators who don't run their own.
//!
//! Shared by all implementations: typed [errors](error) with transient/permanent kinds, the
//! [event](event) stream, and the durable [store] that makes invoice creation idempotent and the
//! event queue survive restarts, and [private files](private_fs) (directories 0700, files 0600)
//! for everything that holds a secret.

pub mod backend;
pub mod cln;
pub mod error;
pub mod event;
pub mod group_commit;
pub mod ldk;
pub mod lnd;
pub mod private_fs;
#[cfg(feature = "sandbox")]
pub mod sandbox;
pub mod store;

pub use backend::{
    check_pay_request, parse_invoice, InvoiceDescription, InvoiceParams, InvoiceState,
    LightningBackend, Liquidity, NodeInfo, PayRequest, PaymentOutcome, PaymentStatus,
};
pub use error::{BackendError, ErrorKind, PayFailure};
pub use event::{BackendEvent, EventId, QueuedEvent};

/// Re-exported so callers use the same types as the backends.
pub use bitcoin;
/// Re-exported so callers use the same invoice type as the backends.
pub use lightning_invoice;
/// Re-exported payment hash and preimage types.
pub use lightning_types::payment::{PaymentHash, PaymentPreimage};
