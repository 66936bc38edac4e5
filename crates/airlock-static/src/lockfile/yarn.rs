//! yarn.lock, classic (v1) and berry (v2+), read line by line so every entry keeps its
//! line. See [`parse`].

use std::collections::HashSet;

use super::{is_git, LockedPackage as Entry, Problem};

fn unquote(s: &str) -> String {
    s.trim()
        .trim_end_matches(':')
        .trim()
        .trim_matches('"')
        .to_string()
}

/// Package name from a yarn descriptor `name@range` / `@scope/name@npm:range`.
fn descriptor_name(d: &str) -> String {
    let d = d.trim().trim_matches('"');
    let cut = if let Some(rest) = d.strip_prefix('@') {
        rest.find('@').map(|i| i + 1)
    } else {
        d.find('@')
    };
    match cut {
        Some(i) => d[..i].to_string(),
        None => d.to_string(),
    }
}

/// A `key value` (v1) or `key: value` (berry) line of a yarn.lock entry: the key, the
/// value, and whether it was berry syntax. `None` for a line of neither shape.
fn yarn_field(t: &str) -> Option<(&str, &str, bool)> {
    let key_end = if let Some(quoted) = t.strip_prefix('"') {
        quoted.find('"').map(|i| i + 2)?
    } else {
        t.find([' ', ':']).unwrap_or(t.len())
    };
    let (key, rest) = t.split_at(key_end);
    let key = key.trim_matches('"');
    if key.is_empty() {
        return None;
    }
    if let Some(v) = rest.strip_prefix(':') {
        if v.is_empty() || v.starts_with(' ') {
            return Some((key, v.trim(), true));
        }
        return None;
    }
    if let Some(v) = rest.strip_prefix(' ') {
        return Some((key, v.trim(), false));
    }
    None
}

