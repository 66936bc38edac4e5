//! Streaming evaluation of a ruleset over one trace. Each event is looked at once; the
//! only state kept is per rule (partial sequences, aggregate counters) plus a small
//! process table and the set of hosts the package's own processes contacted, all capped,
//! so a trace of millions of events is judged in bounded memory.
//!
//! Speed comes from doing each thing once per event: rules are indexed by the event types
//! their steps name, so an event is offered only to rules that can use it; the event's
//! JSON form and every field expression read from it are computed once and shared by all
//! rules (see [`Memo`]); the evidence entry of an event is built once; partial sequences
//! are found by a fingerprint instead of compared field by field.

use std::cell::OnceCell;
use std::collections::{HashMap, HashSet, VecDeque};
use std::hash::{Hash, Hasher};
use std::rc::Rc;
use std::sync::Arc;

use airlock_events::{Actor, Event, EventKind, Evidence, Finding, PhaseStatus, TraceHeader};
use serde_json::Value;

use crate::compile::{Attribution, Join, JoinOp, Part, Rule, Same, Scope};
use crate::fields::{extract, type_index, FieldPath, Leaf, EVENT_FIELDS};
use crate::matcher::{bind_in, Cond, Expr, Exprs, Memo, Vars};
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

/// Steps whose matches are remembered per event in a bit set; later steps (never in
/// practice) are evaluated without the memo.
const MEMO_STEPS: usize = 32;

pub struct BoundStep {
    when: Vec<Cond>,
    unless: Vec<Cond>,
    /// Expression of each join, in the order of the step's joins.
    joins: Vec<usize>,
    /// Expression of each capture.
    captures: Vec<usize>,
}

/// A rule's conditions compiled for one set of header variables.
pub struct BoundRule {
    steps: Vec<BoundStep>,
    exceptions: Vec<Cond>,
    /// Expressions of the aggregate's group and distinct fields.
    group: Option<usize>,
    distinct: Option<usize>,
}

/// Every rule bound to one set of header variables, with the field expressions they
/// read, numbered.
pub struct Bound {
    pub rules: Vec<Option<BoundRule>>,
    pub exprs: Arc<[Expr]>,
}

/// Compiles every rule's conditions for these variables; `None` for a rule whose
/// What one step captured: per capture slot, the values. Shared between a partial and
/// the partials advanced from it.
type Caps = Rc<Vec<Vec<String>>>;

/// patterns cannot be compiled with them (it is skipped rather than failing the trace).
pub fn bind_rules(rules: &[Rule], vars: &Vars) -> Bound {
    let mut exprs = Exprs::default();
    let bound = rules
        .iter()
        .map(|rule| {
            let mut bind_all = |cs: &[crate::matcher::RawCond]| -> Option<Vec<Cond>> {
                cs.iter()
                    .map(|c| bind_in(c, vars, &mut exprs).ok())
                    .collect()
            };
            let mut steps = Vec::with_capacity(rule.steps.len());
            for s in &rule.steps {
                let when = bind_all(&s.when)?;
                let unless = bind_all(&s.unless)?;
                steps.push(BoundStep {
                    when,
                    unless,
                    joins: Vec::new(),
                    captures: Vec::new(),
                });
            }
            let exceptions = bind_all(&rule.exceptions)?;
            for (b, s) in steps.iter_mut().zip(&rule.steps) {
                b.joins = s
                    .joins
                    .iter()
                    .map(|j| exprs.intern(&j.field, &j.transforms))
                    .collect();
                b.captures = s
                    .captures
                    .iter()
                    .map(|(path, ts)| exprs.intern(path, ts))
                    .collect();
            }
            let agg = rule.aggregate.as_ref();
            let group = agg
                .and_then(|a| a.group.as_ref())
                .map(|(p, ts)| exprs.intern(p, ts));
            let distinct = agg
                .and_then(|a| a.distinct.as_ref())
                .map(|(p, ts)| exprs.intern(p, ts));
            Some(BoundRule {
                steps,
                exceptions,
                group,
                distinct,
            })
        })
        .collect();
    Bound {
        rules: bound,
        exprs: exprs.into_list().into(),
    }
}

