//! # lnedge-proto
//!
//! The wire formats and cryptography of every lnedge mechanism, as a `no_std` sans-I/O library:
//! time, randomness and bytes are arguments; nothing here reads a clock, a file or a socket. It
//! builds for bare-metal targets (`thumbv7em-none-eabihf`) without `alloc`; the `alloc` feature
//! adds builders and owned encoders, `std` (default) links the standard library. Every error type
//! implements `core::error::Error`, with or without `std`.
//!
//! * [`pool`] — invoice pools: the owner's node pre-signs invoices, the device stores only what
//!   differs between them and rebuilds each BOLT 11 string byte for byte; it holds no secret.
//! * [`ledger`] — the claim ledger: a pure state machine (unused → offered → claimed →
//!   dispensed | failed) whose transitions are monotone flash writes.
//! * [`envelope`] — the offline data transmission envelope (`type ‖ payload`) with QR and NFC
//!   NDEF encodings.
//! * [`proof`] — proofs of payment that routing nodes cannot forge.
//! * [`deputy`] — deputy sales: any amount, sold offline, verified with a per-device key.
//!
//! Every decoder returns a typed error and never panics on any input (fuzzed).

#![cfg_attr(not(feature = "std"), no_std)]

#[cfg(feature = "alloc")]
extern crate alloc;

mod ids;
pub use ids::{DeviceId, PoolId};

pub mod boltcard;
pub mod deputy;
pub mod envelope;
pub mod ledger;
pub mod payer;
pub mod pool;
pub mod proof;
