//! End-to-end tests of the registry-scale service: `airlock serve --queue nats://…
//! --database postgres://…` and `airlock worker`s, on real engines — a `nats-server -js`
//! of the test's own (its port, its store directory, so it can be restarted) and
//! Debian's PostgreSQL on loopback with a fresh database per test; both installed and
//! started by `sandbox-images/services` when missing. Real sandbox analyses of small
//! npm packages from a registry the test serves on loopback.
//!
//! What they prove: 50 submissions with 3 workers are all answered and no artifact is
//! analyzed twice; the API answers and jobs wait while no worker runs; a restart of the
//! queue server loses no acknowledged job; a poison input lands in the dead letters with
//! its error; a worker killed with SIGKILL in the middle of a job has the job redelivered
//! and finished by another.

#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;
mod localreg;

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use common::*;
use localreg::*;

/// The tests here each run several sandboxes at once; one at a time on a 2-core machine.
static SERIAL: Mutex<()> = Mutex::new(());

const TOKEN: &str = "scale-t0ken";
/// The longest any wait in these tests may take (a bound against a hung build, not a
/// timing assertion).
const BUDGET: Duration = Duration::from_secs(900);

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect_timeout(
        &std::net::SocketAddr::from(([127, 0, 0, 1], port)),
        Duration::from_secs(1),
    )
    .is_ok()
}

/// nats-server and PostgreSQL installed, PostgreSQL answering with the `airlock` role
/// (the project's script; idempotent, so it runs once per test process).
fn services() {
    static DONE: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    DONE.get_or_init(|| {
        let st = Command::new(repo().join("sandbox-images/services"))
            .stdout(Stdio::null())
            .status()
            .expect("running sandbox-images/services");
        assert!(st.success(), "sandbox-images/services failed");
    });
}

/// A database of its own for one test.
fn fresh_database() -> String {
    let name = format!(
        "t_scale_{}_{}",
        std::process::id(),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .as_nanos()
            % 1_000_000_000
    );
    let out = Command::new("psql")
        .args([
            "postgres://airlock:airlock@127.0.0.1:5432/airlock",
            "-qc",
            &format!("CREATE DATABASE {name}"),
        ])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("postgres://airlock:airlock@127.0.0.1:5432/{name}")
}

