//! `package-lock.json` / `npm-shrinkwrap.json`, versions 1 to 3: every package folder
//! with where its bytes come from, how it is installed (dev, optional, peer, link,
//! bundled, platform) and its line — plus the dependency path that pulls each one in,
//! worked out the way Node resolves `require` (from the dependent's folder up through
//! each enclosing `node_modules`), so hoisting does not hide who asked for a package.
//!
//! Version 1 keeps a nested `dependencies` tree; version 2 keeps both that tree (for
//! npm 6) and the `packages` map (npm 7+); version 3 only the map. Entries come from the
//! map when there is one; a v2 tree that disagrees with its map (a package only one npm
//! would install, or from another source) lands in [`NpmLockfile::legacy_entries`] with
//! a [`Problem`], since npm 6 would install it.
//!
//! Lines are found by one pass of a small JSON scanner ([`key_lines`]) — looking each
//! key up in the text again made `airlock audit` quadratic (20k entries: 50 s).

use std::collections::{BTreeMap, HashMap, VecDeque};

use serde_json::{Map, Value};

use super::{is_git, LockedPackage, LockfileError, Problem};

/// One package folder of the lockfile.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct NpmLockEntry {
    /// The folder, e.g. `node_modules/a/node_modules/b` (a key of `packages`; built the
    /// same way from the v1 tree). Workspace folders have no `node_modules/`.
    pub location: String,
    /// The real package name (an alias's target, when aliased).
    pub name: String,
    /// As written; in v1 a git or file dependency keeps its URL here.
    pub version: String,
    pub resolved: Option<String>,
    pub integrity: Option<String>,
    /// v1 only: the spec the user wrote (`github:a/b#v1`).
    pub from: Option<String>,
    /// Installed only for development (`dev` or `devOptional`).
    pub dev: bool,
    /// Installed only when it can be (`optional` or `devOptional`).
    pub optional: bool,
    pub peer: bool,
    /// A symlink to a folder elsewhere (workspaces, `file:` directories).
    pub link: bool,
    /// Shipped inside its parent's tarball, not fetched on its own.
    pub in_bundle: bool,
    /// npm recorded that the package has `preinstall`/`install`/`postinstall` scripts
    /// (or a `binding.gyp`): `hasInstallScript` (v2+; unknown in v1).
    pub has_install_script: bool,
    pub os: Vec<String>,
    pub cpu: Vec<String>,
    /// Names this package depends on (dependencies, optional and peer).
    pub deps: Vec<String>,
    /// 1-based line of the entry's key.
    pub line: Option<u32>,
}

impl NpmLockEntry {
    /// The registry base URL this entry's tarball comes from (`resolved` minus the
    /// `/<name>/-/<file>` tail), when it has that shape.
    pub fn registry(&self) -> Option<String> {
        let r = self.resolved.as_deref()?;
        if !(r.starts_with("http://") || r.starts_with("https://")) {
            return None;
        }
        for name in [
            self.name.clone(),
            self.name.replace('/', "%2f"),
            self.name.replace('/', "%2F"),
        ] {
            if let Some(i) = r.find(&format!("/{name}/-/")) {
                return Some(r[..i].to_string());
            }
        }
        None
    }

    /// A tarball fetched from a registry by name and version (what airlock analyzes).
    /// Entries without `resolved` (npm's `omit-lockfile-registry-resolved`) come from
    /// the configured registry.
    pub fn is_from_registry(&self) -> bool {
        !self.link
            && !self.in_bundle
            && (self.registry().is_some()
                || (self.resolved.is_none()
                    && self.integrity.is_some()
                    && !self.version.is_empty()
                    && self.location.contains("node_modules/")))
    }

    /// Whether npm installs this package on this machine (`os`/`cpu` allow it).
    pub fn fits_platform(&self) -> bool {
        let os = match std::env::consts::OS {
            "macos" => "darwin",
            "windows" => "win32",
            o => o,
        };
        let cpu = match std::env::consts::ARCH {
            "x86_64" => "x64",
            "aarch64" => "arm64",
            "x86" => "ia32",
            a => a,
        };
        self.fits(os, cpu)
    }

