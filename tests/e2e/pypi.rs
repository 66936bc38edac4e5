//! End-to-end tests of `airlock scan` on Python distributions: sdists and wheels built
//! here from the defanged reproductions in `tests/packages/py-*`, installed and imported
//! in the real sandbox (pip, the audit hook, strace, the sink, the bait). Each case checks
//! the verdict, the rules that must fire, and that their evidence lies in the phase where
//! the behaviour happens (setup.py at install, module code and `.pth` lines at import).
//!
//! No test reaches the public PyPI: the host-side resolution of the seed wheels asks a
//! loopback index that has none (see `empty_index`), and every address the packages
//! contact is answered by the sink inside the sandbox's network namespace.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::time::Instant;

use base64::Engine;
use common::*;
use serde_json::Value;
use sha2::Digest;

/// The files of a package directory (relative path with `/`, bytes), sorted.
fn package_files(dir: &Path) -> Vec<(String, Vec<u8>)> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<(String, Vec<u8>)>) {
        for entry in std::fs::read_dir(dir).unwrap() {
            let p = entry.unwrap().path();
            if p.is_dir() {
                if p.file_name().is_some_and(|n| n == "__pycache__") {
                    continue;
                }
                walk(root, &p, out);
            } else {
                let rel = p
                    .strip_prefix(root)
                    .unwrap()
                    .to_string_lossy()
                    .replace('\\', "/");
                out.push((rel, std::fs::read(&p).unwrap()));
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

fn package_dir(name: &str) -> PathBuf {
    repo().join("tests/packages").join(name)
}

/// Where a case keeps its artifact and trace (kept after the run, for inspection).
fn case_dir(case: &str) -> PathBuf {
    let d = Path::new(env!("CARGO_TARGET_TMPDIR"))
        .join("e2e-pypi")
        .join(case);
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).unwrap();
    d
}

fn pkg_info(name: &str, version: &str) -> String {
    format!("Metadata-Version: 2.1\nName: {name}\nVersion: {version}\nSummary: airlock end-to-end test package\n")
}

/// Builds `name-version.tar.gz` in `out` the way `setup.py sdist` lays it out: every file
/// of `src` under `name-version/`, plus a PKG-INFO.
fn sdist(src: &Path, name: &str, version: &str, out: &Path) -> PathBuf {
    let prefix = format!("{name}-{version}");
    let path = out.join(format!("{prefix}.tar.gz"));
    let mut files = package_files(src);
    files.push(("PKG-INFO".into(), pkg_info(name, version).into_bytes()));
    let gz = flate2::write::GzEncoder::new(
        std::fs::File::create(&path).unwrap(),
        flate2::Compression::default(),
    );
    let mut tar = tar::Builder::new(gz);
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

/// Builds a py3-none-any wheel in `out`: the files of `src` at the wheel's root (README.md
/// excepted), plus dist-info METADATA, WHEEL, top_level.txt and a RECORD with hashes.
fn wheel(src: &Path, name: &str, version: &str, out: &Path) -> PathBuf {
    let norm = name.replace('-', "_");
    let dist_info = format!("{norm}-{version}.dist-info");
    let path = out.join(format!("{norm}-{version}-py3-none-any.whl"));
    let mut files: Vec<(String, Vec<u8>)> = package_files(src)
        .into_iter()
        .filter(|(rel, _)| rel != "README.md")
        .collect();
    let mut top: Vec<String> = files
        .iter()
        .filter_map(|(rel, _)| match rel.split_once('/') {
            Some((d, "__init__.py")) => Some(d.to_string()),
            None => rel.strip_suffix(".py").map(String::from),
            _ => None,
        })
        .collect();
    top.sort();
    top.dedup();
    files.push((
        format!("{dist_info}/METADATA"),
        pkg_info(name, version).into_bytes(),
    ));
    files.push((
        format!("{dist_info}/WHEEL"),
        b"Wheel-Version: 1.0\nGenerator: airlock-e2e\nRoot-Is-Purelib: true\nTag: py3-none-any\n"
            .to_vec(),
    ));
    files.push((
        format!("{dist_info}/top_level.txt"),
        format!("{}\n", top.join("\n")).into_bytes(),
    ));
    let mut record = String::new();
    for (rel, bytes) in &files {
        let hash =
            base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(sha2::Sha256::digest(bytes));
        record.push_str(&format!("{rel},sha256={hash},{}\n", bytes.len()));
    }
    record.push_str(&format!("{dist_info}/RECORD,,\n"));
    files.push((format!("{dist_info}/RECORD"), record.into_bytes()));
    let mut zip = zip::ZipWriter::new(std::fs::File::create(&path).unwrap());
    let opts = zip::write::SimpleFileOptions::default()
        .compression_method(zip::CompressionMethod::Deflated);
    for (rel, bytes) in &files {
        zip.start_file(rel.as_str(), opts).unwrap();
        zip.write_all(bytes).unwrap();
    }
    zip.finish().unwrap();
    path
}

/// A PEP 503 index on loopback that has nothing (every path 404): the host-side
/// resolution of the seed wheels (requests, setuptools, wheel, …) asks it instead of
/// pypi.org, finds nothing, and the scan goes on with the sandbox venv's own pip and
/// setuptools.
fn empty_index() -> String {
    use std::io::Read;
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            std::thread::spawn(move || {
                let mut buf = [0u8; 8192];
                let _ = s.read(&mut buf);
                let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-type: text/plain\r\ncontent-length: 9\r\nconnection: close\r\n\r\nnot found");
            });
        }
    });
    format!("http://{addr}")
}

