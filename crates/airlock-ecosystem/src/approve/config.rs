//! The package managers' own script-approval settings, written and read back exactly as
//! each manager reads them: npm 12 `package.json#allowScripts` (a flat object of
//! npm-package-arg keys → true/false, deny wins, exact versions joined by `||` or a bare
//! name; `npm deny-scripts` denies by bare name, `approve-scripts` pins `name@version`),
//! pnpm 11 `allowBuilds` in `pnpm-workspace.yaml` (pnpm 10: `pnpm.onlyBuiltDependencies`
//! in package.json), Bun `trustedDependencies` (names only; the field present replaces
//! Bun's default list) and yarn `dependenciesMeta["name@version"].built`. Only the keys
//! that name an approved package change; everything else keeps its place and bytes.

use super::json::{Document, Json};
use super::{Approval, Decision};

/// Which package manager's setting to write.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Manager {
    Npm,
    Pnpm,
    Bun,
    Yarn,
}

impl Manager {
    pub fn as_str(self) -> &'static str {
        match self {
            Manager::Npm => "npm",
            Manager::Pnpm => "pnpm",
            Manager::Bun => "bun",
            Manager::Yarn => "yarn",
        }
    }

    /// The file that holds this manager's approvals (relative to the project).
    pub fn config_file(self) -> &'static str {
        match self {
            Manager::Pnpm => "pnpm-workspace.yaml",
            _ => "package.json",
        }
    }
}

/// Splits an npm-package-arg registry key into name and version spec (`None`: bare name).
fn split_key(key: &str) -> (&str, Option<&str>) {
    let at = key
        .char_indices()
        .skip(1)
        .filter(|(_, c)| *c == '@')
        .map(|(i, _)| i)
        .last();
    match at {
        Some(i) => (&key[..i], Some(&key[i + 1..])),
        None => (key, None),
    }
}

/// Whether a key's version spec covers `version`, as npm 12's matcher reads it: a bare
/// name or `*` covers every version, exact versions joined by `||` cover those; ranges
/// and tags match nothing (npm drops them with a warning).
fn spec_covers(spec: Option<&str>, version: &str) -> bool {
    match spec.map(str::trim) {
        None | Some("") | Some("*") => true,
        Some(s) => {
            let parts: Vec<&str> = s.split("||").map(str::trim).collect();
            parts.iter().all(|p| semver::Version::parse(p).is_ok()) && parts.contains(&version)
        }
    }
}

/// What a flat `key → bool` policy (npm `allowScripts`, pnpm `allowBuilds`) decides for
/// `name@version`: deny wins, then allow, else undecided.
fn policy_decision<'a>(
    entries: impl Iterator<Item = (&'a str, Option<bool>)>,
    name: &str,
    version: &str,
) -> Decision {
    let (mut allow, mut deny) = (false, false);
    for (key, value) in entries {
        let (n, spec) = split_key(key);
        if n != name || !spec_covers(spec, version) {
            continue;
        }
        match value {
            Some(true) => allow = true,
            Some(false) => deny = true,
            None => {}
        }
    }
    if deny {
        Decision::Deny
    } else if allow {
        Decision::Allow
    } else {
        Decision::Undecided
    }
}

/// The keys to write into a flat policy for `approvals`: `(key, Some(value))` to set,
/// `(key, None)` to remove. Allowed: `name@version: true`. Denied: `name: false` (as
/// `npm deny-scripts` writes), or `name@version: false` when another version of the
/// same name is allowed. Undecided: its pinned key removed.
fn policy_edits(approvals: &[Approval]) -> Vec<(String, Option<bool>)> {
    let mut out = Vec::new();
    for a in approvals {
        let pinned = format!("{}@{}", a.name, a.version);
        match a.decision {
            Decision::Allow => out.push((pinned, Some(true))),
            Decision::Deny => {
                let other_allowed = approvals.iter().any(|b| {
                    b.name == a.name && b.version != a.version && b.decision == Decision::Allow
                });
                if other_allowed {
                    out.push((pinned, Some(false)));
                } else {
                    out.push((pinned, None));
                    out.push((a.name.clone(), Some(false)));
                }
            }
            Decision::Undecided => out.push((pinned, None)),
        }
    }
    out
}

