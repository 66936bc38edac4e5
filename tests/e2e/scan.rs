//! End-to-end tests of `airlock scan` on npm packages: real containers on a real Docker
//! engine, real npm inside, real strace. Each test checks what a user relies on: the
//! report's facts, the trace's attribution, the limits, the errors, and that nothing is
//! left behind.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::*;

#[test]
fn benign_package_without_scripts() {
    let dir = repo().join("examples/benign/plain-lib");
    let (code, r, stderr) = scan_json(&[dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(r["package"]["name"], "plain-lib");
    assert_eq!(r["package"]["ecosystem"], "npm");
    assert_eq!(r["package"]["sha256"].as_str().unwrap().len(), 64);
    assert_eq!(r["verdict"], "benign", "{:#}", r["findings"]);
    assert_eq!(phase(&r, "install")["status"], "ok");
    assert_eq!(phase(&r, "install")["exit_code"], 0);
    assert_eq!(phase(&r, "import")["status"], "ok");
    assert!(r["findings"].as_array().unwrap().is_empty());
    assert!(r["schema_version"].is_string());
}

#[test]
fn postinstall_shell_and_home_write_are_attributed() {
    let dir = repo().join("examples/benign/hello-postinstall");
    let trace = tempfile::NamedTempFile::new().unwrap();
    let (code, r, stderr) = scan_json(&[
        dir.to_str().unwrap(),
        "--trace-out",
        trace.path().to_str().unwrap(),
    ]);
    assert_eq!(code, 0, "{stderr}");
    assert_eq!(phase(&r, "install")["status"], "ok");
    let events = read_trace(trace.path());
    assert_eq!(events[0]["record"], "header");
    assert_eq!(events.last().unwrap()["record"], "footer");
    assert_eq!(events.last().unwrap()["complete"], true);
    // The sink stops when asked: before, its runtime waited on the blocking read of the
    // stdin airlock holds, so every stop ran out the 5 s wait and ended in a forced
    // removal (regression bound, far above the ~0.1-0.5 s a stop takes now).
    let sink_stop: u64 = events[0]["notes"]["timing.sink_stop_ms"]
        .as_str()
        .and_then(|v| v.parse().ok())
        .expect("timing.sink_stop_ms in the header");
    assert!(sink_stop < 4_000, "sink stop took {sink_stop} ms");
    // sh -c spawned by the postinstall, tagged with its lifecycle
    let sh = events
        .iter()
        .find(|e| {
            e["type"] == "process.exec"
                && e["outcome"] == "ok"
                && e["argv"][0] == "sh"
                && e["argv"][2]
                    .as_str()
                    .is_some_and(|a| a.contains("echo installed"))
                && e["argv"][2].as_str().is_some_and(|a| !a.contains("&&"))
        })
        .expect("the inner sh -c exec is in the trace");
    assert_eq!(sh["proc"]["lifecycle"], "postinstall");
    assert!(sh["proc"]["chain"].as_array().unwrap().iter().any(|c| {
        // A package with no dependencies installs with one `npm ci` (scripts on),
        // one with dependencies with `npm ci --ignore-scripts` then `npm rebuild`.
        let c = c.as_str().unwrap();
        c.contains("npm rebuild") || c.contains("npm ci")
    }));
    // the write of $HOME/.hello-postinstall, by the same process, as the strace open…
    let open = events
        .iter()
        .find(|e| e["type"] == "file.open" && e["path"] == "/home/runner/.hello-postinstall")
        .expect("the open of the marker file is in the trace");
    assert_eq!(open["write"], true);
    assert_eq!(open["proc"]["lifecycle"], "postinstall");
    assert_eq!(open["proc"]["pid"], sh["proc"]["pid"]);
    // …and in the filesystem diff, with its content hash
    let change = events
        .iter()
        .find(|e| e["type"] == "fs.change" && e["path"] == "/home/runner/.hello-postinstall")
        .expect("fs diff sees the marker");
    assert_eq!(change["change"], "added");
    assert_eq!(change["in_package"], false);
    assert_eq!(change["sha256"], sha256_hex(b"installed\n"));
    // the report's own summary
    assert!(r["files"]["written_outside_package"]
        .as_array()
        .unwrap()
        .iter()
        .any(|f| f["path"] == "/home/runner/.hello-postinstall"));
    // `judge` re-evaluates the stored trace the same way
    let out = airlock()
        .args(["judge", "--format", "json"])
        .arg(trace.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(0));
    let again: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(again["verdict"], r["verdict"]);
}

fn sha256_hex(data: &[u8]) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(data))
}

