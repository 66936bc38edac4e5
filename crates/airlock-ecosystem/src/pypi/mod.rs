//! PyPI artifacts on the host, without ever running them: reading a wheel's or an sdist's
//! metadata in memory (PKG-INFO / `*.dist-info/METADATA`, `pyproject.toml`
//! `[build-system]`, `top_level.txt` / RECORD), picking and fetching the artifact
//! `pip install name==version` would install on the sandbox's CPython 3.11 manylinux
//! x86_64 interpreter with its sha256 verified, and filling a wheelhouse with every build
//! and runtime requirement as wheels only (`pip download --only-binary=:all:` never runs
//! `setup.py`), so the sandbox's `pip install --no-index --find-links` works offline.
//! Requirement sets resolved recently come from a host-side [`WheelCache`] instead of
//! pip (seconds per scan otherwise).
//!
//! Spec syntax: `pypi:name==version` or `pypi:name` (latest). The `pypi:` prefix is
//! required, since `name==version` next to npm's `name@version` would be ambiguous.
//!
//! In the sandbox the install is then, offline:
//! `pip install --no-index --find-links <wheelhouse> --use-pep517 <artifact>` in a fresh
//! venv; `--use-pep517` makes pip build a `setup.py`-only sdist in an isolated
//! environment filled from the wheelhouse ([`DEFAULT_BUILD_REQUIRES`]), so `setup.py`
//! really runs. Give the artifact the name [`install_file_name`] returns (the corpus
//! holds wheels named `.tar.gz`).

/// The PyPI index airlock talks to unless told otherwise (JSON API at `/pypi/…/json`,
/// simple API at `/simple/`).
pub const DEFAULT_INDEX: &str = "https://pypi.org";

/// Largest artifact airlock accepts.
const MAX_ARTIFACT: u64 = 512 << 20;
/// Largest metadata-ish file read out of an archive (PKG-INFO, pyproject.toml, RECORD).
const MAX_META_FILE: u64 = 16 << 20;

/// Build requirements pip assumes for a `setup.py` project without a
/// `[build-system]` table (PEP 518's fallback).
pub const DEFAULT_BUILD_REQUIRES: [&str; 2] = ["setuptools>=40.8.0", "wheel"];

/// Directories of an sdist that are never the distribution's importable top level.
const NOT_TOP_LEVEL: [&str; 9] = [
    "test",
    "tests",
    "docs",
    "doc",
    "examples",
    "build",
    "dist",
    "benchmarks",
    "scripts",
];

/// What kind of Python artifact a file is, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ArtifactKind {
    /// `.whl`
    Wheel,
    /// `.tar.gz` (or `.tgz`) source distribution.
    SdistTarGz,
    /// `.zip` source distribution.
    SdistZip,
}

impl ArtifactKind {
    /// The kind a file name implies, if any.
    pub fn from_file_name(name: &str) -> Option<Self> {
        let lower = name.to_ascii_lowercase();
        if lower.ends_with(".whl") {
            Some(ArtifactKind::Wheel)
        } else if lower.ends_with(".tar.gz") || lower.ends_with(".tgz") {
            Some(ArtifactKind::SdistTarGz)
        } else if lower.ends_with(".zip") {
            Some(ArtifactKind::SdistZip)
        } else {
            None
        }
    }

    pub fn is_sdist(self) -> bool {
        !matches!(self, ArtifactKind::Wheel)
    }
}

/// What airlock needs to know about a Python distribution before running it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PyMeta {
    /// Name as written in the metadata.
    pub name: String,
    /// PEP 503 normalized name (`Foo_Bar.baz` → `foo-bar-baz`).
    pub normalized_name: String,
    pub version: String,
    /// `Requires-Dist` lines as written (markers included).
    pub requires_dist: Vec<String>,
    pub requires_python: Option<String>,
    /// What pip's build isolation installs before building an sdist: `pyproject.toml`
    /// `[build-system].requires`, or [`DEFAULT_BUILD_REQUIRES`] for a `setup.py` project
    /// without one. Empty for wheels.
    pub build_requires: Vec<String>,
    /// `[build-system].build-backend`, when declared.
    pub build_backend: Option<String>,
    /// Importable top-level modules/packages the distribution installs (valid Python
    /// identifiers only, so they are safe to put on a command line). Wheels: RECORD and
    /// top_level.txt; sdists: egg-info top_level.txt or a best-effort look at the tree.
    pub top_level: Vec<String>,
    /// `.pth` files a wheel installs into site-packages (they run at every start).
    pub pth_files: Vec<String>,
    pub has_setup_py: bool,
    pub has_pyproject: bool,
    pub kind: ArtifactKind,
    /// True when the archive had no PKG-INFO and name/version come from its file name
    /// (hand-made sdists with only a `setup.py`).
    pub metadata_from_file_name: bool,
}

/// PEP 503 normalization: lowercase, runs of `-`, `_`, `.` become one `-`.
pub fn normalize_name(name: &str) -> String {
    let mut out = String::with_capacity(name.len());
    let mut sep = false;
    for c in name.trim().chars() {
        if matches!(c, '-' | '_' | '.') {
            sep = true;
        } else {
            if sep && !out.is_empty() {
                out.push('-');
            }
            sep = false;
            out.extend(c.to_lowercase());
        }
    }
    out
}

/// Parses `pypi:name==version` or `pypi:name` (latest). Returns the name and the exact
/// version, `None` for latest. Anything without the `pypi:` prefix is not a PyPI spec.
pub fn parse_spec(spec: &str) -> Option<(String, Option<String>)> {
    let rest = spec.strip_prefix("pypi:")?;
    let (name, version) = match rest.split_once("==") {
        Some((n, v)) => (n.trim(), Some(v.trim())),
        None => (rest.trim(), None),
    };
    let name_ok = !name.is_empty()
        && name.len() <= 200
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        && name.starts_with(|c: char| c.is_ascii_alphanumeric())
        && name.ends_with(|c: char| c.is_ascii_alphanumeric());
    if !name_ok {
        return None;
    }
    match version {
        None => Some((name.to_string(), None)),
        Some(v) if crate::validate::pypi_version("the version", v).is_ok() => {
            Some((name.to_string(), Some(v.to_string())))
        }
        Some(_) => None,
    }
}

mod cache;
mod download;
mod index;
mod install_report;
mod metadata;
pub mod plan;
pub mod published;
mod tags;
#[cfg(test)]
mod tests;

pub use cache::*;
pub use download::*;
pub use index::*;
pub use install_report::*;
pub use metadata::*;
pub use tags::*;

/// The PyPI ecosystem (see [`crate::PackageEcosystem`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Pypi;

/// The PyPI ecosystem.
pub static PYPI: Pypi = Pypi;

/// PyPI, as the lockfile audit checks sources against it.
pub static REGISTRY: airlock_static::audit::RegistryFacts = airlock_static::audit::RegistryFacts {
    osv_ecosystem: "PyPI",
    default_hosts: &["pypi.org", "files.pythonhosted.org", "pypi.python.org"],
    file_hosts: &[("pypi.org", "files.pythonhosted.org")],
    registry_url_markers: &["/packages/", "/simple"],
    normalize_name,
};
