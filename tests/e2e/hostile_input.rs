//! End-to-end tests of hostile *inputs* to the host side of airlock (issue 19, "the host
//! must not pay"): an npm tarball built as a decompression bomb must never be unpacked
//! on the host (bounded disk and memory, a report that says what happened, no hang);
//! a name or version that is a path must never become one; a package name holding
//! terminal escapes and bidi overrides must never reach the terminal raw.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
#[path = "localreg.rs"]
mod localreg;

use std::io::{Read as _, Write};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use common::*;
use localreg::*;

/// A gzip tarball `package/package.json` = `manifest`, then `files` bundled zero-filled
/// files of `each` bytes under `package/node_modules/filler/` (gzip -1: about 230:1).
fn bomb(manifest: &serde_json::Value, files: usize, each: u64) -> Vec<u8> {
    let mut gz = Command::new("gzip")
        .arg("-1")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    let stdin = gz.stdin.take().unwrap();
    let manifest = serde_json::to_vec(manifest).unwrap();
    let writer = std::thread::spawn(move || {
        let mut b = tar::Builder::new(std::io::BufWriter::with_capacity(1 << 20, stdin));
        let mut add = |path: &str, size: u64, data: &mut dyn std::io::Read| {
            let mut h = tar::Header::new_gnu();
            h.set_size(size);
            h.set_mode(0o644);
            h.set_mtime(0);
            h.set_cksum();
            b.append_data(&mut h, path, data).unwrap();
        };
        add(
            "package/package.json",
            manifest.len() as u64,
            &mut manifest.as_slice(),
        );
        let filler = br#"{"name":"filler","version":"1.0.0"}"#;
        add(
            "package/node_modules/filler/package.json",
            filler.len() as u64,
            &mut filler.as_slice(),
        );
        for i in 0..files {
            add(
                &format!("package/node_modules/filler/zeros-{i}.bin"),
                each,
                &mut std::io::repeat(0).take(each),
            );
        }
        b.into_inner().unwrap().flush().unwrap();
    });
    let out = gz.wait_with_output().unwrap();
    writer.join().unwrap();
    assert!(out.status.success());
    out.stdout
}

/// Bytes of every file under `dir` (0 when it is gone).
fn tree_size(dir: &Path) -> u64 {
    let mut total = 0;
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        let Ok(rd) = std::fs::read_dir(&d) else {
            continue;
        };
        for e in rd.flatten() {
            let Ok(md) = e.path().symlink_metadata() else {
                continue;
            };
            if md.is_dir() {
                stack.push(e.path());
            } else {
                total += md.len();
            }
        }
    }
    total
}

/// Resident memory (kB) of `pid` and every process below it, from /proc.
fn tree_rss_kb(pid: u32) -> u64 {
    let mut children: std::collections::HashMap<u32, Vec<u32>> = Default::default();
    let mut rss: std::collections::HashMap<u32, u64> = Default::default();
    for e in std::fs::read_dir("/proc").unwrap().flatten() {
        let Ok(p) = e.file_name().to_string_lossy().parse::<u32>() else {
            continue;
        };
        let Ok(status) = std::fs::read_to_string(format!("/proc/{p}/status")) else {
            continue;
        };
        let field = |k: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(k))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse::<u64>().ok())
        };
        if let Some(pp) = field("PPid:") {
            children.entry(pp as u32).or_default().push(p);
        }
        rss.insert(p, field("VmRSS:").unwrap_or(0));
    }
    let mut total = 0;
    let mut stack = vec![pid];
    while let Some(p) = stack.pop() {
        total += rss.get(&p).copied().unwrap_or(0);
        stack.extend(children.get(&p).into_iter().flatten());
    }
    total
}

struct Measured {
    code: i32,
    report: serde_json::Value,
    stderr: String,
    peak_disk: u64,
    peak_rss_kb: u64,
    wall: Duration,
}

