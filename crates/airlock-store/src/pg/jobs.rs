//! The job records of `airlock serve` and the artifact claims of its workers in
//! PostgreSQL, like the SQLite store's `jobs.rs`.

use std::time::Duration;

use tokio_postgres::Row;

use super::{get, pg, PgStore};
use crate::model::{Job, JobId, JobState, QueueDepth, Requeued, WorkerCount};
use crate::{now_ms, StoreError};

const JOB_COLUMNS: &str =
    "id, kind, payload, state, attempts, created_at, updated_at, result, error, worker";

fn job_row(loc: &str, r: &Row) -> Result<Job, StoreError> {
    let id: i64 = r.get(0);
    let corrupt = |detail: String| StoreError::Corrupt {
        path: loc.into(),
        table: "jobs",
        id,
        detail,
    };
    let payload: String = r.get(2);
    let state: String = r.get(3);
    Ok(Job {
        id: JobId(id),
        kind: r.get(1),
        payload: serde_json::from_str(&payload)
            .map_err(|e| corrupt(format!("payload is not JSON: {e}")))?,
        state: JobState::parse(&state)
            .ok_or_else(|| corrupt(format!("unknown state {state:?}")))?,
        attempts: r.get::<_, i64>(4).max(0) as u32,
        created_at_ms: r.get(5),
        updated_at_ms: r.get(6),
        result: r.get(7),
        error: r.get(8),
        worker: r.get(9),
    })
}

