//! A phase's filesystem changes as events, with as few trips into the container as
//! possible: the files the package wrote outside its directory are read once (in one
//! exec) for the canary search, and that read also yields the content hash of every
//! small changed file — hashed here — so `sha256sum` runs in the container only for the
//! files too large or too many to read (before: one exec to hash and another to read,
//! after every phase).

use std::collections::HashMap;

use airlock_events::{Event, FsChangeKind};
use airlock_recorder::fsdiff::{self, FileKind, FsDelta};
use sha2::{Digest, Sha256};

use crate::record::{is_faketime_file, is_faketime_path};
use crate::sandbox::Sandbox;
use crate::EngineError;

/// Files the package wrote outside its own directory are searched for canaries (a
/// stealer that stages before sending); these bound that work.
pub const STAGED_FILE_MAX: u64 = 1 << 20;
pub const STAGED_FILES_MAX: usize = 200;
/// Other changed files (the package manager's) are read along to be hashed here only
/// when the phase changed at most this many files, each at most this large: the read
/// costs a few processes per file in the container, one `sha256sum` does many files.
const READ_ALONG_MAX: usize = 20;
const READ_ALONG_SIZE: u64 = 64 << 10;

/// What one phase changed.
pub struct PhaseChanges {
    /// `fs.change` events (libfaketime's own files left out).
    pub changes: Vec<Event>,
    /// Canaries found in files written outside the package.
    pub leaks: Vec<Event>,
    /// When the changes were collected (the phase's end in the trace).
    pub t_end: f64,
}

