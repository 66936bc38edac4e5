//! npm artifacts on the host, without ever running them: fetching a version's tarball
//! from a registry and checking it against the registry's integrity hash, reading the
//! manifest out of a tarball in memory, packing a directory like `npm pack`, and
//! resolving plus downloading the target's dependencies into an offline cache
//! (`prepare.rs`), so the sandbox can install offline. The target package itself is never
//! unpacked on the host, and its name and version are validated before they name a file.

pub mod packument;
mod pinned;
pub mod plan;
mod prepare;
mod project;

pub use pinned::pinned_artifacts;
pub use prepare::{non_registry_spec, prepare_project, PreparedProject};
pub use project::{
    check_project_manifest, lock_pins_manifest, main_registry, NpmRegistries, ProjectError,
    PROJECT_LOCKFILES,
};

use std::collections::BTreeMap;
use std::io::Read;
use std::path::{Path, PathBuf};

use base64::Engine;
use serde::Deserialize;
use sha2::Digest;

use crate::RegistryError;

pub const DEFAULT_REGISTRY: &str = "https://registry.npmjs.org";

/// Largest tarball airlock accepts (npm's own limit is lower for publishing).
const MAX_TARBALL: u64 = 512 << 20;

/// The npm ecosystem (see [`crate::PackageEcosystem`]).
#[derive(Debug, Clone, Copy, Default)]
pub struct Npm;

/// The npm ecosystem.
pub static NPM: Npm = Npm;

/// The public npm registry, as the lockfile audit checks sources against it.
pub static REGISTRY: airlock_static::audit::RegistryFacts = airlock_static::audit::RegistryFacts {
    osv_ecosystem: "npm",
    default_hosts: &[
        "registry.npmjs.org",
        "registry.yarnpkg.com",
        "registry.npmjs.com",
    ],
    file_hosts: &[],
    // Registry tarballs live under `<name>/-/<file>.tgz`.
    registry_url_markers: &["/-/"],
    normalize_name: str::to_string,
};

/// The parts of package.json airlock uses.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct Manifest {
    #[serde(default)]
    pub name: String,
    #[serde(default)]
    pub version: String,
    #[serde(default)]
    pub scripts: BTreeMap<String, String>,
    #[serde(default)]
    pub dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default, rename = "optionalDependencies")]
    pub optional_dependencies: BTreeMap<String, serde_json::Value>,
    #[serde(default, rename = "type")]
    pub module_type: Option<String>,
    #[serde(default)]
    /// `main` as written; packages use strings, and some `false`.
    pub main: Option<serde_json::Value>,
    #[serde(default)]
    pub gypfile: Option<bool>,
    #[serde(default, rename = "peerDependencies")]
    pub peer_dependencies: BTreeMap<String, serde_json::Value>,
    /// Every other field, as written (bin, engines, os, cpu, bundleDependencies, …).
    #[serde(flatten)]
    pub extra: BTreeMap<String, serde_json::Value>,
}

impl Manifest {
    /// The lifecycle scripts `npm install` runs for this package.
    pub fn install_scripts(&self) -> Vec<(&str, &str)> {
        ["preinstall", "install", "postinstall"]
            .iter()
            .filter_map(|k| self.scripts.get(*k).map(|v| (*k, v.as_str())))
            .collect()
    }
}

/// `name@version` (scoped names allowed); the version may be a dist-tag or omitted.
pub fn parse_spec(spec: &str) -> Option<(String, String)> {
    check_spec(spec).ok()
}

/// Like [`parse_spec`], with the reason when `spec` is not one: the name must be a valid
/// npm name and the version a semver version or a dist-tag (they become file names).
pub fn check_spec(spec: &str) -> Result<(String, String), RegistryError> {
    let (scope, rest) = match spec.strip_prefix('@') {
        Some(r) => ("@", r),
        None => ("", spec),
    };
    let (name, version) = match rest.split_once('@') {
        Some((n, v)) => (n, v),
        None => (rest, "latest"),
    };
    let name = format!("{scope}{name}");
    crate::validate::npm_name("the package name", &name)?;
    crate::validate::npm_version_or_tag("the version", version)?;
    Ok((name, version.to_string()))
}

