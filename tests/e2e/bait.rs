//! End-to-end proofs of the bait (issue 4): canaries planted per run are found in what
//! the package sent — base64 over HTTPS, gzipped binary bodies, URL queries — and named
//! with their encoding and destination; reads of the decoy runner's memory are recorded;
//! CI-only malware fires under the CI persona and not on the laptop; a payload that
//! waits ten minutes acts within the phase limit under the sped-up clock; and a benign
//! reader of ~/.npmrc gets `secret.read` but no `canary.leaked`.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;

fn scan_with_trace(pkg: &str, extra: &[&str]) -> (Value, Vec<Value>) {
    let dir = repo().join("tests/packages").join(pkg);
    let trace = tempfile::NamedTempFile::new().unwrap();
    let mut args = vec![
        dir.to_str().unwrap(),
        "--no-import",
        "--trace-out",
        trace.path().to_str().unwrap(),
    ];
    args.extend_from_slice(extra);
    let (_code, report, stderr) = scan_json(&args);
    assert!(report["error"].is_null(), "{stderr}\n{:#}", report["error"]);
    (report, read_trace(trace.path()))
}

fn leaks(events: &[Value]) -> Vec<&Value> {
    events
        .iter()
        .filter(|e| e["type"] == "canary.leaked")
        .collect()
}

fn canary_location<'a>(header: &'a Value, id: &str) -> &'a str {
    header["canaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["id"] == id)
        .unwrap()["location"]
        .as_str()
        .unwrap()
}

#[test]
fn npmrc_posted_base64_over_https_is_proven_theft() {
    let (r, events) = scan_with_trace("bait-npmrc-https", &[]);
    let header = &events[0];
    let l = leaks(&events);
    let npmrc = l
        .iter()
        .find(|e| canary_location(header, e["canary_id"].as_str().unwrap()).ends_with("/.npmrc"))
        .expect("the ~/.npmrc token is found in the upload");
    assert!(
        npmrc["encoding"].as_str().unwrap().contains("base64"),
        "{npmrc}"
    );
    assert_eq!(npmrc["destination"], "https://collector.example/upload");
    assert!(events
        .iter()
        .any(|e| e["type"] == "secret.read" && e["path"].as_str().unwrap().ends_with("/.npmrc")));
    assert_eq!(r["verdict"], "malicious");
    assert!(r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["rule"] == "canary-leaked"));
    // canary values never appear in the report
    let text = r.to_string();
    for c in header["canaries"].as_array().unwrap() {
        assert!(
            !text.contains(c["value"].as_str().unwrap()),
            "report leaks canary {}",
            c["id"]
        );
    }
}

#[test]
fn environment_sent_as_gzipped_json_is_found() {
    let (r, events) = scan_with_trace("bait-env-gzip", &[]);
    let header = &events[0];
    let env_leaks: Vec<&Value> = leaks(&events)
        .into_iter()
        .filter(|e| canary_location(header, e["canary_id"].as_str().unwrap()).starts_with("env:"))
        .collect();
    assert!(
        env_leaks.len() >= 3,
        "every env canary travels with process.env: {env_leaks:?}"
    );
    assert!(env_leaks
        .iter()
        .all(|e| e["encoding"].as_str().unwrap().contains("gzip")));
    assert!(env_leaks
        .iter()
        .all(|e| e["destination"] == "https://telemetry.example/v1/e"));
    assert_eq!(r["verdict"], "malicious");
}

#[test]
fn reading_the_runner_workers_memory_is_recorded() {
    let (r, events) = scan_with_trace("bait-runner-mem", &[]);
    let out = phase(&r, "install")["output_tail"].as_str().unwrap();
    assert!(
        out.contains("runner "),
        "the decoy is visible like a real runner: {out}"
    );
    let mem = events.iter().find(|e| {
        (e["type"] == "process.access" || e["type"] == "secret.read")
            && e.to_string().contains("/mem")
    });
    assert!(
        mem.is_some(),
        "no process.access/secret.read of /proc/<pid>/mem"
    );
    assert!(events
        .iter()
        .any(|e| e["type"] == "secret.read" && e["path"].as_str().unwrap().ends_with("/environ")));
    assert_ne!(r["verdict"], "benign", "{:#}", r["findings"]);
}

#[test]
fn ci_only_malware_fires_in_ci_and_not_on_a_laptop() {
    let (ci, ci_events) = scan_with_trace("bait-ci-only", &["--persona", "ci"]);
    assert!(
        !leaks(&ci_events).is_empty(),
        "CI persona must trigger the payload"
    );
    assert!(leaks(&ci_events)
        .iter()
        .any(|e| e["encoding"].as_str().unwrap().contains("url") || e["encoding"] == "plain"));
    assert_eq!(ci["verdict"], "malicious");
    let (laptop, laptop_events) = scan_with_trace("bait-ci-only", &["--persona", "laptop"]);
    assert!(leaks(&laptop_events).is_empty());
    assert!(!laptop_events.iter().any(|e| e["type"] == "http.request"));
    assert_eq!(laptop["verdict"], "benign", "{:#}", laptop["findings"]);
}

#[test]
fn a_ten_minute_wait_acts_within_the_phase_limit() {
    let (r, events) = scan_with_trace("bait-delayed", &["--phase-timeout", "90"]);
    let install = phase(&r, "install");
    assert_eq!(install["status"], "ok", "{install:#}");
    assert!(install["duration_ms"].as_u64().unwrap() < 90_000);
    assert!(
        !leaks(&events).is_empty(),
        "the delayed theft happened inside the run"
    );
    assert!(events[0]["notes"]["time_acceleration"]
        .as_str()
        .unwrap()
        .starts_with('x'));
    assert_eq!(r["verdict"], "malicious");
}

#[test]
fn benign_npmrc_reader_reads_but_leaks_nothing() {
    let (r, events) = scan_with_trace("bait-benign-npmrc", &[]);
    assert!(events
        .iter()
        .any(|e| e["type"] == "secret.read" && e["path"].as_str().unwrap().ends_with("/.npmrc")));
    assert!(leaks(&events).is_empty());
    assert_ne!(r["verdict"], "malicious", "{:#}", r["findings"]);
}
