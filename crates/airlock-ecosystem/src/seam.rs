//! The seam every ecosystem implements: parse an input spec, recognise an artifact from
//! its bytes, fetch and verify it, prepare its dependencies on the host without running
//! code, and turn it into an [`InstallPlan`]. npm and PyPI are the two implementations;
//! a third ecosystem is one more folder and one more entry in [`all`]. Callers outside
//! this crate go through [`for_artifact`] and never match on the ecosystem themselves.

use std::path::{Path, PathBuf};

use airlock_events::{Ecosystem, PackageRef};
use airlock_static::audit::RegistryFacts;
use airlock_static::lockfile::{LockfileFormat, ReadLockfile};

use crate::artifact::{Artifact, Input, Kind, Sources};
use crate::plan::{InstallPlan, PlanContext};
use crate::{npm, pypi, RegistryError};

/// What the host prepared for the offline install in the sandbox.
#[derive(Debug, Clone)]
pub enum Prepared {
    Npm(npm::PreparedProject),
    Pypi(pypi::plan::PreparedWheels),
}

impl Prepared {
    /// How many dependencies the sandbox gets (for the trace header).
    pub fn dependencies(&self) -> usize {
        match self {
            Prepared::Npm(p) => p.dependencies,
            Prepared::Pypi(p) => p.wheelhouse.files.len(),
        }
    }

    /// Dependencies that could not be prepared, each with the reason.
    pub fn missing(&self) -> &[String] {
        match self {
            Prepared::Npm(p) => &p.skipped,
            Prepared::Pypi(p) => &p.wheelhouse.missing,
        }
    }
}

