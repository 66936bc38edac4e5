//! The seam between airlock and where it keeps verdicts: one [`Backend`] trait with two
//! implementations, the embedded SQLite file ([`SqliteStore`], one machine) and
//! PostgreSQL ([`PgStore`], many `airlock worker` hosts), and the [`Store`] handle every
//! command holds. `Store` dereferences to the backend, so `store.lookup(…)` reads the same
//! whichever is behind it; it is chosen by the location string: a `postgres://` or
//! `postgresql://` URL, else a file path.

use std::io::BufRead;
use std::path::{Path, PathBuf};
use std::time::Duration;

use airlock_events::Ecosystem;

use crate::model::{
    ArtifactKey, ArtifactQuery, CachedVerdict, Detail, Filter, GcStats, Job, JobId, QueueDepth,
    RejudgeItem, Requeued, RunId, RunRecord, Stats, Summary, VerdictRecord, WorkerCount,
};
use crate::{PgStore, SqliteStore, StoreError, StoreOptions};

/// What a verdict store does. Blocking calls: from async code, run them on a blocking
/// thread (both backends are also safe, if slower, when called from an async task).
pub trait Backend: Send + Sync + std::fmt::Debug {
    /// The file path or the database URL (password hidden), for messages.
    fn location(&self) -> String;
    /// The schema version of the open store.
    fn schema_version(&self) -> Result<i64, StoreError>;
    /// `["ok"]` for a healthy store, else the backend's complaints.
    fn integrity_check(&self) -> Result<Vec<String>, StoreError>;

