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

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use std::path::{Component, Path, PathBuf};
use std::process::Command;

use serde::Deserialize;
use sha2::Digest;

use crate::RegistryError;

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
        Some(v)
            if !v.is_empty()
                && v.len() <= 100
                && v.chars().all(|c| {
                    c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+' | '!')
                }) =>
        {
            Some((name.to_string(), Some(v.to_string())))
        }
        Some(_) => None,
    }
}

/// Parsed RFC 822-style metadata (PKG-INFO / METADATA): header name (lowercased) to all
/// of its values, in order. Continuation lines (starting with whitespace) are joined to
/// the previous value with a newline; the body after the first empty line is ignored.
pub fn parse_email_headers(text: &str) -> BTreeMap<String, Vec<String>> {
    let mut out: BTreeMap<String, Vec<String>> = BTreeMap::new();
    let mut last: Option<String> = None;
    for line in text.lines() {
        let line = line.strip_suffix('\r').unwrap_or(line);
        if line.is_empty() {
            break;
        }
        if line.starts_with([' ', '\t']) {
            if let Some(key) = &last {
                if let Some(v) = out.get_mut(key).and_then(|v| v.last_mut()) {
                    v.push('\n');
                    v.push_str(line.trim());
                }
            }
            continue;
        }
        if let Some((k, v)) = line.split_once(':') {
            let key = k.trim().to_ascii_lowercase();
            out.entry(key.clone())
                .or_default()
                .push(v.trim().to_string());
            last = Some(key);
        } else {
            last = None;
        }
    }
    out
}

/// True when a path inside an archive is absolute or climbs with `..`.
fn unsafe_entry(name: &str) -> bool {
    if name.starts_with('/') || name.starts_with('\\') || name.contains('\0') {
        return true;
    }
    let p = Path::new(name);
    p.components().any(|c| {
        matches!(
            c,
            Component::ParentDir | Component::RootDir | Component::Prefix(_)
        )
    }) || name.split(['/', '\\']).any(|s| s == "..")
}

/// One file of an archive as airlock sees it: its path and, for the few files whose
/// contents matter, the contents.
struct Listing {
    /// Every regular-file path in the archive, `/`-separated.
    files: Vec<String>,
    /// Contents of the interesting files, keyed by path.
    contents: BTreeMap<String, Vec<u8>>,
}

/// Files whose contents matter, wheel or sdist: dist-info METADATA/RECORD/top_level.txt,
/// root PKG-INFO/pyproject.toml/setup.py, egg-info PKG-INFO/top_level.txt/requires.txt.
fn interesting(name: &str) -> bool {
    let depth = name.trim_end_matches('/').matches('/').count();
    let base = name.rsplit('/').next().unwrap_or(name);
    (depth == 1
        && name.contains(".dist-info/")
        && matches!(base, "METADATA" | "RECORD" | "top_level.txt"))
        || (depth <= 1 && matches!(base, "PKG-INFO" | "pyproject.toml" | "setup.py"))
        || (depth <= 3
            && name.contains(".egg-info/")
            && matches!(base, "PKG-INFO" | "top_level.txt" | "requires.txt"))
}

fn read_capped(r: &mut dyn Read, path: &Path, entry: &str) -> Result<Vec<u8>, RegistryError> {
    let mut buf = Vec::new();
    r.take(MAX_META_FILE + 1)
        .read_to_end(&mut buf)
        .map_err(|e| RegistryError::BadArtifact {
            path: path.to_path_buf(),
            message: format!("reading {entry}: {e}"),
        })?;
    if buf.len() as u64 > MAX_META_FILE {
        return Err(RegistryError::BadArtifact {
            path: path.to_path_buf(),
            message: format!("{entry} is larger than 16 MiB"),
        });
    }
    Ok(buf)
}

fn list_zip(bytes: &[u8], path: &Path) -> Result<Listing, RegistryError> {
    let bad = |m: String| RegistryError::BadArtifact {
        path: path.to_path_buf(),
        message: m,
    };
    let mut zip = zip::ZipArchive::new(Cursor::new(bytes))
        .map_err(|e| bad(format!("corrupt zip archive: {e}")))?;
    let mut listing = Listing {
        files: Vec::new(),
        contents: BTreeMap::new(),
    };
    for i in 0..zip.len() {
        let mut f = zip
            .by_index(i)
            .map_err(|e| bad(format!("corrupt zip entry #{i}: {e}")))?;
        let name = f
            .name()
            .map_err(|e| bad(format!("zip entry #{i} has a bad name: {e}")))?
            .replace('\\', "/");
        if unsafe_entry(&name) {
            return Err(RegistryError::UnsafeEntry {
                path: path.to_path_buf(),
                entry: name,
            });
        }
        if f.is_dir() {
            continue;
        }
        if interesting(&name) {
            let data = read_capped(&mut f, path, &name)?;
            listing.contents.insert(name.clone(), data);
        }
        listing.files.push(name);
    }
    Ok(listing)
}

fn list_tar_gz(bytes: &[u8], path: &Path) -> Result<Listing, RegistryError> {
    let bad = |m: String| RegistryError::BadArtifact {
        path: path.to_path_buf(),
        message: m,
    };
    let mut ar = tar::Archive::new(flate2::read::GzDecoder::new(Cursor::new(bytes)));
    let mut listing = Listing {
        files: Vec::new(),
        contents: BTreeMap::new(),
    };
    let entries = ar
        .entries()
        .map_err(|e| bad(format!("corrupt tar.gz archive: {e}")))?;
    for entry in entries {
        let mut entry = entry.map_err(|e| bad(format!("corrupt tar.gz archive: {e}")))?;
        let raw = entry.path_bytes();
        let name = String::from_utf8_lossy(&raw).replace('\\', "/");
        let name = name.strip_prefix("./").unwrap_or(&name).to_string();
        if unsafe_entry(&name) {
            return Err(RegistryError::UnsafeEntry {
                path: path.to_path_buf(),
                entry: name,
            });
        }
        let ty = entry.header().entry_type();
        if ty.is_symlink() || ty.is_hard_link() {
            if let Some(target) = entry.link_name_bytes() {
                let target = String::from_utf8_lossy(&target).to_string();
                if ty.is_hard_link() && unsafe_entry(&target) {
                    return Err(RegistryError::UnsafeEntry {
                        path: path.to_path_buf(),
                        entry: format!("{name} -> {target}"),
                    });
                }
            }
            continue;
        }
        if !ty.is_file() {
            continue;
        }
        if interesting(&name) {
            let data = read_capped(&mut entry, path, &name)?;
            listing.contents.insert(name.clone(), data);
        }
        listing.files.push(name);
    }
    if listing.files.is_empty() {
        return Err(bad("the archive holds no files".into()));
    }
    Ok(listing)
}

/// Reads a wheel's or sdist's metadata from the file at `path`, in memory.
pub fn read_metadata(path: &Path) -> Result<PyMeta, RegistryError> {
    let bytes = std::fs::read(path).map_err(|e| RegistryError::Io {
        path: path.to_path_buf(),
        source: e,
    })?;
    let file_name = path
        .file_name()
        .map(|f| f.to_string_lossy().to_string())
        .unwrap_or_default();
    read_metadata_bytes(&file_name, &bytes, path)
}

/// Like [`read_metadata`] on bytes already in memory; `file_name` decides the kind and
/// `path` is only used in errors.
pub fn read_metadata_bytes(
    file_name: &str,
    bytes: &[u8],
    path: &Path,
) -> Result<PyMeta, RegistryError> {
    let named =
        ArtifactKind::from_file_name(file_name).ok_or_else(|| RegistryError::BadArtifact {
            path: path.to_path_buf(),
            message: "not a Python artifact (expected .whl, .tar.gz or .zip)".into(),
        })?;
    // The bytes decide, not the name: sample corpora hold wheels named `.tar.gz`.
    let is_zip = bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06");
    let is_gzip = bytes.starts_with(&[0x1f, 0x8b]);
    let kind = match (is_zip, is_gzip) {
        (true, _) => {
            let listing = list_zip(bytes, path)?;
            let sdist_root = listing.contents.keys().any(|k| {
                k.matches('/').count() <= 1
                    && (k.ends_with("PKG-INFO")
                        || k.ends_with("setup.py")
                        || k.ends_with("pyproject.toml"))
                    && !k.contains(".dist-info/")
            });
            let wheel_meta_present = listing
                .contents
                .keys()
                .any(|k| k.matches('/').count() == 1 && k.ends_with(".dist-info/METADATA"));
            let kind = if named == ArtifactKind::Wheel || (wheel_meta_present && !sdist_root) {
                ArtifactKind::Wheel
            } else {
                ArtifactKind::SdistZip
            };
            return match kind {
                ArtifactKind::Wheel => wheel_meta(&listing, path),
                _ => sdist_meta(&listing, path, file_name, kind),
            };
        }
        (false, true) => ArtifactKind::SdistTarGz,
        _ => named,
    };
    let listing = match kind {
        ArtifactKind::SdistTarGz => list_tar_gz(bytes, path)?,
        _ => list_zip(bytes, path)?,
    };
    match kind {
        ArtifactKind::Wheel => wheel_meta(&listing, path),
        _ => sdist_meta(&listing, path, file_name, kind),
    }
}

/// The file name to give the artifact inside the sandbox so that pip treats it as what
/// its bytes are (a wheel named `.tar.gz` becomes `.whl`); other names are kept.
pub fn install_file_name(file_name: &str, meta: &PyMeta) -> String {
    let named = ArtifactKind::from_file_name(file_name);
    if named == Some(meta.kind) {
        return file_name.to_string();
    }
    let stem = [".tar.gz", ".tgz", ".zip", ".whl"]
        .iter()
        .find_map(|ext| {
            file_name
                .to_ascii_lowercase()
                .ends_with(ext)
                .then(|| &file_name[..file_name.len() - ext.len()])
        })
        .unwrap_or(file_name);
    match meta.kind {
        ArtifactKind::Wheel if stem.matches('-').count() >= 4 => format!("{stem}.whl"),
        ArtifactKind::Wheel => format!(
            "{}-{}-py3-none-any.whl",
            meta.name.replace(['-', '.'], "_"),
            meta.version
        ),
        ArtifactKind::SdistTarGz => format!("{stem}.tar.gz"),
        ArtifactKind::SdistZip => format!("{stem}.zip"),
    }
}

fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

fn first(h: &BTreeMap<String, Vec<String>>, key: &str) -> Option<String> {
    h.get(key)
        .and_then(|v| v.first())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s != "UNKNOWN")
}

fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

fn push_top(out: &mut Vec<String>, name: &str) {
    let name = name.trim();
    if is_identifier(name) && !out.iter().any(|n| n == name) {
        out.push(name.to_string());
    }
}

/// Top-level importable name a site-packages-relative path installs, if any.
fn top_of_installed_path(p: &str) -> Option<String> {
    let p = p.trim_start_matches("./");
    let (first, rest) = match p.split_once('/') {
        Some((f, r)) => (f, Some(r)),
        None => (p, None),
    };
    if first.ends_with(".dist-info") || first.ends_with(".data") || first == "__pycache__" {
        return None;
    }
    match rest {
        Some(_) => Some(first.to_string()),
        None => {
            let stem = first
                .strip_suffix(".py")
                .or_else(|| {
                    first
                        .strip_suffix(".so")
                        .map(|s| s.split('.').next().unwrap_or(s))
                })
                .or_else(|| {
                    first
                        .strip_suffix(".pyd")
                        .map(|s| s.split('.').next().unwrap_or(s))
                })?;
            Some(stem.to_string())
        }
    }
}