/// Writes the approvals into `doc` (package.json) for `manager` (not pnpm 11, whose
/// setting lives in `pnpm-workspace.yaml`: see [`apply_pnpm_workspace`]). Returns
/// warnings for the human (an existing entry that overrides airlock's decision).
pub fn apply_package_json(
    doc: &mut Document,
    manager: Manager,
    approvals: &[Approval],
) -> Vec<String> {
    match manager {
        Manager::Npm => apply_npm(doc, approvals),
        Manager::Pnpm => apply_pnpm10(doc, approvals),
        Manager::Bun => apply_bun(doc, approvals),
        Manager::Yarn => apply_yarn(doc, approvals),
    }
}

/// Whether `key` is a stale allow: a single pinned version of a package the approvals
/// cover, at a version the tree no longer has (what a version bump leaves behind).
/// Denials stay: a record of a version known to be malicious does no harm.
fn stale_allow(key: &str, value: Option<bool>, approvals: &[Approval]) -> bool {
    let (name, Some(spec)) = split_key(key) else {
        return false;
    };
    value == Some(true)
        && semver::Version::parse(spec.trim()).is_ok()
        && approvals.iter().any(|a| a.name == name)
        && !approvals
            .iter()
            .any(|a| a.name == name && a.version == spec.trim())
}

fn apply_npm(doc: &mut Document, approvals: &[Approval]) -> Vec<String> {
    if approvals.is_empty() && doc.root.get("allowScripts").is_none() {
        return Vec::new();
    }
    let Some(policy) = doc.root.entry("allowScripts", Json::Object(Vec::new())) else {
        return vec!["package.json is not a JSON object; nothing written".into()];
    };
    if !matches!(policy, Json::Object(_)) {
        *policy = Json::Object(Vec::new());
    }
    for (key, value) in policy_edits(approvals) {
        match value {
            Some(v) => policy.set(&key, Json::Bool(v)),
            None => {
                policy.remove(&key);
            }
        }
    }
    if let Json::Object(m) = policy {
        m.retain(|(k, v)| !stale_allow(k, v.as_bool(), approvals));
    }
    let mut warnings = Vec::new();
    for a in approvals {
        let now = npm_decision(doc, &a.name, &a.version);
        if now != a.decision {
            warnings.push(format!(
                "{}@{}: package.json#allowScripts still says {} through an entry airlock did not write; remove it to make it {}",
                a.name,
                a.version,
                now.as_str(),
                a.decision.as_str()
            ));
        }
    }
    warnings
}

/// What npm 12 decides for `name@version` under the project's `allowScripts`.
pub fn npm_decision(doc: &Document, name: &str, version: &str) -> Decision {
    let Some(obj) = doc.root.get("allowScripts").and_then(Json::as_object) else {
        return Decision::Undecided;
    };
    policy_decision(
        obj.iter().map(|(k, v)| (k.as_str(), v.as_bool())),
        name,
        version,
    )
}

/// A string list under `path` (objects), created when missing.
fn string_list<'a>(root: &'a mut Json, path: &[&str]) -> Option<&'a mut Vec<Json>> {
    let mut cur = root;
    for (i, key) in path.iter().enumerate() {
        let default = if i + 1 == path.len() {
            Json::Array(Vec::new())
        } else {
            Json::Object(Vec::new())
        };
        cur = cur.entry(key, default)?;
    }
    if !matches!(cur, Json::Array(_)) {
        *cur = Json::Array(Vec::new());
    }
    match cur {
        Json::Array(a) => Some(a),
        _ => None,
    }
}

fn list_set(list: &mut Vec<Json>, item: &str, present: bool) {
    let has = list.iter().any(|x| x.as_str() == Some(item));
    if present && !has {
        list.push(Json::String(item.to_string()));
    } else if !present && has {
        list.retain(|x| x.as_str() != Some(item));
    }
}

/// pnpm 10: `pnpm.onlyBuiltDependencies` (pinned `name@version` allowed) and
/// `pnpm.ignoredBuiltDependencies` (denied names, which silences pnpm's prompt).
fn apply_pnpm10(doc: &mut Document, approvals: &[Approval]) -> Vec<String> {
    if let Some(only) = string_list(&mut doc.root, &["pnpm", "onlyBuiltDependencies"]) {
        for a in approvals {
            let pinned = format!("{}@{}", a.name, a.version);
            list_set(only, &pinned, a.decision == Decision::Allow);
        }
    }
    let denied: Vec<&Approval> = approvals
        .iter()
        .filter(|a| a.decision == Decision::Deny)
        .collect();
    if !denied.is_empty() {
        if let Some(ignored) = string_list(&mut doc.root, &["pnpm", "ignoredBuiltDependencies"]) {
            for a in denied {
                list_set(ignored, &a.name, true);
            }
        }
    }
    Vec::new()
}