    /// Whether npm installs this package on `os`/`cpu` (npm's names: `linux`, `x64`).
    pub fn fits(&self, os: &str, cpu: &str) -> bool {
        allowed(&self.os, os) && allowed(&self.cpu, cpu)
    }
}

/// npm's `os`/`cpu` rule: a `!x` entry excludes x; any plain entry makes the list an
/// allow-list.
fn allowed(list: &[String], value: &str) -> bool {
    if list.iter().any(|v| v.strip_prefix('!') == Some(value)) {
        return false;
    }
    let plain: Vec<&String> = list.iter().filter(|v| !v.starts_with('!')).collect();
    plain.is_empty() || plain.iter().any(|v| *v == value || *v == "any")
}

/// A parsed npm lockfile.
#[derive(Debug, Clone, Default)]
pub struct NpmLockfile {
    /// `lockfileVersion` (1, 2 or 3; anything else is a [`Problem`]).
    pub lockfile_version: Option<u64>,
    /// Whether entries come from the `packages` map (npm 7+); false for v1.
    pub has_packages_map: bool,
    /// Name of the root project.
    pub root_name: String,
    /// The root's dependency specs by name, from every kind (`dependencies`,
    /// `optionalDependencies`, `peerDependencies`, `devDependencies`), with whether the
    /// kind is optional. From `packages[""]`; empty in v1.
    pub root_specs: BTreeMap<String, (String, bool)>,
    /// Every package folder, in key order.
    pub entries: Vec<NpmLockEntry>,
    /// v2: entries of the npm 6 tree that its `packages` map lacks or resolves elsewhere.
    pub legacy_entries: Vec<NpmLockEntry>,
    /// What the parser did not understand (see [`super::Problem`]).
    pub problems: Vec<Problem>,
    by_location: HashMap<String, usize>,
}

const DEP_KINDS: [&str; 4] = [
    "dependencies",
    "optionalDependencies",
    "peerDependencies",
    "devDependencies",
];

fn names(v: &Value, keys: &[&str]) -> Vec<String> {
    let mut out = Vec::new();
    for k in keys {
        if let Some(m) = v.get(*k).and_then(Value::as_object) {
            out.extend(m.keys().cloned());
        }
    }
    out.sort();
    out.dedup();
    out
}

fn strings(v: &Value, key: &str) -> Vec<String> {
    match v.get(key) {
        Some(Value::Array(a)) => a
            .iter()
            .filter_map(|s| s.as_str().map(String::from))
            .collect(),
        Some(Value::String(s)) => vec![s.clone()],
        _ => Vec::new(),
    }
}