fn wheel_meta(listing: &Listing, path: &Path) -> Result<PyMeta, RegistryError> {
    let meta_entry = listing
        .contents
        .keys()
        .find(|k| k.ends_with(".dist-info/METADATA"))
        .cloned()
        .ok_or_else(|| RegistryError::NoMetadata {
            path: path.to_path_buf(),
            looked_for: "*.dist-info/METADATA".into(),
        })?;
    let dist_info = meta_entry.trim_end_matches("METADATA").to_string();
    let h = parse_email_headers(&text(&listing.contents[&meta_entry]));
    let (name, version) = name_version(&h, path, &meta_entry)?;
    let mut top = Vec::new();
    let mut pth = Vec::new();
    if let Some(t) = listing.contents.get(&format!("{dist_info}top_level.txt")) {
        for l in text(t).lines() {
            push_top(&mut top, l);
        }
    }
    let record = listing.contents.get(&format!("{dist_info}RECORD"));
    let installed: Vec<String> = match record {
        Some(r) => text(r)
            .lines()
            .filter_map(|l| l.split(',').next())
            .map(|s| s.trim_matches('"').to_string())
            .filter(|s| !s.is_empty())
            .collect(),
        None => listing.files.clone(),
    };
    for p in &installed {
        if !p.contains('/') && p.ends_with(".pth") {
            pth.push(p.clone());
        }
        if let Some(t) = top_of_installed_path(p) {
            push_top(&mut top, &t);
        }
    }
    Ok(PyMeta {
        normalized_name: normalize_name(&name),
        name,
        version,
        requires_dist: h.get("requires-dist").cloned().unwrap_or_default(),
        requires_python: first(&h, "requires-python"),
        build_requires: Vec::new(),
        build_backend: None,
        top_level: top,
        pth_files: pth,
        has_setup_py: false,
        has_pyproject: false,
        kind: ArtifactKind::Wheel,
        metadata_from_file_name: false,
    })
}

fn name_version(
    h: &BTreeMap<String, Vec<String>>,
    path: &Path,
    entry: &str,
) -> Result<(String, String), RegistryError> {
    let name = first(h, "name").ok_or_else(|| RegistryError::BadArtifact {
        path: path.to_path_buf(),
        message: format!("{entry} has no Name"),
    })?;
    let version = first(h, "version").ok_or_else(|| RegistryError::BadArtifact {
        path: path.to_path_buf(),
        message: format!("{entry} has no Version"),
    })?;
    Ok((name, version))
}

/// `name-version` out of an sdist file name (`Foo_Bar-1.0.tar.gz`).
fn split_sdist_file_name(file_name: &str) -> Option<(String, String)> {
    let lower = file_name.to_ascii_lowercase();
    let stem_len = [".tar.gz", ".tgz", ".zip"]
        .iter()
        .find(|s| lower.ends_with(*s))
        .map(|s| file_name.len() - s.len())?;
    let stem = &file_name[..stem_len];
    let (n, v) = stem.rsplit_once('-')?;
    (!n.is_empty() && v.starts_with(|c: char| c.is_ascii_digit()))
        .then(|| (n.to_string(), v.to_string()))
}

#[derive(Deserialize, Default)]
struct PyProject {
    #[serde(default, rename = "build-system")]
    build_system: Option<BuildSystem>,
    #[serde(default)]
    project: Option<ProjectTable>,
}

#[derive(Deserialize, Default)]
struct BuildSystem {
    #[serde(default)]
    requires: Option<Vec<String>>,
    #[serde(default, rename = "build-backend")]
    build_backend: Option<String>,
}

#[derive(Deserialize, Default)]
struct ProjectTable {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dependencies: Option<Vec<String>>,
}

fn sdist_meta(
    listing: &Listing,
    path: &Path,
    file_name: &str,
    kind: ArtifactKind,
) -> Result<PyMeta, RegistryError> {
    let depth = |k: &str| k.matches('/').count();
    // The sdist's root directory (`name-version/`), when everything sits below one.
    let root: Option<String> = {
        let firsts: BTreeSet<&str> = listing
            .files
            .iter()
            .map(|f| f.split('/').next().unwrap_or(""))
            .collect();
        match firsts.iter().next() {
            Some(only) if firsts.len() == 1 && listing.files.iter().all(|f| f.contains('/')) => {
                Some(format!("{only}/"))
            }
            _ => None,
        }
    };
    let at_root = |base: &str| -> Option<&Vec<u8>> {
        let key = match &root {
            Some(r) => format!("{r}{base}"),
            None => base.to_string(),
        };
        listing.contents.get(&key)
    };
    let pkg_info = at_root("PKG-INFO").or_else(|| {
        listing
            .contents
            .iter()
            .filter(|(k, _)| k.ends_with(".egg-info/PKG-INFO"))
            .min_by_key(|(k, _)| depth(k))
            .map(|(_, v)| v)
    });
    let has_setup_py = at_root("setup.py").is_some();
    let pyproject_bytes = at_root("pyproject.toml");
    let has_pyproject = pyproject_bytes.is_some();
    let pyproject: PyProject = pyproject_bytes
        .and_then(|b| toml::from_str(&text(b)).ok())
        .unwrap_or_default();

    let headers = pkg_info.map(|b| parse_email_headers(&text(b)));
    let (name, version, metadata_from_file_name) = match &headers {
        Some(h) => {
            let (n, v) = name_version(h, path, "PKG-INFO")?;
            (n, v, false)
        }
        None => {
            let from_project = pyproject
                .project
                .as_ref()
                .and_then(|p| Some((p.name.clone()?, p.version.clone()?)));
            match from_project.or_else(|| {
                has_setup_py
                    .then(|| split_sdist_file_name(file_name))
                    .flatten()
            }) {
                Some((n, v)) => (n, v, true),
                None => {
                    return Err(RegistryError::NoMetadata {
                        path: path.to_path_buf(),
                        looked_for: "PKG-INFO, *.egg-info/PKG-INFO, pyproject.toml [project]; \
                                     no setup.py with a name-version file name either"
                            .into(),
                    })
                }
            }
        }
    };
    if !has_setup_py && !has_pyproject {
        return Err(RegistryError::BadArtifact {
            path: path.to_path_buf(),
            message: "sdist has neither setup.py nor pyproject.toml at its root; pip cannot \
                      build it"
                .into(),
        });
    }

    let mut requires_dist = headers
        .as_ref()
        .and_then(|h| h.get("requires-dist").cloned())
        .unwrap_or_default();
    if requires_dist.is_empty() {
        if let Some(deps) = pyproject
            .project
            .as_ref()
            .and_then(|p| p.dependencies.clone())
        {
            requires_dist = deps;
        } else if let Some((_, req)) = listing
            .contents
            .iter()
            .filter(|(k, _)| k.ends_with(".egg-info/requires.txt"))
            .min_by_key(|(k, _)| depth(k))
        {
            // Unconditional requirements come before the first `[section]`.
            requires_dist = text(req)
                .lines()
                .map(str::trim)
                .take_while(|l| !l.starts_with('['))
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(String::from)
                .collect();
        }
    }

    let (build_requires, build_backend) = match &pyproject.build_system {
        Some(bs) => (
            bs.requires.clone().unwrap_or_else(default_build_requires),
            bs.build_backend.clone(),
        ),
        None => (default_build_requires(), None),
    };

    let mut top = Vec::new();
    if let Some((_, t)) = listing
        .contents
        .iter()
        .filter(|(k, _)| k.ends_with(".egg-info/top_level.txt"))
        .min_by_key(|(k, _)| depth(k))
    {
        for l in text(t).lines() {
            push_top(&mut top, l);
        }
    }
    if top.is_empty() {
        top = sdist_tree_top_level(&listing.files, root.as_deref().unwrap_or(""));
    }

    Ok(PyMeta {
        normalized_name: normalize_name(&name),
        name,
        version,
        requires_dist,
        requires_python: headers.as_ref().and_then(|h| first(h, "requires-python")),
        build_requires,
        build_backend,
        top_level: top,
        pth_files: Vec::new(),
        has_setup_py,
        has_pyproject,
        kind,
        metadata_from_file_name,
    })
}

