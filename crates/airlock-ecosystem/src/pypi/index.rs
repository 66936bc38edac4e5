//! The PyPI JSON API: choosing the artifact `pip install name==version` would install,
//! downloading it through the one HTTP client and checking its sha256.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use sha2::Digest;

use super::*;
use crate::RegistryError;

// ---- fetching --------------------------------------------------------------------

/// One file of a PyPI release, as the JSON API lists it.
#[derive(Debug, Clone, Deserialize)]
pub struct ReleaseFile {
    pub filename: String,
    pub url: String,
    #[serde(default)]
    pub packagetype: String,
    #[serde(default)]
    pub digests: BTreeMap<String, String>,
    #[serde(default)]
    pub yanked: bool,
    #[serde(default)]
    pub upload_time_iso_8601: Option<String>,
}

#[derive(Deserialize)]
pub(super) struct ReleaseDoc {
    info: ReleaseInfo,
    #[serde(default)]
    urls: Vec<ReleaseFile>,
}

#[derive(Deserialize)]
pub(super) struct ReleaseInfo {
    version: String,
}

#[derive(Deserialize)]
pub(super) struct ProjectDoc {
    // `info` and `urls` (the latest release) are not needed here.
    #[serde(default)]
    releases: BTreeMap<String, Vec<ReleaseFile>>,
}

/// The file `pip install name==version` would pick on the sandbox: the best compatible
/// wheel, else the sdist (`.tar.gz` before `.zip`).
pub fn choose_artifact<'a>(
    files: &'a [ReleaseFile],
    py: &crate::runtime::PythonRuntime,
) -> Option<&'a ReleaseFile> {
    let wheel = files
        .iter()
        .filter_map(|f| wheel_rank(&f.filename, py).map(|r| (r, f)))
        .max_by_key(|(r, _)| *r)
        .map(|(_, f)| f);
    wheel.or_else(|| {
        let sdists = files.iter().filter(|f| {
            ArtifactKind::from_file_name(&f.filename).is_some_and(ArtifactKind::is_sdist)
        });
        sdists.min_by_key(|f| !f.filename.to_ascii_lowercase().ends_with(".tar.gz"))
    })
}

/// A downloaded, verified PyPI artifact.
#[derive(Debug, Clone)]
pub struct PyFetched {
    pub path: PathBuf,
    pub name: String,
    pub version: String,
    pub file_name: String,
    pub kind: ArtifactKind,
    pub sha256: String,
}

/// GETs a JSON document; `None` on 404. Also returns the URL the document finally came
/// from (after redirects): relative URLs in it are relative to that.
pub(super) fn get_json<T: serde::de::DeserializeOwned>(
    url: &str,
) -> Result<Option<(T, String)>, RegistryError> {
    match crate::http::client().get(url).call() {
        Ok(r) => {
            let base = r.get_url().to_string();
            r.into_json()
                .map(|doc| Some((doc, base)))
                .map_err(|e| RegistryError::Http {
                    url: url.into(),
                    message: format!("bad JSON: {e}"),
                })
        }
        Err(ureq::Error::Status(404, _)) => Ok(None),
        Err(e) => Err(RegistryError::Http {
            url: url.into(),
            message: e.to_string(),
        }),
    }
}

