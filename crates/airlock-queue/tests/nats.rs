//! The JetStream queue and the worker loop against a real `nats-server -js` (Debian's
//! package, installed by `sandbox-images/services` when missing), each test on its own
//! server, port and store directory: deliveries, the ack deadline kept alive by progress
//! acks, retries, dead letters, uploads, the bound, and a server restart.
#![allow(clippy::unwrap_used)]

use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use airlock_queue::worker::{AttemptError, JobHandler, WorkerOptions};
use airlock_queue::{JobMessage, JobQueue, NatsOptions, NatsQueue};

struct Server {
    child: Option<Child>,
    port: u16,
    dir: tempfile::TempDir,
}

impl Server {
    fn start() -> Server {
        if Command::new("nats-server")
            .arg("--version")
            .output()
            .is_err()
        {
            let script = concat!(env!("CARGO_MANIFEST_DIR"), "/../../sandbox-images/services");
            assert!(Command::new(script)
                .arg("install")
                .status()
                .unwrap()
                .success());
        }
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let mut s = Server {
            child: None,
            port,
            dir: tempfile::tempdir().unwrap(),
        };
        s.spawn();
        s
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
        while std::net::TcpStream::connect(("127.0.0.1", self.port)).is_err() {
            assert!(
                t.elapsed() < Duration::from_secs(10),
                "nats-server did not start"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

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

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(mut c) = self.child.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn job(n: i64) -> JobMessage {
    JobMessage {
        job: n,
        kind: "analyze".into(),
        payload: serde_json::json!({ "n": n }),
    }
}

fn opts(ack_wait_ms: u64, max_attempts: u32, max_queued: Option<u64>) -> NatsOptions {
    NatsOptions {
        prefix: "T".into(),
        ack_wait: Duration::from_millis(ack_wait_ms),
        max_attempts,
        max_queued,
    }
}

/// Records what it ran; job 2 always fails for good, job 3 fails once then works,
/// job 4 runs longer than the ack deadline.
#[derive(Default)]
struct Recorder {
    runs: Mutex<Vec<(i64, u32)>>,
    given_up: Mutex<Vec<(i64, u32, Option<String>)>>,
    calls: AtomicU32,
}

#[async_trait::async_trait]
impl JobHandler for Recorder {
    async fn handle(&self, job: &JobMessage, attempt: u32) -> Result<(), AttemptError> {
        self.calls.fetch_add(1, Ordering::Relaxed);
        self.runs.lock().unwrap().push((job.job, attempt));
        match job.job {
            2 => Err(AttemptError {
                message: "not a tarball".into(),
                retry: true,
            }),
            3 if attempt == 1 => Err(AttemptError {
                message: "engine hiccup".into(),
                retry: true,
            }),
            4 => {
                tokio::time::sleep(Duration::from_millis(2500)).await;
                Ok(())
            }
            _ => Ok(()),
        }
    }
    async fn retrying(&self, _job: &JobMessage, _error: &AttemptError) {}
    async fn give_up(&self, job: &JobMessage, attempts: u32, error: Option<String>) -> String {
        self.given_up
            .lock()
            .unwrap()
            .push((job.job, attempts, error.clone()));
        error.unwrap_or_else(|| "the worker vanished".into())
    }
}

fn worker_opts(name: &str) -> WorkerOptions {
    WorkerOptions {
        name: name.into(),
        poll: Duration::from_millis(500),
        retry_delay: Duration::from_millis(100),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_once_retry_and_dead_letter() {
    let server = Server::start();
    let q: Arc<dyn JobQueue> = Arc::new(
        NatsQueue::connect(&server.url(), opts(900, 3, Some(100)))
            .await
            .unwrap(),
    );
    for n in 1..=5 {
        q.publish(&job(n)).await.unwrap();
    }
    // A retried publish of the same job is stored once.
    q.publish(&job(5)).await.unwrap();
    let rec = Arc::new(Recorder::default());
    let stop = tokio::time::sleep(Duration::from_secs(8));
    // Two workers on the same consumer.
    let (a, b) = tokio::join!(
        airlock_queue::worker::run(q.clone(), rec.clone(), worker_opts("a"), stop),
        airlock_queue::worker::run(
            q.clone(),
            rec.clone(),
            worker_opts("b"),
            tokio::time::sleep(Duration::from_secs(8))
        ),
    );
    let runs = rec.runs.lock().unwrap().clone();
    let count = |n: i64| runs.iter().filter(|(j, _)| *j == n).count();
    assert_eq!(count(1), 1, "{runs:?}");
    assert_eq!(count(5), 1, "duplicate publish ran twice: {runs:?}");
    // Job 4 outlived the 0.9 s ack deadline and was not redelivered: progress acks.
    assert_eq!(count(4), 1, "{runs:?}");
    assert_eq!(count(3), 2, "{runs:?}");
    assert_eq!(count(2), 3, "{runs:?}");
    assert_eq!(a.done + b.done, 4);
    assert_eq!(a.dead + b.dead, 1);
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead.len(), 1);
    assert_eq!(dead[0].job.job, 2);
    assert_eq!(dead[0].attempts, 3);
    assert_eq!(dead[0].error, "not a tarball");
    let s = q.stats().await.unwrap();
    assert_eq!((s.waiting, s.in_flight, s.dead_letters), (0, 0, 1), "{s:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_whose_worker_vanishes_is_redelivered_then_dead_lettered() {
    let server = Server::start();
    let q = NatsQueue::connect(&server.url(), opts(500, 2, None))
        .await
        .unwrap();
    q.publish(&job(7)).await.unwrap();
    // Take it and vanish without an ack (twice: a crash-looping job).
    for want in 1..=2 {
        let d = q.next(Duration::from_secs(3)).await.unwrap().unwrap();
        assert_eq!((d.job().job, d.attempt()), (7, want));
        drop(d);
    }
    let q: Arc<dyn JobQueue> = Arc::new(q);
    let rec = Arc::new(Recorder::default());
    airlock_queue::worker::run(
        q.clone(),
        rec.clone(),
        worker_opts("c"),
        tokio::time::sleep(Duration::from_secs(3)),
    )
    .await;
    assert_eq!(
        rec.calls.load(Ordering::Relaxed),
        0,
        "a job past its attempts ran"
    );
    assert_eq!(rec.given_up.lock().unwrap().clone(), vec![(7, 2, None)]);
    let dead = q.dead_letters(10).await.unwrap();
    assert_eq!(dead[0].error, "the worker vanished");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bound_uploads_and_a_restart_lose_nothing_acknowledged() {
    let mut server = Server::start();
    let q = NatsQueue::connect(&server.url(), opts(5000, 3, Some(3)))
        .await
        .unwrap();
    for n in 1..=3 {
        q.publish(&job(n)).await.unwrap();
    }
    let full = q.publish(&job(4)).await.unwrap_err();
    assert!(full.is_full(), "{full}");
    let blob: Vec<u8> = (0..300_000u32).map(|i| (i % 251) as u8).collect();
    q.put_blob("up-1.tgz", blob.clone()).await.unwrap();
    drop(q);

    server.restart();
    let q = NatsQueue::connect(&server.url(), opts(5000, 3, Some(3)))
        .await
        .unwrap();
    assert_eq!(q.get_blob("up-1.tgz").await.unwrap(), blob);
    q.delete_blob("up-1.tgz").await.unwrap();
    assert!(q.get_blob("up-1.tgz").await.is_err());
    let mut seen = Vec::new();
    while let Some(d) = q.next(Duration::from_secs(1)).await.unwrap() {
        seen.push(d.job().job);
        d.ack().await.unwrap();
    }
    seen.sort();
    assert_eq!(seen, vec![1, 2, 3]);
    assert_eq!(q.stats().await.unwrap().waiting, 0);
}
