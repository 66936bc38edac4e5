//! Lockfile audit: what a lockfile says about where code comes from, before anything is
//! installed. Git refs (Shai-Hulud spread through `optionalDependencies` on `github:`
//! commits), tarballs from outside the registry, `http:` URLs, missing or sha1-only
//! integrity, foreign registries, unpinned or unhashed Python requirements, and versions
//! a local OSV export calls malicious.
//!
//! Each finding has a stable kebab-case code (see [`codes`]), a severity, the lockfile
//! and the 1-based line of the entry so SARIF can point at it. Supported:
//! `package-lock.json`/`npm-shrinkwrap.json` (v1-v3), `yarn.lock` (classic and berry),
//! `pnpm-lock.yaml`, `requirements*.txt`, `poetry.lock`, `uv.lock`. Parsers are
//! line-aware on purpose: line numbers are the point, and serde parsers drop them.
//! package-lock files go through [`crate::lockfile::npm`], the parser the install
//! wrapper uses too. Whatever a parser does not understand is a
//! `lockfile-not-understood` finding (high): a lockfile read in part is never clean.
//! Every parser is linear in the file (see `benches/audit.rs`).

use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

use airlock_events::{Ecosystem, Severity};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::lockfile::{is_git, LockedPackage as Entry, Problem};

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

/// Lockfile names looked for when auditing a directory.
pub const LOCKFILE_NAMES: &[&str] = &[
    "npm-shrinkwrap.json",
    "package-lock.json",
    "yarn.lock",
    "pnpm-lock.yaml",
    "requirements.txt",
    "poetry.lock",
    "uv.lock",
];

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
    #[error("{path}: no lockfile found (looked for {})", LOCKFILE_NAMES.join(", "))]
    NoLockfile { path: PathBuf },
    #[error("{path}: not a lockfile airlock knows")]
    UnknownFormat { path: PathBuf },
    #[error("OSV export {path}: {message}")]
    Osv { path: PathBuf, message: String },
}

// ---------------------------------------------------------------------------------------
// OSV

/// Affected versions of one package in one OSV record.
#[derive(Debug, Clone, Default)]
struct OsvAffected {
    id: String,
    summary: String,
    versions: HashSet<String>,
    /// (introduced, fixed-or-last) pairs; "0" introduced with no end means every version.
    ranges: Vec<(String, Option<String>, bool)>,
}

/// A local OSV export (a directory of OSV JSON files or a zip of them, like OSV's
/// `npm/all.zip`), indexed by ecosystem and package name.
#[derive(Debug, Clone, Default)]
pub struct OsvDb {
    by_pkg: HashMap<(Ecosystem, String), Vec<OsvAffected>>,
    pub records: usize,
}

fn normalize_name(eco: Ecosystem, name: &str) -> String {
    match eco {
        Ecosystem::Npm => name.to_string(),
        Ecosystem::Pypi => {
            let lower = name.to_ascii_lowercase();
            let mut out = String::new();
            for c in lower.chars() {
                let c = if c == '_' || c == '.' { '-' } else { c };
                if c == '-' && out.ends_with('-') {
                    continue;
                }
                out.push(c);
            }
            out
        }
    }
}