impl NpmLockfile {
    /// Parses lockfile text. Errors only when it is not JSON or not an object; anything
    /// inside it that is not understood is a [`Problem`].
    pub fn parse(text: &str) -> Result<NpmLockfile, LockfileError> {
        let v: Value = serde_json::from_str(text)?;
        let Some(top) = v.as_object() else {
            return Err(LockfileError::NotALockfile(
                "the top level is not a JSON object".into(),
            ));
        };
        let lines = key_lines(text);
        let mut lock = NpmLockfile {
            lockfile_version: top.get("lockfileVersion").and_then(Value::as_u64),
            ..Default::default()
        };
        match lock.lockfile_version {
            Some(1..=3) => {}
            other => lock.problem(
                lines.top.get("lockfileVersion").copied(),
                "lockfileVersion",
                format!(
                    "lockfileVersion {} is not one airlock reads (1, 2 or 3)",
                    other.map_or("(missing)".to_string(), |v| v.to_string())
                ),
            ),
        }
        let root = top
            .get("packages")
            .and_then(|p| p.get(""))
            .cloned()
            .unwrap_or(Value::Null);
        lock.root_name = root
            .get("name")
            .or_else(|| top.get("name"))
            .and_then(Value::as_str)
            .unwrap_or("(root)")
            .to_string();
        // Optional first: a name listed there and elsewhere installs as optional.
        for kind in [DEP_KINDS[1], DEP_KINDS[0], DEP_KINDS[2], DEP_KINDS[3]] {
            if let Some(m) = root.get(kind).and_then(Value::as_object) {
                for (name, spec) in m {
                    let spec = spec.as_str().unwrap_or_default().to_string();
                    lock.root_specs
                        .entry(name.clone())
                        .or_insert((spec, kind == "optionalDependencies"));
                }
            }
        }
        match top.get("packages") {
            Some(Value::Object(pkgs)) => {
                lock.has_packages_map = true;
                lock.read_packages(pkgs, &lines.packages);
            }
            Some(_) => lock.problem(
                lines.top.get("packages").copied(),
                "packages",
                "`packages` is not an object".into(),
            ),
            None => {}
        }
        let mut tree = Vec::new();
        match top.get("dependencies") {
            Some(Value::Object(deps)) => {
                walk_tree(deps, "", &lines.tree, &mut tree, &mut lock.problems);
            }
            Some(_) => lock.problem(
                lines.top.get("dependencies").copied(),
                "dependencies",
                "`dependencies` is not an object".into(),
            ),
            None => {}
        }
        if lock.has_packages_map {
            lock.by_location = index(&lock.entries);
            for e in tree {
                let same = lock
                    .by_location
                    .get(&e.location)
                    .map(|&i| &lock.entries[i])
                    .is_some_and(|p| {
                        p.version == e.version
                            && (e.resolved.is_none() || p.resolved == e.resolved)
                            && (e.integrity.is_none() || p.integrity == e.integrity)
                    });
                if !same {
                    lock.problems.push(Problem {
                        line: e.line,
                        subject: e.name.clone(),
                        message: format!(
                            "{} {} in the npm 6 `dependencies` tree is not what the `packages` map installs at {}",
                            e.name,
                            e.resolved.as_deref().unwrap_or(&e.version),
                            e.location
                        ),
                    });
                    lock.legacy_entries.push(e);
                }
            }
        } else {
            lock.entries = tree;
            lock.by_location = index(&lock.entries);
        }
        if top.get("packages").is_none()
            && top.get("dependencies").is_none()
            && lock.lockfile_version.is_some()
        {
            lock.problem(
                None,
                "packages",
                "neither a `packages` map nor a `dependencies` tree".into(),
            );
        }
        Ok(lock)
    }

    fn problem(&mut self, line: Option<u32>, subject: &str, message: String) {
        self.problems.push(Problem {
            line,
            subject: subject.to_string(),
            message,
        });
    }

    fn read_packages(&mut self, pkgs: &Map<String, Value>, lines: &HashMap<String, u32>) {
        for (location, e) in pkgs {
            if location.is_empty() {
                continue;
            }
            let line = lines.get(location).copied();
            let Some(obj) = e.as_object() else {
                self.problem(line, location, format!("{location} is not an object"));
                continue;
            };
            let b = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
            let mut s = |k: &str| match obj.get(k) {
                None | Some(Value::Null) => None,
                Some(Value::String(s)) => Some(s.clone()),
                Some(other) => {
                    self.problems.push(Problem {
                        line,
                        subject: location.clone(),
                        message: format!("{location}: `{k}` is {other}, not a string"),
                    });
                    None
                }
            };
            let folder_name = location
                .rsplit_once("node_modules/")
                .map(|(_, n)| n.to_string())
                .unwrap_or_else(|| location.clone());
            let name = s("name").unwrap_or(folder_name);
            let version = s("version").unwrap_or_default();
            let resolved = s("resolved");
            let integrity = s("integrity");
            self.entries.push(NpmLockEntry {
                location: location.clone(),
                name,
                version,
                resolved,
                integrity,
                from: None,
                dev: b("dev") || b("devOptional"),
                optional: b("optional") || b("devOptional"),
                peer: b("peer"),
                link: b("link"),
                in_bundle: b("inBundle"),
                has_install_script: b("hasInstallScript"),
                os: strings(e, "os"),
                cpu: strings(e, "cpu"),
                deps: names(e, &DEP_KINDS[..3]),
                line,
            });
        }
    }

