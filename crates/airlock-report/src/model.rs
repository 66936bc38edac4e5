//! The report model: one serializable summary of a run, built in a single pass over the
//! trace, that every renderer reads. Its JSON form is a public contract (schema version
//! [`REPORT_SCHEMA_VERSION`]): fields are added, never renamed, within a version.

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};
use std::hash::{Hash, Hasher};

use airlock_events::{
    Actor, Confidence, Ecosystem, Event, EventKind, Finding, FindingKind, FsChangeKind, Outcome,
    PhaseStatus, ProcRef, Severity, Strength, TraceFooter, TraceHeader, Verdict, Waived,
};
use serde::{Deserialize, Serialize};

use crate::text::{basename, join_argv, truncate, Redactor};

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

/// Builds a [`Report`] one event at a time, for callers that stream a trace rather than
/// hold it (judging a stored trace of millions of events): memory stays bounded by the
/// report's caps whatever the trace's length. [`Report::build`] is this over a slice.
pub struct ReportBuilder<'h> {
    b: Builder<'h>,
}

impl<'h> ReportBuilder<'h> {
    /// A builder for a trace with this header; the findings come at [`Self::finish`], and
    /// the file of each piece of evidence from [`airlock_events::Evidence::path`].
    pub fn new(header: &'h TraceHeader) -> ReportBuilder<'h> {
        ReportBuilder {
            b: Builder::new(header, HashSet::new()),
        }
    }

    /// Folds the next event (in trace order) into the report.
    pub fn event(&mut self, ev: &Event) {
        self.b.event(ev);
    }

    /// Events folded in so far.
    pub fn events(&self) -> u64 {
        self.b.events
    }

    pub fn finish(self, judgement: JudgementInput, run: RunInfo) -> Report {
        self.b.finish(judgement, run)
    }
}

impl Report {
    /// Convenience for a whole trace in memory: completeness, gaps and duration come from
    /// its footer.
    pub fn from_trace(trace: &airlock_events::Trace, judgement: JudgementInput) -> Report {
        let run = RunInfo::from_footer(&trace.header, trace.footer.as_ref());
        Report::build(&trace.header, &trace.events, judgement, run)
    }

    /// Builds the report in one pass over `events` (in trace order).
    pub fn build<'e>(
        header: &TraceHeader,
        events: impl IntoIterator<Item = &'e Event>,
        judgement: JudgementInput,
        run: RunInfo,
    ) -> Report {
        let wanted = judgement
            .findings
            .iter()
            .flat_map(|f| f.evidence.iter().map(|e| e.seq))
            .collect();
        let mut b = Builder::new(header, wanted);
        for ev in events {
            b.event(ev);
        }
        b.finish(judgement, run)
    }
}

