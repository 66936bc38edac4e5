//! Reading an npm lockfile (v2/v3 `packages` map) into the list of registry artifacts an
//! install would fetch, and the dependency path that pulls each one in. The path is
//! worked out the way Node resolves `require`: from the dependent's folder up through
//! each enclosing `node_modules`, so hoisting does not hide who asked for a package.

use std::collections::{BTreeMap, HashMap, VecDeque};

use anyhow::{bail, Result};
use serde_json::Value;

/// One package folder of the lockfile.
#[derive(Debug, Clone, PartialEq)]
pub struct LockEntry {
    /// The key in `packages`, e.g. `node_modules/a/node_modules/b`.
    pub location: String,
    /// The real package name (an alias's target, when aliased).
    pub name: String,
    pub version: String,
    pub resolved: Option<String>,
    pub integrity: Option<String>,
    pub dev: bool,
    pub optional: bool,
    pub peer: bool,
    /// A symlink to a folder elsewhere (workspaces, `file:` directories).
    pub link: bool,
    /// Shipped inside its parent's tarball, not fetched on its own.
    pub in_bundle: bool,
    pub os: Vec<String>,
    pub cpu: Vec<String>,
    /// Names this package depends on (all kinds).
    pub deps: Vec<String>,
}

impl LockEntry {
    /// The registry base URL this entry's tarball comes from (`resolved` minus the
    /// `/<name>/-/<file>` tail), when it has that shape.
    pub fn registry(&self) -> Option<String> {
        let r = self.resolved.as_deref()?;
        if !(r.starts_with("http://") || r.starts_with("https://")) {
            return None;
        }
        for name in [
            self.name.clone(),
            self.name.replace('/', "%2f"),
            self.name.replace('/', "%2F"),
        ] {
            if let Some(i) = r.find(&format!("/{name}/-/")) {
                return Some(r[..i].to_string());
            }
        }
        None
    }

    /// A tarball fetched from a registry by name and version (what airlock analyzes).
    /// Entries without `resolved` (npm's `omit-lockfile-registry-resolved`) come from
    /// the configured registry.
    pub fn is_from_registry(&self) -> bool {
        !self.link
            && !self.in_bundle
            && (self.registry().is_some()
                || (self.resolved.is_none()
                    && self.integrity.is_some()
                    && !self.version.is_empty()
                    && self.location.contains("node_modules/")))
    }

    /// Whether npm installs this package on this machine (`os`/`cpu` allow it).
    pub fn fits_platform(&self) -> bool {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            "windows" => "win32",
            o => o,
        };
        let cpu = match std::env::consts::ARCH {
            "x86_64" => "x64",
            "aarch64" => "arm64",
            "x86" => "ia32",
            a => a,
        };
        allowed(&self.os, os) && allowed(&self.cpu, cpu)
    }
}

/// npm's `os`/`cpu` rule: a `!x` entry excludes x; any plain entry makes the list an
/// allow-list.
fn allowed(list: &[String], value: &str) -> bool {
    if list.iter().any(|v| v.strip_prefix('!') == Some(value)) {
        return false;
    }
    let plain: Vec<&String> = list.iter().filter(|v| !v.starts_with('!')).collect();
    plain.is_empty() || plain.iter().any(|v| *v == value || *v == "any")
}

/// A parsed lockfile.
#[derive(Debug, Clone)]
pub struct Lockfile {
    /// Name of the root project.
    pub root_name: String,
    pub entries: Vec<LockEntry>,
    root_deps: Vec<String>,
    by_location: HashMap<String, usize>,
}

