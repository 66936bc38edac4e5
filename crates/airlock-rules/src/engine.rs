//! Streaming evaluation of a ruleset over one trace. Each event is looked at once; the
//! only state kept is per rule (partial sequences, aggregate counters) plus a small
//! process table and the set of hosts the package's own processes contacted, all capped,
//! so a trace of millions of events is judged in bounded memory.

use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};

use airlock_events::{Event, EventKind, Evidence, Finding, PhaseStatus, TraceHeader};
use serde_json::Value;

use crate::compile::{Join, JoinOp, Part, Rule, Same, Scope};
use crate::fields::{domain_of, extract, FieldPath, Leaf};
use crate::matcher::{apply_transforms, bind, Cond, Vars};
use crate::summary::summarize;

/// Evidence entries kept per finding.
pub const MAX_EVIDENCE: usize = 10;
/// Findings kept per rule (distinct messages).
pub const MAX_FINDINGS_PER_RULE: usize = 5;
/// Partial sequences kept per rule; the oldest are dropped first.
pub const MAX_PARTIALS: usize = 256;
/// Groups an aggregate tracks.
pub const MAX_GROUPS: usize = 4096;
/// Distinct values an aggregate group remembers.
pub const MAX_DISTINCT: usize = 10_000;
const MAX_PROCS: usize = 200_000;
const MAX_HOSTS: usize = 50_000;

pub struct BoundStep {
    when: Vec<Cond>,
    unless: Vec<Cond>,
}

/// A rule's conditions compiled for one set of header variables.
pub struct BoundRule {
    steps: Vec<BoundStep>,
    exceptions: Vec<Cond>,
}

/// Compiles every rule's conditions for these variables; `None` for a rule whose
/// patterns cannot be compiled with them (it is skipped rather than failing the trace).
pub fn bind_rules(rules: &[Rule], vars: &Vars) -> Vec<Option<BoundRule>> {
    let bind_all = |cs: &[crate::matcher::RawCond]| -> Option<Vec<Cond>> {
        cs.iter().map(|c| bind(c, vars).ok()).collect()
    };
    rules
        .iter()
        .map(|rule| {
            let steps = rule
                .steps
                .iter()
                .map(|s| {
                    Some(BoundStep {
                        when: bind_all(&s.when)?,
                        unless: bind_all(&s.unless)?,
                    })
                })
                .collect::<Option<Vec<_>>>()?;
            Some(BoundRule {
                steps,
                exceptions: bind_all(&rule.exceptions)?,
            })
        })
        .collect()
}

struct Partial {
    next: usize,
    start: f64,
    phase: String,
    pid: Option<u32>,
    tree: Option<u32>,
    /// Per step, per capture slot, the captured values.
    caps: Vec<Vec<Vec<String>>>,
    /// Rendered message parts that name earlier steps.
    parts: Vec<Option<String>>,
    evidence: Vec<Evidence>,
}

#[derive(Default)]
struct Group {
    seen: HashSet<u64>,
    count: u64,
    evidence: Vec<Evidence>,
    /// Message parts rendered from the first event of the group.
    parts: Vec<Option<String>>,
}

struct RuleState<'r> {
    rule: &'r Rule,
    bound: &'r BoundRule,
    partials: VecDeque<Partial>,
    groups: HashMap<String, Group>,
    findings: Vec<Finding>,
}

struct ProcInfo {
    ppid: Option<u32>,
    lifecycle: bool,
}

/// Facts about the run gathered while streaming.
#[derive(Debug, Default, Clone)]
pub struct RunFacts {
    pub events: u64,
    pub timed_out: Vec<String>,
    pub errored: Vec<String>,
    pub complete: bool,
    pub footer_seen: bool,
}

/// The evaluation of one trace in progress.
pub struct Evaluator<'r> {
    rules: Vec<RuleState<'r>>,
    by_type: HashMap<String, Vec<usize>>,
    procs: HashMap<u32, ProcInfo>,
    package_hosts: HashSet<String>,
    manager_hosts: Vec<String>,
    pub facts: RunFacts,
}

fn hash_str(s: &str) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    s.hash(&mut h);
    h.finish()
}