struct Scan {
    code: i32,
    report: Value,
    stderr: String,
    events: Vec<Value>,
}

impl Scan {
    fn findings(&self, rule: &str) -> Vec<&Value> {
        self.report["findings"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|f| f["rule"] == rule)
            .collect()
    }

    /// One line per finding with the phases of its evidence, for failure messages.
    fn summary(&self) -> String {
        let mut s = format!(
            "verdict {} score {}\n",
            self.report["verdict"], self.report["score"]
        );
        for f in self.report["findings"].as_array().unwrap() {
            let phases: Vec<&str> = f["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["phase"].as_str())
                .collect();
            s.push_str(&format!(
                "  {} [{}] {} (evidence in {:?})\n",
                f["rule"], f["severity"], f["message"], phases
            ));
        }
        for p in self.report["phases"].as_array().unwrap() {
            s.push_str(&format!(
                "  phase {} {} exit {}\n{}\n",
                p["name"],
                p["status"],
                p["exit_code"],
                p["output_tail"].as_str().unwrap_or_default()
            ));
        }
        s
    }

    /// Panics unless `rule` fired with at least one piece of evidence in `phase`.
    fn assert_fired_in(&self, rule: &str, phase: &str) {
        let found = self.findings(rule);
        assert!(
            !found.is_empty(),
            "{rule} did not fire:\n{}",
            self.summary()
        );
        assert!(
            found.iter().any(|f| f["evidence"]
                .as_array()
                .unwrap()
                .iter()
                .any(|e| e["phase"] == phase)),
            "{rule} fired, but with no evidence in the {phase} phase:\n{}",
            self.summary()
        );
    }

    fn assert_not_fired(&self, rule: &str) {
        assert!(
            self.findings(rule).is_empty(),
            "{rule} fired:\n{}",
            self.summary()
        );
    }

    fn phase_status(&self, name: &str) -> &str {
        phase(&self.report, name)["status"].as_str().unwrap()
    }

    fn events_of<'a>(&'a self, kind: &'a str) -> impl Iterator<Item = &'a Value> + 'a {
        self.events.iter().filter(move |e| e["type"] == kind)
    }
}

/// Runs `airlock scan ARTIFACT --format json --no-store --trace-out T` against the empty
/// loopback index and reads back the report and the trace.
fn scan(case: &str, artifact: &Path, dir: &Path) -> Scan {
    let trace = dir.join("trace.jsonl");
    let index = empty_index();
    let t = Instant::now();
    let (code, report, stderr) = scan_json(&[
        artifact.to_str().unwrap(),
        "--no-store",
        "--pypi-index",
        &index,
        "--trace-out",
        trace.to_str().unwrap(),
    ]);
    eprintln!(
        "{case}: scan took {:.1} s (trace {})",
        t.elapsed().as_secs_f64(),
        trace.display()
    );
    std::fs::write(
        dir.join("report.json"),
        serde_json::to_vec_pretty(&report).unwrap(),
    )
    .unwrap();
    assert!(report["error"].is_null(), "{stderr}\n{:#}", report["error"]);
    assert_eq!(report["package"]["ecosystem"], "pypi", "{stderr}");
    let events = read_trace(&trace);
    assert_eq!(
        events.last().unwrap()["complete"],
        true,
        "incomplete trace: {:#}",
        events.last().unwrap()
    );
    assert_no_container_left();
    Scan {
        code,
        report,
        stderr,
        events,
    }
}