struct Partial {
    /// Fingerprint of (next, pid, tree, caps): partials in the same position are found by
    /// it before they are compared in full.
    key: u64,
    next: usize,
    start: f64,
    phase: Rc<str>,
    pid: Option<u32>,
    tree: Option<u32>,
    /// Per step, per capture slot, the captured values.
    caps: Vec<Caps>,
    /// Rendered message parts that name earlier steps.
    parts: Vec<Option<Rc<str>>>,
    /// Shared with every other partial started or advanced by the same events.
    evidence: Vec<Rc<Evidence>>,
}

#[derive(Default)]
struct Group {
    seen: HashSet<u64>,
    count: u64,
    evidence: Vec<Evidence>,
    /// Message parts rendered from the first event of the group.
    parts: Vec<Option<Rc<str>>>,
}

/// What one step took from the event that satisfied it (see `Evaluator::take`).
struct Taken {
    step: usize,
    caps: Option<Caps>,
    parts: Vec<(usize, Rc<str>)>,
}

impl Taken {
    fn apply(&self, p: &mut Partial) {
        if let Some(c) = &self.caps {
            p.caps[self.step] = c.clone();
        }
        for (i, t) in &self.parts {
            p.parts[*i] = Some(t.clone());
        }
    }
}

/// A rule's partial sequences, oldest first. A newer partial replaces its predecessor in
/// the same position, found by fingerprint (a scan of a few hundred integers is cheaper
/// than keeping an index up to date).
struct Partials {
    list: VecDeque<Partial>,
    /// The earliest `start` (infinite when there are none).
    oldest: f64,
}

fn same_position(a: &Partial, b: &Partial) -> bool {
    a.key == b.key && a.next == b.next && a.tree == b.tree && a.pid == b.pid && a.caps == b.caps
}

impl Partials {
    fn new() -> Partials {
        Partials {
            list: VecDeque::new(),
            oldest: f64::INFINITY,
        }
    }

    fn iter(&self) -> impl Iterator<Item = &Partial> {
        self.list.iter()
    }

    /// Drops the partials that started more than `within` seconds before `now`.
    fn expire(&mut self, now: f64, within: f64) {
        if now - self.oldest <= within {
            return;
        }
        self.list.retain(|p| now - p.start <= within);
        self.oldest = self
            .list
            .iter()
            .map(|p| p.start)
            .fold(f64::INFINITY, f64::min);
    }

    /// Adds `q` as the newest partial: a partial in the same position is replaced (there
    /// is at most one: each insertion removes its predecessor), and past
    /// [`MAX_PARTIALS`] the oldest is dropped.
    fn push(&mut self, q: Partial) {
        if let Some(i) = self.list.iter().position(|o| same_position(o, &q)) {
            self.list.remove(i);
        }
        if self.list.len() >= MAX_PARTIALS {
            self.list.pop_front();
        }
        self.oldest = self.oldest.min(q.start);
        self.list.push_back(q);
    }
}

struct RuleState<'r> {
    rule: &'r Rule,
    bound: &'r BoundRule,
    /// Per step, the event types it takes, as bits of [`type_index`].
    step_types: Vec<u64>,
    /// The types any step after the first takes: only those can advance a partial.
    later_types: u64,
    partials: Partials,
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
    /// Per event type ([`type_index`]), the rules with a step of that type.
    by_type: Vec<Vec<usize>>,
    procs: HashMap<u32, ProcInfo>,
    /// The current event's JSON form and field values.
    memo: Memo,
    /// The current event's evidence entry, built when a rule first needs it.
    evidence: OnceCell<Rc<Evidence>>,
    /// The current event's process tree root (see `tree_root`).
    tree: Option<u32>,
    /// The current event's phase, shared by the partials it starts.
    phase: OnceCell<Rc<str>>,
    /// Captures of a step not reached yet.
    no_caps: Caps,
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

fn type_bit(t: &str) -> u64 {
    type_index(t).map_or(0, |i| 1u64 << i)
}

fn partial_key(next: usize, pid: Option<u32>, tree: Option<u32>, caps: &[Caps]) -> u64 {
    let mut h = std::collections::hash_map::DefaultHasher::new();
    (next, pid, tree, caps).hash(&mut h);
    h.finish()
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
        path: ev.kind.file().map(|(p, _)| p.to_string()),
        line: ev.kind.file().and_then(|(_, l)| l),
        actor: ev.actor,
    }
}

