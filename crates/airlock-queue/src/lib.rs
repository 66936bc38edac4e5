//! The work queue of airlock's registry-scale service. `airlock serve --queue URL`
//! publishes analysis jobs; `airlock worker`s on any number of hosts pull them, run them
//! in their own sandbox, and acknowledge them. The queue is an existing durable engine,
//! reached through one narrow trait, [`JobQueue`]: publish a job, take the next delivery
//! (and extend, acknowledge, retry or drop it), dead-letter a job, keep uploaded
//! tarballs, report depth. [`NatsQueue`] implements it on NATS JetStream; a Redis
//! Streams backend would implement the same trait (consumer group = the durable
//! consumer, XAUTOCLAIM = the ack deadline, a second stream = the dead letters).
//!
//! Guarantees the trait asks of an implementation, and the worker loop in [`worker`]
//! relies on: `publish` returns only once the engine has stored the job; a delivery
//! not acknowledged within the ack deadline is delivered again (to any worker); a job
//! delivered more than `max_attempts` times is never run again but dead-lettered.

mod error;
pub mod job;
mod nats;
pub mod worker;

use std::sync::Arc;
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub use error::QueueError;
pub use nats::{NatsOptions, NatsQueue};

/// One job on the wire: the id of its record in the database (the status the API
/// reports), what to do, and the submission.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JobMessage {
    pub job: i64,
    pub kind: String,
    pub payload: serde_json::Value,
}

/// A job that will not be tried again, with why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeadLetter {
    pub job: JobMessage,
    /// Deliveries it had.
    pub attempts: u32,
    /// The last attempt's error, or why it was given up.
    pub error: String,
    /// The worker that gave it up.
    pub worker: String,
    /// Unix milliseconds.
    pub at_ms: i64,
}

/// What `/metrics` shows about the queue.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueStats {
    /// Jobs stored and not yet delivered.
    pub waiting: u64,
    /// Jobs delivered to a worker and not yet acknowledged.
    pub in_flight: u64,
    /// Deliveries that were redeliveries (the engine's count of messages redelivered).
    pub redelivered: u64,
    /// Jobs in the dead letters.
    pub dead_letters: u64,
}

/// A durable job queue with an ack deadline, redelivery and dead letters.
#[async_trait::async_trait]
pub trait JobQueue: Send + Sync + std::fmt::Debug {
    /// Stores a job; returns once the engine acknowledged it (it survives a restart).
    /// [`QueueError::Full`] when the queue is at its bound.
    async fn publish(&self, job: &JobMessage) -> Result<(), QueueError>;
    /// The next job for this worker, waiting up to `wait`; `None` when there was none.
    async fn next(&self, wait: Duration) -> Result<Option<Arc<dyn Delivery>>, QueueError>;
    /// Stores a job in the dead letters.
    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError>;
    /// The oldest `max` dead letters.
    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError>;
    /// Depth, in flight, redeliveries, dead letters.
    async fn stats(&self) -> Result<QueueStats, QueueError>;
    /// Keeps an uploaded artifact for whichever worker runs its job.
    async fn put_blob(&self, name: &str, data: Vec<u8>) -> Result<(), QueueError>;
    /// An uploaded artifact.
    async fn get_blob(&self, name: &str) -> Result<Vec<u8>, QueueError>;
    /// Forgets an uploaded artifact (its job is finished or dead).
    async fn delete_blob(&self, name: &str) -> Result<(), QueueError>;
    /// Deliveries a job gets before it is dead-lettered.
    fn max_attempts(&self) -> u32;
    /// How long a delivery may go without an ack or a progress signal.
    fn ack_wait(&self) -> Duration;
}

/// One delivery of a job to this worker.
#[async_trait::async_trait]
pub trait Delivery: Send + Sync {
    fn job(&self) -> &JobMessage;
    /// 1 for the first delivery, 2 for the first redelivery, …
    fn attempt(&self) -> u32;
    /// Still working: pushes the ack deadline back by a full ack wait.
    async fn in_progress(&self) -> Result<(), QueueError>;
    /// Done: the job is removed from the queue (confirmed by the engine).
    async fn ack(&self) -> Result<(), QueueError>;
    /// This attempt failed: deliver it again after `delay`.
    async fn retry(&self, delay: Duration) -> Result<(), QueueError>;
    /// Never deliver it again (after it was dead-lettered).
    async fn discard(&self) -> Result<(), QueueError>;
}

/// Connects to the queue a URL names: `nats://host:port` (JetStream).
pub async fn connect(url: &str, opts: NatsOptions) -> Result<Arc<dyn JobQueue>, QueueError> {
    if url.starts_with("nats://") || url.starts_with("tls://") {
        Ok(Arc::new(NatsQueue::connect(url, opts).await?))
    } else {
        Err(QueueError::UnsupportedUrl {
            url: url.to_string(),
        })
    }
}

/// Unix milliseconds now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
