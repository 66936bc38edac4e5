//! The store under concurrent writers and crashes, with real OS processes: this test
//! binary re-runs itself (the ignored `child_entry` test) with an environment variable
//! that selects a role — writer, job claimer, a writer that gets SIGKILLed mid-run, or a
//! raw connection killed inside an open write transaction.
#![allow(clippy::unwrap_used)]

mod common;

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_events::{Ecosystem, Verdict};
use airlock_store::{JobState, Store, StoreOptions};
use common::{key, run, trace, verdict};

const ROLE: &str = "AIRLOCK_STORE_TEST_ROLE";
const STORE: &str = "AIRLOCK_STORE_TEST_PATH";
const ARG: &str = "AIRLOCK_STORE_TEST_ARG";
const GO: &str = "AIRLOCK_STORE_TEST_GO";

fn spawn(role: &str, store: &Path, arg: &str, go: Option<&Path>) -> Child {
    let mut cmd = Command::new(std::env::current_exe().unwrap());
    cmd.args([
        "child_entry",
        "--exact",
        "--ignored",
        "--nocapture",
        "--test-threads=1",
    ])
    .env(ROLE, role)
    .env(STORE, store)
    .env(ARG, arg)
    .stdout(Stdio::piped())
    .stderr(Stdio::inherit());
    if let Some(go) = go {
        cmd.env(GO, go);
    }
    cmd.spawn().unwrap()
}

/// What follows `marker` in a line of a child's output. The test harness prints
/// `test child_entry ... ` without a newline, so a marker may sit mid-line.
fn after(line: &str, marker: &str) -> Option<String> {
    line.find(marker)
        .map(|i| line[i + marker.len()..].trim_end().to_string())
}

/// Lines of a child's stdout that start with `prefix`, until it exits.
fn collect(child: Child, prefix: &str) -> Vec<String> {
    let out = child.wait_with_output().unwrap();
    assert!(out.status.success(), "child failed: {:?}", out.status);
    String::from_utf8(out.stdout)
        .unwrap()
        .lines()
        .filter_map(|l| after(l, prefix))
        .collect()
}

/// Reads a child's stdout until a line starting with `prefix` has been seen `n` times.
fn wait_for(reader: &mut impl BufRead, prefix: &str, n: usize) {
    let mut seen = 0;
    let mut line = String::new();
    while seen < n {
        line.clear();
        assert!(
            reader.read_line(&mut line).unwrap() > 0,
            "child ended before {prefix} x{n}"
        );
        if after(&line, prefix).is_some() {
            seen += 1;
        }
    }
}

fn now_ms() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap()
        .as_millis()
}

/// Children wait for the parent's go file so that they really start together.
fn wait_go() {
    if let Some(go) = std::env::var_os(GO) {
        let deadline = Instant::now() + Duration::from_secs(30);
        while !Path::new(&go).exists() {
            assert!(Instant::now() < deadline, "no go signal");
            std::thread::sleep(Duration::from_millis(1));
        }
    }
}

