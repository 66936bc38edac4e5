//! What a project's npm lockfile pins, as the install wrapper checks it: every artifact
//! npm would fetch from a registry (with the dependency path that pulls it in), and the
//! ones it would fetch from elsewhere, which airlock cannot analyze by name and version.

use airlock_events::Ecosystem;
use airlock_static::lockfile::NpmLockfile;

use crate::artifact::Input;
use crate::pinned::Pinned;

/// The artifacts `lock` pins, leaving out the dependency types in `omit` (`dev`,
/// `optional`, `peer`); `fallback_registry` names the registry of a package whose entry
/// names none (the project's configured one).
pub fn pinned_artifacts(
    lock: &NpmLockfile,
    omit: &[String],
    fallback_registry: &dyn Fn(&str) -> Option<String>,
) -> Vec<Pinned> {
    let mut out: Vec<Pinned> = lock
        .artifacts(omit)
        .into_iter()
        .map(|(e, path)| Pinned {
            ecosystem: Ecosystem::Npm,
            input: Input::Npm {
                name: e.name.clone(),
                version: e.version.clone(),
            },
            registry: e.registry().or_else(|| fallback_registry(&e.name)),
            hash: e.integrity.clone(),
            name: e.name,
            version: e.version,
            path,
            unanalyzable: None,
            fetch_url: None,
        })
        .collect();
    let paths = lock.dependency_paths();
    for e in lock.unanalyzable() {
        let i = lock.entries.iter().position(|x| x.location == e.location);
        out.push(Pinned {
            ecosystem: Ecosystem::Npm,
            name: e.name.clone(),
            version: e.version.clone(),
            hash: e.integrity.clone(),
            input: Input::Npm {
                name: e.name.clone(),
                version: e.version.clone(),
            },
            registry: None,
            path: i.map(|i| paths[i].clone()).unwrap_or_default(),
            unanalyzable: Some(format!(
                "fetched from {} rather than from a registry by name and version",
                e.resolved.as_deref().unwrap_or("?")
            )),
            fetch_url: None,
        });
    }
    out
}
