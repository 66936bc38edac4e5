//! Filesystem diff between two snapshots taken inside the container before and after a
//! phase, with `find ROOTS -xdev -printf '%y\t%m\t%s\t%T@\t%p\n'` (see [`find_args`]).
//! strace shows what a process asked for; the diff shows what actually changed on disk,
//! including files written through calls we do not trace (`write`), and gives the
//! orchestrator the list of files whose content it should hash.

use std::collections::{BTreeMap, HashMap};

use airlock_events::{Event, EventKind, FsChangeKind, Source};

/// The `find` argv for one snapshot of `roots` (the orchestrator runs it in the
/// container; its stdout is what [`Snapshot::parse`] reads).
pub fn find_args(roots: &[&str]) -> Vec<String> {
    let mut v = vec!["find".to_string()];
    v.extend(roots.iter().map(|r| r.to_string()));
    v.push("-xdev".into());
    v.push("-printf".into());
    v.push("%y\\t%m\\t%s\\t%T@\\t%p\\n".into());
    v
}

/// What kind of filesystem object an entry is (`find`'s `%y`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FileKind {
    File,
    Dir,
    Link,
    /// Sockets, fifos, devices.
    Other,
}

impl FileKind {
    fn from_find(c: &str) -> FileKind {
        match c {
            "f" => FileKind::File,
            "d" => FileKind::Dir,
            "l" => FileKind::Link,
            _ => FileKind::Other,
        }
    }
}

/// One entry of a snapshot.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub kind: FileKind,
    /// Permission bits (`%m`, octal).
    pub mode: u32,
    pub size: u64,
    /// Modification time as `find` printed it (compared as text: same format twice).
    pub mtime: String,
}

/// All entries under the snapshot roots, by path.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Snapshot {
    pub entries: BTreeMap<String, Entry>,
    /// Lines that did not have the five expected fields (e.g. paths with a newline).
    pub skipped_lines: usize,
}

