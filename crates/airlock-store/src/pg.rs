//! The PostgreSQL backend: the same tables and queries as the SQLite store (artifacts,
//! runs with a gzip trace, verdicts per ruleset, job records), for a service whose
//! workers run on many hosts. Migrations are numbered like SQLite's and applied under an
//! advisory lock, so a `serve` and several `worker`s starting at once migrate once.
//!
//! The driver is `tokio-postgres` with a `deadpool-postgres` pool. The store's API is
//! blocking (SQLite's is, and `cache`, `rejudge` and the wrapper call it from plain code
//! as well as from async tasks), so the backend owns a small tokio runtime: each call is
//! spawned onto it and waited for on a channel. That works from any thread, including a
//! tokio worker — where the blocking `postgres` crate would panic ("cannot start a runtime
//! from within a runtime").

use std::future::Future;
use std::io::BufRead;
use std::path::Path;
use std::time::Duration;

use airlock_events::Ecosystem;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::{NoTls, Row};

use crate::backend::Backend;
use crate::codec;
use crate::model::{
    ArtifactKey, ArtifactQuery, CachedVerdict, Detail, Filter, GcStats, Job, JobId, JobState,
    QueueDepth, RejudgeItem, Requeued, RunId, RunRecord, RunSummary, Stats, Summary, VerdictRecord,
    VerdictSummary, WorkerCount,
};
use crate::verdicts::{decode_artifact, parse_verdict};
use crate::{now_ms, StoreError};

/// Migration `i` (0-based) brings the schema from version `i` to `i + 1`. Never edit one
/// that has shipped; append.
const MIGRATIONS: &[&str] = &[
    // 1: the SQLite schema's version 2, in PostgreSQL types.
    r#"
CREATE TABLE artifacts (
    id          BIGSERIAL PRIMARY KEY,
    ecosystem   TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    sha256      TEXT NOT NULL DEFAULT '',
    integrity   TEXT,
    created_at  BIGINT NOT NULL,
    UNIQUE (ecosystem, name, version, sha256)
);
CREATE INDEX artifacts_integrity ON artifacts (integrity) WHERE integrity IS NOT NULL;

CREATE TABLE runs (
    id              BIGSERIAL PRIMARY KEY,
    artifact_id     BIGINT NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    run_id          TEXT NOT NULL UNIQUE,
    started_at      DOUBLE PRECISION NOT NULL,
    duration_ms     BIGINT,
    image           TEXT,
    complete        BOOLEAN NOT NULL,
    created_at      BIGINT NOT NULL,
    trace_codec     TEXT NOT NULL,
    trace_raw_size  BIGINT NOT NULL,
    trace_size      BIGINT NOT NULL,
    trace_pruned_at BIGINT,
    trace           BYTEA
);
-- Traces are gzip already: keep PostgreSQL from compressing them again.
ALTER TABLE runs ALTER COLUMN trace SET STORAGE EXTERNAL;
CREATE INDEX runs_artifact ON runs (artifact_id);
CREATE INDEX runs_created ON runs (created_at) WHERE trace_pruned_at IS NULL;

CREATE TABLE verdicts (
    id           BIGSERIAL PRIMARY KEY,
    run_id       BIGINT NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    ruleset_hash TEXT NOT NULL,
    verdict      TEXT NOT NULL,
    score        DOUBLE PRECISION NOT NULL,
    created_at   BIGINT NOT NULL,
    report_codec TEXT NOT NULL,
    report       BYTEA NOT NULL,
    UNIQUE (run_id, ruleset_hash)
);

CREATE TABLE jobs (
    id          BIGSERIAL PRIMARY KEY,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts    BIGINT NOT NULL DEFAULT 0,
    created_at  BIGINT NOT NULL,
    updated_at  BIGINT NOT NULL,
    result      TEXT,
    error       TEXT,
    worker      TEXT
);
CREATE INDEX jobs_state ON jobs (state, id);
CREATE INDEX jobs_worker ON jobs (worker, state) WHERE worker IS NOT NULL;
"#,
    // 2: the SQLite schema's version 3 (artifact claims).
    r#"
CREATE TABLE artifact_claims (
    artifact    TEXT PRIMARY KEY,
    job         BIGINT NOT NULL,
    worker      TEXT NOT NULL,
    expires_at  BIGINT NOT NULL
);
"#,
];

