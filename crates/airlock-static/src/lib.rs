//! Static pass over an npm or PyPI package: what the sandbox cannot see.
//!
//! Some attacks never run at install time (the 2025 chalk/debug wallet hijack ran only in
//! browsers), so airlock also reads the package's files. Every observation is a
//! [`Signal`] with a stable kebab-case id, turned into an [`EventKind::StaticSignal`]
//! event (phase `static`, [`Source::Static`]) so rules combine static and dynamic facts
//! (the static rules live in `rules/static/`).
//!
//! Entry points: [`scan_archive`] (an npm tarball, sdist or wheel read in memory — what
//! `airlock scan` runs, so a sample is never unpacked on the host) and [`scan_dir`];
//! both are [`read_package`] + [`scan_files`]. Lockfiles are audited by [`audit`], two
//! versions compared by [`diff`] (also on archives in memory). JavaScript is parsed with
//! `oxc_parser` (see [`js`]); files it cannot parse fall back to lexical scanning,
//! recorded with a `parse-fallback` signal.
//!
//! Notes:
//! - Order: the root manifest (`package.json`, `setup.py`, ...) is analyzed first, then
//!   files in path order, so a rule can join "the postinstall runs `install.js`" with a
//!   later signal about `install.js`. Files are analyzed in parallel; the order of the
//!   output does not depend on it.
//! - Limits: 32 MiB per file (typescript's 9 MB bundle is read), 512 MiB and 50 000 files
//!   per package; whatever a limit cuts is a `file-skipped` or `scan-limit` signal, and a
//!   `scan-limit` makes the pass incomplete ([`ScanReport::incomplete`]).
//! - Archives are read by [`archive`] exactly as npm and pip read them (every gzip
//!   member, past lone zero blocks); archive tricks (`..`, absolute paths, links out,
//!   devices, shadowing duplicates, bombs) are `archive-*` signals (rules
//!   `static-archive-*`).
//! - Cost: typescript 5.6.3 (22 MB unpacked) takes ~0.5 s of CPU; its sandboxed install
//!   takes 3.5-5 s. Blob and padding scanners are hand-written loops: counting regexes
//!   (`[A-Za-z0-9+/]{200,}`) made the lazy DFA the pass's hot spot.
//! - Measured (issue 8): on the benign npm and PyPI dev lists no package gets a verdict
//!   above benign from static rules alone; on the PyPI dev malware 77% do (see the
//!   `static_corpus_table` test in `tests/e2e/static.rs`).

use std::path::{Path, PathBuf};
use std::time::Instant;

use airlock_events::{Event, EventKind, Source};
use serde::{Deserialize, Serialize};

pub mod archive;
pub mod audit;
pub mod code;
pub mod diff;
pub mod js;
pub mod lockfile;
pub mod manifest;
pub mod platform;
pub mod python;
pub mod stealer;
mod text;