impl<'h> Builder<'h> {
    fn new(header: &'h TraceHeader, wanted: HashSet<u64>) -> Builder<'h> {
        Builder {
            header,
            redact: Redactor::new(&header.canaries),
            events: 0,
            phases: Vec::new(),
            procs: Vec::new(),
            proc_index: HashMap::new(),
            exited: BTreeSet::new(),
            notable: Vec::new(),
            notable_index: HashMap::new(),
            notable_omitted: 0,
            phase_commands: BTreeSet::new(),
            dns: Vec::new(),
            dns_index: HashMap::new(),
            dns_sink_queries: 0,
            syscall_dns: Vec::new(),
            syscall_dns_index: HashMap::new(),
            syscall_dns_queries: 0,
            network: NetworkSummary::default(),
            network_omitted: BTreeMap::new(),
            attempt_index: HashMap::new(),
            connections_total: 0,
            http_total: 0,
            canaries: CanarySummary::default(),
            canary_reads_omitted: 0,
            files: Vec::new(),
            files_omitted: 0,
            written_paths: HashSet::new(),
            limits: Vec::new(),
            notes: Vec::new(),
            procs_untracked: 0,
            untracked_pids: HashSet::new(),
            lists_omitted: BTreeMap::new(),
            wanted,
            found: HashMap::new(),
        }
    }

    /// The judgement's findings as the report shows them, most severe first, each piece
    /// of evidence with its file when the event named one.
    fn findings(&self, judgement: &JudgementInput) -> Vec<ReportFinding> {
        let redact = &self.redact;
        let mut findings: Vec<ReportFinding> = judgement
            .findings
            .iter()
            .map(|f| ReportFinding {
                rule: f.rule.clone(),
                severity: f.severity,
                confidence: f.confidence,
                message: redact.own(&f.message),
                decisive: f.decisive,
                tags: f.tags.clone(),
                kind: f.kind,
                family: f.family.clone(),
                strength: f.strength,
                actor: f.actor,
                items: f.items.iter().map(|i| redact.own(i)).collect(),
                waived: f.waived.clone(),
                evidence: f
                    .evidence
                    .iter()
                    .map(|e| {
                        let (path, line) = match self.found.get(&e.seq) {
                            Some((p, l)) => (Some(p.clone()), *l),
                            None if self.wanted.contains(&e.seq) => (None, None),
                            None => (e.path.as_deref().map(|p| redact.own(p)), e.line),
                        };
                        ReportEvidence {
                            seq: e.seq,
                            ts: e.ts,
                            phase: e.phase.clone(),
                            event_type: e.event_type.clone(),
                            summary: redact.own(&e.summary),
                            proc: e.proc.as_ref().map(|p| redact_proc(redact, p)),
                            path,
                            line,
                            actor: e.actor,
                        }
                    })
                    .collect(),
            })
            .collect();
        // Deciding proofs first, then proofs, then most severe; waived last; then by
        // rule id for stable output.
        findings.sort_by(|a, b| {
            a.waived
                .is_some()
                .cmp(&b.waived.is_some())
                .then(b.decisive.cmp(&a.decisive))
                .then(a.kind.cmp(&b.kind))
                .then(b.severity.cmp(&a.severity))
                .then(b.confidence.cmp(&a.confidence))
                .then(a.rule.cmp(&b.rule))
        });
        findings
    }
}

/// The report's first line under the verdict: which proof made it, or why none did. Made
/// from the findings themselves (the rule engine marks deciding proofs `decisive`), so a
/// stored report explains itself.
pub fn verdict_reason(verdict: Verdict, findings: &[ReportFinding]) -> String {
    let waived = findings.iter().filter(|f| f.waived.is_some()).count();
    let waived = match waived {
        0 => String::new(),
        1 => "; 1 finding waived".to_string(),
        n => format!("; {n} findings waived"),
    };
    let proofs: Vec<&ReportFinding> = findings
        .iter()
        .filter(|f| f.decisive && f.waived.is_none())
        .collect();
    if let Some(p) = proofs.first() {
        let by = match p.actor {
            Some(Actor::Dropped) => " (by a file the package dropped)",
            _ => "",
        };
        let more = match proofs.len() {
            1 => String::new(),
            n => format!(" (+{} more proof{})", n - 1, if n == 2 { "" } else { "s" }),
        };
        return format!(
            "proof of harm{by}: {} — {}{more}{waived}",
            p.rule, p.message
        );
    }
    let signals: Vec<String> = findings
        .iter()
        .filter(|f| f.waived.is_none())
        .map(|f| {
            let how = match (f.kind, f.strength) {
                (FindingKind::Proof, _) => format!(
                    "{}, proof by {}",
                    f.family,
                    f.actor.map_or("?", Actor::as_str)
                ),
                (_, Strength::Weak) => format!("{}, weak", f.family),
                (_, Strength::Strong) => format!("{}, strong", f.family),
                _ => f.family.clone(),
            };
            format!("{} ({how})", f.rule)
        })
        .collect();
    let why = match verdict {
        Verdict::Suspicious => "suspicious signals",
        _ => "signals",
    };
    if signals.is_empty() {
        format!("no proof of harm; no signals{waived}")
    } else {
        format!("no proof of harm; {why}: {}{waived}", signals.join(", "))
    }
}

fn redact_proc(r: &Redactor, p: &ProcRef) -> ProcRef {
    ProcRef {
        pid: p.pid,
        ppid: p.ppid,
        exe: r.own(&p.exe),
        lifecycle: p.lifecycle.clone(),
        chain: p.chain.iter().map(|c| r.own(c)).collect(),
    }
}

fn outcome_str(o: &Outcome) -> String {
    match o {
        Outcome::Ok => "ok".into(),
        Outcome::Err(e) => e.clone(),
        Outcome::Unknown => "unknown".into(),
    }
}

impl Builder<'_> {
    fn event(&mut self, ev: &Event) {
        self.events += 1;
        if self.wanted.contains(&ev.seq) {
            if let Some((path, line)) = ev.kind.file() {
                self.found.insert(ev.seq, (self.redact.own(path), line));
            }
        }
        if let Some(p) = &ev.proc {
            self.touch_proc(p, &ev.phase);
        }
        if self.list_full(&ev.kind) {
            return;
        }
        let r = &self.redact;
        match &ev.kind {
            EventKind::PhaseStart { name, command } => {
                self.phase_commands.insert(join_argv(command));
                self.phases.push(PhaseSummary {
                    name: name.clone(),
                    status: PhaseState::Unfinished,
                    exit_code: None,
                    duration_ms: None,
                    command: command.iter().map(|c| r.own(c)).collect(),
                    output_tail: String::new(),
                    output_bytes: 0,
                });
            }
            EventKind::PhaseEnd {
                name,
                status,
                exit_code,
                duration_ms,
                output_tail,
                output_bytes,
            } => {
                let tail = r.own(output_tail);
                let existing = self
                    .phases
                    .iter_mut()
                    .rev()
                    .find(|p| &p.name == name && p.status == PhaseState::Unfinished);
                let summary = PhaseSummary {
                    name: name.clone(),
                    status: (*status).into(),
                    exit_code: *exit_code,
                    duration_ms: Some(*duration_ms),
                    command: existing
                        .as_ref()
                        .map(|p| p.command.clone())
                        .unwrap_or_default(),
                    output_tail: tail,
                    output_bytes: *output_bytes,
                };
                match existing {
                    Some(p) => *p = summary,
                    None => self.phases.push(summary),
                }
            }
            EventKind::LimitHit { limit, detail } => self.limits.push(LimitSummary {
                seq: ev.seq,
                phase: ev.phase.clone(),
                limit: limit.clone(),
                detail: r.own(detail),
            }),
            EventKind::ProcessStart { pid, ppid } => self.start_proc(*pid, *ppid, &ev.phase),
            EventKind::ProcessExec {
                path,
                argv,
                outcome,
                ..
            } => {
                if let Some(p) = &ev.proc {
                    if !matches!(outcome, Outcome::Err(_)) {
                        self.exec_proc(ev, p, path, argv);
                    }
                }
            }
            EventKind::ProcessExit { code, signal } => {
                if let Some(i) = ev.proc.as_ref().and_then(|p| self.proc_index.get(&p.pid)) {
                    let i = *i;
                    if let Some(n) = self.procs.get_mut(i) {
                        n.exit_code = *code;
                        n.signal = signal.clone();
                    }
                    self.exited.insert(i);
                }
            }
            EventKind::FileOpen {
                path,
                write: true,
                outcome: Outcome::Ok,
                ..
            }
            | EventKind::FileWrite { path, .. } => {
                self.written_paths.insert(path_hash(path));
            }
            EventKind::FsChange {
                path,
                change,
                sha256,
                size,
                in_package,
                ..
            } => {
                if *change != FsChangeKind::Deleted {
                    self.written_paths.insert(path_hash(path));
                }
                if !in_package {
                    if self.files.len() < MAX_FILES {
                        self.files.push(FileChange {
                            path: r.own(path),
                            change: *change,
                            sha256: sha256.clone(),
                            size: *size,
                            phase: ev.phase.clone(),
                        });
                    } else {
                        self.files_omitted += 1;
                    }
                }
            }
            EventKind::NetConnect {
                family,
                addr,
                port,
                name,
                outcome,
            } if family == "AF_INET" || family == "AF_INET6" => {
                let key = (addr.clone(), *port);
                if let Some(&i) = self.attempt_index.get(&key) {
                    if let Some(a) = self.network.connect_attempts.get_mut(i) {
                        a.count += 1;
                    }
                } else if self.network.connect_attempts.len() < MAX_NETWORK_ITEMS {
                    let process = ev.proc.as_ref().map(|p| proc_label(r, p));
                    self.attempt_index
                        .insert(key, self.network.connect_attempts.len());
                    self.network.connect_attempts.push(ConnectAttempt {
                        family: family.clone(),
                        addr: addr.clone(),
                        port: *port,
                        name: name.as_deref().map(|n| r.own(n)),
                        outcome: outcome_str(outcome),
                        count: 1,
                        process,
                    });
                } else {
                    *self.network_omitted.entry("connect attempts").or_default() += 1;
                }
            }
            EventKind::NetSendto { dns: Some(q), .. } => {
                self.syscall_dns_queries += 1;
                let (name, qtype) = (r.own(&q.name), q.qtype.clone());
                add_dns(
                    &mut self.syscall_dns,
                    &mut self.syscall_dns_index,
                    name,
                    qtype,
                    &[],
                    None,
                    &mut self.network_omitted,
                );
            }
            EventKind::DnsQuery {
                name,
                qtype,
                answers,
                rcode,
            } => {
                self.dns_sink_queries += 1;
                add_dns(
                    &mut self.dns,
                    &mut self.dns_index,
                    r.own(name),
                    qtype.clone(),
                    answers,
                    rcode.clone(),
                    &mut self.network_omitted,
                );
            }
            EventKind::NetConnection {
                conn_id,
                dst_addr,
                dst_port,
                name,
                protocol,
                bytes_sent,
                bytes_received,
                end,
                ..
            } => {
                self.connections_total += 1;
                if self.network.connections.len() < MAX_NETWORK_ITEMS {
                    self.network.connections.push(ConnectionEntry {
                        conn_id: *conn_id,
                        addr: dst_addr.clone(),
                        port: *dst_port,
                        name: name.as_deref().map(|n| r.own(n)),
                        protocol: protocol.clone(),
                        bytes_sent: *bytes_sent,
                        bytes_received: *bytes_received,
                        end: end.clone(),
                    });
                } else {
                    *self.network_omitted.entry("connections").or_default() += 1;
                }
            }
            EventKind::TlsHandshake {
                conn_id,
                sni,
                alpn,
                ok,
                error,
            } => {
                if self.network.tls.len() < MAX_NETWORK_ITEMS {
                    self.network.tls.push(TlsEntry {
                        conn_id: *conn_id,
                        sni: sni.as_deref().map(|s| r.own(s)),
                        alpn: alpn.clone(),
                        ok: *ok,
                        error: error.clone(),
                    });
                } else {
                    *self.network_omitted.entry("TLS handshakes").or_default() += 1;
                }
            }
            EventKind::HttpRequest {
                conn_id,
                method,
                url,
                host,
                headers,
                body,
                body_bytes,
                tls,
                response_status,
                ..
            } => {
                self.http_total += 1;
                if self.network.http.len() < MAX_NETWORK_ITEMS {
                    // Judge the cut on the captured bytes, before redaction changes lengths.
                    let body_truncated = body.chars().count() > BODY_PREVIEW_CHARS
                        || (body.len() as u64) < *body_bytes;
                    let preview = truncate(&r.own(body), BODY_PREVIEW_CHARS);
                    self.network.http.push(HttpEntry {
                        seq: ev.seq,
                        conn_id: *conn_id,
                        method: r.own(method),
                        url: r.own(url),
                        host: r.own(host),
                        status: *response_status,
                        tls: *tls,
                        headers: headers.iter().map(|(k, v)| (r.own(k), r.own(v))).collect(),
                        body_bytes: *body_bytes,
                        body_preview: preview,
                        body_truncated,
                    });
                } else {
                    *self.network_omitted.entry("HTTP requests").or_default() += 1;
                }
            }
            EventKind::NetData {
                conn_id,
                dst_addr,
                dst_port,
                printable,
                bytes,
                ..
            } => {
                if self.network.raw.len() < MAX_NETWORK_ITEMS {
                    self.network.raw.push(RawEntry {
                        conn_id: *conn_id,
                        addr: dst_addr.clone(),
                        port: *dst_port,
                        bytes: *bytes,
                        preview: truncate(&r.own(printable), 256),
                    });
                } else {
                    *self.network_omitted.entry("raw data records").or_default() += 1;
                }
            }
            EventKind::SecretRead {
                canary_id,
                path,
                via,
            } => {
                if self.canaries.read.len() < MAX_CANARY_READS {
                    self.canaries.read.push(CanaryRead {
                        seq: ev.seq,
                        canary_id: canary_id.clone(),
                        path: r.own(path),
                        via: via.clone(),
                        process: ev.proc.as_ref().map(|p| proc_label(r, p)),
                    });
                } else {
                    self.canary_reads_omitted += 1;
                }
            }
            EventKind::CanaryLeaked {
                canary_id,
                kind,
                encoding,
                destination,
                carrier_seq,
            } => {
                self.canaries.leaked.push(LeakedCanary {
                    seq: ev.seq,
                    canary_id: canary_id.clone(),
                    kind: kind.clone(),
                    encoding: encoding.clone(),
                    destination: r.own(destination),
                    carrier_seq: *carrier_seq,
                });
            }
            EventKind::Note { message } => self.notes.push(r.own(message)),
            _ => {}
        }
    }

