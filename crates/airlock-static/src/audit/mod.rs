//! Lockfile audit: what a lockfile says about where code comes from, before anything is
//! installed. Git refs (Shai-Hulud spread through `optionalDependencies` on `github:`
//! commits), tarballs from outside the registry, `http:` URLs, missing or sha1-only
//! integrity, foreign registries, unpinned or unhashed Python requirements, and versions
//! a local OSV export calls malicious.
//!
//! Each finding has a stable kebab-case code (see [`codes`]), a severity, the lockfile
//! and the 1-based line of the entry so SARIF can point at it. The lockfiles are read by
//! the parsers of [`crate::lockfile`] (line-aware on purpose: line numbers are the point,
//! and serde parsers drop them); requirements files line by line
//! ([`requirements`](self::requirements)). Whatever a parser does not understand is a
//! `lockfile-not-understood` finding (high): a lockfile read in part is never clean.
//! Every parser is linear in the file (see `benches/audit.rs`).
//!
//! This module knows no ecosystem: which file names are which format, and what the
//! ecosystem's registry looks like ([`RegistryFacts`]), come from the ecosystem seam
//! (`airlock_ecosystem`'s `PackageEcosystem`), which also finds the lockfiles of a
//! directory.

use std::path::{Path, PathBuf};

use airlock_events::Severity;
use serde::{Deserialize, Serialize};

use crate::lockfile::LockfileFormat;

mod checks;
mod osv;
mod requirements;

use checks::{host_of, Ctx};
pub use osv::{cmp_version, OsvDb};

/// Stable finding codes.
pub mod codes {
    pub const GIT_DEPENDENCY: &str = "git-dependency";
    pub const GIT_REF_NOT_TAG: &str = "git-ref-not-tag";
    pub const OPTIONAL_GIT_DEPENDENCY: &str = "optional-git-dependency";
    pub const NON_REGISTRY_TARBALL: &str = "non-registry-tarball";
    pub const INSECURE_HTTP: &str = "insecure-http";
    pub const MISSING_INTEGRITY: &str = "missing-integrity";
    pub const WEAK_INTEGRITY_SHA1: &str = "weak-integrity-sha1";
    pub const FOREIGN_REGISTRY: &str = "foreign-registry";
    pub const UNPINNED_REQUIREMENT: &str = "unpinned-requirement";
    pub const MISSING_HASH: &str = "missing-hash";
    pub const KNOWN_MALICIOUS: &str = "known-malicious";
    /// The parser met something it does not understand (an entry it could not read, a
    /// format mixing yarn v1 and berry syntax, package-lock sections that disagree): the
    /// lockfile was read only in part, so it is never reported clean.
    pub const LOCKFILE_NOT_UNDERSTOOD: &str = "lockfile-not-understood";
}

