//! The airlock verdict store (work in progress).
