//! End-to-end tests of the sandbox's runtimes (issue 16, "current runtimes"): a scan with
//! `--node 22|24` and `--python 3.13` records the version in the trace header and the
//! report, and the package's own code really runs on it (test packages leave files named
//! after `process.version`, npm's user agent and `sys.version`, which the trace shows);
//! a Python the image cannot have is a clear error; and the wrappers take the version
//! from the project's `.nvmrc`, `engines.node` and `requires-python`. Real containers,
//! real npm and pip.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod localreg;

use std::path::Path;

use common::*;
use localreg::*;
use serde_json::Value;

/// What runtimes.txt pins (the test fails loudly when a pin moves without it).
const NODE22: &str = "v22.23.5";
const NPM10: &str = "10.9.9";
const NODE24: &str = "v24.22.3";
const NPM11: &str = "11.19.1";

fn header(events: &[Value]) -> &Value {
    assert_eq!(events[0]["record"], "header");
    &events[0]
}

/// Paths the trace saw opened, created or changed.
fn paths(events: &[Value]) -> Vec<String> {
    events
        .iter()
        .filter_map(|e| e["path"].as_str().map(String::from))
        .collect()
}

fn scan_with(args: &[&str], dir: &Path) -> (Value, Vec<Value>, String) {
    let trace = dir.join("trace.jsonl");
    let mut all = vec!["--no-store", "--trace-out", trace.to_str().unwrap()];
    all.extend_from_slice(args);
    let (code, report, stderr) = scan_json(&all);
    assert_eq!(code, 0, "{stderr}");
    (report, read_trace(&trace), stderr)
}

fn note<'a>(report: &'a Value, key: &str) -> Option<&'a str> {
    report["notes"]
        .as_array()?
        .iter()
        .filter_map(Value::as_str)
        .find_map(|n| n.strip_prefix(&format!("{key}: ")))
}

#[test]
fn each_node_choice_is_recorded_and_runs_the_package() {
    let pkg = repo().join("tests/packages/runtime-probe");
    for (flag, node, npm, node_path) in [
        (None, NODE22, NPM10, "/usr/local/bin/node".to_string()),
        (Some("22"), NODE22, NPM10, "/usr/local/bin/node".to_string()),
        (
            Some("24"),
            NODE24,
            NPM11,
            format!("/opt/hostedtoolcache/node/{}/x64/bin/node", &NODE24[1..]),
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let mut args = vec![pkg.to_str().unwrap()];
        if let Some(f) = flag {
            args.extend(["--node", f]);
        }
        let (report, events, stderr) = scan_with(&args, tmp.path());
        let h = header(&events);
        assert_eq!(h["notes"]["runtime.node"], node, "{flag:?}: {stderr}");
        assert_eq!(h["notes"]["runtime.npm"], npm, "{flag:?}");
        assert_eq!(note(&report, "runtime.node"), Some(node), "{flag:?}");
        assert_eq!(phase(&report, "install")["status"], "ok", "{flag:?}");
        let seen = paths(&events);
        for want in [
            format!("/tmp/runtime-probe/install-node-{node}"),
            format!("/tmp/runtime-probe/install-npm-{npm}"),
            format!("/tmp/runtime-probe/import-node-{node}"),
        ] {
            assert!(seen.contains(&want), "{flag:?}: {want} not in the trace");
        }
        // The postinstall's node is the chosen one, found on PATH as on a runner.
        let execs: Vec<&str> = events
            .iter()
            .filter(|e| e["type"] == "process.exec" && e["argv"][1] == "probe.js")
            .filter_map(|e| e["path"].as_str())
            .collect();
        assert!(
            !execs.is_empty() && execs.iter().all(|p| *p == node_path),
            "{flag:?}: postinstall node at {execs:?}, want {node_path}"
        );
    }
}

#[test]
fn node_flag_refuses_what_the_image_lacks() {
    let out = airlock()
        .args(["scan", "--node", "18", "x.tgz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("22.23.5") && err.contains("24.22.3"), "{err}");
}

fn sdist(src: &Path, name: &str, version: &str, out: &Path) -> std::path::PathBuf {
    let prefix = format!("{name}-{version}");
    let path = out.join(format!("{prefix}.tar.gz"));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut files: Vec<(String, Vec<u8>)> = std::fs::read_dir(src)
        .unwrap()
        .map(|e| {
            let p = e.unwrap().path();
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            (n, std::fs::read(&p).unwrap())
        })
        .collect();
    files.push((
        "PKG-INFO".into(),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes(),
    ));
    for (rel, bytes) in &files {
        let mut h = tar::Header::new_ustar();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_entry_type(tar::EntryType::Regular);
        h.set_cksum();
        tar.append_data(&mut h, format!("{prefix}/{rel}"), bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    path
}

/// A loopback index that knows nothing (the sdist builds with the image's setuptools).
fn empty_index() -> String {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let _ = s.read(&mut buf);
                let _ = s.write_all(
                    b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
                );
            });
        }
    });
    format!("http://{addr}")
}