fn assert_no_container_left() {
    let mine = std::process::id().to_string();
    let left: Vec<String> = airlock_containers()
        .into_iter()
        .filter(|c| c.ends_with(&mine))
        .collect();
    assert!(left.is_empty(), "containers left over: {left:?}");
}

fn verdict(s: &Scan) -> &str {
    s.report["verdict"].as_str().unwrap()
}

#[test]
fn setup_py_posting_pypirc_over_https_is_proven_theft() {
    let dir = case_dir("pypirc");
    let art = sdist(
        &package_dir("py-setup-pypirc-stealer"),
        "pypirc-courier",
        "0.3.1",
        &dir,
    );
    let s = scan("pypirc", &art, &dir);
    assert_eq!(s.report["package"]["name"], "pypirc-courier");
    assert_eq!(verdict(&s), "malicious", "{}", s.summary());
    assert_eq!(s.code, 1, "{}", s.stderr);
    s.assert_fired_in("canary-leaked", "install");
    // setuptools' backend exec()s the text of setup.py, which mentions base64: that is
    // not a decoded payload evaluated.
    s.assert_not_fired("decode-eval-runtime");
    // The leak is the ~/.pypirc canary, base64, to the collector, during the install.
    let header = &s.events[0];
    let pypirc: Vec<&str> = header["canaries"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|c| c["location"].as_str().unwrap().ends_with("/.pypirc"))
        .map(|c| c["id"].as_str().unwrap())
        .collect();
    assert!(!pypirc.is_empty(), "the bait plants ~/.pypirc: {header:#}");
    let leak = s
        .events_of("canary.leaked")
        .find(|e| pypirc.contains(&e["canary_id"].as_str().unwrap()))
        .unwrap_or_else(|| panic!("no leak of the ~/.pypirc canary:\n{}", s.summary()));
    assert_eq!(leak["destination"], "https://collect.example/u", "{leak}");
    assert!(
        leak["encoding"].as_str().unwrap().contains("base64"),
        "{leak}"
    );
    assert_eq!(leak["phase"], "install", "{leak}");
    // The read of the file by setup.py, in the install phase.
    assert!(
        s.events_of("secret.read")
            .any(|e| e["phase"] == "install" && e["path"].as_str().unwrap().ends_with("/.pypirc")),
        "no secret.read of ~/.pypirc at install"
    );
}

#[test]
fn wheel_exec_of_decoded_stage_at_import_is_caught() {
    let dir = case_dir("decode-exec");
    let art = wheel(
        &package_dir("py-import-decode-exec"),
        "airlock-e2e-decode",
        "1.4.0",
        &dir,
    );
    let s = scan("decode-exec", &art, &dir);
    assert_ne!(verdict(&s), "benign", "{}", s.summary());
    assert_eq!(s.phase_status("install"), "ok", "{}", s.summary());
    let hook_rule = ["decode-eval-runtime", "dynamic-code-then-acted"]
        .into_iter()
        .find(|r| !s.findings(r).is_empty())
        .unwrap_or_else(|| panic!("no audit-hook finding:\n{}", s.summary()));
    s.assert_fired_in(hook_rule, "import");
    s.assert_fired_in("import-network-contact", "import");
    // The stage's connection, at import, to the sink's answer for telemetry.example: in
    // the tracer's record and in the sink's, both in the import phase (the wheel's install
    // ran no code; the sink's events are placed by time, and the import starts within the
    // install phase's grace).
    assert!(
        s.events_of("net.connect")
            .any(|e| e["phase"] == "import" && e["name"] == "telemetry.example"),
        "no connection to telemetry.example at import"
    );
    let sink: Vec<&Value> = s
        .events
        .iter()
        .filter(|e| e["source"] == "sink" && e.to_string().contains("telemetry.example"))
        .collect();
    assert!(
        !sink.is_empty(),
        "the sink saw nothing of telemetry.example"
    );
    // (The exercise phase imports the module again, so the stage may call out there too;
    // never at install: the wheel's install runs no code.)
    for e in &sink {
        assert_ne!(e["phase"], "install", "{e}");
    }
    assert!(sink.iter().any(|e| e["phase"] == "import"), "{sink:?}");
}

