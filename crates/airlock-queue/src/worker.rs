//! The loop an `airlock worker` runs, independent of what a job does: take a delivery,
//! keep its ack deadline moving while the job runs, then acknowledge it, hand it back
//! for another attempt, or dead-letter it. What a job does (and what "already done"
//! means) is the [`JobHandler`]'s: the binary's implementation writes the job record
//! and the verdict in the database.
//!
//! Decisions, in order:
//! - a delivery past `max_attempts` is not run: every earlier worker died or lost the
//!   job, so it is dead-lettered with the last error the handler knows;
//! - `Ok` → ack (the verdict is stored first, so a lost ack only causes a duplicate
//!   delivery, which the handler answers as a no-op);
//! - a retryable error before the last attempt → nak with a growing delay;
//! - otherwise → dead letter, then drop the message.
//!
//! On shutdown the job in hand is handed back at once (nak without delay), so another
//! worker takes it without waiting for the ack deadline.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use crate::{now_ms, DeadLetter, Delivery, JobMessage, JobQueue};

/// Why one attempt failed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AttemptError {
    pub message: String,
    /// Whether another attempt could succeed (a lost sandbox, a timeout of the engine)
    /// or not (a payload that is not a job).
    pub retry: bool,
}

/// What the worker loop asks of the code that runs jobs.
#[async_trait::async_trait]
pub trait JobHandler: Send + Sync {
    /// Runs one attempt of `job`. `Ok` once its result is stored (or it already was).
    async fn handle(&self, job: &JobMessage, attempt: u32) -> Result<(), AttemptError>;
    /// An attempt failed and the job will be delivered again.
    async fn retrying(&self, job: &JobMessage, error: &AttemptError);
    /// The job is given up after `attempts` deliveries: record it as failed. `error` is
    /// the last attempt's error, `None` when the worker running it vanished; returns the
    /// error the dead letter carries.
    async fn give_up(&self, job: &JobMessage, attempts: u32, error: Option<String>) -> String;
}

/// Settings of [`run`].
#[derive(Debug, Clone)]
pub struct WorkerOptions {
    /// This worker's name (in dead letters and logs).
    pub name: String,
    /// How long one pull waits for a job.
    pub poll: Duration,
    /// Delay before the first retry; doubled per attempt, at most a minute.
    pub retry_delay: Duration,
}

/// Counters of one worker loop, for its log line at the end.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct WorkerTotals {
    pub done: u64,
    pub retried: u64,
    pub dead: u64,
}

/// Runs jobs from `queue` with `handler` until `shutdown` resolves.
pub async fn run(
    queue: Arc<dyn JobQueue>,
    handler: Arc<dyn JobHandler>,
    opts: WorkerOptions,
    shutdown: impl Future<Output = ()>,
) -> WorkerTotals {
    let mut totals = WorkerTotals::default();
    tokio::pin!(shutdown);
    loop {
        let delivery = tokio::select! {
            _ = &mut shutdown => return totals,
            d = queue.next(opts.poll) => d,
        };
        let d = match delivery {
            Ok(Some(d)) => d,
            Ok(None) => continue,
            Err(e) => {
                tracing::warn!(worker = %opts.name, error = %e, "cannot pull a job; retrying");
                tokio::select! {
                    _ = &mut shutdown => return totals,
                    _ = tokio::time::sleep(Duration::from_secs(1)) => continue,
                }
            }
        };
        let job = d.job().clone();
        let attempt = d.attempt();
        let max = queue.max_attempts();
        if attempt > max {
            let error = handler.give_up(&job, attempt - 1, None).await;
            bury(&*queue, &*d, &opts, job, attempt - 1, error).await;
            totals.dead += 1;
            continue;
        }
        tracing::info!(worker = %opts.name, job = job.job, attempt, "job taken");
        let ticker = tokio::spawn(keep_alive(d.clone(), queue.ack_wait()));
        let outcome = tokio::select! {
            _ = &mut shutdown => None,
            r = handler.handle(&job, attempt) => Some(r),
        };
        ticker.abort();
        match outcome {
            None => {
                // Stopping: hand the job to another worker now.
                if let Err(e) = d.retry(Duration::ZERO).await {
                    tracing::warn!(job = job.job, error = %e, "cannot hand the job back; it returns after the ack deadline");
                }
                return totals;
            }
            Some(Ok(())) => {
                if let Err(e) = d.ack().await {
                    // The result is stored; the redelivery will be a no-op.
                    tracing::warn!(job = job.job, error = %e, "cannot acknowledge the job");
                }
                totals.done += 1;
            }
            Some(Err(e)) if e.retry && attempt < max => {
                handler.retrying(&job, &e).await;
                let delay = opts
                    .retry_delay
                    .saturating_mul(1 << (attempt - 1).min(6))
                    .min(Duration::from_secs(60));
                tracing::warn!(job = job.job, attempt, error = %e.message, "attempt failed; job returns");
                if let Err(err) = d.retry(delay).await {
                    tracing::warn!(job = job.job, error = %err, "cannot return the job; it returns after the ack deadline");
                }
                totals.retried += 1;
            }
            Some(Err(e)) => {
                let error = handler.give_up(&job, attempt, Some(e.message)).await;
                bury(&*queue, &*d, &opts, job, attempt, error).await;
                totals.dead += 1;
            }
        }
    }
}

/// Progress acks at a third of the ack deadline while the job runs.
async fn keep_alive(d: Arc<dyn Delivery>, ack_wait: Duration) {
    let every = (ack_wait / 3).max(Duration::from_millis(200));
    loop {
        tokio::time::sleep(every).await;
        if let Err(e) = d.in_progress().await {
            tracing::warn!(job = d.job().job, error = %e, "cannot extend the ack deadline");
        }
    }
}

async fn bury(
    queue: &dyn JobQueue,
    d: &dyn Delivery,
    opts: &WorkerOptions,
    job: JobMessage,
    attempts: u32,
    error: String,
) {
    tracing::warn!(worker = %opts.name, job = job.job, attempts, error = %error, "job dead-lettered");
    let letter = DeadLetter {
        job,
        attempts,
        error,
        worker: opts.name.clone(),
        at_ms: now_ms(),
    };
    match queue.dead_letter(&letter).await {
        Ok(()) => {
            if let Err(e) = d.discard().await {
                tracing::warn!(job = letter.job.job, error = %e, "cannot drop a dead-lettered job");
            }
        }
        Err(e) => {
            // Keep the job rather than lose it: it comes back and is buried again.
            tracing::error!(job = letter.job.job, error = %e, "cannot store the dead letter");
        }
    }
}

impl std::fmt::Display for AttemptError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.message)
    }
}