/// Key of the advisory lock migrations hold ("airlock" in ASCII, as a number).
const MIGRATION_LOCK: i64 = 0x0061_6972_6c6f_636b;

const LOOKUP_SQL: &str = "
SELECT v.ruleset_hash, v.verdict, v.score, v.created_at,
       r.id, r.run_id, r.started_at, r.complete, a.sha256, a.integrity,
       ($5::text IS NOT NULL AND v.ruleset_hash = $5::text) AS matches
FROM artifacts a
JOIN runs r ON r.artifact_id = a.id
JOIN verdicts v ON v.run_id = r.id
WHERE a.ecosystem = $1 AND a.name = $2 AND a.version = $3
  AND ($4::text IS NULL OR a.sha256 = $4::text OR a.integrity = $4::text)
ORDER BY matches DESC, v.created_at DESC, r.started_at DESC, v.id DESC
LIMIT 1";

const FILTERED_SQL: &str = "
WITH lv AS (
    SELECT r.artifact_id, v.verdict, v.score, v.ruleset_hash, v.created_at,
           ROW_NUMBER() OVER (PARTITION BY r.artifact_id
                              ORDER BY v.created_at DESC, r.started_at DESC, v.id DESC) AS rn
    FROM verdicts v JOIN runs r ON r.id = v.run_id
)
SELECT a.id, a.ecosystem, a.name, a.version, a.sha256, a.integrity,
       lv.verdict, lv.score, lv.ruleset_hash, lv.created_at
FROM artifacts a
LEFT JOIN lv ON lv.artifact_id = a.id AND lv.rn = 1
WHERE ($1::text IS NULL OR a.ecosystem = $1::text) AND ($2::text IS NULL OR a.name = $2::text)
  AND ($3::text IS NULL OR a.version = $3::text) AND ($4::text IS NULL OR lv.verdict = $4::text)";

const JOB_COLUMNS: &str =
    "id, kind, payload, state, attempts, created_at, updated_at, result, error, worker";

/// A connection pool to one PostgreSQL database, and the runtime its calls run on.
pub struct PgStore {
    runtime: Option<tokio::runtime::Runtime>,
    handle: tokio::runtime::Handle,
    pool: Pool,
    location: String,
}

impl std::fmt::Debug for PgStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PgStore")
            .field("location", &self.location)
            .finish()
    }
}

impl Drop for PgStore {
    fn drop(&mut self) {
        // Dropping a runtime blocks, which panics inside another runtime's task.
        if let Some(rt) = self.runtime.take() {
            rt.shutdown_background();
        }
    }
}

/// `url` with its password replaced by `***`.
pub(crate) fn redact(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_string();
    };
    let (auth, host) = match rest.rsplit_once('@') {
        Some((a, h)) => (a, h),
        None => return url.to_string(),
    };
    match auth.split_once(':') {
        Some((user, _)) => format!("{scheme}://{user}:***@{host}"),
        None => url.to_string(),
    }
}

type Fut<T> = std::pin::Pin<Box<dyn Future<Output = Result<T, StoreError>> + Send>>;

