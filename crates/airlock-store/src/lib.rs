//! The airlock verdict store: an embedded SQLite file (by default
//! `$XDG_CACHE_HOME/airlock/store.sqlite3`) that keeps, per analyzed artifact, every
//! sandbox run's compressed trace and every verdict a ruleset gave it, plus the durable
//! job queue of `airlock serve`. The same data can live in PostgreSQL instead ([`PgStore`],
//! for `airlock serve --queue` and its workers on many hosts); both sit behind the
//! [`Backend`] trait and are opened as a [`Store`] (`backend.rs`). What follows describes
//! the SQLite backend; the PostgreSQL one keeps the same schema and transaction
//! boundaries (`pg/`).
//!
//! Why it exists: the install wrapper looks every package of a tree up before deciding
//! (so lookups must be cheap), `airlock rejudge` re-judges stored traces when the rules
//! change (so traces are kept), and several wrappers and the service may write at once
//! (so writes are atomic and serialized). Guarantees:
//!
//! - one run (artifact, run, trace, verdict) is written in one `BEGIN IMMEDIATE`
//!   transaction: a crash loses at most the run in flight;
//! - WAL journal, `synchronous=NORMAL`, foreign keys on, a `busy_timeout`, and writes
//!   retried with backoff when another process holds the lock longer than that;
//! - the schema is versioned (`PRAGMA user_version`) and migrated on open; a store from a
//!   newer airlock is refused rather than misread.
//!
//! ```no_run
//! # fn main() -> Result<(), airlock_store::StoreError> {
//! use airlock_store::{ArtifactKey, RunRecord, Store, VerdictRecord};
//! use airlock_events::{Ecosystem, Verdict};
//! let store = Store::open(Store::default_path().unwrap_or_else(|| "store.sqlite3".into()))?;
//! let key = ArtifactKey { ecosystem: Ecosystem::Npm, name: "left-pad".into(),
//!     version: "1.3.0".into(), sha256: Some("ab12…".into()), integrity: None };
//! let run = RunRecord { run_id: "r-1", started_at: 0.0, duration_ms: Some(900),
//!     image: None, complete: true, trace_jsonl: b"{}\n" };
//! let verdict = VerdictRecord { ruleset_hash: "rs1", verdict: Verdict::Benign,
//!     score: 0.0, report_json: b"{}" };
//! store.record_run(&key, &run, &verdict)?;
//! let hit = store.lookup(Ecosystem::Npm, "left-pad", "1.3.0", None, Some("rs1"))?;
//! assert!(hit.is_some());
//! # Ok(()) }
//! ```

#![cfg_attr(test, allow(clippy::unwrap_used))]

mod backend;
mod codec;
mod error;
mod jobs;
mod model;
mod pg;
mod schema;
mod verdicts;

use std::path::{Path, PathBuf};
use std::sync::{Mutex, MutexGuard};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use rusqlite::{Connection, OpenFlags, Transaction, TransactionBehavior};

pub use backend::{is_database_url, Backend, Store};
pub use error::StoreError;
pub use model::{
    ArtifactKey, ArtifactQuery, CachedVerdict, Detail, Filter, GcStats, Job, JobId, JobState,
    QueueDepth, RejudgeItem, Requeued, RunId, RunRecord, RunSummary, Stats, Summary, VerdictRecord,
    VerdictSummary, WorkerCount,
};
pub use pg::PgStore;

/// The window of [`WorkerCount::done_recently`]: ten minutes.
pub const THROUGHPUT_WINDOW_MS: i64 = 10 * 60 * 1000;

/// File name of the store inside the cache directory.
pub const STORE_FILE: &str = "store.sqlite3";

/// Tunables of [`Store::open_with`] (SQLite).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreOptions {
    /// How long SQLite itself waits for a lock before answering SQLITE_BUSY.
    pub busy_timeout: Duration,
    /// How long a write keeps retrying (with backoff) after SQLITE_BUSY.
    pub write_retry_for: Duration,
}

