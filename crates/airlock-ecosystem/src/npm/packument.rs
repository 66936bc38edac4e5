//! The npm registry's view of a package's history (the full packument: versions,
//! maintainers and publishers, provenance) and the automatic comparison with the version
//! published before the one scanned — the chalk/debug shape, where a release adds an
//! install script or obfuscated code, or a new maintainer publishes it. Used by
//! `airlock scan name@version` and `airlock diff`.

use std::collections::{BTreeMap, HashMap};
use std::path::Path;
use std::sync::{Arc, Mutex, OnceLock};

use airlock_events::Event;
use airlock_static::diff::{self, RegistryMeta};
use airlock_static::ScanOptions;
use serde::Deserialize;
use serde_json::Value;

use crate::RegistryError;

#[derive(Deserialize)]
struct Packument {
    #[serde(default, rename = "dist-tags")]
    dist_tags: BTreeMap<String, String>,
    #[serde(default)]
    versions: BTreeMap<String, VersionMeta>,
}

#[derive(Deserialize)]
struct VersionMeta {
    #[serde(default)]
    maintainers: Vec<Person>,
    #[serde(default, rename = "_npmUser")]
    npm_user: Option<Person>,
    #[serde(default)]
    dist: Option<DistMeta>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Person {
    Object {
        #[serde(default)]
        name: Option<String>,
    },
    Text(String),
}

impl Person {
    fn name(&self) -> Option<String> {
        match self {
            Person::Object { name } => name.clone(),
            // "Name <email> (url)"
            Person::Text(s) => s.split('<').next().map(|n| n.trim().to_string()),
        }
        .filter(|n| !n.is_empty())
    }
}

#[derive(Deserialize)]
struct DistMeta {
    #[serde(default)]
    attestations: Option<Value>,
}

/// What the full packument says about a package's versions.
pub struct PackageMeta {
    pub meta: RegistryMeta,
    /// Every published version, oldest first.
    pub versions: Vec<String>,
    /// `latest`, `next`, ... → version.
    pub dist_tags: BTreeMap<String, String>,
}

/// Fetches the full packument (`Accept: application/json`: the abbreviated document
/// has neither maintainers nor publishers) and keeps maintainers and provenance per
/// version. A version's maintainers are its `maintainers` plus its publisher.
pub fn fetch_meta(registry: &str, name: &str) -> Result<PackageMeta, RegistryError> {
    let registry = registry.trim_end_matches('/');
    let url = format!("{registry}/{}", name.replace('/', "%2f"));
    let http = |message: String| RegistryError::Http {
        url: url.clone(),
        message,
    };
    let resp = crate::http::client()
        .get(&url)
        .set("Accept", "application/json")
        .call()
        .map_err(|e| http(e.to_string()))?;
    let doc: Packument = serde_json::from_reader(std::io::BufReader::new(resp.into_reader()))
        .map_err(|e| http(format!("bad packument: {e}")))?;
    Ok(meta_from_packument(doc))
}

fn meta_from_packument(doc: Packument) -> PackageMeta {
    let mut meta = RegistryMeta::default();
    let mut versions = Vec::new();
    for (v, m) in doc.versions {
        let mut people: Vec<String> = m.maintainers.iter().filter_map(Person::name).collect();
        people.extend(m.npm_user.as_ref().and_then(Person::name));
        people.sort();
        people.dedup();
        if !people.is_empty() {
            meta.maintainers.insert(v.clone(), people);
        }
        let attested = m
            .dist
            .as_ref()
            .and_then(|d| d.attestations.as_ref())
            .is_some_and(|a| !a.is_null());
        meta.has_provenance.insert(v.clone(), attested);
        versions.push(v);
    }
    versions.sort_by(|a, b| airlock_static::audit::cmp_version(a, b));
    PackageMeta {
        meta,
        versions,
        dist_tags: doc.dist_tags,
    }
}

fn is_prerelease(v: &str) -> bool {
    v.split_once('+').map(|(a, _)| a).unwrap_or(v).contains('-')
}

/// The highest version published below `version`; prereleases only when `version` is
/// one.
pub fn previous_version<'a>(versions: &'a [String], version: &str) -> Option<&'a str> {
    let pre = is_prerelease(version);
    versions
        .iter()
        .filter(|v| pre || !is_prerelease(v))
        .filter(|v| airlock_static::audit::cmp_version(v, version) == std::cmp::Ordering::Less)
        .max_by(|a, b| airlock_static::audit::cmp_version(a, b))
        .map(String::as_str)
}

