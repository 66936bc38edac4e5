//! Reading a Python distribution's metadata in memory, never unpacking it: a wheel's
//! `*.dist-info/METADATA`, `top_level.txt` and RECORD, an sdist's PKG-INFO,
//! `pyproject.toml` `[build-system]`/`[project]` and egg-info, with size limits and
//! refusal of unsafe entry names. One job of the PyPI ecosystem: what an archive is.

use std::collections::{BTreeMap, BTreeSet};
use std::io::{Cursor, Read};
use std::path::{Component, Path};

use serde::Deserialize;

use super::*;
use crate::RegistryError;

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
pub(super) fn unsafe_entry(name: &str) -> bool {
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
pub(super) struct Listing {
    /// Every regular-file path in the archive, `/`-separated.
    files: Vec<String>,
    /// Contents of the interesting files, keyed by path.
    contents: BTreeMap<String, Vec<u8>>,
}

/// Files whose contents matter, wheel or sdist: dist-info METADATA/RECORD/top_level.txt,
/// root PKG-INFO/pyproject.toml/setup.py, egg-info PKG-INFO/top_level.txt/requires.txt.
pub(super) fn interesting(name: &str) -> bool {
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

pub(super) fn read_capped(
    r: &mut dyn Read,
    path: &Path,
    entry: &str,
) -> Result<Vec<u8>, RegistryError> {
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

pub(super) fn list_zip(bytes: &[u8], path: &Path) -> Result<Listing, RegistryError> {
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
    if zip.len() > crate::limits::MAX_ENTRIES {
        return Err(bad(format!(
            "{} entries, more than {}; refusing to read it",
            zip.len(),
            crate::limits::MAX_ENTRIES
        )));
    }
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

pub(super) fn list_tar_gz(bytes: &[u8], path: &Path) -> Result<Listing, RegistryError> {
    let bad = |m: String| RegistryError::BadArtifact {
        path: path.to_path_buf(),
        message: m,
    };
    // Bounded: a decompression bomb stops here, in memory (see crate::limits).
    let mut ar = tar::Archive::new(crate::limits::bounded_gz(Cursor::new(bytes)));
    let mut listing = Listing {
        files: Vec::new(),
        contents: BTreeMap::new(),
    };
    let entries = ar
        .entries()
        .map_err(|e| bad(format!("corrupt tar.gz archive: {e}")))?;
    for (i, entry) in entries.enumerate() {
        if i >= crate::limits::MAX_ENTRIES {
            return Err(bad(format!(
                "more than {} entries; reading stopped",
                crate::limits::MAX_ENTRIES
            )));
        }
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
    let meta = read_metadata_unchecked(file_name, bytes, path)?;
    // The name and version name files on the host (a wheel's install name, caches).
    crate::validate::pypi_name("the metadata's \"Name\"", &meta.name)?;
    crate::validate::pypi_legacy_version("the metadata's \"Version\"", &meta.version)?;
    Ok(meta)
}

fn read_metadata_unchecked(
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

pub(super) fn text(bytes: &[u8]) -> String {
    String::from_utf8_lossy(bytes).into_owned()
}

pub(super) fn first(h: &BTreeMap<String, Vec<String>>, key: &str) -> Option<String> {
    h.get(key)
        .and_then(|v| v.first())
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty() && s != "UNKNOWN")
}

pub(super) fn is_identifier(s: &str) -> bool {
    let mut chars = s.chars();
    matches!(chars.next(), Some(c) if c.is_ascii_alphabetic() || c == '_')
        && chars.all(|c| c.is_ascii_alphanumeric() || c == '_')
}

pub(super) fn push_top(out: &mut Vec<String>, name: &str) {
    let name = name.trim();
    if is_identifier(name) && !out.iter().any(|n| n == name) {
        out.push(name.to_string());
    }
}

/// Top-level importable name a site-packages-relative path installs, if any.
pub(super) fn top_of_installed_path(p: &str) -> Option<String> {
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

pub(super) fn wheel_meta(listing: &Listing, path: &Path) -> Result<PyMeta, RegistryError> {
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

pub(super) fn name_version(
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
pub(super) fn split_sdist_file_name(file_name: &str) -> Option<(String, String)> {
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
pub(super) struct PyProject {
    #[serde(default, rename = "build-system")]
    build_system: Option<BuildSystem>,
    #[serde(default)]
    project: Option<ProjectTable>,
}

#[derive(Deserialize, Default)]
pub(super) struct BuildSystem {
    #[serde(default)]
    requires: Option<Vec<String>>,
    #[serde(default, rename = "build-backend")]
    build_backend: Option<String>,
}

#[derive(Deserialize, Default)]
pub(super) struct ProjectTable {
    #[serde(default)]
    name: Option<String>,
    #[serde(default)]
    version: Option<String>,
    #[serde(default)]
    dependencies: Option<Vec<String>>,
}

pub(super) fn sdist_meta(
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

pub(super) fn default_build_requires() -> Vec<String> {
    DEFAULT_BUILD_REQUIRES
        .iter()
        .map(|s| s.to_string())
        .collect()
}

/// Best-effort top-level names of an sdist from its file tree: packages (directories
/// with `__init__.py`) and modules at the root or under `src/`, minus setup/test files.
pub(super) fn sdist_tree_top_level(files: &[String], root: &str) -> Vec<String> {
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
    if out.is_empty() {
        // A package one directory further down (`package_dir={"": "lib"}`, a
        // pyproject's `where = ["python"]`): the import name is still the package's.
        for f in files {
            let Some(rel) = f.strip_prefix(root) else {
                continue;
            };
            if let [dir, pkg, "__init__.py"] = rel.split('/').collect::<Vec<_>>().as_slice() {
                if !NOT_TOP_LEVEL.contains(dir) && !NOT_TOP_LEVEL.contains(pkg) {
                    push_top(&mut out, pkg);
                }
            }
        }
    }
    out
}