impl Default for StoreOptions {
    fn default() -> Self {
        StoreOptions {
            busy_timeout: Duration::from_secs(5),
            write_retry_for: Duration::from_secs(60),
        }
    }
}

/// The embedded SQLite backend. `Send + Sync`: share one behind an `Arc`, or open one per
/// worker; both are safe, also across processes.
pub struct SqliteStore {
    path: PathBuf,
    opts: StoreOptions,
    conn: Mutex<Connection>,
}

impl std::fmt::Debug for SqliteStore {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SqliteStore")
            .field("path", &self.path)
            .finish()
    }
}

impl SqliteStore {
    /// The default location: `$XDG_CACHE_HOME/airlock/store.sqlite3`, else
    /// `$HOME/.cache/airlock/store.sqlite3`; `None` when neither variable is set.
    pub fn default_path() -> Option<PathBuf> {
        let cache = std::env::var_os("XDG_CACHE_HOME")
            .filter(|v| !v.is_empty())
            .map(PathBuf::from)
            .filter(|p| p.is_absolute())
            .or_else(|| {
                std::env::var_os("HOME")
                    .filter(|v| !v.is_empty())
                    .map(|h| PathBuf::from(h).join(".cache"))
            })?;
        Some(cache.join("airlock").join(STORE_FILE))
    }

    /// Opens (creating the file and its directories if needed) and migrates the store.
    pub fn open(path: impl AsRef<Path>) -> Result<SqliteStore, StoreError> {
        SqliteStore::open_with(path, StoreOptions::default())
    }

