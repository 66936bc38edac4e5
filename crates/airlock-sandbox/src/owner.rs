//! Who owns a run's leftovers, and whether that owner is still alive. A `kill -9` of
//! airlock leaves nothing able to clean up in the dying process, so every container and
//! work directory names its owner precisely enough for a later airlock (the next start, or
//! `serve`'s periodic reaper) to tell "owner gone" from "owner busy": the boot, the PID
//! namespace, the pid and the pid's start time (a recycled pid has another start time).
//! Objects of another boot, PID namespace or user are never touched automatically (with
//! `hidepid`, another user's live process can look dead).

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

/// One process's identity on this machine.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Owner {
    /// `/proc/sys/kernel/random/boot_id` with the PID namespace, hashed to 8 hex digits.
    pub scope: String,
    pub pid: u32,
    /// Field 22 of `/proc/PID/stat` (clock ticks after boot).
    pub start: u64,
    /// The owner's (effective) uid; unknown for labels of older versions.
    pub uid: Option<u32>,
}

impl Owner {
    /// This process.
    pub fn current() -> &'static Owner {
        static ME: OnceLock<Owner> = OnceLock::new();
        ME.get_or_init(|| {
            let pid = std::process::id();
            Owner {
                scope: scope(),
                pid,
                start: start_time(pid).unwrap_or(0),
                uid: current_uid(),
            }
        })
    }

    /// The label value: `SCOPE/PID/START/UID`.
    pub fn label(&self) -> String {
        let uid = self.uid.map(|u| u.to_string()).unwrap_or_default();
        format!("{}/{}/{}/{uid}", self.scope, self.pid, self.start)
    }

    pub fn parse_label(s: &str) -> Option<Owner> {
        let mut it = s.split('/');
        let scope = it.next()?.to_string();
        let pid = it.next()?.parse().ok()?;
        let start = it.next()?.parse().ok()?;
        let uid = match it.next() {
            None => None,
            Some(u) => Some(u.parse().ok()?),
        };
        (it.next().is_none() && !scope.is_empty()).then_some(Owner {
            scope,
            pid,
            start,
            uid,
        })
    }

    /// The same process (scope, pid and start time).
    pub fn same_process(&self, other: &Owner) -> bool {
        self.scope == other.scope && self.pid == other.pid && self.start == other.start
    }

    /// What the automatic reaper may remove: a dead owner ([`Owner::is_dead`]) that was
    /// this user.
    pub fn may_reap(&self) -> bool {
        self.uid.is_some() && self.uid == Owner::current().uid && self.is_dead()
    }

    /// Whether this owner is gone for certain: same boot and PID namespace as this process,
    /// and its pid is free or belongs to a process started at another time. Owners of
    /// another scope are never reported dead (we cannot see their processes).
    pub fn is_dead(&self) -> bool {
        if self.scope != Owner::current().scope {
            return false;
        }
        if self.pid == std::process::id() {
            return false;
        }
        match start_time(self.pid) {
            None => !Path::new(&format!("/proc/{}", self.pid)).exists(),
            Some(t) => t != self.start,
        }
    }
}

/// Boot id and PID namespace, hashed: two processes share a scope when they see the same
/// pids.
fn scope() -> String {
    use sha2::Digest;
    let boot = std::fs::read_to_string("/proc/sys/kernel/random/boot_id").unwrap_or_default();
    let ns = std::fs::read_link("/proc/self/ns/pid")
        .map(|p| p.display().to_string())
        .unwrap_or_default();
    let digest = sha2::Sha256::digest(format!("{}|{ns}", boot.trim()).as_bytes());
    hex::encode(&digest[..4])
}

fn current_uid() -> Option<u32> {
    use std::os::unix::fs::MetadataExt;
    std::fs::metadata("/proc/self").map(|m| m.uid()).ok()
}

fn start_time(pid: u32) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name (field 2) may hold spaces and parentheses: count after the last ')'.
    let rest = &stat[stat.rfind(')')? + 1..];
    // rest starts with field 3 (state); start time is field 22.
    rest.split_whitespace().nth(19)?.parse().ok()
}

/// The prefix of every work directory (`airlock-run-SCOPE-PID-START-XXXXXX`).
pub const WORK_DIR_PREFIX: &str = "airlock-run-";

