//! pip's installation report (`pip install --dry-run --report`, format version 1): the
//! distributions a resolution pins, with their URLs and sha256, as the `airlock pip`
//! wrapper checks them; the dependency path of each; the requirements file that makes the
//! real pip install exactly those files; and the verified download of one of them.

use std::collections::{HashMap, VecDeque};
use std::path::{Path, PathBuf};

use airlock_events::Ecosystem;
use serde::Deserialize;

use super::normalize_name;
use crate::artifact::Input;
use crate::pinned::Pinned;
use crate::RegistryError;

/// The parts of pip's installation report (`--report`, format version 1) used here.
#[derive(Debug, Deserialize)]
pub struct InstallReport {
    #[serde(default)]
    pub install: Vec<ReportItem>,
}

/// One distribution pip would install.
#[derive(Debug, Deserialize)]
pub struct ReportItem {
    pub download_info: DownloadInfo,
    #[serde(default)]
    pub requested: bool,
    pub metadata: ItemMeta,
}

#[derive(Debug, Deserialize)]
pub struct DownloadInfo {
    pub url: String,
    #[serde(default)]
    pub archive_info: Option<ArchiveInfo>,
}

#[derive(Debug, Deserialize)]
pub struct ArchiveInfo {
    #[serde(default)]
    pub hash: Option<String>,
    #[serde(default)]
    pub hashes: HashMap<String, String>,
}

#[derive(Debug, Deserialize)]
pub struct ItemMeta {
    pub name: String,
    pub version: String,
    #[serde(default)]
    pub requires_dist: Vec<String>,
}

impl ReportItem {
    /// The sha256 pip recorded for the distribution.
    pub fn sha256(&self) -> Option<String> {
        let a = self.download_info.archive_info.as_ref()?;
        a.hashes.get("sha256").cloned().or_else(|| {
            a.hash
                .as_deref()
                .and_then(|h| h.strip_prefix("sha256="))
                .map(String::from)
        })
    }
}

/// The project name at the start of a requirement string.
fn req_name(req: &str) -> String {
    let end = req
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_')))
        .unwrap_or(req.len());
    normalize_name(&req[..end])
}

/// For every item, the chain of names from the requested ones that pulls it in.
pub fn dependency_paths(items: &[ReportItem]) -> Vec<Vec<String>> {
    let idx: HashMap<String, usize> = items
        .iter()
        .enumerate()
        .map(|(i, it)| (normalize_name(&it.metadata.name), i))
        .collect();
    let mut parent: Vec<Option<Option<usize>>> = vec![None; items.len()];
    let mut q = VecDeque::new();
    for (i, it) in items.iter().enumerate() {
        if it.requested {
            parent[i] = Some(None);
            q.push_back(i);
        }
    }
    while let Some(i) = q.pop_front() {
        for r in &items[i].metadata.requires_dist {
            if let Some(&j) = idx.get(&req_name(r)) {
                if parent[j].is_none() {
                    parent[j] = Some(Some(i));
                    q.push_back(j);
                }
            }
        }
    }
    (0..items.len())
        .map(|i| {
            let mut chain = Vec::new();
            let mut cur = Some(i);
            while let Some(c) = cur {
                chain.push(items[c].metadata.name.clone());
                cur = parent[c].flatten();
                if chain.len() > items.len() {
                    break;
                }
            }
            chain.push("(requirements)".into());
            chain.reverse();
            chain
        })
        .collect()
}

impl InstallReport {
    /// Every distribution as a [`Pinned`] artifact, with its dependency path; an error
    /// when pip recorded no sha256 for one (nothing could check its bytes).
    pub fn pinned(&self) -> Result<Vec<Pinned>, RegistryError> {
        let chains = dependency_paths(&self.install);
        let mut out = Vec::with_capacity(self.install.len());
        for (it, path) in self.install.iter().zip(chains) {
            let Some(sha) = it.sha256() else {
                return Err(RegistryError::Invalid {
                    field: "pip's report".into(),
                    value: it.metadata.name.clone(),
                    reason: format!("no sha256 for {}", it.download_info.url),
                });
            };
            out.push(Pinned {
                ecosystem: Ecosystem::Pypi,
                name: it.metadata.name.clone(),
                version: it.metadata.version.clone(),
                hash: Some(sha),
                input: Input::Pypi {
                    name: it.metadata.name.clone(),
                    version: Some(it.metadata.version.clone()),
                },
                registry: None,
                path,
                unanalyzable: None,
                fetch_url: Some(it.download_info.url.clone()),
            });
        }
        Ok(out)
    }
}

/// A requirements file pinning every item to its version and sha256
/// (`name==version --hash=sha256:…`), for `pip install --require-hashes --no-deps`.
pub fn pinned_requirements(items: &[ReportItem]) -> String {
    let mut text = String::new();
    for it in items {
        if let Some(sha) = it.sha256() {
            text.push_str(&format!(
                "{}=={} --hash=sha256:{sha}\n",
                it.metadata.name, it.metadata.version
            ));
        }
    }
    text
}

/// Downloads a distribution pip resolved into `dir` and checks its sha256.
pub fn download_resolved(url: &str, sha256: &str, dir: &Path) -> Result<PathBuf, RegistryError> {
    use sha2::Digest;
    let http = |message: String| RegistryError::Http {
        url: url.to_string(),
        message,
    };
    if !(url.starts_with("https://") || url.starts_with("http://")) {
        return Err(http("not an http(s) URL".into()));
    }
    let file = url
        .split(['#', '?'])
        .next()
        .and_then(|u| u.rsplit('/').next())
        .filter(|f| !f.is_empty() && !f.contains(".."))
        .unwrap_or("dist");
    let bytes = crate::http::download(url, 512 << 20, "distribution")?;
    let got = hex::encode(sha2::Sha256::digest(&bytes));
    if !got.eq_ignore_ascii_case(sha256) {
        return Err(http(format!("sha256 is {got}, pip resolved {sha256}")));
    }
    let path = dir.join(file);
    std::fs::write(&path, &bytes).map_err(|source| RegistryError::Io {
        path: path.clone(),
        source,
    })?;
    Ok(path)
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const REPORT: &str = r#"{"version":"1","install":[
      {"download_info":{"url":"https://files.example/a-1.0-py3-none-any.whl",
        "archive_info":{"hash":"sha256=aa","hashes":{"sha256":"aa"}}},
       "requested":true,"metadata":{"name":"A","version":"1.0","requires_dist":["b-pkg>=1 ; python_version>'3'"]}},
      {"download_info":{"url":"https://files.example/b_pkg-2.0-py3-none-any.whl",
        "archive_info":{"hash":"sha256=bb"}},
       "requested":false,"metadata":{"name":"b_pkg","version":"2.0"}}
    ]}"#;

    #[test]
    fn report_paths_and_hashes() {
        let r: InstallReport = serde_json::from_str(REPORT).unwrap();
        let p = dependency_paths(&r.install);
        assert_eq!(p[1], vec!["(requirements)", "A", "b_pkg"]);
        assert_eq!(r.install[1].sha256().as_deref(), Some("bb"));
        let t = pinned_requirements(&r.install);
        assert!(t.contains("A==1.0 --hash=sha256:aa\n"));
        let pinned = r.pinned().unwrap();
        assert_eq!(pinned[1].spec(), "b_pkg==2.0");
        assert_eq!(pinned[1].path, p[1]);
        assert_eq!(pinned[1].hash.as_deref(), Some("bb"));
    }
}
