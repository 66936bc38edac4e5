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
    // Dependency paths, artifacts and platform lists are the parser's own tests
    // (airlock_static::lockfile::npm); here only what the wrapper adds.
    use super::*;

    #[test]
    fn v1_is_refused() {
        assert!(Lockfile::parse(r#"{"lockfileVersion":1,"dependencies":{}}"#).is_err());
    }
}
