//! What the user asked to analyze, and the checked artifact it becomes: a local npm
//! tarball or Python distribution (sdist or wheel, recognised by content, not name), a
//! package directory, `name@version` from npm, or `pypi:name==version` from PyPI. Nothing
//! here runs package code: artifacts are downloaded, hash-checked and read in memory.

use std::path::{Path, PathBuf};

use airlock_events::Ecosystem;
use sha2::Digest;

use crate::{npm, pypi, RegistryError};

type Result<T> = std::result::Result<T, RegistryError>;

/// Where registry inputs are fetched from.
#[derive(Debug, Clone)]
pub struct Sources {
    /// npm registry base URL.
    pub npm_registry: String,
    /// PyPI index base URL.
    pub pypi_index: String,
    /// The sandbox's Python: which wheels of a release fit it.
    pub python: crate::runtime::PythonRuntime,
}

impl Default for Sources {
    fn default() -> Self {
        Sources {
            npm_registry: npm::DEFAULT_REGISTRY.into(),
            pypi_index: pypi::DEFAULT_INDEX.into(),
            python: Default::default(),
        }
    }
}

fn bad_input(message: String) -> RegistryError {
    RegistryError::Input(message)
}

/// What the user asked to scan.
#[derive(Debug, Clone, PartialEq)]
pub enum Input {
    /// A local archive: an npm `.tgz`, a PyPI sdist (`.tar.gz`, `.zip`) or a wheel.
    Tarball(PathBuf),
    /// An unpacked npm package directory.
    Dir(PathBuf),
    /// `name@version` on the npm registry.
    Npm { name: String, version: String },
    /// `pypi:name==version` (or `pypi:name` for the latest) on PyPI.
    Pypi {
        name: String,
        version: Option<String>,
    },
}

impl Input {
    /// A short name for progress lines.
    pub fn label(&self) -> String {
        match self {
            Input::Tarball(p) | Input::Dir(p) => p.display().to_string(),
            Input::Npm { name, version } => format!("{name}@{version}"),
            Input::Pypi {
                name,
                version: Some(v),
            } => format!("pypi:{name}=={v}"),
            Input::Pypi {
                name,
                version: None,
            } => format!("pypi:{name}"),
        }
    }

    /// Local paths win over registry specs; a string that is neither is an error.
    pub fn classify(arg: &str) -> Result<Input> {
        let path = Path::new(arg);
        if path.is_dir() {
            return Ok(Input::Dir(path.to_path_buf()));
        }
        if path.is_file() {
            return Ok(Input::Tarball(path.to_path_buf()));
        }
        if arg.starts_with("pypi:") {
            return match pypi::parse_spec(arg) {
                Some((name, version)) => Ok(Input::Pypi { name, version }),
                None => Err(bad_input(format!("{arg}: not a valid pypi:name==version"))),
            };
        }
        let spec = arg.strip_prefix("npm:").unwrap_or(arg);
        let looks_like_path = spec.contains(std::path::MAIN_SEPARATOR) && !spec.starts_with('@')
            || [".tgz", ".tar.gz", ".whl", ".zip"]
                .iter()
                .any(|s| arg.ends_with(s));
        if looks_like_path {
            return Err(bad_input(format!("{arg}: no such file or directory")));
        }
        let plain = |c: char| c.is_ascii_alphanumeric() || matches!(c, '@' | '/' | '.' | '-' | '_');
        if !spec.chars().all(plain) && !spec.contains('@') {
            return Err(bad_input(format!(
                "{arg}: not a file, a directory, an npm name@version or pypi:name==version"
            )));
        }
        match npm::check_spec(spec) {
            Ok((name, version)) => Ok(Input::Npm { name, version }),
            Err(e) => Err(e),
        }
    }
}

/// Which ecosystem's install the artifact gets, with what that install needs to know.
#[derive(Debug, Clone)]
pub enum Kind {
    Npm(npm::Manifest),
    Pypi {
        meta: pypi::PyMeta,
        /// The file name pip needs (a wheel must end in `.whl`).
        install_name: String,
    },
}

/// The artifact after fetching, ready to analyze.
#[derive(Debug, Clone)]
pub struct Artifact {
    pub path: PathBuf,
    pub kind: Kind,
    pub name: String,
    pub version: String,
    pub sha256: String,
    /// The registry's integrity string when it came from a registry.
    pub integrity: Option<String>,
}

impl Artifact {
    pub fn ecosystem(&self) -> Ecosystem {
        match self.kind {
            Kind::Npm(_) => Ecosystem::Npm,
            Kind::Pypi { .. } => Ecosystem::Pypi,
        }
    }
}