impl PgStore {
    /// Connects to the database at `url` (`postgres://user:password@host:port/db`),
    /// checks it answers and applies the migrations it lacks.
    pub fn connect(url: &str) -> Result<PgStore, StoreError> {
        let location = redact(url);
        let db_err = |detail: String| StoreError::Database {
            location: location.clone(),
            detail,
        };
        let config: tokio_postgres::Config = url
            .parse()
            .map_err(|e| db_err(format!("bad database URL: {e}")))?;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .thread_name("airlock-store-pg")
            .enable_all()
            .build()
            .map_err(|e| db_err(format!("cannot start the database runtime: {e}")))?;
        let manager = Manager::from_config(
            config,
            NoTls,
            ManagerConfig {
                recycling_method: RecyclingMethod::Fast,
            },
        );
        let pool = Pool::builder(manager)
            .max_size(8)
            .runtime(deadpool_postgres::Runtime::Tokio1)
            .wait_timeout(Some(Duration::from_secs(30)))
            .create_timeout(Some(Duration::from_secs(10)))
            .recycle_timeout(Some(Duration::from_secs(5)))
            .build()
            .map_err(|e| db_err(format!("cannot build the connection pool: {e}")))?;
        let store = PgStore {
            handle: runtime.handle().clone(),
            runtime: Some(runtime),
            pool,
            location,
        };
        store.migrate()?;
        Ok(store)
    }

    /// Runs `fut` on the store's runtime and waits for it.
    fn run<T: Send + 'static>(&self, fut: Fut<T>) -> Result<T, StoreError> {
        let (tx, rx) = std::sync::mpsc::sync_channel(1);
        self.handle.spawn(async move {
            let _ = tx.send(fut.await);
        });
        rx.recv().map_err(|_| StoreError::Database {
            location: self.location.clone(),
            detail: "the database task stopped before answering".into(),
        })?
    }

    fn ctx(&self) -> (Pool, String) {
        (self.pool.clone(), self.location.clone())
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            tx.execute("SELECT pg_advisory_xact_lock($1)", &[&MIGRATION_LOCK])
                .await
                .map_err(pg(&loc))?;
            tx.batch_execute(
                "CREATE TABLE IF NOT EXISTS schema_history (
                     version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL)",
            )
            .await
            .map_err(pg(&loc))?;
            let found: i64 = tx
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_history",
                    &[],
                )
                .await
                .map_err(pg(&loc))?
                .get(0);
            let latest = MIGRATIONS.len() as i64;
            if found > latest {
                return Err(StoreError::DatabaseTooNew {
                    location: loc,
                    found,
                    supported: latest,
                });
            }
            for (i, sql) in MIGRATIONS.iter().enumerate().skip(found.max(0) as usize) {
                tracing::debug!(database = %loc, to = i + 1, "migrating database");
                tx.batch_execute(sql).await.map_err(pg(&loc))?;
                tx.execute(
                    "INSERT INTO schema_history (version, applied_at) VALUES ($1, $2)",
                    &[&(i as i32 + 1), &now_ms()],
                )
                .await
                .map_err(pg(&loc))?;
            }
            tx.commit().await.map_err(pg(&loc))
        }))
    }
}

fn pg(loc: &str) -> impl Fn(tokio_postgres::Error) -> StoreError + '_ {
    move |source| StoreError::Postgres {
        location: loc.to_string(),
        source,
    }
}

async fn get(pool: &Pool, loc: &str) -> Result<deadpool_postgres::Client, StoreError> {
    pool.get().await.map_err(|e| StoreError::Database {
        location: loc.to_string(),
        detail: format!("no connection: {e}"),
    })
}

fn codec_err<'a>(
    loc: &'a str,
    action: &'static str,
    what: &'static str,
    owner: String,
) -> impl Fn(std::io::Error) -> StoreError + 'a {
    move |source| StoreError::Codec {
        path: loc.into(),
        action,
        what,
        owner: owner.clone(),
        source,
    }
}

fn lookup_row(loc: &str, r: &Row) -> Result<CachedVerdict, StoreError> {
    let run: i64 = r.get(4);
    let verdict: String = r.get(1);
    let sha: String = r.get(8);
    Ok(CachedVerdict {
        run: RunId(run),
        run_id: r.get(5),
        verdict: parse_verdict(Path::new(loc), "verdicts", run, &verdict)?,
        score: r.get(2),
        ruleset_hash: r.get(0),
        ruleset_matches: r.get(10),
        judged_at_ms: r.get(3),
        run_started_at: r.get(6),
        run_complete: r.get(7),
        sha256: Some(sha).filter(|s| !s.is_empty()),
        integrity: r.get(9),
    })
}

