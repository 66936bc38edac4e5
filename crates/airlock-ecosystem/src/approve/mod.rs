//! `airlock approve`'s library side: which packages of a project run install scripts
//! (from its lockfile, by name, exact version and integrity), what a verdict decides for
//! a script (benign → allowed, malicious → denied, anything else → left to a human), and
//! the package managers' own approval settings written and read back (config.rs), so
//! `--check` can tell when an approval no longer matches the current verdict. The
//! analyses themselves are the binary's (the same pipeline as `scan` and the wrappers).

pub mod config;
pub mod json;
pub mod registry;

use std::path::Path;

use airlock_events::Verdict;
use airlock_static::lockfile::NpmLockfile;

pub use config::Manager;
pub use json::{Document, Json};

use crate::pinned::Pinned;

/// What may happen to a package's install scripts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Decision {
    Allow,
    Deny,
    Undecided,
}

impl Decision {
    /// benign → allow; malicious → deny; suspicious, timed out, error, not evaluated →
    /// a human decides.
    pub fn from_verdict(v: Verdict) -> Decision {
        match v {
            Verdict::Benign => Decision::Allow,
            Verdict::Malicious => Decision::Deny,
            _ => Decision::Undecided,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Decision::Allow => "allowed",
            Decision::Deny => "denied",
            Decision::Undecided => "undecided",
        }
    }

    /// Whether a configured decision still matches the one the verdict asks for: an
    /// allow or a deny must be there as such; an undecided package must not be allowed
    /// (a human may have denied it).
    pub fn satisfied_by(self, configured: Decision) -> bool {
        match self {
            Decision::Allow | Decision::Deny => configured == self,
            Decision::Undecided => configured != Decision::Allow,
        }
    }
}

/// One package's approval as airlock writes it.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Approval {
    pub name: String,
    pub version: String,
    pub decision: Decision,
    /// Why: the verdict and its top finding.
    pub reason: String,
}