/// Stable signal ids. Rules match on these strings; never rename one.
pub mod ids {
    pub const INSTALL_SCRIPT: &str = "install-script";
    pub const INSTALL_SCRIPT_RUNS_FILE: &str = "install-script-runs-file";
    pub const INSTALL_SCRIPT_DOWNLOADS: &str = "install-script-downloads";
    pub const INSTALL_SCRIPT_SHELL: &str = "install-script-shell";
    pub const INSTALL_SCRIPT_INLINE_CODE: &str = "install-script-inline-code";
    pub const INSTALL_SCRIPT_NATIVE_BUILD: &str = "install-script-native-build";
    pub const BIN_ENTRY: &str = "bin-entry";
    pub const GYPFILE: &str = "gypfile";
    pub const DEPENDENCY_URL: &str = "dependency-url";
    pub const DEPENDENCY_GIT: &str = "dependency-git";
    pub const DEPENDENCY_LOCAL: &str = "dependency-local";
    pub const SETUP_CMDCLASS: &str = "setup-cmdclass";
    pub const SETUP_PY_CODE: &str = "setup-py-code";
    pub const PYPROJECT_CUSTOM_BACKEND: &str = "pyproject-custom-backend";
    pub const PTH_EXEC: &str = "pth-exec";
    pub const OBFUSCATED: &str = "obfuscated";
    pub const HEX_IDENTIFIERS: &str = "hex-identifiers";
    pub const ESCAPED_IDENTIFIERS: &str = "escaped-identifiers";
    pub const ESCAPED_STRINGS: &str = "escaped-strings";
    pub const STRING_ARRAY_ROTATION: &str = "string-array-rotation";
    pub const OBFUSCATOR_PATTERN: &str = "obfuscator-pattern";
    pub const HIGH_ENTROPY: &str = "high-entropy";
    pub const LONG_LINE: &str = "long-line";
    pub const WHITESPACE_PADDING: &str = "whitespace-padding";
    pub const MINIFIED: &str = "minified";
    pub const DECODE_EVAL: &str = "decode-eval";
    pub const DYNAMIC_CODE: &str = "dynamic-code";
    pub const EMBEDDED_EXECUTABLE: &str = "embedded-executable";
    pub const ENCODED_SHELL_COMMAND: &str = "encoded-shell-command";
    pub const BASE64_BLOB: &str = "base64-blob";
    pub const HEX_BLOB: &str = "hex-blob";
    pub const ENDPOINT_URL: &str = "endpoint-url";
    pub const ENDPOINT_IP: &str = "endpoint-ip";
    pub const ENDPOINT_EXFIL_SERVICE: &str = "endpoint-exfil-service";
    pub const WALLET_REGEX: &str = "wallet-regex";
    pub const WALLET_ADDRESS: &str = "wallet-address";
    pub const WALLET_HOOK: &str = "wallet-hook";
    pub const CLIPBOARD_ACCESS: &str = "clipboard-access";
    /// The next five are described in [`crate::stealer`].
    pub const STEALER_TARGETS: &str = "stealer-targets";
    pub const EXFIL_CREDENTIAL: &str = "exfil-credential";
    pub const WINDOWS_PERSISTENCE: &str = "windows-persistence";
    pub const EXECUTABLE_DOWNLOAD: &str = "executable-download";
    pub const ANTI_ANALYSIS: &str = "anti-analysis";
    /// JavaScript files of a Python distribution left out of judging: web assets a
    /// browser loads, never run by pip or by `import` (one summary signal).
    pub const WEB_ASSETS: &str = "web-assets";
    /// Code aimed at Windows / macOS ([`crate::platform`]): asks for a persona pass.
    pub const TARGETS_WINDOWS: &str = crate::platform::TARGETS_WINDOWS;
    pub const TARGETS_MACOS: &str = crate::platform::TARGETS_MACOS;
    pub const BIDI_CONTROL: &str = "bidi-control";
    pub const HOMOGLYPH_IDENTIFIER: &str = "homoglyph-identifier";
    pub const INVISIBLE_CHARACTER: &str = "invisible-character";
    pub const FILE_SKIPPED: &str = "file-skipped";
    pub const PARSE_FALLBACK: &str = "parse-fallback";
    pub const SCAN_LIMIT: &str = "scan-limit";
    /// Archive tricks, from [`crate::archive::IssueKind`]: what an extractor would write
    /// outside the package, devices, entries that shadow others, bombs, containers that
    /// readers disagree about. A limit or a broken stream also gives `scan-limit`.
    pub const ARCHIVE_PATH_TRAVERSAL: &str = "archive-path-traversal";
    pub const ARCHIVE_ABSOLUTE_PATH: &str = "archive-absolute-path";
    pub const ARCHIVE_LINK_OUTSIDE: &str = "archive-link-outside";
    pub const ARCHIVE_DEVICE_FILE: &str = "archive-device-file";
    pub const ARCHIVE_DUPLICATE_ENTRY: &str = "archive-duplicate-entry";
    pub const ARCHIVE_BOMB: &str = "archive-bomb";
    pub const ARCHIVE_MALFORMED: &str = "archive-malformed";
    pub const ARCHIVE_CONCATENATED_GZIP: &str = "archive-concatenated-gzip";
}

/// One static observation; becomes a `static.signal` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Signal {
    /// Stable kebab-case id, one of [`ids`].
    pub signal: String,
    /// Path relative to the scanned root, with `/` separators.
    pub file: String,
    /// 1-based line, when the signal points at one.
    pub line: Option<u32>,
    pub detail: String,
    /// A number rules can threshold on (entropy, length, count).
    pub value: Option<f64>,
}

impl Signal {
    pub fn new(signal: &str, file: &str, line: Option<u32>, detail: impl Into<String>) -> Signal {
        Signal {
            signal: signal.to_string(),
            file: file.to_string(),
            line,
            detail: detail.into(),
            value: None,
        }
    }

    pub fn with_value(mut self, value: f64) -> Signal {
        self.value = Some(value);
        self
    }

    /// The trace event for this signal, stamped `ts` (the writer numbers it).
    pub fn to_event(&self, ts: f64) -> Event {
        Event::new(
            ts,
            "static",
            Source::Static,
            EventKind::StaticSignal {
                signal: self.signal.clone(),
                file: self.file.clone(),
                line: self.line,
                detail: self.detail.clone(),
                value: self.value,
            },
        )
    }
}