fn default_build_requires() -> Vec<String> {
    DEFAULT_BUILD_REQUIRES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Best-effort top-level names of an sdist from its file tree: packages (directories
/// with `__init__.py`) and modules at the root or under `src/`, minus setup/test files.
fn sdist_tree_top_level(files: &[String], root: &str) -> Vec<String> {
    let mut out = Vec::new();
    for base in ["", "src/"] {
        let prefix = format!("{root}{base}");
        for f in files {
            let Some(rel) = f.strip_prefix(&prefix) else {
                continue;
            };
            let parts: Vec<&str> = rel.split('/').collect();
            match parts.as_slice() {
                [module] => {
                    if let Some(stem) = module.strip_suffix(".py") {
                        if !matches!(stem, "setup" | "conftest" | "noxfile" | "fabfile")
                            && !stem.starts_with("test")
                        {
                            push_top(&mut out, stem);
                        }
                    }
                }
                [pkg, "__init__.py"] if !NOT_TOP_LEVEL.contains(pkg) => push_top(&mut out, pkg),
                _ => {}
            }
        }
    }
    out
}

// ---- wheel tags ------------------------------------------------------------------

/// Rank of a wheel file name for the sandbox's interpreter (CPython 3.11, glibc 2.36,
/// x86_64), higher is better, `None` when pip would not install it there. Follows the
/// order of pip's supported tags: cpython-specific ABI, then abi3, then none; a
/// platform wheel before a pure one.
pub fn wheel_rank(file_name: &str) -> Option<u32> {
    let stem = file_name.strip_suffix(".whl")?;
    let parts: Vec<&str> = stem.split('-').collect();
    let (py, abi, plat) = match parts.len() {
        5 | 6 => (
            parts[parts.len() - 3],
            parts[parts.len() - 2],
            parts[parts.len() - 1],
        ),
        _ => return None,
    };
    let best = |tags: &str, f: &dyn Fn(&str) -> Option<u32>| tags.split('.').filter_map(f).max();
    let plat_rank = best(plat, &|p| {
        if p == "any" {
            return Some(0);
        }
        if p == "linux_x86_64" || p == "manylinux1_x86_64" || p == "manylinux2010_x86_64" {
            return Some(1);
        }
        if p == "manylinux2014_x86_64" {
            return Some(2);
        }
        let rest = p.strip_prefix("manylinux_2_")?.strip_suffix("_x86_64")?;
        let minor: u32 = rest.parse().ok()?;
        (minor <= 36).then_some(2)
    })?;
    let abi_rank = best(abi, &|a| match a {
        "cp311" => Some(3),
        "abi3" => Some(2),
        "none" => Some(1),
        _ => None,
    })?;
    let py_rank = best(py, &|p| {
        if p == "cp311" {
            return Some(3);
        }
        if p == "py3" || p == "py311" {
            return Some(2);
        }
        if let Some(m) = p.strip_prefix("cp3") {
            let minor: u32 = m.parse().ok()?;
            // cp3x with abi3 works on later CPythons.
            return (minor <= 11 && abi.split('.').any(|a| a == "abi3")).then_some(2);
        }
        let m = p.strip_prefix("py3")?;
        let minor: u32 = m.parse().ok()?;
        (minor <= 11).then_some(1)
    })?;
    // abi cp311 only pairs with cp311; `none` pairs with anything.
    if abi_rank == 3 && py_rank != 3 {
        return None;
    }
    Some(abi_rank * 100 + plat_rank * 10 + py_rank)
}

// ---- fetching --------------------------------------------------------------------

/// One file of a PyPI release, as the JSON API lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReleaseFile {
    pub filename: String,
    pub url: String,
    #[serde(default)]
    pub packagetype: String,
    #[serde(default)]
    pub digests: BTreeMap<String, String>,
    #[serde(default)]
    pub yanked: bool,
    #[serde(default)]
    pub upload_time_iso_8601: Option<String>,
}

#[derive(Deserialize)]
struct ReleaseDoc {
    info: ReleaseInfo,
    #[serde(default)]
    urls: Vec<ReleaseFile>,
}

#[derive(Deserialize)]
struct ReleaseInfo {
    version: String,
}

#[derive(Deserialize)]
struct ProjectDoc {
    // `info` and `urls` (the latest release) are not needed here.
    #[serde(default)]
    releases: BTreeMap<String, Vec<ReleaseFile>>,
}

/// The file `pip install name==version` would pick on the sandbox: the best compatible
/// wheel, else the sdist (`.tar.gz` before `.zip`).
pub fn choose_artifact(files: &[ReleaseFile]) -> Option<&ReleaseFile> {
    let wheel = files
        .iter()
        .filter_map(|f| wheel_rank(&f.filename).map(|r| (r, f)))
        .max_by_key(|(r, _)| *r)
        .map(|(_, f)| f);
    wheel.or_else(|| {
        let sdists = files.iter().filter(|f| {
            ArtifactKind::from_file_name(&f.filename).is_some_and(ArtifactKind::is_sdist)
        });
        sdists.min_by_key(|f| !f.filename.to_ascii_lowercase().ends_with(".tar.gz"))
    })
}

/// A downloaded, verified PyPI artifact.
#[derive(Debug, Clone)]
pub struct PyFetched {
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    pub file_name: String,
    pub kind: ArtifactKind,
    pub sha256: String,
}

/// The HTTP client of both registries (npm uses it too): timeouts, a user agent, and
/// TLS roots that include `$SSL_CERT_FILE` (hosts behind an inspecting proxy).
pub(crate) fn agent() -> ureq::Agent {
    let mut b = ureq::AgentBuilder::new()
        .timeout_connect(std::time::Duration::from_secs(15))
        .timeout(std::time::Duration::from_secs(300))
        .user_agent(concat!("airlock/", env!("CARGO_PKG_VERSION")));
    if let Some(cfg) = tls_config() {
        b = b.tls_config(cfg);
    }
    b.build()
}

/// TLS roots: the bundled web PKI roots plus every certificate in `$SSL_CERT_FILE`, the
/// way pip, curl and node honour it — hosts behind a TLS-inspecting proxy trust its CA
/// that way. `None` (ureq's defaults) when the variable is unset or unreadable.
fn tls_config() -> Option<std::sync::Arc<rustls::ClientConfig>> {
    use rustls_pki_types::pem::PemObject;
    let file = std::env::var_os("SSL_CERT_FILE")?;
    let mut roots = rustls::RootCertStore::empty();
    roots.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
    let mut added = 0;
    for cert in rustls_pki_types::CertificateDer::pem_file_iter(&file).ok()? {
        if cert.ok().is_some_and(|c| roots.add(c).is_ok()) {
            added += 1;
        }
    }
    if added == 0 {
        return None;
    }
    let provider = std::sync::Arc::new(rustls::crypto::ring::default_provider());
    let cfg = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .ok()?
        .with_root_certificates(roots)
        .with_no_client_auth();
    Some(std::sync::Arc::new(cfg))
}

/// GETs a JSON document; `None` on 404. Also returns the URL the document finally came
/// from (after redirects): relative URLs in it are relative to that.
fn get_json<T: serde::de::DeserializeOwned>(
    url: &str,
) -> Result<Option<(T, String)>, RegistryError> {
    match agent().get(url).call() {
        Ok(r) => {
            let base = r.get_url().to_string();
            r.into_json()
                .map(|doc| Some((doc, base)))
                .map_err(|e| RegistryError::Http {
                    url: url.into(),
                    message: format!("bad JSON: {e}"),
                })
        }
        Err(ureq::Error::Status(404, _)) => Ok(None),
        Err(e) => Err(RegistryError::Http {
            url: url.into(),
            message: e.to_string(),
        }),
    }
}

/// Fetches `name` at `version` (`None`: latest) from `index` (e.g. [`DEFAULT_INDEX`])
/// into `dest_dir`: picks the artifact with [`choose_artifact`], downloads it and
/// checks it against the sha256 the index lists (a file without one is refused).
pub fn fetch(
    index: &str,
    name: &str,
    version: Option<&str>,
    dest_dir: &Path,
) -> Result<PyFetched, RegistryError> {
    let index = index.trim_end_matches('/');
    let url = match version {
        Some(v) => format!("{index}/pypi/{name}/{v}/json"),
        None => format!("{index}/pypi/{name}/json"),
    };
    let (doc, base) = match get_json::<ReleaseDoc>(&url)? {
        Some(found) => found,
        None => {
            // Some mirrors serve only the project document; it lists every release too.
            let project_url = format!("{index}/pypi/{name}/json");
            let project = match version {
                Some(_) => get_json::<ProjectDoc>(&project_url)?,
                None => None,
            };
            match (version, project) {
                (Some(v), Some((mut p, base))) => match p.releases.remove(v) {
                    Some(files) if !files.is_empty() => (
                        ReleaseDoc {
                            info: ReleaseInfo { version: v.into() },
                            urls: files,
                        },
                        base,
                    ),
                    _ => {
                        return Err(RegistryError::NotFound {
                            what: format!(
                                "version {v} of PyPI project {name} (recent: {})",
                                recent_versions(&p.releases, 5).join(", ")
                            ),
                            registry: index.into(),
                        })
                    }
                },
                _ => {
                    return Err(RegistryError::NotFound {
                        what: format!("PyPI project {name}"),
                        registry: index.into(),
                    })
                }
            }
        }
    };
    let Some(file) = choose_artifact(&doc.urls) else {
        return Err(RegistryError::NotFound {
            what: format!(
                "an artifact of {name} {} installable on CPython 3.11 manylinux x86_64 (files: {})",
                doc.info.version,
                doc.urls
                    .iter()
                    .map(|f| f.filename.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            registry: index.into(),
        });
    };
    let file_name = file.filename.clone();
    if file_name.contains(['/', '\\']) || file_name.starts_with('.') || file_name.is_empty() {
        return Err(RegistryError::BadArtifact {
            path: PathBuf::from(&file_name),
            message: "the index lists a file name that is not a plain name".into(),
        });
    }
    // Mirrors (and pypi.org behind some proxies) list files relative to the document.
    let file_url = resolve_file_url(&base, &file.url)?;
    let Some(expected) = file.digests.get("sha256").map(|s| s.to_ascii_lowercase()) else {
        return Err(RegistryError::Integrity {
            url: file_url,
            message: "the index lists no sha256 digest for this file".into(),
        });
    };
    let bytes = download(&file_url)?;
    let actual = hex::encode(sha2::Sha256::digest(&bytes));
    if actual != expected {
        return Err(RegistryError::Integrity {
            url: file_url,
            message: format!(
                "sha256 mismatch: index says {expected}, downloaded bytes hash to {actual}"
            ),
        });
    }
    let path = dest_dir.join(&file_name);
    std::fs::write(&path, &bytes).map_err(|e| RegistryError::Io {
        path: path.clone(),
        source: e,
    })?;
    let kind =
        ArtifactKind::from_file_name(&file_name).ok_or_else(|| RegistryError::BadArtifact {
            path: path.clone(),
            message: "unknown artifact kind".into(),
        })?;
    Ok(PyFetched {
        path,
        name: name.to_string(),
        version: doc.info.version,
        file_name,
        kind,
        sha256: actual,
    })
}

/// A file URL as an index lists it (absolute, or relative like
/// `../../packages/ab/cd/x.whl#sha256=…`) made absolute against the URL of the page or
/// document that listed it (PEP 503/691: relative URLs are relative to the page). The
/// fragment is dropped, and only http(s) URLs are accepted.
pub fn resolve_file_url(base: &str, href: &str) -> Result<String, RegistryError> {
    let bad = |message: String| RegistryError::Http {
        url: href.to_string(),
        message,
    };
    let base = url::Url::parse(base).map_err(|e| bad(format!("bad index URL {base}: {e}")))?;
    let mut u = base
        .join(href.trim())
        .map_err(|e| bad(format!("bad file URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad(format!(
            "the index lists a {} URL; only http(s) is fetched",
            u.scheme()
        )));
    }
    u.set_fragment(None);
    Ok(u.into())
}

/// The `n` most recently uploaded versions, newest first.
fn recent_versions(releases: &BTreeMap<String, Vec<ReleaseFile>>, n: usize) -> Vec<String> {
    let mut v: Vec<(String, &String)> = releases
        .iter()
        .map(|(ver, files)| {
            let t = files
                .iter()
                .filter_map(|f| f.upload_time_iso_8601.clone())
                .max()
                .unwrap_or_default();
            (t, ver)
        })
        .collect();
    v.sort();
    v.iter()
        .rev()
        .take(n)
        .map(|(_, ver)| ver.to_string())
        .collect()
}

fn download(url: &str) -> Result<Vec<u8>, RegistryError> {
    let resp = agent().get(url).call().map_err(|e| RegistryError::Http {
        url: url.into(),
        message: e.to_string(),
    })?;
    let mut bytes = Vec::new();
    resp.into_reader()
        .take(MAX_ARTIFACT + 1)
        .read_to_end(&mut bytes)
        .map_err(|e| RegistryError::Http {
            url: url.into(),
            message: e.to_string(),
        })?;
    if bytes.len() as u64 > MAX_ARTIFACT {
        return Err(RegistryError::Http {
            url: url.into(),
            message: "artifact larger than 512 MiB".into(),
        });
    }
    Ok(bytes)
}

// ---- wheelhouse ------------------------------------------------------------------

/// Wheels for an offline install in the sandbox.
#[derive(Debug, Clone)]
pub struct Wheelhouse {
    /// Directory holding the wheels; hand it to `pip install --no-index --find-links`.
    pub dir: PathBuf,
    /// The wheel files in `dir`, sorted.
    pub files: Vec<PathBuf>,
    /// Requirements that could not be had as wheels (or were refused, e.g. direct URL
    /// references), each with the reason. Not fatal: the install may still fail on them.
    pub missing: Vec<String>,
    /// Requirement sets served from the [`WheelCache`] without running pip.
    pub cached_sets: usize,
    /// `pip download` runs it took.
    pub pip_runs: usize,
}

/// Options for [`prepare_wheelhouse`].
#[derive(Debug, Clone, Default)]
pub struct WheelhouseOptions {
    /// pip's download cache (`--cache-dir`); `None` keeps pip's default
    /// (`~/.cache/pip`). It saves the downloads, not pip's start and resolution.
    pub cache_dir: Option<PathBuf>,
    /// The Python that runs `pip download` (default `python3`).
    pub python: Option<String>,
    /// airlock's cache of resolved requirement sets; `None`: pip runs for every set.
    pub wheel_cache: Option<WheelCache>,
}

// ---- wheel cache -----------------------------------------------------------------

/// What `pip download` is asked to resolve for (see [`pip_download`]); part of the
/// wheel cache key, so changing the target's flags must change this string.
const WHEEL_TARGET: &str = "cp311-cp311-abi3-none/manylinux_2_36..1-linux-any/x86_64";

/// Blobs no live entry refers to are removed once they are this old (the age keeps a
/// concurrent scan's just-stored blobs, whose entry is not written yet).
const ORPHAN_BLOB_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A host-side cache of resolved requirement sets, so that a scan does not start pip
/// (7–11 s for the seed wheels alone) for a set it resolved recently.
///
/// Layout under `dir`: `sets/<key>.json`, one entry per requirement set, keyed by the
/// sha256 of the index URL, [`WHEEL_TARGET`] and the sorted requirement strings, listing
/// the wheels pip chose (file name, sha256, size) and when; `blobs/<sha256>`, the wheels
/// by content. An entry older than `ttl` is a miss (unpinned requirements move on), and
/// so is one whose blobs are gone or no longer hash to what it lists: then pip runs and
/// the entry is rewritten. Entries and blobs are written to a temporary file and renamed
/// into place, so concurrent scans only ever see whole files.
#[derive(Debug, Clone)]
pub struct WheelCache {
    pub dir: PathBuf,
    pub ttl: std::time::Duration,
}

/// One `sets/<key>.json`.
#[derive(Debug, serde::Serialize, Deserialize)]
struct WheelSetEntry {
    version: u32,
    created_unix: u64,
    index: String,
    target: String,
    requirements: Vec<String>,
    wheels: Vec<CachedWheel>,
}

#[derive(Debug, serde::Serialize, Deserialize)]
struct CachedWheel {
    file: String,
    sha256: String,
    size: u64,
}

fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// sha256 of a file, streamed.
fn file_sha256(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}

/// A wheel file name safe to use as a path component.
fn plain_wheel_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.ends_with(".whl")
}

/// A copy of `src` in a temporary file in `dir`, world-readable like the files pip
/// writes (a temporary file starts as 0600), ready to be renamed into place.
fn readable_copy(src: &Path, dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
    let mut tmp = tempfile::NamedTempFile::new_in(dir)?;
    std::io::copy(&mut std::fs::File::open(src)?, tmp.as_file_mut())?;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        tmp.as_file()
            .set_permissions(std::fs::Permissions::from_mode(0o644))?;
    }
    Ok(tmp)
}

