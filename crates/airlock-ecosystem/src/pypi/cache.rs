//! The host-side wheel cache: requirement sets resolved recently are served from
//! content-addressed blobs instead of running pip again (seconds per scan otherwise).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::Digest;

// ---- wheel cache -----------------------------------------------------------------

/// What `pip download` is asked to resolve for (see [`pip_download`]); part of the
/// wheel cache key, so changing the target's flags must change this string.
pub(super) fn wheel_target(py: &crate::runtime::PythonRuntime) -> String {
    let ((_, minor), glibc) = (py.minor(), py.glibc_minor());
    format!("cp3{minor}-cp3{minor}-abi3-none/manylinux_2_{glibc}..1-linux-any/x86_64")
}

/// Blobs no live entry refers to are removed once they are this old (the age keeps a
/// concurrent scan's just-stored blobs, whose entry is not written yet).
pub(super) const ORPHAN_BLOB_AGE: std::time::Duration = std::time::Duration::from_secs(3600);

/// A host-side cache of resolved requirement sets, so that a scan does not start pip
/// (7–11 s for the seed wheels alone) for a set it resolved recently.
///
/// Layout under `dir`: `sets/<key>.json`, one entry per requirement set, keyed by the
/// sha256 of the index URL, [`wheel_target`] and the sorted requirement strings, listing
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
pub(super) struct WheelSetEntry {
    version: u32,
    created_unix: u64,
    index: String,
    target: String,
    requirements: Vec<String>,
    wheels: Vec<CachedWheel>,
}

#[derive(Debug, serde::Serialize, Deserialize)]
pub(super) struct CachedWheel {
    file: String,
    sha256: String,
    size: u64,
}

pub(super) fn unix_now() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// sha256 of a file, streamed.
pub(super) fn file_sha256(path: &Path) -> std::io::Result<(String, u64)> {
    let mut f = std::fs::File::open(path)?;
    let mut h = sha2::Sha256::new();
    let n = std::io::copy(&mut f, &mut h)?;
    Ok((hex::encode(h.finalize()), n))
}

/// A wheel file name safe to use as a path component.
pub(super) fn plain_wheel_name(name: &str) -> bool {
    !name.is_empty()
        && !name.starts_with('.')
        && !name.contains(['/', '\\', '\0'])
        && name.ends_with(".whl")
}

/// A copy of `src` in a temporary file in `dir`, world-readable like the files pip
/// writes (a temporary file starts as 0600), ready to be renamed into place.
pub(super) fn readable_copy(src: &Path, dir: &Path) -> std::io::Result<tempfile::NamedTempFile> {
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
pub(super) fn link_or_copy(src: &Path, dest: &Path) -> std::io::Result<()> {
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
    pub(super) fn entry_path(&self, reqs: &[String], index: &str, target: &str) -> PathBuf {
        let mut h = sha2::Sha256::new();
        h.update(b"airlock wheel set v1\n");
        h.update(index.as_bytes());
        h.update(b"\n");
        h.update(target.as_bytes());
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
    pub(super) fn lookup(
        &self,
        reqs: &[String],
        index: &str,
        target: &str,
    ) -> Result<Vec<(String, PathBuf)>, String> {
        let (reqs, index) = Self::normalized(reqs, index);
        let path = self.entry_path(&reqs, &index, target);
        let bytes = std::fs::read(&path).map_err(|e| format!("no entry: {e}"))?;
        let entry: WheelSetEntry =
            serde_json::from_slice(&bytes).map_err(|e| format!("bad entry: {e}"))?;
        if entry.version != 1
            || entry.index != index
            || entry.target != target
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
    pub(super) fn store(
        &self,
        reqs: &[String],
        index: &str,
        target: &str,
        wheels: &[PathBuf],
    ) -> std::io::Result<()> {
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
            target: target.into(),
            requirements: reqs.clone(),
            wheels: listed,
        };
        let mut tmp = tempfile::NamedTempFile::new_in(&sets)?;
        serde_json::to_writer_pretty(tmp.as_file_mut(), &entry)?;
        tmp.as_file().sync_all()?;
        tmp.persist(self.entry_path(&reqs, &index, target))
            .map_err(|e| e.error)?;
        Ok(())
    }

    /// Removes expired entries and the blobs no live entry lists (once they are an hour
    /// old). Best effort: a concurrent scan that loses a blob this way sees a miss.
    pub(super) fn prune(&self) {
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