/// Limits and knobs of the static pass.
#[derive(Debug, Clone)]
pub struct ScanOptions {
    /// Files larger than this are not read (a `file-skipped` signal says so).
    pub max_file_bytes: u64,
    /// Stop reading files once this many bytes were read in total.
    pub max_total_bytes: u64,
    /// Stop after this many files.
    pub max_files: usize,
    /// At most this many signals with the same id per file (endpoints, blobs...).
    pub max_signals_per_file_and_id: usize,
    /// Files analyzed at once (default: the machine's parallelism, at most 8).
    pub threads: usize,
    /// Decompressed bytes read from one archive before reading stops (a bomb).
    pub max_unpacked_bytes: u64,
    /// Largest decompressed/compressed ratio of an archive (npm's node-tar aborts above
    /// 1000) before reading stops.
    pub max_ratio: u64,
}

impl ScanOptions {
    /// The archive reader's limits for these options.
    pub fn archive_limits(&self) -> archive::Limits {
        archive::Limits {
            max_total_bytes: self.max_unpacked_bytes,
            max_entries: self.max_files.saturating_mul(2).max(1000),
            max_ratio: self.max_ratio,
            max_entry_bytes: self.max_file_bytes,
            max_kept_bytes: self.max_total_bytes,
            ..archive::Limits::default()
        }
    }
}

impl Default for ScanOptions {
    fn default() -> Self {
        ScanOptions {
            // typescript's 9 MB lib/typescript.js is read: a payload appended to a big
            // bundle must not slip through a size cap.
            max_file_bytes: 32 * 1024 * 1024,
            max_total_bytes: 512 * 1024 * 1024,
            max_files: 50_000,
            max_signals_per_file_and_id: 20,
            threads: std::thread::available_parallelism()
                .map(|n| n.get().min(8))
                .unwrap_or(1),
            max_unpacked_bytes: 1 << 30,
            max_ratio: 1000,
        }
    }
}

/// What a static pass found, with counters for reports and benchmarks.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ScanReport {
    pub signals: Vec<Signal>,
    pub files_seen: u64,
    pub files_analyzed: u64,
    pub bytes_analyzed: u64,
    /// JavaScript files oxc parsed without giving up.
    pub js_parsed: u64,
    /// JavaScript files that fell back to lexical scanning.
    pub js_fallback: u64,
    pub elapsed_ms: u64,
    /// Why the pass did not see everything (one line per `scan-limit` signal); empty
    /// when it did. An incomplete pass must never be read as "nothing found".
    #[serde(default)]
    pub incomplete: Vec<String>,
}

impl ScanReport {
    /// The signals as trace events, all stamped `ts`.
    pub fn events(&self, ts: f64) -> Vec<Event> {
        self.signals.iter().map(|s| s.to_event(ts)).collect()
    }

    /// Whether the pass saw every file (see [`ScanReport::incomplete`]).
    pub fn is_complete(&self) -> bool {
        self.incomplete.is_empty()
    }

    /// How many signals carry `id`.
    pub fn count(&self, id: &str) -> usize {
        self.signals.iter().filter(|s| s.signal == id).count()
    }
}

/// Errors of the static pass; each names the path involved.
#[derive(Debug, thiserror::Error)]
pub enum StaticError {
    #[error("{path}: not a directory")]
    NotADirectory { path: PathBuf },
    #[error("{path}: not a package archive (gzip tarball or zip)")]
    NotAnArchive { path: PathBuf },
    #[error("reading {path}: {source}")]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
}

/// Which analyses apply to a file, from its name.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    Js,
    Ts,
    Python,
    Pth,
    PackageJson,
    Other,
}

impl FileKind {
    pub fn of(rel: &str) -> FileKind {
        let name = rel.rsplit('/').next().unwrap_or(rel).to_ascii_lowercase();
        if name == "package.json" {
            return FileKind::PackageJson;
        }
        if name.ends_with(".d.ts") || name.ends_with(".d.mts") || name.ends_with(".d.cts") {
            return FileKind::Other;
        }
        let ext = name.rsplit_once('.').map(|(_, e)| e).unwrap_or("");
        match ext {
            "js" | "cjs" | "mjs" | "jsx" => FileKind::Js,
            "ts" | "tsx" | "mts" | "cts" => FileKind::Ts,
            "py" | "pyw" => FileKind::Python,
            "pth" => FileKind::Pth,
            _ => FileKind::Other,
        }
    }
}

/// Runs the static pass over the package unpacked at `root`.
///
/// Symlinks are never followed; `.git` directories are skipped. Work is bounded by
/// `opts`; whatever a limit cut is recorded as a signal, never dropped silently.
pub fn scan_dir(root: &Path, opts: &ScanOptions) -> Result<ScanReport, StaticError> {
    let start = Instant::now();
    let files = read_dir(root, opts)?;
    Ok(scan_files(&files, opts, start))
}

/// The static pass over a package archive read in memory — an npm `.tgz`, a PyPI
/// sdist (`.tar.gz`, `.zip`) or a wheel — so a sample is never unpacked on the host.
/// Paths are taken relative to the archive's single top folder when there is one
/// (`package/` in npm tarballs, `name-1.0/` in sdists).
pub fn scan_archive(path: &Path, opts: &ScanOptions) -> Result<ScanReport, StaticError> {
    let start = Instant::now();
    let files = read_archive(path, opts)?;
    Ok(scan_files(&files, opts, start))
}

