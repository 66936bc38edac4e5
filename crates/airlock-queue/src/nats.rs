//! [`JobQueue`] on NATS JetStream (`nats-server -js`, Debian's 2.9 or later).
//!
//! - Jobs: a file-backed stream with work-queue retention (`<PREFIX>_JOBS`, subject
//!   `<prefix>.jobs`); a message leaves it when a worker acknowledges it. Its
//!   `max_messages` is the queue bound, with `discard: new`, so a full queue refuses the
//!   publish (HTTP 429) instead of dropping old work. Publishes carry `Nats-Msg-Id`, so a
//!   retried publish of the same job is stored once.
//! - Workers: one durable pull consumer (`workers`), explicit acks, `ack_wait` as the ack
//!   deadline (extended by `+WPI` progress acks while a sandbox runs), `max_deliver` =
//!   attempts + 1: the extra delivery lets a worker dead-letter a job whose earlier
//!   workers all died on it, instead of the server dropping it silently.
//! - Dead letters: a second stream (`<PREFIX>_DEAD`), one JSON [`DeadLetter`] each.
//! - Uploads: a JetStream object store (`<prefix>-uploads`), so a worker on another host
//!   reads the tarball a client posted to `serve`.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::{self, consumer, object_store, stream, AckKind};
use futures_util::StreamExt;
use tokio::io::AsyncReadExt;

use crate::{now_ms, DeadLetter, Delivery, JobMessage, JobQueue, QueueError, QueueStats};

/// Names and limits of the JetStream objects airlock uses.
#[derive(Debug, Clone)]
pub struct NatsOptions {
    /// Upper-case prefix of the stream names (`AIRLOCK` → `AIRLOCK_JOBS`, `AIRLOCK_DEAD`);
    /// its lower-case form prefixes the subjects and the upload bucket.
    pub prefix: String,
    /// Ack deadline of a delivery, when this call creates the consumer.
    pub ack_wait: Duration,
    /// Deliveries before a job is dead-lettered, when this call creates the consumer.
    pub max_attempts: u32,
    /// The bound on stored jobs (waiting + in flight); `None` leaves the stream's as it
    /// is (workers), `Some` sets it (the service).
    pub max_queued: Option<u64>,
}

impl Default for NatsOptions {
    fn default() -> Self {
        NatsOptions {
            prefix: "AIRLOCK".into(),
            ack_wait: Duration::from_secs(30),
            max_attempts: 3,
            max_queued: None,
        }
    }
}

/// A connection to JetStream and the streams, consumer and bucket of the queue.
pub struct NatsQueue {
    url: String,
    js: jetstream::Context,
    jobs_stream: String,
    jobs_subject: String,
    dead_stream: String,
    dead_subject: String,
    consumer: consumer::Consumer<consumer::pull::Config>,
    blobs: object_store::ObjectStore,
    ack_wait: Duration,
    max_attempts: u32,
}

impl std::fmt::Debug for NatsQueue {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("NatsQueue")
            .field("url", &self.url)
            .field("stream", &self.jobs_stream)
            .finish()
    }
}

const CONSUMER: &str = "workers";

fn engine<'a, E: std::fmt::Display>(
    url: &'a str,
    action: &'static str,
) -> impl Fn(E) -> QueueError + 'a {
    move |e| QueueError::Engine {
        url: url.to_string(),
        action,
        detail: e.to_string(),
    }
}

