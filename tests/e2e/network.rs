//! End-to-end proofs of the network invariants (issue 3): from inside the sandbox, every
//! way out — a public address, a private range, the Docker bridge, loopback, IPv6, the
//! metadata address — ends at the sink, which records it, while a listener on the host
//! receives nothing; HTTPS from curl, node and python completes against the sink with
//! the request recorded; DNS exfiltration is recorded; a dropper's download, write,
//! chmod and exec land in one trace; and the package user cannot touch the rules or
//! the sink. Issue 19: a package that floods the sink with 1,500 connections of junk
//! before its one exfiltration request is still caught, and the sink stays bounded.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use std::net::TcpListener;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::*;

#[test]
fn nothing_leaves_and_everything_is_recorded() {
    require_docker();
    // The host listener the package tries to reach (bound on every host address,
    // including the Docker bridge). It must see no connection at all.
    let listener = TcpListener::bind("0.0.0.0:47123").expect("port 47123 free on the host");
    listener.set_nonblocking(true).unwrap();
    let hits = Arc::new(AtomicUsize::new(0));
    let stop = Arc::new(AtomicUsize::new(0));
    let (h, s) = (hits.clone(), stop.clone());
    let watcher = std::thread::spawn(move || {
        while s.load(Ordering::SeqCst) == 0 {
            if listener.accept().is_ok() {
                h.fetch_add(1, Ordering::SeqCst);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    });

    let dir = repo().join("tests/packages/net-proofs");
    let trace = tempfile::NamedTempFile::new().unwrap();
    let (_code, r, stderr) = scan_json(&[
        dir.to_str().unwrap(),
        "--trace-out",
        trace.path().to_str().unwrap(),
        "--no-import",
    ]);
    stop.store(1, Ordering::SeqCst);
    watcher.join().unwrap();
    assert_eq!(
        hits.load(Ordering::SeqCst),
        0,
        "a connection reached the host listener"
    );

    let out = phase(&r, "install")["output_tail"]
        .as_str()
        .unwrap()
        .to_string();
    let events = read_trace(trace.path());
    let http: Vec<&serde_json::Value> = events
        .iter()
        .filter(|e| e["type"] == "http.request")
        .collect();
    let url_seen = |needle: &str| {
        http.iter()
            .any(|e| e["url"].as_str().unwrap().contains(needle))
    };
    // every way out ended at the sink, answered 200 (curl printed the sink's status)
    for (label, path) in [
        ("public", "/public"),
        ("private", "/private"),
        ("bridge", "/bridge"),
        ("loopback", "/loopback"),
        ("metadata", "/latest/meta-data/"),
        ("after", "/after"),
    ] {
        assert!(
            url_seen(path),
            "{label}: no request to {path} recorded\n{out}\n{stderr}"
        );
        assert!(
            out.contains(&format!("{label} 200")),
            "{label} did not get the sink's answer:\n{out}"
        );
    }
    let conn = |addr: &str| {
        events
            .iter()
            .any(|e| e["type"] == "net.connection" && e["dst_addr"] == addr)
    };
    for addr in [
        "203.0.113.7",
        "10.20.30.40",
        "172.17.0.1",
        "127.0.0.1",
        "169.254.169.254",
    ] {
        assert!(
            conn(addr),
            "the sink did not record the original destination {addr}"
        );
    }
    // IPv6 does not leave: it fails (no route) and never reaches the host
    assert!(!out.contains("ipv6 200"), "{out}");
    // HTTPS from curl, node and python, terminated by the sink with the body recorded
    let tls_ok = |sni: &str| {
        events
            .iter()
            .any(|e| e["type"] == "tls.handshake" && e["sni"] == sni && e["ok"] == true)
    };
    for host in [
        "anything.example",
        "node-client.example",
        "py-client.example",
    ] {
        assert!(tls_ok(host), "no completed TLS handshake for {host}");
    }
    assert!(url_seen("https://anything.example/x?q=1"));
    assert!(url_seen("https://node-client.example/n"));
    let post = http
        .iter()
        .find(|e| e["url"] == "https://py-client.example/upload")
        .expect("python POST recorded");
    assert_eq!(post["method"], "POST");
    assert_eq!(post["body"], "python-body-42");
    assert!(
        out.contains("node 200") && out.contains("python 200"),
        "{out}"
    );
    // DNS exfiltration through hex labels
    assert!(events
        .iter()
        .any(|e| e["type"] == "dns.query" && e["name"] == "6578666c2d64617461.dns-exfil.example"));
    // the dropper: download, write, chmod, exec — one trace, one process tree
    assert!(url_seen("https://dropper.example/stage2.sh"));
    let wrote = events
        .iter()
        .any(|e| e["type"] == "file.open" && e["path"] == "/tmp/stage2.sh" && e["write"] == true);
    let chmod = events
        .iter()
        .any(|e| e["type"] == "file.chmod" && e["path"] == "/tmp/stage2.sh");
    let exec = events.iter().any(|e| {
        e["type"] == "process.exec" && e["path"] == "/tmp/stage2.sh" && e["outcome"] == "ok"
    });
    assert!(
        wrote && chmod && exec,
        "write {wrote}, chmod {chmod}, exec {exec}"
    );
    assert!(out.contains("dropper-ran"));
    // the package user cannot change the rules or reach the sink
    assert!(out.contains("iptables refused"), "{out}");
    assert!(out.contains("route refused"), "{out}");
    assert!(out.contains("sink not visible"), "{out}");
    // sink events are attributed to the phase they happened in
    assert!(http.iter().all(|e| e["phase"] == "install"));
    let mine = std::process::id().to_string();
    assert!(!airlock_containers().iter().any(|c| c.ends_with(&mine)));
}

/// Peak resident memory (bytes) of the sink container of the airlock process `pid`, read
/// from its memory cgroup (v1 `memory.stat` total_rss, or v2 `memory.peak`) until `stop`.
fn watch_sink_memory(pid: u32, stop: Arc<AtomicUsize>) -> std::thread::JoinHandle<u64> {
    std::thread::spawn(move || {
        let mut peak = 0u64;
        let mut id = String::new();
        while stop.load(Ordering::SeqCst) == 0 {
            if id.is_empty() {
                let out = std::process::Command::new("docker")
                    .args([
                        "ps",
                        "-q",
                        "--no-trunc",
                        "--filter",
                        &format!("label=airlock.pid={pid}"),
                        "--filter",
                        "name=-sink",
                    ])
                    .output()
                    .unwrap();
                id = String::from_utf8_lossy(&out.stdout).trim().to_string();
            }
            if !id.is_empty() {
                let v1 = std::fs::read_to_string(format!(
                    "/sys/fs/cgroup/memory/docker/{id}/memory.stat"
                ))
                .ok()
                .and_then(|s| {
                    s.lines()
                        .find_map(|l| l.strip_prefix("total_rss "))
                        .and_then(|v| v.trim().parse::<u64>().ok())
                });
                let v2 = std::fs::read_to_string(format!(
                    "/sys/fs/cgroup/system.slice/docker-{id}.scope/memory.peak"
                ))
                .ok()
                .and_then(|s| s.trim().parse::<u64>().ok());
                peak = peak.max(v1.or(v2).unwrap_or(0));
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        peak
    })
}

#[test]
fn a_connection_flood_hides_nothing_and_the_sink_stays_bounded() {
    require_docker();
    let dir = repo().join("tests/packages/net-flood");
    let trace = tempfile::NamedTempFile::new().unwrap();
    let child = std::process::Command::new(assert_cmd::cargo::cargo_bin("airlock"))
        .env("NO_COLOR", "1")
        .env_remove("AIRLOCK_IMAGE")
        .args(["scan", "--format", "json", "--no-import", "--trace-out"])
        .arg(trace.path())
        .arg(&dir)
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let stop = Arc::new(AtomicUsize::new(0));
    let watcher = watch_sink_memory(child.id(), stop.clone());
    let out = child.wait_with_output().unwrap();
    stop.store(1, Ordering::SeqCst);
    let cgroup_peak = watcher.join().unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    let r: serde_json::Value = serde_json::from_slice(&out.stdout)
        .unwrap_or_else(|e| panic!("no JSON report ({e}):\n{stderr}"));

    // The one exfiltration among the junk is found and proves the run malicious.
    let rules: Vec<&str> = r["findings"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["rule"].as_str().unwrap())
        .collect();
    assert_eq!(r["verdict"], "malicious", "{rules:?}\n{stderr}");
    assert_eq!(out.status.code(), Some(1));
    assert!(rules.contains(&"canary-leaked"), "{rules:?}");
    // The flood itself is a finding (a signal).
    assert!(rules.contains(&"network-flood"), "{rules:?}");

    let events = read_trace(trace.path());
    let header = &events[0];
    let token = header["canaries"]
        .as_array()
        .unwrap()
        .iter()
        .find(|c| c["location"] == "env:NPM_TOKEN")
        .unwrap()["value"]
        .as_str()
        .unwrap();
    let exfil = events
        .iter()
        .find(|e| e["type"] == "http.request" && e["host"] == "collect.flood-exfil.example")
        .expect("the exfiltration request is recorded");
    assert!(exfil["body"].as_str().unwrap().contains(token), "{exfil}");
    assert!(events.iter().any(|e| e["type"] == "canary.leaked"
        && e["destination"]
            .as_str()
            .unwrap()
            .contains("collect.flood-exfil.example")));
    assert!(
        events
            .iter()
            .any(|e| e["type"] == "limit.hit" && e["limit"] == "network"),
        "the sink reports the flood"
    );
    let totals = events
        .iter()
        .find_map(|e| {
            e["message"]
                .as_str()
                .filter(|m| m.starts_with("sink flood totals: "))
        })
        .expect("the flood's totals");
    assert!(
        totals.starts_with("sink flood totals: network flood: 1501 connections to "),
        "{totals}"
    );

    // Bounded: the record (64 MiB budget for the sink) and the sink's memory.
    let size = std::fs::metadata(trace.path()).unwrap().len();
    assert!(size < 100 << 20, "trace of {size} bytes");
    let summary = events
        .iter()
        .find_map(|e| {
            e["message"]
                .as_str()
                .filter(|m| m.starts_with("sink summary:"))
        })
        .expect("the sink's summary");
    let peak_kib: u64 = summary
        .rsplit("peak memory ")
        .next()
        .and_then(|t| t.split_whitespace().next())
        .and_then(|n| n.parse().ok())
        .unwrap_or_else(|| panic!("{summary}"));
    eprintln!(
        "flood: sink peak RSS {peak_kib} KiB (self), {} KiB (cgroup), trace {size} bytes",
        cgroup_peak / 1024
    );
    assert!(peak_kib < 256 << 10, "{summary}");
    assert!(
        cgroup_peak < 256 << 20,
        "sink container peak {cgroup_peak} bytes"
    );
    let mine = std::process::id().to_string();
    assert!(!airlock_containers().iter().any(|c| c.ends_with(&mine)));
}