async fn lookup_in(
    c: &impl deadpool_postgres::GenericClient,
    loc: &str,
    eco: &str,
    name: &str,
    version: &str,
    hash: Option<&str>,
    ruleset_hash: Option<&str>,
) -> Result<Option<CachedVerdict>, StoreError> {
    let row = c
        .query_opt(LOOKUP_SQL, &[&eco, &name, &version, &hash, &ruleset_hash])
        .await
        .map_err(pg(loc))?;
    row.map(|r| lookup_row(loc, &r)).transpose()
}

fn artifact_at(loc: &str, r: &Row, id: i64, at: usize) -> Result<ArtifactKey, StoreError> {
    decode_artifact(
        Path::new(loc),
        id,
        (
            r.get(at),
            r.get(at + 1),
            r.get(at + 2),
            r.get(at + 3),
            r.get(at + 4),
        ),
    )
}

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

fn filter_params(f: &Filter) -> [Option<String>; 4] {
    [
        f.ecosystem.map(|e| e.to_string()),
        f.name.clone(),
        f.version.clone(),
        f.verdict.map(|v| v.as_str().to_string()),
    ]
}

async fn insert_verdict(
    c: &impl deadpool_postgres::GenericClient,
    loc: &str,
    run: RunId,
    ruleset_hash: &str,
    verdict: &str,
    score: f64,
    report: &[u8],
) -> Result<(), StoreError> {
    c.execute(
        "INSERT INTO verdicts (run_id, ruleset_hash, verdict, score, created_at, report_codec, report)
         VALUES ($1, $2, $3, $4, $5, $6, $7)
         ON CONFLICT (run_id, ruleset_hash) DO UPDATE SET
             verdict = excluded.verdict, score = excluded.score, created_at = excluded.created_at,
             report_codec = excluded.report_codec, report = excluded.report",
        &[&run.0, &ruleset_hash, &verdict, &score, &now_ms(), &codec::GZIP, &report],
    )
    .await
    .map_err(pg(loc))?;
    Ok(())
}