    /// [`SqliteStore::open`] with explicit tunables.
    pub fn open_with(
        path: impl AsRef<Path>,
        opts: StoreOptions,
    ) -> Result<SqliteStore, StoreError> {
        let path = path.as_ref().to_path_buf();
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).map_err(|source| StoreError::CreateDir {
                path: dir.to_path_buf(),
                source,
            })?;
        }
        let open_err = |source| StoreError::Open {
            path: path.clone(),
            source,
        };
        let conn = Connection::open_with_flags(
            &path,
            OpenFlags::SQLITE_OPEN_READ_WRITE
                | OpenFlags::SQLITE_OPEN_CREATE
                | OpenFlags::SQLITE_OPEN_NO_MUTEX,
        )
        .map_err(open_err)?;
        conn.busy_timeout(opts.busy_timeout).map_err(open_err)?;
        let store = SqliteStore {
            path: path.clone(),
            opts,
            conn: Mutex::new(conn),
        };
        store.configure()?;
        store.migrate()?;
        Ok(store)
    }

    /// The store file.
    pub fn path(&self) -> &Path {
        &self.path
    }

    fn configure(&self) -> Result<(), StoreError> {
        let deadline = Instant::now() + self.opts.write_retry_for;
        let mut delay = Duration::from_millis(5);
        loop {
            let res = {
                let conn = self.lock();
                // auto_vacuum only takes effect before the first table exists, so it is set
                // first; it lets gc hand freed pages back with `incremental_vacuum`.
                conn.execute_batch("PRAGMA auto_vacuum = INCREMENTAL;")
                    .and_then(|()| {
                        conn.query_row("PRAGMA journal_mode = WAL", [], |r| r.get::<_, String>(0))
                    })
                    .and_then(|_| {
                        conn.execute_batch("PRAGMA synchronous = NORMAL; PRAGMA foreign_keys = ON;")
                    })
            };
            match res {
                Ok(()) => return Ok(()),
                Err(e) if error::is_busy(&e) && Instant::now() < deadline => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(200));
                }
                Err(source) => {
                    return Err(StoreError::Open {
                        path: self.path.clone(),
                        source,
                    })
                }
            }
        }
    }

    fn migrate(&self) -> Result<(), StoreError> {
        let path = self.path.clone();
        self.write(|tx| {
            let found: i64 = tx
                .query_row("PRAGMA user_version", [], |r| r.get(0))
                .map_err(sql(&path))?;
            if found > schema::LATEST {
                return Err(StoreError::TooNew {
                    path: path.clone(),
                    found,
                    supported: schema::LATEST,
                });
            }
            if found < schema::LATEST {
                tracing::debug!(store = %path.display(), from = found, to = schema::LATEST, "migrating store");
                schema::migrate(tx, found, now_ms()).map_err(sql(&path))?;
            }
            Ok(())
        })
    }

    /// The schema version of the open store.
    pub fn schema_version(&self) -> Result<i64, StoreError> {
        self.read(|c| c.query_row("PRAGMA user_version", [], |r| r.get(0)))
    }

    /// `PRAGMA integrity_check`: `["ok"]` for a healthy store, else SQLite's complaints.
    pub fn integrity_check(&self) -> Result<Vec<String>, StoreError> {
        self.read(|c| {
            let mut stmt = c.prepare("PRAGMA integrity_check")?;
            let rows = stmt.query_map([], |r| r.get::<_, String>(0))?;
            rows.collect()
        })
    }

    fn lock(&self) -> MutexGuard<'_, Connection> {
        // A panic while holding the lock leaves the connection usable: an open
        // transaction was rolled back when its guard dropped during unwinding.
        self.conn.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Runs `f` in a `BEGIN IMMEDIATE` transaction and commits it, retrying the whole
    /// transaction with backoff while another connection holds the write lock.
    pub(crate) fn write<T>(
        &self,
        mut f: impl FnMut(&Transaction<'_>) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(2);
        let mut conn = self.lock();
        loop {
            let attempt: Result<T, StoreError> = (|| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Immediate)
                    .map_err(sql(&self.path))?;
                let value = f(&tx)?;
                tx.commit().map_err(sql(&self.path))?;
                Ok(value)
            })();
            match attempt {
                Err(e) if e.is_busy() => {
                    if start.elapsed() >= self.opts.write_retry_for {
                        return Err(StoreError::Busy {
                            path: self.path.clone(),
                            waited_ms: start.elapsed().as_millis() as u64,
                        });
                    }
                    tracing::debug!(store = %self.path.display(), "store busy, retrying write");
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }

    /// Runs a read (a snapshot: one deferred transaction), retrying on SQLITE_BUSY.
    pub(crate) fn read<T>(
        &self,
        mut f: impl FnMut(&Connection) -> rusqlite::Result<T>,
    ) -> Result<T, StoreError> {
        self.read_with(|c| f(c).map_err(sql(&self.path)))
    }

    /// Like [`SqliteStore::read`] for closures that can fail with other store errors.
    pub(crate) fn read_with<T>(
        &self,
        mut f: impl FnMut(&Connection) -> Result<T, StoreError>,
    ) -> Result<T, StoreError> {
        let start = Instant::now();
        let mut delay = Duration::from_millis(2);
        let mut conn = self.lock();
        loop {
            let attempt: Result<T, StoreError> = (|| {
                let tx = conn
                    .transaction_with_behavior(TransactionBehavior::Deferred)
                    .map_err(sql(&self.path))?;
                let value = f(&tx)?;
                tx.finish().map_err(sql(&self.path))?;
                Ok(value)
            })();
            match attempt {
                Err(e) if e.is_busy() && start.elapsed() < self.opts.write_retry_for => {
                    std::thread::sleep(delay);
                    delay = (delay * 2).min(Duration::from_millis(100));
                }
                other => return other,
            }
        }
    }
}

/// Maps a SQLite error to [`StoreError::Sql`] naming the store.
pub(crate) fn sql(path: &Path) -> impl Fn(rusqlite::Error) -> StoreError + '_ {
    move |source| StoreError::Sql {
        path: path.to_path_buf(),
        source,
    }
}

/// Unix milliseconds now.
pub(crate) fn now_ms() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0)
}
