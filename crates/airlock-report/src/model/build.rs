//! Assembling the [`Report`]: the streaming [`ReportBuilder`], [`Report::build`] over a
//! slice, the findings as the report shows them, the verdict's reason and the last step
//! that turns the folded state into the report (process tree, caps, notes).

use std::collections::{BTreeMap, BTreeSet, HashMap, HashSet};

use airlock_events::{Actor, Event, FindingKind, ProcRef, Strength, TraceHeader, Verdict};

use crate::text::Redactor;

use super::*;

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

impl Builder<'_> {
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