/// Creates a run's work directory in the temp dir, mode 0700 (it holds the run's CA
/// private key), named after its owner so that [`reap_work_dirs`] can remove it once
/// the owner is gone.
pub fn create_work_dir() -> std::io::Result<tempfile::TempDir> {
    create_work_dir_in(&std::env::temp_dir())
}

pub fn create_work_dir_in(parent: &Path) -> std::io::Result<tempfile::TempDir> {
    create_private_dir_in(parent, "run")
}

/// Creates a private (0700) scratch directory `airlock-KIND-…` in the temp dir, named
/// after its owner like the work directory (the wrappers' copies of a project hold its
/// `.npmrc`; downloads hold the artifacts). `kind` is a short word without `-`.
pub fn create_private_dir(kind: &str) -> std::io::Result<tempfile::TempDir> {
    create_private_dir_in(&std::env::temp_dir(), kind)
}

fn create_private_dir_in(parent: &Path, kind: &str) -> std::io::Result<tempfile::TempDir> {
    use std::os::unix::fs::PermissionsExt;
    let me = Owner::current();
    let kind: String = kind.chars().filter(|c| c.is_ascii_alphanumeric()).collect();
    tempfile::Builder::new()
        .prefix(&format!(
            "airlock-{kind}-{}-{}-{}-",
            me.scope, me.pid, me.start
        ))
        .permissions(std::fs::Permissions::from_mode(0o700))
        .tempdir_in(parent)
}

/// The owner encoded in a private directory's name (`airlock-KIND-SCOPE-PID-START-…`).
fn work_dir_owner(name: &str) -> Option<Owner> {
    let rest = name.strip_prefix("airlock-")?;
    let mut it = rest.splitn(5, '-');
    let kind = it.next()?;
    let scope = it.next()?.to_string();
    let pid = it.next()?.parse().ok()?;
    let start = it.next()?.parse().ok()?;
    it.next()?;
    let ok = !kind.is_empty()
        && kind.chars().all(|c| c.is_ascii_alphanumeric())
        && scope.len() == 8
        && scope.chars().all(|c| c.is_ascii_hexdigit());
    ok.then_some(Owner {
        scope,
        pid,
        start,
        uid: None,
    })
}

/// Removes the work directories (in the temp dir) of dead owners of this scope that this
/// user owns. Returns the paths removed.
pub fn reap_work_dirs() -> Vec<PathBuf> {
    reap_work_dirs_in(&std::env::temp_dir())
}

pub fn reap_work_dirs_in(parent: &Path) -> Vec<PathBuf> {
    use std::os::unix::fs::MetadataExt;
    let my_uid = std::fs::metadata("/proc/self").map(|m| m.uid()).ok();
    let Ok(entries) = std::fs::read_dir(parent) else {
        return Vec::new();
    };
    let mut removed = Vec::new();
    for entry in entries.flatten() {
        let name = entry.file_name();
        let Some(owner) = name.to_str().and_then(work_dir_owner) else {
            continue;
        };
        // symlink_metadata: never follow a link someone else planted.
        let Ok(meta) = entry.path().symlink_metadata() else {
            continue;
        };
        if !meta.is_dir() || Some(meta.uid()) != my_uid || !owner.is_dead() {
            continue;
        }
        let path = entry.path();
        match std::fs::remove_dir_all(&path) {
            Ok(()) => removed.push(path),
            Err(e) => {
                tracing::debug!(path = %path.display(), error = %e, "stale work dir not removed")
            }
        }
    }
    removed
}

/// Removes this process's own work directories (in the temp dir): after a signal, once
/// the run is dropped, in case a helper process re-created one.
pub fn remove_own_work_dirs() {
    let me = Owner::current();
    let Ok(entries) = std::fs::read_dir(std::env::temp_dir()) else {
        return;
    };
    for entry in entries.flatten() {
        let name = entry.file_name();
        if name
            .to_str()
            .and_then(work_dir_owner)
            .is_some_and(|o| o.same_process(me))
        {
            let _ = std::fs::remove_dir_all(entry.path());
        }
    }
}