    /// The entry at `location` (a `packages` key).
    pub fn get(&self, location: &str) -> Option<&NpmLockEntry> {
        self.by_location.get(location).map(|&i| &self.entries[i])
    }

    /// The root's spec for dependency `name` and whether it is optional.
    pub fn root_spec(&self, name: &str) -> Option<(&str, bool)> {
        self.root_specs.get(name).map(|(s, o)| (s.as_str(), *o))
    }

    /// Where `name` resolves from the folder `from` ("" is the root): the nearest
    /// `node_modules/<name>` walking up, following links to their target.
    pub fn resolve(&self, from: &str, name: &str) -> Option<usize> {
        let mut base = from.to_string();
        loop {
            let candidate = if base.is_empty() {
                format!("node_modules/{name}")
            } else {
                format!("{base}/node_modules/{name}")
            };
            if let Some(&i) = self.by_location.get(&candidate) {
                let e = &self.entries[i];
                if e.link {
                    if let Some(target) = e.resolved.as_deref() {
                        if let Some(&t) = self.by_location.get(target) {
                            return Some(t);
                        }
                    }
                }
                return Some(i);
            }
            if base.is_empty() {
                return None;
            }
            base = match base.rfind("/node_modules/") {
                Some(i) => base[..i].to_string(),
                None => String::new(),
            };
        }
    }

    /// For every entry, the shortest chain of package names from the root that requires
    /// it (`[root, a, b]` for b required by a, a required by the root). Entries no one
    /// requires (extraneous) get `[root, name]`.
    pub fn dependency_paths(&self) -> Vec<Vec<String>> {
        let n = self.entries.len();
        let mut parent: Vec<Option<Option<usize>>> = vec![None; n];
        let mut queue = VecDeque::new();
        for d in self.root_specs.keys() {
            if let Some(i) = self.resolve("", d) {
                if parent[i].is_none() {
                    parent[i] = Some(None);
                    queue.push_back(i);
                }
            }
        }
        while let Some(i) = queue.pop_front() {
            let e = &self.entries[i];
            for d in &e.deps {
                if let Some(j) = self.resolve(&e.location, d) {
                    if parent[j].is_none() {
                        parent[j] = Some(Some(i));
                        queue.push_back(j);
                    }
                }
            }
        }
        (0..n)
            .map(|i| {
                let mut chain = Vec::new();
                let mut cur = Some(i);
                let mut guard = 0;
                while let Some(c) = cur {
                    chain.push(self.entries[c].name.clone());
                    cur = parent[c].flatten();
                    guard += 1;
                    if guard > n {
                        break;
                    }
                }
                chain.push(self.root_name.clone());
                chain.reverse();
                chain
            })
            .collect()
    }

    /// The distinct registry artifacts an install fetches on this machine, keyed by
    /// (name, version, integrity), each with the shortest dependency path found.
    /// `omit` holds npm's `--omit` kinds (`dev`, `optional`, `peer`).
    pub fn artifacts(&self, omit: &[String]) -> Vec<(NpmLockEntry, Vec<String>)> {
        let paths = self.dependency_paths();
        let mut seen: BTreeMap<(String, String, String), usize> = BTreeMap::new();
        let mut out: Vec<(NpmLockEntry, Vec<String>)> = Vec::new();
        for (e, path) in self.entries.iter().zip(paths) {
            if !e.is_from_registry() || !e.fits_platform() {
                continue;
            }
            if (e.dev && omit.iter().any(|o| o == "dev"))
                || (e.optional && omit.iter().any(|o| o == "optional"))
                || (e.peer && omit.iter().any(|o| o == "peer"))
            {
                continue;
            }
            let key = (
                e.name.clone(),
                e.version.clone(),
                e.integrity.clone().unwrap_or_default(),
            );
            match seen.get(&key) {
                Some(&i) if out[i].1.len() <= path.len() => {}
                Some(&i) => out[i].1 = path,
                None => {
                    seen.insert(key, out.len());
                    out.push((e.clone(), path));
                }
            }
        }
        out
    }