/// A downloaded artifact.
#[derive(Debug, Clone)]
pub struct Fetched {
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    pub sha256: String,
    pub integrity: String,
}

#[derive(Deserialize)]
struct Packument {
    #[serde(default, rename = "dist-tags")]
    dist_tags: BTreeMap<String, String>,
    #[serde(default)]
    versions: BTreeMap<String, VersionDoc>,
}

#[derive(Deserialize)]
struct VersionDoc {
    dist: Dist,
}

#[derive(Deserialize)]
struct Dist {
    tarball: String,
    #[serde(default)]
    integrity: Option<String>,
    #[serde(default)]
    shasum: Option<String>,
}

/// Fetches `name@version` from `registry` into `dest_dir` and verifies its integrity.
pub fn fetch(
    registry: &str,
    name: &str,
    version: &str,
    dest_dir: &Path,
) -> Result<Fetched, RegistryError> {
    let registry = registry.trim_end_matches('/');
    let url = format!("{registry}/{}", name.replace('/', "%2f"));
    let resp = crate::http::client()
        .get(&url)
        .set(
            "Accept",
            "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8",
        )
        .call();
    let resp = match resp {
        Ok(r) => r,
        Err(ureq::Error::Status(404, _)) => {
            return Err(RegistryError::NotFound {
                what: format!("npm package {name}"),
                registry: registry.into(),
            })
        }
        Err(e) => {
            return Err(RegistryError::Http {
                url,
                message: e.to_string(),
            })
        }
    };
    let doc: Packument = resp.into_json().map_err(|e| RegistryError::Http {
        url: url.clone(),
        message: format!("bad packument: {e}"),
    })?;
    let resolved = doc
        .dist_tags
        .get(version)
        .cloned()
        .unwrap_or_else(|| version.to_string());
    crate::validate::npm_version("the registry's version", &resolved)?;
    let Some(v) = doc.versions.get(&resolved) else {
        let mut recent: Vec<&String> = doc.versions.keys().collect();
        recent.reverse();
        recent.truncate(5);
        return Err(RegistryError::NotFound {
            what: format!(
                "version {version} of {name} (known: {}{})",
                recent
                    .iter()
                    .map(|s| s.as_str())
                    .collect::<Vec<_>>()
                    .join(", "),
                if doc.versions.len() > 5 { ", …" } else { "" }
            ),
            registry: registry.into(),
        });
    };
    let tarball_url = v.dist.tarball.clone();
    let bytes = download(&tarball_url)?;
    let integrity = verify_integrity(
        &bytes,
        v.dist.integrity.as_deref(),
        v.dist.shasum.as_deref(),
    )
    .map_err(|message| RegistryError::Integrity {
        url: tarball_url.clone(),
        message,
    })?;
    let file = dest_dir.join(tarball_file_name(name, &resolved));
    std::fs::write(&file, &bytes).map_err(|e| RegistryError::Io {
        path: file.clone(),
        source: e,
    })?;
    Ok(Fetched {
        path: file,
        name: name.to_string(),
        version: resolved,
        sha256: hex::encode(sha2::Sha256::digest(&bytes)),
        integrity,
    })
}

fn download(url: &str) -> Result<Vec<u8>, RegistryError> {
    crate::http::download(url, MAX_TARBALL, "tarball")
}

