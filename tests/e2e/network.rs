//! End-to-end proofs of the network invariants (issue 3): from inside the sandbox, every
//! way out — a public address, a private range, the Docker bridge, loopback, IPv6, the
//! metadata address — ends at the sink, which records it, while a listener on the host
//! receives nothing; HTTPS from curl, node and python completes against the sink with
//! the request recorded; DNS exfiltration is recorded; a dropper's download, write,
//! chmod and exec land in one trace; and the package user cannot touch the rules or
//! the sink.

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
