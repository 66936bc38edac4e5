//! Lockfile parsers that other parts of airlock build on: the install wrapper reads the
//! packages an install will fetch from them, `airlock audit` checks where each comes from.
//! One parser per format, so the wrapper and the audit never disagree about what a
//! lockfile says. Each parser keeps the 1-based line of every entry (SARIF points at it)
//! and runs in time linear in the file (a 100k-entry package-lock in about a second).
//!
//! A parser that meets something it does not understand records a [`Problem`] instead
//! of skipping it: a lockfile read only in part must never look clean.
//!
//! - [`npm`]: package-lock / shrinkwrap v1-v3, the full model the install wrapper needs
//!   ([`NpmLockfile`]: entries with install flags, dependency paths, artifacts);
//! - [`yarn`] (v1 and berry), [`pnpm`] and [`bun`] (`bun.lock`): [`LockedPackage`]s with where each comes from;
//! - [`python`]: `poetry.lock` and `uv.lock`.
//!
//! Requirements files are read line by line by [`crate::audit`]. Which file names have
//! which [`LockfileFormat`] is the ecosystem seam's knowledge, not this module's.

pub mod bun;
pub mod npm;
pub mod pnpm;
pub mod python;
pub mod yarn;

pub use npm::{NpmLockEntry, NpmLockfile};

/// What reading a lockfile gives: the packages it pins (each with its line) and what the
/// parser did not understand.
pub type ReadLockfile = (Vec<LockedPackage>, Vec<Problem>);

/// A lockfile format airlock reads.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum LockfileFormat {
    /// `package-lock.json` / `npm-shrinkwrap.json` (v1-v3).
    PackageLock,
    /// `yarn.lock`, classic and berry.
    YarnLock,
    /// `pnpm-lock.yaml`.
    PnpmLock,
    /// `bun.lock` (the text lockfile of Bun 1.2 and later).
    BunLock,
    /// `poetry.lock`.
    PoetryLock,
    /// `uv.lock`.
    UvLock,
    /// `requirements*.txt`: audited line by line ([`crate::audit`]), not read here.
    Requirements,
}

impl LockfileFormat {
    /// The packages `text` pins, and what the parser did not understand; `Err` when the
    /// text is not the format at all (and for [`LockfileFormat::Requirements`], whose
    /// options only its audit reads).
    pub fn read(self, text: &str) -> Result<ReadLockfile, String> {
        match self {
            LockfileFormat::PackageLock => npm::read_package_lock(text).map_err(|e| e.to_string()),
            LockfileFormat::YarnLock => Ok(yarn::parse(text)),
            LockfileFormat::PnpmLock => Ok(pnpm::parse(text)),
            LockfileFormat::BunLock => bun::parse(text),
            LockfileFormat::PoetryLock => python::parse_poetry(text).map(|e| (e, Vec::new())),
            LockfileFormat::UvLock => python::parse_uv(text).map(|e| (e, Vec::new())),
            LockfileFormat::Requirements => {
                Err("a requirements file is audited line by line, not read as a lockfile".into())
            }
        }
    }
}

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

/// One resolved package as any lockfile records it: what `airlock audit` checks.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct LockedPackage {
    pub name: String,
    pub version: Option<String>,
    /// Where the bytes come from: tarball URL, git URL, path.
    pub resolved: Option<String>,
    pub integrity: Option<String>,
    /// 1-based line of the entry.
    pub line: Option<u32>,
    pub optional: bool,
    /// The spec the user wrote (`github:a/b#v1`), when the lockfile keeps it.
    pub spec: Option<String>,
    /// Local path / workspace link: nothing to verify.
    pub local: bool,
}

/// Whether a spec or URL points at a git repository.
pub fn is_git(s: &str) -> bool {
    let l = s.to_ascii_lowercase();
    l.starts_with("git+")
        || l.starts_with("git://")
        || l.starts_with("github:")
        || l.starts_with("gitlab:")
        || l.starts_with("bitbucket:")
        || l.contains(".git#")
        || l.ends_with(".git")
        || l.contains("codeload.github.com")
        || l.contains("#commit=")
}