/// Compares dotted versions numerically where possible (1.10 > 1.9).
pub fn cmp_version(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| -> Vec<(u64, String)> {
        s.trim_start_matches('v')
            .split(['.', '-', '+'])
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_string())
            })
            .collect()
    };
    let (x, y) = (split(a), split(b));
    for i in 0..x.len().max(y.len()) {
        let l = x.get(i).cloned().unwrap_or((0, String::new()));
        let r = y.get(i).cloned().unwrap_or((0, String::new()));
        let o =
            l.0.cmp(&r.0)
                .then_with(|| match (l.1.is_empty(), r.1.is_empty()) {
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ => l.1.cmp(&r.1),
                });
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

impl OsvDb {
    /// Loads a directory (searched recursively for `*.json`) or a `.zip` of OSV records.
    pub fn load(path: &Path) -> Result<OsvDb, AuditError> {
        let mut db = OsvDb::default();
        let io = |source| AuditError::Io {
            path: path.into(),
            source,
        };
        if path.is_dir() {
            let mut stack = vec![path.to_path_buf()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).map_err(io)? {
                    let p = entry.map_err(io)?.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|e| e == "json") {
                        let text =
                            std::fs::read_to_string(&p).map_err(|source| AuditError::Io {
                                path: p.clone(),
                                source,
                            })?;
                        db.add_json(&p, &text)?;
                    }
                }
            }
        } else {
            let bytes = std::fs::read(path).map_err(io)?;
            // An OSV export is large (npm's all.zip: hundreds of thousands of records):
            // each record is handed over as it is read, none is kept.
            let limits = crate::archive::Limits {
                max_total_bytes: 64 << 30,
                max_entries: 10_000_000,
                max_entry_bytes: 64 << 20,
                ..crate::archive::Limits::default()
            };
            let mut failed: Option<AuditError> = None;
            let ar = crate::archive::visit(
                &bytes,
                &limits,
                crate::archive::Root::AsIs,
                &mut |name, content| {
                    if failed.is_some() || !name.ends_with(".json") {
                        return;
                    }
                    let text = String::from_utf8_lossy(content);
                    if let Err(e) = db.add_json(&path.join(name), &text) {
                        failed = Some(e);
                    }
                },
            )
            .map_err(|e| AuditError::Osv {
                path: path.into(),
                message: e.to_string(),
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            if !ar.complete {
                let why: Vec<&str> = ar.issues.iter().map(|i| i.detail.as_str()).collect();
                return Err(AuditError::Osv {
                    path: path.into(),
                    message: format!("read only in part: {}", why.join("; ")),
                });
            }
        }
        Ok(db)
    }

    /// Adds one OSV record given as JSON text.
    pub fn add_json(&mut self, path: &Path, text: &str) -> Result<(), AuditError> {
        let v: Value = serde_json::from_str(text).map_err(|e| AuditError::Osv {
            path: path.into(),
            message: e.to_string(),
        })?;
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let summary = v
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.records += 1;
        for a in v
            .get("affected")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(pkg) = a.get("package") else {
                continue;
            };
            let eco = match pkg.get("ecosystem").and_then(Value::as_str) {
                Some("npm") => Ecosystem::Npm,
                Some("PyPI") => Ecosystem::Pypi,
                _ => continue,
            };
            let Some(name) = pkg.get("name").and_then(Value::as_str) else {
                continue;
            };
            let mut aff = OsvAffected {
                id: id.clone(),
                summary: summary.clone(),
                ..Default::default()
            };
            for ver in a
                .get("versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(s) = ver.as_str() {
                    aff.versions.insert(s.to_string());
                }
            }
            for r in a
                .get("ranges")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let mut introduced = None;
                for ev in r
                    .get("events")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(i) = ev.get("introduced").and_then(Value::as_str) {
                        introduced = Some(i.to_string());
                    } else if let Some(f) = ev.get("fixed").and_then(Value::as_str) {
                        aff.ranges.push((
                            introduced.take().unwrap_or_else(|| "0".into()),
                            Some(f.to_string()),
                            false,
                        ));
                    } else if let Some(l) = ev.get("last_affected").and_then(Value::as_str) {
                        aff.ranges.push((
                            introduced.take().unwrap_or_else(|| "0".into()),
                            Some(l.to_string()),
                            true,
                        ));
                    }
                }
                if let Some(i) = introduced {
                    aff.ranges.push((i, None, false));
                }
            }
            self.by_pkg
                .entry((eco, normalize_name(eco, name)))
                .or_default()
                .push(aff);
        }
        Ok(())
    }

    /// OSV ids (with summaries) that list `name@version` as affected.
    pub fn lookup(&self, eco: Ecosystem, name: &str, version: &str) -> Vec<(String, String)> {
        let Some(list) = self.by_pkg.get(&(eco, normalize_name(eco, name))) else {
            return Vec::new();
        };
        list.iter()
            .filter(|a| {
                a.versions.contains(version)
                    || a.ranges.iter().any(|(intro, end, inclusive)| {
                        let after =
                            intro == "0" || cmp_version(version, intro) != std::cmp::Ordering::Less;
                        let before = match end {
                            None => true,
                            Some(e) if *inclusive => {
                                cmp_version(version, e) != std::cmp::Ordering::Greater
                            }
                            Some(e) => cmp_version(version, e) == std::cmp::Ordering::Less,
                        };
                        after && before
                    })
            })
            .map(|a| (a.id.clone(), a.summary.clone()))
            .collect()
    }
}