impl NatsQueue {
    /// Connects and creates (or reuses) the streams, the consumer and the bucket.
    pub async fn connect(url: &str, opts: NatsOptions) -> Result<NatsQueue, QueueError> {
        let client = async_nats::connect_with_options(
            url,
            async_nats::ConnectOptions::new()
                .name("airlock")
                .connection_timeout(Duration::from_secs(5)),
        )
        .await
        .map_err(|e| QueueError::Connect {
            url: url.to_string(),
            detail: e.to_string(),
        })?;
        let js = jetstream::new(client);
        let lower = opts.prefix.to_ascii_lowercase();
        let jobs_stream = format!("{}_JOBS", opts.prefix);
        let jobs_subject = format!("{lower}.jobs");
        let dead_stream = format!("{}_DEAD", opts.prefix);
        let dead_subject = format!("{lower}.dead");
        let jobs_config = stream::Config {
            name: jobs_stream.clone(),
            subjects: vec![jobs_subject.clone()],
            retention: stream::RetentionPolicy::WorkQueue,
            storage: stream::StorageType::File,
            discard: stream::DiscardPolicy::New,
            max_messages: opts.max_queued.map(|m| m as i64).unwrap_or(-1),
            duplicate_window: Duration::from_secs(120),
            ..Default::default()
        };
        let jobs = js
            .get_or_create_stream(jobs_config.clone())
            .await
            .map_err(engine(url, "creating the jobs stream"))?;
        if let Some(max) = opts.max_queued {
            if jobs.cached_info().config.max_messages != max as i64 {
                js.update_stream(jobs_config)
                    .await
                    .map_err(engine(url, "setting the queue bound"))?;
            }
        }
        js.get_or_create_stream(stream::Config {
            name: dead_stream.clone(),
            subjects: vec![dead_subject.clone()],
            storage: stream::StorageType::File,
            ..Default::default()
        })
        .await
        .map_err(engine(url, "creating the dead-letter stream"))?;
        let consumer: consumer::Consumer<consumer::pull::Config> = jobs
            .get_or_create_consumer(
                CONSUMER,
                consumer::pull::Config {
                    durable_name: Some(CONSUMER.into()),
                    ack_policy: consumer::AckPolicy::Explicit,
                    ack_wait: opts.ack_wait,
                    max_deliver: opts.max_attempts as i64 + 1,
                    ..Default::default()
                },
            )
            .await
            .map_err(engine(url, "creating the worker consumer"))?;
        // The consumer may predate this process: its settings are the ones in force.
        let config = &consumer.cached_info().config;
        let ack_wait = config.ack_wait;
        let max_attempts = if config.max_deliver > 1 {
            (config.max_deliver - 1) as u32
        } else {
            opts.max_attempts
        };
        let bucket = format!("{lower}-uploads");
        let blobs = match js.get_object_store(&bucket).await {
            Ok(b) => b,
            Err(_) => js
                .create_object_store(object_store::Config {
                    bucket: bucket.clone(),
                    storage: stream::StorageType::File,
                    ..Default::default()
                })
                .await
                .map_err(engine(url, "creating the uploads bucket"))?,
        };
        Ok(NatsQueue {
            url: url.to_string(),
            js,
            jobs_stream,
            jobs_subject,
            dead_stream,
            dead_subject,
            consumer,
            blobs,
            ack_wait,
            max_attempts,
        })
    }
}

#[async_trait::async_trait]
impl JobQueue for NatsQueue {
    async fn publish(&self, job: &JobMessage) -> Result<(), QueueError> {
        let body = serde_json::to_vec(job).map_err(engine(&self.url, "encoding a job"))?;
        let mut headers = async_nats::HeaderMap::new();
        headers.insert("Nats-Msg-Id", format!("job-{}", job.job).as_str());
        let ack = self
            .js
            .publish_with_headers(self.jobs_subject.clone(), headers, body.into())
            .await
            .map_err(engine(&self.url, "publishing a job"))?;
        ack.await.map_err(|e| {
            let detail = e.to_string();
            if detail.contains("maximum messages") {
                QueueError::Full {
                    url: self.url.clone(),
                    detail,
                }
            } else {
                QueueError::Engine {
                    url: self.url.clone(),
                    action: "storing a job",
                    detail,
                }
            }
        })?;
        Ok(())
    }

    async fn next(&self, wait: Duration) -> Result<Option<Arc<dyn Delivery>>, QueueError> {
        let mut batch = self
            .consumer
            .batch()
            .max_messages(1)
            .expires(wait)
            .messages()
            .await
            .map_err(engine(&self.url, "pulling a job"))?;
        let msg = match batch.next().await {
            None => return Ok(None),
            Some(Err(e)) => return Err(engine(&self.url, "pulling a job")(e)),
            Some(Ok(m)) => m,
        };
        let attempt = msg.info().map(|i| i.delivered.max(1) as u32).unwrap_or(1);
        match serde_json::from_slice::<JobMessage>(&msg.payload) {
            Ok(job) => Ok(Some(Arc::new(NatsDelivery {
                msg,
                job,
                attempt,
                url: self.url.clone(),
            }))),
            Err(e) => {
                // Not a job at all: dead-letter the bytes and never deliver them again.
                let letter = DeadLetter {
                    job: JobMessage {
                        job: -1,
                        kind: "unreadable".into(),
                        payload: serde_json::Value::String(
                            String::from_utf8_lossy(&msg.payload).into_owned(),
                        ),
                    },
                    attempts: attempt,
                    error: format!("the message is not a job: {e}"),
                    worker: String::new(),
                    at_ms: now_ms(),
                };
                self.dead_letter(&letter).await?;
                msg.ack_with(AckKind::Term)
                    .await
                    .map_err(engine(&self.url, "dropping an unreadable message"))?;
                Ok(None)
            }
        }
    }

