//! The one safe in-memory reader of package archives (tar, gzip tar, zip): what the static
//! pass, `airlock diff` and the registry code read packages with, so no sample is ever
//! unpacked on the host and every reader sees the same files.
//!
//! It reads the way installers read, and reports where they would disagree:
//! - gzip streams of several members are read to the end (node's zlib and Python's gzip
//!   do; a reader that stops after the first member misses every later file);
//! - tar is walked block by block: a single zero block does not end the archive (node-tar
//!   needs two), a block that is not a valid header is skipped (node-tar resyncs), and
//!   entries after the end-of-archive marker are still read. Each of these is an
//!   [`IssueKind::Malformed`] issue: installers disagree on such archives;
//! - paths are normalised as an extractor writes them: `..` components, absolute paths,
//!   links out of the root, writes through a symlink, devices and duplicate entries are
//!   [`Issue`]s; a later duplicate shadows an earlier one ([`Entry::shadowed`]);
//! - [`Limits`] bound everything: total decompressed bytes, entries, the compression
//!   ratio (node-tar aborts above 1000) and the bytes kept in memory. A tripped limit
//!   stops reading, sets [`Archive::complete`] to false and is an issue — never a crash
//!   and never a silently shorter file list.
//!
//! Nothing here knows about npm or PyPI: callers pick the [`Root`] (npm strips one
//! component, pip strips a common top folder, wheels none) and turn issues into their own
//! findings.

use std::collections::{HashMap, HashSet};

mod tar;
mod zip;

/// Bounds on what one archive may cost to read.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Decompressed bytes read in total (file contents and headers); reading stops past it.
    pub max_total_bytes: u64,
    /// Entries read; reading stops past it.
    pub max_entries: usize,
    /// Decompressed / compressed bytes, checked once [`Limits::ratio_grace_bytes`] were
    /// decompressed; reading stops past it. node-tar (npm) aborts above 1000.
    pub max_ratio: u64,
    /// Decompressed bytes allowed before the ratio is checked (small inputs vary a lot).
    pub ratio_grace_bytes: u64,
    /// Content of one entry kept in memory; larger entries are hashed, not kept.
    pub max_entry_bytes: u64,
    /// Content kept in memory over all entries; later entries are hashed, not kept.
    pub max_kept_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_total_bytes: 1 << 30,
            max_entries: 100_000,
            max_ratio: 1000,
            ratio_grace_bytes: 1 << 20,
            max_entry_bytes: 32 << 20,
            max_kept_bytes: 512 << 20,
        }
    }
}

/// Where extracted paths start.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Root {
    /// Paths as stored (wheels, zips).
    AsIs,
    /// Drop the first N components of every path; entries with no more are dropped
    /// (`tar --strip-components`; npm extracts with 1).
    StripComponents(usize),
    /// Drop the top folder when every entry lies inside the same one (pip's sdists).
    CommonTopFolder,
}

/// Container formats recognised from the first bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Format {
    Tar,
    TarGz,
    Zip,
}

impl Format {
    /// The format of `bytes`, from magic numbers (a plain tar from its header checksum).
    pub fn detect(bytes: &[u8]) -> Option<Format> {
        if bytes.starts_with(&[0x1f, 0x8b]) {
            Some(Format::TarGz)
        } else if bytes.starts_with(b"PK\x03\x04") || bytes.starts_with(b"PK\x05\x06") {
            Some(Format::Zip)
        } else if bytes.len() >= 512 && tar::header_valid(&bytes[..512]) {
            Some(Format::Tar)
        } else {
            None
        }
    }
}

/// What an entry is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum EntryKind {
    File,
    Dir,
    Symlink,
    Hardlink,
    CharDevice,
    BlockDevice,
    Fifo,
}

