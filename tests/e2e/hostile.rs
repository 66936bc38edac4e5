//! End-to-end tests of packages that try to hide what they did (issue 19): real
//! containers, real npm, real strace. A flood of failed opens must not push the
//! credential read and the dropped miner after it out of the trace, nor leave the import
//! phase untraced; an install killed for memory must be reported and never judged benign.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

/// Like `scan_json`, with extra environment for airlock itself (not the package).
fn scan_json_env(args: &[&str], env: &[(&str, &str)]) -> (i32, serde_json::Value, String) {
    require_docker();
    let mut cmd = airlock();
    cmd.arg("scan").args(["--format", "json"]).args(args);
    for (k, v) in env {
        cmd.env(k, v);
    }
    let out = cmd.output().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    let report = serde_json::from_str(&stdout).unwrap_or_else(|e| {
        panic!("stdout is not one JSON report ({e}):\n{stdout}\nstderr:\n{stderr}")
    });
    (out.status.code().unwrap_or(-1), report, stderr)
}

fn rules(r: &serde_json::Value) -> Vec<String> {
    r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap_or_default().to_string())
        .collect()
}

/// Before: ~200k failed opens with 2 KB paths filled the trace area; the credential read
/// and the miner were never recorded, the import phase went untraced, the trace was cut
/// and the verdict was not malicious (`error`, exit 2, on this machine; `suspicious`,
/// exit 0, in the battery). Now the flood is folded into one counted event and the rest
/// of the run is all there.
#[test]
fn a_trace_flood_hides_nothing() {
    let dir = repo().join("tests/packages/trace-flood");
    let trace = tempfile::NamedTempFile::new().unwrap();
    let t0 = std::time::Instant::now();
    let (code, r, stderr) = scan_json(&[
        dir.to_str().unwrap(),
        "--no-store",
        "--trace-out",
        trace.path().to_str().unwrap(),
    ]);
    let wall = t0.elapsed();
    let events = read_trace(trace.path());
    let bytes = std::fs::metadata(trace.path()).unwrap().len();
    eprintln!(
        "trace-flood: {} trace records, {bytes} bytes of JSON Lines, {:.1} s",
        events.len(),
        wall.as_secs_f64()
    );
    assert_eq!(r["verdict"], "malicious", "{:#}\n{stderr}", r["findings"]);
    assert_eq!(code, 1, "{stderr}");
    assert!(
        rules(&r).contains(&"miner-binary".to_string()),
        "{:?}",
        rules(&r)
    );
    // The credential read after the flood is in the trace…
    assert!(
        events.iter().any(|e| e["type"] == "secret.read"
            && e["path"] == "/home/runner/.aws/credentials"
            && e["phase"] == "install"),
        "no secret.read of ~/.aws/credentials"
    );
    // …and so is the dropped miner's exec and its connection to the pool.
    assert!(events.iter().any(|e| e["type"] == "process.exec"
        && e["path"].as_str().is_some_and(|p| p.ends_with("/xmrig"))));
    assert!(events
        .iter()
        .any(|e| e["type"] == "net.connect" && e["port"] == 3333));
    // The import phase is traced: index.js reading ~/.ssh/id_rsa.
    assert!(
        events.iter().any(|e| e["phase"] == "import"
            && (e["source"] == "strace" || e["source"] == "ebpf")
            && e["type"] == "file.open"
            && e["path"] == "/home/runner/.ssh/id_rsa"),
        "the import phase is not traced"
    );
    // The flood itself: one summary with its count, not 200k events.
    let flood = events
        .iter()
        .find(|e| e["type"] == "limit.hit" && e["limit"] == "syscall-flood")
        .expect("a syscall-flood summary");
    let detail = flood["detail"].as_str().unwrap();
    assert!(
        detail.starts_with("199900 more openat calls (ENOENT)"),
        "{detail}"
    );
    assert!(events.len() < 20_000, "{} records", events.len());
    let footer = events.last().unwrap();
    assert_eq!(footer["record"], "footer");
    assert_eq!(footer["complete"], true, "{footer}");
}

/// Before: the postinstall was OOM-killed (npm exit 137), no limit was reported (cgroup
/// v1's `memory.failcnt` stays 0 while `oom_kill` counts) and the verdict was benign,
/// exit 0. Now the OOM kill and the exit status are reported and a killed run cannot be
/// benign nor exit 0.
#[test]
fn an_install_killed_for_memory_is_never_benign() {
    let dir = repo().join("tests/packages/oom-postinstall");
    let (code, r, stderr) = scan_json_env(
        &[dir.to_str().unwrap(), "--no-store", "--no-import"],
        &[("AIRLOCK_SANDBOX_MEMORY_MIB", "512")],
    );
    assert_eq!(phase(&r, "install")["exit_code"], 137, "{:#}", r["phases"]);
    let limits = r["limits"].as_array().unwrap();
    let oom = limits
        .iter()
        .find(|l| l["limit"] == "oom")
        .unwrap_or_else(|| panic!("no OOM kill reported: {limits:#?}"));
    assert!(oom["detail"].as_str().unwrap().contains("512 MiB"), "{oom}");
    assert!(limits.iter().any(|l| l["limit"] == "killed"), "{limits:#?}");
    assert_ne!(r["verdict"], "benign", "{:#}", r["findings"]);
    assert!(code >= 1, "exit {code}: {stderr}");
}
