//! End-to-end checks of the npm exercise phase and its personas (issue 15), in the real
//! sandbox with real node: what examples.rs cannot see from a verdict alone — that the
//! exercise phase found and called the exports, that a stolen argument is attributed to
//! the call that received it, that the virtual clock ran a six-hour timer, that the
//! browser persona's probe caught a rewritten recipient (and left an honest fetch wrapper
//! alone), and that the Windows and macOS persona passes are what catch the
//! platform-gated examples (the same package under `--os linux` is benign).

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;
use serde_json::Value;

/// Scans `examples/<rel>` with extra arguments; returns the report and the trace.
fn scan_example(rel: &str, extra: &[&str]) -> (i32, Value, Vec<Value>) {
    let dir = repo().join("examples").join(rel);
    let trace = tempfile::NamedTempFile::new().unwrap();
    let mut args = vec![
        dir.to_str().unwrap().to_string(),
        "--trace-out".into(),
        trace.path().to_str().unwrap().into(),
    ];
    args.extend(extra.iter().map(|s| s.to_string()));
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    let (code, report, stderr) = scan_json(&refs);
    assert!(
        report.get("verdict").is_some(),
        "{rel}: no report (exit {code}); stderr:\n{stderr}"
    );
    (code, report, read_trace(trace.path()))
}

fn rules(report: &Value) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .filter_map(|x| x["rule"].as_str().map(String::from))
                .collect()
        })
        .unwrap_or_default()
}

fn header(trace: &[Value]) -> &Value {
    let h = &trace[0];
    h.get("header").unwrap_or(h)
}

fn note<'a>(trace: &'a [Value], key: &str) -> Option<&'a str> {
    header(trace)["notes"][key].as_str()
}

fn events(trace: &[Value]) -> impl Iterator<Item = &Value> {
    trace.iter().filter(|e| e["record"] == "event")
}

