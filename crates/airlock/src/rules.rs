//! The default ruleset, embedded: an installed `airlock` judges from any directory
//! without the source tree. The files are written once per ruleset content to the user's
//! cache (`~/.cache/airlock/rules/<hash>/`, or the temp dir) and loaded from there like
//! any rules directory, so the ruleset hash is the same as the source tree's.
//! `--rules DIR` and `$AIRLOCK_RULES` override it.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use include_dir::{include_dir, Dir};
use sha2::Digest;

static RULES: Dir<'static> = include_dir!("$CARGO_MANIFEST_DIR/../../rules");

/// Every embedded file, relative path and content, in path order.
fn files() -> Vec<(&'static Path, &'static [u8])> {
    fn walk(d: &'static Dir<'static>, out: &mut Vec<(&'static Path, &'static [u8])>) {
        for f in d.files() {
            out.push((f.path(), f.contents()));
        }
        for sub in d.dirs() {
            walk(sub, out);
        }
    }
    let mut out = Vec::new();
    walk(&RULES, &mut out);
    out.sort();
    out
}

/// The directory holding the embedded ruleset, written on first use.
pub fn embedded_dir() -> Result<PathBuf> {
    let files = files();
    let mut h = sha2::Sha256::new();
    for (path, content) in &files {
        h.update(path.to_string_lossy().as_bytes());
        h.update([0]);
        h.update(content);
        h.update([0]);
    }
    let hash = hex::encode(&h.finalize()[..8]);
    let base = std::env::var_os("XDG_CACHE_HOME")
        .map(PathBuf::from)
        .or_else(|| std::env::var_os("HOME").map(|h| PathBuf::from(h).join(".cache")))
        .map(|c| c.join("airlock").join("rules"))
        .filter(|d| std::fs::create_dir_all(d).is_ok())
        .unwrap_or_else(|| std::env::temp_dir().join("airlock-rules"));
    let dir = base.join(&hash);
    if dir.join(".complete").is_file() {
        return Ok(dir);
    }
    std::fs::create_dir_all(&base).with_context(|| format!("creating {}", base.display()))?;
    // Written beside and renamed into place: a concurrent airlock sees all or nothing.
    let tmp = tempfile::Builder::new()
        .prefix(&format!(".{hash}-"))
        .tempdir_in(&base)
        .with_context(|| format!("creating a directory in {}", base.display()))?;
    for (path, content) in &files {
        let dest = tmp.path().join(path);
        if let Some(parent) = dest.parent() {
            std::fs::create_dir_all(parent)
                .with_context(|| format!("creating {}", parent.display()))?;
        }
        std::fs::write(&dest, content).with_context(|| format!("writing {}", dest.display()))?;
    }
    std::fs::write(tmp.path().join(".complete"), b"")?;
    let staged = tmp.keep();
    if std::fs::rename(&staged, &dir).is_err() {
        // Another airlock won the race; its copy is the same.
        let _ = std::fs::remove_dir_all(&staged);
    }
    Ok(dir)
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_embedded_ruleset_loads_and_equals_the_source_tree() {
        let dir = super::embedded_dir().unwrap();
        let embedded = airlock_rules::Ruleset::load_dir(&dir).unwrap();
        let tree = airlock_rules::Ruleset::load_dir(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../rules"
        )))
        .unwrap();
        assert_eq!(embedded.hash(), tree.hash());
        assert!(dir.join(".complete").is_file());
    }
}
