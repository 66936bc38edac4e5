//! The report model: one serializable summary of a run, built in a single pass over the
//! trace, that every renderer reads. Its JSON form is a public contract (schema version
//! [`REPORT_SCHEMA_VERSION`]): fields are added, never renamed, within a version.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use airlock_events::{
    Actor, Confidence, Ecosystem, Finding, FindingKind, FsChangeKind, PhaseStatus, ProcRef,
    Severity, Strength, TraceFooter, TraceHeader, Verdict, Waived,
};
use serde::{Deserialize, Serialize};

use crate::text::Redactor;

mod build;
mod fold;

pub use build::{verdict_reason, ReportBuilder};

/// Version of the report's JSON schema.
pub const REPORT_SCHEMA_VERSION: &str = "1";

/// Caps that keep a report readable (and bounded) whatever the trace holds. Totals stay
/// in [`Counts`]; a note says when a list was cut.
pub const MAX_PROCESSES: usize = 500;
pub const MAX_NOTABLE_COMMANDS: usize = 50;
pub const MAX_FILES: usize = 500;
pub const MAX_NETWORK_ITEMS: usize = 500;
pub const MAX_CANARY_READS: usize = 200;
/// Characters of an HTTP body kept in the report.
pub const BODY_PREVIEW_CHARS: usize = 2048;
/// Characters of an argv kept in process and command summaries.
pub const ARGV_CHARS: usize = 160;
/// Process nodes followed while building (the tree shows [`MAX_PROCESSES`]; the rest are
/// kept so the shown nodes' children and the totals are right). Past this, processes are
/// only counted, so a fork bomb of millions of processes is judged in bounded memory.
pub const MAX_TRACKED_PROCESSES: usize = 50_000;
/// Entries of the lists a trace could make arbitrarily long (`note` events, limit hits,
/// leaked canaries); a note says how many more there were.
pub const MAX_LIST_ITEMS: usize = 1000;

/// What the rule engine decided (or [`JudgementInput::not_evaluated`] when no rules ran).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct JudgementInput {
    pub verdict: Verdict,
    pub score: f64,
    #[serde(default)]
    pub findings: Vec<Finding>,
    /// Hash identifying the ruleset that judged the trace.
    #[serde(default)]
    pub ruleset_hash: Option<String>,
}

impl JudgementInput {
    /// No rules ran: verdict `not-evaluated`, no findings.
    pub fn not_evaluated() -> JudgementInput {
        JudgementInput {
            verdict: Verdict::NotEvaluated,
            score: 0.0,
            findings: Vec::new(),
            ruleset_hash: None,
        }
    }
}

/// Facts about the run that are not in the events.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct RunInfo {
    /// The trace ended with a footer that says it is complete.
    pub complete: bool,
    /// What producers lost (from the footer).
    pub gaps: Vec<String>,
    /// A tool or sandbox error that cut the run short.
    pub error: Option<String>,
    /// Wall time of the whole run.
    pub duration_ms: Option<u64>,
    /// Anything else a reader should know.
    pub notes: Vec<String>,
}

impl RunInfo {
    /// Completeness, gaps and duration from a trace's footer (absent: incomplete).
    pub fn from_footer(header: &TraceHeader, footer: Option<&TraceFooter>) -> RunInfo {
        match footer {
            Some(f) => RunInfo {
                complete: f.complete,
                gaps: f.gaps.clone(),
                error: None,
                duration_ms: Some(((f.ended_at - header.started_at).max(0.0) * 1000.0) as u64),
                notes: Vec::new(),
            },
            None => RunInfo {
                complete: false,
                ..RunInfo::default()
            },
        }
    }
}