/// The findings of one rule as one: the first message leads, `items` lists every
/// distinct one, the evidence is merged (up to twice [`MAX_EVIDENCE`]), and `actor` says
/// whose code acted (the package's when any evidence event was its).
fn group(findings: Vec<Finding>) -> Option<Finding> {
    let mut it = findings.into_iter();
    let mut first = it.next()?;
    let rest: Vec<Finding> = it.collect();
    if !rest.is_empty() {
        first.items.push(first.message.clone());
        for f in rest {
            first.items.push(f.message);
            for e in f.evidence {
                if first.evidence.len() < 2 * MAX_EVIDENCE
                    && !first.evidence.iter().any(|x| x.seq == e.seq)
                {
                    first.evidence.push(e);
                }
            }
        }
        first.evidence.sort_by_key(|e| e.seq);
    }
    first.actor = first
        .evidence
        .iter()
        .filter_map(|e| e.actor)
        .max_by_key(|a| match a {
            Actor::Dropped => 3,
            Actor::Package => 2,
            Actor::Toolchain => 1,
            Actor::Harness => 0,
        });
    Some(first)
}

fn push_evidence(list: &mut Vec<Evidence>, e: Evidence) {
    if list.len() < MAX_EVIDENCE && !list.iter().any(|x| x.seq == e.seq) {
        list.push(e);
    }
}

fn push_shared(list: &mut Vec<Rc<Evidence>>, e: Rc<Evidence>) {
    if list.len() < MAX_EVIDENCE && !list.iter().any(|x| x.seq == e.seq) {
        list.push(e);
    }
}