    /// Stores one judged run (artifact, run with its trace, verdict) atomically.
    fn record_run(
        &self,
        artifact: &ArtifactKey,
        run: &RunRecord<'_>,
        verdict: &VerdictRecord<'_>,
    ) -> Result<RunId, StoreError>;
    /// Adds or replaces the verdict of a run under `verdict.ruleset_hash`.
    fn add_verdict(&self, run: RunId, verdict: &VerdictRecord<'_>) -> Result<(), StoreError>;
    /// The latest verdict of an artifact, preferring `ruleset_hash`'s.
    fn lookup(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        hash: Option<&str>,
        ruleset_hash: Option<&str>,
    ) -> Result<Option<CachedVerdict>, StoreError>;
    /// [`Backend::lookup`] for many artifacts in one snapshot, in the order of `keys`.
    fn lookup_many(
        &self,
        keys: &[ArtifactQuery],
        ruleset_hash: Option<&str>,
    ) -> Result<Vec<Option<CachedVerdict>>, StoreError>;
    /// Artifacts with their latest verdict (`airlock cache ls`).
    fn list(&self, filter: &Filter) -> Result<Vec<Summary>, StoreError>;
    /// One artifact with its runs and latest report (`airlock cache show`).
    fn show(&self, query: &ArtifactQuery) -> Result<Option<Detail>, StoreError>;
    /// Deletes matching artifacts with their runs and verdicts; how many went.
    fn clear(&self, filter: &Filter) -> Result<usize, StoreError>;
    /// Runs with a kept trace and no verdict from `ruleset_hash`, oldest first.
    fn traces_needing_rejudge(&self, ruleset_hash: &str) -> Result<Vec<RejudgeItem>, StoreError>;
    /// The decompressed JSON Lines trace of a run.
    fn load_trace(&self, run: RunId) -> Result<Vec<u8>, StoreError>;
    /// The trace of a run as a reader that decompresses while it is read.
    fn trace_reader(&self, run: RunId) -> Result<Box<dyn BufRead + Send>, StoreError>;
    /// Drops traces (verdicts stay) and finished jobs older than `older_than`.
    fn gc(&self, older_than: Duration) -> Result<GcStats, StoreError>;
    /// Row counts and kept trace bytes.
    fn stats(&self) -> Result<Stats, StoreError>;

    /// Queues a job unless `max_queued` are waiting ([`StoreError::QueueFull`]). With a
    /// work-queue engine the job row is the status record and the bound is the engine's.
    fn enqueue(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        max_queued: u64,
    ) -> Result<JobId, StoreError>;
    /// Takes the oldest queued job (embedded mode: the store is the queue).
    fn claim_next(&self) -> Result<Option<Job>, StoreError>;
    /// Ends a running job: `Ok(result)` done, `Err(message)` failed.
    fn finish(&self, id: JobId, outcome: Result<&str, &str>) -> Result<(), StoreError>;
    /// Start-up of the embedded service: running jobs go back to the queue.
    fn requeue_running(&self, max_attempts: u32) -> Result<Requeued, StoreError>;
    /// Jobs waiting and running.
    fn queue_depth(&self) -> Result<QueueDepth, StoreError>;
    /// Every queued or running job, oldest first.
    fn live_jobs(&self) -> Result<Vec<Job>, StoreError>;
    /// One job by id.
    fn job(&self, id: JobId) -> Result<Option<Job>, StoreError>;
    /// A queue worker took job `id`: running, attempts + 1, worker noted. A finished job
    /// comes back unchanged (the delivery is a duplicate); `None` for an unknown id.
    fn start_attempt(&self, id: JobId, worker: &str) -> Result<Option<Job>, StoreError>;
    /// A failed attempt that will be delivered again: queued, `error` kept.
    fn retry_later(&self, id: JobId, error: &str) -> Result<(), StoreError>;
    /// Finished jobs per worker.
    fn jobs_by_worker(&self) -> Result<Vec<WorkerCount>, StoreError>;
    /// Job `job` is about to analyze `artifact` (a key such as `npm:name@version`):
    /// true when no other job holds a live claim on it (a claim lives `ttl`, so a dead
    /// worker's claim lapses; the same job may claim again after a redelivery).
    fn claim_artifact(
        &self,
        artifact: &str,
        job: JobId,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError>;
    /// Drops `job`'s claim on `artifact`.
    fn release_artifact(&self, artifact: &str, job: JobId) -> Result<(), StoreError>;
}

/// An open verdict store, SQLite or PostgreSQL. Every [`Backend`] method is callable on
/// it directly.
#[derive(Debug)]
pub struct Store {
    backend: Box<dyn Backend>,
    /// The SQLite file, or the database URL (password hidden) as a path-like value.
    path: PathBuf,
}

impl std::ops::Deref for Store {
    type Target = dyn Backend;
    fn deref(&self) -> &(dyn Backend + 'static) {
        &*self.backend
    }
}

/// Whether `location` names a PostgreSQL database rather than a file.
pub fn is_database_url(location: &str) -> bool {
    location.starts_with("postgres://") || location.starts_with("postgresql://")
}

impl Store {
    /// The default SQLite location: `$XDG_CACHE_HOME/airlock/store.sqlite3`, else
    /// `$HOME/.cache/airlock/store.sqlite3`; `None` when neither variable is set.
    pub fn default_path() -> Option<PathBuf> {
        SqliteStore::default_path()
    }

    /// Opens (creating and migrating) the SQLite store at `path`.
    pub fn open(path: impl AsRef<Path>) -> Result<Store, StoreError> {
        Store::open_with(path, StoreOptions::default())
    }

    /// [`Store::open`] with explicit tunables.
    pub fn open_with(path: impl AsRef<Path>, opts: StoreOptions) -> Result<Store, StoreError> {
        let s = SqliteStore::open_with(path, opts)?;
        Ok(Store {
            path: s.path().to_path_buf(),
            backend: Box::new(s),
        })
    }

    /// Connects to (and migrates) the PostgreSQL database at `url`.
    pub fn connect(url: &str) -> Result<Store, StoreError> {
        let s = PgStore::connect(url)?;
        Ok(Store {
            path: PathBuf::from(s.location()),
            backend: Box::new(s),
        })
    }

    /// A `postgres://` URL connects to PostgreSQL; anything else is a SQLite file path.
    pub fn open_location(location: &str) -> Result<Store, StoreError> {
        if is_database_url(location) {
            Store::connect(location)
        } else {
            Store::open(location)
        }
    }

    /// The SQLite file, or the database URL with its password hidden.
    pub fn path(&self) -> &Path {
        &self.path
    }
}

impl Backend for SqliteStore {
    fn location(&self) -> String {
        self.path().display().to_string()
    }
    fn schema_version(&self) -> Result<i64, StoreError> {
        SqliteStore::schema_version(self)
    }
    fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        SqliteStore::integrity_check(self)
    }
    fn record_run(
        &self,
        artifact: &ArtifactKey,
        run: &RunRecord<'_>,
        verdict: &VerdictRecord<'_>,
    ) -> Result<RunId, StoreError> {
        SqliteStore::record_run(self, artifact, run, verdict)
    }
    fn add_verdict(&self, run: RunId, verdict: &VerdictRecord<'_>) -> Result<(), StoreError> {
        SqliteStore::add_verdict(self, run, verdict)
    }
    fn lookup(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        hash: Option<&str>,
        ruleset_hash: Option<&str>,
    ) -> Result<Option<CachedVerdict>, StoreError> {
        SqliteStore::lookup(self, ecosystem, name, version, hash, ruleset_hash)
    }
    fn lookup_many(
        &self,
        keys: &[ArtifactQuery],
        ruleset_hash: Option<&str>,
    ) -> Result<Vec<Option<CachedVerdict>>, StoreError> {
        SqliteStore::lookup_many(self, keys, ruleset_hash)
    }
    fn list(&self, filter: &Filter) -> Result<Vec<Summary>, StoreError> {
        SqliteStore::list(self, filter)
    }
    fn show(&self, query: &ArtifactQuery) -> Result<Option<Detail>, StoreError> {
        SqliteStore::show(self, query)
    }
    fn clear(&self, filter: &Filter) -> Result<usize, StoreError> {
        SqliteStore::clear(self, filter)
    }
    fn traces_needing_rejudge(&self, ruleset_hash: &str) -> Result<Vec<RejudgeItem>, StoreError> {
        SqliteStore::traces_needing_rejudge(self, ruleset_hash)
    }
    fn load_trace(&self, run: RunId) -> Result<Vec<u8>, StoreError> {
        SqliteStore::load_trace(self, run)
    }
    fn trace_reader(&self, run: RunId) -> Result<Box<dyn BufRead + Send>, StoreError> {
        Ok(Box::new(SqliteStore::trace_reader(self, run)?))
    }
    fn gc(&self, older_than: Duration) -> Result<GcStats, StoreError> {
        SqliteStore::gc(self, older_than)
    }
    fn stats(&self) -> Result<Stats, StoreError> {
        SqliteStore::stats(self)
    }
    fn enqueue(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        max_queued: u64,
    ) -> Result<JobId, StoreError> {
        SqliteStore::enqueue(self, kind, payload, max_queued)
    }
    fn claim_next(&self) -> Result<Option<Job>, StoreError> {
        SqliteStore::claim_next(self)
    }
    fn finish(&self, id: JobId, outcome: Result<&str, &str>) -> Result<(), StoreError> {
        SqliteStore::finish(self, id, outcome)
    }
    fn requeue_running(&self, max_attempts: u32) -> Result<Requeued, StoreError> {
        SqliteStore::requeue_running(self, max_attempts)
    }
    fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        SqliteStore::queue_depth(self)
    }
    fn live_jobs(&self) -> Result<Vec<Job>, StoreError> {
        SqliteStore::live_jobs(self)
    }
    fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        SqliteStore::job(self, id)
    }
    fn start_attempt(&self, id: JobId, worker: &str) -> Result<Option<Job>, StoreError> {
        SqliteStore::start_attempt(self, id, worker)
    }
    fn retry_later(&self, id: JobId, error: &str) -> Result<(), StoreError> {
        SqliteStore::retry_later(self, id, error)
    }
    fn jobs_by_worker(&self) -> Result<Vec<WorkerCount>, StoreError> {
        SqliteStore::jobs_by_worker(self)
    }
    fn claim_artifact(
        &self,
        artifact: &str,
        job: JobId,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        SqliteStore::claim_artifact(self, artifact, job, worker, ttl)
    }
    fn release_artifact(&self, artifact: &str, job: JobId) -> Result<(), StoreError> {
        SqliteStore::release_artifact(self, artifact, job)
    }
}