/// One file of a package held in memory: what [`read_archive`] and [`read_dir`] give,
/// what [`scan_files`] and the version diff work on.
#[derive(Debug, Clone)]
pub struct PackageFile {
    /// Path relative to the package root, `/` separators.
    pub rel: String,
    /// Size the archive or file system declares.
    pub size: u64,
    /// sha256 of the whole content (also of files too large to keep).
    pub sha256: [u8; 32],
    /// The content; `None` when the file is over [`ScanOptions::max_file_bytes`] or the
    /// total byte budget was spent.
    pub bytes: Option<Vec<u8>>,
    /// Signals about the package as a whole found while reading it (archive tricks,
    /// limits), emitted by [`scan_files`] before this file's own. The reader puts them
    /// on the first file in scan order; when the archive holds no file at all they sit
    /// on an entry with an empty `rel` and no bytes, which is not a file.
    pub signals: Vec<Signal>,
}

/// Reads every regular file of an npm tarball, sdist or wheel into memory, in scan
/// order (see [`scan_order`]), relative to the package root (see
/// [`read_archive_bytes`]). Nothing is written to disk; links, devices and entries
/// that would land outside the package are not files of the package but signals.
pub fn read_archive(path: &Path, opts: &ScanOptions) -> Result<Vec<PackageFile>, StaticError> {
    let bytes = std::fs::read(path).map_err(|source| StaticError::Io {
        path: path.into(),
        source,
    })?;
    read_archive_bytes(&bytes, path, opts)
}

/// The static pass over an archive already in memory (e.g. an entry of an encrypted
/// sample zip, decrypted by the caller); `name` is only used in errors.
pub fn scan_archive_bytes(
    bytes: &[u8],
    name: &Path,
    opts: &ScanOptions,
) -> Result<ScanReport, StaticError> {
    let start = Instant::now();
    let files = read_archive_bytes(bytes, name, opts)?;
    Ok(scan_files(&files, opts, start))
}

/// [`read_archive`] of archive bytes already in memory; `path` is only used in errors.
///
/// Read with [`archive::read`], as the package manager reads it: every gzip member,
/// npm's strip of the first path component when the archive holds `*/package.json`
/// (pip's common top folder otherwise), the last of duplicate entries. Archive tricks
/// and limits become signals on the first file (see [`PackageFile::signals`]).
pub fn read_archive_bytes(
    bytes: &[u8],
    path: &Path,
    opts: &ScanOptions,
) -> Result<Vec<PackageFile>, StaticError> {
    let limits = opts.archive_limits();
    let ar = archive::read(bytes, &limits, archive::Root::AsIs).map_err(|e| match e {
        archive::ArchiveError::UnknownFormat => StaticError::NotAnArchive { path: path.into() },
        other => StaticError::Io {
            path: path.into(),
            source: std::io::Error::other(other.to_string()),
        },
    })?;
    let npm = ar.format != archive::Format::Zip
        && ar.entries.iter().any(|e| {
            let mut parts = e
                .stored_path
                .split('/')
                .filter(|c| !c.is_empty() && *c != ".");
            parts.next().is_some() && parts.next() == Some("package.json") && parts.next().is_none()
        });
    let ar = ar.with_root(if npm {
        archive::Root::StripComponents(1)
    } else {
        archive::Root::CommonTopFolder
    });
    let signals = archive_signals(&ar);
    let mut files: Vec<PackageFile> = ar
        .entries
        .into_iter()
        .filter(archive::Entry::is_installed_file)
        .map(|e| PackageFile {
            rel: e.path,
            size: e.size,
            sha256: e.sha256,
            bytes: e.bytes,
            signals: Vec::new(),
        })
        .collect();
    files.sort_by(|a, b| scan_order(&a.rel, &b.rel));
    if !signals.is_empty() {
        match files.first_mut() {
            Some(f) => f.signals = signals,
            None => files.push(PackageFile {
                rel: String::new(),
                size: 0,
                sha256: [0; 32],
                bytes: None,
                signals,
            }),
        }
    }
    Ok(files)
}