/// Turns an input into a checked artifact under `work` (no code runs).
pub fn fetch(input: &Input, sources: &Sources, work: &Path) -> Result<Artifact> {
    let (path, integrity) = match input {
        Input::Tarball(p) => (p.clone(), None),
        Input::Dir(d) => {
            let dest = work.join("packed.tgz");
            npm::pack_dir(d, &dest)?;
            (dest, None)
        }
        Input::Npm { name, version } => {
            let f = npm::fetch(&sources.npm_registry, name, version, work)?;
            (f.path, Some(f.integrity))
        }
        Input::Pypi { name, version } => {
            let f = pypi::fetch(
                &sources.pypi_index,
                name,
                version.as_deref(),
                work,
                &sources.python,
            )?;
            let sri = format!("sha256-{}", f.sha256);
            (f.path, Some(sri))
        }
    };
    let bytes = std::fs::read(&path).map_err(|source| RegistryError::Io {
        path: path.clone(),
        source,
    })?;
    let sha256 = hex::encode(sha2::Sha256::digest(&bytes));
    let kind = identify(&path, &bytes)?;
    let (name, version) = match &kind {
        Kind::Npm(m) => (m.name.clone(), m.version.clone()),
        Kind::Pypi { meta, .. } => (meta.name.clone(), meta.version.clone()),
    };
    Ok(Artifact {
        path,
        kind,
        name,
        version,
        sha256,
        integrity,
    })
}

/// npm tarball or Python distribution, by content. When neither reading works, the
/// error says why for both.
fn identify(path: &Path, bytes: &[u8]) -> Result<Kind> {
    use crate::PackageEcosystem;
    let npm_err = match npm::NPM.recognise(path, bytes) {
        Ok(kind) => return Ok(kind),
        // An npm package whose name or version is not one: that is the error.
        Err(e @ RegistryError::Invalid { .. }) => return Err(e),
        Err(e) => e,
    };
    match pypi::PYPI.recognise(path, bytes) {
        Ok(kind) => Ok(kind),
        Err(py_err) => {
            let gz = bytes.starts_with(&[0x1f, 0x8b]);
            let zip = bytes.starts_with(b"PK");
            if gz && npm_err.to_string().contains("corrupt") {
                // A broken gzip stream: the npm reader's message is the useful one.
                return Err(npm_err);
            }
            if !gz && !zip {
                return Err(RegistryError::BadArtifact {
                    path: path.to_path_buf(),
                    message:
                        "not a gzip-compressed tarball or zip: not an npm package, sdist or wheel"
                            .into(),
                });
            }
            Err(RegistryError::BadArtifact {
                path: path.to_path_buf(),
                message: format!(
                    "neither an npm package ({}) nor a Python distribution ({})",
                    strip_path(&npm_err.to_string(), path),
                    strip_path(&py_err.to_string(), path)
                ),
            })
        }
    }
}

fn strip_path(msg: &str, path: &Path) -> String {
    msg.strip_prefix(&format!("{}: ", path.display()))
        .unwrap_or(msg)
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classify_inputs() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("x.tgz");
        std::fs::write(&f, b"x").unwrap();
        assert_eq!(
            Input::classify(f.to_str().unwrap()).unwrap(),
            Input::Tarball(f.clone())
        );
        assert_eq!(
            Input::classify(dir.path().to_str().unwrap()).unwrap(),
            Input::Dir(dir.path().into())
        );
        assert_eq!(
            Input::classify("left-pad@1.3.0").unwrap(),
            Input::Npm {
                name: "left-pad".into(),
                version: "1.3.0".into()
            }
        );
        assert_eq!(
            Input::classify("npm:@scope/x@2").unwrap(),
            Input::Npm {
                name: "@scope/x".into(),
                version: "2".into()
            }
        );
        assert_eq!(
            Input::classify("pypi:requests==2.32.3").unwrap(),
            Input::Pypi {
                name: "requests".into(),
                version: Some("2.32.3".into())
            }
        );
        assert_eq!(
            Input::classify("pypi:six").unwrap(),
            Input::Pypi {
                name: "six".into(),
                version: None
            }
        );
        assert!(Input::classify("./missing.tgz").is_err());
        assert!(Input::classify("/nope/dir/").is_err());
        assert!(Input::classify("evil-1.0-py3-none-any.whl").is_err());
    }

    #[test]
    fn identifies_by_content_with_clear_errors() {
        let dir = tempfile::tempdir().unwrap();
        let junk = dir.path().join("junk.tgz");
        std::fs::write(&junk, b"just text").unwrap();
        let e = identify(&junk, b"just text").unwrap_err().to_string();
        assert!(e.contains("not a gzip"), "{e}");
        let zip = dir.path().join("z.zip");
        std::fs::write(&zip, b"PK\x03\x04 not really").unwrap();
        let e = identify(&zip, b"PK\x03\x04 not really")
            .unwrap_err()
            .to_string();
        assert!(e.contains("neither an npm package"), "{e}");
    }
}