    /// Counts a process past [`MAX_TRACKED_PROCESSES`] (once per pid).
    fn untracked(&mut self, pid: u32) {
        if self.untracked_pids.insert(pid) {
            self.procs_untracked += 1;
        }
    }

    /// Whether the capped list this event would join is full (it is then counted).
    fn list_full(&mut self, kind: &EventKind) -> bool {
        let (len, what) = match kind {
            EventKind::LimitHit { .. } => (self.limits.len(), "limit hits"),
            EventKind::Note { .. } => (self.notes.len(), "trace notes"),
            EventKind::CanaryLeaked { .. } => (self.canaries.leaked.len(), "leaked canaries"),
            _ => return false,
        };
        if len < MAX_LIST_ITEMS {
            return false;
        }
        *self.lists_omitted.entry(what).or_default() += 1;
        true
    }

    /// Makes sure the process an event is attributed to has a node.
    fn touch_proc(&mut self, p: &ProcRef, phase: &str) {
        let idx = match self.proc_index.get(&p.pid) {
            Some(&i) => i,
            None if self.procs.len() >= MAX_TRACKED_PROCESSES => {
                self.untracked(p.pid);
                return;
            }
            None => {
                let argv = p
                    .chain
                    .last()
                    .map(|c| self.redact.own(c))
                    .unwrap_or_default();
                self.new_proc(
                    p.pid,
                    p.ppid,
                    self.redact.own(&p.exe),
                    truncate(&argv, ARGV_CHARS),
                    phase,
                )
            }
        };
        if let Some(n) = self.procs.get_mut(idx) {
            if n.lifecycle.is_none() {
                n.lifecycle = p.lifecycle.clone();
            }
            if n.ppid.is_none() {
                n.ppid = p.ppid;
            }
            if n.exe.is_empty() {
                n.exe = self.redact.own(&p.exe);
            }
        }
    }