// ---------------------------------------------------------------------------------------
// Common entry model and checks

struct Ctx<'a> {
    lockfile: &'a Path,
    eco: Ecosystem,
    registry_host: Option<String>,
    osv: Option<&'a OsvDb>,
    out: Vec<AuditFinding>,
}

fn host_of(url: &str) -> Option<String> {
    crate::code::url_host(url)
}

/// A git ref that names a release: `v1.2.3`, `1.2`, `semver:^1`, `tag=…`.
fn ref_is_tag(r: &str) -> bool {
    let r = r.trim_start_matches("tag=").trim_start_matches("tag:");
    if r.starts_with("semver:") {
        return true;
    }
    let r = r.trim_start_matches('v');
    let mut parts = r.split('.');
    parts
        .next()
        .is_some_and(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
        && parts.next().is_some()
}

fn git_ref(s: &str) -> Option<&str> {
    let s = s.split("#egg=").next().unwrap_or(s);
    if let Some((_, path)) = s.split_once("codeload.github.com/") {
        return path.rsplit('/').next();
    }
    let query = s.split_once('?').map(|(_, q)| q);
    let kv =
        |key: &str| query.and_then(|q| q.split(['&', '#']).find_map(|kv| kv.strip_prefix(key)));
    if let Some(t) = kv("tag=") {
        return Some(t);
    }
    if let Some((_, r)) = s.split_once('#') {
        return Some(r.trim_start_matches("commit=").trim_start_matches("tag="));
    }
    if let Some(t) = kv("rev=").or_else(|| kv("branch=")) {
        return Some(t);
    }
    // pip style: git+https://host/repo.git@ref
    let after_scheme = s.split_once("://").map(|x| x.1).unwrap_or(s);
    after_scheme
        .rsplit_once('@')
        .map(|x| x.1)
        .filter(|r| !r.contains('/'))
}

impl Ctx<'_> {
    fn push(&mut self, code: &str, severity: Severity, e: &Entry, message: String) {
        self.out.push(AuditFinding {
            code: code.to_string(),
            severity,
            lockfile: self.lockfile.to_path_buf(),
            line: e.line,
            package: e.name.clone(),
            version: e.version.clone(),
            message,
        });
    }

    fn default_registry_host(&self) -> &'static [&'static str] {
        match self.eco {
            Ecosystem::Npm => &[
                "registry.npmjs.org",
                "registry.yarnpkg.com",
                "registry.npmjs.com",
            ],
            Ecosystem::Pypi => &["pypi.org", "files.pythonhosted.org", "pypi.python.org"],
        }
    }

    fn registry_ok(&self, host: &str) -> bool {
        match &self.registry_host {
            Some(h) => {
                host == h
                    || (self.eco == Ecosystem::Pypi
                        && host == "files.pythonhosted.org"
                        && h == "pypi.org")
            }
            None => self.default_registry_host().contains(&host),
        }
    }

    fn check(&mut self, e: &Entry) {
        if let (Some(db), Some(v)) = (self.osv, &e.version) {
            for (id, summary) in db.lookup(self.eco, &e.name, v) {
                self.push(
                    codes::KNOWN_MALICIOUS,
                    Severity::Critical,
                    e,
                    format!("{}@{v} is listed in {id}: {summary}", e.name),
                );
            }
        }
        if e.local {
            return;
        }
        let source = e
            .resolved
            .clone()
            .or_else(|| e.spec.clone())
            .unwrap_or_default();
        let git = is_git(&source) || e.spec.as_deref().is_some_and(is_git);
        if git {
            let spec = e.spec.as_deref().filter(|s| is_git(s)).unwrap_or(&source);
            self.push(
                codes::GIT_DEPENDENCY,
                Severity::Medium,
                e,
                format!("{} comes from git: {spec}", e.name),
            );
            match git_ref(spec) {
                Some(r) if ref_is_tag(r) => {}
                r => self.push(
                    codes::GIT_REF_NOT_TAG,
                    Severity::Medium,
                    e,
                    format!(
                        "{} pins git ref {} which is not a release tag",
                        e.name,
                        r.unwrap_or("(none: default branch)")
                    ),
                ),
            }
            if e.optional {
                self.push(
                    codes::OPTIONAL_GIT_DEPENDENCY,
                    Severity::High,
                    e,
                    format!("optional dependency {} comes from git ({spec}); install errors there are silent", e.name),
                );
            }
        }
        if source.to_ascii_lowercase().starts_with("http://") {
            self.push(
                codes::INSECURE_HTTP,
                Severity::High,
                e,
                format!("{} is fetched over plain http: {source}", e.name),
            );
        }
        if !git && (source.starts_with("http://") || source.starts_with("https://")) {
            if let Some(host) = host_of(&source) {
                let registry_shaped = match self.eco {
                    Ecosystem::Npm => source.contains("/-/"),
                    Ecosystem::Pypi => source.contains("/packages/") || source.contains("/simple"),
                };
                if !self.registry_ok(&host) {
                    if registry_shaped {
                        self.push(
                            codes::FOREIGN_REGISTRY,
                            Severity::Medium,
                            e,
                            format!(
                                "{} comes from registry {host}, not the configured one",
                                e.name
                            ),
                        );
                    } else {
                        self.push(
                            codes::NON_REGISTRY_TARBALL,
                            Severity::Medium,
                            e,
                            format!("{} is a tarball from {source}", e.name),
                        );
                    }
                }
            }
        }
        if !git {
            match e.integrity.as_deref() {
                None | Some("") => self.push(
                    codes::MISSING_INTEGRITY,
                    Severity::Medium,
                    e,
                    format!("{} has no integrity hash", e.name),
                ),
                Some(i) => {
                    let strong = i.split_whitespace().any(|h| {
                        let l = h.to_ascii_lowercase();
                        l.starts_with("sha512")
                            || l.starts_with("sha384")
                            || l.starts_with("sha256")
                            || (l.len() >= 64 && l.chars().all(|c| c.is_ascii_hexdigit()))
                    });
                    if !strong {
                        self.push(
                            codes::WEAK_INTEGRITY_SHA1,
                            Severity::Low,
                            e,
                            format!(
                                "{} is only protected by a weak hash ({})",
                                e.name,
                                crate::text::clip(i, 30)
                            ),
                        );
                    }
                }
            }
        }
    }
}