/// The automatic comparison `scan` makes for `name@version`: fetches the packument and
/// the highest version published below `version` (integrity-checked, read in memory
/// like the scanned one), and returns the diff's signals as `static` events (phase
/// `static`, ids `diff-*`), each detail naming the version compared with. No previous
/// version (a first release) gives no events. Network errors are errors; the caller
/// decides whether a scan goes on without the comparison.
pub fn previous_version_signals(
    registry: &str,
    name: &str,
    version: &str,
    new_tgz: &Path,
) -> Result<Vec<Event>, RegistryError> {
    let pm = fetch_meta(registry, name)?;
    let Some(prev) = previous_version(&pm.versions, version) else {
        return Ok(Vec::new());
    };
    let work = tempfile::Builder::new()
        .prefix("airlock-prev-")
        .tempdir()
        .map_err(|source| RegistryError::Io {
            path: std::env::temp_dir(),
            source,
        })?;
    let f = crate::npm::fetch(registry, name, prev, work.path())?;
    let opts = ScanOptions::default();
    let d = diff::diff_archives(&f.path, new_tgz, &opts, Some((&pm.meta, prev, version))).map_err(
        |e| RegistryError::BadArtifact {
            path: f.path.clone(),
            message: format!("comparing with {prev}: {e}"),
        },
    )?;
    let ts = airlock_events::now();
    Ok(d.signals
        .into_iter()
        .map(|mut s| {
            s.detail = format!("{} (compared with {prev})", s.detail);
            s.to_event(ts)
        })
        .collect())
}