/// Checks `bytes` against an SRI string (strongest algorithm wins) or a sha1 shasum;
/// returns the integrity string that matched, or why it did not.
pub fn verify_integrity(
    bytes: &[u8],
    sri: Option<&str>,
    shasum: Option<&str>,
) -> Result<String, String> {
    let b64 = base64::engine::general_purpose::STANDARD;
    if let Some(sri) = sri {
        let mut best: Option<(u8, &str, &str)> = None;
        for part in sri.split_whitespace() {
            if let Some((alg, digest)) = part.split_once('-') {
                let rank = match alg {
                    "sha512" => 3,
                    "sha384" => 2,
                    "sha256" => 1,
                    "sha1" => 0,
                    _ => continue,
                };
                if best.is_none_or(|b| rank > b.0) {
                    best = Some((rank, alg, digest));
                }
            }
        }
        if let Some((_, alg, digest)) = best {
            let actual = match alg {
                "sha512" => b64.encode(sha2::Sha512::digest(bytes)),
                "sha384" => b64.encode(sha2::Sha384::digest(bytes)),
                "sha256" => b64.encode(sha2::Sha256::digest(bytes)),
                _ => b64.encode(sha1::Sha1::digest(bytes)),
            };
            let digest = digest.split('?').next().unwrap_or(digest);
            return if actual == digest {
                Ok(format!("{alg}-{actual}"))
            } else {
                Err(format!(
                    "{alg} mismatch: registry says {digest}, downloaded bytes hash to {actual}"
                ))
            };
        }
    }
    if let Some(shasum) = shasum {
        let actual = hex::encode(sha1::Sha1::digest(bytes));
        return if actual.eq_ignore_ascii_case(shasum) {
            Ok(format!("sha1-{}", b64.encode(sha1::Sha1::digest(bytes))))
        } else {
            Err(format!(
                "sha1 mismatch: registry says {shasum}, downloaded bytes hash to {actual}"
            ))
        };
    }
    Err("the registry gave no integrity hash for this version".into())
}

/// `@scope/name` + `1.0.0` → `scope-name-1.0.0.tgz` (npm pack's naming). Callers
/// validate name and version first ([`crate::validate`]); as a second wall, anything
/// but letters, digits, `.`, `-`, `_` and `+` becomes `_`, so the result is always one
/// plain file name.
pub fn tarball_file_name(name: &str, version: &str) -> String {
    let raw = format!(
        "{}-{}.tgz",
        name.trim_start_matches('@').replace('/', "-"),
        version
    );
    let safe: String = raw
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '+') {
                c
            } else {
                '_'
            }
        })
        .collect();
    if safe.starts_with('.') {
        format!("_{safe}")
    } else {
        safe
    }
}

/// Checks the name and version a manifest declares (they name files on the host).
fn check_manifest(m: &Manifest, file: &str) -> Result<(), RegistryError> {
    crate::validate::npm_name(&format!("{file} \"name\""), &m.name)?;
    crate::validate::npm_version(&format!("{file} \"version\""), &m.version)
}

/// Reads package.json out of an npm tarball without unpacking anything to disk.
pub fn read_manifest(tgz: &Path) -> Result<Manifest, RegistryError> {
    let bad = |message: String| RegistryError::BadArtifact {
        path: tgz.to_path_buf(),
        message,
    };
    let file = std::fs::File::open(tgz).map_err(|e| RegistryError::Io {
        path: tgz.to_path_buf(),
        source: e,
    })?;
    let mut magic = [0u8; 2];
    let mut f = std::io::BufReader::new(file);
    use std::io::BufRead;
    let head = f.fill_buf().map_err(|e| RegistryError::Io {
        path: tgz.to_path_buf(),
        source: e,
    })?;
    magic.copy_from_slice(
        head.get(..2)
            .ok_or_else(|| bad("file is empty or too short".into()))?,
    );
    if magic != [0x1f, 0x8b] {
        return Err(bad(
            "not a gzip-compressed tarball (an npm package is a .tgz)".into(),
        ));
    }
    // Bounded: a decompression bomb stops here, in memory (see crate::limits).
    let mut archive = tar::Archive::new(crate::limits::bounded_gz(f));
    let entries = archive
        .entries()
        .map_err(|e| bad(format!("corrupt tarball: {e}")))?;
    for (i, entry) in entries.enumerate() {
        if i >= crate::limits::MAX_ENTRIES {
            return Err(bad(format!(
                "no package.json in the first {} entries; reading stopped",
                crate::limits::MAX_ENTRIES
            )));
        }
        let mut entry = entry.map_err(|e| bad(format!("corrupt tarball: {e}")))?;
        let path = entry
            .path()
            .map_err(|e| bad(format!("corrupt tarball: {e}")))?
            .into_owned();
        let comps: Vec<_> = path.components().collect();
        if comps.len() == 2 && path.file_name().is_some_and(|n| n == "package.json") {
            let mut text = String::new();
            entry
                .by_ref()
                .take(4 << 20)
                .read_to_string(&mut text)
                .map_err(|e| bad(format!("reading {}: {e}", path.display())))?;
            let m: Manifest = serde_json::from_str(&text)
                .map_err(|e| bad(format!("{} is not valid JSON: {e}", path.display())))?;
            if m.name.is_empty() || m.version.is_empty() {
                return Err(bad(format!("{} has no name or version", path.display())));
            }
            check_manifest(&m, "package.json")?;
            return Ok(m);
        }
    }
    Err(bad(
        "not an npm package: no package.json at the top level of the tarball".into(),
    ))
}