/// One package ecosystem.
pub trait PackageEcosystem: Send + Sync {
    /// Which one (the trace schema's name).
    fn id(&self) -> Ecosystem;
    /// A registry spec of this ecosystem (`left-pad@1.3.0`, `pypi:six==1.16.0`).
    fn parse_spec(&self, spec: &str) -> Option<Input>;
    /// The artifact's kind when its bytes are this ecosystem's.
    fn recognise(&self, path: &Path, bytes: &[u8]) -> Result<Kind, RegistryError>;
    /// Resolves and downloads the artifact's dependencies on the host, running no code.
    fn prepare(
        &self,
        artifact: &Artifact,
        sources: &Sources,
        work: &Path,
    ) -> Result<Prepared, RegistryError>;
    /// What the sandbox does with the artifact.
    fn plan(
        &self,
        artifact: &Artifact,
        prepared: &Prepared,
        ctx: &PlanContext,
    ) -> Result<InstallPlan, RegistryError>;
    /// Lockfile names this ecosystem reads (`package-lock.json`, …), in the order a
    /// directory is searched.
    fn lockfiles(&self) -> &'static [&'static str];
    /// The format of a lockfile of this ecosystem, by its lowercased file name.
    fn lockfile_format(&self, file_name: &str) -> Option<LockfileFormat>;
    /// The lockfiles of this ecosystem directly inside `dir`.
    fn lockfiles_in(&self, dir: &Path) -> Vec<PathBuf> {
        self.lockfiles()
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.is_file())
            .collect()
    }
    /// Reads a lockfile of this ecosystem: the packages it pins (each with its line) and
    /// what the parser did not understand. `None` when `path` is not one of its
    /// lockfiles.
    fn read_lockfile(&self, path: &Path, text: &str) -> Option<Result<ReadLockfile, String>> {
        let name = path.file_name()?.to_string_lossy().to_ascii_lowercase();
        self.lockfile_format(&name).map(|f| f.read(text))
    }
    /// The registry its lockfiles are checked against (`airlock audit`).
    fn registry(&self) -> &'static RegistryFacts;
    /// Whether a package's files (paths relative to its root) are this ecosystem's: its
    /// manifest is among them.
    fn owns_package_files(&self, rels: &[&str]) -> bool;
    /// A pinned requirement as this ecosystem writes it (`left-pad@1.3.0`,
    /// `six==1.16.0`).
    fn spec(&self, name: &str, version: &str) -> String;
    /// The name and exact version a stored artifact's spec names (`airlock cache show
    /// left-pad@1.3.0`), when the spec is written this ecosystem's way (npm:
    /// `name@version`, `npm:name@version`; PyPI: `pypi:name==version`, `name==version`):
    /// `None` when it is not, `Some(Err(expected form))` when it is but lacks a name or an
    /// exact version.
    fn parse_pinned(&self, spec: &str) -> Option<Result<(String, String), &'static str>>;
    /// The registry input of `name` at exactly `version`.
    fn registry_input(&self, name: &str, version: &str) -> Input;
    /// Whether `name` is a package name of this ecosystem that is safe to put in a
    /// registry path (the service's API takes names from clients); `version` is the
    /// version it comes with.
    fn path_safe_name(&self, name: &str, version: &str) -> bool;
    /// Why an analyzed artifact (`analyzed`) is not the one a resolution pinned by
    /// `pinned` (the hash it recorded), if it is not; `None` when they agree or cannot be
    /// compared.
    fn pinned_hash_mismatch(&self, analyzed: &PackageRef, pinned: &str) -> Option<String>;
    /// Static signals from the artifact's history: for a version fetched from a registry,
    /// what changed since the version published before it (`Ok(empty)` when there is
    /// nothing to compare with or the ecosystem keeps no such history).
    fn history_signals(
        &self,
        artifact: &Artifact,
        sources: &Sources,
    ) -> Result<Vec<airlock_events::Event>, RegistryError> {
        let _ = (artifact, sources);
        Ok(Vec::new())
    }
    /// When `name` at `version` was published in this ecosystem's registry of `sources`,
    /// for the release-age gate (`--min-age`); `hash` is the pinned file's, where the
    /// ecosystem publishes files one by one (PyPI). `Ok(None)` when the registry does not
    /// say (the gate then decides by `--min-age-strict`); `Err` when it cannot be asked.
    fn published(
        &self,
        name: &str,
        version: &str,
        hash: Option<&str>,
        sources: &Sources,
    ) -> Result<Option<crate::release_age::Timestamp>, RegistryError> {
        let _ = (name, version, hash, sources);
        Ok(None)
    }
}

/// Every ecosystem airlock knows.
pub fn all() -> [&'static dyn PackageEcosystem; 2] {
    [&npm::NPM, &pypi::PYPI]
}

/// The ecosystem named `id`.
pub fn by_id(id: Ecosystem) -> &'static dyn PackageEcosystem {
    match id {
        Ecosystem::Npm => &npm::NPM,
        Ecosystem::Pypi => &pypi::PYPI,
    }
}

/// The ecosystem a package's files (paths relative to its root) belong to: the first
/// whose manifest is among them, else PyPI, whose distributions come in several shapes
/// (sdist, wheel, a bare `setup.py`).
pub fn for_package_files(rels: &[&str]) -> &'static dyn PackageEcosystem {
    all()
        .into_iter()
        .find(|e| e.owns_package_files(rels))
        .unwrap_or(&pypi::PYPI)
}

/// The ecosystem of an artifact.
pub fn for_artifact(artifact: &Artifact) -> &'static dyn PackageEcosystem {
    match artifact.kind {
        Kind::Npm(_) => &npm::NPM,
        Kind::Pypi { .. } => &pypi::PYPI,
    }
}

fn wrong_kind(artifact: &Artifact, want: &str) -> RegistryError {
    RegistryError::BadArtifact {
        path: artifact.path.clone(),
        message: format!("not prepared as {want}"),
    }
}

impl PackageEcosystem for npm::Npm {
    fn id(&self) -> Ecosystem {
        Ecosystem::Npm
    }