/// `src` at `dest`: a hard link where the file system allows, else a copy (through a
/// temporary file, renamed into place).
fn link_or_copy(src: &Path, dest: &Path) -> std::io::Result<()> {
    match std::fs::hard_link(src, dest) {
        Ok(()) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(_) => {
            let parent = dest.parent().unwrap_or(Path::new("."));
            readable_copy(src, parent)?
                .persist(dest)
                .map_err(|e| e.error)?;
            Ok(())
        }
    }
}

impl WheelCache {
    /// Entries are used for a day.
    pub const DEFAULT_TTL: std::time::Duration = std::time::Duration::from_secs(24 * 3600);

    /// A cache in `dir` with the default time to live.
    pub fn at(dir: impl Into<PathBuf>) -> WheelCache {
        WheelCache {
            dir: dir.into(),
            ttl: Self::DEFAULT_TTL,
        }
    }

    /// The user's cache, next to the verdict store: `$XDG_CACHE_HOME/airlock/wheels`,
    /// else `$HOME/.cache/airlock/wheels`. `None` when neither variable is set or when
    /// `AIRLOCK_NO_WHEEL_CACHE` is set (to measure or debug a cold run).
    pub fn user_default() -> Option<WheelCache> {
        if std::env::var_os("AIRLOCK_NO_WHEEL_CACHE").is_some_and(|v| !v.is_empty()) {
            return None;
        }
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache"))
            })?;
        Some(WheelCache::at(cache.join("airlock").join("wheels")))
    }

    fn normalized(reqs: &[String], index: &str) -> (Vec<String>, String) {
        let mut reqs: Vec<String> = reqs.iter().map(|r| r.trim().to_string()).collect();
        reqs.sort();
        reqs.dedup();
        (reqs, index.trim_end_matches('/').to_string())
    }

    /// The entry file of a requirement set.
    fn entry_path(&self, reqs: &[String], index: &str) -> PathBuf {
        let mut h = sha2::Sha256::new();
        h.update(b"airlock wheel set v1\n");
        h.update(index.as_bytes());
        h.update(b"\n");
        h.update(WHEEL_TARGET.as_bytes());
        for r in reqs {
            h.update(b"\n");
            h.update(r.as_bytes());
        }
        self.dir
            .join("sets")
            .join(format!("{}.json", hex::encode(h.finalize())))
    }

    fn blob_path(&self, sha256: &str) -> PathBuf {
        self.dir.join("blobs").join(sha256)
    }

    /// The wheels (file name, verified blob) of a fresh entry for `reqs` on `index`;
    /// `Err` says why there is none.
    fn lookup(&self, reqs: &[String], index: &str) -> Result<Vec<(String, PathBuf)>, String> {
        let (reqs, index) = Self::normalized(reqs, index);
        let path = self.entry_path(&reqs, &index);
        let bytes = std::fs::read(&path).map_err(|e| format!("no entry: {e}"))?;
        let entry: WheelSetEntry =
            serde_json::from_slice(&bytes).map_err(|e| format!("bad entry: {e}"))?;
        if entry.version != 1
            || entry.index != index
            || entry.target != WHEEL_TARGET
            || entry.requirements != reqs
        {
            return Err("entry is for another set".into());
        }
        let now = unix_now();
        let age = now.saturating_sub(entry.created_unix);
        if entry.created_unix > now + 60 || age >= self.ttl.as_secs() {
            return Err(format!("entry expired ({age} s old)"));
        }
        if entry.wheels.is_empty() {
            return Err("entry lists no wheels".into());
        }
        let mut out = Vec::with_capacity(entry.wheels.len());
        for w in &entry.wheels {
            let sha_ok = w.sha256.len() == 64 && w.sha256.bytes().all(|b| b.is_ascii_hexdigit());
            if !plain_wheel_name(&w.file) || !sha_ok {
                return Err(format!("entry lists a bad wheel {:?}", w.file));
            }
            let blob = self.blob_path(&w.sha256.to_ascii_lowercase());
            match file_sha256(&blob) {
                Ok((sha, size)) if sha.eq_ignore_ascii_case(&w.sha256) && size == w.size => {}
                Ok((sha, _)) => return Err(format!("{} hashes to {sha}", w.file)),
                Err(e) => return Err(format!("{}: {e}", w.file)),
            }
            out.push((w.file.clone(), blob));
        }
        Ok(out)
    }

    /// Records that `reqs` on `index` resolved to `wheels` (files pip just wrote).
    fn store(&self, reqs: &[String], index: &str, wheels: &[PathBuf]) -> std::io::Result<()> {
        let (reqs, index) = Self::normalized(reqs, index);
        let blobs = self.dir.join("blobs");
        let sets = self.dir.join("sets");
        std::fs::create_dir_all(&blobs)?;
        std::fs::create_dir_all(&sets)?;
        let mut listed = Vec::with_capacity(wheels.len());
        for w in wheels {
            let file = w
                .file_name()
                .map(|n| n.to_string_lossy().into_owned())
                .unwrap_or_default();
            if !plain_wheel_name(&file) {
                continue;
            }
            let (sha256, size) = file_sha256(w)?;
            let blob = self.blob_path(&sha256);
            match file_sha256(&blob) {
                Ok((have, _)) if have == sha256 => {}
                _ => {
                    // Absent or damaged: a whole new copy replaces it atomically.
                    readable_copy(w, &blobs)?
                        .persist(&blob)
                        .map_err(|e| e.error)?;
                }
            }
            listed.push(CachedWheel { file, sha256, size });
        }
        listed.sort_by(|a, b| a.file.cmp(&b.file));
        let entry = WheelSetEntry {
            version: 1,
            created_unix: unix_now(),
            index: index.clone(),
            target: WHEEL_TARGET.into(),
            requirements: reqs.clone(),
            wheels: listed,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&sets)?;
        serde_json::to_writer_pretty(tmp.as_file_mut(), &entry)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.entry_path(&reqs, &index))
            .map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes expired entries and the blobs no live entry lists (once they are an hour
    /// old). Best effort: a concurrent scan that loses a blob this way sees a miss.
    fn prune(&self) {
        let now = unix_now();
        let mut live: BTreeSet<String> = BTreeSet::new();
        let Ok(rd) = std::fs::read_dir(self.dir.join("sets")) else {
            return;
        };
        for e in rd.flatten() {
            let path = e.path();
            if path.extension().is_none_or(|x| x != "json") {
                continue;
            }
            let entry = std::fs::read(&path)
                .ok()
                .and_then(|b| serde_json::from_slice::<WheelSetEntry>(&b).ok());
            match entry {
                Some(en) if now.saturating_sub(en.created_unix) < self.ttl.as_secs() => {
                    live.extend(en.wheels.into_iter().map(|w| w.sha256.to_ascii_lowercase()));
                }
                _ => {
                    let _ = std::fs::remove_file(&path);
                }
            }
        }
        let Ok(rd) = std::fs::read_dir(self.dir.join("blobs")) else {
            return;
        };
        for e in rd.flatten() {
            let name = e.file_name().to_string_lossy().into_owned();
            let old = e
                .metadata()
                .and_then(|m| m.modified())
                .ok()
                .and_then(|t| t.elapsed().ok())
                .is_some_and(|age| age >= ORPHAN_BLOB_AGE);
            if old && !live.contains(&name) {
                let _ = std::fs::remove_file(e.path());
            }
        }
    }
}

/// Why a requirement string is not passed to pip, if it is not. Only plain
/// `name[extras] specifier ; marker` requirements go through: no options (`-i …`),
/// no direct URL or path references, and none that only apply to an extra.
pub fn refuse_requirement(req: &str) -> Option<&'static str> {
    let req = req.trim();
    if req.is_empty() {
        return Some("empty");
    }
    if req.contains(['\n', '\r', '\0']) {
        return Some("contains a line break");
    }
    if !req.starts_with(|c: char| c.is_ascii_alphanumeric()) {
        return Some("does not start with a project name");
    }
    let (spec, marker) = match req.split_once(';') {
        Some((s, m)) => (s, Some(m)),
        None => (req, None),
    };
    if spec.contains('@') || spec.contains("://") {
        return Some("direct reference (URL or path) refused: it would fetch from anywhere");
    }
    if let Some(m) = marker {
        if m.contains("extra") {
            return Some("only for an extra");
        }
    }
    if !spec.chars().all(|c| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '.' | '-'
                    | '_'
                    | '['
                    | ']'
                    | ','
                    | '<'
                    | '>'
                    | '='
                    | '!'
                    | '~'
                    | '*'
                    | ' '
                    | '('
                    | ')'
                    | '+'
            )
    }) {
        return Some("unexpected characters");
    }
    None
}