    /// Entries npm would fetch from somewhere other than a registry by name (git,
    /// remote tarballs): airlock cannot analyze these by name and version.
    pub fn unanalyzable(&self) -> Vec<&NpmLockEntry> {
        self.entries
            .iter()
            .filter(|e| {
                !e.link
                    && !e.in_bundle
                    && e.fits_platform()
                    && e.registry().is_none()
                    && e.resolved
                        .as_deref()
                        .is_some_and(|r| !r.starts_with("file:"))
                    && e.location.contains("node_modules/")
            })
            .collect()
    }
}

fn index(entries: &[NpmLockEntry]) -> HashMap<String, usize> {
    entries
        .iter()
        .enumerate()
        .map(|(i, e)| (e.location.clone(), i))
        .collect()
}

/// Reads the v1 `dependencies` tree below folder `base` into entries.
fn walk_tree(
    deps: &Map<String, Value>,
    base: &str,
    lines: &HashMap<String, u32>,
    out: &mut Vec<NpmLockEntry>,
    problems: &mut Vec<Problem>,
) {
    for (name, d) in deps {
        let location = if base.is_empty() {
            format!("node_modules/{name}")
        } else {
            format!("{base}/node_modules/{name}")
        };
        let line = lines.get(&location).copied();
        let Some(obj) = d.as_object() else {
            problems.push(Problem {
                line,
                subject: name.clone(),
                message: format!("dependency {name} is not an object"),
            });
            continue;
        };
        let s = |k: &str| obj.get(k).and_then(Value::as_str).map(str::to_string);
        for k in ["version", "resolved", "integrity", "from"] {
            if obj.get(k).is_some_and(|v| !v.is_string() && !v.is_null()) {
                problems.push(Problem {
                    line,
                    subject: name.clone(),
                    message: format!("{name}: `{k}` is not a string"),
                });
            }
        }
        let b = |k: &str| obj.get(k).and_then(Value::as_bool).unwrap_or(false);
        let version = s("version").unwrap_or_default();
        out.push(NpmLockEntry {
            location: location.clone(),
            name: name.clone(),
            link: version.starts_with("file:") || version.starts_with("link:"),
            version,
            resolved: s("resolved"),
            integrity: s("integrity"),
            from: s("from"),
            dev: b("dev"),
            optional: b("optional"),
            peer: b("peer"),
            in_bundle: b("bundled"),
            has_install_script: false,
            os: Vec::new(),
            cpu: Vec::new(),
            deps: names(d, &["requires"]),
            line,
        });
        if let Some(sub) = obj.get("dependencies").and_then(Value::as_object) {
            walk_tree(sub, &location, lines, out, problems);
        }
    }
}

/// Lines of the keys that matter, found in one pass over the text.
#[derive(Debug, Default)]
pub(crate) struct KeyLines {
    /// Top-level keys.
    pub top: HashMap<String, u32>,
    /// Keys of the `packages` map.
    pub packages: HashMap<String, u32>,
    /// v1 tree, by the location it stands for (`node_modules/a/node_modules/b`).
    pub tree: HashMap<String, u32>,
}

