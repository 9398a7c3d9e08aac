//! # lnedge-device
//!
//! The device runtime on top of `lnedge-proto`.
//!
//! * [`flash`] — a NOR-flash model (bits can only be cleared without an erase): the [`Flash`]
//!   trait, a file-backed [`FlashImage`] that fsyncs every write, an in-memory [`MemFlash`], and a
//!   [`PowerCut`] fault injector that stops a write after a chosen number of bit flips.
//! * [`ledger`] — [`PersistentLedger`]: the pure claim ledger of `lnedge_proto::ledger` persisted
//!   on a [`Flash`], every write read back before the call returns, and the claims left pending
//!   by a crash reported on open ([`PersistentLedger::pending_after_crash`]).
//!
//! * [`machine`] — [`VendingMachine`]: a verified invoice pool, the ledger and a [`Dispenser`];
//!   offers invoices, accepts payment proofs ([`claim`]), vends exactly once, and produces a
//!   [`voucher::RefundVoucher`] when the motor fails.
//!
//! * [`deputy`] — [`deputy::DeputyTerminal`]: an offline point of sale for any amount, checking
//!   the claim a customer's LNURL wallet decrypts after paying (the only mode with a secret).
//!
//! * [`simulator`] — the simulator behind `lnedge device simulate`: a vending machine or a deputy
//!   terminal driven by text commands from any `BufRead`, answering on any `Write`
//!   ([`simulator::run`]), with a typed [`simulator::SimulatorError`].
//!
//! * [`wallet`] — [`wallet::WalletDevice`]: the threshold wallet's device, which holds its
//!   channel's funding key 2-of-2 with its gateway and co-signs only what its owner's policy
//!   allows (`docs/wallet.md`).
//!
//! A device never opens a network socket, except the wallet device, whose gateway asks it to
//! co-sign over one. See `docs/protocols/ledger.md` for the encoding and the crash rules.

pub mod card;
pub use lnedge_device_core::claim;
pub mod deputy;
pub mod flash;
pub mod ledger;
pub mod machine;
pub mod payer;
pub mod simulator;
pub mod voucher;
pub mod wallet;

pub use flash::{BitOrder, Flash, FlashError, FlashImage, MemFlash, PowerCut};
pub use ledger::{PersistentLedger, PersistentLedgerError};
pub use lnedge_device_core::vend::Refusal;
pub use machine::{
    DispenseFailure, Dispenser, Enrolment, Offer, ProductInfo, SimulatedMotor, SyncBatch,
    SyncReport, VendError, VendOutcome, VendingMachine,
};
