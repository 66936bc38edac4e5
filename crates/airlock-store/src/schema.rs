//! The store's schema and its migrations. `PRAGMA user_version` holds the version; each
//! migration runs in the same write transaction that bumps it, and `schema_history`
//! records when each was applied. Add a migration by appending to [`MIGRATIONS`]; never
//! edit one that has shipped.
//!
//! Large blobs (trace, report) are the last column of their row, so queries that read
//! only the small columns never walk a blob's overflow pages.

use rusqlite::Transaction;

/// Migration `i` (0-based) brings the schema from version `i` to `i + 1`.
pub(crate) const MIGRATIONS: &[&str] = &[
    // 1: artifacts, runs, verdicts, jobs.
    r#"
CREATE TABLE schema_history (
    version     INTEGER PRIMARY KEY,
    applied_at  INTEGER NOT NULL
);

CREATE TABLE artifacts (
    id          INTEGER PRIMARY KEY,
    ecosystem   TEXT NOT NULL,
    name        TEXT NOT NULL,
    version     TEXT NOT NULL,
    -- lowercase hex sha256 of the artifact; '' when unknown (so the UNIQUE holds).
    sha256      TEXT NOT NULL DEFAULT '',
    -- npm integrity (sha512-...), when known.
    integrity   TEXT,
    created_at  INTEGER NOT NULL,
    UNIQUE (ecosystem, name, version, sha256)
);
CREATE INDEX artifacts_integrity ON artifacts (integrity) WHERE integrity IS NOT NULL;

CREATE TABLE runs (
    id              INTEGER PRIMARY KEY,
    artifact_id     INTEGER NOT NULL REFERENCES artifacts (id) ON DELETE CASCADE,
    run_id          TEXT NOT NULL UNIQUE,
    started_at      REAL NOT NULL,
    duration_ms     INTEGER,
    image           TEXT,
    complete        INTEGER NOT NULL CHECK (complete IN (0, 1)),
    created_at      INTEGER NOT NULL,
    trace_codec     TEXT NOT NULL,
    trace_raw_size  INTEGER NOT NULL,
    trace_size      INTEGER NOT NULL,
    -- set when gc removed the trace; the verdicts stay.
    trace_pruned_at INTEGER,
    trace           BLOB
);
CREATE INDEX runs_artifact ON runs (artifact_id);
CREATE INDEX runs_created ON runs (created_at) WHERE trace_pruned_at IS NULL;

CREATE TABLE verdicts (
    id           INTEGER PRIMARY KEY,
    run_id       INTEGER NOT NULL REFERENCES runs (id) ON DELETE CASCADE,
    ruleset_hash TEXT NOT NULL,
    verdict      TEXT NOT NULL,
    score        REAL NOT NULL,
    created_at   INTEGER NOT NULL,
    report_codec TEXT NOT NULL,
    report       BLOB NOT NULL,
    UNIQUE (run_id, ruleset_hash)
);

CREATE TABLE jobs (
    id          INTEGER PRIMARY KEY,
    kind        TEXT NOT NULL,
    payload     TEXT NOT NULL,
    state       TEXT NOT NULL CHECK (state IN ('queued', 'running', 'done', 'failed')),
    attempts    INTEGER NOT NULL DEFAULT 0,
    created_at  INTEGER NOT NULL,
    updated_at  INTEGER NOT NULL,
    result      TEXT,
    error       TEXT
);
CREATE INDEX jobs_state ON jobs (state, id);
"#,
    // 2: which worker last ran a job (per-worker throughput with `airlock worker`).
    r#"
ALTER TABLE jobs ADD COLUMN worker TEXT;
CREATE INDEX jobs_worker ON jobs (worker, state) WHERE worker IS NOT NULL;
"#,
    // 3: which job is analyzing an artifact right now (workers wait instead of analyzing
    // the same artifact twice).
    r#"
CREATE TABLE artifact_claims (
    artifact    TEXT PRIMARY KEY,
    job         INTEGER NOT NULL,
    worker      TEXT NOT NULL,
    expires_at  INTEGER NOT NULL
);
"#,
];

/// The schema version this build writes.
pub(crate) const LATEST: i64 = MIGRATIONS.len() as i64;

/// Applies the migrations after `from`. Runs inside the caller's write transaction.
pub(crate) fn migrate(tx: &Transaction<'_>, from: i64, now_ms: i64) -> rusqlite::Result<()> {
    for (i, sql) in MIGRATIONS.iter().enumerate().skip(from.max(0) as usize) {
        let version = i as i64 + 1;
        tx.execute_batch(sql)?;
        tx.execute(
            "INSERT INTO schema_history (version, applied_at) VALUES (?1, ?2)",
            (version, now_ms),
        )?;
        // PRAGMA takes no bound parameters; `version` is our own integer.
        tx.execute_batch(&format!("PRAGMA user_version = {version}"))?;
    }
    Ok(())
}
