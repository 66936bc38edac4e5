//! Errors of the store. Every variant names the store file, run, or job involved, so a
//! message on the terminal says where to look.

use std::path::PathBuf;

use crate::model::{JobId, RunId};

/// Everything that can go wrong in the store.
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("cannot create the store directory {path}: {source}")]
    CreateDir {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("cannot open the store {path}: {source}")]
    Open {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error(
        "the store {path} has schema version {found}, newer than this airlock understands \
         ({supported}); upgrade airlock or point it at another store"
    )]
    TooNew {
        path: PathBuf,
        found: i64,
        supported: i64,
    },
    #[error("store {path}: {source}")]
    Sql {
        path: PathBuf,
        source: rusqlite::Error,
    },
    #[error("the store {path} stayed locked by another process for {waited_ms} ms")]
    Busy { path: PathBuf, waited_ms: u64 },
    #[error("run {run_id} is already in the store {path}")]
    DuplicateRun { path: PathBuf, run_id: String },
    #[error("run {run} is not in the store {path}")]
    UnknownRun { path: PathBuf, run: RunId },
    #[error("the trace of run {run} was removed from the store {path} by gc")]
    TraceGone { path: PathBuf, run: RunId },
    #[error("cannot {action} the {what} of {owner} in the store {path}: {source}")]
    Codec {
        path: PathBuf,
        action: &'static str,
        what: &'static str,
        owner: String,
        source: std::io::Error,
    },
    #[error("the job queue in {path} is full ({queued} queued, limit {max})")]
    QueueFull {
        path: PathBuf,
        queued: u64,
        max: u64,
    },
    #[error("job {id} in the store {path} is {state}, not running")]
    JobNotRunning {
        path: PathBuf,
        id: JobId,
        state: String,
    },
    #[error("job {id} is not in the store {path}")]
    UnknownJob { path: PathBuf, id: JobId },
    #[error("database {location}: {source}")]
    Postgres {
        location: String,
        source: tokio_postgres::Error,
    },
    #[error("database {location}: {detail}")]
    Database { location: String, detail: String },
    #[error(
        "the database {location} has schema version {found}, newer than this airlock \
         understands ({supported}); upgrade airlock or point it at another database"
    )]
    DatabaseTooNew {
        location: String,
        found: i64,
        supported: i64,
    },
    #[error("corrupt row in table {table} of the store {path} (id {id}): {detail}")]
    Corrupt {
        path: PathBuf,
        table: &'static str,
        id: i64,
        detail: String,
    },
}

impl StoreError {
    /// The write could not get the lock (SQLITE_BUSY / SQLITE_LOCKED); retrying may help.
    pub fn is_busy(&self) -> bool {
        match self {
            StoreError::Sql { source, .. } | StoreError::Open { source, .. } => is_busy(source),
            StoreError::Busy { .. } => true,
            _ => false,
        }
    }

    /// The job queue refused a submission because it is at its bound (HTTP 429).
    pub fn is_queue_full(&self) -> bool {
        matches!(self, StoreError::QueueFull { .. })
    }
}

pub(crate) fn is_busy(e: &rusqlite::Error) -> bool {
    matches!(
        e.sqlite_error_code(),
        Some(rusqlite::ErrorCode::DatabaseBusy | rusqlite::ErrorCode::DatabaseLocked)
    )
}