#[test]
fn hanging_install_times_out_and_leaves_nothing() {
    let dir = repo().join("tests/packages/hang");
    let (code, r, stderr) = scan_json(&[dir.to_str().unwrap(), "--phase-timeout", "8"]);
    assert_eq!(r["verdict"], "timed-out", "{stderr}");
    assert_eq!(code, 1, "a timed-out analysis cannot clear a package");
    let install = phase(&r, "install");
    assert_eq!(install["status"], "timed-out");
    assert!(install["duration_ms"].as_u64().unwrap() >= 8000);
    assert!(install["duration_ms"].as_u64().unwrap() < 60_000);
    assert_eq!(phase(&r, "import")["status"], "skipped");
    let mine = std::process::id().to_string();
    assert!(
        !airlock_containers().iter().any(|c| c.ends_with(&mine)),
        "containers left over: {:?}",
        airlock_containers()
    );
}

#[test]
fn fork_bomb_is_contained_and_reported() {
    let dir = repo().join("tests/packages/fork-bomb");
    let (code, r, stderr) = scan_json(&[dir.to_str().unwrap(), "--phase-timeout", "15"]);
    assert_ne!(code, 0, "{stderr}");
    assert_ne!(r["verdict"], "benign");
    let limits = r["limits"].as_array().unwrap();
    assert!(
        limits.iter().any(|l| l["limit"] == "pids"),
        "the report names the process limit: {:#}",
        r["limits"]
    );
    // the host is fine and the container is gone
    assert!(airlock_containers()
        .iter()
        .all(|c| !c.ends_with(&std::process::id().to_string())));
}

#[test]
fn failing_install_is_reported_not_benign_silence() {
    let dir = repo().join("tests/packages/install-fails");
    let (_code, r, stderr) = scan_json(&[dir.to_str().unwrap()]);
    let install = phase(&r, "install");
    assert_eq!(install["status"], "failed", "{stderr}");
    assert_ne!(install["exit_code"], 0);
    assert!(install["output_tail"]
        .as_str()
        .unwrap()
        .contains("cannot build here"));
    assert_eq!(phase(&r, "import")["status"], "skipped");
}

#[test]
fn megabytes_of_output_are_capped_and_counted() {
    let dir = repo().join("tests/packages/big-output");
    let (code, r, stderr) = scan_json(&[dir.to_str().unwrap()]);
    assert_eq!(code, 0, "{stderr}");
    let install = phase(&r, "install");
    assert_eq!(install["status"], "ok");
    assert!(install["output_bytes"].as_u64().unwrap() > 20_000_000);
    assert!(r["limits"]
        .as_array()
        .unwrap()
        .iter()
        .any(|l| l["limit"] == "output"));
    // the end of the output survives the cap: npm's last line (`npm ci` alone for a
    // package with no dependencies, else `npm rebuild`)
    let tail = install["output_tail"].as_str().unwrap();
    assert!(
        tail.contains("added 1 package") || tail.contains("rebuilt dependencies successfully"),
        "{tail}"
    );
}

#[test]
fn corrupt_tarball_is_a_clear_error() {
    let dir = tempfile::tempdir().unwrap();
    let bad = dir.path().join("evil-1.0.0.tgz");
    std::fs::write(&bad, b"\x1f\x8b\x08\x00garbage that is not deflate").unwrap();
    let out = airlock()
        .args(["scan", "--format", "json"])
        .arg(&bad)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("evil-1.0.0.tgz") && err.contains("corrupt"),
        "{err}"
    );
    assert_eq!(err.trim().lines().count(), 1, "one clear line: {err}");
    assert!(out.stdout.is_empty());
    std::fs::write(&bad, b"PK\x03\x04 a zip, not a tarball").unwrap();
    let out = airlock().args(["scan"]).arg(&bad).output().unwrap();
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("not a gzip"));
}

#[test]
fn unknown_registry_name_is_a_clear_error() {
    // A loopback "registry" that answers 404 for everything: no traffic leaves the host.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let addr = listener.local_addr().unwrap();
    std::thread::spawn(move || {
        use std::io::{Read, Write};
        for stream in listener.incoming().take(4) {
            let mut s = stream.unwrap();
            let mut buf = [0u8; 4096];
            let _ = s.read(&mut buf);
            let _ = s.write_all(b"HTTP/1.1 404 Not Found\r\ncontent-type: application/json\r\ncontent-length: 21\r\nconnection: close\r\n\r\n{\"error\":\"not found\"}");
        }
    });
    let out = airlock()
        .args([
            "scan",
            "--registry",
            &format!("http://{addr}"),
            "no-such-package-airlock@1.0.0",
        ])
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(
        err.contains("no-such-package-airlock") && err.contains("does not exist"),
        "{err}"
    );
}
