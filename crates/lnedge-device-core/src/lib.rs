//! # lnedge-device-core
//!
//! What every lnedge vending device runs, whatever it runs on: `no_std`, no heap, shared by the
//! std runtime (`lnedge-device`, its simulator and tests) and the Cortex-M firmware
//! (`firmware/`), so that all three run the same code on the path that hands out goods.
//!
//! * [`nor`] — one byte at a time on NOR flash that may be programmed again between erases
//!   (`embedded_storage::nor_flash::MultiwriteNorFlash`): the ledger's only kind of write.
//! * [`ledger`] — [`FlashLedger`]: the pure claim ledger of `lnedge_proto::ledger` kept on such a
//!   flash, every transition programmed and **read back** before it counts; the claims a power
//!   cut left pending are found again on open.
//! * [`claim`] — what a customer presents (QR text, keypad, NFC NDEF) decoded into a claim.
//! * [`deputy`] — [`deputy::DeputyTerminal`]: the offline point of sale for any amount (sealed
//!   sale links, claims and 8-digit codes with a lockout counted on flash).
//! * [`vend`] — the sale: which entry to offer, which entry a claim pays, and the one sequence
//!   that may run the motor ([`vend::vend`]: claim on flash, read back, motor, outcome).
//!
//! See `docs/protocols/ledger.md` for the encoding and the crash rules, `docs/firmware.md` for
//! the firmware built on this crate.

#![cfg_attr(not(any(feature = "std", test)), no_std)]

pub mod claim;
pub mod deputy;
pub mod ledger;
pub mod nor;
pub mod vend;

pub use claim::{parse_claim, ClaimInput, ClaimParseError};
pub use ledger::{FlashLedger, StoreError};
pub use vend::{Refusal, VendFailure, Vended};
