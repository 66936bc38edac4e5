//! Shared helpers of the end-to-end tests: the airlock binary, the repository paths, and
//! the check that a Docker engine answers (a missing engine fails the suite: these tests
//! exist to exercise the real sandbox, and CI must never skip them).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::path::PathBuf;
use std::process::Output;

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

pub fn airlock() -> assert_cmd::Command {
    let mut c = assert_cmd::Command::cargo_bin("airlock").unwrap();
    c.env("NO_COLOR", "1").env_remove("AIRLOCK_IMAGE");
    c
}

/// Panics with setup advice unless `docker info` answers.
pub fn require_docker() {
    let ok = std::process::Command::new("docker")
        .args(["info", "--format", "{{.ServerVersion}}"])
        .output()
        .map(|o| o.status.success())
        .unwrap_or(false);
    assert!(
        ok,
        "no Docker engine answers: run `sandbox-images/setup` first (end-to-end tests never skip)"
    );
}

/// Runs `airlock scan --format json ARGS` and returns (exit code, report, stderr).
pub fn scan_json(args: &[&str]) -> (i32, serde_json::Value, String) {
    require_docker();
    let out: Output = airlock()
        .arg("scan")
        .args(["--format", "json"])
        .args(args)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("stdout is not one JSON report ({e}):\n{stdout}\nstderr:\n{stderr}")
    });
    (out.status.code().unwrap_or(-1), report, stderr)
}

/// Containers of airlock still present (for the "nothing left over" checks).
pub fn airlock_containers() -> Vec<String> {
    let out = std::process::Command::new("docker")
        .args([
            "ps",
            "-a",
            "--filter",
            "label=airlock=1",
            "--format",
            "{{.ID}} {{.Label \"airlock.pid\"}}",
        ])
        .output()
        .unwrap();
    String::from_utf8_lossy(&out.stdout)
        .lines()
        .map(String::from)
        .collect()
}

/// Reads a JSON Lines trace.
pub fn read_trace(path: &std::path::Path) -> Vec<serde_json::Value> {
    std::fs::read_to_string(path)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

pub fn phase<'a>(report: &'a serde_json::Value, name: &str) -> &'a serde_json::Value {
    report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["name"] == name)
        .unwrap_or_else(|| panic!("no phase {name} in {:#}", report["phases"]))
}