/// The pids of this process's descendants (children first), read from `/proc`.
pub fn descendants() -> Vec<u32> {
    let mut parents: Vec<(u32, u32)> = Vec::new();
    if let Ok(entries) = std::fs::read_dir("/proc") {
        for entry in entries.flatten() {
            let Some(pid) = entry
                .file_name()
                .to_str()
                .and_then(|n| n.parse::<u32>().ok())
            else {
                continue;
            };
            let ppid = std::fs::read_to_string(format!("/proc/{pid}/stat"))
                .ok()
                .and_then(|s| {
                    let mut fields = s[s.rfind(')')? + 1..].split_whitespace();
                    // A zombie has ended already; its parent just has not collected it.
                    if fields.next()? == "Z" {
                        return None;
                    }
                    fields.next()?.parse::<u32>().ok()
                });
            if let Some(ppid) = ppid {
                parents.push((pid, ppid));
            }
        }
    }
    let mut found = vec![std::process::id()];
    let mut i = 0;
    while i < found.len() {
        let p = found[i];
        found.extend(parents.iter().filter(|(_, pp)| *pp == p).map(|(c, _)| *c));
        i += 1;
    }
    found.remove(0);
    found
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn label_round_trip_and_liveness() {
        let me = Owner::current();
        assert_eq!(me.scope.len(), 8);
        assert!(me.start > 0);
        assert_eq!(Owner::parse_label(&me.label()).as_ref(), Some(me));
        assert!(!me.is_dead() && !me.may_reap());
        // pid 1 is alive but started at another time than we claim: a recycled pid.
        let recycled = Owner {
            pid: 1,
            start: u64::MAX,
            ..me.clone()
        };
        assert!(recycled.is_dead());
        let gone = Owner {
            pid: u32::MAX - 7,
            ..me.clone()
        };
        assert!(gone.is_dead() && gone.may_reap());
        // another user's process may only look dead (hidepid): never reaped automatically
        let other_user = Owner {
            uid: Some(me.uid.unwrap_or(0) + 1),
            ..gone.clone()
        };
        assert!(other_user.is_dead() && !other_user.may_reap());
        // a label of an older version (no uid)
        let old = Owner::parse_label(&format!("{}/{}/5", me.scope, u32::MAX - 7)).unwrap();
        assert_eq!(old.uid, None);
        assert!(old.is_dead() && !old.may_reap());
        // another boot or namespace: never ours to judge
        let foreign = Owner {
            scope: "00000000".into(),
            ..gone
        };
        assert!(!foreign.is_dead());
        assert_eq!(Owner::parse_label("a/1"), None);
        assert_eq!(Owner::parse_label("a/x/1"), None);
    }

    fn mode_of(p: &Path) -> u32 {
        std::fs::metadata(p).unwrap().permissions().mode() & 0o777
    }

    #[test]
    fn work_dirs_are_private_and_reaped_only_when_the_owner_is_gone() {
        let parent = tempfile::tempdir().unwrap();
        let mine = create_work_dir_in(parent.path()).unwrap();
        assert_eq!(mode_of(mine.path()), 0o700);
        let me = Owner::current();
        let dead = parent.path().join(format!(
            "{WORK_DIR_PREFIX}{}-{}-{}-abc123",
            me.scope,
            u32::MAX - 7,
            5
        ));
        std::fs::create_dir_all(dead.join("sink-in")).unwrap();
        std::fs::write(dead.join("sink-in/ca.key"), "k").unwrap();
        let foreign = parent.path().join(format!(
            "{WORK_DIR_PREFIX}00000000-{}-5-abc123",
            u32::MAX - 7
        ));
        std::fs::create_dir_all(&foreign).unwrap();
        let other = parent.path().join("airlock-run-unrelated");
        std::fs::create_dir_all(&other).unwrap();
        let scratch = create_private_dir_in(parent.path(), "npm").unwrap();
        assert_eq!(mode_of(scratch.path()), 0o700);
        let dead_scratch = parent.path().join(format!(
            "airlock-dl-{}-{}-{}-xyz789",
            me.scope,
            u32::MAX - 7,
            5
        ));
        std::fs::create_dir_all(&dead_scratch).unwrap();
        let mut removed = reap_work_dirs_in(parent.path());
        removed.sort();
        let mut expected = vec![dead_scratch.clone(), dead.clone()];
        expected.sort();
        assert_eq!(removed, expected);
        assert!(!dead.exists() && !dead_scratch.exists());
        assert!(mine.path().exists() && foreign.exists() && other.exists());
        assert!(scratch.path().exists());
    }

    #[test]
    fn children_are_found() {
        let mut child = std::process::Command::new("sleep")
            .arg("30")
            .spawn()
            .unwrap();
        let found = descendants().contains(&child.id());
        let _ = child.kill();
        let _ = child.wait();
        assert!(found);
    }
}