/// A `nats-server -js` of this test, on its own port and store directory.
struct Nats {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Nats {
    fn start() -> Nats {
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut n = Nats {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        n.spawn();
        n
    }

    fn spawn(&mut self) {
        let child = Command::new("nats-server")
            .args([
                "-js",
                "-a",
                "127.0.0.1",
                "-p",
                &self.port.to_string(),
                "-sd",
            ])
            .arg(self.dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap();
        self.child = Some(child);
        let t = Instant::now();
        while !port_open(self.port) {
            assert!(
                t.elapsed() < Duration::from_secs(20),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    /// SIGKILL, then the same server again on the same store.
    fn restart(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
        self.spawn();
    }

    fn url(&self) -> String {
        format!("nats://127.0.0.1:{}", self.port)
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

/// A child airlock process whose stderr is collected.
struct Proc {
    child: Child,
    log: Arc<Mutex<String>>,
}

/// A private copy of the airlock binary: the sandboxes' sink runs the binary that started
/// them, and a build in the shared target directory must not swap it mid-test.
fn airlock_bin() -> &'static Path {
    static BIN: std::sync::OnceLock<(tempfile::TempDir, std::path::PathBuf)> =
        std::sync::OnceLock::new();
    let (_, path) = BIN.get_or_init(|| {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("airlock");
        std::fs::copy(assert_cmd::cargo::cargo_bin("airlock"), &path).unwrap();
        (dir, path)
    });
    path
}

impl Proc {
    fn spawn(args: &[String], ready: &str) -> (Proc, String) {
        let mut child = Command::new(airlock_bin())
            .args(args)
            .env("NO_COLOR", "1")
            .env("AIRLOCK_LOG", "airlock=info,airlock_queue=info")
            .env_remove("AIRLOCK_TOKEN")
            .env_remove("AIRLOCK_QUEUE")
            .env_remove("AIRLOCK_DATABASE")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = child.stderr.take().unwrap();
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = std::sync::mpsc::channel();
        let (l, ready) = (log.clone(), ready.to_string());
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines() {
                let Ok(line) = line else { break };
                if let Some(rest) = line.split(ready.as_str()).nth(1) {
                    let _ = tx.send(rest.split_whitespace().next().unwrap_or("").to_string());
                }
                let mut g = l.lock().unwrap();
                g.push_str(&line);
                g.push('\n');
            }
        });
        let first = rx
            .recv_timeout(Duration::from_secs(60))
            .unwrap_or_else(|_| panic!("{args:?} did not start:\n{}", log.lock().unwrap()));
        (Proc { child, log }, first)
    }

    fn log(&self) -> String {
        self.log.lock().unwrap().clone()
    }

    fn kill9(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// SIGTERM and wait: the worker hands its job back and removes its sandboxes.
    fn stop(&mut self) {
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let t = Instant::now();
        while t.elapsed() < Duration::from_secs(60) {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(200));
        }
        self.kill9();
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            self.stop();
        }
    }
}

struct Service {
    proc: Proc,
    url: String,
}

fn serve(nats: &Nats, db: &str, reg: &Registry, data: &Path) -> Service {
    let args: Vec<String> = [
        "serve",
        "--listen",
        "127.0.0.1:0",
        "--queue",
        &nats.url(),
        "--database",
        db,
        "--data-dir",
        data.to_str().unwrap(),
        "--token",
        TOKEN,
        "--npm-registry",
        &reg.url,
        "--ack-wait",
        "6",
        "--max-attempts",
        "2",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    let (proc, url) = Proc::spawn(&args, "serving on ");
    Service { proc, url }
}

fn worker(name: &str, nats: &Nats, db: &str, reg: &Registry, data: &Path) -> Proc {
    let args: Vec<String> = [
        "worker",
        "--queue",
        &nats.url(),
        "--database",
        db,
        "--name",
        name,
        "--npm-registry",
        &reg.url,
        "--data-dir",
        data.join(name).to_str().unwrap(),
        "--ack-wait",
        "6",
        "--max-attempts",
        "2",
        "--phase-timeout",
        "60",
    ]
    .iter()
    .map(|s| s.to_string())
    .collect();
    Proc::spawn(&args, "airlock: worker ").0
}

fn http(method: &str, url: &str, body: Option<(&str, &[u8])>) -> (u16, Vec<u8>) {
    let agent = ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(30))
        .build();
    let req = agent
        .request(method, url)
        .set("Authorization", &format!("Bearer {TOKEN}"));
    let r = match body {
        Some((ctype, b)) => req.set("Content-Type", ctype).send_bytes(b),
        None => req.call(),
    };
    let resp = match r {
        Ok(r) => r,
        Err(ureq::Error::Status(_, r)) => r,
        Err(e) => panic!("{method} {url}: {e}"),
    };
    let status = resp.status();
    let mut out = Vec::new();
    std::io::Read::read_to_end(&mut resp.into_reader(), &mut out).unwrap();
    (status, out)
}

fn json(b: &[u8]) -> serde_json::Value {
    serde_json::from_slice(b).unwrap_or_else(|e| panic!("{e}: {}", String::from_utf8_lossy(b)))
}

fn metrics(s: &Service) -> String {
    String::from_utf8(http("GET", &format!("{}/metrics", s.url), None).1).unwrap()
}

/// The value of a metric line that starts with `prefix`.
fn metric(text: &str, prefix: &str) -> Option<f64> {
    text.lines()
        .find(|l| l.starts_with(prefix))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
}

fn wait_for<T>(what: &str, logs: &dyn Fn() -> String, mut f: impl FnMut() -> Option<T>) -> T {
    let start = Instant::now();
    loop {
        if let Some(v) = f() {
            return v;
        }
        assert!(
            start.elapsed() < BUDGET,
            "gave up waiting for {what}; logs:\n{}",
            logs()
        );
        std::thread::sleep(Duration::from_millis(500));
    }
}

fn status(s: &Service, id: i64) -> serde_json::Value {
    let (code, body) = http("GET", &format!("{}/v1/analyses/{id}", s.url), None);
    assert_eq!(code, 200);
    json(&body)
}

fn submit_named(s: &Service, name: &str, version: &str) -> i64 {
    let body = format!(r#"{{"ecosystem":"npm","name":"{name}","version":"{version}"}}"#);
    let (code, resp) = http(
        "POST",
        &format!("{}/v1/analyses", s.url),
        Some(("application/json", body.as_bytes())),
    );
    assert_eq!(code, 202, "{}", String::from_utf8_lossy(&resp));
    json(&resp)["id"].as_i64().unwrap()
}

fn publish_versions(reg: &Registry, name: &str, versions: &[String]) {
    for v in versions {
        let (n, v) = (name.to_string(), v.clone());
        reg.publish(&pack(&repo().join("examples/benign/plain-lib"), move |m| {
            m["name"] = serde_json::Value::String(n);
            m["version"] = serde_json::Value::String(v);
        }));
    }
}

/// Containers of the given airlock processes (other tests may run sandboxes meanwhile).
fn sandboxes_of(pids: &[u32]) -> Vec<String> {
    airlock_containers()
        .into_iter()
        .filter(|l| {
            l.split_whitespace()
                .nth(1)
                .and_then(|p| p.parse::<u32>().ok())
                .is_some_and(|p| pids.contains(&p))
        })
        .collect()
}

fn no_sandboxes_left(pids: &[u32], logs: &dyn Fn() -> String) {
    wait_for("the sandboxes to be removed", logs, || {
        sandboxes_of(pids).is_empty().then_some(())
    });
}

#[test]
fn fifty_submissions_three_workers_restart_and_poison() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_docker();
    services();
    let mut nats = Nats::start();
    let db = fresh_database();
    let reg = Registry::start();
    let versions: Vec<String> = (0..10).map(|i| format!("1.0.{i}")).collect();
    publish_versions(&reg, "scale-lib", &versions);
    let tmp = tempfile::tempdir().unwrap();
    let svc = serve(&nats, &db, &reg, tmp.path());

    // 1. No worker runs: the API answers, every submission is accepted and waits.
    let mut ids = Vec::new();
    for i in 0..50 {
        ids.push(submit_named(
            &svc,
            "scale-lib",
            &versions[i % versions.len()],
        ));
    }
    let mut poison = b"\x1f\x8b".to_vec();
    poison.extend_from_slice(b"this is not a gzip stream at all");
    let (code, resp) = http(
        "POST",
        &format!("{}/v1/analyses", svc.url),
        Some(("application/octet-stream", &poison)),
    );
    assert_eq!(code, 202, "{}", String::from_utf8_lossy(&resp));
    let poison_id = json(&resp)["id"].as_i64().unwrap();
    let mut unique = ids.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 50);
    assert_eq!(status(&svc, ids[0])["status"], "queued");
    assert_eq!(http("GET", &format!("{}/healthz", svc.url), None).0, 200);
    let m = metrics(&svc);
    assert_eq!(
        metric(&m, "airlock_queue_depth{state=\"queued\"}"),
        Some(51.0),
        "{m}"
    );

    // 2. The queue server restarts (SIGKILL): nothing it acknowledged is lost.
    nats.restart();
    let logs = || svc.proc.log();
    wait_for("the service to see the restarted queue", &logs, || {
        let m = metrics(&svc);
        (metric(&m, "airlock_queue_up") == Some(1.0)).then_some(())?;
        (metric(&m, "airlock_queue_depth{state=\"queued\"}") == Some(51.0)).then_some(())
    });

    // 3. Three workers drain it.
    let workers: Vec<Proc> = (1..=3)
        .map(|n| worker(&format!("w{n}"), &nats, &db, &reg, tmp.path()))
        .collect();
    let all_logs = || {
        let mut s = svc.proc.log();
        for w in &workers {
            s.push_str(&w.log());
        }
        s
    };
    let started = Instant::now();
    let finished = wait_for("all 51 jobs to finish", &all_logs, || {
        let st: Vec<serde_json::Value> = ids
            .iter()
            .chain([&poison_id])
            .map(|&id| status(&svc, id))
            .collect();
        st.iter()
            .all(|s| s["status"] == "done" || s["status"] == "failed")
            .then_some(st)
    });
    let took = started.elapsed();
    let (named, poisoned) = finished.split_at(50);
    for s in named {
        assert_eq!(s["status"], "done", "{s:#}\n{}", all_logs());
        assert_eq!(s["attempts"], 1, "a job ran twice: {s:#}");
        assert_eq!(s["verdict"], "benign", "{s:#}");
    }
    let analyzed = named.iter().filter(|s| s["cached"] == false).count();
    assert_eq!(
        analyzed, 10,
        "each of the 10 artifacts is analyzed once, the other 40 jobs answered from the store"
    );
    let p = &poisoned[0];
    assert_eq!(p["status"], "failed", "{p:#}");
    assert_eq!(p["attempts"], 2, "{p:#}");
    assert!(
        p["error"]
            .as_str()
            .unwrap()
            .contains("gave up after 2 attempt"),
        "{p:#}"
    );
    let m = metrics(&svc);
    assert_eq!(metric(&m, "airlock_queue_dead_letters"), Some(1.0), "{m}");
    assert_eq!(
        metric(&m, "airlock_queue_depth{state=\"queued\"}"),
        Some(0.0),
        "{m}"
    );
    let done_by_workers: f64 = m
        .lines()
        .filter(|l| l.starts_with("airlock_worker_jobs_total{") && l.contains("outcome=\"done\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert_eq!(done_by_workers, 50.0, "{m}");
    eprintln!(
        "scale: 51 jobs (10 sandbox analyses) with 3 workers in {:.1} s",
        took.as_secs_f64()
    );

    // 4. The verdicts are in PostgreSQL, where `airlock cache` reads them.
    let out = Command::new(airlock_bin())
        .args(["cache", "--database", &db, "ls", "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let ls: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    let rows = ls.as_array().unwrap();
    assert_eq!(rows.len(), 10, "{ls:#}");
    assert!(rows.iter().all(|r| r["runs"] == 1), "{ls:#}");
    let out = Command::new(airlock_bin())
        .args(["rejudge", "--database", &db, "--json"])
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "rejudge on PostgreSQL: {}",
        String::from_utf8_lossy(&out.stderr)
    );

    let pids: Vec<u32> = workers.iter().map(|w| w.child.id()).collect();
    drop(workers);
    no_sandboxes_left(&pids, &|| svc.proc.log());
}

#[test]
fn a_worker_killed_mid_job_has_its_job_redelivered() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_docker();
    services();
    let nats = Nats::start();
    let db = fresh_database();
    let reg = Registry::start();
    publish_versions(&reg, "kill-lib", &["2.0.0".to_string()]);
    let tmp = tempfile::tempdir().unwrap();
    let svc = serve(&nats, &db, &reg, tmp.path());
    let mut victim = worker("victim", &nats, &db, &reg, tmp.path());
    let id = submit_named(&svc, "kill-lib", "2.0.0");
    // In the middle of the job: taken, and its sandbox exists.
    let victim_pid = victim.child.id();
    wait_for("the victim to start the sandbox", &|| victim.log(), || {
        (victim.log().contains("job taken") && !sandboxes_of(&[victim_pid]).is_empty())
            .then_some(())
    });
    std::thread::sleep(Duration::from_secs(2));
    victim.kill9();
    assert_eq!(status(&svc, id)["status"], "running");

    let rescuer = worker("rescuer", &nats, &db, &reg, tmp.path());
    let logs = || format!("{}{}{}", svc.proc.log(), victim.log(), rescuer.log());
    let s = wait_for("the redelivered job to finish", &logs, || {
        let s = status(&svc, id);
        (s["status"] == "done" || s["status"] == "failed").then_some(s)
    });
    assert_eq!(s["status"], "done", "{s:#}\n{}", logs());
    assert_eq!(s["attempts"], 2, "{s:#}");
    assert_eq!(s["worker"], "rescuer", "{s:#}");
    assert_eq!(s["verdict"], "benign", "{s:#}");
    assert_eq!(s["cached"], false, "{s:#}");
    let m = metrics(&svc);
    assert_eq!(
        metric(&m, "airlock_job_redeliveries_total"),
        Some(1.0),
        "{m}"
    );
    assert_eq!(metric(&m, "airlock_queue_dead_letters"), Some(0.0), "{m}");

    // An uploaded tarball reaches the worker through the queue's object store.
    let packed = pack(&repo().join("examples/benign/plain-lib"), |m| {
        m["name"] = serde_json::Value::String("upload-lib".into());
        m["version"] = serde_json::Value::String("4.0.0".into());
    });
    let (code, resp) = http(
        "POST",
        &format!("{}/v1/analyses", svc.url),
        Some(("application/octet-stream", &packed.tgz)),
    );
    assert_eq!(code, 202, "{}", String::from_utf8_lossy(&resp));
    let up = json(&resp)["id"].as_i64().unwrap();
    let s = wait_for("the upload's job to finish", &logs, || {
        let s = status(&svc, up);
        (s["status"] == "done" || s["status"] == "failed").then_some(s)
    });
    assert_eq!(s["status"], "done", "{s:#}\n{}", logs());
    assert_eq!(s["verdict"], "benign", "{s:#}");
    assert_eq!(s["package"]["name"], "upload-lib", "{s:#}");
    let rescuer_pid = rescuer.child.id();
    drop(rescuer);
    // The victim's sandboxes go too (they remove themselves; workers reap leftovers).
    no_sandboxes_left(&[victim_pid, rescuer_pid], &|| svc.proc.log());
}

/// The BENCHMARKS.md figure: the same 9 distinct small artifacts drained by 1, 2 and 3
/// workers on this machine (fresh queue and database each time, so nothing is cached).
/// `cargo test -p airlock --test e2e_scale -- --ignored --nocapture throughput`
#[test]
#[ignore = "benchmark: minutes of sandbox time; run by hand for BENCHMARKS.md"]
fn throughput_with_one_two_three_workers() {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    require_docker();
    services();
    let jobs = 9;
    let mut rows = Vec::new();
    for n in 1..=3usize {
        let nats = Nats::start();
        let db = fresh_database();
        let reg = Registry::start();
        let name = format!("bench-lib-{n}");
        let versions: Vec<String> = (0..jobs).map(|i| format!("3.0.{i}")).collect();
        publish_versions(&reg, &name, &versions);
        let tmp = tempfile::tempdir().unwrap();
        let svc = serve(&nats, &db, &reg, tmp.path());
        let ids: Vec<i64> = versions
            .iter()
            .map(|v| submit_named(&svc, &name, v))
            .collect();
        let cpu0 = busy_jiffies();
        let started = Instant::now();
        let workers: Vec<Proc> = (1..=n)
            .map(|k| worker(&format!("b{n}-{k}"), &nats, &db, &reg, tmp.path()))
            .collect();
        let logs = || svc.proc.log();
        wait_for("the benchmark jobs", &logs, || {
            ids.iter()
                .all(|&id| status(&svc, id)["status"] == "done")
                .then_some(())
        });
        let secs = started.elapsed().as_secs_f64();
        let cpu = (busy_jiffies() - cpu0) as f64 / 100.0;
        rows.push((n, secs, cpu));
        drop(workers);
    }
    println!("| workers | jobs | wall s | jobs/min | machine busy core-s per job |");
    println!("| --- | --- | --- | --- | --- |");
    for (n, secs, cpu) in rows {
        println!(
            "| {n} | {jobs} | {secs:.0} | {:.1} | {:.1} |",
            jobs as f64 * 60.0 / secs,
            cpu / jobs as f64
        );
    }
}

/// Busy CPU time of the whole machine so far, in jiffies (user+nice+system+irq+softirq).
fn busy_jiffies() -> u64 {
    let stat = std::fs::read_to_string("/proc/stat").unwrap();
    let cpu = stat.lines().next().unwrap();
    let f: Vec<u64> = cpu
        .split_whitespace()
        .skip(1)
        .filter_map(|x| x.parse().ok())
        .collect();
    f[0] + f[1] + f[2] + f[5] + f[6]
}
