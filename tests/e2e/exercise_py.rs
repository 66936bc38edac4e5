//! End-to-end tests of the Python exercise phase and the Windows/macOS persona passes
//! (issue 15): every Python example under `examples/malicious/py-*` and
//! `examples/benign/py-*` is built into an sdist here and scanned in the real sandbox
//! (pip, strace, the audit hook, the sink, the bait, the exercise harness, the command
//! stand-ins). Each must get the verdict of its `expected` file with the rules it names;
//! some cases also check where the evidence comes from (the call it is attributed to, the
//! persona pass, the virtual time the harness reports).
//!
//! The payloads hide where an install or an import never reaches: in a function the user
//! calls, behind `sys.platform == "win32"`/`os.name == "nt"`/`darwin`, in a timer armed
//! for an hour later. Nothing leaves the machine: every host is made up and answered by
//! the sink, and the host-side dependency resolution asks a loopback index with nothing.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::path::{Path, PathBuf};

use common::*;
use serde_json::Value;

/// The examples this file covers: the Python ones (a `setup.py` at the top).
fn python_examples() -> Vec<String> {
    let mut out = Vec::new();
    for kind in ["malicious", "benign"] {
        for e in std::fs::read_dir(repo().join("examples").join(kind)).unwrap() {
            let p = e.unwrap().path();
            if p.join("setup.py").is_file() {
                out.push(format!(
                    "{kind}/{}",
                    p.file_name().unwrap().to_string_lossy()
                ));
            }
        }
    }
    out.sort();
    out
}

/// `<verdict> [rule,rule…]` of an example.
fn expected(dir: &Path) -> (String, Vec<String>) {
    let text = std::fs::read_to_string(dir.join("expected")).unwrap();
    let line = text
        .lines()
        .map(str::trim)
        .find(|l| !l.is_empty() && !l.starts_with('#'))
        .unwrap();
    let mut w = line.split_whitespace();
    let verdict = w.next().unwrap().to_string();
    let rules = w
        .flat_map(|x| x.split(','))
        .filter(|r| !r.is_empty())
        .map(String::from)
        .collect();
    (verdict, rules)
}

/// `name="…"` and `version="…"` of an example's setup.py.
fn name_version(setup_py: &str) -> (String, String) {
    let field = |key: &str| {
        let at = setup_py
            .find(&format!("{key}=\""))
            .unwrap_or_else(|| panic!("setup.py has no {key}=\"…\""));
        let rest = &setup_py[at + key.len() + 2..];
        rest[..rest.find('"').unwrap()].to_string()
    };
    (field("name"), field("version"))
}

/// Builds `name-version.tar.gz` from an example directory (its files under
/// `name-version/`, plus PKG-INFO), leaving out `expected` and `README.md`.
fn sdist(dir: &Path, out: &Path) -> PathBuf {
    let setup = std::fs::read_to_string(dir.join("setup.py")).unwrap();
    let (name, version) = name_version(&setup);
    let prefix = format!("{name}-{version}");
    let path = out.join(format!("{prefix}.tar.gz"));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
    let mut files = Vec::new();
    fn walk(root: &Path, d: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for e in std::fs::read_dir(d).unwrap() {
            let p = e.unwrap().path();
            let n = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                if n != "__pycache__" {
                    walk(root, &p, out);
                }
            } else if n != "expected" && n != "README.md" {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    walk(dir, dir, &mut files);
    files.sort();
    files.push((
        "PKG-INFO".into(),
        format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\n").into_bytes(),
    ));
    for (rel, bytes) in &files {
        let mut h = tar::Header::new_gnu();
        h.set_size(bytes.len() as u64);
        h.set_mode(0o644);
        h.set_mtime(1_700_000_000);
        h.set_cksum();
        tar.append_data(&mut h, format!("{prefix}/{rel}"), bytes.as_slice())
            .unwrap();
    }
    tar.into_inner().unwrap().finish().unwrap();
    path
}

/// A loopback PyPI index with no projects, so host-side resolution finds nothing and
/// never reaches the public index (the examples need no dependencies).
fn empty_index() -> String {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for s in listener.incoming().flatten() {
            let mut s = s;
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(
                b"HTTP/1.1 404 Not Found\r\ncontent-length: 0\r\nconnection: close\r\n\r\n",
            );
        }
    });
    format!("http://{addr}/simple")
}

