//! Behaviour of the store through its public API, one process: recording and looking
//! up verdicts, ruleset preference, cache ls/show/clear, rejudge, gc, migrations, and
//! the job queue's transitions and bound.
#![allow(clippy::unwrap_used)]

mod common;

use std::time::Duration;

use airlock_events::{Ecosystem, Verdict};
use airlock_store::{ArtifactQuery, Filter, JobState, Store, StoreError};
use common::{key, run, trace, verdict};

fn open() -> (tempfile::TempDir, Store) {
    let dir = tempfile::tempdir().unwrap();
    // A nested path: open must create the directories.
    let store = Store::open(dir.path().join("a/b/store.sqlite3")).unwrap();
    (dir, store)
}

#[test]
fn open_creates_dirs_sets_pragmas_and_is_idempotent() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("cache/airlock/store.sqlite3");
    let store = Store::open(&path).unwrap();
    assert!(path.exists());
    assert_eq!(store.schema_version().unwrap(), 3);
    drop(store);
    // Reopening does not re-run migrations (they would fail on existing tables).
    let store = Store::open(&path).unwrap();
    assert_eq!(store.schema_version().unwrap(), 3);
    assert_eq!(store.integrity_check().unwrap(), vec!["ok".to_string()]);
    let conn = rusqlite::Connection::open(&path).unwrap();
    let mode: String = conn
        .query_row("PRAGMA journal_mode", [], |r| r.get(0))
        .unwrap();
    assert_eq!(mode, "wal");
    // 2 = incremental: gc can hand freed pages back.
    let auto_vacuum: i64 = conn
        .query_row("PRAGMA auto_vacuum", [], |r| r.get(0))
        .unwrap();
    assert_eq!(auto_vacuum, 2);
    let history: i64 = conn
        .query_row("SELECT COUNT(*) FROM schema_history", [], |r| r.get(0))
        .unwrap();
    // Migrations 1 (tables), 2 (jobs.worker), 3 (artifact claims).
    assert_eq!(history, 3);
}

#[test]
fn refuses_a_store_from_a_newer_airlock() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    drop(Store::open(&path).unwrap());
    let conn = rusqlite::Connection::open(&path).unwrap();
    conn.execute_batch("PRAGMA user_version = 99").unwrap();
    drop(conn);
    match Store::open(&path) {
        Err(StoreError::TooNew {
            found: 99,
            supported: 3,
            path: p,
        }) => assert_eq!(p, path),
        other => panic!("expected TooNew, got {other:?}"),
    }
}

#[test]
fn record_then_lookup_by_hash_integrity_and_coordinates() {
    let (_d, store) = open();
    let t = trace(1, 50);
    let k = key("left-pad", "1.3.0", "aa11");
    let id = store
        .record_run(
            &k,
            &run("r1", 100.0, &t),
            &verdict("rs1", Verdict::Benign, b"{\"x\":1}"),
        )
        .unwrap();

    for hash in [None, Some("aa11"), Some("sha512-aa11==")] {
        let hit = store
            .lookup(Ecosystem::Npm, "left-pad", "1.3.0", hash, Some("rs1"))
            .unwrap()
            .unwrap_or_else(|| panic!("miss for {hash:?}"));
        assert_eq!(hit.run, id);
        assert_eq!(hit.run_id, "r1");
        assert_eq!(hit.verdict, Verdict::Benign);
        assert!(hit.ruleset_matches);
        assert_eq!(hit.sha256.as_deref(), Some("aa11"));
        assert!(hit.run_complete);
    }
    // Other hash, version, ecosystem or name: misses.
    assert!(store
        .lookup(Ecosystem::Npm, "left-pad", "1.3.0", Some("bb22"), None)
        .unwrap()
        .is_none());
    assert!(store
        .lookup(Ecosystem::Npm, "left-pad", "1.3.1", None, None)
        .unwrap()
        .is_none());
    assert!(store
        .lookup(Ecosystem::Pypi, "left-pad", "1.3.0", None, None)
        .unwrap()
        .is_none());
    // Another ruleset: still a hit, flagged as stale.
    let stale = store
        .lookup(Ecosystem::Npm, "left-pad", "1.3.0", None, Some("rs2"))
        .unwrap()
        .unwrap();
    assert!(!stale.ruleset_matches);
    assert_eq!(stale.ruleset_hash, "rs1");
    assert_eq!(store.load_trace(id).unwrap(), t);
}

