//! Packages with install scripts in a pnpm or yarn project. Their lockfiles do not say
//! which packages have scripts (pnpm 9 dropped `requiresBuild`, yarn never had it), so
//! each registry package the lockfile pins is looked up in its registry's packument:
//! `hasInstallScript` (the abbreviated document), else the version's own
//! preinstall/install/postinstall script or `gypfile` (a `binding.gyp` npm builds).
//! Nothing is downloaded or unpacked besides the packuments.

use std::collections::BTreeMap;
use std::path::Path;

use airlock_events::Ecosystem;
use airlock_static::lockfile::{LockedPackage, LockfileFormat};

use super::ApproveError;
use crate::artifact::Input;
use crate::pinned::Pinned;

/// The registry a tarball URL belongs to (`<registry>/<name>/-/<file>`).
fn registry_of(resolved: &str, name: &str) -> Option<String> {
    if !(resolved.starts_with("http://") || resolved.starts_with("https://")) {
        return None;
    }
    [
        name.to_string(),
        name.replace('/', "%2f"),
        name.replace('/', "%2F"),
    ]
    .iter()
    .find_map(|n| {
        resolved
            .find(&format!("/{n}/-/"))
            .map(|i| resolved[..i].to_string())
    })
}

/// Whether a packument's version document says the version runs install scripts.
pub fn version_has_install_script(doc: &serde_json::Value) -> bool {
    if doc["hasInstallScript"].as_bool() == Some(true) || doc["gypfile"].as_bool() == Some(true) {
        return true;
    }
    ["preinstall", "install", "postinstall"].iter().any(|s| {
        doc["scripts"][s]
            .as_str()
            .is_some_and(|c| !c.trim().is_empty())
    })
}

/// The packages with install scripts that `lockfile` (`pnpm-lock.yaml`, `yarn.lock`, `bun.lock`)
/// pins; `fallback_registry` is the registry of entries whose lockfile names none.
pub fn scripted_from_registry(
    lockfile: &Path,
    format: LockfileFormat,
    fallback_registry: &str,
) -> Result<Vec<Pinned>, ApproveError> {
    let text = std::fs::read_to_string(lockfile).map_err(|source| ApproveError::Io {
        path: lockfile.to_path_buf(),
        source,
    })?;
    let (packages, _problems) = format.read(&text).map_err(|message| ApproveError::Parse {
        path: lockfile.to_path_buf(),
        message,
    })?;
    // One packument per (registry, name).
    let mut wanted: BTreeMap<(String, String), Vec<LockedPackage>> = BTreeMap::new();
    for p in packages {
        let Some(_) = p.version.as_ref() else {
            continue;
        };
        let from_elsewhere = p.local
            || p.resolved.as_deref().is_some_and(|r| {
                airlock_static::lockfile::is_git(r) || registry_of(r, &p.name).is_none()
            });
        if from_elsewhere {
            continue;
        }
        let registry = p
            .resolved
            .as_deref()
            .and_then(|r| registry_of(r, &p.name))
            .unwrap_or_else(|| fallback_registry.trim_end_matches('/').to_string());
        wanted
            .entry((registry, p.name.clone()))
            .or_default()
            .push(p);
    }
    let jobs: Vec<((String, String), Vec<LockedPackage>)> = wanted.into_iter().collect();
    let threads = 8.min(jobs.len().max(1));
    let chunk = jobs.len().div_ceil(threads).max(1);
    let results: Vec<Result<Vec<Pinned>, ApproveError>> = std::thread::scope(|sc| {
        let handles: Vec<_> = jobs
            .chunks(chunk)
            .map(|batch| {
                sc.spawn(move || -> Result<Vec<Pinned>, ApproveError> {
                    let mut out = Vec::new();
                    for ((registry, name), versions) in batch {
                        let doc = packument(registry, name)?;
                        for p in versions {
                            let v = p.version.clone().unwrap_or_default();
                            if !version_has_install_script(&doc["versions"][&v]) {
                                continue;
                            }
                            out.push(Pinned {
                                ecosystem: Ecosystem::Npm,
                                name: name.clone(),
                                version: v.clone(),
                                // Only a tarball integrity pins the bytes: yarn berry's
                                // `checksum` hashes yarn's own zip (read as `sha512-10c0/…`,
                                // never the 88 base64 characters of a sha512), and comparing
                                // it refused every yarn 4 package as a mismatch.
                                hash: p
                                    .integrity
                                    .clone()
                                    .filter(|h| !h.starts_with("sha512-") || h.len() == 7 + 88),
                                input: Input::Npm {
                                    name: name.clone(),
                                    version: v,
                                },
                                registry: Some(registry.clone()),
                                path: vec![name.clone()],
                                unanalyzable: None,
                                fetch_url: None,
                            });
                        }
                    }
                    Ok(out)
                })
            })
            .collect();
        handles
            .into_iter()
            .map(|h| {
                h.join().unwrap_or_else(|_| {
                    Err(ApproveError::Unsupported(
                        "a packument lookup panicked".into(),
                    ))
                })
            })
            .collect()
    });
    let mut out = Vec::new();
    for r in results {
        out.extend(r?);
    }
    out.sort_by(|a, b| (&a.name, &a.version).cmp(&(&b.name, &b.version)));
    out.dedup_by(|a, b| a.name == b.name && a.version == b.version);
    Ok(out)
}

fn packument(registry: &str, name: &str) -> Result<serde_json::Value, ApproveError> {
    let url = format!("{registry}/{}", name.replace('/', "%2f"));
    let err = |message: String| ApproveError::Registry {
        url: url.clone(),
        message,
    };
    let resp = crate::http::client()
        .get(&url)
        .set(
            "Accept",
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8",
        )
        .call()
        .map_err(|e| err(e.to_string()))?;
    serde_json::from_reader(std::io::BufReader::new(resp.into_reader()))
        .map_err(|e| err(format!("bad packument: {e}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn approve_install_scripts_from_packument_versions() {
        let yes = [
            serde_json::json!({"hasInstallScript": true}),
            serde_json::json!({"scripts": {"postinstall": "node x.js"}}),
            serde_json::json!({"gypfile": true}),
        ];
        for d in &yes {
            assert!(version_has_install_script(d), "{d}");
        }
        let no = [
            serde_json::json!({"scripts": {"test": "x", "prepare": "tsc"}}),
            serde_json::json!({}),
            serde_json::Value::Null,
        ];
        for d in &no {
            assert!(!version_has_install_script(d), "{d}");
        }
        assert_eq!(
            registry_of("https://r.example/@s/x/-/x-1.0.0.tgz", "@s/x").as_deref(),
            Some("https://r.example")
        );
        assert_eq!(registry_of("https://cdn.example/x.tgz", "x"), None);
    }
}
