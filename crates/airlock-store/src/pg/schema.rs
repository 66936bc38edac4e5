//! The PostgreSQL schema: numbered migrations (like SQLite's `schema.rs`) applied under an
//! advisory lock, and the version and health checks.

use super::{get, pg, PgStore};
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

impl PgStore {
    pub(super) fn migrate(&self) -> Result<(), StoreError> {
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

    pub(super) fn schema_version(&self) -> Result<i64, StoreError> {
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

    pub(super) fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        let (pool, loc) = self.ctx();
        self.run(Box::pin(async move {
            let c = get(&pool, &loc).await?;
            c.query_one("SELECT 1", &[]).await.map_err(pg(&loc))?;
            Ok(vec!["ok".to_string()])
        }))
    }
}