#[test]
fn lookup_many_answers_like_lookup_in_order() {
    let (_d, store) = open();
    let t = trace(9, 5);
    for (i, v) in [Verdict::Benign, Verdict::Malicious, Verdict::Suspicious]
        .into_iter()
        .enumerate()
    {
        let name = format!("p{i}");
        store
            .record_run(
                &key(&name, "1", &format!("h{i}")),
                &run(&name, 0.0, &t),
                &verdict("rs", v, b"{}"),
            )
            .unwrap();
    }
    let q = |name: &str, hash: Option<&str>| ArtifactQuery {
        ecosystem: Ecosystem::Npm,
        name: name.into(),
        version: "1".into(),
        hash: hash.map(str::to_string),
    };
    let queries = [
        q("p2", None),
        q("missing", None),
        q("p0", Some("h0")),
        q("p1", Some("wrong")),
    ];
    let many = store.lookup_many(&queries, Some("rs")).unwrap();
    assert_eq!(many.len(), 4);
    for (query, got) in queries.iter().zip(&many) {
        let one = store
            .lookup(
                query.ecosystem,
                &query.name,
                &query.version,
                query.hash.as_deref(),
                Some("rs"),
            )
            .unwrap();
        assert_eq!(&one, got);
    }
    let verdicts: Vec<Option<Verdict>> =
        many.iter().map(|h| h.as_ref().map(|h| h.verdict)).collect();
    assert_eq!(
        verdicts,
        [Some(Verdict::Suspicious), None, Some(Verdict::Benign), None]
    );
}

#[test]
fn duplicate_run_id_is_refused_and_leaves_nothing_behind() {
    let (_d, store) = open();
    let t = trace(2, 10);
    store
        .record_run(
            &key("a", "1", "h1"),
            &run("same", 1.0, &t),
            &verdict("rs", Verdict::Benign, b"{}"),
        )
        .unwrap();
    let err = store
        .record_run(
            &key("b", "1", "h2"),
            &run("same", 2.0, &t),
            &verdict("rs", Verdict::Malicious, b"{}"),
        )
        .unwrap_err();
    assert!(
        matches!(err, StoreError::DuplicateRun { ref run_id, .. } if run_id == "same"),
        "{err}"
    );
    // The failed transaction did not leave artifact "b" behind.
    let s = store.stats().unwrap();
    assert_eq!((s.artifacts, s.runs, s.verdicts), (1, 1, 1));
}

