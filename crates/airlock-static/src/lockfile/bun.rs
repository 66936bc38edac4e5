//! `bun.lock`, Bun's text lockfile (Bun 1.2 and later): JSON with trailing commas, read
//! with `jsonc-parser` (dprint's parser; it accepts exactly the relaxations Bun writes).
//! Each entry of `packages` is keyed by its install path (`a/b` for `b` nested under
//! `a`) and holds a tuple whose first element is the resolution `name@version` (npm),
//! `name@workspace:…`, `name@file:…`, `name@link:…`, `name@git+…`/`github:…` or a
//! tarball URL; npm entries go on with the tarball URL (`""` for the default registry),
//! a metadata object and the sha512 integrity. The binary `bun.lockb` is not read.

use std::collections::HashSet;

use super::{LockedPackage, Problem};

/// Where a package's entry starts: the first line holding `"key":` after `"packages"`.
fn line_of(text: &str, packages_at: usize, key: &str) -> Option<u32> {
    let needle = format!("\"{key}\":");
    let at = packages_at + text.get(packages_at..)?.find(&needle)?;
    Some(text[..at].matches('\n').count() as u32 + 1)
}

/// Splits a resolution `name@rest` (the name may be scoped).
fn split_resolution(res: &str) -> Option<(&str, &str)> {
    let at = res.char_indices().skip(1).find(|(_, c)| *c == '@')?.0;
    Some((&res[..at], &res[at + 1..]))
}