/// What pnpm 10 decides for `name@version` from package.json.
pub fn pnpm10_decision(doc: &Document, name: &str, version: &str) -> Decision {
    let list = |key: &str| -> Vec<String> {
        doc.root
            .get("pnpm")
            .and_then(|p| p.get(key))
            .and_then(Json::as_array)
            .map(|a| {
                a.iter()
                    .filter_map(|x| x.as_str().map(String::from))
                    .collect()
            })
            .unwrap_or_default()
    };
    let covers = |k: &String| {
        let (n, spec) = split_key(k);
        n == name && spec_covers(spec, version)
    };
    if list("onlyBuiltDependencies").iter().any(covers) {
        Decision::Allow
    } else if list("ignoredBuiltDependencies").iter().any(covers) {
        Decision::Deny
    } else {
        Decision::Undecided
    }
}

/// Bun: `trustedDependencies` lists names (Bun has no per-version trust). A name is
/// trusted only when every version of it in the tree is allowed. The field is always
/// written, so Bun's built-in default list no longer applies.
fn apply_bun(doc: &mut Document, approvals: &[Approval]) -> Vec<String> {
    if approvals.is_empty() {
        return Vec::new();
    }
    let Some(list) = string_list(&mut doc.root, &["trustedDependencies"]) else {
        return vec!["package.json is not a JSON object; nothing written".into()];
    };
    for a in approvals {
        let all_allowed = approvals
            .iter()
            .filter(|b| b.name == a.name)
            .all(|b| b.decision == Decision::Allow);
        list_set(list, &a.name, all_allowed);
    }
    Vec::new()
}

/// What Bun decides for a name from package.json.
pub fn bun_decision(doc: &Document, name: &str) -> Decision {
    let trusted = doc
        .root
        .get("trustedDependencies")
        .and_then(Json::as_array)
        .is_some_and(|a| a.iter().any(|x| x.as_str() == Some(name)));
    if trusted {
        Decision::Allow
    } else {
        Decision::Deny
    }
}

/// yarn: `dependenciesMeta["name@version"].built` true or false; undecided removes the
/// `built` flag (and the entry when nothing else is in it).
fn apply_yarn(doc: &mut Document, approvals: &[Approval]) -> Vec<String> {
    if approvals.is_empty() {
        return Vec::new();
    }
    let Some(meta) = doc.root.entry("dependenciesMeta", Json::Object(Vec::new())) else {
        return vec!["package.json is not a JSON object; nothing written".into()];
    };
    if !matches!(meta, Json::Object(_)) {
        *meta = Json::Object(Vec::new());
    }
    for a in approvals {
        let key = format!("{}@{}", a.name, a.version);
        match a.decision {
            Decision::Allow | Decision::Deny => {
                if let Some(e) = meta.entry(&key, Json::Object(Vec::new())) {
                    if !matches!(e, Json::Object(_)) {
                        *e = Json::Object(Vec::new());
                    }
                    e.set("built", Json::Bool(a.decision == Decision::Allow));
                }
            }
            Decision::Undecided => {
                let empty = match meta.entry(&key, Json::Object(Vec::new())) {
                    Some(e) => {
                        e.remove("built");
                        e.as_object().is_some_and(|o| o.is_empty())
                    }
                    None => false,
                };
                if empty {
                    meta.remove(&key);
                }
            }
        }
    }
    Vec::new()
}

/// What yarn decides for `name@version` from `dependenciesMeta` (a pinned entry first,
/// then a bare name; yarn builds by default when neither says otherwise).
pub fn yarn_decision(doc: &Document, name: &str, version: &str) -> Decision {
    let meta = doc.root.get("dependenciesMeta");
    let built = |key: &str| {
        meta.and_then(|m| m.get(key))
            .and_then(|e| e.get("built"))?
            .as_bool()
    };
    match built(&format!("{name}@{version}")).or_else(|| built(name)) {
        Some(true) => Decision::Allow,
        Some(false) => Decision::Deny,
        None => Decision::Undecided,
    }
}

