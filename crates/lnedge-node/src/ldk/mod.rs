//! Embedded ldk-node backend (being written).