impl<'r> Evaluator<'r> {
    /// Binds the rules to this trace's header (variables, ecosystem).
    pub fn new(rules: &'r [Rule], bound: &'r Bound, header: &TraceHeader) -> Evaluator<'r> {
        const _: () = assert!(EVENT_FIELDS.len() <= 64, "type bits must fit a u64");
        let eco = header.package.ecosystem;
        let mut states = Vec::new();
        let mut by_type: Vec<Vec<usize>> = vec![Vec::new(); EVENT_FIELDS.len()];
        for (rule, b) in rules.iter().zip(&bound.rules) {
            if let Some(e) = eco {
                if !rule.ecosystems.is_empty() && !rule.ecosystems.contains(&e) {
                    continue;
                }
            }
            let Some(b) = b else { continue };
            let ix = states.len();
            let step_types: Vec<u64> = rule
                .steps
                .iter()
                .map(|s| s.types.iter().fold(0, |m, t| m | type_bit(t)))
                .collect();
            let all = step_types.iter().fold(0u64, |m, t| m | t);
            for (t, list) in by_type.iter_mut().enumerate() {
                if all & (1 << t) != 0 {
                    list.push(ix);
                }
            }
            states.push(RuleState {
                rule,
                bound: b,
                later_types: step_types.iter().skip(1).fold(0, |m, t| m | t),
                step_types,
                partials: Partials::new(),
                groups: HashMap::new(),
                findings: Vec::new(),
            });
        }
        Evaluator {
            rules: states,
            by_type,
            procs: HashMap::new(),
            memo: Memo::new(bound.exprs.clone()),
            evidence: OnceCell::new(),
            tree: None,
            phase: OnceCell::new(),
            no_caps: Rc::new(Vec::new()),
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

    /// Whether an event is one a rule with this scope and attribution looks at. Who
    /// acted is the event's `actor` (stamped by [`airlock_events::attribution`] before the event
    /// reaches the rules): harness events never count; toolchain events only for rules
    /// with `attribution = "any"`.
    fn in_scope(scope: Scope, attribution: Attribution, ev: &Event) -> bool {
        let actor = ev.actor.unwrap_or(Actor::Package);
        let actor_ok = match actor {
            Actor::Harness => false,
            Actor::Toolchain => attribution == Attribution::Any,
            Actor::Package | Actor::Dropped => true,
        };
        if !actor_ok {
            return false;
        }
        let run = || ev.phase != "static";
        // A persona pass is `<phase>@<system>` (`install@windows`, `import@macos`): the
        // same phase on another system, in the same scope.
        let base = ev.phase.split('@').next().unwrap_or(&ev.phase);
        match scope {
            Scope::Any => true,
            Scope::Static => ev.phase == "static",
            Scope::Import => base == "import",
            Scope::Lifecycle => base == "install",
            Scope::Package => run(),
        }
    }

    fn track(&mut self, ev: &Event) {
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
    }

    /// Feeds one event.
    pub fn event(&mut self, ev: &Event) {
        self.track(ev);
        let Some(t) = type_index(ev.kind.type_name()) else {
            return;
        };
        if self.by_type[t].is_empty() {
            return;
        }
        let Ok(v) = serde_json::to_value(ev) else {
            return;
        };
        let ixs = std::mem::take(&mut self.by_type[t]);
        let mut memo = std::mem::replace(&mut self.memo, Memo::new(Arc::from([])));
        memo.set_event(v);
        self.evidence = OnceCell::new();
        self.tree = ev.pid().map(|p| self.tree_root(p));
        self.phase = OnceCell::new();
        let bit = 1u64 << t;
        for &ix in &ixs {
            self.rule_event(ix, ev, bit, &mut memo);
        }
        self.by_type[t] = ixs;
        self.memo = memo;
    }

    /// The current event's evidence entry (built once per event).
    fn evidence_of(&self, ev: &Event) -> Rc<Evidence> {
        self.evidence.get_or_init(|| Rc::new(evidence(ev))).clone()
    }

    fn step_matches(&self, ix: usize, step: usize, ev: &Event, bit: u64, m: &mut Memo) -> bool {
        let st = &self.rules[ix];
        let spec = &st.rule.steps[step];
        st.step_types[step] & bit != 0
            && Self::in_scope(spec.scope, st.rule.attribution, ev)
            && st.bound.steps[step].when.iter().all(|c| c.eval(m))
            && !st.bound.steps[step].unless.iter().any(|c| c.eval(m))
    }

    fn joins_hold(exprs: &[usize], joins: &[Join], p: &Partial, m: &mut Memo) -> bool {
        joins.iter().zip(exprs).all(|(j, &x)| {
            let theirs = p.caps.get(j.step).and_then(|c| c.get(j.capture));
            let Some(theirs) = theirs else { return false };
            m.vals(x).texts().any(|m| {
                let m: &str = &m;
                theirs.iter().any(|t| match j.op {
                    JoinOp::Equals => m == t,
                    JoinOp::Contains => !t.is_empty() && m.contains(t.as_str()),
                    JoinOp::Within => !m.is_empty() && t.contains(m),
                })
            })
        })
    }

    fn same_holds(same: Same, p: &Partial, ev: &Event, tree: Option<u32>) -> bool {
        match same {
            Same::None => true,
            Same::Phase => *p.phase == *ev.phase,
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

    /// What step `step` takes from the event that satisfied it: its captures and the
    /// message parts it renders. The same for every partial the event advances, so it is
    /// made once per event and shared.
    fn take(rule: &Rule, bound: &BoundRule, step: usize, m: &mut Memo) -> Taken {
        let last = step + 1 == rule.steps.len();
        let mut parts = Vec::new();
        for (i, part) in rule.message.iter().enumerate() {
            if let Part::Field(s, path, optional) = part {
                let mine = match s {
                    Some(s) => *s == step,
                    None => last,
                };
                if mine {
                    let text = render_value(m.value(), path);
                    let text = if *optional && text == "(none)" {
                        ""
                    } else {
                        text.as_str()
                    };
                    parts.push((i, Rc::from(text)));
                }
            }
        }
        let exprs = &bound.steps[step].captures;
        let caps = (!exprs.is_empty())
            .then(|| Rc::new(exprs.iter().map(|&x| m.vals(x).to_texts()).collect()));
        Taken { step, caps, parts }
    }

    fn rule_event(&mut self, ix: usize, ev: &Event, bit: u64, m: &mut Memo) {
        let rule = self.rules[ix].rule;
        let bound = self.rules[ix].bound;
        if bound.exceptions.iter().any(|c| c.eval(m)) {
            return;
        }
        let n = rule.steps.len();
        let pid = ev.pid();
        let tree = self.tree;

        // Drop expired partial sequences.
        self.rules[ix].partials.expire(ev.ts, rule.within_secs);

        // Advance partial sequences (read-only pass).
        let mut advanced = Vec::new();
        let mut completed = Vec::new();
        // Whether the event satisfies each step, computed at most once per step.
        let (mut known, mut holds) = (0u32, 0u32);
        let mut step_holds = |this: &Self, step: usize, m: &mut Memo| -> bool {
            if step >= MEMO_STEPS {
                return this.step_matches(ix, step, ev, bit, m);
            }
            if known & (1 << step) == 0 {
                known |= 1 << step;
                if this.step_matches(ix, step, ev, bit, m) {
                    holds |= 1 << step;
                }
            }
            holds & (1 << step) != 0
        };
        // What each step took from this event, made once (few steps ever match at once).
        let mut taken: Vec<Taken> = Vec::new();
        if self.rules[ix].later_types & bit != 0 {
            let st = &self.rules[ix];
            for p in st.partials.iter() {
                let step = p.next;
                if st.step_types[step] & bit == 0 {
                    continue;
                }
                if step_holds(self, step, m)
                    && Self::joins_hold(&bound.steps[step].joins, &rule.steps[step].joins, p, m)
                    && Self::same_holds(rule.same, p, ev, tree)
                {
                    let mut q = Partial {
                        key: 0,
                        next: step + 1,
                        start: p.start,
                        phase: p.phase.clone(),
                        pid: p.pid.or(pid),
                        tree: p.tree.or(tree),
                        caps: p.caps.clone(),
                        parts: p.parts.clone(),
                        evidence: p.evidence.clone(),
                    };
                    push_shared(&mut q.evidence, self.evidence_of(ev));
                    let t = match taken.iter().find(|t| t.step == step) {
                        Some(t) => t,
                        None => {
                            taken.push(Self::take(rule, bound, step, m));
                            &taken[taken.len() - 1]
                        }
                    };
                    t.apply(&mut q);
                    if step + 1 == n {
                        completed.push(q);
                    } else {
                        advanced.push(q);
                    }
                }
            }
        }

        // Start new ones.
        if step_holds(self, 0, m) {
            let mut p = Partial {
                key: 0,
                next: 1,
                start: ev.ts,
                phase: self
                    .phase
                    .get_or_init(|| Rc::from(ev.phase.as_str()))
                    .clone(),
                pid,
                tree,
                caps: vec![self.no_caps.clone(); n],
                parts: vec![None; rule.message.len()],
                evidence: vec![self.evidence_of(ev)],
            };
            Self::take(rule, bound, 0, m).apply(&mut p);
            if n == 1 {
                if rule.aggregate.is_some() {
                    self.aggregate(ix, ev, m, p);
                } else {
                    completed.push(p);
                }
            } else {
                advanced.push(p);
            }
        }

        for mut q in advanced {
            q.key = partial_key(q.next, q.pid, q.tree, &q.caps);
            self.rules[ix].partials.push(q);
        }
        for q in completed {
            let msg = Self::message(rule, &q.parts, None, None);
            let evidence = q.evidence.iter().map(|e| Evidence::clone(e)).collect();
            self.add_finding(ix, msg, evidence);
        }
    }

    fn aggregate(&mut self, ix: usize, ev: &Event, m: &mut Memo, p: Partial) {
        let (group, distinct) = (self.rules[ix].bound.group, self.rules[ix].bound.distinct);
        if self.rules[ix].rule.aggregate.is_none() {
            return;
        }
        let key = match group {
            Some(x) => match m.vals(x).leaves.first() {
                Some(k) => k.as_text(),
                None => return,
            },
            None => String::new(),
        };
        let cur = &self.evidence;
        let st = &mut self.rules[ix];
        if !st.groups.contains_key(&key) && st.groups.len() >= MAX_GROUPS {
            return;
        }
        let g = st.groups.entry(key).or_default();
        if g.parts.is_empty() {
            g.parts = p.parts;
        }
        let new = match distinct {
            Some(x) => {
                let mut added = false;
                for t in m.vals(x).texts() {
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
        if new && g.evidence.len() < MAX_EVIDENCE {
            let e = cur.get_or_init(|| Rc::new(evidence(ev)));
            push_evidence(&mut g.evidence, Evidence::clone(e));
        }
    }

    fn message(
        rule: &Rule,
        parts: &[Option<Rc<str>>],
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
            decisive: false,
            evidence: ev,
            kind: r.kind,
            family: r.family.clone(),
            strength: r.strength,
            actor: None,
            items: Vec::new(),
            waived: None,
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
        let mut findings: Vec<Finding> = self
            .rules
            .into_iter()
            .filter_map(|s| group(s.findings))
            .collect();
        findings.sort_by(|a, b| {
            a.kind
                .cmp(&b.kind)
                .then(b.severity.cmp(&a.severity))
                .then(b.confidence.cmp(&a.confidence))
                .then(a.rule.cmp(&b.rule))
        });
        (findings, self.facts)
    }
}