// ---------------------------------------------------------------------------------------
// Entry points

/// Audits one lockfile, or every known lockfile directly inside a directory.
pub fn audit_path(path: &Path, opts: &AuditOptions) -> Result<AuditReport, AuditError> {
    let files: Vec<PathBuf> = if path.is_dir() {
        let mut v: Vec<PathBuf> = LOCKFILE_NAMES
            .iter()
            .map(|n| path.join(n))
            .filter(|p| p.is_file())
            .collect();
        if v.iter().any(|p| p.ends_with("npm-shrinkwrap.json")) {
            v.retain(|p| !p.ends_with("package-lock.json"));
        }
        if v.is_empty() {
            return Err(AuditError::NoLockfile { path: path.into() });
        }
        v
    } else {
        vec![path.to_path_buf()]
    };
    let mut report = AuditReport::default();
    for f in files {
        let text = std::fs::read_to_string(&f).map_err(|source| AuditError::Io {
            path: f.clone(),
            source,
        })?;
        let (n, findings) = audit_text(&f, &text, opts)?;
        report.packages += n;
        report.findings.extend(findings);
        report.lockfiles.push(f);
    }
    Ok(report)
}

/// Audits lockfile `text`; `path` picks the format by file name and names the findings.
pub fn audit_text(
    path: &Path,
    text: &str,
    opts: &AuditOptions,
) -> Result<(usize, Vec<AuditFinding>), AuditError> {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().to_ascii_lowercase())
        .unwrap_or_default();
    let parse_err = |message: String| AuditError::Parse {
        path: path.into(),
        message,
    };
    let (eco, (entries, problems)) = if name == "package-lock.json" || name == "npm-shrinkwrap.json"
    {
        (Ecosystem::Npm, npm_lock(text).map_err(parse_err)?)
    } else if name == "yarn.lock" {
        (Ecosystem::Npm, crate::lockfile::yarn::parse(text))
    } else if name == "pnpm-lock.yaml" {
        (Ecosystem::Npm, crate::lockfile::pnpm::parse(text))
    } else if name == "poetry.lock" || name == "uv.lock" {
        (
            Ecosystem::Pypi,
            (
                toml_lock(text, name == "uv.lock").map_err(parse_err)?,
                Vec::new(),
            ),
        )
    } else if name.ends_with(".txt") {
        let reg = opts.registry.as_deref().and_then(host_of);
        return Ok(requirements(path, text, reg.as_deref(), opts.osv.as_ref()));
    } else {
        return Err(AuditError::UnknownFormat { path: path.into() });
    };
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