#[test]
fn python_choice_is_recorded_and_runs_setup_py() {
    let tmp = tempfile::tempdir().unwrap();
    let art = sdist(
        &repo().join("tests/packages/py-runtime-probe"),
        "runtime-probe",
        "1.0.0",
        tmp.path(),
    );
    let index = empty_index();
    let (report, events, stderr) = scan_with(
        &[
            art.to_str().unwrap(),
            "--python",
            "3.13",
            "--pypi-index",
            &index,
        ],
        tmp.path(),
    );
    let v = header(&events)["notes"]["runtime.python"]
        .as_str()
        .unwrap_or_default()
        .to_string();
    assert!(v.starts_with("3.13."), "runtime.python {v:?}: {stderr}");
    assert_eq!(note(&report, "runtime.python"), Some(v.as_str()));
    assert_eq!(phase(&report, "install")["status"], "ok", "{stderr}");
    let want = format!("/tmp/runtime-probe/setup-python-{v}");
    assert!(paths(&events).contains(&want), "{want} not in the trace");
}

#[test]
fn python_3_12_is_refused_with_the_reason() {
    let out = airlock()
        .args(["scan", "--python", "3.12", "x.tar.gz"])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("3.12") && err.contains("3.13"), "{err}");
    assert!(err.contains("no source"), "{err}");
}

/// `airlock npm install` in a project: the report of the analyzed dependency (from the
/// wrapper's store) and the wrapper's stderr.
fn wrapped_install(reg: &Registry, dir: &Path, files: &[(&str, &str)]) -> (Value, String) {
    require_docker();
    let project = dir.join("app");
    std::fs::create_dir_all(&project).unwrap();
    let mut pj = serde_json::json!({
        "name": "runtime-app", "version": "1.0.0", "private": true,
        "dependencies": { "runtime-probe": "1.0.0" },
    });
    for (name, text) in files {
        if *name == "engines.node" {
            pj["engines"] = serde_json::json!({ "node": text });
        } else {
            std::fs::write(project.join(name), text).unwrap();
        }
    }
    std::fs::write(
        project.join("package.json"),
        serde_json::to_vec_pretty(&pj).unwrap(),
    )
    .unwrap();
    let store = dir.join("store.sqlite3");
    let mut c = airlock();
    c.current_dir(&project)
        .env_remove("CI")
        .args(["npm", "--store", store.to_str().unwrap()])
        .args(["install", "--ignore-scripts"]);
    for (k, v) in npm_env(&reg.url, dir) {
        c.env(k, v);
    }
    let out = c.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert_eq!(out.status.code(), Some(0), "{stderr}");
    let shown = airlock()
        .args(["cache", "show", "runtime-probe@1.0.0", "--json"])
        .args(["--store", store.to_str().unwrap()])
        .output()
        .unwrap();
    let shown: Value = serde_json::from_slice(&shown.stdout).unwrap();
    (shown["report"].clone(), stderr)
}

#[test]
fn npm_wrapper_follows_nvmrc_node_version_and_engines() {
    let reg = Registry::start();
    reg.publish(&pack(&repo().join("tests/packages/runtime-probe"), |_| {}));
    for (files, node, why) in [
        (vec![], NODE22, None),
        (vec![(".nvmrc", "24\n")], NODE24, Some(".nvmrc asks for 24")),
        (
            vec![(".node-version", "lts/jod\n"), ("engines.node", ">=24")],
            NODE22,
            Some(".node-version asks for lts/jod"),
        ),
        (
            vec![("engines.node", ">=24")],
            NODE24,
            Some("engines.node `>=24` allows 24.22.3"),
        ),
    ] {
        let tmp = tempfile::tempdir().unwrap();
        let (report, stderr) = wrapped_install(&reg, tmp.path(), &files);
        assert_eq!(
            note(&report, "runtime.node"),
            Some(node),
            "{files:?}: {stderr}"
        );
        if let Some(why) = why {
            assert!(stderr.contains(why), "{files:?}: {stderr}");
        }
    }
}