    fn new_proc(
        &mut self,
        pid: u32,
        ppid: Option<u32>,
        exe: String,
        argv: String,
        phase: &str,
    ) -> usize {
        let parent = ppid
            .and_then(|pp| self.proc_index.get(&pp))
            .and_then(|&i| self.procs.get(i));
        let lifecycle = parent.and_then(|p| p.lifecycle.clone());
        let (exe, argv) = match parent {
            Some(p) if exe.is_empty() => (
                p.exe.clone(),
                if argv.is_empty() {
                    p.argv.clone()
                } else {
                    argv
                },
            ),
            _ => (exe, argv),
        };
        let i = self.procs.len();
        self.procs.push(ProcessNode {
            pid,
            ppid,
            exe,
            argv,
            lifecycle,
            phase: phase.to_string(),
            exit_code: None,
            signal: None,
            children: Vec::new(),
        });
        self.proc_index.insert(pid, i);
        i
    }

    fn start_proc(&mut self, pid: u32, ppid: u32, phase: &str) {
        match self.proc_index.get(&pid) {
            // Seen before (an event of the child came first): just learn the parent.
            Some(&i) if !self.exited.contains(&i) => {
                if let Some(n) = self.procs.get_mut(i) {
                    n.ppid = Some(ppid);
                }
            }
            _ if self.procs.len() >= MAX_TRACKED_PROCESSES => self.untracked(pid),
            // New, or a pid reused after its previous owner exited.
            _ => {
                self.new_proc(pid, Some(ppid), String::new(), String::new(), phase);
            }
        }
    }