// ---------------------------------------------------------------------------------------
// npm: package-lock.json / npm-shrinkwrap.json

/// package-lock entries as audit entries, plus what the parser did not understand.
fn npm_lock(text: &str) -> Result<(Vec<Entry>, Vec<Problem>), String> {
    let lock = crate::lockfile::NpmLockfile::parse(text).map_err(|e| e.to_string())?;
    let mut out = Vec::with_capacity(lock.entries.len() + lock.legacy_entries.len());
    let tree_entry = |e: &crate::lockfile::NpmLockEntry| {
        let git = is_git(&e.version);
        Entry {
            name: e.name.clone(),
            version: Some(e.version.clone()).filter(|v| !git && !v.is_empty()),
            resolved: e
                .resolved
                .clone()
                .or_else(|| git.then(|| e.version.clone())),
            integrity: e.integrity.clone(),
            line: e.line,
            optional: e.optional,
            spec: e
                .from
                .clone()
                .filter(|f| is_git(f))
                .or_else(|| git.then(|| e.version.clone())),
            local: e.version.starts_with("file:") || e.version.starts_with("link:"),
        }
    };
    if lock.has_packages_map {
        for e in &lock.entries {
            let top = e.location.matches("node_modules/").count() == 1;
            let (spec, root_optional) = match lock.root_spec(&e.name).filter(|_| top) {
                Some((s, o)) => (Some(s.to_string()), o),
                None => (None, false),
            };
            let local = e.link
                || !e.location.contains("node_modules/")
                || e.resolved
                    .as_deref()
                    .is_some_and(|r| r.starts_with("file:"));
            out.push(Entry {
                name: e.name.clone(),
                version: Some(e.version.clone()).filter(|v| !v.is_empty()),
                resolved: e.resolved.clone(),
                integrity: e.integrity.clone(),
                line: e.line,
                optional: e.optional || root_optional,
                spec: spec.filter(|s| is_git(s) || s.starts_with("http") || s.contains('/')),
                local,
            });
        }
        // npm 6 reads the v2 tree: what only it would install is checked too.
        out.extend(lock.legacy_entries.iter().map(tree_entry));
    } else {
        out.extend(lock.entries.iter().map(tree_entry));
    }
    Ok((out, lock.problems))
}

// ---------------------------------------------------------------------------------------
// poetry.lock and uv.lock