/// One pass of a JSON scanner that records the line of every top-level key, every key
/// of `packages` and every package of the nested `dependencies` tree. Assumes valid JSON
/// (the text was parsed already).
pub(crate) fn key_lines(text: &str) -> KeyLines {
    /// An open object or array; for an object, the byte range of its current key.
    struct Frame {
        object: bool,
        key: Option<(usize, usize)>,
        expect_key: bool,
    }
    let b = text.as_bytes();
    let mut out = KeyLines::default();
    let mut stack: Vec<Frame> = Vec::new();
    let mut line = 1u32;
    let mut i = 0;
    let key_is = |k: Option<(usize, usize)>, s: &str| k.is_some_and(|(a, z)| &text[a..z] == s);
    let decode = |a: usize, z: usize| -> String {
        let raw = &text[a..z];
        if raw.contains('\\') {
            serde_json::from_str::<String>(&text[a - 1..z + 1]).unwrap_or_else(|_| raw.into())
        } else {
            raw.to_string()
        }
    };
    while i < b.len() {
        match b[i] {
            b'\n' => line += 1,
            b'{' | b'[' => stack.push(Frame {
                object: b[i] == b'{',
                key: None,
                expect_key: b[i] == b'{',
            }),
            b'}' | b']' => {
                stack.pop();
            }
            b',' => {
                if let Some(f) = stack.last_mut() {
                    f.expect_key = f.object;
                }
            }
            b':' => {
                if let Some(f) = stack.last_mut() {
                    f.expect_key = false;
                }
            }
            b'"' => {
                let start = i + 1;
                let mut j = start;
                while j < b.len() && b[j] != b'"' {
                    j += if b[j] == b'\\' { 2 } else { 1 };
                }
                let end = j.min(b.len());
                let t = stack.len();
                if let Some(f) = stack.last_mut() {
                    if f.object && f.expect_key {
                        f.key = Some((start, end));
                        if t == 1 {
                            out.top.insert(decode(start, end), line);
                        } else if t == 2 && key_is(stack[0].key, "packages") {
                            out.packages.insert(decode(start, end), line);
                        } else if t.is_multiple_of(2)
                            && stack.iter().all(|f| f.object)
                            && (0..t - 1)
                                .step_by(2)
                                .all(|k| key_is(stack[k].key, "dependencies"))
                        {
                            // [dependencies, a, dependencies, b, ...]: a package of the tree.
                            let mut loc = String::new();
                            for k in (1..t - 1).step_by(2) {
                                if let Some((a, z)) = stack[k].key {
                                    loc.push_str("node_modules/");
                                    loc.push_str(&decode(a, z));
                                    loc.push('/');
                                }
                            }
                            loc.push_str("node_modules/");
                            loc.push_str(&decode(start, end));
                            out.tree.insert(loc, line);
                        }
                    }
                }
                i = end;
            }
            _ => {}
        }
        i += 1;
    }
    out
}

impl NpmLockfile {
    /// The entries as the audit checks them ([`LockedPackage`]): with a packages map, one
    /// per location plus what only npm 6 would install from the legacy tree; the root's
    /// specs say which top-level entries came from git, URLs or optional dependencies.
    pub fn locked_packages(&self) -> Vec<LockedPackage> {
        let lock = self;
        let mut out = Vec::with_capacity(lock.entries.len() + lock.legacy_entries.len());
        let tree_entry = |e: &NpmLockEntry| {
            let git = is_git(&e.version);
            LockedPackage {
                name: e.name.clone(),
                version: Some(e.version.clone()).filter(|v| !git && !v.is_empty()),
                resolved: e
                    .resolved
                    .clone()
                    .or_else(|| git.then(|| e.version.clone())),
                integrity: e.integrity.clone(),
                line: e.line,
                optional: e.optional,
                spec: e
                    .from
                    .clone()
                    .filter(|f| is_git(f))
                    .or_else(|| git.then(|| e.version.clone())),
                local: e.version.starts_with("file:") || e.version.starts_with("link:"),
            }
        };
        if lock.has_packages_map {
            for e in &lock.entries {
                let top = e.location.matches("node_modules/").count() == 1;
                let (spec, root_optional) = match lock.root_spec(&e.name).filter(|_| top) {
                    Some((s, o)) => (Some(s.to_string()), o),
                    None => (None, false),
                };
                let local = e.link
                    || !e.location.contains("node_modules/")
                    || e.resolved
                        .as_deref()
                        .is_some_and(|r| r.starts_with("file:"));
                out.push(LockedPackage {
                    name: e.name.clone(),
                    version: Some(e.version.clone()).filter(|v| !v.is_empty()),
                    resolved: e.resolved.clone(),
                    integrity: e.integrity.clone(),
                    line: e.line,
                    optional: e.optional || root_optional,
                    spec: spec.filter(|s| is_git(s) || s.starts_with("http") || s.contains('/')),
                    local,
                });
            }
            // npm 6 reads the v2 tree: what only it would install is checked too.
            out.extend(lock.legacy_entries.iter().map(tree_entry));
        } else {
            out.extend(lock.entries.iter().map(tree_entry));
        }
        out
    }
}

