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
//!
//! The module is split like the SQLite side: the connection, its runtime and the
//! [`Backend`] impl here; the migrations in `schema.rs`; artifacts, runs, verdicts and
//! traces in `verdicts.rs`; the job records and artifact claims in `jobs.rs`.

mod jobs;
mod schema;
mod verdicts;

use std::future::Future;
use std::io::BufRead;
use std::time::Duration;

use airlock_events::Ecosystem;
use deadpool_postgres::{Manager, ManagerConfig, Pool, RecyclingMethod};
use tokio_postgres::NoTls;

use crate::backend::Backend;
use crate::model::{
    ArtifactKey, ArtifactQuery, CachedVerdict, Detail, Filter, GcStats, Job, JobId, QueueDepth,
    RejudgeItem, Requeued, RunId, RunRecord, Stats, Summary, VerdictRecord, WorkerCount,
};
use crate::StoreError;

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

impl Backend for PgStore {
    fn location(&self) -> String {
        self.location.clone()
    }
    fn schema_version(&self) -> Result<i64, StoreError> {
        PgStore::schema_version(self)
    }
    fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        PgStore::integrity_check(self)
    }
    fn record_run(
        &self,
        artifact: &ArtifactKey,
        run: &RunRecord<'_>,
        verdict: &VerdictRecord<'_>,
    ) -> Result<RunId, StoreError> {
        PgStore::record_run(self, artifact, run, verdict)
    }
    fn add_verdict(&self, run: RunId, verdict: &VerdictRecord<'_>) -> Result<(), StoreError> {
        PgStore::add_verdict(self, run, verdict)
    }
    fn lookup(
        &self,
        ecosystem: Ecosystem,
        name: &str,
        version: &str,
        hash: Option<&str>,
        ruleset_hash: Option<&str>,
    ) -> Result<Option<CachedVerdict>, StoreError> {
        PgStore::lookup(self, ecosystem, name, version, hash, ruleset_hash)
    }
    fn lookup_many(
        &self,
        keys: &[ArtifactQuery],
        ruleset_hash: Option<&str>,
    ) -> Result<Vec<Option<CachedVerdict>>, StoreError> {
        PgStore::lookup_many(self, keys, ruleset_hash)
    }
    fn list(&self, filter: &Filter) -> Result<Vec<Summary>, StoreError> {
        PgStore::list(self, filter)
    }
    fn show(&self, query: &ArtifactQuery) -> Result<Option<Detail>, StoreError> {
        PgStore::show(self, query)
    }
    fn clear(&self, filter: &Filter) -> Result<usize, StoreError> {
        PgStore::clear(self, filter)
    }
    fn traces_needing_rejudge(&self, ruleset_hash: &str) -> Result<Vec<RejudgeItem>, StoreError> {
        PgStore::traces_needing_rejudge(self, ruleset_hash)
    }
    fn load_trace(&self, run: RunId) -> Result<Vec<u8>, StoreError> {
        PgStore::load_trace(self, run)
    }
    fn trace_reader(&self, run: RunId) -> Result<Box<dyn BufRead + Send>, StoreError> {
        PgStore::trace_reader(self, run)
    }
    fn gc(&self, older_than: Duration) -> Result<GcStats, StoreError> {
        PgStore::gc(self, older_than)
    }
    fn stats(&self) -> Result<Stats, StoreError> {
        PgStore::stats(self)
    }
    fn enqueue(
        &self,
        kind: &str,
        payload: &serde_json::Value,
        max_queued: u64,
    ) -> Result<JobId, StoreError> {
        PgStore::enqueue(self, kind, payload, max_queued)
    }
    fn claim_next(&self) -> Result<Option<Job>, StoreError> {
        PgStore::claim_next(self)
    }
    fn finish(&self, id: JobId, outcome: Result<&str, &str>) -> Result<(), StoreError> {
        PgStore::finish(self, id, outcome)
    }
    fn requeue_running(&self, max_attempts: u32) -> Result<Requeued, StoreError> {
        PgStore::requeue_running(self, max_attempts)
    }
    fn queue_depth(&self) -> Result<QueueDepth, StoreError> {
        PgStore::queue_depth(self)
    }
    fn live_jobs(&self) -> Result<Vec<Job>, StoreError> {
        PgStore::live_jobs(self)
    }
    fn job(&self, id: JobId) -> Result<Option<Job>, StoreError> {
        PgStore::job(self, id)
    }
    fn start_attempt(&self, id: JobId, worker: &str) -> Result<Option<Job>, StoreError> {
        PgStore::start_attempt(self, id, worker)
    }
    fn retry_later(&self, id: JobId, error: &str) -> Result<(), StoreError> {
        PgStore::retry_later(self, id, error)
    }
    fn jobs_by_worker(&self) -> Result<Vec<WorkerCount>, StoreError> {
        PgStore::jobs_by_worker(self)
    }
    fn claim_artifact(
        &self,
        artifact: &str,
        job: JobId,
        worker: &str,
        ttl: Duration,
    ) -> Result<bool, StoreError> {
        PgStore::claim_artifact(self, artifact, job, worker, ttl)
    }
    fn release_artifact(&self, artifact: &str, job: JobId) -> Result<(), StoreError> {
        PgStore::release_artifact(self, artifact, job)
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