    fn parse_spec(&self, spec: &str) -> Option<Input> {
        if spec.starts_with("pypi:") {
            return None;
        }
        let spec = spec.strip_prefix("npm:").unwrap_or(spec);
        npm::parse_spec(spec).map(|(name, version)| Input::Npm { name, version })
    }

    fn recognise(&self, path: &Path, _bytes: &[u8]) -> Result<Kind, RegistryError> {
        npm::read_manifest(path).map(Kind::Npm)
    }

    fn prepare(
        &self,
        artifact: &Artifact,
        sources: &Sources,
        work: &Path,
    ) -> Result<Prepared, RegistryError> {
        let Kind::Npm(m) = &artifact.kind else {
            return Err(wrong_kind(artifact, "npm"));
        };
        npm::prepare_project(&artifact.path, m, &sources.npm_registry, work).map(Prepared::Npm)
    }

    fn plan(
        &self,
        artifact: &Artifact,
        prepared: &Prepared,
        ctx: &PlanContext,
    ) -> Result<InstallPlan, RegistryError> {
        let (Kind::Npm(m), Prepared::Npm(p)) = (&artifact.kind, prepared) else {
            return Err(wrong_kind(artifact, "npm"));
        };
        Ok(npm::plan::plan(&m.name, p, ctx))
    }

    fn history_signals(
        &self,
        artifact: &Artifact,
        sources: &Sources,
    ) -> Result<Vec<airlock_events::Event>, RegistryError> {
        match (&artifact.kind, &artifact.integrity) {
            (Kind::Npm(m), Some(_)) => npm::packument::previous_version_signals(
                &sources.npm_registry,
                &m.name,
                &m.version,
                &artifact.path,
            ),
            _ => Ok(Vec::new()),
        }
    }

    /// The packument's `time[version]`.
    fn published(
        &self,
        name: &str,
        version: &str,
        _hash: Option<&str>,
        sources: &Sources,
    ) -> Result<Option<crate::release_age::Timestamp>, RegistryError> {
        npm::packument::published(&sources.npm_registry, name, version)
    }

    fn lockfiles(&self) -> &'static [&'static str] {
        &[
            "npm-shrinkwrap.json",
            "package-lock.json",
            "yarn.lock",
            "pnpm-lock.yaml",
            "bun.lock",
        ]
    }

    fn lockfile_format(&self, file_name: &str) -> Option<LockfileFormat> {
        match file_name {
            "package-lock.json" | "npm-shrinkwrap.json" => Some(LockfileFormat::PackageLock),
            "yarn.lock" => Some(LockfileFormat::YarnLock),
            "pnpm-lock.yaml" => Some(LockfileFormat::PnpmLock),
            "bun.lock" => Some(LockfileFormat::BunLock),
            _ => None,
        }
    }

    /// npm reads `npm-shrinkwrap.json` instead of `package-lock.json` when both exist.
    fn lockfiles_in(&self, dir: &Path) -> Vec<PathBuf> {
        let mut v: Vec<PathBuf> = self
            .lockfiles()
            .iter()
            .map(|n| dir.join(n))
            .filter(|p| p.is_file())
            .collect();
        if v.iter().any(|p| p.ends_with("npm-shrinkwrap.json")) {
            v.retain(|p| !p.ends_with("package-lock.json"));
        }
        v
    }

    fn registry(&self) -> &'static RegistryFacts {
        &npm::REGISTRY
    }

    fn owns_package_files(&self, rels: &[&str]) -> bool {
        rels.contains(&"package.json")
    }

    fn spec(&self, name: &str, version: &str) -> String {
        format!("{name}@{version}")
    }

    fn parse_pinned(&self, spec: &str) -> Option<Result<(String, String), &'static str>> {
        if spec.starts_with("pypi:") || (!spec.starts_with("npm:") && spec.contains("==")) {
            return None;
        }
        let rest = spec.strip_prefix("npm:").unwrap_or(spec);
        let has_version = rest.trim_start_matches('@').contains('@');
        Some(match npm::parse_spec(rest) {
            Some((n, v)) if has_version => Ok((n, v)),
            _ => Err("name@version or pypi:name==version"),
        })
    }

    fn registry_input(&self, name: &str, version: &str) -> Input {
        Input::Npm {
            name: name.to_string(),
            version: version.to_string(),
        }
    }

    fn path_safe_name(&self, name: &str, version: &str) -> bool {
        npm::parse_spec(&format!("{name}@{version}")).is_some_and(|(n, _)| n == name)
            && !name.contains("..")
            && name.chars().all(|c| {
                c.is_ascii_alphanumeric() || matches!(c, '@' | '/' | '.' | '-' | '_' | '~')
            })
    }

    /// Subresource-integrity strings agree when every algorithm both name has the same
    /// digest (and cannot be compared when they share none).
    fn pinned_hash_mismatch(&self, analyzed: &PackageRef, pinned: &str) -> Option<String> {
        let got_sri = analyzed.integrity.as_deref()?;
        let parse = |s: &str| -> Vec<(String, String)> {
            s.split_whitespace()
                .filter_map(|h| h.split_once('-'))
                .map(|(a, d)| (a.to_ascii_lowercase(), d.to_string()))
                .collect()
        };
        let (w, g) = (parse(pinned), parse(got_sri));
        let shared: Vec<_> = w
            .iter()
            .filter(|(a, _)| g.iter().any(|(b, _)| a == b))
            .collect();
        if shared.is_empty() {
            return None;
        }
        let agree = shared
            .iter()
            .all(|(a, d)| g.iter().any(|(b, e)| a == b && d == e));
        (!agree).then(|| {
            format!(
                "the registry served bytes with integrity {got_sri}, the lockfile pins {pinned}"
            )
        })
    }
}

