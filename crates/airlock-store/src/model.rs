//! The values that go in and out of the store: artifact keys, run and verdict records to
//! write, and the summaries `airlock cache`, the install wrapper, `airlock rejudge` and
//! the service read back. Kept apart from the SQL so callers see plain data.

use std::fmt;

use airlock_events::{Ecosystem, Verdict};
use serde::{Deserialize, Serialize};

/// Row id of a run in the store (not the trace's own `run_id` string).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct RunId(pub i64);

impl fmt::Display for RunId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "#{}", self.0)
    }
}

/// Id of a job in the durable queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(transparent)]
pub struct JobId(pub i64);

impl fmt::Display for JobId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)
    }
}

/// The exact artifact a run analyzed: the registry coordinates plus the hashes of the
/// bytes. `sha256` is the lowercase hex sha256 of the tarball/wheel/sdist; `integrity`
/// is npm's `sha512-…` string. At least one should be set; the pair (coordinates,
/// sha256) is unique in the store.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ArtifactKey {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
}

impl ArtifactKey {
    /// `name@version` (npm) or `name==version` (PyPI).
    pub fn spec(&self) -> String {
        self.ecosystem.pinned(&self.name, &self.version)
    }
}

/// Which artifact to show: coordinates and, optionally, a hash (sha256 hex or npm
/// integrity) to tell apart two artifacts published under one version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ArtifactQuery {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    pub hash: Option<String>,
}

/// One sandbox run to store. The trace is the raw JSON Lines; the store compresses it.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct RunRecord<'a> {
    /// The trace header's `run_id`; unique in the store.
    pub run_id: &'a str,
    /// Unix seconds (the trace header's `started_at`).
    pub started_at: f64,
    pub duration_ms: Option<u64>,
    pub image: Option<&'a str>,
    /// The trace ended with a footer saying it is complete.
    pub complete: bool,
    pub trace_jsonl: &'a [u8],
}

/// The rule engine's judgement of one run under one ruleset.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct VerdictRecord<'a> {
    pub ruleset_hash: &'a str,
    pub verdict: Verdict,
    pub score: f64,
    /// The report as JSON (airlock-report's `Report`); stored compressed.
    pub report_json: &'a [u8],
}

/// The answer to a cache lookup.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct CachedVerdict {
    pub run: RunId,
    pub run_id: String,
    pub verdict: Verdict,
    pub score: f64,
    pub ruleset_hash: String,
    /// The verdict was made by the ruleset the caller asked for. When false, the caller
    /// holds an older judgement and may want to rejudge the stored trace.
    pub ruleset_matches: bool,
    /// Unix milliseconds when the verdict was stored.
    pub judged_at_ms: i64,
    /// Unix seconds when the run started.
    pub run_started_at: f64,
    pub run_complete: bool,
    pub sha256: Option<String>,
    pub integrity: Option<String>,
}

/// Filter for [`crate::Backend::list`] and [`crate::Backend::clear`]; `None` matches all.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Filter {
    pub ecosystem: Option<Ecosystem>,
    pub name: Option<String>,
    pub version: Option<String>,
    /// Matches the artifact's latest verdict.
    pub verdict: Option<Verdict>,
}

/// One line of `airlock cache ls`: an artifact and its latest verdict.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Summary {
    pub artifact: ArtifactKey,
    pub verdict: Option<Verdict>,
    pub score: Option<f64>,
    pub ruleset_hash: Option<String>,
    /// Unix milliseconds of the latest verdict.
    pub judged_at_ms: Option<i64>,
    pub runs: u64,
    /// Compressed bytes of the traces still kept for this artifact.
    pub trace_bytes: u64,
}

/// One judgement of a run, without its report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct VerdictSummary {
    pub ruleset_hash: String,
    pub verdict: Verdict,
    pub score: f64,
    pub judged_at_ms: i64,
}

/// One run of an artifact, with every judgement it received.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RunSummary {
    pub run: RunId,
    pub run_id: String,
    pub started_at: f64,
    pub duration_ms: Option<u64>,
    pub image: Option<String>,
    pub complete: bool,
    /// Uncompressed size of the trace.
    pub trace_raw_bytes: u64,
    /// Compressed size of the trace as stored.
    pub trace_bytes: u64,
    /// False once gc removed the trace (the verdicts stay).
    pub trace_kept: bool,
    /// Oldest first.
    pub verdicts: Vec<VerdictSummary>,
}

/// `airlock cache show`: an artifact, its runs, and the latest verdict's report.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Detail {
    pub artifact: ArtifactKey,
    pub latest: CachedVerdict,
    /// The latest verdict's report, decoded from JSON.
    pub report: serde_json::Value,
    /// Newest first.
    pub runs: Vec<RunSummary>,
}

/// A stored run that has no verdict from some ruleset yet.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RejudgeItem {
    pub run: RunId,
    pub run_id: String,
    pub artifact: ArtifactKey,
}

/// What [`crate::Backend::gc`] removed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct GcStats {
    pub traces_removed: u64,
    /// Compressed trace bytes removed.
    pub bytes_freed: u64,
    /// Finished (done or failed) jobs removed.
    pub jobs_removed: u64,
}

/// Row counts and sizes, for `airlock cache ls` footers and tests.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Stats {
    pub artifacts: u64,
    pub runs: u64,
    pub verdicts: u64,
    pub traces_kept: u64,
    /// Compressed bytes of the kept traces.
    pub trace_bytes: u64,
    pub jobs: u64,
}

/// State of a job in the durable queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JobState {
    Queued,
    Running,
    Done,
    Failed,
}

impl JobState {
    pub fn as_str(self) -> &'static str {
        match self {
            JobState::Queued => "queued",
            JobState::Running => "running",
            JobState::Done => "done",
            JobState::Failed => "failed",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<JobState> {
        Some(match s {
            "queued" => JobState::Queued,
            "running" => JobState::Running,
            "done" => JobState::Done,
            "failed" => JobState::Failed,
            _ => return None,
        })
    }
}

impl fmt::Display for JobState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A job of the service's durable queue.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Job {
    pub id: JobId,
    /// What to do, e.g. `analyze`; the service defines the kinds.
    pub kind: String,
    pub payload: serde_json::Value,
    pub state: JobState,
    /// How many times a worker claimed it.
    pub attempts: u32,
    /// Unix milliseconds.
    pub created_at_ms: i64,
    pub updated_at_ms: i64,
    /// What a done job produced, e.g. a run id.
    pub result: Option<String>,
    /// Why a failed job failed (or, while it is queued again, why its last attempt did).
    pub error: Option<String>,
    /// The worker that last ran it (`airlock worker --name`, or the host name).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub worker: Option<String>,
}

/// Finished jobs of one worker (`/metrics`: per-worker throughput).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct WorkerCount {
    pub worker: String,
    pub done: u64,
    pub failed: u64,
    /// Deliveries beyond the first of the jobs it ran last (redeliveries).
    pub redeliveries: u64,
    /// Jobs it finished done in the last [`crate::THROUGHPUT_WINDOW_MS`] (throughput).
    pub done_recently: u64,
}

/// Jobs per live state.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct QueueDepth {
    pub queued: u64,
    pub running: u64,
}

/// What [`crate::Backend::requeue_running`] did with jobs left running by a stopped service.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct Requeued {
    /// Put back in the queue.
    pub requeued: u64,
    /// Failed because they had already been claimed `max_attempts` times (a job that
    /// keeps killing the service must not be retried forever).
    pub failed: u64,
}