/// Fetches `name` at `version` (`None`: latest) from `index` (e.g. [`DEFAULT_INDEX`])
/// into `dest_dir`: picks the artifact with [`choose_artifact`], downloads it and
/// checks it against the sha256 the index lists (a file without one is refused).
pub fn fetch(
    index: &str,
    name: &str,
    version: Option<&str>,
    dest_dir: &Path,
    py: &crate::runtime::PythonRuntime,
) -> Result<PyFetched, RegistryError> {
    let index = index.trim_end_matches('/');
    let url = match version {
        Some(v) => format!("{index}/pypi/{name}/{v}/json"),
        None => format!("{index}/pypi/{name}/json"),
    };
    let (doc, base) = match get_json::<ReleaseDoc>(&url)? {
        Some(found) => found,
        None => {
            // Some mirrors serve only the project document; it lists every release too.
            let project_url = format!("{index}/pypi/{name}/json");
            let project = match version {
                Some(_) => get_json::<ProjectDoc>(&project_url)?,
                None => None,
            };
            match (version, project) {
                (Some(v), Some((mut p, base))) => match p.releases.remove(v) {
                    Some(files) if !files.is_empty() => (
                        ReleaseDoc {
                            info: ReleaseInfo { version: v.into() },
                            urls: files,
                        },
                        base,
                    ),
                    _ => {
                        return Err(RegistryError::NotFound {
                            what: format!(
                                "version {v} of PyPI project {name} (recent: {})",
                                recent_versions(&p.releases, 5).join(", ")
                            ),
                            registry: index.into(),
                        })
                    }
                },
                _ => {
                    return Err(RegistryError::NotFound {
                        what: format!("PyPI project {name}"),
                        registry: index.into(),
                    })
                }
            }
        }
    };
    let Some(file) = choose_artifact(&doc.urls, py) else {
        return Err(RegistryError::NotFound {
            what: format!(
                "an artifact of {name} {} installable on CPython 3.11 manylinux x86_64 (files: {})",
                doc.info.version,
                doc.urls
                    .iter()
                    .map(|f| f.filename.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            registry: index.into(),
        });
    };
    let file_name = file.filename.clone();
    if file_name.contains(['/', '\\']) || file_name.starts_with('.') || file_name.is_empty() {
        return Err(RegistryError::BadArtifact {
            path: PathBuf::from(&file_name),
            message: "the index lists a file name that is not a plain name".into(),
        });
    }
    // Mirrors (and pypi.org behind some proxies) list files relative to the document.
    let file_url = resolve_file_url(&base, &file.url)?;
    let Some(expected) = file.digests.get("sha256").map(|s| s.to_ascii_lowercase()) else {
        return Err(RegistryError::Integrity {
            url: file_url,
            message: "the index lists no sha256 digest for this file".into(),
        });
    };
    let bytes = download(&file_url)?;
    let actual = hex::encode(sha2::Sha256::digest(&bytes));
    if actual != expected {
        return Err(RegistryError::Integrity {
            url: file_url,
            message: format!(
                "sha256 mismatch: index says {expected}, downloaded bytes hash to {actual}"
            ),
        });
    }
    let path = dest_dir.join(&file_name);
    std::fs::write(&path, &bytes).map_err(|e| RegistryError::Io {
        path: path.clone(),
        source: e,
    })?;
    let kind =
        ArtifactKind::from_file_name(&file_name).ok_or_else(|| RegistryError::BadArtifact {
            path: path.clone(),
            message: "unknown artifact kind".into(),
        })?;
    Ok(PyFetched {
        path,
        name: name.to_string(),
        version: doc.info.version,
        file_name,
        kind,
        sha256: actual,
    })
}

/// A file URL as an index lists it (absolute, or relative like
/// `../../packages/ab/cd/x.whl#sha256=…`) made absolute against the URL of the page or
/// document that listed it (PEP 503/691: relative URLs are relative to the page). The
/// fragment is dropped, and only http(s) URLs are accepted.
pub fn resolve_file_url(base: &str, href: &str) -> Result<String, RegistryError> {
    let bad = |message: String| RegistryError::Http {
        url: href.to_string(),
        message,
    };
    let base = url::Url::parse(base).map_err(|e| bad(format!("bad index URL {base}: {e}")))?;
    let mut u = base
        .join(href.trim())
        .map_err(|e| bad(format!("bad file URL: {e}")))?;
    if !matches!(u.scheme(), "http" | "https") {
        return Err(bad(format!(
            "the index lists a {} URL; only http(s) is fetched",
            u.scheme()
        )));
    }
    u.set_fragment(None);
    Ok(u.into())
}

/// The `n` most recently uploaded versions, newest first.
pub(super) fn recent_versions(
    releases: &BTreeMap<String, Vec<ReleaseFile>>,
    n: usize,
) -> Vec<String> {
    let mut v: Vec<(String, &String)> = releases
        .iter()
        .map(|(ver, files)| {
            let t = files
                .iter()
                .filter_map(|f| f.upload_time_iso_8601.clone())
                .max()
                .unwrap_or_default();
            (t, ver)
        })
        .collect();
    v.sort();
    v.iter()
        .rev()
        .take(n)
        .map(|(_, ver)| ver.to_string())
        .collect()
}

pub(super) fn download(url: &str) -> Result<Vec<u8>, RegistryError> {
    crate::http::download(url, MAX_ARTIFACT, "artifact")
}
