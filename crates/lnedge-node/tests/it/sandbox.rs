//! The conformance suite on the sandbox network (written next).
