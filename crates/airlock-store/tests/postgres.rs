//! The PostgreSQL backend against a real server (Debian's PostgreSQL on loopback, brought
//! up by `sandbox-images/services` when it is not answering): every test runs the same
//! calls on a SQLite store and on a fresh database and expects the same answers, so the
//! two backends cannot drift apart.
#![allow(clippy::unwrap_used)]

mod common;

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;

use airlock_events::{Ecosystem, Verdict};
use airlock_store::{ArtifactQuery, Filter, JobId, JobState, Store};
use common::{key, run, trace, verdict};

const ADMIN_URL: &str = "postgres://airlock:airlock@127.0.0.1:5432/airlock";

/// A URL of a new, empty database (the servers started first if needed).
pub fn fresh_database() -> String {
    // The project's script: idempotent, it installs and starts what is missing and makes
    // sure the `airlock` role exists (once per test process).
    static UP: std::sync::OnceLock<()> = std::sync::OnceLock::new();
    UP.get_or_init(|| {
        let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sandbox-images/services");
        let st = Command::new(script)
            .stdout(std::process::Stdio::null())
            .status()
            .expect("running sandbox-images/services");
        assert!(st.success(), "sandbox-images/services failed");
    });
    static N: AtomicU32 = AtomicU32::new(0);
    let name = format!(
        "t_store_{}_{}_{}",
        std::process::id(),
        N.fetch_add(1, Ordering::Relaxed),
        std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .unwrap()
            .subsec_nanos()
    );
    let out = Command::new("psql")
        .args([ADMIN_URL, "-qc", &format!("CREATE DATABASE {name}")])
        .output()
        .expect("psql");
    assert!(
        out.status.success(),
        "CREATE DATABASE: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    format!("postgres://airlock:airlock@127.0.0.1:5432/{name}")
}

fn both() -> (tempfile::TempDir, Vec<Store>) {
    let dir = tempfile::tempdir().unwrap();
    let sqlite = Store::open(dir.path().join("s.sqlite3")).unwrap();
    let pg = Store::open_location(&fresh_database()).unwrap();
    (dir, vec![sqlite, pg])
}

#[test]
fn verdicts_lookups_listing_and_gc_agree() {
    let (_dir, stores) = both();
    for store in &stores {
        let t1 = trace(1, 300);
        let t2 = trace(2, 50);
        let a = key("left-pad", "1.3.0", "aa");
        let r1 = store
            .record_run(
                &a,
                &run("r1", 10.0, &t1),
                &verdict("rs1", Verdict::Benign, b"{\"findings\":[]}"),
            )
            .unwrap();
        store
            .record_run(
                &key("evil", "1.0.0", "bb"),
                &run("r2", 11.0, &t2),
                &verdict(
                    "rs1",
                    Verdict::Malicious,
                    b"{\"findings\":[{\"rule\":\"x\"}]}",
                ),
            )
            .unwrap();
        let dup = store.record_run(
            &a,
            &run("r1", 10.0, &t1),
            &verdict("rs1", Verdict::Benign, b"{}"),
        );
        assert!(
            dup.is_err(),
            "{}: a run id is stored once",
            store.location()
        );

        let hit = store
            .lookup(
                Ecosystem::Npm,
                "left-pad",
                "1.3.0",
                Some("sha512-aa=="),
                Some("rs1"),
            )
            .unwrap()
            .unwrap();
        assert_eq!(hit.verdict, Verdict::Benign);
        assert!(hit.ruleset_matches && hit.run_complete);
        assert_eq!(hit.sha256.as_deref(), Some("aa"));
        assert!(store
            .lookup(Ecosystem::Npm, "left-pad", "1.3.0", Some("zz"), None)
            .unwrap()
            .is_none());

        // A newer ruleset: not matching until rejudged.
        let todo = store.traces_needing_rejudge("rs2").unwrap();
        assert_eq!(todo.len(), 2, "{}", store.location());
        assert_eq!(store.load_trace(r1).unwrap(), t1);
        let mut streamed = Vec::new();
        std::io::Read::read_to_end(&mut store.trace_reader(r1).unwrap(), &mut streamed).unwrap();
        assert_eq!(streamed, t1);
        store
            .add_verdict(r1, &verdict("rs2", Verdict::Suspicious, b"{}"))
            .unwrap();
        assert_eq!(store.traces_needing_rejudge("rs2").unwrap().len(), 1);

        let many = store
            .lookup_many(
                &[
                    ArtifactQuery {
                        ecosystem: Ecosystem::Npm,
                        name: "evil".into(),
                        version: "1.0.0".into(),
                        hash: None,
                    },
                    ArtifactQuery {
                        ecosystem: Ecosystem::Npm,
                        name: "nope".into(),
                        version: "1".into(),
                        hash: None,
                    },
                    ArtifactQuery {
                        ecosystem: Ecosystem::Npm,
                        name: "left-pad".into(),
                        version: "1.3.0".into(),
                        hash: None,
                    },
                ],
                Some("rs2"),
            )
            .unwrap();
        assert_eq!(many[0].as_ref().unwrap().verdict, Verdict::Malicious);
        assert!(many[1].is_none());
        let lp = many[2].as_ref().unwrap();
        assert_eq!(
            (lp.verdict, lp.ruleset_matches),
            (Verdict::Suspicious, true)
        );

        let all = store.list(&Filter::default()).unwrap();
        assert_eq!(all.len(), 2);
        assert_eq!(all[0].artifact.name, "evil");
        assert!(all.iter().all(|s| s.runs == 1 && s.trace_bytes > 0));
        let bad = store
            .list(&Filter {
                verdict: Some(Verdict::Malicious),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(bad.len(), 1);

        let detail = store
            .show(&ArtifactQuery {
                ecosystem: Ecosystem::Npm,
                name: "evil".into(),
                version: "1.0.0".into(),
                hash: None,
            })
            .unwrap()
            .unwrap();
        assert_eq!(detail.report["findings"][0]["rule"], "x");
        assert_eq!(detail.runs.len(), 1);
        assert_eq!(detail.runs[0].verdicts.len(), 1);

        let gc = store.gc(Duration::ZERO).unwrap();
        assert_eq!(gc.traces_removed, 2, "{}", store.location());
        assert!(store.load_trace(r1).is_err());
        // Verdicts stay after gc.
        assert!(store
            .lookup(Ecosystem::Npm, "evil", "1.0.0", None, None)
            .unwrap()
            .is_some());
        let cleared = store
            .clear(&Filter {
                name: Some("evil".into()),
                ..Filter::default()
            })
            .unwrap();
        assert_eq!(cleared, 1);
        let s = store.stats().unwrap();
        assert_eq!(
            (s.artifacts, s.runs, s.verdicts, s.traces_kept),
            (1, 1, 2, 0)
        );
    }
}

#[test]
fn job_records_agree() {
    let (_dir, stores) = both();
    for store in &stores {
        let a = store
            .enqueue("analyze", &serde_json::json!({"n": 1}), 2)
            .unwrap();
        let b = store
            .enqueue("analyze", &serde_json::json!({"n": 2}), 2)
            .unwrap();
        let full = store.enqueue("analyze", &serde_json::json!({"n": 3}), 2);
        assert!(full.unwrap_err().is_queue_full(), "{}", store.location());
        assert_eq!(store.queue_depth().unwrap().queued, 2);

        // A queue worker's view: start, fail once, start again, finish.
        let j = store.start_attempt(a, "w1").unwrap().unwrap();
        assert_eq!(
            (j.state, j.attempts, j.worker.as_deref()),
            (JobState::Running, 1, Some("w1"))
        );
        store.retry_later(a, "sandbox lost").unwrap();
        let j = store.job(a).unwrap().unwrap();
        assert_eq!(
            (j.state, j.error.as_deref()),
            (JobState::Queued, Some("sandbox lost"))
        );
        let j = store.start_attempt(a, "w2").unwrap().unwrap();
        assert_eq!(j.attempts, 2);
        store.finish(a, Ok("{\"verdict\":\"benign\"}")).unwrap();
        // A duplicate delivery of a finished job leaves it as it is.
        let again = store.start_attempt(a, "w3").unwrap().unwrap();
        assert_eq!((again.state, again.attempts), (JobState::Done, 2));
        assert!(store.finish(a, Ok("x")).is_err());
        assert!(store.start_attempt(JobId(9999), "w1").unwrap().is_none());

        // The embedded queue's own claim.
        let c = store.claim_next().unwrap().unwrap();
        assert_eq!(c.id, b);
        assert!(store.claim_next().unwrap().is_none());
        store.finish(b, Err("boom")).unwrap();
        let w = store.jobs_by_worker().unwrap();
        assert_eq!(w.len(), 1);
        assert_eq!(
            (
                w[0].worker.as_str(),
                w[0].done,
                w[0].failed,
                w[0].redeliveries,
                w[0].done_recently
            ),
            ("w2", 1, 0, 1, 1)
        );
        assert!(store.live_jobs().unwrap().is_empty());

        // Artifact claims: one job at a time; the same job again; a lapsed claim.
        let ttl = Duration::from_secs(60);
        assert!(store.claim_artifact("npm:x@1", a, "w1", ttl).unwrap());
        assert!(!store.claim_artifact("npm:x@1", b, "w2", ttl).unwrap());
        assert!(store.claim_artifact("npm:x@1", a, "w3", ttl).unwrap());
        store.release_artifact("npm:x@1", b).unwrap();
        assert!(!store.claim_artifact("npm:x@1", b, "w2", ttl).unwrap());
        store.release_artifact("npm:x@1", a).unwrap();
        assert!(store
            .claim_artifact("npm:x@1", b, "w2", Duration::ZERO)
            .unwrap());
        std::thread::sleep(Duration::from_millis(5));
        assert!(store.claim_artifact("npm:x@1", a, "w1", ttl).unwrap());
    }
}

#[test]
fn concurrent_connects_migrate_once_and_calls_work_inside_a_runtime() {
    let url = fresh_database();
    let handles: Vec<_> = (0..4)
        .map(|_| {
            let url = url.clone();
            std::thread::spawn(move || {
                Store::open_location(&url)
                    .unwrap()
                    .schema_version()
                    .unwrap()
            })
        })
        .collect();
    for h in handles {
        assert_eq!(h.join().unwrap(), 2);
    }
    // The store is blocking; it must also answer when called from an async task.
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(1)
        .enable_all()
        .build()
        .unwrap();
    let n = rt.block_on(async move {
        let store = Store::open_location(&url).unwrap();
        let n = store.stats().unwrap().artifacts;
        drop(store);
        n
    });
    assert_eq!(n, 0);
}