/// pnpm 11: the `allowBuilds:` map in `pnpm-workspace.yaml`, edited as text so the
/// rest of the file (comments, other settings) stays as it was. `text` is the file's
/// content (empty when there is none); returns the new content.
pub fn apply_pnpm_workspace(text: &str, approvals: &[Approval]) -> String {
    let lines: Vec<&str> = text.lines().collect();
    let start = lines.iter().position(|l| l.trim_end() == "allowBuilds:");
    let (mut entries, before, after): (Vec<(String, String)>, Vec<&str>, Vec<&str>) = match start {
        Some(s) => {
            let end = lines[s + 1..]
                .iter()
                .position(|l| !(l.starts_with(' ') || l.starts_with('\t') || l.trim().is_empty()))
                .map(|i| s + 1 + i)
                .unwrap_or(lines.len());
            let entries = lines[s + 1..end]
                .iter()
                .filter_map(|l| yaml_entry(l))
                .collect();
            (entries, lines[..s].to_vec(), lines[end..].to_vec())
        }
        None => (Vec::new(), lines.clone(), Vec::new()),
    };
    for (key, value) in policy_edits(approvals) {
        match value {
            Some(v) => {
                let v = v.to_string();
                match entries.iter_mut().find(|(k, _)| *k == key) {
                    Some(e) => e.1 = v,
                    None => entries.push((key, v)),
                }
            }
            None => entries.retain(|(k, _)| *k != key),
        }
    }
    entries.retain(|(k, v)| !stale_allow(k, v.parse::<bool>().ok(), approvals));
    let mut out = String::new();
    for l in &before {
        out.push_str(l);
        out.push('\n');
    }
    out.push_str("allowBuilds:");
    if entries.is_empty() {
        out.push_str(" {}");
    }
    out.push('\n');
    for (k, v) in &entries {
        out.push_str(&format!("  {}: {v}\n", yaml_key(k)));
    }
    for l in &after {
        out.push_str(l);
        out.push('\n');
    }
    out
}

/// What pnpm 11 decides for `name@version` from `pnpm-workspace.yaml`.
pub fn pnpm_workspace_decision(text: &str, name: &str, version: &str) -> Decision {
    let mut inside = false;
    let mut entries = Vec::new();
    for l in text.lines() {
        if l.trim_end() == "allowBuilds:" {
            inside = true;
            continue;
        }
        if inside {
            if !(l.starts_with(' ') || l.starts_with('\t') || l.trim().is_empty()) {
                break;
            }
            if let Some(e) = yaml_entry(l) {
                entries.push(e);
            }
        }
    }
    policy_decision(
        entries
            .iter()
            .map(|(k, v)| (k.as_str(), v.parse::<bool>().ok())),
        name,
        version,
    )
}

/// `  'key': value` → (key, value); comments and blank lines → None.
fn yaml_entry(line: &str) -> Option<(String, String)> {
    let t = line.trim();
    if t.is_empty() || t.starts_with('#') {
        return None;
    }
    let (key, rest) = if let Some(q) = t.strip_prefix('\'') {
        let end = q.find('\'')?;
        (q[..end].to_string(), &q[end + 1..])
    } else if let Some(q) = t.strip_prefix('"') {
        let end = q.find('"')?;
        (q[..end].to_string(), &q[end + 1..])
    } else {
        let i = t.find(':')?;
        (t[..i].trim().to_string(), &t[i..])
    };
    let value = rest.trim_start().strip_prefix(':')?;
    let value = value.split('#').next().unwrap_or("").trim().to_string();
    Some((key, value))
}

