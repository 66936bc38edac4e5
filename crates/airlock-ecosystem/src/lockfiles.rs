//! Lockfiles through the seam: which ecosystem a lockfile belongs to, the lockfiles of a
//! directory, and `airlock audit` of either — the audit's checks
//! ([`airlock_static::audit`]) know no ecosystem; each [`PackageEcosystem`] names its
//! lockfiles, their formats and its registry.

use std::path::{Path, PathBuf};

use airlock_static::audit::{self, AuditError, AuditOptions, AuditReport, OsvDb, RegistryFacts};
use airlock_static::lockfile::LockfileFormat;

use crate::seam::{all, PackageEcosystem};

/// Every lockfile name a directory is searched for, ecosystem by ecosystem.
pub fn lockfile_names() -> Vec<&'static str> {
    all()
        .iter()
        .flat_map(|e| e.lockfiles().iter().copied())
        .collect()
}

/// The ecosystem a lockfile belongs to and its format, by file name (case-insensitive).
pub fn lockfile_format(path: &Path) -> Option<(&'static dyn PackageEcosystem, LockfileFormat)> {
    let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
    all()
        .into_iter()
        .find_map(|e| e.lockfile_format(&name).map(|f| (e, f)))
}

/// The known lockfiles directly inside `dir`.
pub fn lockfiles_in(dir: &Path) -> Vec<PathBuf> {
    all().iter().flat_map(|e| e.lockfiles_in(dir)).collect()
}

/// Loads a local OSV export, indexing the records of every ecosystem airlock knows.
pub fn osv_db(path: &Path) -> Result<OsvDb, AuditError> {
    let facts: Vec<&RegistryFacts> = all().iter().map(|e| e.registry()).collect();
    OsvDb::load(path, &facts)
}

/// Audits one lockfile, or every known lockfile directly inside a directory.
pub fn audit_path(path: &Path, opts: &AuditOptions) -> Result<AuditReport, AuditError> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let v = lockfiles_in(path);
        if v.is_empty() {
            return Err(AuditError::NoLockfile {
                path: path.into(),
                looked_for: lockfile_names().join(", "),
            });
        }
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut known = Vec::with_capacity(files.len());
    for f in files {
        let Some((eco, format)) = lockfile_format(&f) else {
            return Err(AuditError::UnknownFormat { path: f });
        };
        known.push((f, format, eco.registry()));
    }
    audit::audit_files(&known, opts)
}

/// Audits lockfile `text`; `path` picks the ecosystem and format by file name and names
/// the findings. `(entries read, findings)`.
pub fn audit_text(
    path: &Path,
    text: &str,
    opts: &AuditOptions,
) -> Result<(usize, Vec<audit::AuditFinding>), AuditError> {
    let Some((eco, format)) = lockfile_format(path) else {
        return Err(AuditError::UnknownFormat { path: path.into() });
    };
    audit::audit_lockfile(path, text, format, eco.registry(), opts)
}
