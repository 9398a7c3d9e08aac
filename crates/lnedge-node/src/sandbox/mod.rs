//! The sandbox network (being written).