/// One entry of the archive.
#[derive(Debug, Clone)]
pub struct Entry {
    /// Path below the [`Root`], `/`-separated, without `.` or empty components and
    /// without a leading `/`. `..` components are kept (see [`Entry::escapes`]).
    pub path: String,
    /// The path as the archive stores it (after pax / GNU long-name headers).
    pub stored_path: String,
    pub kind: EntryKind,
    /// Target of a symlink or hardlink, as stored.
    pub link_target: Option<String>,
    /// Content bytes (what was read, or the declared size when reading stopped).
    pub size: u64,
    /// sha256 of the content read.
    pub sha256: [u8; 32],
    /// The content, when within [`Limits::max_entry_bytes`] and [`Limits::max_kept_bytes`].
    pub bytes: Option<Vec<u8>>,
    /// An extractor would write outside the root (`..`, or through a symlink).
    pub escapes: bool,
    /// A later entry with the same path replaces this one.
    pub shadowed: bool,
    /// Read after the end-of-archive marker or a skipped block (see [`IssueKind::Malformed`]).
    pub after_anomaly: bool,
}

impl Entry {
    /// A regular file an extractor writes inside the root and no later entry replaces:
    /// the files a package "contains".
    pub fn is_installed_file(&self) -> bool {
        self.kind == EntryKind::File && !self.escapes && !self.shadowed && !self.path.is_empty()
    }
}

/// Which limit stopped reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Limit {
    TotalBytes,
    Entries,
    Ratio,
}

/// Kinds of [`Issue`].
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case", tag = "kind")]
pub enum IssueKind {
    /// A path with `..` that leaves the root, or a write through a symlink entry.
    PathTraversal,
    /// An absolute path (extractors strip the root or refuse it).
    AbsolutePath,
    /// A symlink or hardlink whose target is outside the root.
    LinkOutside { hard: bool },
    /// A character or block device or a FIFO.
    Device,
    /// A later entry with the same path and different content or kind replaces an
    /// earlier one.
    Duplicate,
    /// A limit stopped reading: everything after `path` was not read.
    LimitExceeded { limit: Limit },
    /// The container is damaged or crafted so that readers disagree: data after the
    /// end-of-archive marker, header blocks that are not valid, trailing bytes after
    /// the compressed stream, an entry type only some extractors write as a file.
    Malformed,
    /// The stream ended or broke before the archive's end; later entries are unknown.
    Truncated,
    /// A gzip file of several concatenated members (`npm pack` writes one).
    ConcatenatedGzip { members: usize },
}

impl IssueKind {
    /// A stable kebab-case code.
    pub fn code(&self) -> &'static str {
        match self {
            IssueKind::PathTraversal => "path-traversal",
            IssueKind::AbsolutePath => "absolute-path",
            IssueKind::LinkOutside { .. } => "link-outside",
            IssueKind::Device => "device-file",
            IssueKind::Duplicate => "duplicate-entry",
            IssueKind::LimitExceeded { .. } => "limit-exceeded",
            IssueKind::Malformed => "malformed",
            IssueKind::Truncated => "truncated",
            IssueKind::ConcatenatedGzip { .. } => "concatenated-gzip",
        }
    }
}

/// Something about the archive an installer would act on, or a reader disagree about.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct Issue {
    #[serde(flatten)]
    pub kind: IssueKind,
    /// The entry concerned (stored path), empty for the archive as a whole.
    pub path: String,
    pub detail: String,
}

/// An archive read into memory.
#[derive(Debug, Clone)]
pub struct Archive {
    pub format: Format,
    /// Every entry in archive order, shadowed and escaping ones included.
    pub entries: Vec<Entry>,
    pub issues: Vec<Issue>,
    /// False when a limit or a damaged stream stopped reading before the end.
    pub complete: bool,
    /// Compressed bytes consumed and decompressed bytes produced.
    pub compressed_bytes: u64,
    pub uncompressed_bytes: u64,
    /// Issues of the container itself; path issues are recomputed by [`Archive::with_root`].
    stream_issues: Vec<Issue>,
}