impl PgStore {
    pub(super) fn enqueue(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        max_queued: u64,
    ) -> Result<JobId, StoreError> {
        let (pool, loc) = self.ctx();
        let (kind, payload) = (kind.to_string(), payload.to_string());
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            // One submitter at a time checks the bound, so it holds under concurrency.
            tx.execute("LOCK TABLE jobs IN SHARE ROW EXCLUSIVE MODE", &[])
                .await
                .map_err(pg(&loc))?;
            let queued: i64 = tx
                .query_one("SELECT COUNT(*) FROM jobs WHERE state = 'queued'", &[])
                .await
                .map_err(pg(&loc))?
                .get(0);
            if queued as u64 >= max_queued {
                return Err(StoreError::QueueFull {
                    path: loc.into(),
                    queued: queued as u64,
                    max: max_queued,
                });
            }
            let now = now_ms();
            let id: i64 = tx
                .query_one(
                    "INSERT INTO jobs (kind, payload, state, attempts, created_at, updated_at)
                     VALUES ($1, $2, 'queued', 0, $3, $3) RETURNING id",
                    &[&kind, &payload, &now],
                )
                .await
                .map_err(pg(&loc))?
                .get(0);
            tx.commit().await.map_err(pg(&loc))?;
            Ok(JobId(id))
        }))
    }

    pub(super) fn claim_next(&self) -> Result<Option<Job>, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let sql_text = format!(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, updated_at = $1
                 WHERE id = (SELECT id FROM jobs WHERE state = 'queued' ORDER BY id
                             LIMIT 1 FOR UPDATE SKIP LOCKED)
                 RETURNING {JOB_COLUMNS}"
            );
            let row = c
                .query_opt(&sql_text, &[&now_ms()])
                .await
                .map_err(pg(&loc))?;
            row.map(|r| job_row(&loc, &r)).transpose()
        }))
    }

    pub(super) fn finish(&self, id: JobId, outcome: Result<&str, &str>) -> Result<(), StoreError> {
        let (pool, loc) = self.ctx();
        let (state, result, error) = match outcome {
            Ok(r) => (JobState::Done, Some(r.to_string()), None),
            Err(e) => (JobState::Failed, None, Some(e.to_string())),
        };
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            let current: Option<String> = tx
                .query_opt("SELECT state FROM jobs WHERE id = $1 FOR UPDATE", &[&id.0])
                .await
                .map_err(pg(&loc))?
                .map(|r| r.get(0));
            match current.as_deref() {
                None => {
                    return Err(StoreError::UnknownJob {
                        path: loc.into(),
                        id,
                    })
                }
                Some("running") => {}
                Some(other) => {
                    return Err(StoreError::JobNotRunning {
                        path: loc.into(),
                        id,
                        state: other.to_string(),
                    })
                }
            }
            tx.execute(
                "UPDATE jobs SET state = $2, result = $3, error = $4, updated_at = $5 WHERE id = $1",
                &[&id.0, &state.as_str(), &result, &error, &now_ms()],
            )
            .await
            .map_err(pg(&loc))?;
            tx.commit().await.map_err(pg(&loc))
        }))
    }

    pub(super) fn requeue_running(&self, max_attempts: u32) -> Result<Requeued, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            let now = now_ms();
            let failed = tx
                .execute(
                    "UPDATE jobs SET state = 'failed', updated_at = $2,
                         error = 'abandoned after ' || attempts || ' attempts (the service stopped while running it)'
                     WHERE state = 'running' AND attempts >= $1",
                    &[&(max_attempts as i64), &now],
                )
                .await
                .map_err(pg(&loc))?;
            let requeued = tx
                .execute(
                    "UPDATE jobs SET state = 'queued', updated_at = $1 WHERE state = 'running'",
                    &[&now],
                )
                .await
                .map_err(pg(&loc))?;
            tx.commit().await.map_err(pg(&loc))?;
            Ok(Requeued { requeued, failed })
        }))
    }

    pub(super) fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let r = c
                .query_one(
                    "SELECT COUNT(*) FILTER (WHERE state = 'queued'),
                            COUNT(*) FILTER (WHERE state = 'running') FROM jobs",
                    &[],
                )
                .await
                .map_err(pg(&loc))?;
            Ok(QueueDepth {
                queued: r.get::<_, i64>(0).max(0) as u64,
                running: r.get::<_, i64>(1).max(0) as u64,
            })
        }))
    }

    pub(super) fn live_jobs(&self) -> Result<Vec<Job>, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let rows = c
                .query(
                    &format!(
                        "SELECT {JOB_COLUMNS} FROM jobs WHERE state IN ('queued', 'running') ORDER BY id"
                    ),
                    &[],
                )
                .await
                .map_err(pg(&loc))?;
            rows.iter().map(|r| job_row(&loc, r)).collect()
        }))
    }

    pub(super) fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let row = c
                .query_opt(
                    &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"),
                    &[&id.0],
                )
                .await
                .map_err(pg(&loc))?;
            row.map(|r| job_row(&loc, &r)).transpose()
        }))
    }

    pub(super) fn start_attempt(&self, id: JobId, worker: &str) -> Result<Option<Job>, StoreError> {
        let (pool, loc) = self.ctx();
        let worker = worker.to_string();
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            tx.execute(
                "UPDATE jobs SET state = 'running', attempts = attempts + 1, worker = $2,
                                 updated_at = $3
                 WHERE id = $1 AND state IN ('queued', 'running')",
                &[&id.0, &worker, &now_ms()],
            )
            .await
            .map_err(pg(&loc))?;
            let row = tx
                .query_opt(
                    &format!("SELECT {JOB_COLUMNS} FROM jobs WHERE id = $1"),
                    &[&id.0],
                )
                .await
                .map_err(pg(&loc))?;
            tx.commit().await.map_err(pg(&loc))?;
            row.map(|r| job_row(&loc, &r)).transpose()
        }))
    }

    pub(super) fn retry_later(&self, id: JobId, error: &str) -> Result<(), StoreError> {
        let (pool, loc) = self.ctx();
        let error = error.to_string();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            c.execute(
                "UPDATE jobs SET state = 'queued', error = $2, updated_at = $3
                 WHERE id = $1 AND state IN ('queued', 'running')",
                &[&id.0, &error, &now_ms()],
            )
            .await
            .map_err(pg(&loc))?;
            Ok(())
        }))
    }

    pub(super) fn jobs_by_worker(&self) -> Result<Vec<WorkerCount>, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let rows = c
                .query(
                    "SELECT worker, COUNT(*) FILTER (WHERE state = 'done'),
                            COUNT(*) FILTER (WHERE state = 'failed'),
                            COALESCE(SUM(GREATEST(attempts - 1, 0)), 0)::BIGINT,
                            COUNT(*) FILTER (WHERE state = 'done' AND updated_at >= $1)
                     FROM jobs WHERE worker IS NOT NULL GROUP BY worker ORDER BY worker",
                    &[&(now_ms() - crate::THROUGHPUT_WINDOW_MS)],
                )
                .await
                .map_err(pg(&loc))?;
            Ok(rows
                .iter()
                .map(|r| WorkerCount {
                    worker: r.get(0),
                    done: r.get::<_, i64>(1).max(0) as u64,
                    failed: r.get::<_, i64>(2).max(0) as u64,
                    redeliveries: r.get::<_, i64>(3).max(0) as u64,
                    done_recently: r.get::<_, i64>(4).max(0) as u64,
                })
                .collect())
        }))
    }

    pub(super) fn claim_artifact(
        &self,
        artifact: &str,
        job: JobId,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        let (pool, loc) = self.ctx();
        let (artifact, worker) = (artifact.to_string(), worker.to_string());
        let ttl = ttl.as_millis().min(i64::MAX as u128) as i64;
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let now = now_ms();
            let row = c
                .query_opt(
                    "INSERT INTO artifact_claims (artifact, job, worker, expires_at)
                     VALUES ($1, $2, $3, $4)
                     ON CONFLICT (artifact) DO UPDATE
                         SET job = excluded.job, worker = excluded.worker,
                             expires_at = excluded.expires_at
                     WHERE artifact_claims.expires_at < $5 OR artifact_claims.job = excluded.job
                     RETURNING job",
                    &[&artifact, &job.0, &worker, &now.saturating_add(ttl), &now],
                )
                .await
                .map_err(pg(&loc))?;
            Ok(row.is_some())
        }))
    }

    pub(super) fn release_artifact(&self, artifact: &str, job: JobId) -> Result<(), StoreError> {
        let (pool, loc) = self.ctx();
        let artifact = artifact.to_string();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            c.execute(
                "DELETE FROM artifact_claims WHERE artifact = $1 AND job = $2",
                &[&artifact, &job.0],
            )
            .await
            .map_err(pg(&loc))?;
            Ok(())
        }))
    }
}