struct Scan {
    report: Value,
    trace: Vec<Value>,
    stderr: String,
}

impl Scan {
    fn fired(&self) -> Vec<String> {
        self.report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter_map(|f| f["rule"].as_str().map(String::from))
            .collect()
    }

    fn context(&self) -> String {
        let findings: Vec<String> = self.report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .map(|f| format!("  {} [{}] {}", f["rule"], f["kind"], f["message"]))
            .collect();
        let phases: Vec<String> = self.report["phases"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| format!("{}:{}", p["name"].as_str().unwrap_or("?"), p["status"]))
            .collect();
        let tail: Vec<&str> = self.stderr.lines().rev().take(6).collect();
        format!(
            "verdict {}, phases {phases:?}\nfindings:\n{}\nheader notes: {}\nstderr tail: {:?}",
            self.report["verdict"],
            findings.join("\n"),
            self.header()["notes"],
            tail
        )
    }

    fn header(&self) -> &Value {
        self.trace.iter().find(|r| r["record"] == "header").unwrap()
    }
}

fn scan_example(rel: &str, extra: &[&str]) -> Scan {
    let dir = repo().join("examples").join(rel);
    let work = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e-exercise-py")
        .join(rel.replace('/', "-"));
    let _ = std::fs::remove_dir_all(&work);
    std::fs::create_dir_all(&work).unwrap();
    let artifact = sdist(&dir, &work);
    let trace = work.join("trace.jsonl");
    let index = empty_index();
    let mut args = vec![
        artifact.to_str().unwrap(),
        "--trace-out",
        trace.to_str().unwrap(),
        "--no-store",
        "--pypi-index",
        index.as_str(),
    ];
    args.extend_from_slice(extra);
    let (_, report, stderr) = scan_json(&args);
    let trace = read_trace(&trace);
    Scan {
        report,
        trace,
        stderr,
    }
}

/// Scans an example and checks it against its `expected` file.
fn check(rel: &str) -> Scan {
    let (verdict, rules) = expected(&repo().join("examples").join(rel));
    let s = scan_example(rel, &[]);
    let ctx = s.context();
    assert_eq!(s.report["verdict"], verdict.as_str(), "{rel}: {ctx}");
    let fired = s.fired();
    for r in &rules {
        assert!(fired.contains(r), "{rel}: rule {r} did not fire: {ctx}");
    }
    s
}

/// Events of the trace whose process served the exercise call `call`.
fn of_call<'a>(s: &'a Scan, call: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
    let label = format!("exercise: {call}");
    s.trace
        .iter()
        .filter(move |e| e["proc"]["lifecycle"].as_str() == Some(label.as_str()))
}

#[test]
fn call_time_wallet_theft_is_proven_and_attributed_to_the_call() {
    let s = check("malicious/py-wallet-send-tx");
    // Install and import are clean: the payload only runs when called.
    assert!(
        !s.trace
            .iter()
            .any(|e| e["type"] == "http.request" && e["phase"] != "exercise"),
        "{}",
        s.context()
    );
    assert!(
        of_call(&s, "wallet_send_utils.send_transaction").any(|e| e["type"] == "net.connect"),
        "the connection is labelled with the call that made it: {}",
        s.context()
    );
    // The proof rests on the package's act (findings are made only of package events).
    let proof = s.report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "canary-argument-leaked")
        .unwrap();
    assert_eq!(proof["kind"], "proof", "{}", s.context());
    let notes = &s.header()["notes"];
    assert!(
        notes["exercise_calls.exercise"]
            .as_str()
            .unwrap()
            .contains("wallet_send_utils.send_transaction"),
        "{notes}"
    );
}

#[test]
fn windows_gated_setup_py_runs_in_the_windows_pass() {
    let s = check("malicious/py-win-setup-iwr");
    let notes = &s.header()["notes"];
    assert_eq!(notes["os_passes"], "linux, windows", "{notes}");
    assert!(
        notes["static_targets.windows"]
            .as_str()
            .unwrap()
            .contains("setup.py"),
        "{notes}"
    );
    // The stand-in ran, with the command line as argv, in the Windows pass.
    assert!(
        s.trace.iter().any(|e| e["type"] == "process.exec"
            && e["phase"] == "exercise@windows"
            && e["path"]
                .as_str()
                .is_some_and(|p| p.starts_with("/mnt/c/Windows/"))),
        "{}",
        s.context()
    );
}