fn scan_pth() -> Scan {
    let dir = case_dir("pth");
    let art = wheel(
        &package_dir("py-pth-exec"),
        "airlock-e2e-pth",
        "2.0.0",
        &dir,
    );
    scan("pth", &art, &dir)
}

#[test]
fn pth_payload_runs_at_interpreter_start_in_the_import_phase() {
    let s = scan_pth();
    assert_ne!(verdict(&s), "benign", "{}", s.summary());
    assert_eq!(s.phase_status("install"), "ok", "{}", s.summary());
    s.assert_fired_in("static-pth-exec", "static");
    // pip writing the .pth of a wheel is not the package's code running.
    s.assert_not_fired("python-startup-hook");
    // The marker is written by the interpreters of the import phase, not by pip.
    let home = s.events[0]["home"].as_str().unwrap().to_string();
    let marker = format!("{home}/.airlock-e2e-pth-marker");
    let writes: Vec<&Value> = s
        .events_of("file.open")
        .filter(|e| e["path"] == marker.as_str() && e["write"] == true)
        .collect();
    assert!(!writes.is_empty(), "no write of {marker}:\n{}", s.summary());
    // (The exercise phases start interpreters too; pip's install never runs the line.)
    for w in &writes {
        assert_ne!(w["phase"], "install", "{w}");
    }
    assert!(writes.iter().any(|w| w["phase"] == "import"), "{writes:?}");
    assert!(
        s.events_of("fs.change")
            .any(|e| e["path"] == marker.as_str() && e["phase"] == "import"),
        "the fs diff of the import phase has no {marker}"
    );
    // The audit hook saw the decoded stage compiled at interpreter start, in the
    // import phase (by the `.pth` line: caller `<string>`), including in the last,
    // plain interpreter (`python -c pass`), which imports nothing of the package.
    let stage: Vec<&Value> = s
        .events_of("hook")
        .filter(|e| {
            e["event"] == "compile"
                && e["args"]["preview"]
                    .as_str()
                    .is_some_and(|p| p.contains(".airlock-e2e-pth-marker"))
        })
        .collect();
    assert!(!stage.is_empty(), "the hook did not see the stage compiled");
    assert!(stage.iter().all(|e| e["phase"] != "install"), "{stage:?}");
    assert!(stage.iter().any(|e| e["phase"] == "import"), "{stage:?}");
    let plain: Vec<u64> = s
        .events_of("hook")
        .filter(|e| {
            e["event"] == "airlock.loaded" && e["args"]["argv"] == serde_json::json!(["-c"])
        })
        .filter_map(|e| e["proc"]["pid"].as_u64())
        .collect();
    assert!(
        stage.iter().any(|e| e["proc"]["pid"]
            .as_u64()
            .is_some_and(|p| plain.contains(&p))),
        "the plain interpreter did not run the .pth stage"
    );
}

/// The `.pth` stage is judged dynamically too: `pth-payload-ran` pairs the static
/// `pth-exec` signal with the hook's compile of a string that has no Python caller (how
/// `site` runs a `.pth` line) in the import phase, and the two make the verdict malicious.
#[test]
fn pth_payload_is_judged_by_a_dynamic_rule() {
    let s = scan_pth();
    s.assert_fired_in("pth-payload-ran", "import");
    assert_eq!(s.report["verdict"], "malicious", "{}", s.summary());
}

