//! An installed `airlock` judges from anywhere: the built binary, copied out of the
//! target directory, run with cwd=/tmp, a fresh HOME and no AIRLOCK_RULES, judges a
//! recorded trace with the ruleset embedded in it (issue 13: the rules used to be found
//! through the source-tree path compiled into the binary).

#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::path::Path;
use std::process::Command;

#[test]
fn installed_binary_judges_a_stored_trace_from_another_directory() {
    let tmp = tempfile::tempdir().unwrap();
    let bin = tmp.path().join("bin/airlock");
    std::fs::create_dir_all(bin.parent().unwrap()).unwrap();
    std::fs::copy(env!("CARGO_BIN_EXE_airlock"), &bin).unwrap();
    let trace = tmp.path().join("run.jsonl");
    std::fs::copy(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("../airlock-report/tests/fixtures/postinstall-exfil.jsonl"),
        &trace,
    )
    .unwrap();
    let home = tmp.path().join("home");
    std::fs::create_dir_all(&home).unwrap();
    let out = Command::new(&bin)
        .args(["judge", "--format", "json"])
        .arg(&trace)
        .current_dir("/tmp")
        .env("HOME", &home)
        .env_remove("XDG_CACHE_HOME")
        .env_remove("AIRLOCK_RULES")
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(
        out.status.code(),
        Some(1),
        "malicious → exit 1; stderr: {stderr}"
    );
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["verdict"], "malicious", "{report:#}");
    let rules: Vec<&str> = report["findings"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|f| f["rule"].as_str())
        .collect();
    assert!(rules.contains(&"canary-leaked"), "{rules:?}");
    // The embedded ruleset was written under the fresh HOME's cache, nowhere else.
    let cache = home.join(".cache/airlock/rules");
    assert!(
        std::fs::read_dir(&cache).unwrap().count() >= 1,
        "embedded rules written to {}",
        cache.display()
    );
}
