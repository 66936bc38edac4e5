//! A local OSV export (OSV's `all.zip` or a directory of records) indexed by ecosystem
//! and package name, for the `known-malicious` check; and the dotted-version order its
//! ranges (and the npm history comparison) use.

use std::collections::{HashMap, HashSet};
use std::path::Path;

use serde_json::Value;

use super::{AuditError, RegistryFacts};

/// Affected versions of one package in one OSV record.
#[derive(Debug, Clone, Default)]
struct OsvAffected {
    id: String,
    summary: String,
    versions: HashSet<String>,
    /// (introduced, fixed-or-last) pairs; "0" introduced with no end means every version.
    ranges: Vec<(String, Option<String>, bool)>,
}

/// A local OSV export (a directory of OSV JSON files or a zip of them, like OSV's
/// `npm/all.zip`), indexed by ecosystem and package name.
#[derive(Debug, Clone, Default)]
pub struct OsvDb {
    /// (OSV ecosystem name, name as the registry compares it) → affected versions.
    by_pkg: HashMap<(&'static str, String), Vec<OsvAffected>>,
    /// The ecosystems indexed; records of others are skipped.
    ecosystems: Vec<RegistryFacts>,
    pub records: usize,
}

/// Compares dotted versions numerically where possible (1.10 > 1.9).
pub fn cmp_version(a: &str, b: &str) -> std::cmp::Ordering {
    let split = |s: &str| -> Vec<(u64, String)> {
        s.trim_start_matches('v')
            .split(['.', '-', '+'])
            .map(|p| {
                let digits: String = p.chars().take_while(char::is_ascii_digit).collect();
                (digits.parse().unwrap_or(0), p[digits.len()..].to_string())
            })
            .collect()
    };
    let (x, y) = (split(a), split(b));
    for i in 0..x.len().max(y.len()) {
        let l = x.get(i).cloned().unwrap_or((0, String::new()));
        let r = y.get(i).cloned().unwrap_or((0, String::new()));
        let o =
            l.0.cmp(&r.0)
                .then_with(|| match (l.1.is_empty(), r.1.is_empty()) {
                    (true, false) => std::cmp::Ordering::Greater,
                    (false, true) => std::cmp::Ordering::Less,
                    _ => l.1.cmp(&r.1),
                });
        if o != std::cmp::Ordering::Equal {
            return o;
        }
    }
    std::cmp::Ordering::Equal
}

impl OsvDb {
    /// An empty database indexing the records of `ecosystems`.
    pub fn new(ecosystems: &[&RegistryFacts]) -> OsvDb {
        OsvDb {
            ecosystems: ecosystems.iter().map(|f| **f).collect(),
            ..OsvDb::default()
        }
    }

    /// Loads a directory (searched recursively for `*.json`) or a `.zip` of OSV records,
    /// keeping those of `ecosystems` (each names its OSV ecosystem and how it compares
    /// package names).
    pub fn load(path: &Path, ecosystems: &[&RegistryFacts]) -> Result<OsvDb, AuditError> {
        let mut db = OsvDb::new(ecosystems);
        let io = |source| AuditError::Io {
            path: path.into(),
            source,
        };
        if path.is_dir() {
            let mut stack = vec![path.to_path_buf()];
            while let Some(dir) = stack.pop() {
                for entry in std::fs::read_dir(&dir).map_err(io)? {
                    let p = entry.map_err(io)?.path();
                    if p.is_dir() {
                        stack.push(p);
                    } else if p.extension().is_some_and(|e| e == "json") {
                        let text =
                            std::fs::read_to_string(&p).map_err(|source| AuditError::Io {
                                path: p.clone(),
                                source,
                            })?;
                        db.add_json(&p, &text)?;
                    }
                }
            }
        } else {
            let bytes = std::fs::read(path).map_err(io)?;
            // An OSV export is large (npm's all.zip: hundreds of thousands of records):
            // each record is handed over as it is read, none is kept.
            let limits = crate::archive::Limits {
                max_total_bytes: 64 << 30,
                max_entries: 10_000_000,
                max_entry_bytes: 64 << 20,
                ..crate::archive::Limits::default()
            };
            let mut failed: Option<AuditError> = None;
            let ar = crate::archive::visit(
                &bytes,
                &limits,
                crate::archive::Root::AsIs,
                &mut |name, content| {
                    if failed.is_some() || !name.ends_with(".json") {
                        return;
                    }
                    let text = String::from_utf8_lossy(content);
                    if let Err(e) = db.add_json(&path.join(name), &text) {
                        failed = Some(e);
                    }
                },
            )
            .map_err(|e| AuditError::Osv {
                path: path.into(),
                message: e.to_string(),
            })?;
            if let Some(e) = failed {
                return Err(e);
            }
            if !ar.complete {
                let why: Vec<&str> = ar.issues.iter().map(|i| i.detail.as_str()).collect();
                return Err(AuditError::Osv {
                    path: path.into(),
                    message: format!("read only in part: {}", why.join("; ")),
                });
            }
        }
        Ok(db)
    }

