//! The durable job queue of `airlock serve`: submissions are rows, so queued work
//! survives a restart. Every transition is one write transaction: `enqueue` checks the
//! bound and inserts atomically (the queue never exceeds it, whoever submits), and
//! `claim_next` moves the oldest queued job to `running` in a single statement, so
//! several workers — threads or processes — never claim the same job.

use rusqlite::{params, OptionalExtension, Row};

use crate::model::{Job, JobId, JobState, QueueDepth, Requeued, WorkerCount};
use crate::{now_ms, sql, SqliteStore, StoreError};

const JOB_COLUMNS: &str =
    "id, kind, payload, state, attempts, created_at, updated_at, result, error, worker";

impl SqliteStore {
    /// Queues a job unless `max_queued` jobs are already waiting
    /// ([`StoreError::QueueFull`], HTTP 429 for the service).
    pub fn enqueue(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        max_queued: u64,
    ) -> Result<JobId, StoreError> {
        let payload = payload.to_string();
        let path = &self.path;
        self.write(|tx| {
            let queued: i64 = tx
                .query_row(
                    "SELECT COUNT(*) FROM jobs WHERE state = 'queued'",
                    [],
                    |r| r.get(0),
                )
                .map_err(sql(path))?;
            if queued as u64 >= max_queued {
                return Err(StoreError::QueueFull {
                    path: path.clone(),
                    queued: queued as u64,
                    max: max_queued,
                });
            }
            let now = now_ms();
            tx.execute(
                "INSERT INTO jobs (kind, payload, state, attempts, created_at, updated_at)
                 VALUES (?1, ?2, 'queued', 0, ?3, ?3)",
                params![kind, payload, now],
            )
            .map_err(sql(path))?;
            Ok(JobId(tx.last_insert_rowid()))
        })
    }

    /// Takes the oldest queued job and marks it running (attempts + 1); `None` when the
    /// queue is empty.
    pub fn claim_next(&self) -> Result<Option<Job>, StoreError> {
        let path = &self.path;
        let raw = self.write(|tx| {
            let sql_text = format!(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = ?1
                 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id LIMIT 1)
                 RETURNING {JOB_COLUMNS}"
            );
            tx.query_row(&sql_text, [now_ms()], raw_job)
                .optional()
                .map_err(sql(path))
        })?;
        raw.map(|r| decode_job(path, r)).transpose()
    }

    /// Ends a running job: `Ok(result)` → done with that result (e.g. a run id),
    /// `Err(message)` → failed with that error.
    pub fn finish(&self, id: JobId, outcome: Result<&str, &str>) -> Result<(), StoreError> {
        let (state, result, error) = match outcome {
            Ok(r) => (JobState::Done, Some(r), None),
            Err(e) => (JobState::Failed, None, Some(e)),
        };
        let path = &self.path;
        self.write(|tx| {
            let current: Option<String> = tx
                .query_row("SELECT state FROM jobs WHERE id = ?1", [id.0], |r| r.get(0))
                .optional()
                .map_err(sql(path))?;
            match current.as_deref() {
                None => {
                    return Err(StoreError::UnknownJob {
                        path: path.clone(),
                        id,
                    })
                }
                Some("running") => {}
                Some(other) => {
                    return Err(StoreError::JobNotRunning {
                        path: path.clone(),
                        id,
                        state: other.to_string(),
                    })
                }
            }
            tx.execute(
                "UPDATE jobs SET state = ?2, result = ?3, error = ?4, updated_at = ?5 WHERE id = ?1",
                params![id.0, state.as_str(), result, error, now_ms()],
            )
            .map_err(sql(path))?;
            Ok(())
        })
    }

    /// At service start-up: jobs left `running` by a stopped service go back to the
    /// queue, or fail once they were claimed `max_attempts` times. Call it only when no
    /// other worker process is using the store, or it will requeue their live jobs.
    pub fn requeue_running(&self, max_attempts: u32) -> Result<Requeued, StoreError> {
        let path = &self.path;
        self.write(|tx| {
            let now = now_ms();
            let failed = tx
                .execute(
                    "UPDATE jobs SET state = 'failed', updated_at = ?2,
                         error = 'abandoned after ' || attempts || ' attempts (the service stopped while running it)'
                     WHERE state = 'running' AND attempts >= ?1",
                    params![max_attempts, now],
                )
                .map_err(sql(path))?;
            let requeued = tx
                .execute(
                    "UPDATE jobs SET state = 'queued', updated_at = ?1 WHERE state = 'running'",
                    [now],
                )
                .map_err(sql(path))?;
            Ok(Requeued {
                requeued: requeued as u64,
                failed: failed as u64,
            })
        })
    }

    /// Jobs waiting and running (for `/metrics` and the 429 decision).
    pub fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        self.read(|c| {
            c.query_row(
                "SELECT (SELECT COUNT(*) FROM jobs WHERE state = 'queued'),
                        (SELECT COUNT(*) FROM jobs WHERE state = 'running')",
                [],
                |r| {
                    Ok(QueueDepth {
                        queued: r.get::<_, i64>(0)? as u64,
                        running: r.get::<_, i64>(1)? as u64,
                    })
                },
            )
        })
    }

    /// Every queued or running job, oldest first (the service rebuilds its view of
    /// pending work from these after a restart).
    pub fn live_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let path = &self.path;
        let raws = self.read(|c| {
            let mut stmt = c.prepare_cached(&format!(
                "SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') ORDER BY id"
            ))?;
            let rows = stmt.query_map([], raw_job)?;
            rows.collect::<rusqlite::Result<Vec<_>>>()
        })?;
        raws.into_iter().map(|r| decode_job(path, r)).collect()
    }

    /// One job by id (`GET /v1/analyses/{id}`).
    pub fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let path = &self.path;
        let raw = self.read(|c| {
            c.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [id.0],
                raw_job,
            )
            .optional()
        })?;
        raw.map(|r| decode_job(path, r)).transpose()
    }
}