fn phase_names(report: &Value) -> Vec<String> {
    report["phases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p["name"].as_str().unwrap().to_string())
        .collect()
}

/// A private key handed to `signTransaction` leaves: proof, the canary is an argument
/// canary in the header, and the request that carried it is labelled with the call that
/// received the key — not with the call made after it in the same node process.
#[test]
fn stolen_argument_is_proved_and_attributed_to_its_call() {
    require_docker();
    let (code, report, trace) = scan_example("malicious/wallet-sign-stealer", &[]);
    assert_eq!(report["verdict"], "malicious", "{:#}", report["findings"]);
    assert_eq!(code, 1);
    assert!(rules(&report).contains(&"canary-argument-leaked".to_string()));
    let coverage = note(&trace, "exercise.exercise").expect("coverage note");
    assert!(coverage.contains("called 2"), "{coverage}");
    let calls = note(&trace, "exercise_calls.exercise").unwrap();
    assert!(
        calls.contains("ethers-tx-signer.signTransaction"),
        "{calls}"
    );
    assert!(header(&trace)["canaries"]
        .as_array()
        .unwrap()
        .iter()
        .any(|c| c["id"] == "arg-exercise-argument_private_key"));
    // The https request hook line of the exercise phase carries the right call.
    let req = events(&trace)
        .find(|e| e["phase"] == "exercise" && e["type"] == "hook" && e["event"] == "https.request")
        .expect("https.request hook line in the exercise phase");
    assert_eq!(
        req["proc"]["lifecycle"], "exercise: ethers-tx-signer.signTransaction",
        "{req:#}"
    );
    // The tracer's connect of that request too.
    let connect = events(&trace)
        .find(|e| {
            e["phase"] == "exercise"
                && e["type"] == "net.connect"
                && e["addr"].as_str().is_some_and(|a| a.starts_with("198.18."))
        })
        .expect("connect to the sink");
    assert_eq!(
        connect["proc"]["lifecycle"],
        "exercise: ethers-tx-signer.signTransaction"
    );
}

/// A payload six hours away runs inside the exercise phase, and the header says how much
/// virtual time passed.
#[test]
fn six_hour_timer_fires_on_the_virtual_clock() {
    require_docker();
    let (_code, report, trace) = scan_example("malicious/delayed-env-beacon", &[]);
    assert_eq!(report["verdict"], "malicious", "{:#}", report["findings"]);
    let secs: f64 = note(&trace, "virtual_time.exercise")
        .unwrap()
        .trim_end_matches(" s")
        .parse()
        .unwrap();
    assert!(secs >= 6.0 * 3600.0, "virtual time {secs}");
    // The environment left in the exercise phase, not at import.
    let leak = events(&trace)
        .find(|e| {
            e["type"] == "http.request" && e["url"].as_str().unwrap_or("").contains("logrotate-cdn")
        })
        .expect("the delayed request");
    assert!(
        leak["phase"].as_str().unwrap().starts_with("exercise"),
        "{leak:#}"
    );
}

/// The chalk/debug 2025 shape: only the browser persona sees it, and the proof names the
/// package's file that rewrote the recipient.
#[test]
fn browser_persona_catches_the_wallet_swap() {
    require_docker();
    let (_code, report, trace) = scan_example("malicious/chalk-wallet-swap", &[]);
    assert_eq!(report["verdict"], "malicious", "{:#}", report["findings"]);
    assert!(rules(&report).contains(&"wallet-address-swap".to_string()));
    let swaps: Vec<&Value> = events(&trace)
        .filter(|e| e["type"] == "hook" && e["event"] == "browser.address_rewritten")
        .collect();
    let probes: Vec<&str> = swaps
        .iter()
        .filter_map(|e| e["args"]["probe"].as_str())
        .collect();
    for p in [
        "transaction",
        "erc20-transfer",
        "erc20-approve",
        "fetch-response",
        "xhr-response",
    ] {
        assert!(probes.contains(&p), "probe {p} not rewritten: {probes:?}");
    }
    assert!(swaps
        .iter()
        .all(|e| e["phase"] == "exercise@browser" && e["actor"] != "harness"));
    assert!(swaps.iter().any(|e| e["args"]["caller"]
        .as_str()
        .unwrap_or("")
        .contains("node_modules/terminal-colorize/source/index.js")));
    // On node it is a colour library: nothing in the other phases.
    assert!(events(&trace)
        .filter(|e| e["phase"] == "exercise" || e["phase"] == "import")
        .all(|e| e["type"] != "http.request"));
}

/// An honest polyfill wraps fetch too: the replacement is recorded, the probes come back
/// intact, the verdict is benign.
#[test]
fn fetch_wrapper_that_passes_bytes_through_is_benign() {
    require_docker();
    let (code, report, trace) = scan_example("benign/fetch-retry-polyfill", &[]);
    assert_eq!(report["verdict"], "benign", "{:#}", report["findings"]);
    assert_eq!(code, 0);
    assert!(events(&trace).any(|e| e["type"] == "hook"
        && e["event"] == "browser.api_replaced"
        && e["args"]["api"] == "fetch"));
    assert!(!events(&trace).any(|e| e["event"] == "browser.address_rewritten"));
}

/// eslint-config-prettier 2025: benign on Linux alone; the Windows pass (chosen by `auto`
/// from the static pass's platform gating) runs the install script as win32 and records
/// rundll32 on the shipped DLL.
#[test]
fn windows_pass_catches_the_rundll32_install_script() {
    require_docker();
    let (_c, linux, _t) = scan_example("malicious/win-rundll32-install", &["--os", "linux"]);
    assert_eq!(linux["verdict"], "benign", "{:#}", linux["findings"]);
    assert!(!phase_names(&linux)
        .iter()
        .any(|p| p.contains('@') && p != "exercise@browser"));
    let (_c, auto, trace) = scan_example("malicious/win-rundll32-install", &[]);
    assert_eq!(auto["verdict"], "malicious", "{:#}", auto["findings"]);
    assert!(phase_names(&auto).contains(&"install@windows".to_string()));
    assert!(rules(&auto).contains(&"windows-proxy-execution".to_string()));
    let exec = events(&trace)
        .find(|e| {
            e["type"] == "process.exec"
                && e["argv"][0]
                    .as_str()
                    .is_some_and(|a| a.ends_with("rundll32"))
        })
        .expect("rundll32 recorded");
    assert!(exec["argv"][1]
        .as_str()
        .unwrap()
        .ends_with("node-gyp.dll,main"));
}

/// A macOS-only LaunchAgent implant: inert on Linux, caught in the macOS pass.
#[test]
fn macos_pass_catches_the_launchagent() {
    require_docker();
    let (_c, linux, _t) = scan_example("malicious/darwin-launchagent-implant", &["--os", "linux"]);
    assert_ne!(linux["verdict"], "malicious", "{:#}", linux["findings"]);
    let (_c, auto, _t) = scan_example("malicious/darwin-launchagent-implant", &[]);
    assert_eq!(auto["verdict"], "malicious", "{:#}", auto["findings"]);
    assert!(phase_names(&auto).contains(&"import@macos".to_string()));
}

/// A package whose functions loop forever, never settle, starve the event loop, end the
/// process or read stdin: the phase still ends on its own (never a time-out), reports
/// what it cut, and calls what came after (the starving call is killed with the child
/// that made it, and a new child goes on past it).
#[test]
fn hostile_exports_do_not_stop_the_exercise() {
    require_docker();
    let dir = repo().join("tests/packages/exercise-hostile");
    let trace = tempfile::NamedTempFile::new().unwrap();
    let (code, report, stderr) = scan_json(&[
        dir.to_str().unwrap(),
        "--trace-out",
        trace.path().to_str().unwrap(),
        "--os",
        "linux",
    ]);
    assert_eq!(
        report["verdict"], "benign",
        "{stderr}\n{:#}",
        report["findings"]
    );
    assert_eq!(code, 0);
    let ex = phase(&report, "exercise");
    assert_eq!(ex["status"], "ok", "{ex:#}");
    let trace = read_trace(trace.path());
    let coverage = note(&trace, "exercise.exercise").unwrap();
    assert!(coverage.contains("cut at the deadline 3"), "{coverage}");
    let calls = note(&trace, "exercise_calls.exercise").unwrap();
    assert!(calls.contains("exercise-hostile.zLast"), "{calls}");
}