fn texts(leaves: Vec<Leaf>) -> Vec<String> {
    leaves.into_iter().map(|l| l.as_text()).collect()
}

fn render_value(v: &Value, path: &FieldPath) -> String {
    let mut leaves = extract(v, path);
    let is_chain = path.is_chain();
    if is_chain && leaves.is_empty() {
        // No recorded ancestry: name the process itself.
        let p = v.get("proc");
        let exe = p
            .and_then(|p| p.get("exe"))
            .and_then(Value::as_str)
            .unwrap_or("");
        let pid = p.and_then(|p| p.get("pid")).and_then(Value::as_u64);
        leaves.push(Leaf::Str(match (exe, pid) {
            ("", Some(pid)) => format!("pid {pid}"),
            ("", None) => "the package".to_string(),
            (e, Some(pid)) => format!("{e} (pid {pid})"),
            (e, None) => e.to_string(),
        }));
    }
    let sep = if is_chain { " → " } else { " " };
    let s = texts(leaves).join(sep);
    if s.chars().count() > 200 {
        let mut t: String = s.chars().take(200).collect();
        t.push('…');
        t
    } else if s.is_empty() {
        "(none)".into()
    } else {
        s
    }
}

fn evidence(ev: &Event) -> Evidence {
    Evidence {
        seq: ev.seq,
        ts: ev.ts,
        phase: ev.phase.clone(),
        event_type: ev.kind.type_name().to_string(),
        summary: summarize(ev),
        proc: ev.proc.clone(),
    }
}

fn push_evidence(list: &mut Vec<Evidence>, e: Evidence) {
    if list.len() < MAX_EVIDENCE && !list.iter().any(|x| x.seq == e.seq) {
        list.push(e);
    }
}