/// Runs `airlock scan --format json ARGS` with its temporary files in `tmp`, sampling
/// the disk used under `tmp` and the memory of airlock's process tree; kills it after
/// `deadline` (a hang fails the test).
fn scan_measured(
    args: &[&str],
    tmp: &Path,
    env: &[(String, String)],
    deadline: Duration,
) -> Measured {
    require_docker();
    let mut cmd = Command::new(airlock_bin());
    cmd.arg("scan")
        .args(["--format", "json", "--no-store"])
        .args(args)
        .env("TMPDIR", tmp)
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let t0 = Instant::now();
    let mut child = cmd.spawn().unwrap();
    let output = Collected::start(&mut child);
    let (mut peak_disk, mut peak_rss_kb) = (0, 0);
    let status = loop {
        if let Some(st) = child.try_wait().unwrap() {
            break st;
        }
        peak_disk = peak_disk.max(tree_size(tmp));
        peak_rss_kb = peak_rss_kb.max(tree_rss_kb(child.id()));
        if t0.elapsed() > deadline {
            child.kill().unwrap();
            panic!("airlock scan still running after {deadline:?}: a hang");
        }
        std::thread::sleep(Duration::from_millis(100));
    };
    let wall = t0.elapsed();
    let (stdout, stderr) = output.finish();
    let report = serde_json::from_str(&stdout).unwrap_or_else(|err| {
        panic!("stdout is not one JSON report ({err}):\n{stdout}\nstderr:\n{stderr}")
    });
    Measured {
        code: status.code().unwrap_or(-1),
        report,
        stderr,
        peak_disk,
        peak_rss_kb,
        wall,
    }
}

/// Before: the host resolved the target with `npm install --package-lock-only` and the
/// tarball as a `file:` dependency, so npm unpacked it on the host (as root): a 3.7 MB
/// package became 3 GB of disk and 3.3 GB of memory, and the verdict was benign. Now the
/// host resolves only the target's dependencies (from its manifest, read in memory) and
/// the tarball is unpacked in the sandbox alone.
#[test]
fn a_bomb_is_never_unpacked_on_the_host() {
    let reg = Registry::start();
    reg.publish(&pack(&repo().join("examples/benign/plain-lib"), |_| {}));
    let tmp = tempfile::tempdir().unwrap();
    let files = 256;
    let each = 4 << 20; // 256 × 4 MiB = 1 GiB unpacked
    let manifest = serde_json::json!({
        "name": "bomb-bundle",
        "version": "1.0.0",
        "dependencies": { "plain-lib": "^1.0.0", "filler": "1.0.0" },
        "bundleDependencies": ["filler"],
    });
    let tgz = bomb(&manifest, files, each);
    let input = tmp.path().join("input");
    std::fs::create_dir(&input).unwrap();
    let path = input.join("bomb-bundle-1.0.0.tgz");
    std::fs::write(&path, &tgz).unwrap();
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let npm_dir = tmp.path().join("npm");
    std::fs::create_dir(&npm_dir).unwrap();
    let mut env = npm_env(&reg.url, &npm_dir);
    env.push(("AIRLOCK_NPM_REGISTRY".into(), reg.url.clone()));
    let m = scan_measured(
        // A bomb is a finding (suspicious), not proof of harm: the pipeline's gate is
        // `--fail-on suspicious`, and it must refuse.
        &[
            path.to_str().unwrap(),
            "--registry",
            &reg.url,
            "--fail-on",
            "suspicious",
        ],
        &scratch,
        &env,
        Duration::from_secs(900),
    );
    let unpacked = files as u64 * each;
    eprintln!(
        "bomb: {} bytes compressed, {unpacked} unpacked; exit {}, verdict {}, peak host disk under TMPDIR {} bytes, peak RSS of airlock's process tree {} kB, {:.1} s",
        tgz.len(),
        m.code,
        m.report["verdict"],
        m.peak_disk,
        m.peak_rss_kb,
        m.wall.as_secs_f64()
    );
    // The host never holds the unpacked bytes: a few copies of the tarball at most.
    assert!(
        m.peak_disk < 16 * tgz.len() as u64 + (64 << 20),
        "host disk peaked at {} bytes for a {} byte tarball",
        m.peak_disk,
        tgz.len()
    );
    assert!(m.peak_disk < unpacked / 8);
    // Memory: the in-memory readers are bounded (the static pass keeps at most 512 MiB).
    assert!(
        m.peak_rss_kb < 1_500_000,
        "RSS peaked at {} kB",
        m.peak_rss_kb
    );
    // Not benign, and the report says why.
    assert!(m.code == 1 || m.code == 2, "exit {}\n{}", m.code, m.stderr);
    assert_ne!(m.report["verdict"], "benign", "{}", m.report);
    let text = m.report.to_string();
    assert!(
        text.contains("bomb") || text.contains("limit") || text.contains("ratio"),
        "the report does not say what happened: {}",
        m.report
    );
    // The registry dependency was still resolved from the manifest.
    assert!(
        reg.log().iter().any(|l| l.contains("plain-lib")),
        "{:?}",
        reg.log()
    );
}