/// Packs a package directory into a `.tgz` like `npm pack` (top folder `package/`),
/// leaving out node_modules and VCS folders. Returns the manifest read from the directory.
pub fn pack_dir(dir: &Path, dest: &Path) -> Result<Manifest, RegistryError> {
    let pj = dir.join("package.json");
    let text = std::fs::read_to_string(&pj).map_err(|e| RegistryError::Io {
        path: pj.clone(),
        source: e,
    })?;
    let m: Manifest = serde_json::from_str(&text).map_err(|e| RegistryError::BadArtifact {
        path: pj.clone(),
        message: format!("not valid JSON: {e}"),
    })?;
    if m.name.is_empty() || m.version.is_empty() {
        return Err(RegistryError::BadArtifact {
            path: pj,
            message: "package.json has no name or version".into(),
        });
    }
    check_manifest(&m, "package.json")?;
    let out = std::fs::File::create(dest).map_err(|e| RegistryError::Io {
        path: dest.to_path_buf(),
        source: e,
    })?;
    let gz = flate2::write::GzEncoder::new(out, flate2::Compression::fast());
    let mut builder = tar::Builder::new(gz);
    builder.follow_symlinks(false);
    let io = |e: std::io::Error| RegistryError::Io {
        path: dir.to_path_buf(),
        source: e,
    };
    add_dir(&mut builder, dir, Path::new("package")).map_err(io)?;
    builder
        .into_inner()
        .and_then(|gz| gz.finish())
        .map_err(io)?;
    Ok(m)
}

