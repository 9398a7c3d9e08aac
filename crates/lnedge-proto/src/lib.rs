//! # lnedge-proto
//!
//! The wire formats and cryptography of every lnedge mechanism, as a `no_std` (+ `alloc`)
//! sans-I/O library: time, randomness and bytes are arguments, nothing here reads a clock or a
//! socket. It builds for bare-metal targets such as `thumbv7em-none-eabihf`.
//!
//! This crate is filled by the invoice-pool work (pool format, claim ledger, offline envelope)
//! and the issues after it; it holds no code yet.

#![no_std]
