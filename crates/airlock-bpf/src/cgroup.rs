//! A container's cgroup v2 id: the inode number of its directory in the unified
//! hierarchy (what `bpf_get_current_cgroup_id()` returns in the kernel). Docker's
//! cgroupfs driver names it `docker/<id>`, the systemd driver `docker-<id>.scope`; on a
//! hybrid v1 host (ours) runc still puts the container under `/sys/fs/cgroup/unified`.

use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

use crate::BpfError;

/// Where cgroup2 is mounted, from `/proc/self/mountinfo`.
pub fn cgroup2_mounts() -> Vec<PathBuf> {
    let text = std::fs::read_to_string("/proc/self/mountinfo").unwrap_or_default();
    mounts_in(&text)
}

fn mounts_in(mountinfo: &str) -> Vec<PathBuf> {
    mountinfo
        .lines()
        .filter_map(|l| {
            let (left, right) = l.split_once(" - ")?;
            (right.split_whitespace().next() == Some("cgroup2"))
                .then(|| left.split_whitespace().nth(4).map(PathBuf::from))
                .flatten()
        })
        .collect()
}

/// The cgroup v2 id of the container with this (full) id.
pub fn container_cgroup_id(container_id: &str) -> Result<u64, BpfError> {
    let err = |reason: String| BpfError::Cgroup {
        container: container_id.to_string(),
        reason,
    };
    if container_id.len() < 12 || !container_id.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(err("not a container id".into()));
    }
    let mounts = cgroup2_mounts();
    if mounts.is_empty() {
        return Err(err("no cgroup2 mount".into()));
    }
    for m in &mounts {
        if let Some(dir) = find_dir(m, container_id, 4) {
            let meta =
                std::fs::metadata(&dir).map_err(|e| err(format!("{}: {e}", dir.display())))?;
            return Ok(meta.ino());
        }
    }
    Err(err(format!(
        "searched {}",
        mounts
            .iter()
            .map(|m| m.display().to_string())
            .collect::<Vec<_>>()
            .join(", ")
    )))
}

/// A directory below `root` (at most `depth` levels) whose name contains `id`.
fn find_dir(root: &Path, id: &str, depth: u32) -> Option<PathBuf> {
    let entries = std::fs::read_dir(root).ok()?;
    let mut subdirs = Vec::new();
    for e in entries.flatten() {
        if !e.file_type().is_ok_and(|t| t.is_dir()) {
            continue;
        }
        let name = e.file_name();
        if name.to_string_lossy().contains(id) {
            return Some(e.path());
        }
        subdirs.push(e.path());
    }
    if depth == 0 {
        return None;
    }
    subdirs
        .into_iter()
        .find_map(|d| find_dir(&d, id, depth - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finds_the_cgroup2_mount() {
        let mi = "25 1 0:22 / /sys/fs/cgroup ro,nosuid - tmpfs tmpfs ro,mode=755\n\
                  26 25 0:23 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw\n\
                  27 25 0:24 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu\n";
        assert_eq!(mounts_in(mi), vec![PathBuf::from("/sys/fs/cgroup/unified")]);
    }

    #[test]
    fn finds_a_container_directory() {
        let d = tempfile_dir();
        let id = "ab12cd34ef56ab12cd34ef56";
        std::fs::create_dir_all(d.join("system.slice").join(format!("docker-{id}.scope"))).unwrap();
        let found = find_dir(&d, id, 3).unwrap();
        assert!(found.ends_with(format!("docker-{id}.scope")));
        assert!(find_dir(&d, "ffffffffffff", 3).is_none());
        std::fs::remove_dir_all(&d).unwrap();
    }

    fn tempfile_dir() -> PathBuf {
        let d = std::env::temp_dir().join(format!("airlock-bpf-cg-{}", std::process::id()));
        std::fs::create_dir_all(&d).unwrap();
        d
    }
}