#[test]
#[ignore = "entry point of the child processes the other tests in this file spawn"]
fn child_entry() {
    let Ok(role) = std::env::var(ROLE) else {
        eprintln!("child_entry only runs as a child of the concurrency tests");
        return;
    };
    let path = PathBuf::from(std::env::var_os(STORE).unwrap());
    let arg = std::env::var(ARG).unwrap_or_default();
    match role.as_str() {
        // arg: "<prefix> <count> <busy_timeout_ms>"
        "writer" => {
            let parts: Vec<&str> = arg.split(' ').collect();
            let (prefix, count) = (parts[0], parts[1].parse::<usize>().unwrap());
            let busy = Duration::from_millis(parts[2].parse().unwrap());
            let store = Store::open_with(
                &path,
                StoreOptions {
                    busy_timeout: busy,
                    ..StoreOptions::default()
                },
            )
            .unwrap();
            println!("READY");
            wait_go();
            let start = now_ms();
            for i in 0..count {
                let t = trace(i as u64, 200);
                let id = format!("{prefix}-{i}");
                // Artifacts are shared between writers: the upsert races too.
                store
                    .record_run(
                        &key(&format!("pkg-{}", i % 50), "1.0.0", &format!("h{}", i % 50)),
                        &run(&id, i as f64, &t),
                        &verdict("rs", Verdict::Benign, id.as_bytes()),
                    )
                    .unwrap();
            }
            println!("SPAN {start} {}", now_ms());
        }
        "claimer" => {
            let store = Store::open(&path).unwrap();
            wait_go();
            while let Some(job) = store.claim_next().unwrap() {
                store
                    .finish(job.id, Ok(&std::process::id().to_string()))
                    .unwrap();
                println!("CLAIMED {}", job.id);
            }
        }
        // Writes big runs forever; the parent kills it. arg: run id prefix.
        "crash-writer" => {
            let store = Store::open(&path).unwrap();
            for i in 0u64.. {
                let t = trace(i, 4000);
                let id = format!("{arg}-{i}");
                store
                    .record_run(
                        &key(&id, "1", &id),
                        &run(&id, i as f64, &t),
                        &verdict("rs", Verdict::Suspicious, id.as_bytes()),
                    )
                    .unwrap();
                println!("COMMITTED {id}");
            }
        }
        // Opens a raw write transaction, spills uncommitted pages to the WAL, waits to
        // be killed.
        "crash-open-tx" => {
            let conn = rusqlite::Connection::open(&path).unwrap();
            conn.execute_batch("PRAGMA cache_size = 4; BEGIN IMMEDIATE;")
                .unwrap();
            let filler = "x".repeat(500);
            for i in 0..3000 {
                conn.execute(
                    "INSERT INTO artifacts (ecosystem, name, version, sha256, created_at)
                     VALUES ('npm', ?1, '1', '', 0)",
                    [format!("inflight-{i}-{filler}")],
                )
                .unwrap();
            }
            println!("READY");
            std::thread::sleep(Duration::from_secs(120));
        }
        other => panic!("unknown role {other}"),
    }
}

fn check_store(store: &Store) {
    assert_eq!(store.integrity_check().unwrap(), ["ok"]);
    let conn = rusqlite::Connection::open(store.path()).unwrap();
    let fk: i64 = conn
        .query_row("SELECT COUNT(*) FROM pragma_foreign_key_check", [], |r| {
            r.get(0)
        })
        .unwrap();
    assert_eq!(fk, 0, "dangling foreign keys");
    let orphan_runs: i64 = conn
        .query_row(
            "SELECT COUNT(*) FROM runs r WHERE NOT EXISTS (SELECT 1 FROM verdicts v WHERE v.run_id = r.id)",
            [],
            |r| r.get(0),
        )
        .unwrap();
    assert_eq!(orphan_runs, 0, "a run was stored without its verdict");
}

#[test]
fn two_processes_write_200_runs_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    drop(Store::open(&path).unwrap());
    let go = dir.path().join("go");
    // busy_timeout 1 ms: contention surfaces as SQLITE_BUSY and the store's own retry
    // loop must absorb it.
    let mut a = spawn("writer", &path, "a 200 1", Some(&go));
    let mut b = spawn("writer", &path, "b 200 1", Some(&go));
    for c in [&mut a, &mut b] {
        wait_for(&mut BufReader::new(c.stdout.as_mut().unwrap()), "READY", 1);
    }
    std::fs::write(&go, b"").unwrap();
    let spans: Vec<(u128, u128)> = [a, b]
        .into_iter()
        .map(|c| {
            let span = collect(c, "SPAN ");
            let v: Vec<u128> = span[0].split(' ').map(|x| x.parse().unwrap()).collect();
            (v[0], v[1])
        })
        .collect();
    // The writers really overlapped in time.
    assert!(
        spans[0].0 < spans[1].1 && spans[1].0 < spans[0].1,
        "{spans:?}"
    );

    let store = Store::open(&path).unwrap();
    let s = store.stats().unwrap();
    assert_eq!((s.runs, s.verdicts, s.artifacts), (400, 400, 50));
    check_store(&store);
    // Every run is there with its own trace and report.
    for prefix in ["a", "b"] {
        for i in [0usize, 77, 199] {
            let id = format!("{prefix}-{i}");
            let todo = store.traces_needing_rejudge("other").unwrap();
            let item = todo.iter().find(|t| t.run_id == id).unwrap();
            assert_eq!(store.load_trace(item.run).unwrap(), trace(i as u64, 200));
        }
    }
}

