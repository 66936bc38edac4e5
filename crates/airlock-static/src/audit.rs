//! Lockfile audit (work in progress).