/// The packages `text` pins. `Err` when it is not a Bun text lockfile at all.
pub fn parse(text: &str) -> Result<(Vec<LockedPackage>, Vec<Problem>), String> {
    let doc: serde_json::Value =
        jsonc_parser::parse_to_serde_value(text, &jsonc_parser::ParseOptions::default())
            .map_err(|e| format!("not a bun.lock: {e}"))?;
    let Some(version) = doc.get("lockfileVersion").and_then(|v| v.as_u64()) else {
        return Err("not a bun.lock: no lockfileVersion".into());
    };
    let mut problems = Vec::new();
    if version > 2 {
        problems.push(Problem {
            line: None,
            subject: "lockfileVersion".into(),
            message: format!("bun.lock version {version} is newer than airlock knows (1-2)"),
        });
    }
    let Some(packages) = doc.get("packages").and_then(|p| p.as_object()) else {
        return Ok((Vec::new(), problems));
    };
    let packages_at = text.find("\"packages\"").unwrap_or(0);
    let mut out = Vec::new();
    let mut seen = HashSet::new();
    for (key, entry) in packages {
        let line = line_of(text, packages_at, key);
        let mut problem = |message: String| {
            problems.push(Problem {
                line,
                subject: key.clone(),
                message,
            })
        };
        let Some(tuple) = entry.as_array() else {
            problem("entry is not a tuple".into());
            continue;
        };
        let Some((name, rest)) = tuple
            .first()
            .and_then(|r| r.as_str())
            .and_then(split_resolution)
        else {
            problem("entry has no `name@resolution`".into());
            continue;
        };
        let mut p = LockedPackage {
            name: name.to_string(),
            line,
            ..LockedPackage::default()
        };
        if ["workspace:", "link:", "file:", "root:", "portal:"]
            .iter()
            .any(|s| rest.starts_with(s))
        {
            p.local = true;
            p.resolved = Some(rest.to_string());
        } else if super::is_git(rest) || rest.contains("://") {
            // git or a remote tarball: the spec is where the bytes come from.
            p.resolved = Some(rest.to_string());
            p.spec = Some(rest.to_string());
            p.integrity = tuple
                .last()
                .and_then(|v| v.as_str())
                .filter(|s| s.starts_with("sha"))
                .map(String::from);
        } else {
            p.version = Some(rest.to_string());
            p.resolved = tuple
                .get(1)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(String::from);
            p.integrity = tuple
                .get(3)
                .and_then(|v| v.as_str())
                .filter(|s| !s.is_empty())
                .map(String::from);
            if p.integrity.is_none() {
                problem(format!("{name}@{rest}: no integrity"));
            }
            p.optional = tuple
                .get(2)
                .and_then(|m| m.get("os").or_else(|| m.get("cpu")))
                .is_some();
        }
        // The same version nested in several places is one package.
        if seen.insert((p.name.clone(), p.version.clone(), p.resolved.clone())) {
            out.push(p);
        }
    }
    Ok((out, problems))
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    /// Written by the real Bun 1.4.5 (`bun install --lockfile-only`) against a loopback
    /// registry, plus hand-made entries of the other resolution kinds.
    const LOCK: &str = r#"{
  "lockfileVersion": 2,
  "configVersion": 1,
  "workspaces": {
    "": {
      "name": "app",
      "dependencies": {
        "approve-rc-tripwire": "1.0.0",
        "hello-postinstall": "1.0.0",
      },
    },
  },
  "packages": {
    "approve-rc-tripwire": ["approve-rc-tripwire@1.0.0", "http://127.0.0.1:4873/approve-rc-tripwire/-/approve-rc-tripwire-1.0.0.tgz", { "hasInstallScript": true }, "sha512-ruz12to9KCQryKeqs7Q8BF/SVww5HSlJa8c/hbLPt1u9RvYLyD7wS8g5bIswOYb7gOelQ6soHibxt1CN1MypSA=="],

    "hello-postinstall": ["hello-postinstall@1.0.0", "", { "hasInstallScript": true }, "sha512-MyrNUijibepINaPQim8KN0DijaRNC35OZrBlczI22ANTernog1rEAgHc3ewZ7ye0GsE5DqKhjInOci+I39aZ7Q=="],

    "hello-postinstall/@scope/inner": ["@scope/inner@2.0.0", "", {}, "sha512-AAAA"],

    "local-lib": ["local-lib@file:../lib", {}],

    "gitdep": ["gitdep@github:owner/repo#abc123", {}, "owner-repo-abc123"],
  }
}
"#;

    #[test]
    fn reads_npm_local_and_git_entries_with_lines() {
        let (pkgs, problems) = parse(LOCK).unwrap();
        assert!(problems.is_empty(), "{problems:?}");
        let get = |n: &str| pkgs.iter().find(|p| p.name == n).unwrap();
        let t = get("approve-rc-tripwire");
        assert_eq!(t.version.as_deref(), Some("1.0.0"));
        assert_eq!(
            t.resolved.as_deref(),
            Some("http://127.0.0.1:4873/approve-rc-tripwire/-/approve-rc-tripwire-1.0.0.tgz")
        );
        assert!(t.integrity.as_deref().unwrap().starts_with("sha512-ruz12"));
        assert_eq!(t.line, Some(14));
        let h = get("hello-postinstall");
        assert_eq!(h.resolved, None, "the default registry is written as \"\"");
        assert_eq!(get("@scope/inner").version.as_deref(), Some("2.0.0"));
        assert!(get("local-lib").local);
        let g = get("gitdep");
        assert!(!g.local);
        assert_eq!(g.version, None);
        assert!(crate::lockfile::is_git(g.resolved.as_deref().unwrap()));
    }

    #[test]
    fn refuses_what_is_not_a_bun_lock() {
        assert!(parse("lockfileVersion: '9.0'\n").is_err());
        assert!(parse("{\"name\": \"x\"}").is_err());
    }

    #[test]
    fn an_entry_it_cannot_read_is_a_problem_not_a_silence() {
        let (pkgs, problems) = parse(
            r#"{"lockfileVersion": 1, "packages": {"a": "oops", "b": ["b@1.0.0", "", {}, ""]}}"#,
        )
        .unwrap();
        assert_eq!(pkgs.len(), 1);
        assert_eq!(problems.len(), 2, "{problems:?}");
    }
}