/// A map key quoted when YAML needs it (`@scope/x`, `name@1.0.0`).
fn yaml_key(k: &str) -> String {
    if k.chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_' || c == '.')
    {
        k.to_string()
    } else {
        format!("'{}'", k.replace('\'', "''"))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ap(name: &str, version: &str, decision: Decision) -> Approval {
        Approval {
            name: name.into(),
            version: version.into(),
            decision,
            reason: String::new(),
        }
    }

    const PKG: &str = "{\n  \"name\": \"app\",\n  \"version\": \"1.0.0\",\n  \"scripts\": {\n    \"test\": \"x\"\n  },\n  \"dependencies\": {\n    \"zeta\": \"^1\",\n    \"alpha\": \"^2\"\n  }\n}\n";

    fn approvals() -> Vec<Approval> {
        vec![
            ap("hello", "1.0.0", Decision::Allow),
            ap("evil", "2.0.0", Decision::Deny),
            ap("odd", "0.1.0", Decision::Undecided),
        ]
    }

    #[test]
    fn npm_allow_scripts_pins_allowed_denies_by_name_keeps_order() {
        let mut doc = Document::parse(PKG).unwrap();
        let w = apply_package_json(&mut doc, Manager::Npm, &approvals());
        assert!(w.is_empty(), "{w:?}");
        let want = PKG.replace(
            "  }\n}\n",
            "  },\n  \"allowScripts\": {\n    \"hello@1.0.0\": true,\n    \"evil\": false\n  }\n}\n",
        );
        assert_eq!(doc.render(), want);
        assert_eq!(npm_decision(&doc, "hello", "1.0.0"), Decision::Allow);
        assert_eq!(npm_decision(&doc, "hello", "1.0.1"), Decision::Undecided);
        assert_eq!(npm_decision(&doc, "evil", "9.9.9"), Decision::Deny);
        assert_eq!(npm_decision(&doc, "odd", "0.1.0"), Decision::Undecided);
        // Applying again changes nothing.
        apply_package_json(&mut doc, Manager::Npm, &approvals());
        assert_eq!(doc.render(), want);
    }

    #[test]
    fn npm_existing_entries_keep_their_place_and_deny_wins() {
        let text = "{\n\t\"allowScripts\": {\n\t\t\"keep\": true,\n\t\t\"odd@0.1.0\": true,\n\t\t\"hello\": false\n\t},\n\t\"name\": \"app\"\n}";
        let mut doc = Document::parse(text).unwrap();
        let w = apply_package_json(&mut doc, Manager::Npm, &approvals());
        // `hello: false` (someone's deny) still wins over airlock's allow: said, not removed.
        assert_eq!(w.len(), 1, "{w:?}");
        assert!(w[0].starts_with("hello@1.0.0"), "{w:?}");
        assert_eq!(
            doc.render(),
            "{\n\t\"allowScripts\": {\n\t\t\"keep\": true,\n\t\t\"hello\": false,\n\t\t\"hello@1.0.0\": true,\n\t\t\"evil\": false\n\t},\n\t\"name\": \"app\"\n}"
        );
        // Exact-version disjunctions match; ranges match nothing (npm drops them).
        let doc = Document::parse("{\"allowScripts\":{\"a@1.0.0 || 1.0.1\":true,\"b@^1\":true}}")
            .unwrap();
        assert_eq!(npm_decision(&doc, "a", "1.0.1"), Decision::Allow);
        assert_eq!(npm_decision(&doc, "b", "1.2.0"), Decision::Undecided);
        let doc = Document::parse("{\"allowScripts\":{\"@s/x@1.0.0\":true}}").unwrap();
        assert_eq!(npm_decision(&doc, "@s/x", "1.0.0"), Decision::Allow);
    }

    #[test]
    fn npm_version_bump_replaces_the_stale_pinned_allow() {
        let text = "{\n  \"allowScripts\": {\n    \"hello@0.9.0\": true,\n    \"other@1.0.0\": true,\n    \"evil@1.0.0\": false\n  }\n}\n";
        let mut doc = Document::parse(text).unwrap();
        apply_package_json(
            &mut doc,
            Manager::Npm,
            &[
                ap("hello", "1.0.0", Decision::Allow),
                ap("evil", "2.0.0", Decision::Deny),
            ],
        );
        // The old pin of a package in the tree goes; others' entries and denials stay.
        assert_eq!(
            doc.render(),
            "{\n  \"allowScripts\": {\n    \"other@1.0.0\": true,\n    \"evil@1.0.0\": false,\n    \"hello@1.0.0\": true,\n    \"evil\": false\n  }\n}\n"
        );
        let ws = apply_pnpm_workspace(
            "allowBuilds:\n  'hello@0.9.0': true\n",
            &[ap("hello", "1.0.0", Decision::Allow)],
        );
        assert_eq!(ws, "allowBuilds:\n  'hello@1.0.0': true\n");
    }

    #[test]
    fn npm_deny_is_pinned_when_another_version_is_allowed() {
        let mut doc = Document::parse("{}\n").unwrap();
        apply_package_json(
            &mut doc,
            Manager::Npm,
            &[
                ap("x", "1.0.0", Decision::Allow),
                ap("x", "1.0.1", Decision::Deny),
            ],
        );
        assert_eq!(npm_decision(&doc, "x", "1.0.0"), Decision::Allow);
        assert_eq!(npm_decision(&doc, "x", "1.0.1"), Decision::Deny);
    }

    #[test]
    fn pnpm10_only_built_dependencies() {
        let mut doc = Document::parse(PKG).unwrap();
        apply_package_json(&mut doc, Manager::Pnpm, &approvals());
        let want = PKG.replace(
            "  }\n}\n",
            "  },\n  \"pnpm\": {\n    \"onlyBuiltDependencies\": [\n      \"hello@1.0.0\"\n    ],\n    \"ignoredBuiltDependencies\": [\n      \"evil\"\n    ]\n  }\n}\n",
        );
        assert_eq!(doc.render(), want);
        assert_eq!(pnpm10_decision(&doc, "hello", "1.0.0"), Decision::Allow);
        assert_eq!(pnpm10_decision(&doc, "evil", "2.0.0"), Decision::Deny);
        assert_eq!(pnpm10_decision(&doc, "odd", "0.1.0"), Decision::Undecided);
    }

    #[test]
    fn pnpm11_allow_builds_in_the_workspace_file() {
        let text = "packages:\n  - 'pkgs/*'\nallowBuilds:\n  esbuild: true\n  'hello@1.0.0': false\n  # a note\nminimumReleaseAge: 1440\n";
        let out = apply_pnpm_workspace(text, &approvals());
        assert_eq!(
            out,
            "packages:\n  - 'pkgs/*'\nallowBuilds:\n  esbuild: true\n  'hello@1.0.0': true\n  evil: false\nminimumReleaseAge: 1440\n"
        );
        assert_eq!(
            pnpm_workspace_decision(&out, "hello", "1.0.0"),
            Decision::Allow
        );
        assert_eq!(
            pnpm_workspace_decision(&out, "evil", "2.0.0"),
            Decision::Deny
        );
        assert_eq!(
            pnpm_workspace_decision(&out, "esbuild", "0.25.0"),
            Decision::Allow
        );
        let fresh = apply_pnpm_workspace("", &approvals());
        assert_eq!(
            fresh,
            "allowBuilds:\n  'hello@1.0.0': true\n  evil: false\n"
        );
    }

    #[test]
    fn bun_trusted_dependencies_names_only() {
        let mut doc = Document::parse(PKG).unwrap();
        apply_package_json(
            &mut doc,
            Manager::Bun,
            &[
                ap("hello", "1.0.0", Decision::Allow),
                ap("evil", "2.0.0", Decision::Deny),
                ap("twice", "1.0.0", Decision::Allow),
                ap("twice", "2.0.0", Decision::Undecided),
            ],
        );
        let want = PKG.replace(
            "  }\n}\n",
            "  },\n  \"trustedDependencies\": [\n    \"hello\"\n  ]\n}\n",
        );
        assert_eq!(doc.render(), want);
        assert_eq!(bun_decision(&doc, "hello"), Decision::Allow);
        assert_eq!(bun_decision(&doc, "evil"), Decision::Deny);
    }

    #[test]
    fn yarn_dependencies_meta_built() {
        let text = "{\n  \"name\": \"app\",\n  \"dependenciesMeta\": {\n    \"odd@0.1.0\": {\n      \"built\": true,\n      \"optional\": true\n    }\n  }\n}\n";
        let mut doc = Document::parse(text).unwrap();
        apply_package_json(&mut doc, Manager::Yarn, &approvals());
        assert_eq!(
            doc.render(),
            "{\n  \"name\": \"app\",\n  \"dependenciesMeta\": {\n    \"odd@0.1.0\": {\n      \"optional\": true\n    },\n    \"hello@1.0.0\": {\n      \"built\": true\n    },\n    \"evil@2.0.0\": {\n      \"built\": false\n    }\n  }\n}\n"
        );
        assert_eq!(yarn_decision(&doc, "hello", "1.0.0"), Decision::Allow);
        assert_eq!(yarn_decision(&doc, "evil", "2.0.0"), Decision::Deny);
        assert_eq!(yarn_decision(&doc, "odd", "0.1.0"), Decision::Undecided);
    }
}