/// A package-lock's (or shrinkwrap's) entries as the audit checks them, plus what the
/// parser did not understand.
pub fn read_package_lock(text: &str) -> Result<(Vec<LockedPackage>, Vec<Problem>), LockfileError> {
    let lock = NpmLockfile::parse(text)?;
    let entries = lock.locked_packages();
    Ok((entries, lock.problems))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    const LOCK: &str = r#"{
      "name": "app", "lockfileVersion": 3,
      "packages": {
        "": { "name": "app", "dependencies": { "a": "^1", "c": "^1" }, "devDependencies": { "d": "1" } },
        "node_modules/a": { "version": "1.0.0", "resolved": "http://127.0.0.1:9/a/-/a-1.0.0.tgz",
                            "integrity": "sha512-A", "dependencies": { "b": "^2" }, "hasInstallScript": true },
        "node_modules/b": { "version": "1.0.0", "resolved": "http://127.0.0.1:9/b/-/b-1.0.0.tgz",
                            "integrity": "sha512-B1" },
        "node_modules/a/node_modules/b": { "version": "2.0.0",
                            "resolved": "http://127.0.0.1:9/b/-/b-2.0.0.tgz", "integrity": "sha512-B2",
                            "dependencies": { "e": "1" } },
        "node_modules/c": { "version": "1.0.0", "resolved": "http://127.0.0.1:9/c/-/c-1.0.0.tgz",
                            "integrity": "sha512-C", "dependencies": { "b": "^1" } },
        "node_modules/e": { "version": "1.0.0", "resolved": "https://r.example/@s%2fe/-/e-1.0.0.tgz",
                            "name": "@s/e", "integrity": "sha512-E" },
        "node_modules/d": { "version": "1.0.0", "dev": true,
                            "resolved": "http://127.0.0.1:9/d/-/d-1.0.0.tgz", "integrity": "sha512-D" },
        "node_modules/fsevents": { "version": "2.3.3", "optional": true, "os": ["darwin"],
                            "resolved": "http://127.0.0.1:9/fsevents/-/fsevents-2.3.3.tgz" },
        "node_modules/g": { "version": "1.0.0", "resolved": "git+ssh://git@github.com/x/g.git#abc" },
        "node_modules/local": { "resolved": "packages/local", "link": true },
        "node_modules/h": { "version": "3.0.0", "integrity": "sha512-H" }
      }
    }"#;

    #[test]
    fn paths_follow_node_resolution() {
        let l = NpmLockfile::parse(LOCK).unwrap();
        assert!(l.problems.is_empty(), "{:?}", l.problems);
        let arts = l.artifacts(&[]);
        let path_of = |name: &str, v: &str| {
            arts.iter()
                .find(|(e, _)| e.name == name && e.version == v)
                .map(|(_, p)| p.join(" > "))
                .unwrap()
        };
        assert_eq!(path_of("b", "2.0.0"), "app > a > b");
        assert_eq!(path_of("b", "1.0.0"), "app > c > b");
        assert_eq!(path_of("@s/e", "1.0.0"), "app > a > b > @s/e");
        assert_eq!(path_of("d", "1.0.0"), "app > d");
        assert!(!arts
            .iter()
            .any(|(e, _)| e.name == "fsevents" || e.name == "g" || e.name == "local"));
        let h = &arts.iter().find(|(e, _)| e.name == "h").unwrap().0;
        assert_eq!(h.registry(), None);
        assert_eq!(arts.len(), 7);
        assert_eq!(l.unanalyzable().len(), 1);
        let e = &arts.iter().find(|(e, _)| e.name == "@s/e").unwrap().0;
        assert_eq!(e.registry().as_deref(), Some("https://r.example"));
        let a = l.get("node_modules/a").unwrap();
        assert!(a.has_install_script && a.line == Some(5));
        assert_eq!(
            l.get("node_modules/a/node_modules/b").unwrap().line,
            Some(9)
        );
        assert!(l.get("node_modules/d").unwrap().dev);
        assert_eq!(l.root_spec("d"), Some(("1", false)));
    }

    #[test]
    fn omit_dev_and_platforms() {
        let l = NpmLockfile::parse(LOCK).unwrap();
        assert!(!l
            .artifacts(&["dev".to_string()])
            .iter()
            .any(|(e, _)| e.name == "d"));
        let fse = l.get("node_modules/fsevents").unwrap();
        assert!(fse.fits("darwin", "arm64") && !fse.fits("linux", "x64"));
        assert!(allowed(&[], "linux"));
        assert!(!allowed(&["!linux".into()], "linux"));
        assert!(allowed(&["!win32".into()], "linux"));
    }

    #[test]
    fn v1_tree_gets_locations_and_lines() {
        let text = r#"{
  "lockfileVersion": 1,
  "dependencies": {
    "a": {
      "version": "1.0.0",
      "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz",
      "requires": { "b": "^2" },
      "dependencies": {
        "b": { "version": "2.0.0", "resolved": "http://evil.example/b.tgz" }
      }
    }
  }
}"#;
        let l = NpmLockfile::parse(text).unwrap();
        assert!(!l.has_packages_map);
        let b = l.get("node_modules/a/node_modules/b").unwrap();
        assert_eq!(b.line, Some(9));
        assert_eq!(b.resolved.as_deref(), Some("http://evil.example/b.tgz"));
        assert_eq!(l.get("node_modules/a").unwrap().deps, ["b"]);
    }

    #[test]
    fn v2_sections_that_disagree_are_problems() {
        let text = r#"{
  "lockfileVersion": 2,
  "packages": {
    "": { "dependencies": { "a": "^1" } },
    "node_modules/a": { "version": "1.0.0", "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz", "integrity": "sha512-A" }
  },
  "dependencies": {
    "a": { "version": "1.0.0", "resolved": "https://registry.npmjs.org/a/-/a-1.0.0.tgz", "integrity": "sha512-A" },
    "hidden": { "version": "1.0.0", "resolved": "http://evil.example/hidden.tgz" }
  }
}"#;
        let l = NpmLockfile::parse(text).unwrap();
        assert_eq!(l.entries.len(), 1);
        assert_eq!(l.legacy_entries.len(), 1);
        assert_eq!(l.legacy_entries[0].name, "hidden");
        assert_eq!(l.problems.len(), 1);
        assert_eq!(l.problems[0].line, Some(9));
    }

    #[test]
    fn odd_shapes_are_problems_not_silence() {
        let l = NpmLockfile::parse(
            r#"{"lockfileVersion": 3, "packages": {"node_modules/x": {"resolved": ["http://e/x.tgz"]}, "node_modules/y": "z"}}"#,
        )
        .unwrap();
        assert_eq!(l.problems.len(), 2, "{:?}", l.problems);
        let l = NpmLockfile::parse(r#"{"lockfileVersion": 9, "packages": []}"#).unwrap();
        assert_eq!(l.problems.len(), 2, "{:?}", l.problems);
        assert!(NpmLockfile::parse("[]").is_err());
    }

    #[test]
    fn key_lines_handle_escapes_and_nesting() {
        let text = "{\n\"packages\": {\n\"node_modules/a\\\"b\": {\"x\": \"}\"},\n\"node_modules/c\": {}\n}\n}";
        let k = key_lines(text);
        assert_eq!(k.packages.get("node_modules/a\"b"), Some(&3));
        assert_eq!(k.packages.get("node_modules/c"), Some(&4));
        assert_eq!(k.top.get("packages"), Some(&2));
    }
}