fn pip_download(
    reqs: &[String],
    index: &str,
    dest: &Path,
    opts: &WheelhouseOptions,
) -> Result<(), String> {
    let python = opts.python.clone().unwrap_or_else(|| "python3".into());
    let mut cmd = Command::new(&python);
    cmd.args(["-m", "pip", "download", "--only-binary=:all:", "--dest"])
        .arg(dest)
        .args([
            "--python-version",
            "3.11",
            "--implementation",
            "cp",
            "--abi",
            "cp311",
            "--abi",
            "abi3",
            "--abi",
            "none",
            "--platform",
            "manylinux_2_36_x86_64",
            "--platform",
            "manylinux_2_28_x86_64",
            "--platform",
            "manylinux_2_17_x86_64",
            "--platform",
            "manylinux2014_x86_64",
            "--platform",
            "manylinux2010_x86_64",
            "--platform",
            "manylinux1_x86_64",
            "--platform",
            "linux_x86_64",
            "--platform",
            "any",
            "--index-url",
        ])
        .arg(format!("{}/simple/", index.trim_end_matches('/')))
        .args([
            "--timeout",
            "30",
            "--retries",
            "1",
            "--progress-bar",
            "off",
            "-q",
        ])
        .env("PIP_CONFIG_FILE", "/dev/null")
        .env("PIP_NO_INPUT", "1")
        .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
        .env_remove("PIP_INDEX_URL")
        .env_remove("PIP_EXTRA_INDEX_URL")
        .env_remove("PIP_FIND_LINKS");
    match &opts.cache_dir {
        Some(c) => {
            cmd.arg("--cache-dir").arg(c);
        }
        None => {
            cmd.env_remove("PIP_NO_CACHE_DIR");
        }
    }
    cmd.arg("--").args(reqs);
    let out = cmd
        .output()
        .map_err(|e| format!("cannot run {python} -m pip: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        let err = String::from_utf8_lossy(&out.stderr);
        let tail: Vec<&str> = err.lines().filter(|l| !l.trim().is_empty()).collect();
        Err(tail[tail.len().saturating_sub(3)..].join(" / "))
    }
}

/// Downloads, on the host and without executing anything, every build requirement (for
/// an sdist) and runtime requirement of `meta` — transitive ones included — as wheels
/// for CPython 3.11 manylinux x86_64 into `work_dir/wheelhouse`, from `index`'s simple
/// API. Build and runtime requirements are resolved separately (pip's build isolation
/// installs the former into their own environment). When a set does not resolve as a
/// whole, each requirement is tried alone and the ones that fail are listed in
/// [`Wheelhouse::missing`]. `target` is the artifact itself; it is not copied.
pub fn prepare_wheelhouse(
    target: &Path,
    meta: &PyMeta,
    index: &str,
    work_dir: &Path,
    opts: &WheelhouseOptions,
) -> Result<Wheelhouse, RegistryError> {
    let dir = work_dir.join("wheelhouse");
    std::fs::create_dir_all(&dir).map_err(|e| RegistryError::Io {
        path: dir.clone(),
        source: e,
    })?;
    let mut missing = Vec::new();
    let mut sets: Vec<Vec<String>> = Vec::new();
    let own = &meta.normalized_name;
    let accept = |reqs: &[String], missing: &mut Vec<String>| -> Vec<String> {
        let mut ok = Vec::new();
        for r in reqs {
            match refuse_requirement(r) {
                Some("only for an extra") => {}
                Some(why) => missing.push(format!("{r}: {why}")),
                None => {
                    let name_end = r
                        .find(|c: char| {
                            !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
                        })
                        .unwrap_or(r.len());
                    if normalize_name(&r[..name_end]) != *own {
                        ok.push(r.trim().to_string());
                    }
                }
            }
        }
        ok
    };
    if meta.kind.is_sdist() {
        let mut build = accept(&meta.build_requires, &mut missing);
        // setuptools' legacy backend asks for `wheel` at build time on older versions.
        let setuptools_backend = meta
            .build_backend
            .as_deref()
            .is_none_or(|b| b.starts_with("setuptools"));
        if setuptools_backend && !build.iter().any(|r| normalize_name(r).starts_with("wheel")) {
            build.push("wheel".into());
        }
        sets.push(build);
    }
    sets.push(accept(&meta.requires_dist, &mut missing));
    let mut counts = (0, 0);
    for set in sets.into_iter().filter(|s| !s.is_empty()) {
        if let Err(all_err) = download_set(&set, index, &dir, work_dir, opts, &mut counts) {
            tracing::debug!(target = %target.display(), "pip download of the whole set failed: {all_err}");
            if let [r] = set.as_slice() {
                missing.push(format!("{r}: {all_err}"));
                continue;
            }
            for r in &set {
                let one = std::slice::from_ref(r);
                if let Err(e) = download_set(one, index, &dir, work_dir, opts, &mut counts) {
                    missing.push(format!("{r}: {e}"));
                }
            }
        }
    }
    let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
        .map_err(|e| RegistryError::Io {
            path: dir.clone(),
            source: e,
        })?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    files.sort();
    Ok(Wheelhouse {
        dir,
        files,
        missing,
        cached_sets: counts.0,
        pip_runs: counts.1,
    })
}

/// Puts the wheels of one requirement set into `wheelhouse`: from the wheel cache when
/// it has a fresh, intact entry for the set, else with `pip download` into a directory
/// of its own under `work_dir` (so the set's wheels are known exactly, also those an
/// earlier set already brought), which are then cached and moved over. `counts` tallies
/// (sets from the cache, pip runs).
fn download_set(
    reqs: &[String],
    index: &str,
    wheelhouse: &Path,
    work_dir: &Path,
    opts: &WheelhouseOptions,
    counts: &mut (usize, usize),
) -> Result<(), String> {
    if let Some(cache) = &opts.wheel_cache {
        match cache.lookup(reqs, index) {
            Ok(hit) => {
                let linked = hit.iter().try_for_each(|(file, blob)| {
                    let dest = wheelhouse.join(file);
                    if dest.exists() {
                        Ok(())
                    } else {
                        link_or_copy(blob, &dest)
                    }
                });
                match linked {
                    Ok(()) => {
                        counts.0 += 1;
                        tracing::debug!(?reqs, wheels = hit.len(), "wheel cache hit");
                        return Ok(());
                    }
                    Err(e) => tracing::debug!(?reqs, "wheel cache hit not usable: {e}"),
                }
            }
            Err(why) => tracing::debug!(?reqs, "wheel cache miss: {why}"),
        }
    }
    let tmp = tempfile::Builder::new()
        .prefix(".pip-download-")
        .tempdir_in(work_dir)
        .map_err(|e| format!("temporary directory in {}: {e}", work_dir.display()))?;
    counts.1 += 1;
    pip_download(reqs, index, tmp.path(), opts)?;
    let mut wheels: Vec<PathBuf> = std::fs::read_dir(tmp.path())
        .map_err(|e| format!("{}: {e}", tmp.path().display()))?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .filter(|p| p.extension().is_some_and(|x| x == "whl"))
        .collect();
    wheels.sort();
    if let Some(cache) = &opts.wheel_cache {
        match cache.store(reqs, index, &wheels) {
            Ok(()) => cache.prune(),
            Err(e) => tracing::warn!("wheel cache {}: {e}", cache.dir.display()),
        }
    }
    for w in &wheels {
        let Some(name) = w.file_name() else { continue };
        let dest = wheelhouse.join(name);
        if !dest.exists() {
            std::fs::rename(w, &dest).map_err(|e| format!("{}: {e}", dest.display()))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{serve, sha256_hex, tar_gz, zip_bytes, Routes};

    fn write(dir: &Path, name: &str, bytes: &[u8]) -> PathBuf {
        let p = dir.join(name);
        std::fs::write(&p, bytes).unwrap();
        p
    }

    const PKG_INFO: &str = "Metadata-Version: 2.1\nName: Evil_Pkg.Name\nVersion: 1.2.3\nSummary: a\n  multi-line summary\nRequires-Python: >=3.7\nRequires-Dist: requests>=2\nRequires-Dist: colorama; extra == \"color\"\n\nLong description\nName: not-a-header\n";

    fn wheel(name: &str, version: &str, requires: &[&str], extra: &[(&str, &str)]) -> Vec<u8> {
        let di = format!("{}-{version}.dist-info", name.replace('-', "_"));
        let mut meta = format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n");
        for r in requires {
            meta.push_str(&format!("Requires-Dist: {r}\n"));
        }
        let wheel =
            "Wheel-Version: 1.0\nGenerator: test\nRoot-Is-Purelib: true\nTag: py3-none-any\n";
        let mut files: Vec<(String, Vec<u8>)> = vec![
            (format!("{di}/METADATA"), meta.into_bytes()),
            (format!("{di}/WHEEL"), wheel.as_bytes().to_vec()),
        ];
        for (p, b) in extra {
            files.push((p.to_string(), b.as_bytes().to_vec()));
        }
        let mut record: String = files.iter().map(|(p, _)| format!("{p},,\n")).collect();
        record.push_str(&format!("{di}/RECORD,,\n"));
        files.push((format!("{di}/RECORD"), record.into_bytes()));
        let refs: Vec<(&str, &[u8])> = files
            .iter()
            .map(|(p, b)| (p.as_str(), b.as_slice()))
            .collect();
        zip_bytes(&refs, None)
    }

    #[test]
    fn normalizes_names_per_pep_503() {
        assert_eq!(normalize_name("Evil_Pkg.Name"), "evil-pkg-name");
        assert_eq!(normalize_name("a--__..b"), "a-b");
        assert_eq!(normalize_name("Requests"), "requests");
    }

    #[test]
    fn parses_specs_only_with_the_prefix() {
        assert_eq!(
            parse_spec("pypi:requests==2.31.0"),
            Some(("requests".into(), Some("2.31.0".into())))
        );
        assert_eq!(parse_spec("pypi:Foo_Bar"), Some(("Foo_Bar".into(), None)));
        assert_eq!(parse_spec("requests==2.31.0"), None);
        assert_eq!(parse_spec("pypi:"), None);
        assert_eq!(parse_spec("pypi:a b==1"), None);
        assert_eq!(parse_spec("pypi:x==1; rm -rf"), None);
        assert_eq!(parse_spec("pypi:-x==1"), None);
    }

    #[test]
    fn email_headers_keep_repeats_and_continuations_and_stop_at_body() {
        let h = parse_email_headers(PKG_INFO);
        assert_eq!(h["requires-dist"].len(), 2);
        assert_eq!(h["summary"][0], "a\nmulti-line summary");
        assert_eq!(h["name"], vec!["Evil_Pkg.Name".to_string()]);
    }

    #[test]
    fn reads_sdist_tar_gz_metadata_and_pyproject_build_system() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = tar_gz(&[
            ("evil_pkg-1.2.3/PKG-INFO", PKG_INFO),
            ("evil_pkg-1.2.3/setup.py", "from setuptools import setup\nsetup()\n"),
            (
                "evil_pkg-1.2.3/pyproject.toml",
                "[build-system]\nrequires = [\"hatchling>=1.5\", \"hatch-vcs\"]\nbuild-backend = \"hatchling.build\"\n",
            ),
            ("evil_pkg-1.2.3/evil/__init__.py", ""),
            ("evil_pkg-1.2.3/tests/__init__.py", ""),
            ("evil_pkg-1.2.3/helper.py", ""),
        ]);
        let p = write(dir.path(), "evil_pkg-1.2.3.tar.gz", &bytes);
        let m = read_metadata(&p).unwrap();
        assert_eq!(m.name, "Evil_Pkg.Name");
        assert_eq!(m.normalized_name, "evil-pkg-name");
        assert_eq!(m.version, "1.2.3");
        assert_eq!(m.requires_python.as_deref(), Some(">=3.7"));
        assert_eq!(
            m.requires_dist,
            vec!["requests>=2", "colorama; extra == \"color\""]
        );
        assert_eq!(m.build_requires, vec!["hatchling>=1.5", "hatch-vcs"]);
        assert_eq!(m.build_backend.as_deref(), Some("hatchling.build"));
        assert!(m.has_setup_py && m.has_pyproject);
        assert_eq!(m.kind, ArtifactKind::SdistTarGz);
        assert_eq!(m.top_level, vec!["evil", "helper"]);
        assert!(!m.metadata_from_file_name);
    }

    #[test]
    fn setup_py_without_build_system_gets_pips_default_and_egg_info_top_level() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = tar_gz(&[
            (
                "x-0.1/PKG-INFO",
                "Metadata-Version: 1.0\nName: x\nVersion: 0.1\n",
            ),
            ("x-0.1/setup.py", "setup()"),
            ("x-0.1/pyproject.toml", "[tool.black]\nline-length = 1\n"),
            ("x-0.1/x.egg-info/top_level.txt", "xmod\n../bad\n"),
            (
                "x-0.1/x.egg-info/requires.txt",
                "six\nidna>=2\n\n[dev]\npytest\n",
            ),
        ]);
        let p = write(dir.path(), "x-0.1.tar.gz", &bytes);
        let m = read_metadata(&p).unwrap();
        assert_eq!(m.build_requires, vec!["setuptools>=40.8.0", "wheel"]);
        assert_eq!(m.top_level, vec!["xmod"]);
        assert_eq!(m.requires_dist, vec!["six", "idna>=2"]);
    }

    #[test]
    fn hand_made_sdist_without_pkg_info_falls_back_to_file_name() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = tar_gz(&[
            ("Typo-1.0.0/setup.py", "setup()"),
            ("Typo-1.0.0/typo.py", ""),
        ]);
        let p = write(dir.path(), "Typo-1.0.0.tar.gz", &bytes);
        let m = read_metadata(&p).unwrap();
        assert!(m.metadata_from_file_name);
        assert_eq!((m.name.as_str(), m.version.as_str()), ("Typo", "1.0.0"));
        assert_eq!(m.top_level, vec!["typo"]);
    }

    #[test]
    fn sdist_zip_is_read() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = zip_bytes(
            &[
                ("z-2.0/PKG-INFO", b"Name: z\nVersion: 2.0\n"),
                ("z-2.0/setup.py", b"setup()"),
            ],
            None,
        );
        let p = write(dir.path(), "z-2.0.zip", &bytes);
        let m = read_metadata(&p).unwrap();
        assert_eq!((m.name.as_str(), m.kind), ("z", ArtifactKind::SdistZip));
    }

    #[test]
    fn reads_wheel_metadata_top_level_from_record_and_pth_files() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = wheel(
            "good-pkg",
            "3.0",
            &["attrs>=20", "pytest; extra == \"test\""],
            &[
                ("goodpkg/__init__.py", ""),
                ("single.py", ""),
                ("_speed.cpython-311-x86_64-linux-gnu.so", ""),
                ("zzz-hook.pth", "import os"),
            ],
        );
        let p = write(dir.path(), "good_pkg-3.0-py3-none-any.whl", &bytes);
        let m = read_metadata(&p).unwrap();
        assert_eq!(m.kind, ArtifactKind::Wheel);
        assert_eq!(m.normalized_name, "good-pkg");
        assert_eq!(m.requires_dist.len(), 2);
        assert_eq!(m.top_level, vec!["goodpkg", "single", "_speed"]);
        assert_eq!(m.pth_files, vec!["zzz-hook.pth"]);
        assert!(m.build_requires.is_empty());
    }

    #[test]
    fn the_bytes_decide_the_kind_not_the_name() {
        let dir = tempfile::tempdir().unwrap();
        let bytes = wheel("odd", "0.1", &[], &[("odd/__init__.py", "")]);
        let p = write(dir.path(), "odd-0.1-py3-none-any.tar.gz", &bytes);
        let m = read_metadata(&p).unwrap();
        assert_eq!(m.kind, ArtifactKind::Wheel);
        assert_eq!(m.top_level, vec!["odd"]);
        assert_eq!(
            install_file_name("odd-0.1-py3-none-any.tar.gz", &m),
            "odd-0.1-py3-none-any.whl"
        );
        assert_eq!(
            install_file_name("odd-0.1.tar.gz", &m),
            "odd-0.1-py3-none-any.whl"
        );

        let bytes = tar_gz(&[
            ("t-1/PKG-INFO", "Name: t\nVersion: 1\n"),
            ("t-1/setup.py", ""),
        ]);
        let p = write(dir.path(), "t-1.zip", &bytes);
        let m = read_metadata(&p).unwrap();
        assert_eq!(m.kind, ArtifactKind::SdistTarGz);
        assert_eq!(install_file_name("t-1.zip", &m), "t-1.tar.gz");
        assert_eq!(install_file_name("t-1.tar.gz", &m), "t-1.tar.gz");
    }

    #[test]
    fn corrupt_empty_and_traversal_archives_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let p = write(dir.path(), "bad-1.0.tar.gz", b"this is not gzip");
        let e = read_metadata(&p).unwrap_err().to_string();
        assert!(e.contains("bad-1.0.tar.gz") && e.contains("corrupt"), "{e}");

        let p = write(dir.path(), "bad-1.0-py3-none-any.whl", b"PK\x03\x04garbage");
        let e = read_metadata(&p).unwrap_err().to_string();
        assert!(e.contains("corrupt zip"), "{e}");

        // A zip with no dist-info at all.
        let p = write(
            dir.path(),
            "nometa-1-py3-none-any.whl",
            &zip_bytes(&[("nometa/__init__.py", b"")], None),
        );
        assert!(matches!(
            read_metadata(&p),
            Err(RegistryError::NoMetadata { .. })
        ));

        let bytes = tar_gz(&[("x/readme.txt", "hi")]);
        let p = write(dir.path(), "x.tar.gz", &bytes);
        assert!(matches!(
            read_metadata(&p),
            Err(RegistryError::NoMetadata { .. })
        ));

        let bytes = tar_gz(&[
            ("x-1/PKG-INFO", "Name: x\nVersion: 1\n"),
            ("x-1/../../etc/evil", "x"),
        ]);
        let p = write(dir.path(), "x-1.tar.gz", &bytes);
        match read_metadata(&p) {
            Err(RegistryError::UnsafeEntry { entry, .. }) => {
                assert_eq!(entry, "x-1/../../etc/evil")
            }
            other => panic!("expected UnsafeEntry, got {other:?}"),
        }
        let bytes = zip_bytes(&[("/abs/PKG-INFO", b"Name: x\nVersion: 1\n")], None);
        let p = write(dir.path(), "x-1.zip", &bytes);
        assert!(matches!(
            read_metadata(&p),
            Err(RegistryError::UnsafeEntry { .. })
        ));
    }

    #[test]
    fn wheel_ranking_matches_a_cpython_311_manylinux_box() {
        let r = |f: &str| wheel_rank(f);
        assert!(r("a-1-py3-none-any.whl").is_some());
        assert!(r("a-1-py2.py3-none-any.whl").is_some());
        assert!(r("a-1-py2-none-any.whl").is_none());
        assert!(r("a-1-cp310-cp310-manylinux2014_x86_64.whl").is_none());
        assert!(r("a-1-cp311-cp311-win_amd64.whl").is_none());
        assert!(r("a-1-cp311-cp311-macosx_11_0_arm64.whl").is_none());
        assert!(r("a-1-cp311-cp311-manylinux_2_17_aarch64.whl").is_none());
        assert!(r("a-1-cp311-cp311-manylinux_2_39_x86_64.whl").is_none());
        assert!(r("a-1-cp312-abi3-manylinux2014_x86_64.whl").is_none());
        let native = r("a-1-cp311-cp311-manylinux_2_17_x86_64.manylinux2014_x86_64.whl").unwrap();
        let abi3 = r("a-1-cp38-abi3-manylinux2014_x86_64.whl").unwrap();
        let pure = r("a-1-py3-none-any.whl").unwrap();
        assert!(native > abi3 && abi3 > pure);
    }

    fn release_file(name: &str, base: &str, sha: &str) -> serde_json::Value {
        serde_json::json!({
            "filename": name, "url": format!("{base}/files/{name}"),
            "packagetype": if name.ends_with(".whl") { "bdist_wheel" } else { "sdist" },
            "digests": {"sha256": sha}, "upload_time_iso_8601": "2024-01-01T00:00:00Z"
        })
    }

    #[test]
    fn fetch_picks_the_wheel_pip_would_and_verifies_sha256() {
        let whl = wheel("demo", "1.0", &[], &[("demo.py", "")]);
        let sdist = tar_gz(&[
            ("demo-1.0/PKG-INFO", "Name: demo\nVersion: 1.0\n"),
            ("demo-1.0/setup.py", ""),
        ]);
        let mut routes = Routes::new();
        routes.insert(
            "/files/demo-1.0-py3-none-any.whl".into(),
            (200, "application/octet-stream", whl.clone()),
        );
        routes.insert(
            "/files/demo-1.0-cp311-cp311-win_amd64.whl".into(),
            (200, "application/octet-stream", b"x".to_vec()),
        );
        routes.insert(
            "/files/demo-1.0.tar.gz".into(),
            (200, "application/octet-stream", sdist.clone()),
        );
        let shared = std::sync::Arc::new(std::sync::Mutex::new(routes));
        let (base, log) = serve_dynamic(shared.clone());
        let doc = serde_json::json!({
            "info": {"version": "1.0"},
            "urls": [
                release_file("demo-1.0.tar.gz", &base, &sha256_hex(&sdist)),
                release_file("demo-1.0-cp311-cp311-win_amd64.whl", &base, &sha256_hex(b"x")),
                release_file("demo-1.0-py3-none-any.whl", &base, &sha256_hex(&whl)),
            ]
        });
        shared.lock().unwrap().insert(
            "/pypi/demo/1.0/json".into(),
            (200, "application/json", doc.to_string().into_bytes()),
        );
        let dir = tempfile::tempdir().unwrap();
        let f = fetch(&base, "demo", Some("1.0"), dir.path()).unwrap();
        assert_eq!(f.file_name, "demo-1.0-py3-none-any.whl");
        assert_eq!(f.kind, ArtifactKind::Wheel);
        assert_eq!(f.sha256, sha256_hex(&whl));
        assert_eq!(std::fs::read(&f.path).unwrap(), whl);
        assert!(log.lock().unwrap().iter().all(|p| !p.contains("win_amd64")));

        // Tampered bytes: the digest no longer matches.
        shared.lock().unwrap().insert(
            "/files/demo-1.0-py3-none-any.whl".into(),
            (200, "application/octet-stream", b"tampered".to_vec()),
        );
        let e = fetch(&base, "demo", Some("1.0"), dir.path()).unwrap_err();
        assert!(matches!(e, RegistryError::Integrity { .. }), "{e}");
        assert!(e.to_string().contains("sha256 mismatch"), "{e}");
    }

    #[test]
    fn fetch_falls_back_to_the_sdist_and_reports_missing_versions() {
        let sdist = tar_gz(&[
            ("only-2.0/PKG-INFO", "Name: only\nVersion: 2.0\n"),
            ("only-2.0/setup.py", ""),
        ]);
        let shared = std::sync::Arc::new(std::sync::Mutex::new(Routes::new()));
        let (base, _log) = serve_dynamic(shared.clone());
        {
            let mut r = shared.lock().unwrap();
            r.insert(
                "/files/only-2.0.tar.gz".into(),
                (200, "application/octet-stream", sdist.clone()),
            );
            let files = serde_json::json!([
                release_file("only-2.0-cp39-cp39-manylinux2014_x86_64.whl", &base, "00"),
                release_file("only-2.0.tar.gz", &base, &sha256_hex(&sdist)),
            ]);
            let latest = serde_json::json!({"info": {"version": "2.0"}, "urls": files});
            r.insert(
                "/pypi/only/json".into(),
                (200, "application/json", {
                    let mut d = latest.clone();
                    d["releases"] = serde_json::json!({"1.0": [], "2.0": files});
                    d.to_string().into_bytes()
                }),
            );
        }
        let dir = tempfile::tempdir().unwrap();
        let f = fetch(&base, "only", None, dir.path()).unwrap();
        assert_eq!(
            (f.file_name.as_str(), f.version.as_str()),
            ("only-2.0.tar.gz", "2.0")
        );
        assert_eq!(f.kind, ArtifactKind::SdistTarGz);

        // No per-version document on this index: the project document's releases serve.
        let f = fetch(&base, "only", Some("2.0"), dir.path()).unwrap();
        assert_eq!(f.file_name, "only-2.0.tar.gz");
        let e = fetch(&base, "only", Some("1.0"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("version 1.0 of PyPI project only"), "{e}");
        let e = fetch(&base, "only", Some("9.9"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(
            e.contains("version 9.9 of PyPI project only") && e.contains("2.0"),
            "{e}"
        );
        let e = fetch(&base, "nope", Some("1"), dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("PyPI project nope does not exist"), "{e}");
    }

    #[test]
    fn file_urls_are_resolved_against_the_document_that_lists_them() {
        let base = "https://pypi.org/pypi/numpy/json";
        let r = |href: &str| resolve_file_url(base, href);
        assert_eq!(
            r("../../packages/ab/cd/numpy-2.4.6.tar.gz#sha256=00").unwrap(),
            "https://pypi.org/packages/ab/cd/numpy-2.4.6.tar.gz"
        );
        assert_eq!(
            r("https://files.pythonhosted.org/packages/x.whl").unwrap(),
            "https://files.pythonhosted.org/packages/x.whl"
        );
        assert_eq!(
            r("//mirror.example/x.whl").unwrap(),
            "https://mirror.example/x.whl"
        );
        assert_eq!(r("/files/x.whl").unwrap(), "https://pypi.org/files/x.whl");
        assert!(r("file:///etc/passwd").is_err());
        assert!(resolve_file_url("not a url", "x.whl").is_err());
    }

    /// The index lists files relative to its JSON documents (pypi.org behind some
    /// proxies, mirrors): both the per-version document and the project document.
    #[test]
    fn fetch_resolves_relative_file_urls() {
        let whl = wheel("demo", "1.0", &[], &[("demo.py", "")]);
        let sdist = tar_gz(&[
            ("demo-1.0/PKG-INFO", "Name: demo\nVersion: 1.0\n"),
            ("demo-1.0/setup.py", ""),
        ]);
        let file = |name: &str, href: &str, bytes: &[u8]| {
            serde_json::json!({
                "filename": name, "url": format!("{href}#sha256={}", sha256_hex(bytes)),
                "digests": {"sha256": sha256_hex(bytes)},
            })
        };
        let mut routes = Routes::new();
        routes.insert(
            "/packages/ab/cd/demo-1.0-py3-none-any.whl".into(),
            (200, "application/octet-stream", whl.clone()),
        );
        routes.insert(
            "/packages/ef/01/demo-1.0.tar.gz".into(),
            (200, "application/octet-stream", sdist.clone()),
        );
        // Per-version document: /pypi/demo/1.0/json, so three levels up is the root.
        let release = serde_json::json!({
            "info": {"version": "1.0"},
            "urls": [file("demo-1.0-py3-none-any.whl", "../../../packages/ab/cd/demo-1.0-py3-none-any.whl", &whl)],
        });
        routes.insert(
            "/pypi/demo/1.0/json".into(),
            (200, "application/json", release.to_string().into_bytes()),
        );
        // Project document only (the version document 404s), two levels up.
        let project = serde_json::json!({
            "info": {"version": "1.0"},
            "releases": {"1.0": [file("demo-1.0.tar.gz", "../../packages/ef/01/demo-1.0.tar.gz", &sdist)]},
        });
        routes.insert(
            "/pypi/other/json".into(),
            (200, "application/json", project.to_string().into_bytes()),
        );
        let (base, log) = serve(routes);
        let dir = tempfile::tempdir().unwrap();
        let f = fetch(&base, "demo", Some("1.0"), dir.path()).unwrap();
        assert_eq!(f.file_name, "demo-1.0-py3-none-any.whl");
        assert_eq!(std::fs::read(&f.path).unwrap(), whl);
        let f = fetch(&base, "other", Some("1.0"), dir.path()).unwrap();
        assert_eq!(f.file_name, "demo-1.0.tar.gz");
        assert_eq!(f.sha256, sha256_hex(&sdist));
        let log = log.lock().unwrap();
        assert!(
            log.contains(&"/packages/ab/cd/demo-1.0-py3-none-any.whl".to_string())
                && log.contains(&"/packages/ef/01/demo-1.0.tar.gz".to_string()),
            "{log:?}"
        );
    }

    /// Like [`serve`] but with routes that may change after the server started.
    fn serve_dynamic(
        routes: std::sync::Arc<std::sync::Mutex<Routes>>,
    ) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        use std::io::{Read, Write};
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
        let log2 = log.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                let Ok(mut s) = stream else { continue };
                let mut buf = Vec::new();
                let mut chunk = [0u8; 4096];
                while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                    match s.read(&mut chunk) {
                        Ok(0) | Err(_) => break,
                        Ok(n) => buf.extend_from_slice(&chunk[..n]),
                    }
                }
                let req = String::from_utf8_lossy(&buf);
                let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
                let path = path.split(['?', '#']).next().unwrap_or("/").to_string();
                log2.lock().unwrap().push(path.clone());
                let (status, ctype, body) = routes.lock().unwrap().get(&path).cloned().unwrap_or((
                    404,
                    "text/plain",
                    b"not found".to_vec(),
                ));
                let head = format!(
                    "HTTP/1.1 {status} X\r\nContent-Type: {ctype}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                    body.len()
                );
                let _ = s.write_all(head.as_bytes());
                let _ = s.write_all(&body);
            }
        });
        (base, log)
    }

    #[test]
    fn refuses_options_urls_and_extras_in_requirements() {
        assert_eq!(
            refuse_requirement("requests>=2.0,<3; python_version >= \"3\""),
            None
        );
        assert_eq!(refuse_requirement("Foo[bar,baz] (>=1.0)"), None);
        assert!(refuse_requirement("--index-url=http://evil/").is_some());
        assert!(refuse_requirement("-r /etc/passwd").is_some());
        assert!(refuse_requirement("foo @ https://evil.example/foo.whl").is_some());
        assert!(refuse_requirement("foo @ file:///etc/passwd").is_some());
        assert_eq!(
            refuse_requirement("x; extra == \"dev\""),
            Some("only for an extra")
        );
        assert!(refuse_requirement("a\n--extra-index-url x").is_some());
    }

    /// pip itself, against a loopback simple index (HTML pages with relative file URLs,
    /// as mirrors serve them): transitive wheels land in the wheelhouse, a requirement
    /// with only an sdist is listed as missing (and never built), and a URL requirement
    /// is refused without a request.
    /// A loopback simple index (HTML pages, relative file URLs) with `dep-a` (needs
    /// `dep-b`), `dep-b`, `setuptools`, `wheel` as wheels and `nowheel` as an sdist only.
    fn loopback_simple_index() -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
        let dep_a = wheel("dep-a", "1.0", &["dep-b>=1"], &[("dep_a.py", "")]);
        let dep_b = wheel("dep-b", "1.1", &[], &[("dep_b.py", "")]);
        let setuptools = wheel("setuptools", "69.0", &[], &[("setuptools/__init__.py", "")]);
        let wheel_w = wheel("wheel", "0.42", &[], &[("wheel/__init__.py", "")]);
        let sdist_only = tar_gz(&[("nowheel-1.0/setup.py", "raise SystemExit('must never run')")]);
        let mut routes = Routes::new();
        let project = |routes: &mut Routes, name: &str, file: &str, bytes: &[u8]| {
            routes.insert(
                format!("/files/{file}"),
                (200, "application/octet-stream", bytes.to_vec()),
            );
            let html = format!(
                "<!DOCTYPE html><html><body><a href=\"../../files/{file}#sha256={}\">{file}</a></body></html>",
                sha256_hex(bytes)
            );
            routes.insert(
                format!("/simple/{name}/"),
                (200, "text/html", html.into_bytes()),
            );
        };
        project(&mut routes, "dep-a", "dep_a-1.0-py3-none-any.whl", &dep_a);
        project(&mut routes, "dep-b", "dep_b-1.1-py3-none-any.whl", &dep_b);
        project(
            &mut routes,
            "setuptools",
            "setuptools-69.0-py3-none-any.whl",
            &setuptools,
        );
        project(
            &mut routes,
            "wheel",
            "wheel-0.42-py3-none-any.whl",
            &wheel_w,
        );
        project(&mut routes, "nowheel", "nowheel-1.0.tar.gz", &sdist_only);
        serve(routes)
    }

    fn sdist_meta(requires_dist: &[&str]) -> PyMeta {
        PyMeta {
            name: "target".into(),
            normalized_name: "target".into(),
            version: "1".into(),
            requires_dist: requires_dist.iter().map(|r| r.to_string()).collect(),
            requires_python: None,
            build_requires: default_build_requires(),
            build_backend: None,
            top_level: vec![],
            pth_files: vec![],
            has_setup_py: true,
            has_pyproject: false,
            kind: ArtifactKind::SdistTarGz,
            metadata_from_file_name: false,
        }
    }

    fn wheel_names(wh: &Wheelhouse) -> Vec<String> {
        wh.files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_string())
            .collect()
    }

    #[test]
    fn prepare_wheelhouse_downloads_wheels_only_with_pip() {
        let (base, log) = loopback_simple_index();

        let work = tempfile::tempdir().unwrap();
        let cache = tempfile::tempdir().unwrap();
        let meta = sdist_meta(&[
            "dep-a",
            "nowheel",
            "evil @ http://127.0.0.1:9/evil.whl",
            "pytest; extra == \"test\"",
            "Target>=0",
        ]);
        let opts = WheelhouseOptions {
            cache_dir: Some(cache.path().to_path_buf()),
            python: None,
            wheel_cache: None,
        };
        let wh = prepare_wheelhouse(
            Path::new("target-1.tar.gz"),
            &meta,
            &base,
            work.path(),
            &opts,
        )
        .unwrap();
        assert_eq!(
            wheel_names(&wh),
            vec![
                "dep_a-1.0-py3-none-any.whl",
                "dep_b-1.1-py3-none-any.whl",
                "setuptools-69.0-py3-none-any.whl",
                "wheel-0.42-py3-none-any.whl",
            ]
        );
        assert_eq!(wh.missing.len(), 2, "{:?}", wh.missing);
        assert!(
            wh.missing.iter().any(|m| m.starts_with("nowheel")),
            "{:?}",
            wh.missing
        );
        assert!(
            wh.missing.iter().any(|m| m.starts_with("evil @")),
            "{:?}",
            wh.missing
        );
        let log = log.lock().unwrap();
        assert!(
            !log.iter().any(|p| p.contains("nowheel-1.0.tar.gz")
                || p.contains("pytest")
                || p.contains("target")),
            "{log:?}"
        );
    }

    const ALL_FOUR: [&str; 4] = [
        "dep_a-1.0-py3-none-any.whl",
        "dep_b-1.1-py3-none-any.whl",
        "setuptools-69.0-py3-none-any.whl",
        "wheel-0.42-py3-none-any.whl",
    ];

    /// Options whose pip cannot even start: a wheelhouse made with them came from the
    /// wheel cache alone.
    fn no_pip(cache: &WheelCache, pip_cache: &Path) -> WheelhouseOptions {
        WheelhouseOptions {
            cache_dir: Some(pip_cache.to_path_buf()),
            python: Some("/nonexistent/python3".into()),
            wheel_cache: Some(cache.clone()),
        }
    }

    #[test]
    fn wheel_cache_hit_runs_no_pip_and_makes_no_request() {
        let (base, log) = loopback_simple_index();
        let cache_dir = tempfile::tempdir().unwrap();
        let pip_cache = tempfile::tempdir().unwrap();
        let cache = WheelCache::at(cache_dir.path());
        let meta = sdist_meta(&["dep-a"]);
        let opts = WheelhouseOptions {
            cache_dir: Some(pip_cache.path().to_path_buf()),
            python: None,
            wheel_cache: Some(cache.clone()),
        };
        let target = Path::new("target-1.tar.gz");
        let cold = tempfile::tempdir().unwrap();
        let wh = prepare_wheelhouse(target, &meta, &base, cold.path(), &opts).unwrap();
        assert_eq!(wheel_names(&wh), ALL_FOUR);
        assert_eq!((wh.cached_sets, wh.pip_runs), (0, 2));
        assert!(wh.missing.is_empty(), "{:?}", wh.missing);
        // pip's own download directories are gone; only wheels are staged.
        assert_eq!(std::fs::read_dir(cold.path()).unwrap().count(), 1);

        let requests = log.lock().unwrap().len();
        let warm = tempfile::tempdir().unwrap();
        let wh = prepare_wheelhouse(
            target,
            &meta,
            &format!("{base}/"),
            warm.path(),
            &no_pip(&cache, pip_cache.path()),
        )
        .unwrap();
        assert_eq!(wheel_names(&wh), ALL_FOUR);
        assert_eq!((wh.cached_sets, wh.pip_runs), (2, 0));
        assert!(wh.missing.is_empty(), "{:?}", wh.missing);
        assert_eq!(log.lock().unwrap().len(), requests);
        for f in &wh.files {
            let (sha, _) = file_sha256(f).unwrap();
            assert!(cache_dir.path().join("blobs").join(sha).is_file());
            #[cfg(unix)]
            {
                use std::os::unix::fs::PermissionsExt;
                let mode = std::fs::metadata(f).unwrap().permissions().mode();
                assert_eq!(mode & 0o777, 0o644, "{}", f.display());
            }
        }

        // The requirement order does not matter; another index does.
        let reordered = sdist_meta(&["dep-a", "setuptools"]);
        let mut swapped = reordered.clone();
        swapped.requires_dist.reverse();
        let o = opts.clone();
        prepare_wheelhouse(
            target,
            &reordered,
            &base,
            tempfile::tempdir().unwrap().path(),
            &o,
        )
        .unwrap();
        let wh = prepare_wheelhouse(
            target,
            &swapped,
            &base,
            tempfile::tempdir().unwrap().path(),
            &no_pip(&cache, pip_cache.path()),
        )
        .unwrap();
        assert_eq!((wh.cached_sets, wh.pip_runs), (2, 0));
        let wh = prepare_wheelhouse(
            target,
            &meta,
            "http://127.0.0.1:9",
            tempfile::tempdir().unwrap().path(),
            &no_pip(&cache, pip_cache.path()),
        )
        .unwrap();
        assert_eq!(wh.cached_sets, 0);
        assert!(!wh.missing.is_empty());
    }

    #[test]
    fn wheel_cache_misses_when_expired_or_a_blob_is_damaged() {
        let (base, _log) = loopback_simple_index();
        let cache_dir = tempfile::tempdir().unwrap();
        let pip_cache = tempfile::tempdir().unwrap();
        let cache = WheelCache::at(cache_dir.path());
        let meta = sdist_meta(&["dep-a"]);
        let target = Path::new("target-1.tar.gz");
        let opts = WheelhouseOptions {
            cache_dir: Some(pip_cache.path().to_path_buf()),
            python: None,
            wheel_cache: Some(cache.clone()),
        };
        let fill = |o: &WheelhouseOptions| {
            prepare_wheelhouse(target, &meta, &base, tempfile::tempdir().unwrap().path(), o)
        };
        fill(&opts).unwrap();

        // Expired: pip is needed again (and cannot run here).
        let expired = WheelCache {
            ttl: std::time::Duration::ZERO,
            ..cache.clone()
        };
        let wh = fill(&no_pip(&expired, pip_cache.path())).unwrap();
        assert_eq!(wh.cached_sets, 0);
        assert!(wh.pip_runs > 0 && !wh.missing.is_empty(), "{wh:?}");

        // A damaged blob (same size, other bytes) is a miss for the sets listing it.
        let runtime_reqs: Vec<String> = vec!["dep-a".into()];
        let hit = cache.lookup(&runtime_reqs, &base).unwrap();
        let (_, blob) = hit.iter().find(|(f, _)| f.starts_with("dep_b")).unwrap();
        let mut bytes = std::fs::read(blob).unwrap();
        let last = bytes.len() - 1;
        bytes[last] ^= 0xff;
        std::fs::write(blob, &bytes).unwrap();
        let e = cache.lookup(&runtime_reqs, &base).unwrap_err();
        assert!(e.contains("hashes to"), "{e}");
        let wh = fill(&no_pip(&cache, pip_cache.path())).unwrap();
        assert_eq!(wh.cached_sets, 1, "the build set is intact: {wh:?}");
        assert!(wh.missing.iter().any(|m| m.starts_with("dep-a")), "{wh:?}");
        assert!(!wh
            .files
            .iter()
            .any(|f| f.to_string_lossy().contains("dep_b")));

        // pip repairs it, and the cache serves it again.
        let wh = fill(&opts).unwrap();
        assert_eq!((wh.cached_sets, wh.pip_runs), (1, 1));
        let wh = fill(&no_pip(&cache, pip_cache.path())).unwrap();
        assert_eq!(wheel_names(&wh), ALL_FOUR);
        assert_eq!((wh.cached_sets, wh.pip_runs), (2, 0));

        // An entry for another set under this key (a collision, a hand edit) is ignored.
        let entry = cache.entry_path(&runtime_reqs, &base);
        let text = std::fs::read_to_string(&entry).unwrap();
        std::fs::write(&entry, text.replace("\"dep-a\"", "\"dep-z\"")).unwrap();
        assert!(cache.lookup(&runtime_reqs, &base).is_err());
    }

    /// Two scans at once on a cold cache: both get their wheels, and what the cache
    /// holds afterwards is whole and serves a third scan.
    #[test]
    fn wheel_cache_is_safe_for_concurrent_scans() {
        let (base, _log) = loopback_simple_index();
        let cache_dir = tempfile::tempdir().unwrap();
        let cache = WheelCache::at(cache_dir.path());
        let meta = sdist_meta(&["dep-a"]);
        let runs: Vec<_> = (0..2)
            .map(|_| {
                let (base, meta, cache) = (base.clone(), meta.clone(), cache.clone());
                std::thread::spawn(move || {
                    let pip_cache = tempfile::tempdir().unwrap();
                    let work = tempfile::tempdir().unwrap();
                    let opts = WheelhouseOptions {
                        cache_dir: Some(pip_cache.path().to_path_buf()),
                        python: None,
                        wheel_cache: Some(cache),
                    };
                    let t = Path::new("target-1.tar.gz");
                    wheel_names(&prepare_wheelhouse(t, &meta, &base, work.path(), &opts).unwrap())
                })
            })
            .collect();
        for r in runs {
            assert_eq!(r.join().unwrap(), ALL_FOUR);
        }
        let pip_cache = tempfile::tempdir().unwrap();
        let wh = prepare_wheelhouse(
            Path::new("target-1.tar.gz"),
            &meta,
            &base,
            tempfile::tempdir().unwrap().path(),
            &no_pip(&cache, pip_cache.path()),
        )
        .unwrap();
        assert_eq!(wheel_names(&wh), ALL_FOUR);
        let leftovers: Vec<_> = ["sets", "blobs"]
            .iter()
            .flat_map(|d| std::fs::read_dir(cache_dir.path().join(d)).unwrap())
            .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
            .filter(|n| n.starts_with(".tmp"))
            .collect();
        assert!(leftovers.is_empty(), "{leftovers:?}");
    }

    #[test]
    #[ignore = "talks to the real PyPI"]
    fn live_wheelhouse_for_an_sdist_with_runtime_deps() {
        let work = tempfile::tempdir().unwrap();
        let meta = PyMeta {
            name: "demo".into(),
            normalized_name: "demo".into(),
            version: "1".into(),
            requires_dist: vec![
                "requests>=2.31".into(),
                "numpy<2; python_version>='3.9'".into(),
            ],
            requires_python: None,
            build_requires: default_build_requires(),
            build_backend: None,
            top_level: vec![],
            pth_files: vec![],
            has_setup_py: true,
            has_pyproject: false,
            kind: ArtifactKind::SdistTarGz,
            metadata_from_file_name: false,
        };
        let wh = prepare_wheelhouse(
            Path::new("demo-1.tar.gz"),
            &meta,
            DEFAULT_INDEX,
            work.path(),
            &WheelhouseOptions::default(),
        )
        .unwrap();
        let names: Vec<String> = wh
            .files
            .iter()
            .map(|p| p.file_name().unwrap().to_string_lossy().to_lowercase())
            .collect();
        for want in [
            "requests-",
            "urllib3-",
            "idna-",
            "certifi-",
            "setuptools-",
            "wheel-",
        ] {
            assert!(
                names.iter().any(|n| n.starts_with(want)),
                "{want} missing: {names:?}"
            );
        }
        assert!(
            names
                .iter()
                .any(|n| n.starts_with("numpy-") && n.contains("cp311-cp311-manylinux")),
            "{names:?}"
        );
        assert!(wh.missing.is_empty(), "{:?}", wh.missing);
    }

    /// Wall time of [`prepare_wheelhouse`] for a small sdist with the sandbox's seed
    /// wheels (engine.rs `PYPI_SEED`): pip and wheel caches cold, pip's cache warm (what
    /// every scan paid before the wheel cache), and the wheel cache warm.
    #[test]
    #[ignore = "talks to the real PyPI"]
    fn live_wheel_cache_cold_vs_warm() {
        let seed = [
            "setuptools",
            "wheel",
            "requests",
            "urllib3",
            "certifi",
            "idna",
            "charset-normalizer",
            "six",
            "colorama",
            "psutil",
        ];
        let meta = sdist_meta(&seed);
        let pip_cache = tempfile::tempdir().unwrap();
        let time = |cache: &WheelCache| {
            let work = tempfile::tempdir().unwrap();
            let opts = WheelhouseOptions {
                cache_dir: Some(pip_cache.path().to_path_buf()),
                python: None,
                wheel_cache: Some(cache.clone()),
            };
            let t = std::time::Instant::now();
            let wh = prepare_wheelhouse(
                Path::new("target-1.tar.gz"),
                &meta,
                DEFAULT_INDEX,
                work.path(),
                &opts,
            )
            .unwrap();
            assert!(wh.missing.is_empty(), "{:?}", wh.missing);
            (t.elapsed(), wh.files.len(), wh.cached_sets, wh.pip_runs)
        };
        let (a, b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
        let cold = time(&WheelCache::at(a.path()));
        let pip_warm = time(&WheelCache::at(b.path()));
        let warm = time(&WheelCache::at(b.path()));
        eprintln!(
            "all cold:        {cold:?}\npip cache warm:  {pip_warm:?}\nwheel cache hit: {warm:?}"
        );
        assert_eq!((warm.2, warm.3), (2, 0));
    }

    #[test]
    #[ignore = "talks to the real PyPI"]
    fn live_pypi_fetch_and_metadata() {
        let dir = tempfile::tempdir().unwrap();
        let f = fetch(DEFAULT_INDEX, "six", Some("1.16.0"), dir.path()).unwrap();
        assert_eq!(f.file_name, "six-1.16.0-py2.py3-none-any.whl");
        let m = read_metadata(&f.path).unwrap();
        assert_eq!(m.top_level, vec!["six"]);
        let e = fetch(DEFAULT_INDEX, "six", Some("0.0.0.0.1"), dir.path()).unwrap_err();
        assert!(e.to_string().contains("recent"), "{e}");
    }
}