#[test]
fn two_threads_with_separate_connections_write_200_runs_each() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("store.sqlite3"));
    drop(Store::open(&*path).unwrap());
    let barrier = Arc::new(std::sync::Barrier::new(2));
    let handles: Vec<_> = ["t1", "t2"]
        .into_iter()
        .map(|prefix| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                let store = Store::open(&*path).unwrap();
                barrier.wait();
                for i in 0..200u64 {
                    let t = trace(i, 50);
                    let id = format!("{prefix}-{i}");
                    store
                        .record_run(
                            &key(&format!("p{}", i % 20), "1", "h"),
                            &run(&id, 0.0, &t),
                            &verdict("rs", Verdict::Benign, b"{}"),
                        )
                        .unwrap();
                }
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = Store::open(&*path).unwrap();
    let s = store.stats().unwrap();
    assert_eq!((s.runs, s.verdicts, s.artifacts), (400, 400, 20));
    check_store(&store);
}

#[test]
fn two_processes_never_claim_the_same_job() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let store = Store::open(&path).unwrap();
    let mut ids = Vec::new();
    for i in 0..300 {
        ids.push(
            store
                .enqueue("analyze", &serde_json::json!({ "i": i }), 1000)
                .unwrap()
                .0,
        );
    }
    let go = dir.path().join("go");
    let a = spawn("claimer", &path, "", Some(&go));
    let b = spawn("claimer", &path, "", Some(&go));
    std::fs::write(&go, b"").unwrap();
    let mut claimed: Vec<i64> = [a, b]
        .into_iter()
        .flat_map(|c| collect(c, "CLAIMED "))
        .map(|s| s.parse().unwrap())
        .collect();
    claimed.sort_unstable();
    // Each job claimed exactly once: no duplicates, none lost.
    assert_eq!(claimed, ids);
    for id in [ids[0], ids[150], ids[299]] {
        assert_eq!(
            store.job(airlock_store::JobId(id)).unwrap().unwrap().state,
            JobState::Done
        );
    }
    assert_eq!(store.queue_depth().unwrap(), Default::default());
}

#[test]
fn enqueue_bound_holds_under_concurrent_submitters() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("store.sqlite3"));
    drop(Store::open(&*path).unwrap());
    let handles: Vec<_> = (0..4)
        .map(|t| {
            let path = path.clone();
            std::thread::spawn(move || {
                let store = Store::open(&*path).unwrap();
                let mut ok = 0;
                for i in 0..50 {
                    match store.enqueue("analyze", &serde_json::json!([t, i]), 100) {
                        Ok(_) => ok += 1,
                        Err(e) => assert!(e.is_queue_full(), "{e}"),
                    }
                }
                ok
            })
        })
        .collect();
    let accepted: usize = handles.into_iter().map(|h| h.join().unwrap()).sum();
    assert_eq!(accepted, 100);
    let store = Store::open(&*path).unwrap();
    assert_eq!(store.queue_depth().unwrap().queued, 100);
}

