//! # lnedge-device
//!
//! The device runtime on top of `lnedge-proto`: a flash-style persistent claim ledger, the vend
//! state machine, offline transports (QR text, NFC NDEF files, keypad) and a simulator. A device
//! never opens a network socket.
//!
//! This crate is filled by the invoice-pool work; it holds no code yet.