impl<'r> Evaluator<'r> {
    /// Binds the rules to this trace's header (variables, ecosystem).
    pub fn new(
        rules: &'r [Rule],
        bound: &'r [Option<BoundRule>],
        manager_hosts: Vec<String>,
        header: &TraceHeader,
    ) -> Evaluator<'r> {
        let eco = header.package.ecosystem;
        let mut states = Vec::new();
        let mut by_type: HashMap<String, Vec<usize>> = HashMap::new();
        for (rule, b) in rules.iter().zip(bound) {
            if let Some(e) = eco {
                if !rule.ecosystems.is_empty() && !rule.ecosystems.contains(&e) {
                    continue;
                }
            }
            let Some(b) = b else { continue };
            let ix = states.len();
            let mut types: Vec<&String> = rule.steps.iter().flat_map(|s| s.types.iter()).collect();
            types.sort();
            types.dedup();
            for t in types {
                by_type.entry(t.clone()).or_default().push(ix);
            }
            states.push(RuleState {
                rule,
                bound: b,
                partials: VecDeque::new(),
                groups: HashMap::new(),
                findings: Vec::new(),
            });
        }
        Evaluator {
            rules: states,
            by_type,
            procs: HashMap::new(),
            package_hosts: HashSet::new(),
            manager_hosts,
            facts: RunFacts::default(),
        }
    }

    fn tree_root(&self, pid: u32) -> u32 {
        let mut cur = pid;
        let lc = self.procs.get(&pid).map(|p| p.lifecycle);
        for _ in 0..64 {
            let Some(info) = self.procs.get(&cur) else {
                break;
            };
            let Some(pp) = info.ppid else { break };
            if pp == cur {
                break;
            }
            match self.procs.get(&pp) {
                Some(parent) if Some(parent.lifecycle) == lc => cur = pp,
                _ => break,
            }
        }
        cur
    }

    fn is_manager_host(&self, host: &str) -> bool {
        let h = host.trim_end_matches('.').to_ascii_lowercase();
        self.manager_hosts
            .iter()
            .any(|d| h == *d || h.ends_with(&format!(".{d}")))
    }

    /// Whether an event without a process belongs to the package (install phase).
    fn attributable(&self, ev: &Event, v: &Value) -> bool {
        use airlock_events::Source;
        match ev.source {
            Source::Sink => {
                let host = domain_of(v).or_else(|| {
                    v.get("dst_addr")
                        .and_then(Value::as_str)
                        .map(str::to_string)
                });
                match host {
                    Some(h) => self.package_hosts.contains(&h) || !self.is_manager_host(&h),
                    None => true,
                }
            }
            Source::Static => false,
            _ => true,
        }
    }

    fn in_scope(&self, scope: Scope, ev: &Event, v: &Value) -> bool {
        let lifecycle = || {
            ev.phase == "install"
                && match &ev.proc {
                    Some(p) => p.lifecycle.is_some(),
                    None => self.attributable(ev, v),
                }
        };
        match scope {
            Scope::Any => true,
            Scope::Static => ev.phase == "static",
            Scope::Import => ev.phase == "import",
            Scope::Lifecycle => lifecycle(),
            Scope::Package => ev.phase == "import" || lifecycle(),
        }
    }

    fn track(&mut self, ev: &Event, v: &Value) {
        self.facts.events += 1;
        if let Some(p) = &ev.proc {
            if self.procs.len() < MAX_PROCS || self.procs.contains_key(&p.pid) {
                let e = self.procs.entry(p.pid).or_insert(ProcInfo {
                    ppid: None,
                    lifecycle: false,
                });
                if p.ppid.is_some() {
                    e.ppid = p.ppid;
                }
                e.lifecycle = p.lifecycle.is_some();
            }
        }
        match &ev.kind {
            EventKind::ProcessStart { pid, ppid } => {
                let lifecycle = ev.proc.as_ref().is_some_and(|p| p.lifecycle.is_some());
                if self.procs.len() < MAX_PROCS {
                    self.procs.insert(
                        *pid,
                        ProcInfo {
                            ppid: Some(*ppid),
                            lifecycle,
                        },
                    );
                }
            }
            EventKind::PhaseEnd {
                name,
                status: PhaseStatus::TimedOut,
                ..
            } => self.facts.timed_out.push(name.clone()),
            EventKind::PhaseEnd {
                name,
                status: PhaseStatus::Error,
                ..
            } => self.facts.errored.push(name.clone()),
            EventKind::LimitHit { limit, .. }
                if matches!(limit.as_str(), "time" | "wall" | "wall_time" | "timeout") =>
            {
                self.facts
                    .timed_out
                    .push(format!("{} ({limit} limit)", ev.phase))
            }
            _ => {}
        }
        let own = ev.proc.is_some() && self.in_scope(Scope::Package, ev, v);
        if own && self.package_hosts.len() < MAX_HOSTS {
            match &ev.kind {
                EventKind::NetConnect { addr, name, .. } => {
                    self.package_hosts.insert(addr.clone());
                    if let Some(n) = name {
                        self.package_hosts
                            .insert(n.trim_end_matches('.').to_ascii_lowercase());
                    }
                }
                EventKind::NetSendto { dns: Some(q), .. } => {
                    self.package_hosts
                        .insert(q.name.trim_end_matches('.').to_ascii_lowercase());
                }
                _ => {}
            }
        }
    }

    /// Feeds one event.
    pub fn event(&mut self, ev: &Event) {
        let Ok(v) = serde_json::to_value(ev) else {
            return;
        };
        self.track(ev, &v);
        let Some(ixs) = self.by_type.get(ev.kind.type_name()) else {
            return;
        };
        let ixs = ixs.clone();
        for ix in ixs {
            self.rule_event(ix, ev, &v);
        }
    }

    fn step_matches(&self, ix: usize, step: usize, ev: &Event, v: &Value) -> bool {
        let st = &self.rules[ix];
        let spec = &st.rule.steps[step];
        spec.types.iter().any(|t| t == ev.kind.type_name())
            && self.in_scope(spec.scope, ev, v)
            && st.bound.steps[step].when.iter().all(|c| c.eval(v))
            && !st.bound.steps[step].unless.iter().any(|c| c.eval(v))
    }

    fn joins_hold(joins: &[Join], p: &Partial, v: &Value) -> bool {
        joins.iter().all(|j| {
            let mine = texts(apply_transforms(extract(v, &j.field), &j.transforms));
            let theirs = p.caps.get(j.step).and_then(|c| c.get(j.capture));
            let Some(theirs) = theirs else { return false };
            mine.iter().any(|m| {
                theirs.iter().any(|t| match j.op {
                    JoinOp::Equals => m == t,
                    JoinOp::Contains => !t.is_empty() && m.contains(t.as_str()),
                    JoinOp::Within => !m.is_empty() && t.contains(m.as_str()),
                })
            })
        })
    }

    fn same_holds(same: Same, p: &Partial, ev: &Event, tree: Option<u32>) -> bool {
        match same {
            Same::None => true,
            Same::Phase => p.phase == ev.phase,
            Same::Pid => match (p.pid, ev.pid()) {
                (Some(a), Some(b)) => a == b,
                _ => true,
            },
            Same::Tree => match (p.tree, tree) {
                (Some(a), Some(b)) => b == a,
                _ => true,
            },
        }
    }

    fn render_parts(rule: &Rule, step: usize, last: bool, v: &Value, parts: &mut [Option<String>]) {
        for (i, part) in rule.message.iter().enumerate() {
            if let Part::Field(s, path, optional) = part {
                let mine = match s {
                    Some(s) => *s == step,
                    None => last,
                };
                if mine {
                    let text = render_value(v, path);
                    parts[i] = Some(if *optional && text == "(none)" {
                        String::new()
                    } else {
                        text
                    });
                }
            }
        }
    }

    fn capture(rule: &Rule, step: usize, v: &Value, caps: &mut [Vec<Vec<String>>]) {
        caps[step] = rule.steps[step]
            .captures
            .iter()
            .map(|(path, ts)| texts(apply_transforms(extract(v, path), ts)))
            .collect();
    }

    fn rule_event(&mut self, ix: usize, ev: &Event, v: &Value) {
        let rule = self.rules[ix].rule;
        if self.rules[ix].bound.exceptions.iter().any(|c| c.eval(v)) {
            return;
        }
        let n = rule.steps.len();
        let pid = ev.pid();
        let tree = pid.map(|p| self.tree_root(p));

        // Advance partial sequences (read-only pass; expired ones are dropped after).
        let mut advanced = Vec::new();
        let mut completed = Vec::new();
        let mut expired = false;
        // Whether the event satisfies each step, computed at most once per step.
        let mut memo: Vec<Option<bool>> = vec![None; n];
        let ty = ev.kind.type_name();
        for p in &self.rules[ix].partials {
            if ev.ts - p.start > rule.within_secs {
                expired = true;
                continue;
            }
            let step = p.next;
            if !rule.steps[step].types.iter().any(|t| t == ty) {
                continue;
            }
            let matches = *memo[step].get_or_insert_with(|| self.step_matches(ix, step, ev, v));
            if matches
                && Self::joins_hold(&rule.steps[step].joins, p, v)
                && Self::same_holds(rule.same, p, ev, tree)
            {
                let mut q = Partial {
                    next: step + 1,
                    start: p.start,
                    phase: p.phase.clone(),
                    pid: p.pid.or(pid),
                    tree: p.tree.or(tree),
                    caps: p.caps.clone(),
                    parts: p.parts.clone(),
                    evidence: p.evidence.clone(),
                };
                push_evidence(&mut q.evidence, evidence(ev));
                Self::render_parts(rule, step, step + 1 == n, v, &mut q.parts);
                Self::capture(rule, step, v, &mut q.caps);
                if step + 1 == n {
                    completed.push(q);
                } else {
                    advanced.push(q);
                }
            }
        }
        if expired {
            let within = rule.within_secs;
            self.rules[ix]
                .partials
                .retain(|p| ev.ts - p.start <= within);
        }

        // Start new ones.
        if *memo[0].get_or_insert_with(|| self.step_matches(ix, 0, ev, v)) {
            let mut p = Partial {
                next: 1,
                start: ev.ts,
                phase: ev.phase.clone(),
                pid,
                tree,
                caps: vec![Vec::new(); n],
                parts: vec![None; rule.message.len()],
                evidence: vec![evidence(ev)],
            };
            Self::render_parts(rule, 0, n == 1, v, &mut p.parts);
            Self::capture(rule, 0, v, &mut p.caps);
            if n == 1 {
                if rule.aggregate.is_some() {
                    self.aggregate(ix, ev, v, p);
                } else {
                    completed.push(p);
                }
            } else {
                advanced.push(p);
            }
        }

        for q in advanced {
            let st = &mut self.rules[ix];
            // A newer partial replaces an older one in the same position.
            st.partials.retain(|o| {
                !(o.next == q.next && o.tree == q.tree && o.pid == q.pid && o.caps == q.caps)
            });
            if st.partials.len() >= MAX_PARTIALS {
                st.partials.pop_front();
            }
            st.partials.push_back(q);
        }
        for q in completed {
            let msg = Self::message(rule, &q.parts, None, None);
            self.add_finding(ix, msg, q.evidence);
        }
    }

    fn aggregate(&mut self, ix: usize, ev: &Event, v: &Value, p: Partial) {
        let st = &mut self.rules[ix];
        let Some(agg) = &st.rule.aggregate else {
            return;
        };
        let key = match &agg.group {
            Some((path, ts)) => match texts(apply_transforms(extract(v, path), ts))
                .into_iter()
                .next()
            {
                Some(k) => k,
                None => return,
            },
            None => String::new(),
        };
        if !st.groups.contains_key(&key) && st.groups.len() >= MAX_GROUPS {
            return;
        }
        let g = st.groups.entry(key).or_default();
        if g.parts.is_empty() {
            g.parts = p.parts;
        }
        let new = match &agg.distinct {
            Some((path, ts)) => {
                let mut added = false;
                for t in texts(apply_transforms(extract(v, path), ts)) {
                    if g.seen.len() < MAX_DISTINCT && g.seen.insert(hash_str(&t)) {
                        g.count += 1;
                        added = true;
                    }
                }
                added
            }
            None => {
                g.count += 1;
                true
            }
        };
        if new {
            push_evidence(&mut g.evidence, evidence(ev));
        }
    }

    fn message(
        rule: &Rule,
        parts: &[Option<String>],
        count: Option<u64>,
        group: Option<&str>,
    ) -> String {
        let mut s = String::new();
        for (i, part) in rule.message.iter().enumerate() {
            match part {
                Part::Lit(t) => s.push_str(t),
                Part::Field(..) => {
                    s.push_str(parts.get(i).and_then(|p| p.as_deref()).unwrap_or("(none)"))
                }
                Part::Count => s.push_str(&count.map(|c| c.to_string()).unwrap_or_default()),
                Part::Group => s.push_str(group.unwrap_or("")),
            }
        }
        s
    }

    fn add_finding(&mut self, ix: usize, message: String, ev: Vec<Evidence>) {
        let st = &mut self.rules[ix];
        if let Some(f) = st.findings.iter_mut().find(|f| f.message == message) {
            for e in ev {
                push_evidence(&mut f.evidence, e);
            }
            return;
        }
        if st.findings.len() >= MAX_FINDINGS_PER_RULE {
            return;
        }
        let r = st.rule;
        st.findings.push(Finding {
            rule: r.id.clone(),
            severity: r.severity,
            confidence: r.confidence,
            message,
            tags: r.tags.clone(),
            decisive: r.decisive,
            evidence: ev,
        });
    }

    /// Ends the evaluation and returns the findings, most severe first.
    pub fn finish(mut self) -> (Vec<Finding>, RunFacts) {
        for ix in 0..self.rules.len() {
            let rule = self.rules[ix].rule;
            let Some(agg) = &rule.aggregate else { continue };
            let mut groups: Vec<(String, Group)> = self.rules[ix]
                .groups
                .drain()
                .filter(|(_, g)| g.count >= agg.min)
                .collect();
            groups.sort_by(|a, b| b.1.count.cmp(&a.1.count).then(a.0.cmp(&b.0)));
            for (key, g) in groups {
                let msg = Self::message(rule, &g.parts, Some(g.count), Some(&key));
                self.add_finding(ix, msg, g.evidence);
            }
        }
        let mut findings: Vec<Finding> = self.rules.into_iter().flat_map(|s| s.findings).collect();
        findings.sort_by(|a, b| {
            b.decisive
                .cmp(&a.decisive)
                .then(b.severity.cmp(&a.severity))
                .then(b.confidence.cmp(&a.confidence))
                .then(a.rule.cmp(&b.rule))
        });
        (findings, self.facts)
    }
}