impl Archive {
    /// The regular files an extractor would leave inside the root, in archive order.
    pub fn installed_files(&self) -> impl Iterator<Item = &Entry> {
        self.entries.iter().filter(|e| e.is_installed_file())
    }

    /// The installed file at `path` (below the root), e.g. `package.json`.
    pub fn file(&self, path: &str) -> Option<&Entry> {
        self.installed_files().find(|e| e.path == path)
    }

    /// The same archive seen from another root: paths and path issues recomputed.
    pub fn with_root(mut self, root: Root) -> Archive {
        apply_root(&mut self.entries, root);
        let mut issues = self.stream_issues.clone();
        issues.extend(path_issues(&mut self.entries));
        self.issues = issues;
        self
    }
}

/// Errors: only for input that is not an archive at all. Damage inside an archive is an
/// [`Issue`], not an error.
#[derive(Debug, thiserror::Error)]
pub enum ArchiveError {
    #[error("not a tar, gzip tar or zip archive")]
    UnknownFormat,
    #[error("unreadable zip archive: {0}")]
    Zip(String),
}

/// Reads `bytes` (tar, gzip tar or zip) into memory under `limits`, paths seen from
/// `root`.
pub fn read(bytes: &[u8], limits: &Limits, root: Root) -> Result<Archive, ArchiveError> {
    read_with(bytes, limits, root, None)
}

/// A callback handed each regular file's stored path and content while reading.
pub type Visitor<'v> = &'v mut dyn FnMut(&str, &[u8]);

/// Like [`read`], but hands each regular file's stored path and content to `visit`
/// as it is read and keeps no content ([`Entry::bytes`] stays `None`), so memory stays
/// bounded by one entry: for large archives read once (a local OSV export). Contents
/// over [`Limits::max_entry_bytes`] are not handed over; the limits apply as in [`read`].
pub fn visit(
    bytes: &[u8],
    limits: &Limits,
    root: Root,
    visit: Visitor<'_>,
) -> Result<Archive, ArchiveError> {
    read_with(bytes, limits, root, Some(visit))
}

fn read_with(
    bytes: &[u8],
    limits: &Limits,
    root: Root,
    visitor: Option<Visitor<'_>>,
) -> Result<Archive, ArchiveError> {
    let format = Format::detect(bytes).ok_or(ArchiveError::UnknownFormat)?;
    let mut c = Collector::new(limits);
    c.visitor = visitor;
    let mut raw = match format {
        Format::Tar | Format::TarGz => tar::read(bytes, format, c),
        Format::Zip => zip::read(bytes, c)?,
    };
    raw.stream_issues = raw.issues.clone();
    Ok(raw.with_root(root))
}

/// Accumulates entries and enforces the keep limits; shared by the tar and zip walkers.
pub(crate) struct Collector<'l, 'v> {
    pub limits: &'l Limits,
    pub entries: Vec<Entry>,
    pub issues: Vec<Issue>,
    pub kept: u64,
    /// When set, file contents go here and are not kept.
    pub visitor: Option<Visitor<'v>>,
}

impl<'l, 'v> Collector<'l, 'v> {
    pub fn new(limits: &'l Limits) -> Self {
        Collector {
            limits,
            entries: Vec::new(),
            issues: Vec::new(),
            kept: 0,
            visitor: None,
        }
    }