/// What the audit needs to know of an ecosystem's registry, given by the ecosystem (the
/// audit itself names none).
#[derive(Debug, Clone, Copy)]
pub struct RegistryFacts {
    /// The ecosystem's name in OSV records (`npm`, `PyPI`).
    pub osv_ecosystem: &'static str,
    /// Hosts of the public registry: sources elsewhere are `foreign-registry` or
    /// `non-registry-tarball` unless `--registry` names them.
    pub default_hosts: &'static [&'static str],
    /// (registry host, host serving its files): with `--registry` naming the first, the
    /// second is the same registry.
    pub file_hosts: &'static [(&'static str, &'static str)],
    /// URL parts that make a download registry-shaped (a foreign registry rather than a
    /// stray tarball).
    pub registry_url_markers: &'static [&'static str],
    /// A package name as the registry compares names (OSV lookups).
    pub normalize_name: fn(&str) -> String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditFinding {
    pub code: String,
    pub severity: Severity,
    /// The lockfile as given (or joined to the directory given).
    pub lockfile: PathBuf,
    /// 1-based line of the entry.
    pub line: Option<u32>,
    pub package: String,
    pub version: Option<String>,
    pub message: String,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AuditReport {
    pub lockfiles: Vec<PathBuf>,
    /// Package entries read, over all lockfiles.
    pub packages: usize,
    pub findings: Vec<AuditFinding>,
}

impl AuditReport {
    pub fn count(&self, code: &str) -> usize {
        self.findings.iter().filter(|f| f.code == code).count()
    }
}

#[derive(Debug, Clone, Default)]
pub struct AuditOptions {
    /// The registry the project is meant to use (default: the public npm registry and
    /// PyPI); tarballs and indexes elsewhere are `foreign-registry`.
    pub registry: Option<String>,
    pub osv: Option<OsvDb>,
}

#[derive(Debug, thiserror::Error)]
pub enum AuditError {
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Parse { path: PathBuf, message: String },
    #[error("{path}: no lockfile found (looked for {looked_for})")]
    NoLockfile { path: PathBuf, looked_for: String },
    #[error("{path}: not a lockfile airlock knows")]
    UnknownFormat { path: PathBuf },
    #[error("OSV export {path}: {message}")]
    Osv { path: PathBuf, message: String },
}

/// Audits lockfile `text` of `format`, from an ecosystem whose registry `eco` describes;
/// `path` names the findings. `(entries read, findings)`.
pub fn audit_lockfile(
    path: &Path,
    text: &str,
    format: LockfileFormat,
    eco: &RegistryFacts,
    opts: &AuditOptions,
) -> Result<(usize, Vec<AuditFinding>), AuditError> {
    if format == LockfileFormat::Requirements {
        let reg = opts.registry.as_deref().and_then(host_of);
        return Ok(requirements::requirements(
            path,
            text,
            eco,
            reg.as_deref(),
            opts.osv.as_ref(),
        ));
    }
    let (entries, problems) = format.read(text).map_err(|message| AuditError::Parse {
        path: path.into(),
        message,
    })?;
    let mut ctx = Ctx {
        lockfile: path,
        eco,
        registry_host: opts.registry.as_deref().and_then(host_of),
        osv: opts.osv.as_ref(),
        out: Vec::new(),
    };
    for p in &problems {
        ctx.out.push(AuditFinding {
            code: codes::LOCKFILE_NOT_UNDERSTOOD.to_string(),
            severity: Severity::High,
            lockfile: path.to_path_buf(),
            line: p.line,
            package: p.subject.clone(),
            version: None,
            message: format!("lockfile not fully understood: {}", p.message),
        });
    }
    for e in &entries {
        ctx.check(e);
    }
    Ok((entries.len(), ctx.out))
}

/// Audits lockfiles, each with its format and its ecosystem's registry, into one report.
pub fn audit_files(
    files: &[(PathBuf, LockfileFormat, &RegistryFacts)],
    opts: &AuditOptions,
) -> Result<AuditReport, AuditError> {
    let mut report = AuditReport::default();
    for (f, format, eco) in files {
        let text = std::fs::read_to_string(f).map_err(|source| AuditError::Io {
            path: f.clone(),
            source,
        })?;
        let (n, findings) = audit_lockfile(f, &text, *format, eco, opts)?;
        report.packages += n;
        report.findings.extend(findings);
        report.lockfiles.push(f.clone());
    }
    Ok(report)
}

#[cfg(test)]
mod tests {
    use super::checks::{git_ref, ref_is_tag};
    use super::*;

    #[test]
    fn versions_compare() {
        use std::cmp::Ordering::*;
        assert_eq!(cmp_version("1.10.0", "1.9.9"), Greater);
        assert_eq!(cmp_version("1.0.0-beta", "1.0.0"), Less);
        assert_eq!(cmp_version("2.0", "2.0.0"), Equal);
    }

    #[test]
    fn names_and_refs() {
        assert!(
            ref_is_tag("v1.2.3")
                && ref_is_tag("semver:^1.0")
                && !ref_is_tag("main")
                && !ref_is_tag("8f3b2c1")
        );
        assert_eq!(git_ref("git+https://h/r.git@v2.0"), Some("v2.0"));
        assert_eq!(git_ref("git+https://h/r?rev=abc#abcdef"), Some("abcdef"));
    }
}
