//! Shared helpers of the end-to-end tests: the airlock binary, the repository paths, a
//! running child's output collected as it comes, polling with a deadline, and the check
//! that a Docker engine answers (a missing engine fails the suite: these tests
//! exist to exercise the real sandbox, and CI must never skip them).

#![allow(dead_code, clippy::unwrap_used, clippy::expect_used)]

use std::io::Read;
use std::path::PathBuf;
use std::process::{Child, Output};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

pub fn repo() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../..")
        .canonicalize()
        .unwrap()
}

/// The airlock binary cargo built for these tests.
pub fn airlock_bin() -> PathBuf {
    assert_cmd::cargo::cargo_bin("airlock")
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

/// Polls `f` every 100 ms until it holds (returning how long that took) or `limit` passes.
pub fn wait_until(limit: Duration, mut f: impl FnMut() -> bool) -> Option<Duration> {
    let t0 = Instant::now();
    while t0.elapsed() < limit {
        if f() {
            return Some(t0.elapsed());
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    None
}

/// A child's stdout and stderr (when piped), read as they come: the child never blocks
/// on a full pipe, and a test can look at the output while the child runs.
pub struct Collected {
    stdout: Arc<Mutex<Vec<u8>>>,
    stderr: Arc<Mutex<Vec<u8>>>,
    readers: Vec<JoinHandle<()>>,
}

impl Collected {
    /// Takes the child's piped stdout and stderr and reads them on threads of their own.
    pub fn start(child: &mut Child) -> Collected {
        fn reader(
            mut pipe: impl Read + Send + 'static,
            into: Arc<Mutex<Vec<u8>>>,
        ) -> JoinHandle<()> {
            std::thread::spawn(move || {
                let mut buf = [0u8; 4096];
                while let Ok(n) = pipe.read(&mut buf) {
                    if n == 0 {
                        break;
                    }
                    into.lock().unwrap().extend_from_slice(&buf[..n]);
                }
            })
        }
        let (stdout, stderr) = (Arc::default(), Arc::default());
        let mut readers = Vec::new();
        if let Some(p) = child.stdout.take() {
            readers.push(reader(p, Arc::clone(&stdout)));
        }
        if let Some(p) = child.stderr.take() {
            readers.push(reader(p, Arc::clone(&stderr)));
        }
        Collected {
            stdout,
            stderr,
            readers,
        }
    }

    /// stdout so far.
    pub fn stdout(&self) -> String {
        String::from_utf8_lossy(&self.stdout.lock().unwrap()).into_owned()
    }

    /// stderr so far.
    pub fn stderr(&self) -> String {
        String::from_utf8_lossy(&self.stderr.lock().unwrap()).into_owned()
    }

    /// (stdout, stderr) once both pipes are closed.
    pub fn finish(self) -> (String, String) {
        for r in self.readers {
            r.join().unwrap();
        }
        let text =
            |b: &Arc<Mutex<Vec<u8>>>| String::from_utf8_lossy(&b.lock().unwrap()).into_owned();
        (text(&self.stdout), text(&self.stderr))
    }
}

/// A loopback TLS endpoint with `config` in front of what `connect` reaches (a TCP or
/// UNIX stream), copying bytes both ways on its own runtime. Returns its port.
pub fn tls_proxy<F, Fut, S>(config: tokio_rustls::rustls::ServerConfig, connect: F) -> u16
where
    F: Fn() -> Fut + Clone + Send + Sync + 'static,
    Fut: std::future::Future<Output = std::io::Result<S>> + Send,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Unpin + Send,
{
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    listener.set_nonblocking(true).unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .unwrap();
        rt.block_on(async move {
            let listener = tokio::net::TcpListener::from_std(listener).unwrap();
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let (acceptor, connect) = (acceptor.clone(), connect.clone());
                tokio::spawn(async move {
                    let Ok(mut tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let Ok(mut up) = connect().await else {
                        return;
                    };
                    let _ = tokio::io::copy_bidirectional(&mut tls, &mut up).await;
                });
            }
        });
    });
    port
}
