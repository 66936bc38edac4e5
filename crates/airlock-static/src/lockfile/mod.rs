//! Lockfile parsers that other parts of airlock build on: the install wrapper reads the
//! packages an install will fetch from them, `airlock audit` checks where each comes from.
//! One parser per format, so the wrapper and the audit never disagree about what a
//! lockfile says. Each parser keeps the 1-based line of every entry (SARIF points at it)
//! and runs in time linear in the file (a 100k-entry package-lock in about a second).
//!
//! A parser that meets something it does not understand records a [`Problem`] instead
//! of skipping it: a lockfile read only in part must never look clean.

pub mod npm;

pub use npm::{NpmLockEntry, NpmLockfile};

/// Something in a lockfile the parser did not understand, or that two readers of the
/// format would read differently.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Problem {
    /// 1-based line, when known.
    pub line: Option<u32>,
    /// The package or key concerned.
    pub subject: String,
    pub message: String,
}

/// Errors of the lockfile parsers: only for text that is not the format at all.
#[derive(Debug, thiserror::Error)]
pub enum LockfileError {
    #[error("not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
    #[error("not a lockfile: {0}")]
    NotALockfile(String),
}
