//! `airlock worker`: one host's share of a registry-scale service. It pulls analysis jobs
//! that `airlock serve --queue URL` published, runs each in this host's sandbox, writes
//! the verdict and the job record to the shared database, acknowledges the job and calls
//! its webhook. Delivery (ack deadline kept alive while a sandbox runs, retries, dead
//! letters, hand-back on shutdown) is `airlock_queue::worker`'s; running a job is
//! `serve::jobs::Runner`'s, the same code the embedded service uses.
//!
//! A job is idempotent: a delivery of a job whose record is already finished is
//! acknowledged without running, and a job for an artifact the database already judged
//! under the current rules is answered from it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use airlock_queue::worker::{AttemptError, JobHandler, WorkerOptions};
use airlock_queue::{JobMessage, JobQueue};
use airlock_sandbox::{Docker, Tracker};
use airlock_store::{JobId, JobState};
use anyhow::{Context, Result};

use super::sandbox_args::SandboxArgs;
use super::serve::jobs::{claim_key, Outcome, Runner, Uploads};
use super::serve::{blocking, DeliveryArgs};
use crate::store_glue::StoreArgs;

/// How long a claim on an artifact outlives a worker that died holding it.
const CLAIM_TTL: Duration = Duration::from_secs(15 * 60);

#[derive(clap::Args, Debug, Clone)]
pub struct WorkerArgs {
    /// The work-queue engine the service publishes to: nats://host:4222.
    #[arg(long, env = "AIRLOCK_QUEUE", value_name = "URL")]
    pub queue: String,
    #[command(flatten)]
    pub store: StoreArgs,
    /// This worker's name in job records and /metrics (default: host name and pid).
    #[arg(long, env = "AIRLOCK_WORKER_NAME")]
    pub name: Option<String>,
    /// Sandboxes this worker runs at once.
    #[arg(long, default_value_t = 1)]
    pub concurrency: usize,
    #[command(flatten)]
    pub delivery: DeliveryArgs,
    /// The npm registry name@version jobs are fetched from.
    #[arg(long, value_name = "URL", default_value = airlock_ecosystem::npm::DEFAULT_REGISTRY)]
    pub npm_registry: String,
    /// The PyPI index `pypi` jobs are fetched from.
    #[arg(long, value_name = "URL", default_value = airlock_ecosystem::pypi::DEFAULT_INDEX)]
    pub pypi_index: String,
    /// URL prefix webhooks may be sent to (repeatable), as for `serve`.
    #[arg(long = "webhook-allow", value_name = "URL_PREFIX")]
    pub webhook_allow: Vec<String>,
    /// Scratch directory for uploaded tarballs while their job runs.
    #[arg(long)]
    pub data_dir: Option<PathBuf>,
    /// Rules directory (default: $AIRLOCK_RULES, else the ruleset built into airlock).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub sandbox: SandboxArgs,
}

pub async fn run(args: WorkerArgs) -> u8 {
    match work(args).await {
        Ok(()) => 0,
        Err(e) => {
            super::print_error(&e);
            2
        }
    }
}

fn default_name() -> String {
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .map(|h| h.trim().to_string())
        .ok()
        .filter(|h| !h.is_empty())
        .unwrap_or_else(|| "worker".into());
    format!("{host}-{}", std::process::id())
}

