//! Proofs of payment (PROTOCOLS.md §6): `(invoice, preimage)`, where the invoice's payment secret
//! is what routing nodes never see. Issue #5 builds the format and its verification here.