    fn exec_proc(&mut self, ev: &Event, p: &ProcRef, path: &str, argv: &[String]) {
        let command = truncate(&self.redact.own(&join_argv(argv)), ARGV_CHARS);
        if let Some(n) = self
            .proc_index
            .get(&p.pid)
            .and_then(|&i| self.procs.get_mut(i))
        {
            n.exe = self.redact.own(basename(path));
            n.argv = command.clone();
        }
        let harness = self.phase_commands.contains(&join_argv(argv));
        if !harness && (p.lifecycle.is_some() || ev.phase == "import") {
            if let Some(&i) = self.notable_index.get(&command) {
                if let Some(c) = self.notable.get_mut(i) {
                    c.count += 1;
                }
            } else if self.notable.len() < MAX_NOTABLE_COMMANDS {
                self.notable_index
                    .insert(command.clone(), self.notable.len());
                self.notable.push(NotableCommand {
                    command,
                    lifecycle: p.lifecycle.clone(),
                    phase: ev.phase.clone(),
                    count: 1,
                    seq: ev.seq,
                });
            } else {
                self.notable_omitted += 1;
            }
        }
    }

    fn finish(mut self, judgement: JudgementInput, run: RunInfo) -> Report {
        let findings = self.findings(&judgement);
        let h = self.header;
        // Children lists, from the parent links.
        let mut children: HashMap<u32, Vec<u32>> = HashMap::new();
        for n in &self.procs {
            if let Some(pp) = n.ppid {
                children.entry(pp).or_default().push(n.pid);
            }
        }
        let total_procs = self.procs.len() as u64 + self.procs_untracked;
        let mut nodes = self.procs;
        for n in &mut nodes {
            let mut c = children.remove(&n.pid).unwrap_or_default();
            c.dedup();
            n.children = c;
        }
        let omitted_procs =
            (nodes.len().saturating_sub(MAX_PROCESSES) as u64) + self.procs_untracked;
        nodes.truncate(MAX_PROCESSES);

        // DNS: the sink's view when there is one, else what the recorder decoded.
        let (dns, dns_queries) = if self.dns_sink_queries > 0 || self.syscall_dns_queries == 0 {
            (self.dns, self.dns_sink_queries)
        } else {
            (self.syscall_dns, self.syscall_dns_queries)
        };
        self.network.dns = dns;
        let connections = if self.connections_total > 0 {
            self.connections_total
        } else {
            self.network.connect_attempts.iter().map(|a| a.count).sum()
        };

        let mut notes = Vec::new();
        for (k, v) in &h.notes {
            notes.push(format!("{k}: {}", self.redact.own(v)));
        }
        notes.append(&mut self.notes);
        notes.extend(run.notes.iter().map(|n| self.redact.own(n)));
        if omitted_procs > 0 {
            notes.push(format!(
                "process tree capped at {MAX_PROCESSES} of {total_procs} processes"
            ));
        }
        if self.files_omitted > 0 {
            notes.push(format!(
                "{} more file changes outside the package not listed",
                self.files_omitted
            ));
        }
        if self.notable_omitted > 0 {
            notes.push(format!(
                "{} more notable commands not listed",
                self.notable_omitted
            ));
        }
        if self.canary_reads_omitted > 0 {
            notes.push(format!(
                "{} more secret reads not listed",
                self.canary_reads_omitted
            ));
        }
        for (what, n) in &self.network_omitted {
            notes.push(format!("{n} more {what} not listed"));
        }
        for (what, n) in &self.lists_omitted {
            notes.push(format!("{n} more {what} not listed"));
        }
        if !run.complete {
            notes.push(
                "the trace is incomplete: the run was cut short or a recorder lost data".into(),
            );
        }

        // Run states are never to be read as benign.
        let mut verdict = judgement.verdict;
        let timed_out: Vec<&str> = self
            .phases
            .iter()
            .filter(|p| p.status == PhaseState::TimedOut)
            .map(|p| p.name.as_str())
            .collect();
        if run.error.is_some() && matches!(verdict, Verdict::Benign | Verdict::NotEvaluated) {
            notes.push(format!(
                "verdict {verdict} replaced by error: the run failed"
            ));
            verdict = Verdict::Error;
        } else if !timed_out.is_empty() && verdict == Verdict::Benign {
            notes.push(format!(
                "verdict benign replaced by timed-out: phase {} timed out",
                timed_out.join(", ")
            ));
            verdict = Verdict::TimedOut;
        }

        let counts = Counts {
            events: self.events,
            processes: total_procs,
            files_written: self.written_paths.len() as u64,
            connections,
            dns_queries,
            http_requests: self.http_total,
            findings: findings.len() as u64,
        };
        Report {
            schema_version: REPORT_SCHEMA_VERSION.to_string(),
            tool: ToolInfo {
                name: "airlock".into(),
                version: env!("CARGO_PKG_VERSION").into(),
            },
            run: RunSummary {
                id: h.run_id.clone(),
                started_at: h.started_at,
                duration_ms: run.duration_ms,
                recorded_by: h.tool_version.clone(),
                image: h.image.clone(),
                persona: h.persona.clone(),
                home: h.home.clone(),
                package_dir: h.package_dir.clone(),
            },
            package: PackageSummary {
                ecosystem: h.package.ecosystem,
                name: h.package.name.clone(),
                version: h.package.version.clone(),
                sha256: h.package.sha256.clone(),
                integrity: h.package.integrity.clone(),
            },
            verdict,
            score: if judgement.score.is_finite() {
                judgement.score
            } else {
                0.0
            },
            ruleset: judgement.ruleset_hash,
            verdict_reason: verdict_reason(verdict, &findings),
            findings,
            phases: self.phases,
            network: self.network,
            canaries: CanarySummary {
                planted: h
                    .canaries
                    .iter()
                    .map(|c| PlantedCanary {
                        id: c.id.clone(),
                        kind: c.kind.clone(),
                        location: c.location.clone(),
                    })
                    .collect(),
                ..self.canaries
            },
            processes: ProcessTree {
                total: total_procs,
                omitted: omitted_procs,
                nodes,
            },
            files: FileSummary {
                written_outside_package: self.files,
            },
            counts,
            notable_commands: self.notable,
            limits: self.limits,
            notes,
            trace_complete: run.complete,
            trace_gaps: run.gaps.iter().map(|g| self.redact.own(g)).collect(),
            error: run.error.as_deref().map(|e| self.redact.own(e)),
        }
    }
}

