//! The npm wrapper's view of a lockfile: `airlock_static::lockfile::npm`, the one npm
//! lockfile parser (the audit reads the same), plus the wrapper's own demand — a
//! `packages` map (npm 7 or later), since only that names every folder npm installs and
//! lets the dependency path of each be worked out the way Node resolves `require`.

use anyhow::{bail, Result};

use airlock_static::lockfile::npm::NpmLockfile;

/// A parsed lockfile the wrapper can work from (all of [`NpmLockfile`], by `Deref`).
#[derive(Debug, Clone)]
pub struct Lockfile(NpmLockfile);

impl std::ops::Deref for Lockfile {
    type Target = NpmLockfile;
    fn deref(&self) -> &NpmLockfile {
        &self.0
    }
}

impl Lockfile {
    pub fn parse(text: &str) -> Result<Lockfile> {
        let lock = NpmLockfile::parse(text)?;
        if !lock.has_packages_map {
            bail!(
                "lockfile version {} has no `packages` map (npm 7 or later writes one; run \
                 `airlock npm install` to upgrade it)",
                lock.lockfile_version
                    .map(|v| v.to_string())
                    .unwrap_or_else(|| "null".into())
            );
        }
        Ok(Lockfile(lock))
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
        let allowed = |os: &[&str], value: &str| {
            airlock_static::lockfile::npm::NpmLockEntry {
                os: os.iter().map(|s| s.to_string()).collect(),
                ..Default::default()
            }
            .fits(value, "x64")
        };
        assert!(allowed(&[], "linux"));
        assert!(allowed(&["linux"], "linux"));
        assert!(!allowed(&["darwin"], "linux"));
        assert!(!allowed(&["!linux"], "linux"));
        assert!(allowed(&["!win32"], "linux"));
    }

    #[test]
    fn v1_is_refused() {
        assert!(Lockfile::parse(r#"{"lockfileVersion":1,"dependencies":{}}"#).is_err());
    }
}