/// The whole report. See the crate docs and DESIGN.md for the contract.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    pub schema_version: String,
    pub tool: ToolInfo,
    pub run: RunSummary,
    pub package: PackageSummary,
    pub verdict: Verdict,
    pub score: f64,
    /// Hash of the ruleset that judged the trace.
    pub ruleset: Option<String>,
    /// Which proof made the verdict, or why none did (`no proof of harm; signals: …`).
    #[serde(default)]
    pub verdict_reason: String,
    /// Proofs first, then most severe first. One finding per rule; `items` lists each
    /// distinct match.
    pub findings: Vec<ReportFinding>,
    pub phases: Vec<PhaseSummary>,
    pub network: NetworkSummary,
    pub canaries: CanarySummary,
    pub processes: ProcessTree,
    pub files: FileSummary,
    pub counts: Counts,
    pub notable_commands: Vec<NotableCommand>,
    pub limits: Vec<LimitSummary>,
    pub notes: Vec<String>,
    pub trace_complete: bool,
    #[serde(default)]
    pub trace_gaps: Vec<String>,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ToolInfo {
    pub name: String,
    pub version: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct RunSummary {
    pub id: String,
    /// Unix seconds.
    pub started_at: f64,
    pub duration_ms: Option<u64>,
    /// Version of the airlock that recorded the trace.
    pub recorded_by: String,
    pub image: Option<String>,
    pub persona: Option<String>,
    pub home: Option<String>,
    pub package_dir: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct PackageSummary {
    pub ecosystem: Option<Ecosystem>,
    pub name: String,
    pub version: String,
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub integrity: Option<String>,
}

impl PackageSummary {
    /// `name@version` (npm) or `name==version` (PyPI).
    pub fn spec(&self) -> String {
        match self.ecosystem {
            Some(Ecosystem::Pypi) => format!("{}=={}", self.name, self.version),
            _ => format!("{}@{}", self.name, self.version),
        }
    }
}

/// A finding as reported: the rule engine's [`Finding`], redacted, with evidence enriched
/// by the file path its event touched.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportFinding {
    pub rule: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub message: String,
    /// This finding made the verdict malicious (a proof by the package's own code).
    pub decisive: bool,
    #[serde(default)]
    pub tags: Vec<String>,
    pub evidence: Vec<ReportEvidence>,
    /// `proof` of a harmful act or a `signal`.
    #[serde(default)]
    pub kind: FindingKind,
    /// The independent kind of evidence a signal belongs to.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family: String,
    #[serde(default)]
    pub strength: Strength,
    /// Whose code acted: `package`, `dropped` (a file it wrote or downloaded), `toolchain`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// Every distinct match of the rule, when there were several (the first is `message`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// A project waiver covers this finding: shown, not counted.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived: Option<Waived>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ReportEvidence {
    pub seq: u64,
    pub ts: f64,
    pub phase: String,
    #[serde(rename = "type")]
    pub event_type: String,
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc: Option<ProcRef>,
    /// The file the evidence event touched, when it touched one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// Line within `path` (static signals).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub line: Option<u32>,
    /// Who acted in this event.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
}

impl ReportEvidence {
    /// The process chain joined with ` → `, or the bare executable.
    pub fn chain(&self) -> Option<String> {
        let p = self.proc.as_ref()?;
        if p.chain.is_empty() {
            if p.exe.is_empty() {
                return None;
            }
            return Some(format!("{} [{}]", p.exe, p.pid));
        }
        Some(p.chain.join(" → "))
    }
}

/// How a phase ended, as the report states it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum PhaseState {
    Ok,
    Failed,
    TimedOut,
    Skipped,
    Error,
    /// Started, but the trace holds no end (the run was cut short).
    Unfinished,
}

impl From<PhaseStatus> for PhaseState {
    fn from(s: PhaseStatus) -> PhaseState {
        match s {
            PhaseStatus::Ok => PhaseState::Ok,
            PhaseStatus::Failed => PhaseState::Failed,
            PhaseStatus::TimedOut => PhaseState::TimedOut,
            PhaseStatus::Skipped => PhaseState::Skipped,
            PhaseStatus::Error => PhaseState::Error,
        }
    }
}