    /// Reads one entry's content from `r` (hashing all of it, keeping it when it fits).
    /// An error from `r` is returned after the entry is recorded with what was read.
    pub fn content(
        &mut self,
        stored_path: String,
        kind: EntryKind,
        link_target: Option<String>,
        declared: u64,
        r: &mut dyn std::io::Read,
    ) -> std::io::Result<()> {
        use sha2::Digest;
        let mut hasher = sha2::Sha256::new();
        let cap = self.limits.max_entry_bytes;
        let keep = kind == EntryKind::File
            && declared <= cap
            && self.kept.saturating_add(declared) <= self.limits.max_kept_bytes;
        let mut kept = Vec::new();
        let mut buf = vec![0u8; 64 * 1024];
        let mut total = 0u64;
        let mut result = Ok(());
        loop {
            match r.read(&mut buf) {
                Ok(0) => break,
                Ok(n) => {
                    hasher.update(&buf[..n]);
                    total += n as u64;
                    if keep && total <= cap {
                        kept.extend_from_slice(&buf[..n]);
                    }
                }
                Err(e) if e.kind() == std::io::ErrorKind::Interrupted => {}
                Err(e) => {
                    result = Err(e);
                    break;
                }
            }
        }
        let mut keep = keep && total <= cap && result.is_ok();
        if let Some(v) = self.visitor.as_mut() {
            if keep {
                v(&stored_path, &kept);
            }
            keep = false;
        }
        if keep {
            self.kept += total;
        }
        self.entries.push(Entry {
            path: String::new(),
            stored_path,
            kind,
            link_target,
            size: declared.max(total),
            sha256: hasher.finalize().into(),
            bytes: keep.then_some(kept),
            escapes: false,
            shadowed: false,
            after_anomaly: false,
        });
        result
    }

    pub fn issue(&mut self, kind: IssueKind, path: &str, detail: impl Into<String>) {
        self.issues.push(Issue {
            kind,
            path: path.to_string(),
            detail: detail.into(),
        });
    }

    pub fn finish(self, format: Format, complete: bool, compressed: u64, produced: u64) -> Archive {
        Archive {
            format,
            entries: self.entries,
            issues: self.issues,
            complete,
            compressed_bytes: compressed,
            uncompressed_bytes: produced,
            stream_issues: Vec::new(),
        }
    }
}

/// Splits a stored path into components as an extractor sees them; the flag says it was
/// absolute (`/x`, `C:/x`, `\\?\x`), which extractors strip.
fn components(stored: &str) -> (Vec<&str>, bool) {
    let mut s = stored;
    let mut absolute = false;
    loop {
        let b = s.as_bytes();
        if let Some(rest) = s.strip_prefix('/') {
            s = rest;
        } else if b.len() >= 2 && b[0].is_ascii_alphabetic() && b[1] == b':' {
            s = &s[2..];
        } else {
            break;
        }
        absolute = true;
    }
    let parts = s
        .split('/')
        .filter(|c| !c.is_empty() && *c != ".")
        .collect();
    (parts, absolute)
}

/// Resolves `..` in `parts`; `None` when it climbs above the start.
fn resolve(parts: &[&str]) -> Option<Vec<String>> {
    let mut out: Vec<String> = Vec::new();
    for p in parts {
        if *p == ".." {
            out.pop()?;
        } else {
            out.push((*p).to_string());
        }
    }
    Some(out)
}

/// Sets each entry's [`Entry::path`] for `root`.
fn apply_root(entries: &mut [Entry], root: Root) {
    let strip = match root {
        Root::AsIs => 0,
        Root::StripComponents(n) => n,
        Root::CommonTopFolder => {
            let mut top: Option<&str> = None;
            let mut common = !entries.is_empty();
            for e in entries.iter() {
                let (parts, _) = components(&e.stored_path);
                let single_dir = parts.len() == 1 && e.kind == EntryKind::Dir;
                if parts.len() < 2 && !single_dir {
                    common = false;
                    break;
                }
                match (top, parts.first()) {
                    (None, Some(t)) => top = Some(t),
                    (Some(t), Some(p)) if t == *p => {}
                    _ => {
                        common = false;
                        break;
                    }
                }
            }
            usize::from(common)
        }
    };
    for e in entries.iter_mut() {
        let (parts, _) = components(&e.stored_path);
        e.path = parts.get(strip..).unwrap_or(&[]).join("/");
    }
}