/// A package.json whose dependency is a URL or a host path: nothing is fetched or read
/// on the host for it; the scan completes (issue 15: URL dependencies are findings,
/// never a tool error).
#[test]
fn url_and_path_dependencies_are_not_fetched_on_the_host() {
    let reg = Registry::start();
    let tmp = tempfile::tempdir().unwrap();
    let pkg = tmp.path().join("pkg");
    std::fs::create_dir(&pkg).unwrap();
    std::fs::write(
        pkg.join("package.json"),
        serde_json::to_vec(&serde_json::json!({
            "name": "remote-deps",
            "version": "1.0.0",
            "dependencies": {
                "payload": "http://203.0.113.7/payload.tgz",
                "hostfile": "file:/etc",
                "gh": "github:someone/payload#main"
            }
        }))
        .unwrap(),
    )
    .unwrap();
    std::fs::write(pkg.join("index.js"), "module.exports = 1;\n").unwrap();
    let scratch = tmp.path().join("scratch");
    std::fs::create_dir(&scratch).unwrap();
    let npm_dir = tmp.path().join("npm");
    std::fs::create_dir(&npm_dir).unwrap();
    let env = npm_env(&reg.url, &npm_dir);
    let m = scan_measured(
        &[pkg.to_str().unwrap(), "--registry", &reg.url],
        &scratch,
        &env,
        Duration::from_secs(600),
    );
    assert_ne!(m.code, 2, "a tool error:\n{}\n{}", m.stderr, m.report);
    assert_ne!(m.report["verdict"], "error", "{}", m.report);
    let text = m.report.to_string();
    assert!(text.contains("203.0.113.7"), "{}", m.report);
    assert!(reg.log().is_empty(), "{:?}", reg.log());
}

/// Before: a version string was joined into a host path unchecked. Now a name or
/// version that is not npm's is an error naming the field (exit 2), and nothing is
/// written outside the work directory.
#[test]
fn a_version_that_is_a_path_is_refused() {
    let tmp = tempfile::tempdir().unwrap();
    for (name, version, field) in [
        ("evil", "../../../../../../tmp/airlock-pwned", "version"),
        ("evil", "/tmp/airlock-pwned", "version"),
        ("../evil", "1.0.0", "name"),
    ] {
        let tgz = bomb(&serde_json::json!({"name": name, "version": version}), 0, 0);
        let path = tmp.path().join("t.tgz");
        std::fs::write(&path, &tgz).unwrap();
        let out = airlock()
            .args(["scan", "--no-store", path.to_str().unwrap()])
            .env("TMPDIR", tmp.path())
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{stderr}");
        assert!(stderr.contains(field), "{stderr}");
        assert!(!Path::new("/tmp/airlock-pwned").exists());
        assert!(!Path::new("/tmp/airlock-pwned.tgz").exists());
    }
}

/// Before: errors echoed a package name's raw ESC sequences and bidi overrides to the
/// terminal. Now every error line goes through `airlock_report::neutralise`.
#[test]
fn errors_never_print_raw_escapes_or_bidi_overrides() {
    let tmp = tempfile::tempdir().unwrap();
    let name = "evil\u{1b}[31mred\u{202e}txt.exe";
    let tgz = bomb(&serde_json::json!({"name": name, "version": "1.0.0"}), 0, 0);
    let path = tmp.path().join("t.tgz");
    std::fs::write(&path, &tgz).unwrap();
    let out = airlock()
        .args(["scan", "--no-store", path.to_str().unwrap()])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "raw ESC on stderr: {stderr:?}");
    assert!(
        !stderr.contains('\u{202e}'),
        "raw U+202E on stderr: {stderr:?}"
    );
    assert!(stderr.contains("u{202e}"), "{stderr}");
    // A file name chosen by whoever sent the sample: quoted raw in the error before.
    let path = tmp.path().join("sample\u{1b}]0;owned\u{7}\u{202e}gz.tgz");
    std::fs::write(&path, b"not an archive").unwrap();
    let out = airlock()
        .args(["scan", "--no-store", path.to_str().unwrap()])
        .env("TMPDIR", tmp.path())
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{stderr}");
    assert!(!stderr.contains('\u{1b}'), "raw ESC on stderr: {stderr:?}");
    assert!(!stderr.contains('\u{7}'), "raw BEL on stderr: {stderr:?}");
    assert!(
        !stderr.contains('\u{202e}'),
        "raw U+202E on stderr: {stderr:?}"
    );
    assert!(stderr.contains("\\x1b]0;owned\\x07\\u{202e}"), "{stderr}");
}