impl PhaseState {
    pub fn as_str(self) -> &'static str {
        match self {
            PhaseState::Ok => "ok",
            PhaseState::Failed => "failed",
            PhaseState::TimedOut => "timed out",
            PhaseState::Skipped => "skipped",
            PhaseState::Error => "error",
            PhaseState::Unfinished => "unfinished",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PhaseSummary {
    pub name: String,
    pub status: PhaseState,
    pub exit_code: Option<i64>,
    pub duration_ms: Option<u64>,
    #[serde(default)]
    pub command: Vec<String>,
    #[serde(default)]
    pub output_tail: String,
    #[serde(default)]
    pub output_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct NetworkSummary {
    /// Unique (name, type) questions, in first-seen order.
    pub dns: Vec<DnsEntry>,
    /// Connections the sink accepted.
    pub connections: Vec<ConnectionEntry>,
    /// `connect()` calls seen by the recorder, unique by address and port.
    #[serde(default)]
    pub connect_attempts: Vec<ConnectAttempt>,
    pub http: Vec<HttpEntry>,
    pub tls: Vec<TlsEntry>,
    /// Bytes on connections that were neither HTTP nor TLS.
    #[serde(default)]
    pub raw: Vec<RawEntry>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsEntry {
    pub name: String,
    pub qtype: String,
    pub answers: Vec<String>,
    pub rcode: Option<String>,
    pub count: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectionEntry {
    pub conn_id: u64,
    pub addr: String,
    pub port: u16,
    pub name: Option<String>,
    pub protocol: String,
    pub bytes_sent: u64,
    pub bytes_received: u64,
    pub end: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ConnectAttempt {
    pub family: String,
    pub addr: String,
    pub port: u16,
    pub name: Option<String>,
    /// `ok`, an errno name, or `unknown` (of the first attempt).
    pub outcome: String,
    pub count: u64,
    /// Process chain of the first attempt.
    pub process: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpEntry {
    pub seq: u64,
    pub conn_id: u64,
    pub method: String,
    pub url: String,
    pub host: String,
    /// Status the sink answered with (0 when unknown).
    pub status: u16,
    pub tls: bool,
    pub headers: Vec<(String, String)>,
    pub body_bytes: u64,
    /// The first [`BODY_PREVIEW_CHARS`] characters of the body (text, or `base64:…`).
    pub body_preview: String,
    pub body_truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TlsEntry {
    pub conn_id: u64,
    pub sni: Option<String>,
    pub alpn: Vec<String>,
    pub ok: bool,
    pub error: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RawEntry {
    pub conn_id: u64,
    pub addr: String,
    pub port: u16,
    pub bytes: u64,
    /// Printable rendering of the first bytes.
    pub preview: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct CanarySummary {
    /// What was planted — never the values.
    pub planted: Vec<PlantedCanary>,
    pub leaked: Vec<LeakedCanary>,
    pub read: Vec<CanaryRead>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PlantedCanary {
    pub id: String,
    pub kind: String,
    pub location: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeakedCanary {
    pub seq: u64,
    pub canary_id: String,
    pub kind: String,
    pub encoding: String,
    pub destination: String,
    pub carrier_seq: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CanaryRead {
    pub seq: u64,
    pub canary_id: Option<String>,
    pub path: String,
    pub via: String,
    pub process: Option<String>,
}

/// The processes of the run as a forest, flattened in first-seen order.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct ProcessTree {
    /// Processes seen in the trace.
    pub total: u64,
    /// Processes left out of `nodes` by the cap.
    pub omitted: u64,
    pub nodes: Vec<ProcessNode>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessNode {
    pub pid: u32,
    pub ppid: Option<u32>,
    /// Basename of the last image the process ran.
    pub exe: String,
    /// The last argv it exec'd (shortened), or its parent's when it never exec'd.
    pub argv: String,
    pub lifecycle: Option<String>,
    /// Phase it first appeared in.
    pub phase: String,
    pub exit_code: Option<i32>,
    pub signal: Option<String>,
    pub children: Vec<u32>,
}

impl ProcessTree {
    /// Nodes whose parent is not in the tree, in order.
    pub fn roots(&self) -> Vec<&ProcessNode> {
        let pids: BTreeSet<u32> = self.nodes.iter().map(|n| n.pid).collect();
        self.nodes
            .iter()
            .filter(|n| n.ppid.is_none_or(|p| !pids.contains(&p)))
            .collect()
    }

    pub fn node(&self, pid: u32) -> Option<&ProcessNode> {
        self.nodes.iter().rev().find(|n| n.pid == pid)
    }
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct FileSummary {
    pub written_outside_package: Vec<FileChange>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct FileChange {
    pub path: String,
    pub change: FsChangeKind,
    pub sha256: Option<String>,
    pub size: Option<u64>,
    pub phase: String,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Counts {
    pub events: u64,
    pub processes: u64,
    pub files_written: u64,
    pub connections: u64,
    pub dns_queries: u64,
    pub http_requests: u64,
    #[serde(default)]
    pub findings: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NotableCommand {
    pub command: String,
    pub lifecycle: Option<String>,
    pub phase: String,
    pub count: u64,
    /// seq of the first exec.
    pub seq: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LimitSummary {
    pub seq: u64,
    pub phase: String,
    pub limit: String,
    pub detail: String,
}

/// Mutable state of the one pass over the events.
struct Builder<'h> {
    header: &'h TraceHeader,
    redact: Redactor,
    events: u64,
    phases: Vec<PhaseSummary>,
    procs: Vec<ProcessNode>,
    /// pid → index of its current node in `procs`.
    proc_index: HashMap<u32, usize>,
    exited: BTreeSet<usize>,
    notable: Vec<NotableCommand>,
    notable_index: HashMap<String, usize>,
    notable_omitted: u64,
    /// Commands airlock itself ran as phases (never notable).
    phase_commands: BTreeSet<String>,
    dns: Vec<DnsEntry>,
    dns_index: HashMap<(String, String), usize>,
    dns_sink_queries: u64,
    syscall_dns: Vec<DnsEntry>,
    syscall_dns_index: HashMap<(String, String), usize>,
    syscall_dns_queries: u64,
    network: NetworkSummary,
    network_omitted: BTreeMap<&'static str, u64>,
    attempt_index: HashMap<(String, u16), usize>,
    connections_total: u64,
    http_total: u64,
    canaries: CanarySummary,
    canary_reads_omitted: u64,
    files: Vec<FileChange>,
    files_omitted: u64,
    /// Hashes of the paths written (only their number is reported).
    written_paths: HashSet<u64>,
    limits: Vec<LimitSummary>,
    notes: Vec<String>,
    /// Processes seen after [`MAX_TRACKED_PROCESSES`] nodes (counted, not followed).
    procs_untracked: u64,
    untracked_pids: HashSet<u32>,
    /// Limit hits, notes and leaked canaries left out by [`MAX_LIST_ITEMS`].
    lists_omitted: BTreeMap<&'static str, u64>,
    /// Evidence seqs whose file is looked up in the events (when the findings are known
    /// before the pass), and the (redacted) file and line found.
    wanted: HashSet<u64>,
    found: HashMap<u64, (String, Option<u32>)>,
}