    /// Adds one OSV record given as JSON text.
    pub fn add_json(&mut self, path: &Path, text: &str) -> Result<(), AuditError> {
        let v: Value = serde_json::from_str(text).map_err(|e| AuditError::Osv {
            path: path.into(),
            message: e.to_string(),
        })?;
        let id = v
            .get("id")
            .and_then(Value::as_str)
            .unwrap_or("?")
            .to_string();
        let summary = v
            .get("summary")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        self.records += 1;
        for a in v
            .get("affected")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let Some(pkg) = a.get("package") else {
                continue;
            };
            let Some(eco) = pkg
                .get("ecosystem")
                .and_then(Value::as_str)
                .and_then(|e| self.ecosystems.iter().find(|f| f.osv_ecosystem == e))
                .copied()
            else {
                continue;
            };
            let Some(name) = pkg.get("name").and_then(Value::as_str) else {
                continue;
            };
            let mut aff = OsvAffected {
                id: id.clone(),
                summary: summary.clone(),
                ..Default::default()
            };
            for ver in a
                .get("versions")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                if let Some(s) = ver.as_str() {
                    aff.versions.insert(s.to_string());
                }
            }
            for r in a
                .get("ranges")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                let mut introduced = None;
                for ev in r
                    .get("events")
                    .and_then(Value::as_array)
                    .into_iter()
                    .flatten()
                {
                    if let Some(i) = ev.get("introduced").and_then(Value::as_str) {
                        introduced = Some(i.to_string());
                    } else if let Some(f) = ev.get("fixed").and_then(Value::as_str) {
                        aff.ranges.push((
                            introduced.take().unwrap_or_else(|| "0".into()),
                            Some(f.to_string()),
                            false,
                        ));
                    } else if let Some(l) = ev.get("last_affected").and_then(Value::as_str) {
                        aff.ranges.push((
                            introduced.take().unwrap_or_else(|| "0".into()),
                            Some(l.to_string()),
                            true,
                        ));
                    }
                }
                if let Some(i) = introduced {
                    aff.ranges.push((i, None, false));
                }
            }
            self.by_pkg
                .entry((eco.osv_ecosystem, (eco.normalize_name)(name)))
                .or_default()
                .push(aff);
        }
        Ok(())
    }

    /// OSV ids (with summaries) that list `name@version` of `eco` as affected.
    pub fn lookup(&self, eco: &RegistryFacts, name: &str, version: &str) -> Vec<(String, String)> {
        let key = (eco.osv_ecosystem, (eco.normalize_name)(name));
        let Some(list) = self.by_pkg.get(&key) else {
            return Vec::new();
        };
        list.iter()
            .filter(|a| {
                a.versions.contains(version)
                    || a.ranges.iter().any(|(intro, end, inclusive)| {
                        let after =
                            intro == "0" || cmp_version(version, intro) != std::cmp::Ordering::Less;
                        let before = match end {
                            None => true,
                            Some(e) if *inclusive => {
                                cmp_version(version, e) != std::cmp::Ordering::Greater
                            }
                            Some(e) => cmp_version(version, e) == std::cmp::Ordering::Less,
                        };
                        after && before
                    })
            })
            .map(|a| (a.id.clone(), a.summary.clone()))
            .collect()
    }
}