fn add_dir<W: std::io::Write>(
    b: &mut tar::Builder<W>,
    dir: &Path,
    prefix: &Path,
) -> std::io::Result<()> {
    let mut entries: Vec<_> = std::fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|e| e.file_name());
    for e in entries {
        let name = e.file_name();
        if name == "node_modules" || name == ".git" || name == ".hg" || name == ".svn" {
            continue;
        }
        let path = e.path();
        let ft = e.file_type()?;
        if ft.is_dir() {
            add_dir(b, &path, &prefix.join(&name))?;
        } else if ft.is_file() || ft.is_symlink() {
            b.append_path_with_name(&path, prefix.join(&name))?;
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn specs() {
        assert_eq!(
            parse_spec("left-pad@1.3.0"),
            Some(("left-pad".into(), "1.3.0".into()))
        );
        assert_eq!(
            parse_spec("@types/node@20.1.0"),
            Some(("@types/node".into(), "20.1.0".into()))
        );
        assert_eq!(
            parse_spec("@types/node"),
            Some(("@types/node".into(), "latest".into()))
        );
        assert_eq!(
            parse_spec("express"),
            Some(("express".into(), "latest".into()))
        );
        assert_eq!(parse_spec("a/b@1"), None);
        for bad in [
            "x@../../etc/passwd",
            "x@/abs",
            "x@1.0.0\n",
            "x@1\0",
            "../x@1.0.0",
            "/abs@1.0.0",
            "x\ny@1.0.0",
            "@s/../x@1.0.0",
        ] {
            assert!(check_spec(bad).is_err(), "{bad:?}");
        }
        let e = check_spec("x@../y").unwrap_err().to_string();
        assert!(e.contains("the version"), "{e}");
        assert_eq!(parse_spec("@x@1"), None);
        assert_eq!(parse_spec("x@"), None);
    }

    #[test]
    fn integrity() {
        let b64 = base64::engine::general_purpose::STANDARD;
        let data = b"hello";
        let sri = format!("sha512-{}", b64.encode(sha2::Sha512::digest(data)));
        assert_eq!(verify_integrity(data, Some(&sri), None).unwrap(), sri);
        assert!(verify_integrity(b"hellp", Some(&sri), None)
            .unwrap_err()
            .contains("mismatch"));
        let sha1 = hex::encode(sha1::Sha1::digest(data));
        assert!(verify_integrity(data, None, Some(&sha1)).is_ok());
        assert!(verify_integrity(b"x", None, Some(&sha1)).is_err());
        assert!(verify_integrity(data, None, None).is_err());
        // the strongest algorithm decides, a wrong weak one does not rescue it
        let mixed = format!("sha1-AAAA {sri}");
        assert!(verify_integrity(data, Some(&mixed), None).is_ok());
    }

    #[test]
    fn manifest_from_tarball_and_errors() {
        let dir = tempfile::tempdir().unwrap();
        let pkg = dir.path().join("pkg");
        std::fs::create_dir_all(pkg.join("node_modules/x")).unwrap();
        std::fs::write(
            pkg.join("package.json"),
            r#"{"name":"demo","version":"1.2.3","scripts":{"postinstall":"node i.js"}}"#,
        )
        .unwrap();
        std::fs::write(pkg.join("i.js"), "1").unwrap();
        std::fs::write(pkg.join("node_modules/x/a.js"), "1").unwrap();
        let tgz = dir.path().join("demo.tgz");
        pack_dir(&pkg, &tgz).unwrap();
        let m = read_manifest(&tgz).unwrap();
        assert_eq!((m.name.as_str(), m.version.as_str()), ("demo", "1.2.3"));
        assert_eq!(m.install_scripts(), vec![("postinstall", "node i.js")]);
        // node_modules is not packed
        let mut a = tar::Archive::new(flate2::read::GzDecoder::new(
            std::fs::File::open(&tgz).unwrap(),
        ));
        let names: Vec<String> = a
            .entries()
            .unwrap()
            .map(|e| e.unwrap().path().unwrap().display().to_string())
            .collect();
        assert!(names.contains(&"package/i.js".to_string()));
        assert!(
            !names.iter().any(|n| n.contains("node_modules")),
            "{names:?}"
        );

        let bad = dir.path().join("bad.tgz");
        std::fs::write(&bad, b"this is not gzip").unwrap();
        assert!(read_manifest(&bad)
            .unwrap_err()
            .to_string()
            .contains("not a gzip"));
        let mut cut = std::fs::read(&tgz).unwrap();
        cut.truncate(cut.len() / 2);
        std::fs::write(&bad, &cut).unwrap();
        // a truncated gzip stream is an error (or, if package.json came first, still fine)
        let r = read_manifest(&bad);
        assert!(r.is_err() || r.unwrap().name == "demo");
        std::fs::write(&bad, [0x1f, 0x8b, 0, 0]).unwrap();
        assert!(read_manifest(&bad)
            .unwrap_err()
            .to_string()
            .contains("corrupt"));
    }
}

#[cfg(test)]
mod main_false_tests {
    #[test]
    fn main_false_is_a_valid_manifest() {
        // math-intrinsics, dunder-proto and others publish `"main": false`.
        let m: super::Manifest =
            serde_json::from_str(r#"{"name":"math-intrinsics","version":"1.1.0","main":false}"#)
                .unwrap();
        assert_eq!(m.name, "math-intrinsics");
        assert_eq!(m.main, Some(serde_json::Value::Bool(false)));
    }
}