/// The static signals for an archive's issues (see [`ids`]).
pub fn archive_signals(ar: &archive::Archive) -> Vec<Signal> {
    use archive::{IssueKind, Limit};
    let mut out = Vec::new();
    for i in &ar.issues {
        let file = if i.path.is_empty() {
            ""
        } else {
            i.path.as_str()
        };
        let id = match &i.kind {
            IssueKind::PathTraversal => ids::ARCHIVE_PATH_TRAVERSAL,
            IssueKind::AbsolutePath => ids::ARCHIVE_ABSOLUTE_PATH,
            IssueKind::LinkOutside { .. } => ids::ARCHIVE_LINK_OUTSIDE,
            IssueKind::Device => ids::ARCHIVE_DEVICE_FILE,
            IssueKind::Duplicate => ids::ARCHIVE_DUPLICATE_ENTRY,
            IssueKind::Malformed => ids::ARCHIVE_MALFORMED,
            IssueKind::ConcatenatedGzip { .. } => ids::ARCHIVE_CONCATENATED_GZIP,
            IssueKind::LimitExceeded {
                limit: Limit::Ratio | Limit::TotalBytes,
            } => {
                out.push(
                    Signal::new(ids::ARCHIVE_BOMB, file, None, i.detail.clone())
                        .with_value(ar.uncompressed_bytes as f64),
                );
                ids::SCAN_LIMIT
            }
            IssueKind::LimitExceeded { .. } | IssueKind::Truncated => ids::SCAN_LIMIT,
        };
        let detail = if id == ids::SCAN_LIMIT {
            format!("static pass incomplete: {}", i.detail)
        } else {
            i.detail.clone()
        };
        out.push(Signal::new(id, file, None, detail));
    }
    out
}

/// Reads every regular file under `root` into memory, like [`read_archive`]; symlinks
/// are not followed and `.git` is skipped.
pub fn read_dir(root: &Path, opts: &ScanOptions) -> Result<Vec<PackageFile>, StaticError> {
    let meta = std::fs::metadata(root).map_err(|source| StaticError::Io {
        path: root.into(),
        source,
    })?;
    if !meta.is_dir() {
        return Err(StaticError::NotADirectory { path: root.into() });
    }
    let mut found = Vec::new();
    collect_files(root, root, &mut found)?;
    let mut budget = Budget::new(opts);
    let mut files = Vec::with_capacity(found.len());
    for (rel, path, size) in found.into_iter().take(opts.max_files + 1) {
        let io = |source| StaticError::Io {
            path: path.clone(),
            source,
        };
        let file = std::fs::File::open(&path).map_err(io)?;
        files.push(budget.read(rel, size, file).map_err(io)?);
    }
    files.sort_by(|a, b| scan_order(&a.rel, &b.rel));
    Ok(files)
}

/// Reads a package given as a directory or an archive (see [`read_archive`]).
pub fn read_package(path: &Path, opts: &ScanOptions) -> Result<Vec<PackageFile>, StaticError> {
    if path.is_dir() {
        read_dir(path, opts)
    } else {
        read_archive(path, opts)
    }
}

/// The static pass over files already in memory (from [`read_archive`] or
/// [`read_dir`]); `start` is when the work began, for [`ScanReport::elapsed_ms`].
///
/// Limits are applied in order first; the admitted files are then analyzed on up to
/// [`ScanOptions::threads`] threads, and signals are merged back in scan order, so the
/// output does not depend on scheduling. A file whose analysis panicked (a parser bug
/// a crafted file found) gets a `scan-limit` signal instead of taking the pass down.
pub fn scan_files(files: &[PackageFile], opts: &ScanOptions, start: Instant) -> ScanReport {
    enum Slot<'a> {
        Analyze(&'a str, &'a [u8]),
        Signals(Vec<Signal>),
    }
    let mut scan = Scan::new(opts);
    let mut slots = Vec::new();
    for f in files {
        if !f.signals.is_empty() {
            slots.push(Slot::Signals(f.signals.clone()));
        }
        if f.rel.is_empty() && f.bytes.is_none() {
            continue;
        }
        let before = scan.report.signals.len();
        let admit = scan.admit(&f.rel, f.size);
        let limit_signals: Vec<Signal> = scan.report.signals.drain(before..).collect();
        if !limit_signals.is_empty() {
            slots.push(Slot::Signals(limit_signals));
        }
        match admit {
            Admit::Stop => break,
            Admit::Skip => continue,
            Admit::Read => match &f.bytes {
                Some(b) => {
                    scan.total += b.len() as u64;
                    scan.report.files_analyzed += 1;
                    scan.report.bytes_analyzed += b.len() as u64;
                    slots.push(Slot::Analyze(&f.rel, b));
                }
                None => slots.push(Slot::Signals(vec![Signal::new(
                    ids::SCAN_LIMIT,
                    &f.rel,
                    None,
                    "not read: the total byte budget was spent",
                )])),
            },
        }
    }
    let jobs: Vec<(usize, &str, &[u8])> = slots
        .iter()
        .enumerate()
        .filter_map(|(i, s)| match s {
            Slot::Analyze(rel, b) => Some((i, *rel, *b)),
            Slot::Signals(_) => None,
        })
        .collect();
    let results = analyze_parallel(&jobs, slots.len(), opts);
    for (slot, result) in slots.into_iter().zip(results) {
        match (slot, result) {
            (Slot::Signals(sigs), _) => scan.report.signals.extend(sigs),
            (Slot::Analyze(_, _), Some((sigs, outcome))) => {
                match outcome {
                    JsOutcome::Parsed => scan.report.js_parsed += 1,
                    JsOutcome::Fallback => scan.report.js_fallback += 1,
                    JsOutcome::NotJs => {}
                }
                scan.report.signals.extend(sigs);
            }
            (Slot::Analyze(rel, _), None) => scan.report.signals.push(Signal::new(
                ids::SCAN_LIMIT,
                rel,
                None,
                "analysis of this file failed (the analyzer panicked); nothing was read from it",
            )),
        }
    }
    if is_python_distribution(files) {
        set_aside_web_assets(&mut scan.report.signals);
    }
    scan.finish(start)
}

