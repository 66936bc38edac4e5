//! What goes into the sandbox before the first command: one tar stream of files placed
//! at absolute paths (the home skeleton, the persona's bait, the plan's staged trees),
//! extracted at `/` as the package's user — so every path must be somewhere that user
//! may write: home, workspace, /work. One stream means one exec.

use std::path::Path;

use airlock_ecosystem::Stage;
use airlock_recorder::fsdiff;

use crate::EngineError;

/// A tar stream under construction.
pub struct Staging(tar::Builder<Vec<u8>>);

/// A modification time for a staged home file or directory: between a week and a year
/// and a half before now, fixed per path (FNV-1a of it), so a home looks lived in rather
/// than written at one instant (issue 16: "every dotfile dated the same day" is a tell).
fn lived_in_mtime(path: &str) -> u64 {
    const DAY: u64 = 86_400;
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1_700_000_000, |d| d.as_secs());
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in path.bytes() {
        h = (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3);
    }
    now.saturating_sub(7 * DAY + h % (540 * DAY))
}

fn io(what: String) -> impl FnOnce(std::io::Error) -> EngineError {
    move |source| EngineError::Io { what, source }
}

impl Default for Staging {
    fn default() -> Self {
        Self::new()
    }
}

impl Staging {
    pub fn new() -> Self {
        let mut b = tar::Builder::new(Vec::new());
        b.follow_symlinks(false);
        Staging(b)
    }

    fn rel(path: &str) -> &str {
        path.trim_start_matches('/')
    }

    pub fn file(&mut self, path: &str, content: &[u8], mode: u32) -> Result<(), EngineError> {
        let mut h = tar::Header::new_gnu();
        h.set_size(content.len() as u64);
        h.set_mode(mode);
        h.set_mtime(lived_in_mtime(path));
        h.set_cksum();
        self.0
            .append_data(&mut h, Self::rel(path), content)
            .map_err(io(format!("staging {path}")))
    }

    pub fn dir(&mut self, path: &str, mode: u32) -> Result<(), EngineError> {
        let mut h = tar::Header::new_gnu();
        h.set_entry_type(tar::EntryType::Directory);
        h.set_size(0);
        h.set_mode(mode);
        h.set_mtime(lived_in_mtime(path));
        h.set_cksum();
        self.0
            .append_data(&mut h, format!("{}/", Self::rel(path)), std::io::empty())
            .map_err(io(format!("staging {path}")))
    }

    /// The host directory `dir`, placed at `path`.
    pub fn tree(&mut self, path: &str, dir: &Path) -> Result<(), EngineError> {
        self.0
            .append_dir_all(Self::rel(path), dir)
            .map_err(io(format!("packing {}", dir.display())))
    }

    /// The host file `file`, placed at `path`.
    pub fn host_file(&mut self, path: &str, file: &Path) -> Result<(), EngineError> {
        self.0
            .append_path_with_name(file, Self::rel(path))
            .map_err(io(format!("packing {}", file.display())))
    }

    /// A plan's staged file or tree.
    pub fn stage(&mut self, stage: &Stage) -> Result<(), EngineError> {
        match stage {
            Stage::Tree { host, dest } => self.tree(dest, host),
            Stage::File { host, dest } => self.host_file(dest, host),
        }
    }

    pub fn finish(self) -> Result<Vec<u8>, EngineError> {
        self.0
            .into_inner()
            .map_err(io("finishing the staging tar".into()))
    }
}

/// A minimal, lived-in home directory.
pub fn home_skeleton(staging: &mut Staging, home: &str) -> Result<(), EngineError> {
    let files: &[(&str, &str)] = &[
        (".bashrc", "# ~/.bashrc\n[ -z \"$PS1\" ] && return\nHISTCONTROL=ignoreboth\nalias ll='ls -alF'\n"),
        (".profile", "# ~/.profile\nif [ -n \"$BASH_VERSION\" ] && [ -f \"$HOME/.bashrc\" ]; then . \"$HOME/.bashrc\"; fi\n"),
        (".gitconfig", "[user]\n\tname = runner\n\temail = runner@users.noreply.github.com\n[init]\n\tdefaultBranch = main\n"),
    ];
    for (name, content) in files {
        staging.file(&format!("{home}/{name}"), content.as_bytes(), 0o644)?;
    }
    for dir in [
        "AppData",
        "AppData/Roaming",
        "AppData/Local",
        "AppData/Local/Temp",
    ] {
        staging.dir(&format!("{home}/{dir}"), 0o755)?;
    }
    Ok(())
}

/// The bait plan's directories and files (everything a persona plants lives below its
/// home directory; anything else is skipped with a warning).
pub fn bait_files(staging: &mut Staging, plan: &airlock_bait::BaitPlan) -> Result<(), EngineError> {
    let under_home = |path: &str| fsdiff::is_under(path, &plan.home);
    for d in &plan.dirs {
        if !under_home(&d.path) {
            tracing::warn!(path = %d.path, "bait directory outside home skipped");
            continue;
        }
        staging.dir(&d.path, d.mode)?;
    }
    for f in &plan.files {
        if !under_home(&f.path) {
            tracing::warn!(path = %f.path, "bait file outside home skipped");
            continue;
        }
        staging.file(&f.path, &f.content, f.mode)?;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn home_files_get_varied_past_times() {
        let days: std::collections::BTreeSet<u64> =
            [".bashrc", ".profile", ".gitconfig", ".npmrc", ".ssh"]
                .iter()
                .map(|n| lived_in_mtime(&format!("/home/runner/{n}")) / 86_400)
                .collect();
        assert!(days.len() >= 4, "{days:?}");
        let now = lived_in_mtime("") + 7 * 86_400;
        assert!(days.iter().all(|d| d * 86_400 < now - 6 * 86_400));
        assert_eq!(lived_in_mtime("/a"), lived_in_mtime("/a"));
    }
}