/// Wheels every PyPI run gets, whatever the artifact declares: setup scripts import what
/// they never declare (requests above all); these let such a setup.py run to its payload.
const PYPI_SEED: &[&str] = &[
    "setuptools",
    "wheel",
    "requests",
    "urllib3",
    "certifi",
    "idna",
    "charset-normalizer",
    "six",
    "colorama",
    "psutil",
];

impl PackageEcosystem for pypi::Pypi {
    fn id(&self) -> Ecosystem {
        Ecosystem::Pypi
    }

    fn parse_spec(&self, spec: &str) -> Option<Input> {
        pypi::parse_spec(spec).map(|(name, version)| Input::Pypi { name, version })
    }

    fn recognise(&self, path: &Path, bytes: &[u8]) -> Result<Kind, RegistryError> {
        let file_name = path
            .file_name()
            .map(|n| n.to_string_lossy().into_owned())
            .unwrap_or_default();
        let meta = pypi::read_metadata_bytes(&file_name, bytes, path)?;
        let install_name = pypi::install_file_name(&file_name, &meta);
        Ok(Kind::Pypi { meta, install_name })
    }

    fn prepare(
        &self,
        artifact: &Artifact,
        sources: &Sources,
        work: &Path,
    ) -> Result<Prepared, RegistryError> {
        let Kind::Pypi { meta, install_name } = &artifact.kind else {
            return Err(wrong_kind(artifact, "a Python distribution"));
        };
        std::fs::create_dir_all(work).map_err(|source| RegistryError::Io {
            path: work.to_path_buf(),
            source,
        })?;
        let mut seeded = meta.clone();
        seeded
            .requires_dist
            .extend(PYPI_SEED.iter().map(|s| s.to_string()));
        let wheelhouse = pypi::prepare_wheelhouse(
            &artifact.path,
            &seeded,
            &sources.pypi_index,
            work,
            &pypi::WheelhouseOptions {
                // Sets resolved in the last day (the seed set above all) skip pip.
                wheel_cache: pypi::WheelCache::user_default(),
                target: sources.python.clone(),
                ..Default::default()
            },
        )?;
        Ok(Prepared::Pypi(pypi::plan::PreparedWheels {
            wheelhouse,
            install_name: install_name.clone(),
            top_level: meta.top_level.clone(),
            normalized_name: meta.normalized_name.clone(),
        }))
    }