async fn work(args: WorkerArgs) -> Result<()> {
    let name = args.name.clone().unwrap_or_else(default_name);
    let rules = crate::judging::load_rules(args.rules.as_deref())?;
    let store = {
        let sa = args.store.clone();
        tokio::task::spawn_blocking(move || sa.open()).await??
    };
    let queue = airlock_queue::connect(&args.queue, args.delivery.nats_options(None))
        .await
        .with_context(|| format!("connecting to the queue {}", args.queue))?;
    let docker = airlock_sandbox::connect()
        .await
        .context("this worker needs a Docker engine")?;
    let scratch = match &args.data_dir {
        Some(d) => d.clone(),
        None => std::env::temp_dir().join(format!("airlock-worker-{}", std::process::id())),
    };
    std::fs::create_dir_all(&scratch).with_context(|| format!("creating {}", scratch.display()))?;
    let scan = args.sandbox.scan_options(
        args.npm_registry.trim_end_matches('/').to_string(),
        args.pypi_index.clone(),
    );
    let store = Arc::new(store);
    let tracker = Tracker::new();
    let handler = Arc::new(Handler {
        name: name.clone(),
        docker,
        tracker: tracker.clone(),
        runner: Runner {
            store: store.clone(),
            rules: Arc::new(rules),
            scan,
            uploads: Uploads::Queue {
                queue: queue.clone(),
                scratch: scratch.clone(),
            },
            webhook_allow: args.webhook_allow.clone(),
        },
    });
    eprintln!(
        "airlock: worker {name} on {} (verdicts in {}, {} sandbox(es), ack wait {:?}, {} attempts)",
        args.queue,
        store.location(),
        args.concurrency.max(1),
        queue.ack_wait(),
        queue.max_attempts()
    );
    tokio::spawn(airlock_sandbox::reap_periodically(Duration::from_secs(30)));
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let loops: Vec<_> = (0..args.concurrency.max(1))
        .map(|i| {
            let mut rx = stop_rx.clone();
            let opts = WorkerOptions {
                name: name.clone(),
                poll: Duration::from_secs(5),
                retry_delay: Duration::from_secs(2),
            };
            let (queue, handler): (Arc<dyn JobQueue>, Arc<dyn JobHandler>) =
                (queue.clone(), handler.clone());
            tokio::spawn(async move {
                let stop = async move {
                    let _ = rx.wait_for(|s| *s).await;
                };
                let t = airlock_queue::worker::run(queue, handler, opts, stop).await;
                tracing::info!(
                    slot = i,
                    done = t.done,
                    retried = t.retried,
                    dead = t.dead,
                    "worker loop ended"
                );
                t
            })
        })
        .collect();
    let _ = airlock_sandbox::shutdown_signal().await;
    eprintln!("airlock: worker {name} stopping; jobs in hand go back to the queue");
    let _ = stop_tx.send(true);
    let mut done = 0;
    for l in loops {
        if let Ok(t) = l.await {
            done += t.done;
        }
    }
    tracker.cleanup().await;
    let _ = std::fs::remove_dir_all(&scratch);
    eprintln!("airlock: worker {name} finished {done} job(s)");
    Ok(())
}

struct Handler {
    name: String,
    docker: Docker,
    tracker: Tracker,
    runner: Runner,
}

impl Handler {
    async fn store<T: Send + 'static>(
        &self,
        f: impl FnOnce(&airlock_store::Store) -> Result<T, airlock_store::StoreError> + Send + 'static,
    ) -> Result<T> {
        let store = self.runner.store.clone();
        blocking(move || Ok(f(&store)?)).await
    }

    /// Finishes the job record with its result and calls the webhook.
    async fn done(&self, job: &JobMessage, id: JobId, attempt: u32, o: Outcome, started: Instant) {
        let doc = o.doc.to_string();
        let fin = self.store(move |s| s.finish(id, Ok(&doc))).await;
        if let Err(e) = fin {
            // Another worker finished it meanwhile (this one was presumed dead).
            tracing::warn!(job = %id, error = %format!("{e:#}"), "job record not finished here");
        }
        tracing::info!(job = %id, attempt, verdict = %o.verdict, cached = o.cached,
            secs = started.elapsed().as_secs_f64(), "job done");
        self.runner.webhook(id, &job.payload, &Ok(o.doc)).await;
    }

    async fn forget_upload(&self, job: &JobMessage) {
        if let Some(f) = job.payload.get("upload").and_then(|f| f.as_str()) {
            self.runner.uploads.remove(f).await;
        }
    }
}