#[test]
fn windows_encoded_powershell_in_init_is_decoded() {
    let s = check("malicious/py-win-encoded-ps-init");
    assert!(
        s.trace.iter().any(|e| e["event"] == "powershell.decoded"
            && e["args"]["command"]
                .as_str()
                .is_some_and(|c| c.contains("DownloadString"))),
        "{}",
        s.context()
    );
}

#[test]
fn windows_certutil_at_import() {
    check("malicious/py-win-certutil-import");
}

#[test]
fn windows_run_key_through_winreg() {
    check("malicious/py-win-runkey-persist");
}

#[test]
fn windows_startfile_of_a_download() {
    check("malicious/py-win-startfile-dropper");
}

#[test]
fn an_hour_long_timer_fires_on_virtual_time() {
    let s = check("malicious/py-timer-env-beacon");
    let notes = &s.header()["notes"];
    let secs: f64 = notes["virtual_time.exercise"]
        .as_str()
        .unwrap()
        .trim_end_matches(" s")
        .parse()
        .unwrap();
    assert!(secs >= 3600.0, "virtual time {secs}: {notes}");
}

#[test]
fn a_two_hour_sleep_in_a_called_function_is_fast_forwarded() {
    check("malicious/py-sleep-check-update");
}

#[test]
fn macos_gated_launch_agent_in_the_macos_pass() {
    let s = check("malicious/py-darwin-launchagent");
    assert!(
        s.header()["notes"]["os_passes"]
            .as_str()
            .unwrap()
            .contains("macos"),
        "{}",
        s.context()
    );
}

#[test]
fn constructor_sends_its_token_to_a_webhook() {
    check("malicious/py-ctor-webhook-token");
}

/// The notebook persona: the input history of a Jupyter kernel holds a canary key.
#[test]
fn notebook_history_key_theft() {
    check("malicious/py-jupyter-history-key");
}

#[test]
fn benign_analytics_sdk() {
    check("benign/py-analytics-sdk");
}

#[test]
fn benign_telemetry_timer() {
    check("benign/py-telemetry-timer");
}

#[test]
fn benign_windows_console_helpers_in_the_windows_pass() {
    let s = check("benign/py-windows-console");
    assert_eq!(s.header()["notes"]["os_passes"], "linux, windows");
}

#[test]
fn benign_wallet_signer_keeps_its_secrets() {
    check("benign/py-wallet-local-signer");
}

#[test]
fn benign_docs_opener() {
    check("benign/py-open-docs");
}

/// `--os linux` makes no persona pass even when the static pass asks for one, and the
/// Windows-only payload stays unseen (the reason the pass exists).
#[test]
fn os_linux_makes_no_persona_pass() {
    let s = scan_example("malicious/py-win-setup-iwr", &["--os", "linux"]);
    assert_eq!(s.header()["notes"]["os_passes"], "linux", "{}", s.context());
    assert!(
        !s.fired().contains(&"windows-download-run".to_string()),
        "{}",
        s.context()
    );
}

/// Every Python example has a test here (and the npm examples test skips them).
#[test]
fn every_python_example_has_a_test() {
    let src = std::fs::read_to_string(repo().join("tests/e2e/exercise_py.rs")).unwrap();
    for rel in python_examples() {
        assert!(
            src.contains(&format!("\"{rel}\"")),
            "examples/{rel} has no test in tests/e2e/exercise_py.rs"
        );
        let dir = repo().join("examples").join(&rel);
        assert!(dir.join("README.md").is_file(), "{rel} has no README.md");
        let (verdict, rules) = expected(&dir);
        if rel.starts_with("malicious/") {
            assert_eq!(verdict, "malicious", "{rel}");
            assert!(!rules.is_empty(), "{rel}");
        } else {
            assert_eq!(verdict, "benign", "{rel}");
        }
    }
    assert!(python_examples().len() >= 12);
}