/// The events for `deltas`; `staged_budget` (shared by the run's phases) bounds how
/// many written files are searched for canaries.
#[allow(clippy::too_many_arguments)]
pub async fn phase_changes<S: Sandbox>(
    sandbox: &S,
    deltas: &[FsDelta],
    package_dir: Option<&str>,
    toolchain_paths: &[String],
    searcher: Option<&airlock_bait::LeakSearcher>,
    staged_budget: &mut usize,
    phase: &str,
) -> Result<PhaseChanges, EngineError> {
    let in_package = |p: &str| package_dir.is_some_and(|d| fsdiff::is_under(p, d));
    let to_hash: Vec<&FsDelta> = deltas
        .iter()
        .filter(|d| d.kind == FileKind::File && d.change != FsChangeKind::Deleted)
        .filter(|d| !in_package(&d.path) && !is_faketime_path(&d.path))
        .collect();
    // What the canary search reads: written (not deleted), non-empty files outside the
    // package and outside the package manager's own areas, in the diff's order.
    let staged: Vec<String> = if searcher.is_some() {
        to_hash
            .iter()
            .filter(|d| d.size > 0 && !toolchain_paths.iter().any(|t| fsdiff::is_under(&d.path, t)))
            .take(*staged_budget)
            .map(|d| d.path.clone())
            .collect()
    } else {
        Vec::new()
    };
    *staged_budget -= staged.len();
    let mut read: Vec<String> = staged.clone();
    if to_hash.len() <= READ_ALONG_MAX {
        read.extend(
            to_hash
                .iter()
                .filter(|d| d.size <= READ_ALONG_SIZE && !staged.contains(&d.path))
                .map(|d| d.path.clone()),
        );
    }
    let files = if read.is_empty() {
        HashMap::new()
    } else {
        sandbox
            .read_files(&read, STAGED_FILE_MAX)
            .await
            .map_err(EngineError::Sandbox)?
    };
    let mut hashes = HashMap::new();
    let mut in_container = Vec::new();
    for d in &to_hash {
        match files.get(&d.path) {
            // Read whole (the size the listing saw, below the cap): hashed here.
            Some(bytes) if bytes.len() as u64 == d.size && d.size < STAGED_FILE_MAX => {
                hashes.insert(d.path.clone(), hex::encode(Sha256::digest(bytes)));
            }
            _ => in_container.push(d.path.clone()),
        }
    }
    if !in_container.is_empty() {
        hashes.extend(
            sandbox
                .hash_files(&in_container)
                .await
                .map_err(EngineError::Sandbox)?,
        );
    }
    let t_end = airlock_events::now();
    let mut changes = fsdiff::fs_events(deltas, &hashes, package_dir, phase, t_end);
    changes.retain(|e| !is_faketime_file(&e.kind));
    let mut leaks = Vec::new();
    if let Some(searcher) = searcher {
        for path in &staged {
            if let Some(bytes) = files.get(path) {
                leaks.extend(searcher.scan_file(path, bytes, phase, t_end));
            }
        }
    }
    Ok(PhaseChanges {
        changes,
        leaks,
        t_end,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::sandbox::*;
    use std::path::Path;
    use std::sync::Mutex;

    /// A sandbox whose files are a map; it counts reads and hashes.
    #[derive(Default)]
    struct Files {
        content: HashMap<String, Vec<u8>>,
        calls: Mutex<Vec<String>>,
    }

    impl Sandbox for Files {
        async fn upload_tar(&self, _: &str, _: Vec<u8>, _: &str) -> Result<(), BackendError> {
            Ok(())
        }
        async fn exec(&self, _: &[String], _: &str) -> Result<ExecResult, BackendError> {
            Ok(ExecResult::default())
        }
        async fn spawn(
            &self,
            _: &[String],
            _: &str,
            _: &[(String, String)],
            _: &str,
        ) -> Result<(), BackendError> {
            Ok(())
        }
        fn trace_file_for(&self, phase: &str) -> String {
            phase.into()
        }
        async fn run_phase(&self, _: &PhaseRequest, _: &Path) -> Result<PhaseResult, BackendError> {
            Ok(PhaseResult::default())
        }
        async fn snapshot(&self, _: &[String]) -> Result<String, BackendError> {
            Ok(String::new())
        }
        async fn hash_files(
            &self,
            paths: &[String],
        ) -> Result<HashMap<String, String>, BackendError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("hash {}", paths.join(" ")));
            Ok(paths
                .iter()
                .filter_map(|p| {
                    let c = self.content.get(p)?;
                    Some((p.clone(), hex::encode(Sha256::digest(c))))
                })
                .collect())
        }
        async fn read_files(
            &self,
            paths: &[String],
            cap: u64,
        ) -> Result<HashMap<String, Vec<u8>>, BackendError> {
            self.calls
                .lock()
                .unwrap()
                .push(format!("read {}", paths.join(" ")));
            Ok(paths
                .iter()
                .filter_map(|p| {
                    let c = self.content.get(p)?;
                    Some((p.clone(), c[..c.len().min(cap as usize)].to_vec()))
                })
                .collect())
        }
        async fn copy_out(&self, _: &str, _: &Path) -> Result<(), BackendError> {
            Ok(())
        }
        async fn destroy(self) {}
    }

    fn added(path: &str, size: u64) -> FsDelta {
        FsDelta {
            path: path.into(),
            change: FsChangeKind::Added,
            size,
            mode: 0o644,
            kind: FileKind::File,
        }
    }

    #[tokio::test]
    async fn one_read_hashes_small_files_and_feeds_the_canary_search() {
        let big = vec![b'x'; (STAGED_FILE_MAX + 10) as usize];
        let mut sb = Files::default();
        sb.content.insert(
            "/tmp/loot.txt".into(),
            b"token=npm_CANARYabcdef0123456789abcd".to_vec(),
        );
        sb.content
            .insert("/home/runner/.npm/_update".into(), b"{}".to_vec());
        sb.content.insert("/tmp/big.bin".into(), big.clone());
        sb.content
            .insert("/dev/shm/faketime_shm_12".into(), b"clock".to_vec());
        let deltas = vec![
            added("/dev/shm/faketime_shm_12", 5),
            added("/home/runner/.npm/_update", 2),
            added("/tmp/big.bin", big.len() as u64),
            added("/tmp/loot.txt", 36),
            added("/work/p/node_modules/pkg/index.js", 10),
        ];
        let canary = airlock_events::Canary {
            id: "c1".into(),
            kind: "npm-token".into(),
            value: "npm_CANARYabcdef0123456789abcd".into(),
            location: "env:NPM_TOKEN".into(),
        };
        let searcher = airlock_bait::LeakSearcher::new(&[canary]);
        let mut budget = STAGED_FILES_MAX;
        let got = phase_changes(
            &sb,
            &deltas,
            Some("/work/p/node_modules/pkg"),
            &["/home/runner/.npm".to_string()],
            Some(&searcher),
            &mut budget,
            "install",
        )
        .await
        .unwrap();
        let calls = sb.calls.lock().unwrap().clone();
        // the staged files and the small toolchain file in one read; only the big file
        // hashed in the container; libfaketime's and the package's own files neither
        assert_eq!(
            calls,
            [
                "read /tmp/big.bin /tmp/loot.txt /home/runner/.npm/_update",
                "hash /tmp/big.bin"
            ]
        );
        assert_eq!(budget, STAGED_FILES_MAX - 2);
        let sha = |e: &Event| match &e.kind {
            airlock_events::EventKind::FsChange { path, sha256, .. } => {
                Some((path.clone(), sha256.clone()))
            }
            _ => None,
        };
        let hashes: HashMap<String, Option<String>> = got.changes.iter().filter_map(sha).collect();
        assert_eq!(
            hashes["/tmp/loot.txt"].as_deref(),
            Some(hex::encode(Sha256::digest(b"token=npm_CANARYabcdef0123456789abcd")).as_str())
        );
        assert_eq!(
            hashes["/tmp/big.bin"].as_deref(),
            Some(hex::encode(Sha256::digest(&big)).as_str())
        );
        assert!(hashes["/home/runner/.npm/_update"].is_some());
        assert!(!hashes.contains_key("/dev/shm/faketime_shm_12"));
        assert_eq!(got.leaks.len(), 1, "{:?}", got.leaks);
    }

    /// Many changed files (node's compile cache after an npm run: ~500): no read-along,
    /// one `sha256sum` for everything not read for the canary search.
    #[tokio::test]
    async fn many_changed_files_are_hashed_in_one_exec_not_read() {
        let mut sb = Files::default();
        let mut deltas = Vec::new();
        for i in 0..50 {
            let p = format!("/home/runner/.npm/_cache/f{i:02}");
            sb.content.insert(p.clone(), vec![b'a'; 10]);
            deltas.push(added(&p, 10));
        }
        let mut budget = STAGED_FILES_MAX;
        let got = phase_changes(
            &sb,
            &deltas,
            None,
            &["/home/runner/.npm".to_string()],
            None,
            &mut budget,
            "install",
        )
        .await
        .unwrap();
        let calls = sb.calls.lock().unwrap().clone();
        assert_eq!(calls.len(), 1, "{calls:?}");
        assert!(calls[0].starts_with("hash "), "{calls:?}");
        assert_eq!(got.changes.len(), 50);
    }

    #[tokio::test]
    async fn nothing_changed_means_no_trip_into_the_container() {
        let sb = Files::default();
        let mut budget = STAGED_FILES_MAX;
        let got = phase_changes(&sb, &[], None, &[], None, &mut budget, "import")
            .await
            .unwrap();
        assert!(got.changes.is_empty());
        assert!(sb.calls.lock().unwrap().is_empty());
    }
}