/// A wheel or sdist (its metadata or build files at the root, no npm manifest there).
fn is_python_distribution(files: &[PackageFile]) -> bool {
    let root = |name: &str| files.iter().any(|f| f.rel == name);
    let dist_info = files.iter().any(|f| {
        let mut parts = f.rel.split('/');
        parts.next().is_some_and(|d| d.ends_with(".dist-info")) && parts.next() == Some("METADATA")
    });
    !root("package.json")
        && (dist_info
            || ["PKG-INFO", "setup.py", "pyproject.toml", "setup.cfg"]
                .iter()
                .any(|n| root(n)))
}

/// The code signals of JavaScript files in a Python distribution, replaced by one
/// `web-assets` summary: a bundled web UI (mlflow's, gradio's, streamlit's) is minified,
/// evaluates code it builds and names telemetry hosts, and none of it runs when pip
/// installs or Python imports the package — a JavaScript payload would need the
/// package's Python code to start `node`, which the sandbox sees. What the archive
/// itself is (executables, archive tricks, limits) still counts.
fn set_aside_web_assets(signals: &mut Vec<Signal>) {
    const KEEP: &[&str] = &[ids::EMBEDDED_EXECUTABLE, ids::SCAN_LIMIT, ids::FILE_SKIPPED];
    let is_asset = |s: &Signal| {
        matches!(FileKind::of(&s.file), FileKind::Js | FileKind::Ts)
            && !KEEP.contains(&s.signal.as_str())
            && !s.signal.starts_with("archive-")
    };
    let files: std::collections::BTreeSet<String> = signals
        .iter()
        .filter(|s| is_asset(s))
        .map(|s| s.file.clone())
        .collect();
    if files.is_empty() {
        return;
    }
    let dropped = signals.iter().filter(|s| is_asset(s)).count();
    signals.retain(|s| !is_asset(s));
    let first = files.iter().next().cloned().unwrap_or_default();
    signals.push(
        Signal::new(
            ids::WEB_ASSETS,
            &first,
            None,
            format!(
                "{} JavaScript file(s) of a Python distribution not judged ({dropped} signal(s)): \
                 web assets, never run by pip or import",
                files.len()
            ),
        )
        .with_value(files.len() as f64),
    );
}

type FileResult = (Vec<Signal>, JsOutcome);

/// Files at least this large whose text and syntax analyses run as two jobs, so one big
/// bundle (typescript's 9 MB `typescript.js`) does not keep one core busy alone.
const SPLIT_BYTES: usize = 1 << 20;

/// Which analyses of a file one job runs.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Part {
    /// Everything ([`analyze_file`]).
    Whole,
    /// Byte and text checks of a JavaScript/TypeScript file.
    Text,
    /// The parser-based checks of the same file (their signals follow the text ones).
    Syntax,
}

fn run_part(part: Part, rel: &str, bytes: &[u8]) -> FileResult {
    let mut sigs = Vec::new();
    let outcome = match part {
        Part::Whole => analyze_file(rel, bytes, &mut sigs),
        Part::Text => {
            code::binary_signals(rel, bytes, &mut sigs);
            if let Ok(src) = std::str::from_utf8(bytes) {
                code::text_signals(rel, src, &mut sigs);
            }
            JsOutcome::NotJs
        }
        Part::Syntax => match std::str::from_utf8(bytes) {
            Ok(src) => js::analyze(rel, src, FileKind::of(rel) == FileKind::Ts, &mut sigs),
            Err(_) => JsOutcome::NotJs,
        },
    };
    (sigs, outcome)
}

