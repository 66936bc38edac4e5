//! When a PyPI distribution was uploaded, for the release-age gate (`--min-age`): the
//! JSON API's `upload_time_iso_8601` of the exact file a resolution pinned (by its
//! sha256). Files are uploaded one by one and a release can gain a new file long after
//! its first (a new wheel that pip would prefer), so the file's own time counts, not the
//! release's; when the pinned file is not among the release's, the newest upload of the
//! release stands for it (the cautious reading).

use std::collections::BTreeMap;

use serde::Deserialize;

use super::index::get_json;
use super::ReleaseFile;
use crate::release_age::{parse_time, Timestamp};
use crate::RegistryError;

#[derive(Deserialize)]
struct VersionDoc {
    #[serde(default)]
    urls: Vec<ReleaseFile>,
}

#[derive(Deserialize)]
struct ProjectDoc {
    #[serde(default)]
    releases: BTreeMap<String, Vec<ReleaseFile>>,
}

/// The upload time of `name` `version` on `index` (JSON API `/pypi/<name>/<version>/json`,
/// else the project document `/pypi/<name>/json`, which some mirrors serve alone):
/// the file whose sha256 is `sha256`, else the release's newest file. `Ok(None)` when the
/// index does not know the release or gives no upload times.
pub fn published(
    index: &str,
    name: &str,
    version: &str,
    sha256: Option<&str>,
) -> Result<Option<Timestamp>, RegistryError> {
    let index = index.trim_end_matches('/');
    let files = match get_json::<VersionDoc>(&format!("{index}/pypi/{name}/{version}/json"))? {
        Some((doc, _)) => doc.urls,
        None => match get_json::<ProjectDoc>(&format!("{index}/pypi/{name}/json"))? {
            Some((mut doc, _)) => doc.releases.remove(version).unwrap_or_default(),
            None => return Ok(None),
        },
    };
    Ok(upload_time(&files, sha256))
}

/// The upload time of the file with `sha256` among `files`, else the newest upload.
pub fn upload_time(files: &[ReleaseFile], sha256: Option<&str>) -> Option<Timestamp> {
    let time = |f: &ReleaseFile| f.upload_time_iso_8601.as_deref().and_then(parse_time);
    if let Some(sha) = sha256 {
        let exact = files.iter().find(|f| {
            f.digests
                .get("sha256")
                .is_some_and(|d| d.eq_ignore_ascii_case(sha))
        });
        if let Some(f) = exact {
            return time(f);
        }
    }
    files.iter().filter_map(time).max()
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// six 1.16.0 as pypi.org's JSON API lists it (trimmed), plus a wheel uploaded later.
    const RELEASE: &str = r#"{"urls": [
      {"filename": "six-1.16.0-py2.py3-none-any.whl", "url": "https://files/six.whl",
       "packagetype": "bdist_wheel",
       "digests": {"sha256": "8abb2f1d86890a2dfb989f9a77cfcfd3e47c2a354b01111771326f8aa26e0254"},
       "upload_time_iso_8601": "2021-05-05T14:18:17.237677Z"},
      {"filename": "six-1.16.0.tar.gz", "url": "https://files/six.tar.gz",
       "packagetype": "sdist",
       "digests": {"sha256": "1e61c37477a1626458e36f7b1d82aa5c9b094fa4802892072e49de9c60c4c926"},
       "upload_time_iso_8601": "2021-05-05T14:18:18.379524Z"},
      {"filename": "six-1.16.0-py3-none-manylinux_2_17_x86_64.whl", "url": "https://files/late.whl",
       "digests": {"sha256": "ffff"},
       "upload_time_iso_8601": "2026-12-01T09:00:00Z"},
      {"filename": "six-1.16.0-old.egg", "url": "https://files/x.egg", "digests": {}}
    ]}"#;

    #[test]
    fn the_pinned_files_own_upload_time() {
        let doc: VersionDoc = serde_json::from_str(RELEASE).unwrap();
        let t = |s: &str| Some(s.parse::<Timestamp>().unwrap());
        assert_eq!(
            upload_time(
                &doc.urls,
                Some("8ABB2F1D86890A2DFB989F9A77CFCFD3E47C2A354B01111771326F8AA26E0254")
            ),
            t("2021-05-05T14:18:17.237677Z")
        );
        // The wheel added to an old release years later is young.
        assert_eq!(
            upload_time(&doc.urls, Some("ffff")),
            t("2026-12-01T09:00:00Z")
        );
        // A file the release does not list: its newest upload.
        assert_eq!(
            upload_time(&doc.urls, Some("0000")),
            t("2026-12-01T09:00:00Z")
        );
        assert_eq!(upload_time(&doc.urls, None), t("2026-12-01T09:00:00Z"));
        assert_eq!(upload_time(&[], None), None);
    }
}