fn toml_lock(text: &str, uv: bool) -> Result<Vec<Entry>, String> {
    let mut out = Vec::new();
    let lines = crate::text::Lines::new(text);
    let line_at = |offset: usize| lines.line_of(offset);
    // Parse each [[package]] block alone so each entry keeps its line.
    let mut starts: Vec<usize> = Vec::new();
    let mut off = 0;
    for line in text.split_inclusive('\n') {
        if line.trim_end() == "[[package]]" {
            starts.push(off);
        }
        off += line.len();
    }
    for (k, &s) in starts.iter().enumerate() {
        let mut end = starts.get(k + 1).copied().unwrap_or(text.len());
        // Stop at the next top-level table that is not part of this package.
        let block_text = &text[s..end];
        if let Some(i) = block_text.find("\n[metadata") {
            end = s + i + 1;
        }
        let block = &text[s..end];
        let table: toml::Table = block
            .parse()
            .map_err(|e: toml::de::Error| format!("line {}: {e}", line_at(s)))?;
        let Some(p) = table
            .get("package")
            .and_then(|p| p.as_array())
            .and_then(|a| a.first())
        else {
            continue;
        };
        let name = p
            .get("name")
            .and_then(|v| v.as_str())
            .unwrap_or("")
            .to_string();
        let version = p
            .get("version")
            .and_then(|v| v.as_str())
            .map(str::to_string);
        let mut e = Entry {
            name,
            version,
            line: Some(line_at(s)),
            ..Default::default()
        };
        e.optional = p.get("optional").and_then(|v| v.as_bool()) == Some(true);
        if uv {
            let src = p.get("source").and_then(|v| v.as_table());
            if let Some(src) = src {
                if let Some(g) = src.get("git").and_then(|v| v.as_str()) {
                    e.resolved = Some(format!("git+{g}"));
                    e.spec = e.resolved.clone();
                } else if let Some(u) = src.get("url").and_then(|v| v.as_str()) {
                    e.resolved = Some(u.to_string());
                } else if let Some(r) = src.get("registry").and_then(|v| v.as_str()) {
                    e.resolved = Some(format!("{}/packages/", r.trim_end_matches('/')));
                } else {
                    e.local = true;
                }
            }
            let mut hashes = Vec::new();
            if let Some(h) = p
                .get("sdist")
                .and_then(|s| s.get("hash"))
                .and_then(|h| h.as_str())
            {
                hashes.push(h.to_string());
            }
            for w in p
                .get("wheels")
                .and_then(|w| w.as_array())
                .into_iter()
                .flatten()
            {
                if let Some(h) = w.get("hash").and_then(|h| h.as_str()) {
                    hashes.push(h.to_string());
                }
            }
            e.integrity = (!hashes.is_empty()).then(|| hashes.join(" ").replace(':', "-"));
        } else {
            let src = p.get("source").and_then(|v| v.as_table());
            let src_type = src
                .and_then(|s| s.get("type"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            let url = src
                .and_then(|s| s.get("url"))
                .and_then(|v| v.as_str())
                .unwrap_or("");
            match src_type {
                "git" => {
                    let reference = src
                        .and_then(|s| s.get("reference"))
                        .and_then(|v| v.as_str())
                        .unwrap_or("");
                    e.resolved = Some(format!("git+{url}#{reference}"));
                    e.spec = e.resolved.clone();
                }
                "url" => e.resolved = Some(url.to_string()),
                "legacy" => e.resolved = Some(format!("{}/", url.trim_end_matches('/'))),
                "file" | "directory" => e.local = true,
                _ => e.resolved = Some("https://pypi.org/simple".into()),
            }
            let files = p.get("files").and_then(|f| f.as_array());
            let hashes: Vec<String> = files
                .into_iter()
                .flatten()
                .filter_map(|f| {
                    f.get("hash")
                        .and_then(|h| h.as_str())
                        .map(|h| h.replace(':', "-"))
                })
                .collect();
            e.integrity = (!hashes.is_empty()).then(|| hashes.join(" "));
        }
        out.push(e);
    }
    Ok(out)
}

// ---------------------------------------------------------------------------------------
// requirements.txt

fn requirements(
    path: &Path,
    text: &str,
    registry: Option<&str>,
    osv: Option<&OsvDb>,
) -> (usize, Vec<AuditFinding>) {
    // Join continuation lines, remembering where each logical line starts.
    let mut logical: Vec<(u32, String)> = Vec::new();
    let mut cur: Option<(u32, String)> = None;
    for (i, raw) in text.lines().enumerate() {
        let line = raw.split(" #").next().unwrap_or(raw);
        let (content, cont) = match line.trim_end().strip_suffix('\\') {
            Some(c) => (c, true),
            None => (line, false),
        };
        let entry = cur.get_or_insert((i as u32 + 1, String::new()));
        entry.1.push(' ');
        entry.1.push_str(content.trim());
        if !cont {
            if let Some(done) = cur.take() {
                logical.push(done);
            }
        }
    }
    if let Some(done) = cur {
        logical.push(done);
    }
    let hash_mode = logical
        .iter()
        .any(|(_, l)| l.contains("--hash") || l.contains("--require-hashes"));
    let mut ctx = Ctx {
        lockfile: path,
        eco: Ecosystem::Pypi,
        registry_host: registry.map(str::to_string),
        osv,
        out: Vec::new(),
    };
    let mut n = 0;
    for (line, l) in &logical {
        let t = l.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let mut e = Entry {
            line: Some(*line),
            ..Default::default()
        };
        if let Some(rest) = t
            .strip_prefix("--index-url")
            .or_else(|| t.strip_prefix("-i "))
            .or_else(|| t.strip_prefix("--extra-index-url"))
        {
            let url = rest.trim_start_matches('=').trim();
            e.name = "(index)".into();
            if url.starts_with("http://") {
                ctx.push(
                    codes::INSECURE_HTTP,
                    Severity::High,
                    &e,
                    format!("package index over plain http: {url}"),
                );
            }
            if let Some(h) = host_of(url) {
                if !ctx.registry_ok(&h) {
                    let extra = t.starts_with("--extra-index-url");
                    ctx.push(
                        codes::FOREIGN_REGISTRY,
                        if extra {
                            Severity::High
                        } else {
                            Severity::Medium
                        },
                        &e,
                        format!(
                            "{} {url}{}",
                            if extra { "extra index" } else { "index" },
                            if extra {
                                " (dependency confusion risk)"
                            } else {
                                ""
                            }
                        ),
                    );
                }
            }
            continue;
        }
        if t.starts_with('-') && !t.starts_with("-e") {
            continue;
        }
        n += 1;
        let req = t.trim_start_matches("-e").trim();
        let spec = req.split(" --").next().unwrap_or(req).trim();
        let hashed = req.contains("--hash");
        let (name, url) = if let Some((n, u)) = spec.split_once(" @ ") {
            (n.trim().to_string(), Some(u.trim().to_string()))
        } else if spec.contains("://") || spec.starts_with("git+") {
            let egg = spec.split("#egg=").nth(1).unwrap_or(spec).to_string();
            (egg, Some(spec.to_string()))
        } else {
            let end = spec
                .find(|c: char| "=<>!~;[ ".contains(c))
                .unwrap_or(spec.len());
            (spec[..end].to_string(), None)
        };
        e.name = name;
        if let Some(u) = url {
            let local = u.starts_with("file:") || u.starts_with('.') || u.starts_with('/');
            e.local = local;
            e.resolved = Some(u.clone());
            e.spec = Some(u);
            e.integrity = hashed.then(|| "sha256-present".to_string());
            if !local {
                // URL and git requirements: reuse the common checks, minus integrity for git.
                let before = ctx.out.len();
                ctx.check(&e);
                if !hash_mode {
                    let mut k = before;
                    while k < ctx.out.len() {
                        if ctx.out[k].code == codes::MISSING_INTEGRITY {
                            ctx.out.remove(k);
                        } else {
                            k += 1;
                        }
                    }
                }
            }
            continue;
        }
        let pinned = spec.split(';').next().unwrap_or(spec);
        let version = pinned
            .split_once("===")
            .or_else(|| pinned.split_once("=="))
            .map(|(_, v)| v.trim().to_string());
        e.version = version.clone().filter(|v| !v.contains('*'));
        if e.version.is_none() {
            ctx.push(
                codes::UNPINNED_REQUIREMENT,
                if hash_mode {
                    Severity::Medium
                } else {
                    Severity::Low
                },
                &e,
                format!("{} is not pinned to one version: {spec}", e.name),
            );
        }
        if hash_mode && !hashed {
            ctx.push(
                codes::MISSING_HASH,
                Severity::Medium,
                &e,
                format!("{} has no --hash although the file uses hashes", e.name),
            );
        }
        if let (Some(db), Some(v)) = (osv, &e.version) {
            for (id, summary) in db.lookup(Ecosystem::Pypi, &e.name, v) {
                ctx.push(
                    codes::KNOWN_MALICIOUS,
                    Severity::Critical,
                    &e,
                    format!("{}=={v} is listed in {id}: {summary}", e.name),
                );
            }
        }
    }
    (n, ctx.out)
}

#[cfg(test)]
mod tests {
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
        assert_eq!(
            normalize_name(Ecosystem::Pypi, "Foo_Bar.baz"),
            "foo-bar-baz"
        );
    }
}