/// Analyzes `jobs` (slot index, path, bytes) on worker threads, largest first; the
/// result of each lands at its slot index, with signals in the order [`analyze_file`]
/// gives them. `None` where no result exists (not a job, or a part panicked).
fn analyze_parallel(
    jobs: &[(usize, &str, &[u8])],
    slots: usize,
    opts: &ScanOptions,
) -> Vec<Option<FileResult>> {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::sync::OnceLock;
    let mut parts: Vec<(usize, Part, &str, &[u8])> = Vec::new();
    for &(i, rel, bytes) in jobs {
        let kind = FileKind::of(rel);
        let split = bytes.len() >= SPLIT_BYTES
            && matches!(kind, FileKind::Js | FileKind::Ts)
            && std::str::from_utf8(bytes).is_ok();
        if split {
            parts.push((i, Part::Text, rel, bytes));
            parts.push((i, Part::Syntax, rel, bytes));
        } else {
            parts.push((i, Part::Whole, rel, bytes));
        }
    }
    // Largest first: the big bundles start at once and small files fill in around them.
    let mut queue: Vec<usize> = (0..parts.len()).collect();
    queue.sort_by_key(|&k| std::cmp::Reverse(parts[k].3.len()));
    let cells: Vec<OnceLock<FileResult>> = (0..parts.len()).map(|_| OnceLock::new()).collect();
    let workers = opts.threads.max(1).min(parts.len().max(1));
    let next = AtomicUsize::new(0);
    let work = || {
        while let Some(&k) = queue.get(next.fetch_add(1, Ordering::Relaxed)) {
            let (_, part, rel, bytes) = parts[k];
            let r = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                run_part(part, rel, bytes)
            }));
            if let Ok(r) = r {
                let _ = cells[k].set(r);
            }
        }
    };
    std::thread::scope(|s| {
        let handles: Vec<_> = (1..workers).map(|_| s.spawn(work)).collect();
        work();
        for h in handles {
            let _ = h.join();
        }
    });
    // Parts of one file are adjacent and in order: merge them per slot.
    let mut out: Vec<Option<FileResult>> = (0..slots).map(|_| None).collect();
    let mut failed = vec![false; slots];
    for ((slot, part, _, _), cell) in parts.iter().zip(cells) {
        let Some((sigs, outcome)) = cell.into_inner() else {
            failed[*slot] = true;
            continue;
        };
        let entry = out[*slot].get_or_insert_with(|| (Vec::new(), JsOutcome::NotJs));
        entry.0.extend(sigs);
        if *part != Part::Text {
            entry.1 = outcome;
        }
    }
    for (slot, result) in out.iter_mut().enumerate() {
        if failed[slot] {
            *result = None;
        } else if let Some((sigs, _)) = result {
            cap_per_id(sigs, opts.max_signals_per_file_and_id);
        }
    }
    out
}

/// The order files are analyzed (and their signals appear in the trace): the package's
/// own manifests first (`package.json`, `setup.py`, `setup.cfg`, `pyproject.toml` at
/// the root), then every other path in byte order. Rules that join a manifest fact
/// ("the postinstall runs `install.js`") with a later fact about that file rely on it.
pub fn scan_order(a: &str, b: &str) -> std::cmp::Ordering {
    const MANIFESTS: &[&str] = &["package.json", "setup.py", "setup.cfg", "pyproject.toml"];
    let rank = |p: &str| {
        MANIFESTS
            .iter()
            .position(|m| *m == p)
            .unwrap_or(MANIFESTS.len())
    };
    rank(a).cmp(&rank(b)).then_with(|| a.cmp(b))
}

/// Per-file and total byte limits while reading a package into memory.
struct Budget {
    cap: u64,
    left: u64,
}

impl Budget {
    fn new(opts: &ScanOptions) -> Budget {
        Budget {
            cap: opts.max_file_bytes,
            left: opts.max_total_bytes,
        }
    }

    /// Reads `r` to the end, hashing everything and keeping the bytes when they fit.
    fn read(
        &mut self,
        rel: String,
        size: u64,
        mut r: impl std::io::Read,
    ) -> std::io::Result<PackageFile> {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        let keep = size <= self.cap && size <= self.left;
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        loop {
            let n = r.read(&mut buf)?;
            if n == 0 {
                break;
            }
            hasher.update(&buf[..n]);
            total += n as u64;
            if keep && total <= self.cap {
                kept.extend_from_slice(&buf[..n]);
            }
        }
        let keep = keep && total <= self.cap;
        if keep {
            self.left = self.left.saturating_sub(total);
        }
        Ok(PackageFile {
            rel,
            size: size.max(total),
            sha256: hasher.finalize().into(),
            bytes: keep.then_some(kept),
            signals: Vec::new(),
        })
    }
}

enum Admit {
    Read,
    Skip,
    Stop,
}

/// Limits and counters of one pass (see [`scan_files`]).
struct Scan<'o> {
    opts: &'o ScanOptions,
    report: ScanReport,
    total: u64,
}

impl<'o> Scan<'o> {
    fn new(opts: &'o ScanOptions) -> Self {
        Scan {
            opts,
            report: ScanReport::default(),
            total: 0,
        }
    }