#[async_trait::async_trait]
impl JobHandler for Handler {
    async fn handle(&self, job: &JobMessage, attempt: u32) -> Result<(), AttemptError> {
        let id = JobId(job.job);
        let name = self.name.clone();
        let record = self
            .store(move |s| s.start_attempt(id, &name))
            .await
            .map_err(|e| AttemptError {
                message: format!("{e:#}"),
                retry: true,
            })?;
        let Some(record) = record else {
            return Err(AttemptError {
                message: format!("job {id} has no record in the database"),
                retry: false,
            });
        };
        if matches!(record.state, JobState::Done | JobState::Failed) {
            tracing::info!(job = %id, state = %record.state, "duplicate delivery of a finished job; acknowledged");
            return Ok(());
        }
        let started = Instant::now();
        let retry = |e: anyhow::Error| AttemptError {
            message: format!("{e:#}"),
            retry: true,
        };
        // One analysis per artifact at a time: a job whose artifact another job is
        // analyzing waits for that verdict instead of running the sandbox again.
        let claim = claim_key(&job.payload);
        if let Some(key) = &claim {
            loop {
                let (k, n) = (key.clone(), self.name.clone());
                if self
                    .store(move |s| s.claim_artifact(&k, id, &n, CLAIM_TTL))
                    .await
                    .map_err(retry)?
                {
                    break;
                }
                if let Some(o) = self.runner.cached_for(&job.payload).await.map_err(retry)? {
                    self.done(job, id, attempt, o, started).await;
                    return Ok(());
                }
                tokio::time::sleep(Duration::from_secs(2)).await;
            }
        }
        let outcome = self
            .runner
            .run(&self.docker, &self.tracker, id, &job.payload)
            .await;
        if let Some(key) = claim {
            let released = self.store(move |s| s.release_artifact(&key, id)).await;
            if let Err(e) = released {
                tracing::warn!(job = %id, error = %format!("{e:#}"), "artifact claim not released (it lapses)");
            }
        }
        match outcome {
            Ok(o) => {
                self.done(job, id, attempt, o, started).await;
                Ok(())
            }
            Err(e) => Err(retry(e)),
        }
    }

    async fn retrying(&self, job: &JobMessage, error: &AttemptError) {
        let (id, msg) = (JobId(job.job), error.message.clone());
        if let Err(e) = self.store(move |s| s.retry_later(id, &msg)).await {
            tracing::warn!(job = %id, error = %format!("{e:#}"), "cannot note the failed attempt");
        }
    }

    async fn give_up(&self, job: &JobMessage, attempts: u32, error: Option<String>) -> String {
        let id = JobId(job.job);
        let last = match &error {
            Some(_) => None,
            None => self
                .store(move |s| s.job(id))
                .await
                .ok()
                .flatten()
                .and_then(|j| j.error),
        };
        let why = match (error, last) {
            (Some(e), _) => format!("gave up after {attempts} attempt(s): {e}"),
            (None, Some(e)) => format!(
                "gave up after {attempts} attempt(s); the last worker stopped during the job (its last error: {e})"
            ),
            (None, None) => format!(
                "gave up after {attempts} attempt(s): each worker that took it stopped during the job (killed, or its host lost)"
            ),
        };
        let w = why.clone();
        let fin = self
            .store(move |s| {
                if let Some(j) = s.job(id)? {
                    if j.state == JobState::Queued {
                        s.start_attempt(id, "dead-letter")?;
                    }
                }
                s.finish(id, Err(&w))
            })
            .await;
        if let Err(e) = fin {
            tracing::warn!(job = %id, error = %format!("{e:#}"), "cannot fail the job record");
        }
        self.forget_upload(job).await;
        self.runner
            .webhook(id, &job.payload, &Err(why.clone()))
            .await;
        why
    }
}
