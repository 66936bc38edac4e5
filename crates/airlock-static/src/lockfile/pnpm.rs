//! pnpm-lock.yaml (v5, v6, v9), read line by line so every entry keeps its line. See
//! [`parse`].

use std::collections::{HashMap, HashSet};

use super::{is_git, LockedPackage as Entry, Problem};

/// Splits a pnpm package key (`/name/1.0.0`, `/name@1.0.0`, `name@1.0.0(peer@2)`).
fn pnpm_key(key: &str) -> (String, Option<String>) {
    let k = key.trim().trim_matches(['\'', '"']).trim_start_matches('/');
    let k = k.split('(').next().unwrap_or(k);
    let at = if let Some(rest) = k.strip_prefix('@') {
        rest.find('@').map(|i| i + 1)
    } else {
        k.find('@')
    };
    if let Some(i) = at {
        return (k[..i].to_string(), Some(k[i + 1..].to_string()));
    }
    // v5: /name/version or /@scope/name/version
    match k.rsplit_once('/') {
        Some((n, v)) => (
            n.to_string(),
            Some(v.split('_').next().unwrap_or(v).to_string()),
        ),
        None => (k.to_string(), None),
    }
}

/// Reads `{a: b, c: d}` flow maps as pnpm writes them.
fn flow_map(s: &str) -> HashMap<String, String> {
    s.trim()
        .trim_start_matches('{')
        .trim_end_matches('}')
        .split(", ")
        .filter_map(|kv| kv.split_once(':'))
        .map(|(k, v)| {
            (
                k.trim().to_string(),
                v.trim().trim_matches(['\'', '"']).to_string(),
            )
        })
        .collect()
}

/// pnpm-lock.yaml: the `packages` section (v5, v6, v9) with each entry's `resolution`,
/// written as a flow map (`{integrity: ..., tarball: ...}`, what pnpm writes) or as a
/// block. An entry in another shape, or without a resolution, is a [`Problem`]: a
/// parser that skipped it would hide the tarball it points at.
pub fn parse(text: &str) -> (Vec<Entry>, Vec<Problem>) {
    let mut out: Vec<Entry> = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut in_packages = false;
    let mut in_snapshots = false;
    let mut in_resolution = false;
    let mut has_resolution: Vec<bool> = Vec::new();
    let mut snapshot_key = String::new();
    let mut optional_snapshots: HashSet<String> = HashSet::new();
    let apply = |e: &mut Entry, m: &HashMap<String, String>| {
        if let Some(i) = m.get("integrity") {
            e.integrity = Some(i.clone());
        }
        if let Some(tb) = m.get("tarball") {
            e.resolved = Some(tb.clone());
        }
        if m.get("type").map(String::as_str) == Some("git") || m.contains_key("commit") {
            let repo = m.get("repo").cloned().unwrap_or_default();
            let commit = m.get("commit").cloned().unwrap_or_default();
            e.resolved = Some(format!("git+{repo}#{commit}"));
        }
        if m.contains_key("directory") {
            e.local = true;
        }
    };
    for (i, line) in text.lines().enumerate() {
        let lineno = i as u32 + 1;
        let t = line.trim();
        if t.is_empty() || t.starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        if line.starts_with('\t') || !indent.is_multiple_of(2) {
            if in_packages {
                problems.push(Problem {
                    line: Some(lineno),
                    subject: String::new(),
                    message: "indentation airlock does not read (tabs or odd spaces)".into(),
                });
            }
            continue;
        }
        if indent == 0 {
            let key = t.trim_end_matches(':').trim_matches(['\'', '"']);
            in_packages = key == "packages" && t.ends_with(':');
            in_snapshots = key == "snapshots" && t.ends_with(':');
            in_resolution = false;
            if (key == "packages" || key == "snapshots") && !t.ends_with(':') && t != "packages: {}"
            {
                problems.push(Problem {
                    line: Some(lineno),
                    subject: key.to_string(),
                    message: format!("`{key}` written in a form airlock does not read"),
                });
            }
            continue;
        }
        if in_snapshots {
            if indent == 2 {
                snapshot_key = pnpm_key(t.trim_end_matches(':').trim_end_matches(" {}")).0;
            } else if indent == 4 && t == "optional: true" {
                optional_snapshots.insert(snapshot_key.clone());
            }
            continue;
        }
        if !in_packages {
            continue;
        }
        if indent == 2 {
            in_resolution = false;
            let Some(key) = t.strip_suffix(':') else {
                problems.push(Problem {
                    line: Some(lineno),
                    subject: String::new(),
                    message: format!(
                        "package entry written in a form airlock does not read: {}",
                        crate::text::clip(t, 80)
                    ),
                });
                continue;
            };
            let (name, version) = pnpm_key(key);
            let local = name.starts_with("file:") || t.contains("file:") || t.contains("link:");
            let url = version
                .clone()
                .filter(|v| is_git(v) || v.starts_with("http"));
            let version = version.filter(|_| url.is_none());
            out.push(Entry {
                name,
                version,
                line: Some(lineno),
                local,
                spec: url.clone(),
                resolved: url,
                ..Default::default()
            });
            has_resolution.push(false);
            continue;
        }
        let Some(e) = out.last_mut() else { continue };
        if indent == 4 {
            in_resolution = false;
            if let Some(r) = t.strip_prefix("resolution:") {
                if let Some(h) = has_resolution.last_mut() {
                    *h = true;
                }
                let r = r.trim();
                if r.is_empty() {
                    in_resolution = true;
                } else if r.starts_with('{') && r.ends_with('}') {
                    apply(e, &flow_map(r));
                } else {
                    problems.push(Problem {
                        line: Some(lineno),
                        subject: e.name.clone(),
                        message: format!(
                            "{}: a resolution airlock does not read: {}",
                            e.name,
                            crate::text::clip(r, 80)
                        ),
                    });
                }
            } else if t == "optional: true" {
                e.optional = true;
            } else if let Some(v) = t.strip_prefix("version:") {
                e.version = Some(v.trim().trim_matches(['\'', '"']).to_string());
            }
        } else if indent == 6 && in_resolution {
            match t.split_once(':') {
                Some((k, v)) => {
                    let mut m = HashMap::new();
                    m.insert(
                        k.trim().to_string(),
                        v.trim().trim_matches(['\'', '"']).to_string(),
                    );
                    apply(e, &m);
                }
                None => problems.push(Problem {
                    line: Some(lineno),
                    subject: e.name.clone(),
                    message: format!("{}: a resolution line airlock does not read", e.name),
                }),
            }
        }
    }
    for (e, has) in out.iter_mut().zip(&has_resolution) {
        if optional_snapshots.contains(&e.name) {
            e.optional = true;
        }
        if !has && !e.local && e.resolved.is_none() {
            problems.push(Problem {
                line: e.line,
                subject: e.name.clone(),
                message: format!(
                    "{} has no resolution: where it comes from is unknown",
                    e.name
                ),
            });
        }
    }
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys() {
        assert_eq!(
            pnpm_key("/@scope/pkg@1.2.3(react@18.0.0)"),
            ("@scope/pkg".into(), Some("1.2.3".into()))
        );
        assert_eq!(
            pnpm_key("/left-pad/1.3.0"),
            ("left-pad".into(), Some("1.3.0".into()))
        );
    }
}