/// The publish time of every version a packument's `time` map names (`created` and
/// `modified` are not versions; unparsable entries are left out).
pub fn publish_times(doc: &Value) -> BTreeMap<String, crate::release_age::Timestamp> {
    doc["time"]
        .as_object()
        .map(|m| {
            m.iter()
                .filter(|(k, _)| !matches!(k.as_str(), "created" | "modified" | "unpublished"))
                .filter_map(|(k, v)| {
                    Some((k.clone(), crate::release_age::parse_time(v.as_str()?)?))
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Publish times already fetched in this process, by `registry|name`.
type TimesMemo = Mutex<HashMap<String, Arc<BTreeMap<String, crate::release_age::Timestamp>>>>;

fn times_memo() -> &'static TimesMemo {
    static MEMO: OnceLock<TimesMemo> = OnceLock::new();
    MEMO.get_or_init(|| Mutex::new(HashMap::new()))
}

/// When `name`@`version` was published on `registry` (the release-age gate): the
/// packument's `time[version]`. The abbreviated document is asked for first — some
/// registries put `time` in it, and it is much smaller — and the full one when it has no
/// publish times. One packument per name and process serves every version of that name
/// (a version the kept document does not know fetches it again). `Ok(None)` when the
/// registry has no such package or gives no time for the version.
pub fn published(
    registry: &str,
    name: &str,
    version: &str,
) -> Result<Option<crate::release_age::Timestamp>, RegistryError> {
    let registry = registry.trim_end_matches('/');
    let key = format!("{registry}|{name}");
    let known = times_memo()
        .lock()
        .ok()
        .and_then(|m| m.get(&key).and_then(|t| t.get(version).copied()));
    if known.is_some() {
        return Ok(known);
    }
    let url = format!("{registry}/{}", name.replace('/', "%2f"));
    let mut times = BTreeMap::new();
    for accept in [
        "application/vnd.npm.install-v1+json; q=1.0, application/json; q=0.8",
        "application/json",
    ] {
        let doc = match crate::http::client().get(&url).set("Accept", accept).call() {
            Ok(r) => {
                serde_json::from_reader::<_, TimeDoc>(std::io::BufReader::new(r.into_reader()))
                    .map_err(|e| RegistryError::Http {
                        url: url.clone(),
                        message: format!("bad packument: {e}"),
                    })?
            }
            Err(ureq::Error::Status(404, _)) => return Ok(None),
            Err(e) => {
                return Err(RegistryError::Http {
                    url: url.clone(),
                    message: e.to_string(),
                })
            }
        };
        times = publish_times(&serde_json::json!({ "time": doc.time }));
        if !times.is_empty() {
            break;
        }
    }
    let found = times.get(version).copied();
    if let Ok(mut m) = times_memo().lock() {
        m.insert(key, Arc::new(times));
    }
    Ok(found)
}

/// Only the `time` map of a packument (the rest is skipped while parsing).
#[derive(Deserialize)]
struct TimeDoc {
    #[serde(default)]
    time: Option<serde_json::Map<String, Value>>,
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::expect_used)]
    use super::*;

    #[test]
    fn publish_times_from_recorded_packuments() {
        // The full document (registry.npmjs.org shape: `created`/`modified` beside the
        // versions, an unpublished marker as an object) and an abbreviated one whose
        // `time` uses an offset instead of Z.
        let full = serde_json::json!({
            "name": "left-pad",
            "time": {
                "created": "2014-03-14T17:04:49.226Z",
                "modified": "2026-12-01T10:00:00.000Z",
                "1.3.0": "2018-04-09T01:05:51.916Z",
                "1.3.1-beta.0": "not a date",
                "unpublished": {"time": "2026-01-01T00:00:00Z", "versions": []}
            },
            "versions": {"1.3.0": {}}
        });
        let t = publish_times(&full);
        assert_eq!(t.keys().collect::<Vec<_>>(), ["1.3.0"]);
        assert_eq!(t["1.3.0"].to_string(), "2018-04-09T01:05:51.916Z");
        let corgi = serde_json::json!({
            "time": {"0.0.1": "2026-09-02T13:01:24.255000+00:00"}
        });
        assert_eq!(
            publish_times(&corgi)["0.0.1"].to_string(),
            "2026-09-02T13:01:24.255Z"
        );
        // No `time` at all (some mirrors' abbreviated documents).
        assert!(publish_times(&serde_json::json!({"versions": {}})).is_empty());
        let doc: TimeDoc = serde_json::from_str(r#"{"time": null, "versions": {}}"#).unwrap();
        assert!(doc.time.is_none());
    }

    #[test]
    fn previous_version_skips_prereleases_and_compares_numerically() {
        let v: Vec<String> = ["1.9.0", "1.10.0", "1.10.1-beta.1", "2.0.0", "1.2.0"]
            .iter()
            .map(|s| s.to_string())
            .collect();
        assert_eq!(previous_version(&v, "1.10.1"), Some("1.10.0"));
        assert_eq!(previous_version(&v, "2.0.0"), Some("1.10.0"));
        assert_eq!(previous_version(&v, "1.10.1-beta.2"), Some("1.10.1-beta.1"));
        assert_eq!(previous_version(&v, "1.2.0"), None);
    }

    #[test]
    fn packument_gives_maintainers_and_provenance_per_version() {
        let doc: Packument = serde_json::from_str(
            r#"{"versions":{
              "1.0.0":{"maintainers":[{"name":"alice","email":"a@x"}],"_npmUser":{"name":"alice"},
                       "dist":{"tarball":"t","attestations":{"url":"u","provenance":{}}}},
              "1.0.1":{"maintainers":["mallory <m@x>"],"dist":{"tarball":"t"}},
              "0.9.0":{}
            }}"#,
        )
        .expect("json");
        let pm = meta_from_packument(doc);
        assert_eq!(pm.versions, ["0.9.0", "1.0.0", "1.0.1"]);
        assert_eq!(pm.meta.maintainers["1.0.0"], ["alice"]);
        assert_eq!(pm.meta.maintainers["1.0.1"], ["mallory"]);
        assert!(!pm.meta.maintainers.contains_key("0.9.0"));
        assert!(pm.meta.has_provenance["1.0.0"]);
        assert!(!pm.meta.has_provenance["1.0.1"]);
    }

    /// A package tarball: `files` under `package/`.
    fn tgz(files: &[(&str, &str)]) -> Vec<u8> {
        let files: Vec<(String, &str)> = files
            .iter()
            .map(|(name, text)| (format!("package/{name}"), *text))
            .collect();
        let files: Vec<(&str, &str)> = files.iter().map(|(n, t)| (n.as_str(), *t)).collect();
        crate::testutil::tar_gz(&files)
    }

    /// `scan name@version`'s comparison: the previous version comes from the registry
    /// (loopback here, integrity-checked), the new tarball from the caller; maintainers
    /// and provenance from the full packument. Prereleases are never "previous".
    #[test]
    fn previous_version_signals_over_a_loopback_registry() {
        use sha1::Digest as _;
        let manifest =
            |v: &str| format!("{{\"name\":\"tinted\",\"version\":\"{v}\",\"main\":\"index.js\"}}");
        let old = tgz(&[
            ("package.json", &manifest("1.0.0")),
            ("index.js", "module.exports = 1;\n"),
        ]);
        let new = tgz(&[
            ("package.json", &manifest("1.1.0")),
            (
                "index.js",
                "module.exports = 1;\nfetch('https://c2.example/x');\n",
            ),
        ]);
        let dir = tempfile::tempdir().expect("tmp");
        let new_path = dir.path().join("tinted-1.1.0.tgz");
        std::fs::write(&new_path, &new).expect("write");
        let sha1 = hex::encode(sha1::Sha1::digest(&old));
        let (base, _) = crate::testutil::serve_at(|base| {
            let packument = format!(
                r#"{{"name":"tinted","dist-tags":{{"latest":"1.1.0"}},"versions":{{
                  "0.9.0":{{"maintainers":[{{"name":"alice"}}],"dist":{{"tarball":"{base}/t-0.9.0.tgz"}}}},
                  "1.0.0":{{"maintainers":[{{"name":"alice"}}],"dist":{{"tarball":"{base}/t-1.0.0.tgz","shasum":"{sha1}","attestations":{{"url":"x"}}}}}},
                  "1.1.0":{{"maintainers":[{{"name":"alice"}}],"_npmUser":{{"name":"mallory"}},"dist":{{"tarball":"{base}/t-1.1.0.tgz"}}}},
                  "1.0.5-beta.1":{{"dist":{{"tarball":"{base}/none.tgz"}}}}
                }}}}"#
            );
            [
                ("/tinted", packument.into_bytes()),
                ("/t-1.0.0.tgz", old.clone()),
            ]
            .into_iter()
            .map(|(p, b)| (p.to_string(), (200, "application/octet-stream", b)))
            .collect()
        });
        let events =
            previous_version_signals(&base, "tinted", "1.1.0", &new_path).expect("signals");
        let sig: Vec<(String, String)> = events
            .iter()
            .filter_map(|e| match &e.kind {
                airlock_events::EventKind::StaticSignal { signal, detail, .. } => {
                    Some((signal.clone(), detail.clone()))
                }
                _ => None,
            })
            .collect();
        let ids: Vec<&str> = sig.iter().map(|(s, _)| s.as_str()).collect();
        assert_eq!(
            ids,
            [
                "diff-new-endpoint",
                "diff-maintainer-change",
                "diff-provenance-dropped"
            ],
            "{sig:?}"
        );
        assert!(
            sig.iter()
                .all(|(_, d)| d.ends_with("(compared with 1.0.0)")),
            "{sig:?}"
        );
        assert!(sig[1].1.contains("mallory"));
        assert!(events.iter().all(|e| e.phase == "static"));
        // A first release has nothing to compare with.
        let first = dir.path().join("first.tgz");
        std::fs::write(&first, tgz(&[("package.json", &manifest("0.9.0"))])).expect("write");
        assert!(previous_version_signals(&base, "tinted", "0.9.0", &first)
            .expect("none")
            .is_empty());
        // An unknown package is an error for the caller to report.
        assert!(previous_version_signals(&base, "nope", "1.0.0", &first).is_err());
    }
}