    fn plan(
        &self,
        artifact: &Artifact,
        prepared: &Prepared,
        ctx: &PlanContext,
    ) -> Result<InstallPlan, RegistryError> {
        let Prepared::Pypi(p) = prepared else {
            return Err(wrong_kind(artifact, "a Python distribution"));
        };
        Ok(pypi::plan::plan(&artifact.name, &artifact.path, p, ctx))
    }

    /// The JSON API's upload time of the pinned file (by sha256).
    fn published(
        &self,
        name: &str,
        version: &str,
        hash: Option<&str>,
        sources: &Sources,
    ) -> Result<Option<crate::release_age::Timestamp>, RegistryError> {
        pypi::published::published(&sources.pypi_index, name, version, hash)
    }

    fn lockfiles(&self) -> &'static [&'static str] {
        &["requirements.txt", "poetry.lock", "uv.lock"]
    }

    /// Any `.txt` named as a lockfile is read as a requirements file.
    fn lockfile_format(&self, file_name: &str) -> Option<LockfileFormat> {
        match file_name {
            "poetry.lock" => Some(LockfileFormat::PoetryLock),
            "uv.lock" => Some(LockfileFormat::UvLock),
            n if n.ends_with(".txt") => Some(LockfileFormat::Requirements),
            _ => None,
        }
    }

    fn registry(&self) -> &'static RegistryFacts {
        &pypi::REGISTRY
    }

    fn owns_package_files(&self, rels: &[&str]) -> bool {
        rels.iter().any(|r| {
            let base = r.rsplit('/').next().unwrap_or(r);
            matches!(
                base,
                "setup.py" | "pyproject.toml" | "PKG-INFO" | "METADATA"
            )
        })
    }

    fn spec(&self, name: &str, version: &str) -> String {
        format!("{name}=={version}")
    }

    fn parse_pinned(&self, spec: &str) -> Option<Result<(String, String), &'static str>> {
        let rest = spec
            .strip_prefix("pypi:")
            .or_else(|| (!spec.starts_with("npm:") && spec.contains("==")).then_some(spec))?;
        Some(match rest.split_once("==") {
            Some((n, v)) if !n.is_empty() && !v.is_empty() => Ok((n.to_string(), v.to_string())),
            _ => Err("pypi:name==version"),
        })
    }

    fn registry_input(&self, name: &str, version: &str) -> Input {
        Input::Pypi {
            name: name.to_string(),
            version: Some(version.to_string()),
        }
    }

    fn path_safe_name(&self, name: &str, _version: &str) -> bool {
        !name.is_empty()
            && name.len() <= 128
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_'))
    }

    fn pinned_hash_mismatch(&self, analyzed: &PackageRef, pinned: &str) -> Option<String> {
        let sha = analyzed.sha256.as_deref()?;
        (!sha.eq_ignore_ascii_case(pinned))
            .then(|| format!("the analyzed file has sha256 {sha}, the resolution pinned {pinned}"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn package_files_name_their_ecosystem() {
        assert_eq!(
            for_package_files(&["package.json", "index.js"]).id(),
            Ecosystem::Npm
        );
        assert_eq!(
            for_package_files(&["evil-1.0/setup.py", "evil-1.0/PKG-INFO"]).id(),
            Ecosystem::Pypi
        );
        // Neither manifest: PyPI, as `airlock diff` always assumed.
        assert_eq!(for_package_files(&["README"]).id(), Ecosystem::Pypi);
        assert_eq!(by_id(Ecosystem::Npm).spec("a", "1"), "a@1");
        assert_eq!(by_id(Ecosystem::Pypi).spec("a", "1"), "a==1");
    }
}