fn names(v: &Value, keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys {
        if let Some(m) = v.get(*k).and_then(|m| m.as_object()) {
            out.extend(m.keys().cloned());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

const DEP_KINDS: [&str; 4] = [
    "dependencies",
    "optionalDependencies",
    "peerDependencies",
    "devDependencies",
];

impl Lockfile {
    pub fn parse(text: &str) -> Result<Lockfile> {
        let v: Value = serde_json::from_str(text)?;
        let Some(packages) = v.get("packages").and_then(|p| p.as_object()) else {
            bail!(
                "lockfile version {} has no `packages` map (npm 7 or later writes one; run \
                 `airlock npm install` to upgrade it)",
                v.get("lockfileVersion").cloned().unwrap_or(Value::Null)
            );
        };
        let root = packages.get("").cloned().unwrap_or(Value::Null);
        let root_name = root
            .get("name")
            .or_else(|| v.get("name"))
            .and_then(|n| n.as_str())
            .unwrap_or("(root)")
            .to_string();
        let root_deps = names(&root, &DEP_KINDS);
        let mut entries = Vec::new();
        for (location, e) in packages {
            if location.is_empty() {
                continue;
            }
            let b = |k: &str| e.get(k).and_then(|x| x.as_bool()).unwrap_or(false);
            let s = |k: &str| e.get(k).and_then(|x| x.as_str()).map(String::from);
            let folder_name = location
                .rsplit_once("node_modules/")
                .map(|(_, n)| n.to_string())
                .unwrap_or_else(|| location.clone());
            entries.push(LockEntry {
                location: location.clone(),
                name: s("name").unwrap_or(folder_name),
                version: s("version").unwrap_or_default(),
                resolved: s("resolved"),
                integrity: s("integrity"),
                dev: b("dev") || b("devOptional"),
                optional: b("optional") || b("devOptional"),
                peer: b("peer"),
                link: b("link"),
                in_bundle: b("inBundle"),
                os: strings(e, "os"),
                cpu: strings(e, "cpu"),
                deps: names(e, &DEP_KINDS[..3]),
            });
        }
        let by_location = entries
            .iter()
            .enumerate()
            .map(|(i, e)| (e.location.clone(), i))
            .collect();
        Ok(Lockfile {
            root_name,
            entries,
            root_deps,
            by_location,
        })
    }

    /// Where `name` resolves from the folder `from` ("" is the root): the nearest
    /// `node_modules/<name>` walking up, following links to their target.
    fn resolve(&self, from: &str, name: &str) -> Option<usize> {
        let mut base = from.to_string();
        loop {
            let candidate = if base.is_empty() {
                format!("node_modules/{name}")
            } else {
                format!("{base}/node_modules/{name}")
            };
            if let Some(&i) = self.by_location.get(&candidate) {
                let e = &self.entries[i];
                if e.link {
                    if let Some(target) = e.resolved.as_deref() {
                        if let Some(&t) = self.by_location.get(target) {
                            return Some(t);
                        }
                    }
                }
                return Some(i);
            }
            if base.is_empty() {
                return None;
            }
            base = match base.rfind("/node_modules/") {
                Some(i) => base[..i].to_string(),
                None => String::new(),
            };
        }
    }

    /// For every entry, the shortest chain of package names from the root that requires
    /// it (`[root, a, b]` for b required by a, a required by the root). Entries no one
    /// requires (extraneous) get `[root, name]`.
    pub fn dependency_paths(&self) -> Vec<Vec<String>> {
        let n = self.entries.len();
        let mut parent: Vec<Option<Option<usize>>> = vec![None; n];
        let mut queue = VecDeque::new();
        for d in &self.root_deps {
            if let Some(i) = self.resolve("", d) {
                if parent[i].is_none() {
                    parent[i] = Some(None);
                    queue.push_back(i);
                }
            }
        }
        while let Some(i) = queue.pop_front() {
            let e = &self.entries[i];
            for d in &e.deps {
                if let Some(j) = self.resolve(&e.location, d) {
                    if parent[j].is_none() {
                        parent[j] = Some(Some(i));
                        queue.push_back(j);
                    }
                }
            }
        }
        (0..n)
            .map(|i| {
                let mut chain = Vec::new();
                let mut cur = Some(i);
                let mut guard = 0;
                while let Some(c) = cur {
                    chain.push(self.entries[c].name.clone());
                    cur = parent[c].flatten();
                    guard += 1;
                    if guard > n {
                        break;
                    }
                }
                chain.push(self.root_name.clone());
                chain.reverse();
                chain
            })
            .collect()
    }

    /// The distinct registry artifacts an install fetches on this machine, keyed by
    /// (name, version, integrity), each with the first dependency path found.
    /// `omit` holds npm's `--omit` kinds (`dev`, `optional`, `peer`).
    pub fn artifacts(&self, omit: &[String]) -> Vec<(LockEntry, Vec<String>)> {
        let paths = self.dependency_paths();
        let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        let mut out: Vec<(LockEntry, Vec<String>)> = Vec::new();
        for (e, path) in self.entries.iter().zip(paths) {
            if !e.is_from_registry() || !e.fits_platform() {
                continue;
            }
            if (e.dev && omit.iter().any(|o| o == "dev"))
                || (e.optional && omit.iter().any(|o| o == "optional"))
                || (e.peer && omit.iter().any(|o| o == "peer"))
            {
                continue;
            }
            let key = (
                e.name.clone(),
                e.version.clone(),
                e.integrity.clone().unwrap_or_default(),
            );
            match seen.get(&key) {
                Some(&i) if out[i].1.len() <= path.len() => {}
                Some(&i) => out[i].1 = path,
                None => {
                    seen.insert(key, out.len());
                    out.push((e.clone(), path));
                }
            }
        }
        out
    }

    /// Entries npm would fetch from somewhere other than a registry by name (git,
    /// remote tarballs): airlock cannot analyze these by name and version.
    pub fn unanalyzable(&self) -> Vec<&LockEntry> {
        self.entries
            .iter()
            .filter(|e| {
                !e.link
                    && !e.in_bundle
                    && e.fits_platform()
                    && e.registry().is_none()
                    && e.resolved
                        .as_deref()
                        .is_some_and(|r| !r.starts_with("file:"))
                    && e.location.contains("node_modules/")
            })
            .collect()
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
      "name": "app", "lockfileVersion": 3,
      "packages": {
        "": { "name": "app", "dependencies": { "a": "^1", "c": "^1" }, "devDependencies": { "d": "1" } },
        "node_modules/a": { "version": "1.0.0", "resolved": "http://127.0.0.1:9/a/-/a-1.0.0.tgz",
                            "integrity": "sha512-A", "dependencies": { "b": "^2" } },
        "node_modules/b": { "version": "1.0.0", "resolved": "http://127.0.0.1:9/b/-/b-1.0.0.tgz",
                            "integrity": "sha512-B1" },
        "node_modules/a/node_modules/b": { "version": "2.0.0",
                            "resolved": "http://127.0.0.1:9/b/-/b-2.0.0.tgz", "integrity": "sha512-B2",
                            "dependencies": { "e": "1" } },
        "node_modules/c": { "version": "1.0.0", "resolved": "http://127.0.0.1:9/c/-/c-1.0.0.tgz",
                            "integrity": "sha512-C", "dependencies": { "b": "^1" } },
        "node_modules/e": { "version": "1.0.0", "resolved": "https://r.example/@s%2fe/-/e-1.0.0.tgz",
                            "name": "@s/e", "integrity": "sha512-E" },
        "node_modules/d": { "version": "1.0.0", "dev": true,
                            "resolved": "http://127.0.0.1:9/d/-/d-1.0.0.tgz", "integrity": "sha512-D" },
        "node_modules/fsevents": { "version": "2.3.3", "optional": true, "os": ["darwin"],
                            "resolved": "http://127.0.0.1:9/fsevents/-/fsevents-2.3.3.tgz" },
        "node_modules/g": { "version": "1.0.0", "resolved": "git+ssh://git@github.com/x/g.git#abc" },
        "node_modules/local": { "resolved": "packages/local", "link": true },
        "node_modules/h": { "version": "3.0.0", "integrity": "sha512-H" }
      }
    }"#;

    #[test]
    fn paths_follow_node_resolution() {
        let l = Lockfile::parse(LOCK).unwrap();
        let arts = l.artifacts(&[]);
        let path_of = |name: &str, v: &str| {
            arts.iter()
                .find(|(e, _)| e.name == name && e.version == v)
                .map(|(_, p)| p.join(" > "))
                .unwrap()
        };
        assert_eq!(path_of("b", "2.0.0"), "app > a > b");
        assert_eq!(path_of("b", "1.0.0"), "app > c > b");
        assert_eq!(path_of("@s/e", "1.0.0"), "app > a > b > @s/e");
        assert_eq!(path_of("d", "1.0.0"), "app > d");
        // not for this platform, git, link: not analyzed by name
        assert!(!arts
            .iter()
            .any(|(e, _)| e.name == "fsevents" || e.name == "g" || e.name == "local"));
        // no `resolved` (omit-lockfile-registry-resolved): from the configured registry
        let h = &arts.iter().find(|(e, _)| e.name == "h").unwrap().0;
        assert_eq!(h.registry(), None);
        assert_eq!(arts.len(), 7);
        assert_eq!(l.unanalyzable().len(), 1);
        let e = &arts.iter().find(|(e, _)| e.name == "@s/e").unwrap().0;
        assert_eq!(e.registry().as_deref(), Some("https://r.example"));
    }

    #[test]
    fn omit_dev() {
        let l = Lockfile::parse(LOCK).unwrap();
        let arts = l.artifacts(&["dev".to_string()]);
        assert!(!arts.iter().any(|(e, _)| e.name == "d"));
    }

    #[test]
    fn platform_lists() {
        assert!(allowed(&[], "linux"));
        assert!(allowed(&["linux".into()], "linux"));
        assert!(!allowed(&["darwin".into()], "linux"));
        assert!(!allowed(&["!linux".into()], "linux"));
        assert!(allowed(&["!win32".into()], "linux"));
    }

    #[test]
    fn v1_is_refused() {
        assert!(Lockfile::parse(r#"{"lockfileVersion":1,"dependencies":{}}"#).is_err());
    }
}