#[test]
fn writer_killed_mid_run_loses_at_most_that_run() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let store = Store::open(&path).unwrap();
    let base = trace(999, 100);
    store
        .record_run(
            &key("before", "1", "b"),
            &run("before", 0.0, &base),
            &verdict("rs", Verdict::Benign, b"{}"),
        )
        .unwrap();
    drop(store);
    let mut committed = 1;
    // Kill at a few different moments after the n-th commit.
    for (round, delay_ms) in [0u64, 3, 11, 25].into_iter().enumerate() {
        let mut child = spawn("crash-writer", &path, &format!("k{round}"), None);
        {
            let mut out = BufReader::new(child.stdout.as_mut().unwrap());
            wait_for(&mut out, "COMMITTED ", 3);
        }
        std::thread::sleep(Duration::from_millis(delay_ms));
        child.kill().unwrap(); // SIGKILL
        child.wait().unwrap();
        committed += 3;

        let store = Store::open(&path).unwrap();
        check_store(&store);
        let s = store.stats().unwrap();
        assert!(
            s.runs >= committed,
            "{} runs < {committed} acknowledged",
            s.runs
        );
        assert_eq!(s.runs, s.verdicts);
        assert_eq!(s.runs, s.artifacts);
        // Every stored run is whole: its trace decompresses to exactly what was written.
        for item in store.traces_needing_rejudge("other").unwrap() {
            let expected = if item.run_id == "before" {
                base.clone()
            } else {
                let i: u64 = item.run_id.rsplit('-').next().unwrap().parse().unwrap();
                trace(i, 4000)
            };
            assert_eq!(
                store.load_trace(item.run).unwrap(),
                expected,
                "{}",
                item.run_id
            );
        }
        committed = s.runs;
    }
    let store = Store::open(&path).unwrap();
    assert!(store
        .lookup(Ecosystem::Npm, "before", "1", Some("b"), Some("rs"))
        .unwrap()
        .is_some());
}

#[test]
fn process_killed_inside_an_open_write_transaction() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("store.sqlite3");
    let store = Store::open(&path).unwrap();
    let t = trace(5, 100);
    store
        .record_run(
            &key("kept", "1", "k"),
            &run("kept", 0.0, &t),
            &verdict("rs", Verdict::Malicious, b"{}"),
        )
        .unwrap();
    let before = store.stats().unwrap();
    drop(store);

    let mut child = spawn("crash-open-tx", &path, "", None);
    wait_for(
        &mut BufReader::new(child.stdout.as_mut().unwrap()),
        "READY",
        1,
    );
    // The uncommitted transaction spilled pages into the WAL before the kill.
    let wal = std::fs::metadata(dir.path().join("store.sqlite3-wal"))
        .unwrap()
        .len();
    assert!(wal > 256 * 1024, "wal only {wal} bytes");
    child.kill().unwrap();
    child.wait().unwrap();

    let store = Store::open(&path).unwrap();
    check_store(&store);
    assert_eq!(store.stats().unwrap(), before);
    let hit = store
        .lookup(Ecosystem::Npm, "kept", "1", Some("k"), None)
        .unwrap()
        .unwrap();
    assert_eq!(hit.verdict, Verdict::Malicious);
    assert_eq!(store.load_trace(hit.run).unwrap(), t);
    // The dead process's lock is gone: a write goes through at once.
    let start = Instant::now();
    store
        .record_run(
            &key("after", "1", "a"),
            &run("after", 1.0, &t),
            &verdict("rs", Verdict::Benign, b"{}"),
        )
        .unwrap();
    assert!(start.elapsed() < Duration::from_secs(2));
}

#[test]
fn concurrent_first_opens_migrate_once() {
    let dir = tempfile::tempdir().unwrap();
    let path = Arc::new(dir.path().join("new/store.sqlite3"));
    let barrier = Arc::new(std::sync::Barrier::new(4));
    let handles: Vec<_> = (0..4)
        .map(|i| {
            let (path, barrier) = (path.clone(), barrier.clone());
            std::thread::spawn(move || {
                barrier.wait();
                let store = Store::open(&*path).unwrap();
                let t = trace(i, 10);
                let id = format!("first-{i}");
                store
                    .record_run(
                        &key(&id, "1", "h"),
                        &run(&id, 0.0, &t),
                        &verdict("rs", Verdict::Benign, b"{}"),
                    )
                    .unwrap();
            })
        })
        .collect();
    for h in handles {
        h.join().unwrap();
    }
    let store = Store::open(&*path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    assert_eq!(store.stats().unwrap().runs, 4);
    let conn = rusqlite::Connection::open(&*path).unwrap();
    let history: i64 = conn
        .query_row("SELECT COUNT(*) FROM schema_history", [], |r| r.get(0))
        .unwrap();
    assert_eq!(history, 3, "a migration ran twice");
    check_store(&store);
}
