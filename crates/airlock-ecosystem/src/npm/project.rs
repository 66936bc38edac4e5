//! A project's npm files as the install wrapper reads them before resolving anything:
//! whether its lockfile already pins its package.json, which shapes a scratch resolution
//! cannot reproduce, the registries npm is configured with, and the registry most of a
//! lockfile comes from.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use airlock_static::lockfile::NpmLockfile;

/// The lockfiles npm installs from, in the order npm prefers them.
pub const PROJECT_LOCKFILES: [&str; 2] = ["npm-shrinkwrap.json", "package-lock.json"];

/// Why a project cannot be resolved or configured as the wrapper needs.
#[derive(Debug, thiserror::Error)]
pub enum ProjectError {
    #[error("reading {}", path.display())]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("parsing {}", path.display())]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("npm workspaces are not supported by the wrapper yet ({})", path.display())]
    Workspaces { path: PathBuf },
    #[error(
        "{name}: local dependency {spec:?} cannot be resolved in a scratch copy; use `airlock npm ci` with a lockfile"
    )]
    LocalDependency { name: String, spec: String },
    #[error("running {what}")]
    Run {
        what: String,
        #[source]
        source: std::io::Error,
    },
    #[error("reading `npm config list --json`")]
    Config {
        #[source]
        source: serde_json::Error,
    },
}

/// Whether the lockfile in `dir` (v2+) was written for exactly the package.json there:
/// same dependency specs at the root, and every fetched entry pinned by integrity.
pub fn lock_pins_manifest(dir: &Path) -> bool {
    let read = |f: &str| -> Option<serde_json::Value> {
        serde_json::from_slice(&std::fs::read(dir.join(f)).ok()?).ok()
    };
    let (Some(manifest), Some(lock)) = (
        read("package.json"),
        PROJECT_LOCKFILES.iter().find_map(|f| read(f)),
    ) else {
        return false;
    };
    if lock["lockfileVersion"].as_u64().unwrap_or(0) < 2 {
        return false;
    }
    let Some(root) = lock["packages"].get("") else {
        return false;
    };
    let empty = serde_json::Value::Object(Default::default());
    let same_specs = [
        "dependencies",
        "devDependencies",
        "optionalDependencies",
        "peerDependencies",
    ]
    .iter()
    .all(|k| manifest.get(*k).unwrap_or(&empty) == root.get(*k).unwrap_or(&empty));
    let pinned = lock["packages"].as_object().is_some_and(|m| {
        m.iter().all(|(loc, e)| {
            loc.is_empty()
                || e["link"].as_bool() == Some(true)
                || e["inBundle"].as_bool() == Some(true)
                || !loc.contains("node_modules/")
                || (e["resolved"].is_string() && e["integrity"].is_string())
        })
    });
    same_specs && pinned
}

/// Refuses project shapes a scratch resolution cannot reproduce: workspaces, and (when
/// `resolving`, i.e. npm resolves the tree anew) local dependencies.
pub fn check_project_manifest(path: &Path, resolving: bool) -> Result<(), ProjectError> {
    let text = std::fs::read_to_string(path).map_err(|source| ProjectError::Read {
        path: path.to_path_buf(),
        source,
    })?;
    let v: serde_json::Value =
        serde_json::from_str(&text).map_err(|source| ProjectError::Parse {
            path: path.to_path_buf(),
            source,
        })?;
    if v.get("workspaces").is_some() {
        return Err(ProjectError::Workspaces {
            path: path.to_path_buf(),
        });
    }
    if resolving {
        for k in ["dependencies", "devDependencies", "optionalDependencies"] {
            if let Some(m) = v.get(k).and_then(|m| m.as_object()) {
                for (name, spec) in m {
                    let s = spec.as_str().unwrap_or("");
                    if s.starts_with("file:")
                        || s.starts_with("link:")
                        || s.starts_with('.')
                        || s.starts_with('/')
                    {
                        return Err(ProjectError::LocalDependency {
                            name: name.clone(),
                            spec: s.to_string(),
                        });
                    }
                }
            }
        }
    }
    Ok(())
}

/// The registries npm is configured with (in the project, so its .npmrc counts).
pub struct NpmRegistries {
    pub default: String,
    /// `@scope` → registry.
    pub scoped: std::collections::HashMap<String, String>,
}

impl NpmRegistries {
    /// The registry `name` is fetched from (its scope's, else the default).
    pub fn for_package(&self, name: &str) -> String {
        name.split_once('/')
            .filter(|(s, _)| s.starts_with('@'))
            .and_then(|(s, _)| self.scoped.get(s))
            .unwrap_or(&self.default)
            .clone()
    }

    /// What `npm config list --json` says in `dir` (so the project's .npmrc counts).
    pub fn from_npm_config(npm: &str, dir: &Path) -> Result<NpmRegistries, ProjectError> {
        let out = Command::new(npm)
            .args(["config", "list", "--json"])
            .current_dir(dir)
            .stdin(Stdio::null())
            .output()
            .map_err(|source| ProjectError::Run {
                what: format!("{npm} config list"),
                source,
            })?;
        let v: serde_json::Value = serde_json::from_slice(&out.stdout)
            .map_err(|source| ProjectError::Config { source })?;
        let clean = |s: &str| s.trim_end_matches('/').to_string();
        let default = v["registry"]
            .as_str()
            .map(clean)
            .unwrap_or_else(|| super::DEFAULT_REGISTRY.to_string());
        let scoped = v
            .as_object()
            .map(|m| {
                m.iter()
                    .filter_map(|(k, val)| {
                        let scope = k.strip_suffix(":registry")?;
                        Some((scope.to_string(), clean(val.as_str()?)))
                    })
                    .collect()
            })
            .unwrap_or_default();
        Ok(NpmRegistries { default, scoped })
    }
}

/// The registry most of the lockfile comes from.
pub fn main_registry(lock: &NpmLockfile) -> Option<String> {
    let mut counts = std::collections::BTreeMap::<String, usize>::new();
    for e in &lock.entries {
        if let Some(r) = e.registry() {
            *counts.entry(r).or_default() += 1;
        }
    }
    counts.into_iter().max_by_key(|(_, n)| *n).map(|(r, _)| r)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn lockfile_pinning_the_manifest() {
        let d = tempfile::tempdir().unwrap();
        let pj = r#"{"name":"a","dependencies":{"x":"^1.0.0"}}"#;
        std::fs::write(d.path().join("package.json"), pj).unwrap();
        let lock = |root_spec: &str, integrity: bool| {
            let mut e =
                serde_json::json!({"version": "1.0.1", "resolved": "http://r/x/-/x-1.0.1.tgz"});
            if integrity {
                e["integrity"] = "sha512-x".into();
            }
            serde_json::json!({"lockfileVersion": 3, "packages": {
                "": {"name": "a", "dependencies": {"x": root_spec}},
                "node_modules/x": e
            }})
            .to_string()
        };
        std::fs::write(d.path().join("package-lock.json"), lock("^1.0.0", true)).unwrap();
        assert!(lock_pins_manifest(d.path()));
        std::fs::write(d.path().join("package-lock.json"), lock("^2.0.0", true)).unwrap();
        assert!(!lock_pins_manifest(d.path()));
        std::fs::write(d.path().join("package-lock.json"), lock("^1.0.0", false)).unwrap();
        assert!(!lock_pins_manifest(d.path()));
        std::fs::remove_file(d.path().join("package-lock.json")).unwrap();
        assert!(!lock_pins_manifest(d.path()));
    }
}