/// yarn.lock, classic (v1: `key "value"`) and berry (v2+: YAML, `__metadata:`). Each
/// field line is read in whichever syntax it is written: a `__metadata:` block on top
/// of v1 entries once made every v1 `resolved` line disappear (an `http:` tarball went
/// unreported). A file mixing the two syntaxes, a line of neither shape, or a field
/// given twice is a [`Problem`].
pub fn parse(text: &str) -> (Vec<Entry>, Vec<Problem>) {
    let mut out: Vec<Entry> = Vec::new();
    let mut problems: Vec<Problem> = Vec::new();
    let mut optional_names: HashSet<String> = HashSet::new();
    let mut in_optional = false;
    // Inside a block opened by an indent-2 `key:` line (dependencies, bin, ...).
    let mut in_block = false;
    let mut in_metadata = false;
    let mut metadata_line: Option<u32> = None;
    let declared_v1 = text.lines().take(5).any(|l| l.contains("yarn lockfile v1"));
    let (mut v1_lines, mut berry_lines) = (0usize, 0usize);
    let mut first_v1: Option<u32> = None;
    let mut seen: HashSet<String> = HashSet::new();
    for (i, line) in text.lines().enumerate() {
        let lineno = i as u32 + 1;
        let mut problem = |message: String, subject: &str| {
            problems.push(Problem {
                line: Some(lineno),
                subject: subject.to_string(),
                message,
            })
        };
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let indent = line.len() - line.trim_start_matches(' ').len();
        let t = line.trim();
        if line[indent..].starts_with('\t') {
            problem("a line indented with a tab".into(), "");
            continue;
        }
        if indent == 0 {
            in_optional = false;
            in_block = false;
            seen.clear();
            if t == "__metadata:" {
                in_metadata = true;
                metadata_line = Some(lineno);
                continue;
            }
            in_metadata = false;
            let Some(header) = t.strip_suffix(':') else {
                problem(
                    format!("unexpected top-level line: {}", crate::text::clip(t, 80)),
                    "",
                );
                continue;
            };
            let first = header.split(", ").next().unwrap_or(header);
            let spec = first.trim_matches('"');
            let name = descriptor_name(spec);
            let range = spec.get(name.len() + 1..).unwrap_or("").to_string();
            out.push(Entry {
                name,
                line: Some(lineno),
                spec: Some(range),
                ..Default::default()
            });
            continue;
        }
        if in_metadata {
            continue;
        }
        let Some(e) = out.last_mut() else {
            problem("a field before any entry".into(), "");
            continue;
        };
        if indent > 2 {
            if !in_block {
                problem(format!("{}: line indented under a value", e.name), &e.name);
            } else if in_optional {
                let dep = t.split([' ', ':']).next().unwrap_or("").trim_matches('"');
                if !dep.is_empty() {
                    optional_names.insert(dep.to_string());
                }
            }
            continue;
        }
        if indent != 2 {
            problem(format!("{}: unexpected indentation", e.name), &e.name);
            continue;
        }
        let Some((k, v, berry)) = yarn_field(t) else {
            problem(
                format!(
                    "{}: a line airlock cannot read: {}",
                    e.name,
                    crate::text::clip(t, 80)
                ),
                &e.name,
            );
            continue;
        };
        in_optional = k == "optionalDependencies";
        in_block = v.is_empty();
        if in_block {
            continue;
        }
        if berry {
            berry_lines += 1;
        } else {
            v1_lines += 1;
            first_v1.get_or_insert(lineno);
        }
        if !seen.insert(k.to_string()) {
            problem(format!("{}: `{k}` given twice", e.name), &e.name);
        }
        let v = unquote(v);
        match k {
            "version" => e.version = Some(v),
            "resolved" => e.resolved = Some(v),
            "integrity" => e.integrity = Some(v),
            // Berry's `checksum` (`10c0/<hex>`) hashes the zip yarn builds from the tarball,
            // not the tarball: the audit counts it as present; nothing may compare it with
            // a registry integrity (see approve::registry).
            "checksum" => e.integrity = Some(format!("sha512-{v}")),
            "resolution" => {
                let target = v.get(e.name.len() + 1..).unwrap_or("").to_string();
                if target.starts_with("workspace:")
                    || target.starts_with("link:")
                    || target.starts_with("portal:")
                    || target.starts_with("file:")
                {
                    e.local = true;
                } else if !target.starts_with("npm:") {
                    e.resolved = Some(target);
                }
            }
            _ => {}
        }
    }
    let mixed = v1_lines > 0 && (berry_lines > 0 || metadata_line.is_some());
    if mixed || (declared_v1 && berry_lines > 0) {
        problems.push(Problem {
            line: first_v1.or(metadata_line),
            subject: "yarn.lock".into(),
            message: format!(
                "mixes yarn v1 syntax ({v1_lines} lines) with berry syntax ({berry_lines} lines{}): yarn v1 and yarn 2+ would read it differently",
                if metadata_line.is_some() { ", a __metadata block" } else { "" }
            ),
        });
    }
    let berry = metadata_line.is_some() && v1_lines == 0;
    for e in &mut out {
        if optional_names.contains(&e.name) {
            e.optional = true;
        }
        let spec = e.spec.clone().unwrap_or_default();
        if spec.starts_with("file:")
            || spec.starts_with("link:")
            || spec.starts_with("workspace:")
            || spec.starts_with("portal:")
        {
            e.local = true;
        }
        if !is_git(&spec) {
            e.spec = None;
        }
        if !berry {
            // Classic yarn without an integrity line only has the sha1 in the URL fragment.
            if e.integrity.is_none() {
                if let Some((_, frag)) = e.resolved.as_deref().and_then(|r| r.split_once('#')) {
                    if frag.len() == 40
                        && frag.chars().all(|c| c.is_ascii_hexdigit())
                        && !e.resolved.as_deref().is_some_and(is_git)
                    {
                        e.integrity = Some(format!("sha1:{frag}"));
                    }
                }
            }
        }
    }
    out.retain(|e| !e.name.is_empty());
    (out, problems)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn descriptor_names() {
        assert_eq!(descriptor_name("@scope/pkg@^1.0.0"), "@scope/pkg");
        assert_eq!(descriptor_name("pkg@npm:^1.0.0"), "pkg");
        assert_eq!(
            yarn_field("resolved \"https://x\""),
            Some(("resolved", "\"https://x\"", false))
        );
        assert_eq!(
            yarn_field("resolution: \"a@npm:1\""),
            Some(("resolution", "\"a@npm:1\"", true))
        );
        assert_eq!(yarn_field("garbage"), None);
    }
}