impl Backend for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }

    fn schema_version(&self) -> Result<i64, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let row = c
                .query_one(
                    "SELECT COALESCE(MAX(version), 0)::BIGINT FROM schema_history",
                    &[],
                )
                .await
                .map_err(pg(&loc))?;
            Ok(row.get(0))
        }))
    }

    fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            c.query_one("SELECT 1", &[]).await.map_err(pg(&loc))?;
            Ok(vec!["ok".to_string()])
        }))
    }

    fn record_run(
        &self,
        artifact: &ArtifactKey,
        run: &RunRecord<'_>,
        verdict: &VerdictRecord<'_>,
    ) -> Result<RunId, StoreError> {
        let (pool, loc) = self.ctx();
        let owner = format!("run {}", run.run_id);
        let trace = codec::compress(run.trace_jsonl).map_err(codec_err(
            &loc,
            "compress",
            "trace",
            owner.clone(),
        ))?;
        let report = codec::compress(verdict.report_json)
            .map_err(codec_err(&loc, "compress", "report", owner))?;
        let artifact = artifact.clone();
        let run_id = run.run_id.to_string();
        let (started_at, duration_ms, complete) = (
            run.started_at,
            run.duration_ms.map(|d| d as i64),
            run.complete,
        );
        let image = run.image.map(String::from);
        let raw_size = run.trace_jsonl.len() as i64;
        let (ruleset, verdict_s, score) = (
            verdict.ruleset_hash.to_string(),
            verdict.verdict.as_str().to_string(),
            verdict.score,
        );
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM runs WHERE run_id = $1)",
                    &[&run_id],
                )
                .await
                .map_err(pg(&loc))?
                .get(0);
            if exists {
                return Err(StoreError::DuplicateRun {
                    path: loc.into(),
                    run_id,
                });
            }
            let now = now_ms();
            let artifact_id: i64 = tx
                .query_one(
                    "INSERT INTO artifacts (ecosystem, name, version, sha256, integrity, created_at)
                     VALUES ($1, $2, $3, $4, $5, $6)
                     ON CONFLICT (ecosystem, name, version, sha256)
                     DO UPDATE SET integrity = COALESCE(artifacts.integrity, excluded.integrity)
                     RETURNING id",
                    &[
                        &artifact.ecosystem.to_string(),
                        &artifact.name,
                        &artifact.version,
                        &artifact.sha256.as_deref().unwrap_or(""),
                        &artifact.integrity,
                        &now,
                    ],
                )
                .await
                .map_err(pg(&loc))?
                .get(0);
            let run_row: i64 = tx
                .query_one(
                    "INSERT INTO runs (artifact_id, run_id, started_at, duration_ms, image, complete,
                                       created_at, trace_codec, trace_raw_size, trace_size, trace)
                     VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING id",
                    &[
                        &artifact_id,
                        &run_id,
                        &started_at,
                        &duration_ms,
                        &image,
                        &complete,
                        &now,
                        &codec::GZIP,
                        &raw_size,
                        &(trace.len() as i64),
                        &trace,
                    ],
                )
                .await
                .map_err(pg(&loc))?
                .get(0);
            insert_verdict(&tx, &loc, RunId(run_row), &ruleset, &verdict_s, score, &report)
                .await?;
            tx.commit().await.map_err(pg(&loc))?;
            Ok(RunId(run_row))
        }))
    }

    fn add_verdict(&self, run: RunId, verdict: &VerdictRecord<'_>) -> Result<(), StoreError> {
        let (pool, loc) = self.ctx();
        let report = codec::compress(verdict.report_json).map_err(codec_err(
            &loc,
            "compress",
            "report",
            format!("run {run}"),
        ))?;
        let (ruleset, verdict_s, score) = (
            verdict.ruleset_hash.to_string(),
            verdict.verdict.as_str().to_string(),
            verdict.score,
        );
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            let exists: bool = tx
                .query_one(
                    "SELECT EXISTS (SELECT 1 FROM runs WHERE id = $1)",
                    &[&run.0],
                )
                .await
                .map_err(pg(&loc))?
                .get(0);
            if !exists {
                return Err(StoreError::UnknownRun {
                    path: loc.into(),
                    run,
                });
            }
            insert_verdict(&tx, &loc, run, &ruleset, &verdict_s, score, &report).await?;
            tx.commit().await.map_err(pg(&loc))
        }))
    }

    fn lookup(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        hash: Option<&str>,
        ruleset_hash: Option<&str>,
    ) -> Result<Option<CachedVerdict>, StoreError> {
        let (pool, loc) = self.ctx();
        let (eco, name, version) = (ecosystem.to_string(), name.to_string(), version.to_string());
        let (hash, rs) = (hash.map(String::from), ruleset_hash.map(String::from));
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            lookup_in(
                &c,
                &loc,
                &eco,
                &name,
                &version,
                hash.as_deref(),
                rs.as_deref(),
            )
            .await
        }))
    }

    fn lookup_many(
        &self,
        keys: &[ArtifactQuery],
        ruleset_hash: Option<&str>,
    ) -> Result<Vec<Option<CachedVerdict>>, StoreError> {
        let (pool, loc) = self.ctx();
        let keys = keys.to_vec();
        let rs = ruleset_hash.map(String::from);
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg(&loc))?;
            let mut out = Vec::with_capacity(keys.len());
            for k in &keys {
                out.push(
                    lookup_in(
                        &tx,
                        &loc,
                        &k.ecosystem.to_string(),
                        &k.name,
                        &k.version,
                        k.hash.as_deref(),
                        rs.as_deref(),
                    )
                    .await?,
                );
            }
            tx.commit().await.map_err(pg(&loc))?;
            Ok(out)
        }))
    }

    fn list(&self, filter: &Filter) -> Result<Vec<Summary>, StoreError> {
        let (pool, loc) = self.ctx();
        let params = filter_params(filter);
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let sql_text = format!(
                "SELECT f.*,
                        (SELECT COUNT(*) FROM runs r WHERE r.artifact_id = f.id),
                        (SELECT COALESCE(SUM(r.trace_size), 0)::BIGINT FROM runs r
                          WHERE r.artifact_id = f.id AND r.trace_pruned_at IS NULL)
                 FROM ({FILTERED_SQL}) f
                 ORDER BY f.ecosystem, f.name, f.version, f.sha256"
            );
            let rows = c
                .query(&sql_text, &[&params[0], &params[1], &params[2], &params[3]])
                .await
                .map_err(pg(&loc))?;
            let mut out = Vec::with_capacity(rows.len());
            for row in rows {
                let id: i64 = row.get(0);
                let artifact = artifact_at(&loc, &row, id, 1)?;
                let verdict: Option<String> = row.get(6);
                let verdict = match verdict {
                    Some(v) => Some(parse_verdict(Path::new(&loc), "artifacts", id, &v)?),
                    None => None,
                };
                out.push(Summary {
                    artifact,
                    verdict,
                    score: row.get(7),
                    ruleset_hash: row.get(8),
                    judged_at_ms: row.get(9),
                    runs: row.get::<_, i64>(10).max(0) as u64,
                    trace_bytes: row.get::<_, i64>(11).max(0) as u64,
                });
            }
            Ok(out)
        }))
    }

    fn show(&self, query: &ArtifactQuery) -> Result<Option<Detail>, StoreError> {
        let (pool, loc) = self.ctx();
        let query = query.clone();
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client
                .build_transaction()
                .isolation_level(tokio_postgres::IsolationLevel::RepeatableRead)
                .read_only(true)
                .start()
                .await
                .map_err(pg(&loc))?;
            let eco = query.ecosystem.to_string();
            let Some(latest) = lookup_in(
                &tx,
                &loc,
                &eco,
                &query.name,
                &query.version,
                query.hash.as_deref(),
                None,
            )
            .await?
            else {
                return Ok(None);
            };
            let artifact_id: i64 = tx
                .query_one("SELECT artifact_id FROM runs WHERE id = $1", &[&latest.run.0])
                .await
                .map_err(pg(&loc))?
                .get(0);
            let row = tx
                .query_one(
                    "SELECT ecosystem, name, version, sha256, integrity FROM artifacts WHERE id = $1",
                    &[&artifact_id],
                )
                .await
                .map_err(pg(&loc))?;
            let artifact = artifact_at(&loc, &row, artifact_id, 0)?;
            let row = tx
                .query_one(
                    "SELECT report_codec, report FROM verdicts WHERE run_id = $1 AND ruleset_hash = $2",
                    &[&latest.run.0, &latest.ruleset_hash],
                )
                .await
                .map_err(pg(&loc))?;
            let (codec_name, blob): (String, Vec<u8>) = (row.get(0), row.get(1));
            let raw = codec::decompress(&codec_name, &blob).map_err(codec_err(
                &loc,
                "decompress",
                "report",
                format!("run {}", latest.run),
            ))?;
            let report = serde_json::from_slice(&raw).map_err(|e| StoreError::Corrupt {
                path: loc.clone().into(),
                table: "verdicts",
                id: latest.run.0,
                detail: format!("report is not JSON: {e}"),
            })?;
            let rows = tx
                .query(
                    "SELECT id, run_id, started_at, duration_ms, image, complete, trace_raw_size,
                            trace_size, trace_pruned_at IS NULL
                     FROM runs WHERE artifact_id = $1 ORDER BY started_at DESC, id DESC",
                    &[&artifact_id],
                )
                .await
                .map_err(pg(&loc))?;
            let mut runs = Vec::with_capacity(rows.len());
            for r in rows {
                let run = RunId(r.get(0));
                let vrows = tx
                    .query(
                        "SELECT ruleset_hash, verdict, score, created_at FROM verdicts
                         WHERE run_id = $1 ORDER BY created_at, id",
                        &[&run.0],
                    )
                    .await
                    .map_err(pg(&loc))?;
                let mut verdicts = Vec::with_capacity(vrows.len());
                for v in vrows {
                    let verdict: String = v.get(1);
                    verdicts.push(VerdictSummary {
                        ruleset_hash: v.get(0),
                        verdict: parse_verdict(Path::new(&loc), "verdicts", run.0, &verdict)?,
                        score: v.get(2),
                        judged_at_ms: v.get(3),
                    });
                }
                runs.push(RunSummary {
                    run,
                    run_id: r.get(1),
                    started_at: r.get(2),
                    duration_ms: r.get::<_, Option<i64>>(3).map(|d| d.max(0) as u64),
                    image: r.get(4),
                    complete: r.get(5),
                    trace_raw_bytes: r.get::<_, i64>(6).max(0) as u64,
                    trace_bytes: r.get::<_, i64>(7).max(0) as u64,
                    trace_kept: r.get(8),
                    verdicts,
                });
            }
            tx.commit().await.map_err(pg(&loc))?;
            Ok(Some(Detail {
                artifact,
                latest,
                report,
                runs,
            }))
        }))
    }

    fn clear(&self, filter: &Filter) -> Result<usize, StoreError> {
        let (pool, loc) = self.ctx();
        let params = filter_params(filter);
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let sql_text =
                format!("DELETE FROM artifacts WHERE id IN (SELECT id FROM ({FILTERED_SQL}) f)");
            let n = c
                .execute(&sql_text, &[&params[0], &params[1], &params[2], &params[3]])
                .await
                .map_err(pg(&loc))?;
            Ok(n as usize)
        }))
    }

    fn traces_needing_rejudge(&self, ruleset_hash: &str) -> Result<Vec<RejudgeItem>, StoreError> {
        let (pool, loc) = self.ctx();
        let rs = ruleset_hash.to_string();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let rows = c
                .query(
                    "SELECT r.id, r.run_id, a.id, a.ecosystem, a.name, a.version, a.sha256, a.integrity
                     FROM runs r JOIN artifacts a ON a.id = r.artifact_id
                     WHERE r.trace_pruned_at IS NULL
                       AND NOT EXISTS (SELECT 1 FROM verdicts v
                                       WHERE v.run_id = r.id AND v.ruleset_hash = $1)
                     ORDER BY r.id",
                    &[&rs],
                )
                .await
                .map_err(pg(&loc))?;
            rows.iter()
                .map(|row| {
                    let id: i64 = row.get(2);
                    Ok(RejudgeItem {
                        run: RunId(row.get(0)),
                        run_id: row.get(1),
                        artifact: artifact_at(&loc, row, id, 3)?,
                    })
                })
                .collect()
        }))
    }

    fn load_trace(&self, run: RunId) -> Result<Vec<u8>, StoreError> {
        let (codec_name, blob) = self.trace_blob(run)?;
        codec::decompress(&codec_name, &blob).map_err(codec_err(
            &self.location,
            "decompress",
            "trace",
            format!("run {run}"),
        ))
    }

    fn trace_reader(&self, run: RunId) -> Result<Box<dyn BufRead + Send>, StoreError> {
        let (codec_name, blob) = self.trace_blob(run)?;
        let r = codec::decoder(&codec_name, blob).map_err(codec_err(
            &self.location,
            "decompress",
            "trace",
            format!("run {run}"),
        ))?;
        Ok(Box::new(r))
    }

    fn gc(&self, older_than: Duration) -> Result<GcStats, StoreError> {
        let (pool, loc) = self.ctx();
        let cutoff = now_ms().saturating_sub(older_than.as_millis().min(i64::MAX as u128) as i64);
        self.run(Box::pin(async move {
            let mut client = get(&pool, &loc).await?;
            let tx = client.transaction().await.map_err(pg(&loc))?;
            let row = tx
                .query_one(
                    "SELECT COUNT(*), COALESCE(SUM(trace_size), 0)::BIGINT FROM runs
                     WHERE trace_pruned_at IS NULL AND created_at < $1",
                    &[&cutoff],
                )
                .await
                .map_err(pg(&loc))?;
            let (traces, bytes): (i64, i64) = (row.get(0), row.get(1));
            tx.execute(
                "UPDATE runs SET trace = NULL, trace_pruned_at = $2
                 WHERE trace_pruned_at IS NULL AND created_at < $1",
                &[&cutoff, &now_ms()],
            )
            .await
            .map_err(pg(&loc))?;
            let jobs = tx
                .execute(
                    "DELETE FROM jobs WHERE state IN ('done', 'failed') AND updated_at < $1",
                    &[&cutoff],
                )
                .await
                .map_err(pg(&loc))?;
            tx.commit().await.map_err(pg(&loc))?;
            Ok(GcStats {
                traces_removed: traces as u64,
                bytes_freed: bytes as u64,
                jobs_removed: jobs,
            })
        }))
    }

    fn stats(&self) -> Result<Stats, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let r = c
                .query_one(
                    "SELECT (SELECT COUNT(*) FROM artifacts), (SELECT COUNT(*) FROM runs),
                            (SELECT COUNT(*) FROM verdicts),
                            (SELECT COUNT(*) FROM runs WHERE trace_pruned_at IS NULL),
                            (SELECT COALESCE(SUM(trace_size), 0)::BIGINT FROM runs
                              WHERE trace_pruned_at IS NULL),
                            (SELECT COUNT(*) FROM jobs)",
                    &[],
                )
                .await
                .map_err(pg(&loc))?;
            let n = |i: usize| r.get::<_, i64>(i).max(0) as u64;
            Ok(Stats {
                artifacts: n(0),
                runs: n(1),
                verdicts: n(2),
                traces_kept: n(3),
                trace_bytes: n(4),
                jobs: n(5),
            })
        }))
    }

    fn enqueue(
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

    fn claim_next(&self) -> Result<Option<Job>, StoreError> {
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

    fn finish(&self, id: JobId, outcome: Result<&str, &str>) -> Result<(), StoreError> {
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

    fn requeue_running(&self, max_attempts: u32) -> Result<Requeued, StoreError> {
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

    fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
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

    fn live_jobs(&self) -> Result<Vec<Job>, StoreError> {
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

    fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
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

    fn start_attempt(&self, id: JobId, worker: &str) -> Result<Option<Job>, StoreError> {
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

    fn retry_later(&self, id: JobId, error: &str) -> Result<(), StoreError> {
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

    fn claim_artifact(
        &self,
        artifact: &str,
        job: JobId,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        self.claim(artifact, job, worker, ttl)
    }

    fn release_artifact(&self, artifact: &str, job: JobId) -> Result<(), StoreError> {
        self.release(artifact, job)
    }

    fn jobs_by_worker(&self) -> Result<Vec<WorkerCount>, StoreError> {
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
}

impl PgStore {
    fn claim(
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

    fn release(&self, artifact: &str, job: JobId) -> Result<(), StoreError> {
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

    fn trace_blob(&self, run: RunId) -> Result<(String, Vec<u8>), StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            let row = c
                .query_opt(
                    "SELECT trace_codec, trace FROM runs WHERE id = $1",
                    &[&run.0],
                )
                .await
                .map_err(pg(&loc))?
                .ok_or_else(|| StoreError::UnknownRun {
                    path: loc.clone().into(),
                    run,
                })?;
            let blob: Option<Vec<u8>> = row.get(1);
            let blob = blob.ok_or_else(|| StoreError::TraceGone {
                path: loc.clone().into(),
                run,
            })?;
            Ok((row.get(0), blob))
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_hidden() {
        assert_eq!(
            redact("postgres://airlock:secret@127.0.0.1:5432/airlock"),
            "postgres://airlock:***@127.0.0.1:5432/airlock"
        );
        assert_eq!(redact("postgres://h/db"), "postgres://h/db");
        assert_eq!(redact("postgres://u@h/db"), "postgres://u@h/db");
    }
}