fn add_dns(
    list: &mut Vec<DnsEntry>,
    index: &mut HashMap<(String, String), usize>,
    name: String,
    qtype: String,
    answers: &[String],
    rcode: Option<String>,
    omitted: &mut BTreeMap<&'static str, u64>,
) {
    let key = (name.to_ascii_lowercase(), qtype.clone());
    if let Some(&i) = index.get(&key) {
        if let Some(d) = list.get_mut(i) {
            d.count += 1;
            for a in answers {
                if !d.answers.contains(a) {
                    d.answers.push(a.clone());
                }
            }
        }
    } else if list.len() < MAX_NETWORK_ITEMS {
        index.insert(key, list.len());
        list.push(DnsEntry {
            name,
            qtype,
            answers: answers.to_vec(),
            rcode,
            count: 1,
        });
    } else {
        *omitted.entry("DNS names").or_default() += 1;
    }
}

/// A written path's fingerprint: only the number of distinct paths is reported, so the
/// paths themselves are not kept.
fn path_hash(path: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    path.hash(&mut h);
    h.finish()
}

/// `a → b → c`, or `exe [pid]` when the chain is unknown.
fn proc_label(r: &Redactor, p: &ProcRef) -> String {
    if p.chain.is_empty() {
        format!("{} [{}]", r.apply(&p.exe), p.pid)
    } else {
        r.own(&p.chain.join(" → "))
    }
}