impl Snapshot {
    /// Parses `find -printf '%y\t%m\t%s\t%T@\t%p\n'` output. Never fails; lines that
    /// do not parse are counted in `skipped_lines`.
    pub fn parse(text: &str) -> Snapshot {
        let mut snap = Snapshot::default();
        for line in text.lines() {
            if line.is_empty() {
                continue;
            }
            let mut parts = line.splitn(5, '\t');
            let (Some(y), Some(m), Some(s), Some(t), Some(p)) = (
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
                parts.next(),
            ) else {
                snap.skipped_lines += 1;
                continue;
            };
            let (Ok(mode), Ok(size)) = (u32::from_str_radix(m, 8), s.parse::<u64>()) else {
                snap.skipped_lines += 1;
                continue;
            };
            snap.entries.insert(
                p.to_string(),
                Entry {
                    kind: FileKind::from_find(y),
                    mode,
                    size,
                    mtime: t.to_string(),
                },
            );
        }
        snap
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

/// One change between two snapshots.
#[derive(Debug, Clone, PartialEq)]
pub struct FsDelta {
    pub path: String,
    pub change: FsChangeKind,
    /// Size after the change (before it, for deletions).
    pub size: u64,
    pub mode: u32,
    pub kind: FileKind,
}

/// Changes from `before` to `after`, sorted by path. An entry is modified when its size,
/// mtime, mode or kind differs; for directories only a mode (or kind) change counts,
/// because a directory's size and mtime change whenever an entry is added inside it,
/// which the added entry already reports.
pub fn diff(before: &Snapshot, after: &Snapshot) -> Vec<FsDelta> {
    let mut out = Vec::new();
    for (path, a) in &after.entries {
        let change = match before.entries.get(path) {
            None => Some(FsChangeKind::Added),
            Some(b) if b.kind != a.kind || b.mode != a.mode => Some(FsChangeKind::Modified),
            Some(_) if a.kind == FileKind::Dir => None,
            Some(b) if b.size != a.size || b.mtime != a.mtime => Some(FsChangeKind::Modified),
            Some(_) => None,
        };
        if let Some(change) = change {
            out.push(FsDelta {
                path: path.clone(),
                change,
                size: a.size,
                mode: a.mode,
                kind: a.kind,
            });
        }
    }
    for (path, b) in &before.entries {
        if !after.entries.contains_key(path) {
            out.push(FsDelta {
                path: path.clone(),
                change: FsChangeKind::Deleted,
                size: b.size,
                mode: b.mode,
                kind: b.kind,
            });
        }
    }
    out.sort_by(|x, y| x.path.cmp(&y.path));
    out
}

/// Paths of added or modified regular files: what the orchestrator should hash.
pub fn paths_to_hash(deltas: &[FsDelta]) -> Vec<&str> {
    deltas
        .iter()
        .filter(|d| d.kind == FileKind::File && d.change != FsChangeKind::Deleted)
        .map(|d| d.path.as_str())
        .collect()
}

/// True when `path` is `dir` or below it.
pub fn is_under(path: &str, dir: &str) -> bool {
    let dir = dir.trim_end_matches('/');
    if dir.is_empty() {
        return path.starts_with('/');
    }
    path == dir
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Turns deltas into `fs.change` events (source `fsdiff`, seq 0). `hashes` maps path →
/// sha256 (lowercase hex) for the files the orchestrator could read; `package_dir`
/// marks changes inside the package's own directory with `in_package`.
pub fn fs_events(
    deltas: &[FsDelta],
    hashes: &HashMap<String, String>,
    package_dir: Option<&str>,
    phase: &str,
    ts: f64,
) -> Vec<Event> {
    deltas
        .iter()
        .map(|d| {
            let deleted = d.change == FsChangeKind::Deleted;
            Event::new(
                ts,
                phase,
                Source::Fsdiff,
                EventKind::FsChange {
                    path: d.path.clone(),
                    change: d.change,
                    sha256: if deleted {
                        None
                    } else {
                        hashes.get(&d.path).cloned()
                    },
                    size: (d.kind == FileKind::File).then_some(d.size),
                    mode: Some(d.mode),
                    in_package: package_dir.is_some_and(|p| is_under(&d.path, p)),
                },
            )
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const BEFORE: &str = "d\t755\t4096\t1700000000.0000000000\t/home/u\n\
f\t644\t10\t1700000000.0000000000\t/home/u/.npmrc\n\
f\t644\t5\t1700000000.0000000000\t/home/u/keep\n\
f\t644\t5\t1700000000.0000000000\t/home/u/gone\n\
f\t644\t5\t1700000000.0000000000\t/home/u/chmodded\n\
d\t755\t4096\t1700000000.0000000000\t/app/node_modules/x\n";

    const AFTER: &str = "d\t755\t8192\t1700000100.0000000000\t/home/u\n\
f\t644\t99\t1700000050.5000000000\t/home/u/.npmrc\n\
f\t644\t5\t1700000000.0000000000\t/home/u/keep\n\
f\t755\t5\t1700000000.0000000000\t/home/u/chmodded\n\
l\t777\t9\t1700000060.0000000000\t/home/u/with\ttab\n\
d\t755\t4096\t1700000000.0000000000\t/app/node_modules/x\n\
f\t644\t3\t1700000070.0000000000\t/app/node_modules/x/index.js\n\
garbage line\n";

    #[test]
    fn diff_finds_each_kind_of_change() {
        let b = Snapshot::parse(BEFORE);
        let a = Snapshot::parse(AFTER);
        assert_eq!(a.skipped_lines, 1);
        assert_eq!(a.entries["/home/u/with\ttab"].kind, FileKind::Link);
        let d = diff(&b, &a);
        let got: Vec<(&str, FsChangeKind)> =
            d.iter().map(|x| (x.path.as_str(), x.change)).collect();
        assert_eq!(
            got,
            vec![
                ("/app/node_modules/x/index.js", FsChangeKind::Added),
                ("/home/u/.npmrc", FsChangeKind::Modified),
                ("/home/u/chmodded", FsChangeKind::Modified),
                ("/home/u/gone", FsChangeKind::Deleted),
                ("/home/u/with\ttab", FsChangeKind::Added),
            ]
        );
        assert_eq!(d[2].mode, 0o755);
        assert_eq!(
            paths_to_hash(&d),
            vec![
                "/app/node_modules/x/index.js",
                "/home/u/.npmrc",
                "/home/u/chmodded"
            ]
        );
    }

    #[test]
    fn events_carry_hashes_and_package_flag() {
        let d = diff(&Snapshot::parse(BEFORE), &Snapshot::parse(AFTER));
        let mut hashes = HashMap::new();
        hashes.insert("/home/u/.npmrc".to_string(), "ab".repeat(32));
        let ev = fs_events(&d, &hashes, Some("/app/node_modules/x/"), "install", 5.0);
        assert_eq!(ev.len(), d.len());
        match &ev[0].kind {
            EventKind::FsChange {
                in_package, size, ..
            } => {
                assert!(*in_package);
                assert_eq!(*size, Some(3));
            }
            k => panic!("{k:?}"),
        }
        match &ev[1].kind {
            EventKind::FsChange {
                in_package, sha256, ..
            } => {
                assert!(!*in_package);
                assert_eq!(sha256.as_deref(), Some("ab".repeat(32).as_str()));
            }
            k => panic!("{k:?}"),
        }
        assert!(ev
            .iter()
            .all(|e| e.source == Source::Fsdiff && e.phase == "install"));
    }

    #[test]
    fn under() {
        assert!(is_under("/a/b/c", "/a/b"));
        assert!(is_under("/a/b", "/a/b/"));
        assert!(!is_under("/a/bc", "/a/b"));
    }

    #[test]
    fn find_command() {
        let a = find_args(&["/home/u", "/tmp"]);
        assert_eq!(&a[..4], &["find", "/home/u", "/tmp", "-xdev"]);
        assert!(a.last().unwrap().contains("%T@"));
    }
}