    fn admit(&mut self, rel: &str, size: u64) -> Admit {
        let (opts, report) = (self.opts, &mut self.report);
        report.files_seen += 1;
        if report.files_analyzed as usize >= opts.max_files || self.total >= opts.max_total_bytes {
            report.signals.push(
                Signal::new(
                    ids::SCAN_LIMIT,
                    rel,
                    None,
                    "scan stopped: total file or byte limit reached",
                )
                .with_value(report.files_seen as f64),
            );
            return Admit::Stop;
        }
        if size > opts.max_file_bytes {
            report.signals.push(
                Signal::new(
                    ids::FILE_SKIPPED,
                    rel,
                    None,
                    format!("{size} bytes is over the {} byte cap", opts.max_file_bytes),
                )
                .with_value(size as f64),
            );
            return Admit::Skip;
        }
        Admit::Read
    }

    fn finish(mut self, start: Instant) -> ScanReport {
        self.report.elapsed_ms = start.elapsed().as_millis() as u64;
        self.report.incomplete = self
            .report
            .signals
            .iter()
            .filter(|s| s.signal == ids::SCAN_LIMIT)
            .map(|s| {
                if s.file.is_empty() {
                    s.detail.clone()
                } else {
                    format!("{}: {}", s.file, s.detail)
                }
            })
            .collect();
        self.report
    }
}

/// Whether a JavaScript file went through the parser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JsOutcome {
    Parsed,
    Fallback,
    NotJs,
}

/// All analyses for one file's bytes; `rel` is its path relative to the package root.
pub fn analyze_file(rel: &str, bytes: &[u8], out: &mut Vec<Signal>) -> JsOutcome {
    code::binary_signals(rel, bytes, out);
    let kind = FileKind::of(rel);
    let Ok(src) = std::str::from_utf8(bytes) else {
        return JsOutcome::NotJs;
    };
    let name = rel.rsplit('/').next().unwrap_or(rel);
    match kind {
        FileKind::PackageJson => {
            // Only the package's own manifest describes lifecycle scripts npm will run;
            // nested package.json files (bundled dependencies) still get checked.
            manifest::package_json(rel, src, out);
            JsOutcome::NotJs
        }
        FileKind::Js | FileKind::Ts => {
            code::text_signals(rel, src, out);
            platform::analyze(rel, src, out);
            js::analyze(rel, src, kind == FileKind::Ts, out)
        }
        FileKind::Python => {
            code::text_signals(rel, src, out);
            python::analyze(rel, src, out);
            platform::analyze(rel, src, out);
            if name == "setup.py" {
                python::setup_py(rel, src, out);
            }
            JsOutcome::NotJs
        }
        FileKind::Pth => {
            python::pth(rel, src, out);
            JsOutcome::NotJs
        }
        FileKind::Other => {
            if name == "pyproject.toml" {
                python::pyproject(rel, src, out);
            } else if name == "binding.gyp" {
                out.push(Signal::new(
                    ids::GYPFILE,
                    rel,
                    None,
                    "binding.gyp: node-gyp builds native code at install",
                ));
            } else if name == "setup.cfg" {
                python::setup_cfg(rel, src, out);
            } else if is_script_like(name) {
                code::text_signals(rel, src, out);
            }
            JsOutcome::NotJs
        }
    }
}

/// Shell and other script files get the language-neutral text checks.
fn is_script_like(name: &str) -> bool {
    let lower = name.to_ascii_lowercase();
    [".sh", ".bash", ".ps1", ".bat", ".cmd", ".vbs", ".rb", ".pl"]
        .iter()
        .any(|e| lower.ends_with(e))
}

fn cap_per_id(sigs: &mut Vec<Signal>, cap: usize) {
    let mut counts: std::collections::HashMap<String, usize> = std::collections::HashMap::new();
    sigs.retain(|s| {
        let c = counts.entry(s.signal.clone()).or_insert(0);
        *c += 1;
        *c <= cap
    });
}

fn collect_files(
    root: &Path,
    dir: &Path,
    out: &mut Vec<(String, PathBuf, u64)>,
) -> Result<(), StaticError> {
    let entries = std::fs::read_dir(dir).map_err(|source| StaticError::Io {
        path: dir.into(),
        source,
    })?;
    for entry in entries {
        let entry = entry.map_err(|source| StaticError::Io {
            path: dir.into(),
            source,
        })?;
        let path = entry.path();
        let meta = std::fs::symlink_metadata(&path).map_err(|source| StaticError::Io {
            path: path.clone(),
            source,
        })?;
        if meta.file_type().is_symlink() {
            continue;
        }
        if meta.is_dir() {
            if entry.file_name() == ".git" {
                continue;
            }
            collect_files(root, &path, out)?;
        } else if meta.is_file() {
            let rel = path
                .strip_prefix(root)
                .unwrap_or(&path)
                .components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/");
            out.push((rel, path, meta.len()));
        }
    }
    Ok(())
}