/// Marks escaping and shadowed entries and returns the path issues.
fn path_issues(entries: &mut [Entry]) -> Vec<Issue> {
    let mut issues = Vec::new();
    let mut push = |kind: IssueKind, path: &str, detail: String| {
        issues.push(Issue {
            kind,
            path: path.to_string(),
            detail,
        })
    };
    let mut symlinks: HashSet<String> = HashSet::new();
    let mut last: HashMap<String, usize> = HashMap::new();
    for i in 0..entries.len() {
        let e = &entries[i];
        let (parts, absolute) = components(&e.stored_path);
        if absolute {
            push(
                IssueKind::AbsolutePath,
                &e.stored_path,
                format!("absolute path {}", clip(&e.stored_path)),
            );
        }
        let own: Vec<&str> = e.path.split('/').filter(|c| !c.is_empty()).collect();
        let resolved = resolve(&own);
        let mut escapes = resolved.is_none();
        if escapes {
            push(
                IssueKind::PathTraversal,
                &e.stored_path,
                format!("`..` leads out of the package: {}", clip(&e.stored_path)),
            );
        } else if parts.contains(&"..") {
            // Stays inside, but extractors (node-tar) refuse any `..`.
            push(
                IssueKind::Malformed,
                &e.stored_path,
                format!("path contains `..`: {}", clip(&e.stored_path)),
            );
        }
        let norm = resolved.unwrap_or_default();
        // A write below a symlink entry lands wherever the link points.
        if !escapes {
            for k in 1..norm.len() {
                let prefix = norm[..k].join("/");
                if symlinks.contains(&prefix) {
                    push(
                        IssueKind::PathTraversal,
                        &e.stored_path,
                        format!("written through the symlink {prefix}"),
                    );
                    escapes = true;
                    break;
                }
            }
        }
        let norm_path = norm.join("/");
        if let Some(target) = &e.link_target {
            let hard = e.kind == EntryKind::Hardlink;
            let (tparts, tabs) = components(target);
            let out = if tabs {
                true
            } else if hard {
                // Hardlink targets are archive paths: strip them as the entry was.
                let strip = parts.len().saturating_sub(own.len());
                resolve(tparts.get(strip..).unwrap_or(&[])).is_none()
            } else {
                let mut base: Vec<&str> = norm.iter().map(String::as_str).collect();
                base.pop();
                base.extend(tparts.iter());
                resolve(&base).is_none()
            };
            if (e.kind == EntryKind::Symlink || hard) && out {
                push(
                    IssueKind::LinkOutside { hard },
                    &e.stored_path,
                    format!(
                        "{} {} -> {} points outside the package",
                        if hard { "hardlink" } else { "symlink" },
                        clip(&e.stored_path),
                        clip(target)
                    ),
                );
            }
            if e.kind == EntryKind::Symlink && !norm_path.is_empty() {
                symlinks.insert(norm_path.clone());
            }
        }
        if matches!(
            e.kind,
            EntryKind::CharDevice | EntryKind::BlockDevice | EntryKind::Fifo
        ) {
            push(
                IssueKind::Device,
                &e.stored_path,
                format!("{:?} entry {}", e.kind, clip(&e.stored_path)),
            );
        }
        entries[i].escapes = escapes;
        if escapes || norm_path.is_empty() || entries[i].kind == EntryKind::Dir {
            continue;
        }
        if let Some(prev) = last.insert(norm_path.clone(), i) {
            entries[prev].shadowed = true;
            let (a, b) = (&entries[prev], &entries[i]);
            if a.kind != b.kind || a.sha256 != b.sha256 || a.link_target != b.link_target {
                push(
                    IssueKind::Duplicate,
                    &b.stored_path,
                    format!(
                        "{norm_path} appears twice; the later entry ({:?}, {} bytes) replaces the earlier one ({:?}, {} bytes)",
                        b.kind, b.size, a.kind, a.size
                    ),
                );
            }
        }
    }
    issues
}

/// A path shortened for a message.
fn clip(s: &str) -> String {
    crate::text::clip(s, 120)
}

#[cfg(test)]
mod tests;