#[derive(Debug, thiserror::Error)]
pub enum ApproveError {
    #[error("{}: {source}", path.display())]
    Io {
        path: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{}: {message}", path.display())]
    Parse {
        path: std::path::PathBuf,
        message: String,
    },
    #[error("{url}: {message}")]
    Registry { url: String, message: String },
    #[error("{0}")]
    Unsupported(String),
}

/// Every package with install scripts the project's lockfile pins: npm's lockfile
/// itself says which (`hasInstallScript`); for `pnpm-lock.yaml`, `yarn.lock` and
/// `bun.lock` the registry's packuments do ([`registry::scripted_from_registry`]), the
/// same source the package manager itself decides from.
pub fn scripted(project: &Path, fallback_registry: &str) -> Result<Vec<Pinned>, ApproveError> {
    let has = |f: &str| project.join(f).is_file();
    if has("package-lock.json") || has("npm-shrinkwrap.json") {
        let r = fallback_registry.trim_end_matches('/').to_string();
        return scripted_npm(project, &|_| Some(r.clone()));
    }
    for (file, format) in [
        (
            "pnpm-lock.yaml",
            airlock_static::lockfile::LockfileFormat::PnpmLock,
        ),
        (
            "yarn.lock",
            airlock_static::lockfile::LockfileFormat::YarnLock,
        ),
        (
            "bun.lock",
            airlock_static::lockfile::LockfileFormat::BunLock,
        ),
    ] {
        if has(file) {
            return registry::scripted_from_registry(
                &project.join(file),
                format,
                fallback_registry,
            );
        }
    }
    let r = fallback_registry.to_string();
    scripted_npm(project, &|_| Some(r.clone()))
}

/// The lockfiles airlock knows, with the manager that writes each.
const LOCKFILES: [(&str, Manager); 6] = [
    ("package-lock.json", Manager::Npm),
    ("npm-shrinkwrap.json", Manager::Npm),
    ("pnpm-lock.yaml", Manager::Pnpm),
    ("bun.lock", Manager::Bun),
    ("bun.lockb", Manager::Bun),
    ("yarn.lock", Manager::Yarn),
];

/// The package manager a project uses, from its lockfile (npm's first).
pub fn detect_manager(project: &Path) -> Option<Manager> {
    LOCKFILES
        .iter()
        .find(|(f, _)| project.join(f).is_file())
        .map(|(_, m)| *m)
}

/// Every package the project's npm lockfile (`package-lock.json` or
/// `npm-shrinkwrap.json`) marks with install scripts (`hasInstallScript`: a
/// preinstall/install/postinstall script or a `binding.gyp`), with its exact version,
/// integrity, registry and dependency path. `fallback_registry` names the registry of
/// entries whose lockfile entry names none.
pub fn scripted_npm(
    project: &Path,
    fallback_registry: &dyn Fn(&str) -> Option<String>,
) -> Result<Vec<Pinned>, ApproveError> {
    let path = ["npm-shrinkwrap.json", "package-lock.json"]
        .iter()
        .map(|f| project.join(f))
        .find(|p| p.is_file())
        .ok_or_else(|| {
            let other = LOCKFILES
                .iter()
                .find(|(f, m)| *m != Manager::Npm && project.join(f).is_file());
            ApproveError::Unsupported(match other {
                Some((f, _)) => format!(
                    "{}: reading {f} for install scripts is not implemented yet; \
                     `npm install --package-lock-only --ignore-scripts` makes a package-lock.json airlock reads",
                    project.display()
                ),
                None => format!(
                    "{}: no package-lock.json (`npm install --package-lock-only --ignore-scripts` makes one without running anything)",
                    project.display()
                ),
            })
        })?;
    let text = std::fs::read_to_string(&path).map_err(|source| ApproveError::Io {
        path: path.clone(),
        source,
    })?;
    let lock = NpmLockfile::parse(&text).map_err(|e| ApproveError::Parse {
        path: path.clone(),
        message: e.to_string(),
    })?;
    if !lock.has_packages_map {
        return Err(ApproveError::Unsupported(format!(
            "{}: a lockfileVersion 1 lockfile does not say which packages have install scripts; \
             `npm install --package-lock-only --ignore-scripts` with npm 7 or later upgrades it",
            path.display()
        )));
    }
    Ok(scripted_in(&lock, fallback_registry))
}

/// [`scripted_npm`] on a parsed lockfile.
pub fn scripted_in(
    lock: &NpmLockfile,
    fallback_registry: &dyn Fn(&str) -> Option<String>,
) -> Vec<Pinned> {
    let scripted: std::collections::BTreeSet<(String, String)> = lock
        .entries
        .iter()
        .filter(|e| e.has_install_script && !e.link)
        .map(|e| (e.name.clone(), e.version.clone()))
        .collect();
    crate::npm::pinned_artifacts(lock, &[], fallback_registry)
        .into_iter()
        .filter(|p| scripted.contains(&(p.name.clone(), p.version.clone())))
        .collect()
}

/// The decision the project's current configuration makes for `name@version`.
pub fn configured(
    manager: Manager,
    package_json: &Document,
    pnpm_workspace: &str,
    name: &str,
    version: &str,
) -> Decision {
    match manager {
        Manager::Npm => config::npm_decision(package_json, name, version),
        Manager::Pnpm => {
            let d = config::pnpm_workspace_decision(pnpm_workspace, name, version);
            if d == Decision::Undecided {
                config::pnpm10_decision(package_json, name, version)
            } else {
                d
            }
        }
        Manager::Bun => config::bun_decision(package_json, name),
        Manager::Yarn => config::yarn_decision(package_json, name, version),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approve_reads_scripted_packages_from_the_npm_lockfile() {
        let lock = NpmLockfile::parse(
            r#"{"name":"app","lockfileVersion":3,"packages":{
                "": {"name":"app","dependencies":{"a":"^1","b":"^2"}},
                "node_modules/a": {"version":"1.0.0","resolved":"https://registry.npmjs.org/a/-/a-1.0.0.tgz","integrity":"sha512-A","hasInstallScript":true},
                "node_modules/b": {"version":"2.0.0","resolved":"https://registry.npmjs.org/b/-/b-2.0.0.tgz","integrity":"sha512-B"}
            }}"#,
        )
        .unwrap();
        let got = scripted_in(&lock, &|_| None);
        assert_eq!(got.len(), 1);
        assert_eq!(
            (got[0].name.as_str(), got[0].version.as_str()),
            ("a", "1.0.0")
        );
        assert_eq!(got[0].hash.as_deref(), Some("sha512-A"));
        assert_eq!(got[0].path, vec!["app".to_string(), "a".to_string()]);
    }

    #[test]
    fn approve_decisions_from_verdicts_and_check_semantics() {
        assert_eq!(Decision::from_verdict(Verdict::Benign), Decision::Allow);
        assert_eq!(Decision::from_verdict(Verdict::Malicious), Decision::Deny);
        assert_eq!(
            Decision::from_verdict(Verdict::Suspicious),
            Decision::Undecided
        );
        assert_eq!(
            Decision::from_verdict(Verdict::TimedOut),
            Decision::Undecided
        );
        assert!(!Decision::Allow.satisfied_by(Decision::Undecided));
        assert!(!Decision::Undecided.satisfied_by(Decision::Allow));
        assert!(Decision::Undecided.satisfied_by(Decision::Deny));
        assert!(!Decision::Deny.satisfied_by(Decision::Undecided));
    }
}