    async fn dead_letter(&self, letter: &DeadLetter) -> Result<(), QueueError> {
        let body =
            serde_json::to_vec(letter).map_err(engine(&self.url, "encoding a dead letter"))?;
        self.js
            .publish(self.dead_subject.clone(), body.into())
            .await
            .map_err(engine(&self.url, "publishing a dead letter"))?
            .await
            .map_err(engine(&self.url, "storing a dead letter"))?;
        Ok(())
    }

    async fn dead_letters(&self, max: usize) -> Result<Vec<DeadLetter>, QueueError> {
        let stream = self
            .js
            .get_stream(&self.dead_stream)
            .await
            .map_err(engine(&self.url, "reading the dead letters"))?;
        let state = stream.cached_info().state.clone();
        let mut out = Vec::new();
        if state.messages == 0 {
            return Ok(out);
        }
        for seq in state.first_sequence..=state.last_sequence {
            if out.len() >= max {
                break;
            }
            let Ok(m) = stream.get_raw_message(seq).await else {
                continue;
            };
            if let Ok(l) = serde_json::from_slice::<DeadLetter>(&m.payload) {
                out.push(l);
            }
        }
        Ok(out)
    }

    async fn stats(&self) -> Result<QueueStats, QueueError> {
        let jobs = self
            .js
            .get_stream(&self.jobs_stream)
            .await
            .map_err(engine(&self.url, "reading the jobs stream"))?;
        let info = jobs
            .consumer_info(CONSUMER)
            .await
            .map_err(engine(&self.url, "reading the worker consumer"))?;
        let dead = self
            .js
            .get_stream(&self.dead_stream)
            .await
            .map_err(engine(&self.url, "reading the dead letters"))?;
        Ok(QueueStats {
            waiting: info.num_pending,
            in_flight: info.num_ack_pending as u64,
            redelivered: info.num_redelivered as u64,
            dead_letters: dead.cached_info().state.messages,
        })
    }

    async fn put_blob(&self, name: &str, data: Vec<u8>) -> Result<(), QueueError> {
        self.blobs
            .put(name, &mut data.as_slice())
            .await
            .map_err(engine(&self.url, "storing an upload"))?;
        Ok(())
    }

    async fn get_blob(&self, name: &str) -> Result<Vec<u8>, QueueError> {
        let mut obj = self
            .blobs
            .get(name)
            .await
            .map_err(|_| QueueError::BlobGone {
                url: self.url.clone(),
                name: name.to_string(),
            })?;
        let mut out = Vec::new();
        obj.read_to_end(&mut out)
            .await
            .map_err(engine(&self.url, "reading an upload"))?;
        Ok(out)
    }

    async fn delete_blob(&self, name: &str) -> Result<(), QueueError> {
        self.blobs
            .delete(name)
            .await
            .map_err(engine(&self.url, "removing an upload"))
    }

    fn max_attempts(&self) -> u32 {
        self.max_attempts
    }

    fn ack_wait(&self) -> Duration {
        self.ack_wait
    }
}

struct NatsDelivery {
    msg: jetstream::Message,
    job: JobMessage,
    attempt: u32,
    url: String,
}

#[async_trait::async_trait]
impl Delivery for NatsDelivery {
    fn job(&self) -> &JobMessage {
        &self.job
    }

    fn attempt(&self) -> u32 {
        self.attempt
    }

    async fn in_progress(&self) -> Result<(), QueueError> {
        self.msg
            .ack_with(AckKind::Progress)
            .await
            .map_err(engine(&self.url, "extending the ack deadline"))
    }

    async fn ack(&self) -> Result<(), QueueError> {
        self.msg
            .double_ack()
            .await
            .map_err(engine(&self.url, "acknowledging a job"))
    }

    async fn retry(&self, delay: Duration) -> Result<(), QueueError> {
        self.msg
            .ack_with(AckKind::Nak(Some(delay)))
            .await
            .map_err(engine(&self.url, "returning a job"))
    }

    async fn discard(&self) -> Result<(), QueueError> {
        self.msg
            .ack_with(AckKind::Term)
            .await
            .map_err(engine(&self.url, "dropping a job"))
    }
}