#[test]
fn lookup_prefers_the_requested_ruleset_then_the_newest_verdict() {
    let (_d, store) = open();
    let t = trace(3, 10);
    let k = key("pkg", "2.0.0", "cc33");
    let old = store
        .record_run(
            &k,
            &run("old", 10.0, &t),
            &verdict("rsA", Verdict::Malicious, b"{}"),
        )
        .unwrap();
    std::thread::sleep(Duration::from_millis(5));
    let new = store
        .record_run(
            &k,
            &run("new", 20.0, &t),
            &verdict("rsB", Verdict::Benign, b"{}"),
        )
        .unwrap();
    let a = store
        .lookup(Ecosystem::Npm, "pkg", "2.0.0", None, Some("rsA"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (a.run, a.verdict, a.ruleset_matches),
        (old, Verdict::Malicious, true)
    );
    let b = store
        .lookup(Ecosystem::Npm, "pkg", "2.0.0", None, Some("rsB"))
        .unwrap()
        .unwrap();
    assert_eq!((b.run, b.verdict), (new, Verdict::Benign));
    let latest = store
        .lookup(Ecosystem::Npm, "pkg", "2.0.0", None, None)
        .unwrap()
        .unwrap();
    assert_eq!(latest.run, new);
    assert!(!latest.ruleset_matches);
}

#[test]
fn rejudge_lists_runs_without_the_new_ruleset_and_add_verdict_fills_them() {
    let (_d, store) = open();
    let t1 = trace(4, 20);
    let t2 = trace(5, 20);
    let r1 = store
        .record_run(
            &key("x", "1", "h1"),
            &run("r1", 1.0, &t1),
            &verdict("old", Verdict::Benign, b"{}"),
        )
        .unwrap();
    let r2 = store
        .record_run(
            &key("y", "1", "h2"),
            &run("r2", 2.0, &t2),
            &verdict("new", Verdict::Benign, b"{}"),
        )
        .unwrap();
    let todo = store.traces_needing_rejudge("new").unwrap();
    assert_eq!(todo.len(), 1);
    assert_eq!(todo[0].run, r1);
    assert_eq!(todo[0].artifact.name, "x");
    assert_eq!(store.load_trace(todo[0].run).unwrap(), t1);
    store
        .add_verdict(r1, &verdict("new", Verdict::Suspicious, b"{\"re\":true}"))
        .unwrap();
    assert!(store.traces_needing_rejudge("new").unwrap().is_empty());
    assert_eq!(store.traces_needing_rejudge("newer").unwrap().len(), 2);
    let hit = store
        .lookup(Ecosystem::Npm, "x", "1", None, Some("new"))
        .unwrap()
        .unwrap();
    assert_eq!(
        (hit.verdict, hit.ruleset_matches),
        (Verdict::Suspicious, true)
    );
    // Re-adding the same ruleset replaces, it does not duplicate.
    store
        .add_verdict(r1, &verdict("new", Verdict::Malicious, b"{}"))
        .unwrap();
    assert_eq!(store.stats().unwrap().verdicts, 3);
    let err = store
        .add_verdict(
            airlock_store::RunId(r2.0 + 100),
            &verdict("new", Verdict::Benign, b"{}"),
        )
        .unwrap_err();
    assert!(matches!(err, StoreError::UnknownRun { .. }), "{err}");
}

#[test]
fn list_show_and_clear() {
    let (_d, store) = open();
    let t = trace(6, 30);
    store
        .record_run(
            &key("evil", "1.0.0", "e1"),
            &run("e1", 5.0, &t),
            &verdict(
                "rs",
                Verdict::Malicious,
                br#"{"verdict":"malicious","findings":[{"rule":"canary-exfil"}]}"#,
            ),
        )
        .unwrap();
    store
        .record_run(
            &key("good", "1.0.0", "g1"),
            &run("g1", 6.0, &t),
            &verdict("rs", Verdict::Benign, b"{}"),
        )
        .unwrap();
    store
        .record_run(
            &key("good", "1.1.0", "g2"),
            &run("g2", 7.0, &t),
            &verdict("rs", Verdict::Benign, b"{}"),
        )
        .unwrap();

    let all = store.list(&Filter::default()).unwrap();
    let names: Vec<String> = all.iter().map(|s| s.artifact.spec()).collect();
    assert_eq!(names, ["evil@1.0.0", "good@1.0.0", "good@1.1.0"]);
    assert!(all.iter().all(|s| s.runs == 1 && s.trace_bytes > 0));

    let bad = store
        .list(&Filter {
            verdict: Some(Verdict::Malicious),
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(bad.len(), 1);
    assert_eq!(bad[0].artifact.name, "evil");
    assert_eq!(bad[0].score, Some(9.0));

    let detail = store
        .show(&ArtifactQuery {
            ecosystem: Ecosystem::Npm,
            name: "evil".into(),
            version: "1.0.0".into(),
            hash: None,
        })
        .unwrap()
        .unwrap();
    assert_eq!(detail.report["findings"][0]["rule"], "canary-exfil");
    assert_eq!(detail.runs.len(), 1);
    assert_eq!(detail.runs[0].trace_raw_bytes, t.len() as u64);
    assert_eq!(detail.runs[0].verdicts[0].verdict, Verdict::Malicious);
    assert!(store
        .show(&ArtifactQuery {
            ecosystem: Ecosystem::Npm,
            name: "nope".into(),
            version: "1".into(),
            hash: None,
        })
        .unwrap()
        .is_none());

    let removed = store
        .clear(&Filter {
            name: Some("good".into()),
            ..Filter::default()
        })
        .unwrap();
    assert_eq!(removed, 2);
    let s = store.stats().unwrap();
    // Runs and verdicts went with their artifacts (foreign keys cascade).
    assert_eq!((s.artifacts, s.runs, s.verdicts), (1, 1, 1));
    assert_eq!(store.clear(&Filter::default()).unwrap(), 1);
    assert_eq!(store.stats().unwrap().runs, 0);
}

#[test]
fn gc_drops_old_traces_but_keeps_verdicts() {
    let (_d, store) = open();
    let t = trace(7, 2000);
    let r = store
        .record_run(
            &key("old", "1", "o1"),
            &run("o1", 1.0, &t),
            &verdict("rs", Verdict::Benign, b"{}"),
        )
        .unwrap();
    let before = store.stats().unwrap();
    assert!(before.trace_bytes > 1000);
    // Nothing is older than an hour.
    assert_eq!(
        store.gc(Duration::from_secs(3600)).unwrap().traces_removed,
        0
    );
    std::thread::sleep(Duration::from_millis(20));
    let stats = store.gc(Duration::from_millis(1)).unwrap();
    assert_eq!(stats.traces_removed, 1);
    assert_eq!(stats.bytes_freed, before.trace_bytes);
    assert!(matches!(
        store.load_trace(r),
        Err(StoreError::TraceGone { .. })
    ));
    // The verdict still answers lookups; the run is no longer offered for rejudging.
    assert!(store
        .lookup(Ecosystem::Npm, "old", "1", None, Some("rs"))
        .unwrap()
        .is_some());
    assert!(store.traces_needing_rejudge("rs2").unwrap().is_empty());
    let after = store.stats().unwrap();
    assert_eq!(
        (after.traces_kept, after.trace_bytes, after.verdicts),
        (0, 0, 1)
    );
    assert_eq!(store.integrity_check().unwrap(), ["ok"]);
}

#[test]
fn job_lifecycle_bound_and_requeue() {
    let (_d, store) = open();
    let payload = serde_json::json!({"ecosystem": "npm", "name": "a", "version": "1"});
    let j1 = store.enqueue("analyze", &payload, 2).unwrap();
    let j2 = store
        .enqueue("analyze", &serde_json::json!({"n": 2}), 2)
        .unwrap();
    let full = store.enqueue("analyze", &payload, 2).unwrap_err();
    assert!(full.is_queue_full(), "{full}");
    assert_eq!(store.queue_depth().unwrap().queued, 2);

    let c1 = store.claim_next().unwrap().unwrap();
    assert_eq!((c1.id, c1.state, c1.attempts), (j1, JobState::Running, 1));
    assert_eq!(c1.payload, payload);
    // A running job no longer counts against the bound.
    store.enqueue("analyze", &payload, 2).unwrap();
    store.finish(j1, Ok("run:42")).unwrap();
    let done = store.job(j1).unwrap().unwrap();
    assert_eq!(
        (done.state, done.result.as_deref()),
        (JobState::Done, Some("run:42"))
    );
    assert!(matches!(
        store.finish(j1, Ok("again")),
        Err(StoreError::JobNotRunning { .. })
    ));
    assert!(matches!(
        store.finish(airlock_store::JobId(999), Ok("x")),
        Err(StoreError::UnknownJob { .. })
    ));

    // The service "crashes" with j2 running; on restart it is queued again.
    let c2 = store.claim_next().unwrap().unwrap();
    assert_eq!(c2.id, j2);
    assert_eq!(store.queue_depth().unwrap().running, 1);
    let rq = store.requeue_running(3).unwrap();
    assert_eq!((rq.requeued, rq.failed), (1, 0));
    let again = store.claim_next().unwrap().unwrap();
    assert_eq!((again.id, again.attempts), (j2, 2));
    store.finish(j2, Err("sandbox exploded")).unwrap();
    let failed = store.job(j2).unwrap().unwrap();
    assert_eq!(
        (failed.state, failed.error.as_deref()),
        (JobState::Failed, Some("sandbox exploded"))
    );

    // A job that was claimed max_attempts times fails instead of looping forever.
    let j3 = store.claim_next().unwrap().unwrap();
    let rq = store.requeue_running(1).unwrap();
    assert_eq!((rq.requeued, rq.failed), (0, 1));
    assert_eq!(store.job(j3.id).unwrap().unwrap().state, JobState::Failed);
    assert!(store.claim_next().unwrap().is_none());

    // Finished jobs are removed by gc.
    std::thread::sleep(Duration::from_millis(20));
    assert_eq!(store.gc(Duration::from_millis(1)).unwrap().jobs_removed, 3);
}

#[test]
fn jobs_survive_reopening_the_store() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let id = {
        let store = Store::open(&path).unwrap();
        store
            .enqueue("analyze", &serde_json::json!({"k": 1}), 10)
            .unwrap()
    };
    let store = Store::open(&path).unwrap();
    let job = store.claim_next().unwrap().unwrap();
    assert_eq!(job.id, id);
    assert_eq!(job.payload["k"], 1);
}

#[test]
fn default_path_follows_xdg_then_home() {
    // Only this test touches these variables in this binary.
    std::env::set_var("XDG_CACHE_HOME", "/x/cache");
    assert_eq!(
        Store::default_path().unwrap(),
        std::path::Path::new("/x/cache/airlock/store.sqlite3")
    );
    std::env::set_var("XDG_CACHE_HOME", "");
    std::env::set_var("HOME", "/home/u");
    assert_eq!(
        Store::default_path().unwrap(),
        std::path::Path::new("/home/u/.cache/airlock/store.sqlite3")
    );
}

#[test]
fn gc_gives_space_back_to_the_file_system() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("s.sqlite3");
    let store = Store::open(&path).unwrap();
    for i in 0..20u64 {
        let t = trace(100 + i, 5000);
        let id = format!("big-{i}");
        store
            .record_run(
                &key(&id, "1", "h"),
                &run(&id, 0.0, &t),
                &verdict("rs", Verdict::Benign, b"{}"),
            )
            .unwrap();
    }
    // Checkpoint so the main file holds the traces before measuring.
    store.gc(Duration::from_secs(3600)).unwrap();
    let before = std::fs::metadata(&path).unwrap().len();
    std::thread::sleep(Duration::from_millis(20));
    let stats = store.gc(Duration::from_millis(1)).unwrap();
    let after = std::fs::metadata(&path).unwrap().len();
    assert_eq!(stats.traces_removed, 20);
    assert!(
        after + stats.bytes_freed / 2 < before,
        "file {before} -> {after} bytes after freeing {}",
        stats.bytes_freed
    );
}

#[test]
fn live_jobs_lists_queued_and_running_only() {
    let (_d, store) = open();
    let a = store
        .enqueue("analyze", &serde_json::json!({"n": 1}), 10)
        .unwrap();
    let b = store
        .enqueue("analyze", &serde_json::json!({"n": 2}), 10)
        .unwrap();
    let c = store
        .enqueue("analyze", &serde_json::json!({"n": 3}), 10)
        .unwrap();
    assert_eq!(store.claim_next().unwrap().unwrap().id, a);
    assert_eq!(store.claim_next().unwrap().unwrap().id, b);
    store.finish(b, Ok("done")).unwrap();
    let live: Vec<_> = store
        .live_jobs()
        .unwrap()
        .into_iter()
        .map(|j| (j.id, j.state))
        .collect();
    assert_eq!(live, vec![(a, JobState::Running), (c, JobState::Queued)]);
}