impl SqliteStore {
    /// A queue worker took job `id` (first delivery or a redelivery): running, one more
    /// attempt, `worker` noted. A job already done or failed is returned unchanged, so the
    /// caller can treat the delivery as a duplicate; `None` when the job is unknown.
    pub fn start_attempt(&self, id: JobId, worker: &str) -> Result<Option<Job>, StoreError> {
        let path = &self.path;
        let raw = self.write(|tx| {
            tx.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = ?2,
                                 updated_at = ?3
                 WHERE id = ?1 AND state IN ('queued', 'running')",
                params![id.0, worker, now_ms()],
            )
            .map_err(sql(path))?;
            tx.query_row(
                &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = ?1"),
                [id.0],
                raw_job,
            )
            .optional()
            .map_err(sql(path))
        })?;
        raw.map(|r| decode_job(path, r)).transpose()
    }

    /// A running job's attempt failed and it will be delivered again: back to queued,
    /// keeping `error` as the reason of its last attempt.
    pub fn retry_later(&self, id: JobId, error: &str) -> Result<(), StoreError> {
        let path = &self.path;
        self.write(|tx| {
            tx.execute(
                "UPDATE jobs SET state = 'queued', error = ?2, updated_at = ?3
                 WHERE id = ?1 AND state IN ('queued', 'running')",
                params![id.0, error, now_ms()],
            )
            .map_err(sql(path))?;
            Ok(())
        })
    }

    /// See [`crate::Backend::claim_artifact`].
    pub fn claim_artifact(
        &self,
        artifact: &str,
        job: JobId,
        worker: &str,
        ttl: std::time::Duration,
    ) -> Result<bool, StoreError> {
        let path = &self.path;
        let ttl = ttl.as_millis().min(i64::MAX as u128) as i64;
        self.write(|tx| {
            let now = now_ms();
            tx.query_row(
                "INSERT INTO artifact_claims (artifact, job, worker, expires_at)
                 VALUES (?1, ?2, ?3, ?4)
                 ON CONFLICT (artifact) DO UPDATE
                     SET job = excluded.job, worker = excluded.worker,
                         expires_at = excluded.expires_at
                 WHERE artifact_claims.expires_at < ?5 OR artifact_claims.job = excluded.job
                 RETURNING job",
                params![artifact, job.0, worker, now.saturating_add(ttl), now],
                |r| r.get::<_, i64>(0),
            )
            .optional()
            .map(|r| r.is_some())
            .map_err(sql(path))
        })
    }

    /// See [`crate::Backend::release_artifact`].
    pub fn release_artifact(&self, artifact: &str, job: JobId) -> Result<(), StoreError> {
        let path = &self.path;
        self.write(|tx| {
            tx.execute(
                "DELETE FROM artifact_claims WHERE artifact = ?1 AND job = ?2",
                params![artifact, job.0],
            )
            .map_err(sql(path))?;
            Ok(())
        })
    }

    /// Finished jobs per worker, by name.
    pub fn jobs_by_worker(&self) -> Result<Vec<WorkerCount>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare_cached(
                "SELECT worker, SUM(state = 'done'), SUM(state = 'failed'), SUM(MAX(attempts - 1, 0)),
                        SUM(state = 'done' AND updated_at >= ?1)
                 FROM jobs
                 WHERE worker IS NOT NULL GROUP BY worker ORDER BY worker",
            )?;
            let since = now_ms() - crate::THROUGHPUT_WINDOW_MS;
            let rows = stmt.query_map([since], |r| {
                Ok(WorkerCount {
                    worker: r.get(0)?,
                    done: r.get::<_, i64>(1)?.max(0) as u64,
                    failed: r.get::<_, i64>(2)?.max(0) as u64,
                    redeliveries: r.get::<_, i64>(3)?.max(0) as u64,
                    done_recently: r.get::<_, i64>(4)?.max(0) as u64,
                })
            })?;
            rows.collect()
        })
    }
}

type RawJob = (
    i64,
    String,
    String,
    String,
    i64,
    i64,
    i64,
    Option<String>,
    Option<String>,
    Option<String>,
);

fn raw_job(r: &Row<'_>) -> rusqlite::Result<RawJob> {
    Ok((
        r.get(0)?,
        r.get(1)?,
        r.get(2)?,
        r.get(3)?,
        r.get(4)?,
        r.get(5)?,
        r.get(6)?,
        r.get(7)?,
        r.get(8)?,
        r.get(9)?,
    ))
}

fn decode_job(path: &std::path::Path, raw: RawJob) -> Result<Job, StoreError> {
    let (id, kind, payload, state, attempts, created, updated, result, error, worker) = raw;
    let corrupt = |detail: String| StoreError::Corrupt {
        path: path.to_path_buf(),
        table: "jobs",
        id,
        detail,
    };
    Ok(Job {
        id: JobId(id),
        kind,
        payload: serde_json::from_str(&payload)
            .map_err(|e| corrupt(format!("payload is not JSON: {e}")))?,
        state: JobState::parse(&state)
            .ok_or_else(|| corrupt(format!("unknown state {state:?}")))?,
        attempts: attempts.max(0) as u32,
        created_at_ms: created,
        updated_at_ms: updated,
        result,
        error,
        worker,
    })
}