#[test]
fn setup_py_that_fails_under_pep517_runs_in_the_fallback() {
    let dir = case_dir("builtins-fallback");
    let art = sdist(
        &package_dir("py-setup-builtins-fallback"),
        "builtins-fallback",
        "1.0.2",
        &dir,
    );
    let s = scan("builtins-fallback", &art, &dir);
    let install = phase(&s.report, "install");
    let out = install["output_tail"].as_str().unwrap();
    assert!(
        out.contains("running setup.py install directly"),
        "the fallback did not run:\n{}",
        s.summary()
    );
    assert!(
        s.events
            .iter()
            .any(|e| e.to_string().contains("no attribute 'chr'"))
            || out.contains("no attribute 'chr'"),
        "pip's build did not fail on __builtins__.chr:\n{}",
        s.summary()
    );
    let home = s.events[0]["home"].as_str().unwrap().to_string();
    let desktop = format!("{home}/.config/autostart/x.desktop");
    let write = s
        .events_of("file.open")
        .find(|e| e["path"] == desktop.as_str() && e["write"] == true)
        .unwrap_or_else(|| panic!("no write of {desktop}:\n{}", s.summary()));
    assert_eq!(write["phase"], "install", "{write}");
    let pipe = s
        .events_of("process.exec")
        .find(|e| {
            e["argv"].as_array().is_some_and(|a| {
                a.iter().any(|x| {
                    x.as_str()
                        .is_some_and(|x| x.contains("payload.example/x.sh | sh"))
                })
            })
        })
        .unwrap_or_else(|| panic!("no sh -c 'curl … | sh':\n{}", s.summary()));
    assert_eq!(pipe["phase"], "install", "{pipe}");
    assert!(
        s.events_of("http.request")
            .any(|e| e["url"] == "https://payload.example/x.sh"),
        "curl's request is not in the sink's record"
    );
    assert_ne!(verdict(&s), "benign", "{}", s.summary());
    // The fallback installs flat: setuptools' easy_install writes nothing that reads as
    // the package's (an egg, easy-install.pth, its write test).
    s.assert_not_fired("python-startup-hook");
    s.assert_not_fired("foreign-package-modified");
    s.assert_fired_in("scheduled-task-write", "install");
    s.assert_fired_in("fetch-pipe-shell", "install");
    assert_eq!(verdict(&s), "malicious", "{}", s.summary());
}

#[test]
fn windows_dropper_at_import_is_caught() {
    let dir = case_dir("windows");
    let art = sdist(
        &package_dir("py-windows-dropper"),
        "pythonlib-win",
        "0.0.7",
        &dir,
    );
    let s = scan("windows", &art, &dir);
    s.assert_fired_in("windows-executable-fetched", "import");
    s.assert_fired_in("windows-payload-dropped", "import");
    s.assert_fired_in("import-network-contact", "import");
    // The proof-based verdict model (issue 14): the download and the write alone are
    // strong signals; the attempt to start the fetched program (recorded even though the
    // exec fails on Linux) is proof since issue 15 — `windows-program-fetched-run`.
    s.assert_fired_in("windows-program-fetched-run", "import");
    assert_eq!(verdict(&s), "malicious", "{}", s.summary());
    assert!(
        s.events_of("http.request").any(
            |e| e["phase"] == "import" && e["url"] == "https://cdn.example.net/a/PythonLIB.exe"
        ),
        "no download of the .exe at import"
    );
}

#[test]
fn benign_sdist_is_benign() {
    // Against the empty index the sandbox venv has setuptools but not `wheel`, so pip's
    // PEP 517 build fails (`invalid command 'bdist_wheel'`) and the install phase's
    // fallback (`setup.py install`) installs it: a benign package must stay benign on
    // that path too.
    let dir = case_dir("benign");
    let art = sdist(&package_dir("py-benign-sdist"), "tiny-arith", "1.2.0", &dir);
    let s = scan("benign", &art, &dir);
    assert_eq!(s.code, 0, "{}", s.stderr);
    assert_eq!(s.report["package"]["name"], "tiny-arith");
    assert_eq!(s.report["package"]["version"], "1.2.0");
    assert_eq!(s.phase_status("install"), "ok", "{}", s.summary());
    assert_eq!(s.phase_status("import"), "ok", "{}", s.summary());
    assert_eq!(verdict(&s), "benign", "{}", s.summary());
    assert!(
        s.report["findings"].as_array().unwrap().is_empty(),
        "{}",
        s.summary()
    );
}

#[test]
fn truncated_sdist_is_a_clear_error() {
    let dir = case_dir("truncated");
    let art = sdist(&package_dir("py-benign-sdist"), "tiny-arith", "1.2.0", &dir);
    let bytes = std::fs::read(&art).unwrap();
    std::fs::write(&art, &bytes[..bytes.len() / 2]).unwrap();
    require_docker();
    let index = empty_index();
    let out = airlock()
        .args([
            "scan",
            "--format",
            "json",
            "--no-store",
            "--pypi-index",
            &index,
        ])
        .arg(&art)
        .output()
        .unwrap();
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(err.contains("tiny-arith-1.2.0.tar.gz"), "{err}");
    assert!(
        err.contains("corrupt") || err.contains("truncated") || err.contains("unexpected end"),
        "{err}"
    );
    assert!(
        out.stdout.is_empty(),
        "{}",
        String::from_utf8_lossy(&out.stdout)
    );
    assert_no_container_left();
}
