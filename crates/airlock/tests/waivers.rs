//! Project waivers (`airlock.toml`) as a user meets them on the command line, with a
//! recorded trace and no sandbox: a waived finding stays in the report, marked, and no
//! longer counts; an expired waiver is a warning and changes nothing; a broken waiver
//! file is a tool error (exit 2) that names its line; `--no-waivers` ignores the file.
//! The wrapper's use of the same waivers is tested in tests/e2e/wrapper.rs.

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// The recorded trace of `evil-helper@1.0.3` (npm): a postinstall that reads the npm
/// token and sends the canary out (`canary-leaked`, proof) plus signals.
fn fixture() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("../airlock-report/tests/fixtures/postinstall-exfil.jsonl")
}

fn judge(project: &Path, extra: &[&str]) -> (Output, serde_json::Value) {
    let out = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .args(["judge", "--format", "json"])
        .args(extra)
        .arg(fixture())
        .current_dir(project)
        .env_remove("AIRLOCK_RULES")
        .output()
        .unwrap();
    let report = serde_json::from_slice(&out.stdout).unwrap_or(serde_json::Value::Null);
    (out, report)
}

/// Every rule that fires on the fixture without waivers.
fn fired(project: &Path) -> Vec<String> {
    let (out, report) = judge(project, &["--no-waivers"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["verdict"], "malicious");
    let mut rules: Vec<String> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap().to_string())
        .collect();
    rules.dedup();
    rules
}

fn waiver(rule: &str, package: &str, expires: &str) -> String {
    format!(
        "[[waiver]]\nrule = \"{rule}\"\npackage = \"{package}\"\necosystem = \"npm\"\n\
         reason = \"reviewed by the security team\"\nexpires = {expires}\n\n"
    )
}

#[test]
fn waiving_the_proof_leaves_it_marked_and_the_verdict_follows_the_rest() {
    let tmp = tempfile::tempdir().unwrap();
    let rules = fired(tmp.path());
    assert!(rules.iter().any(|r| r == "canary-leaked"), "{rules:?}");
    std::fs::write(
        tmp.path().join("airlock.toml"),
        waiver("canary-leaked", "evil-helper@1.0.3", "2099-01-01"),
    )
    .unwrap();
    let (out, report) = judge(tmp.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    // No proof is left: at most suspicious, never malicious; the waived finding stays.
    assert_ne!(report["verdict"], "malicious", "{report:#}\n{stderr}");
    let leak = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .find(|f| f["rule"] == "canary-leaked")
        .expect("the waived finding stays in the report");
    assert_eq!(
        leak["waived"]["reason"], "reviewed by the security team",
        "{leak:#}"
    );
    assert_eq!(leak["waived"]["expires"], "2099-01-01");
    assert!(
        leak["waived"]["source"]
            .as_str()
            .unwrap()
            .ends_with("airlock.toml:1"),
        "{leak:#}"
    );
    // The human report says so too.
    let human = Command::new(env!("CARGO_BIN_EXE_airlock"))
        .arg("judge")
        .arg(fixture())
        .current_dir(tmp.path())
        .output()
        .unwrap();
    let text = String::from_utf8_lossy(&human.stdout);
    assert!(text.contains("waived"), "{text}");

    // Waiving every rule that fired clears the package (exit 0).
    let all: String = rules
        .iter()
        .map(|r| waiver(r, "evil-helper@^1.0", "2099-01-01"))
        .collect();
    std::fs::write(tmp.path().join("airlock.toml"), all).unwrap();
    let (out, report) = judge(tmp.path(), &[]);
    assert_eq!(report["verdict"], "benign", "{report:#}");
    assert_eq!(out.status.code(), Some(0));

    // --no-waivers ignores the file.
    let (out, report) = judge(tmp.path(), &["--no-waivers"]);
    assert_eq!(report["verdict"], "malicious");
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn waivers_of_other_packages_versions_or_expired_ones_change_nothing() {
    let tmp = tempfile::tempdir().unwrap();
    let file = tmp.path().join("airlock.toml");
    let body = [
        waiver("canary-leaked", "evil-helper@1.0.4", "2099-01-01"),
        waiver("canary-leaked", "evil-helper@<1.0.3", "2099-01-01"),
        waiver("canary-leaked", "other-package@*", "2099-01-01"),
        waiver("canary-leaked", "evil-helper@1.0.3", "2020-01-01"),
    ]
    .concat();
    std::fs::write(&file, body).unwrap();
    let (out, report) = judge(tmp.path(), &[]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["verdict"], "malicious", "{report:#}");
    assert!(report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .all(|f| f["waived"].is_null()));
    // The expired one is named in the report's notes.
    let notes = report.to_string();
    assert!(notes.contains("expired on 2020-01-01"), "{report:#}");
}

#[test]
fn a_broken_waiver_file_is_a_tool_error_naming_its_line() {
    let tmp = tempfile::tempdir().unwrap();
    // Line 4: a waiver without an expiry; line 9: an unknown key.
    std::fs::write(
        tmp.path().join("airlock.toml"),
        "# waivers\n\n[[waiver]]\nrule = \"canary-leaked\"\npackage = \"evil-helper@1.0.3\"\nreason = \"x\"\n\n[[waiver]]\nrulez = \"x\"\n",
    )
    .unwrap();
    let (out, _) = judge(tmp.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(stderr.contains("airlock.toml"), "{stderr}");
    assert!(stderr.contains("does not load"), "{stderr}");
    // An explicit --waivers file that does not exist is an error too.
    let (out, _) = judge(tmp.path(), &["--waivers", "/nonexistent/airlock.toml"]);
    assert_eq!(out.status.code(), Some(2));
    // With --no-waivers the broken file is not read.
    let (out, report) = judge(tmp.path(), &["--no-waivers"]);
    assert_eq!(out.status.code(), Some(1));
    assert_eq!(report["verdict"], "malicious");
}

#[test]
fn a_waiver_of_a_rule_that_does_not_exist_is_an_error() {
    let tmp = tempfile::tempdir().unwrap();
    std::fs::write(
        tmp.path().join("airlock.toml"),
        waiver("canary-leakd", "evil-helper@1.0.3", "2099-01-01"),
    )
    .unwrap();
    let (out, _) = judge(tmp.path(), &[]);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(
        stderr.contains("airlock.toml:1: waiver of `canary-leakd`: this ruleset has no such rule"),
        "{stderr}"
    );
}
