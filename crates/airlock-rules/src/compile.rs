//! Turns the TOML of a rules directory into checked rules: expands `@list` references,
//! checks field paths against event types, compiles a trial binding of every pattern so
//! bad regexes and globs are found at load time, and reports each problem at its line.

use std::collections::{BTreeMap, HashMap};
use std::ops::Range;
use std::path::{Path, PathBuf};

use airlock_events::{Confidence, Ecosystem, FindingKind, Severity, Strength};
use toml::Spanned;

use crate::error::RuleError;
use crate::fields::{known_type, FieldPath};
use crate::matcher::{bind, RawCond, RawOp, Transform, Vars, TRANSFORM_NAMES};
use crate::spec::{
    AggregateSpec, AttributionSpec, CondSpec, FixtureExpect, JoinSpec, ListSpec, RuleSpec,
    SameSpec, ScopeSpec, StepSpec, StrList,
};

pub type Scope = ScopeSpec;
pub type Attribution = AttributionSpec;
pub type Same = SameSpec;

/// A named list from `rules/lists/`.
pub type Lists = BTreeMap<String, Vec<String>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum JoinOp {
    Equals,
    Contains,
    Within,
}

#[derive(Debug, Clone)]
pub struct Join {
    pub field: FieldPath,
    pub transforms: Vec<Transform>,
    /// Index of the earlier step and the index of its capture slot.
    pub step: usize,
    pub capture: usize,
    pub op: JoinOp,
}

#[derive(Debug, Clone)]
pub struct Step {
    pub id: Option<String>,
    pub types: Vec<String>,
    pub scope: Scope,
    pub when: Vec<RawCond>,
    pub unless: Vec<RawCond>,
    pub joins: Vec<Join>,
    /// Fields later steps join on, captured when this step matches.
    pub captures: Vec<(FieldPath, Vec<Transform>)>,
}

#[derive(Debug, Clone)]
pub struct Aggregate {
    pub distinct: Option<(FieldPath, Vec<Transform>)>,
    pub group: Option<(FieldPath, Vec<Transform>)>,
    pub min: u64,
}

/// A piece of a message template.
#[derive(Debug, Clone)]
pub enum Part {
    Lit(String),
    /// A field of the event that matched step `step` (the last step when `None`);
    /// `{name?}` is optional and renders as nothing when the event lacks the field.
    Field(Option<usize>, FieldPath, bool),
    Count,
    Group,
}

/// A fixture: a short trace and whether the rule must match it.
#[derive(Debug, Clone)]
pub struct Fixture {
    pub name: String,
    pub expect: FixtureExpect,
    pub header: Option<String>,
    pub events: String,
}

/// A loaded, checked rule.
#[derive(Debug, Clone)]
pub struct Rule {
    pub id: String,
    pub category: String,
    pub file: PathBuf,
    pub summary: String,
    pub description: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub ecosystems: Vec<Ecosystem>,
    pub tags: Vec<String>,
    pub scope: Scope,
    /// `kind = "proof"`: with the package's code acting, this finding alone makes the
    /// verdict malicious.
    pub decisive: bool,
    /// Proof or signal.
    pub kind: FindingKind,
    /// False when the file does not say `kind` (the fixtures test requires it).
    pub kind_declared: bool,
    /// The independent kind of evidence (`verdict.toml` `families`).
    pub family: String,
    pub strength: Strength,
    /// Whose events the rule looks at.
    pub attribution: Attribution,
    pub message: Vec<Part>,
    pub steps: Vec<Step>,
    pub within_secs: f64,
    pub same: Same,
    pub exceptions: Vec<RawCond>,
    pub aggregate: Option<Aggregate>,
    pub fixtures: Vec<Fixture>,
}

struct Ctx<'a> {
    file: &'a Path,
    src: &'a str,
    lists: &'a Lists,
    errors: Vec<RuleError>,
}

impl Ctx<'_> {
    fn err(&mut self, code: &'static str, span: Range<usize>, msg: impl Into<String>) {
        self.errors
            .push(RuleError::at(code, self.file, self.src, Some(span), msg));
    }

    fn expand(&mut self, items: &Spanned<StrList>) -> Vec<String> {
        let mut out = Vec::new();
        for s in items.get_ref().items() {
            if let Some(name) = s.strip_prefix('@') {
                match self.lists.get(name) {
                    Some(v) => out.extend(v.iter().cloned()),
                    None => self.err(
                        "unknown-list",
                        items.span(),
                        format!(
                            "unknown list `@{name}`; lists: {}",
                            self.lists.keys().cloned().collect::<Vec<_>>().join(", ")
                        ),
                    ),
                }
            } else {
                out.push(s);
            }
        }
        out
    }

    fn transforms(&mut self, ts: &[Spanned<String>]) -> Vec<Transform> {
        let mut out = Vec::new();
        for t in ts {
            match Transform::parse(t.get_ref()) {
                Some(x) => out.push(x),
                None => self.err(
                    "unknown-transform",
                    t.span(),
                    format!(
                        "unknown transform `{}`; known: {}",
                        t.get_ref(),
                        TRANSFORM_NAMES.join(", ")
                    ),
                ),
            }
        }
        out
    }

    fn field(&mut self, f: &Spanned<String>, types: &[String]) -> Option<FieldPath> {
        match FieldPath::parse(f.get_ref(), types) {
            Ok(p) => Some(p),
            Err(e) => {
                self.err("bad-field", f.span(), e);
                None
            }
        }
    }

    fn cond(&mut self, c: &Spanned<CondSpec>, types: &[String]) -> Option<RawCond> {
        let span = c.span();
        let c = c.get_ref();
        let combinators = [c.all.is_some(), c.any.is_some(), c.not.is_some()]
            .iter()
            .filter(|x| **x)
            .count();
        if combinators > 0 {
            if combinators > 1 || c.field.is_some() {
                self.err(
                    "bad-condition",
                    span,
                    "a condition is either a field test or one of all/any/not",
                );
                return None;
            }
            if let Some(v) = &c.all {
                return Some(RawCond::All(
                    v.iter().filter_map(|x| self.cond(x, types)).collect(),
                ));
            }
            if let Some(v) = &c.any {
                if v.is_empty() {
                    self.err("bad-condition", span, "`any` needs at least one condition");
                }
                return Some(RawCond::Any(
                    v.iter().filter_map(|x| self.cond(x, types)).collect(),
                ));
            }
            if let Some(n) = &c.not {
                return self.cond(n, types).map(|x| RawCond::Not(Box::new(x)));
            }
        }
        let Some(f) = &c.field else {
            self.err(
                "bad-condition",
                span,
                "condition has no `field` (and no all/any/not)",
            );
            return None;
        };
        let path = self.field(f, types)?;
        let transforms = self.transforms(&c.transform);
        let mut ops: Vec<(RawOp, Range<usize>)> = Vec::new();
        if let Some(v) = &c.equals {
            let j = match v.get_ref() {
                toml::Value::String(s) => serde_json::Value::String(s.clone()),
                toml::Value::Integer(i) => serde_json::Value::from(*i),
                toml::Value::Float(x) => serde_json::Value::from(*x),
                toml::Value::Boolean(b) => serde_json::Value::Bool(*b),
                other => {
                    self.err(
                        "bad-value",
                        v.span(),
                        format!("`equals` takes a string, number or boolean, not {other}"),
                    );
                    serde_json::Value::Null
                }
            };
            ops.push((RawOp::Equals(j), v.span()));
        }
        type ListOp<'a> = (&'a Option<Spanned<StrList>>, fn(Vec<String>) -> RawOp);
        let lists: [ListOp<'_>; 8] = [
            (&c.in_, RawOp::In),
            (&c.glob, RawOp::Glob),
            (&c.regex, RawOp::Regex),
            (&c.cidr, RawOp::Cidr),
            (&c.contains, RawOp::Contains),
            (&c.starts_with, RawOp::StartsWith),
            (&c.ends_with, RawOp::EndsWith),
            (&c.domain, RawOp::Domain),
        ];
        for (opt, mk) in lists {
            if let Some(items) = opt {
                let v = self.expand(items);
                ops.push((mk(v), items.span()));
            }
        }
        for (n, mk) in [
            (c.gt, RawOp::Gt as fn(f64) -> RawOp),
            (c.ge, RawOp::Ge),
            (c.lt, RawOp::Lt),
            (c.le, RawOp::Le),
        ] {
            if let Some(n) = n {
                ops.push((mk(n), f.span()));
            }
        }
        if let Some(b) = c.bits_any {
            ops.push((RawOp::BitsAny(b), f.span()));
        }
        if ops.is_empty() && c.exists.is_none() {
            self.err(
                "bad-condition",
                span,
                "field test without an operator (equals, in, glob, regex, ...)",
            );
        }
        let raw = RawCond::Field {
            path,
            transforms,
            ignore_case: c.ignore_case,
            ops,
            exists: c.exists,
        };
        // Trial binding: finds bad regexes, globs, CIDRs and variables now.
        let trial = Vars {
            home: Some("/home/u".into()),
            package_dir: Some("/p".into()),
            hostname: Some("host-1".into()),
            user: Some("user".into()),
            package: Some("pkg".into()),
        };
        if let Err((msg, sp)) = bind(&raw, &trial) {
            let code = if msg.contains("regex") {
                "bad-regex"
            } else {
                "bad-pattern"
            };
            self.err(code, sp, msg);
            return None;
        }
        Some(raw)
    }
}

fn parse_template(
    ctx: &mut Ctx<'_>,
    msg: &Spanned<String>,
    steps: &[Step],
    aggregate: bool,
) -> Vec<Part> {
    let mut parts = Vec::new();
    let text = msg.get_ref();
    let mut rest = text.as_str();
    while let Some(i) = rest.find('{') {
        if i > 0 {
            parts.push(Part::Lit(rest[..i].to_string()));
        }
        let Some(end) = rest[i..].find('}') else {
            ctx.err("bad-message", msg.span(), "unclosed `{` in message");
            return parts;
        };
        let raw = &rest[i + 1..i + end];
        rest = &rest[i + end + 1..];
        let optional = raw.ends_with('?');
        let name = raw.trim_end_matches('?');
        match name {
            "count" | "group" if aggregate => parts.push(if name == "count" {
                Part::Count
            } else {
                Part::Group
            }),
            _ => {
                let (step, path) = match name.split_once('.') {
                    Some((head, tail)) => {
                        match steps.iter().position(|s| s.id.as_deref() == Some(head)) {
                            Some(ix) => (Some(ix), tail),
                            None => (None, name),
                        }
                    }
                    None => (None, name),
                };
                let types = &steps[step.unwrap_or(steps.len().saturating_sub(1))].types;
                match FieldPath::parse(path, types) {
                    Ok(p) => parts.push(Part::Field(step, p, optional)),
                    Err(e) => ctx.err(
                        "bad-message",
                        msg.span(),
                        format!("message placeholder `{{{name}}}`: {e}"),
                    ),
                }
            }
        }
    }
    if !rest.is_empty() {
        parts.push(Part::Lit(rest.to_string()));
    }
    parts
}

/// Checks one rule file's text.
pub fn compile_rule(
    file: &Path,
    category: &str,
    src: &str,
    lists: &Lists,
    families: &[String],
) -> Result<Rule, Vec<RuleError>> {
    let spec: RuleSpec = match toml::from_str(src) {
        Ok(s) => s,
        Err(e) => {
            let msg = e.message().to_string();
            let code = if msg.contains("unknown field") {
                "unknown-key"
            } else {
                "toml"
            };
            return Err(vec![RuleError::at(code, file, src, e.span(), msg)]);
        }
    };
    let mut ctx = Ctx {
        file,
        src,
        lists,
        errors: Vec::new(),
    };
    let stem = file.file_stem().and_then(|s| s.to_str()).unwrap_or("");
    if spec.id.get_ref() != stem {
        ctx.err(
            "id-mismatch",
            spec.id.span(),
            format!(
                "rule id `{}` must equal the file name `{stem}`",
                spec.id.get_ref()
            ),
        );
    }
    let decisive = spec.decisive.as_ref().is_some_and(|d| *d.get_ref());
    let kind = match (&spec.kind, decisive) {
        (Some(k), true) if *k.get_ref() == FindingKind::Signal => {
            ctx.err(
                "bad-kind",
                k.span(),
                "`decisive = true` is the old spelling of `kind = \"proof\"`; a signal cannot be decisive",
            );
            FindingKind::Signal
        }
        (Some(k), _) => *k.get_ref(),
        (None, true) => FindingKind::Proof,
        (None, false) => FindingKind::Signal,
    };
    let family = match &spec.family {
        Some(f) => {
            if !families.is_empty() && !families.iter().any(|x| x == f.get_ref()) {
                ctx.err(
                    "bad-family",
                    f.span(),
                    format!(
                        "unknown family `{}`; verdict.toml names: {}",
                        f.get_ref(),
                        families.join(", ")
                    ),
                );
            }
            f.get_ref().clone()
        }
        None => category.rsplit('/').next().unwrap_or(category).to_string(),
    };
    if spec.steps.get_ref().is_empty() {
        ctx.err(
            "no-steps",
            spec.steps.span(),
            "a rule needs at least one [[step]]",
        );
    }
    let mut steps: Vec<Step> = Vec::new();
    for (i, s) in spec.steps.get_ref().iter().enumerate() {
        let step = compile_step(&mut ctx, s, i, &mut steps, spec.scope);
        steps.push(step);
    }
    if let Some(SameSpec::Pid | SameSpec::Tree) = spec.same {
        if steps.len() < 2 {
            ctx.err(
                "bad-same",
                spec.steps.span(),
                "`same` only applies to rules with several steps",
            );
        }
    }
    let all_types: Vec<String> = steps.iter().flat_map(|s| s.types.clone()).collect();
    let exceptions: Vec<RawCond> = spec
        .exceptions
        .iter()
        .filter_map(|c| ctx.cond(c, &all_types))
        .collect();
    let aggregate = spec
        .aggregate
        .as_ref()
        .map(|a| compile_aggregate(&mut ctx, a, &all_types, steps.len()));
    let message = parse_template(&mut ctx, &spec.message, &steps, aggregate.is_some());
    let mut fixtures: Vec<Fixture> = spec
        .fixtures
        .iter()
        .map(|f| Fixture {
            name: f.name.clone(),
            expect: f.expect,
            header: f.header.clone(),
            events: f.events.clone(),
        })
        .collect();
    fixtures.extend(dir_fixtures(&mut ctx, file));
    if !ctx.errors.is_empty() {
        return Err(ctx.errors);
    }
    Ok(Rule {
        id: spec.id.into_inner(),
        category: category.to_string(),
        file: file.to_path_buf(),
        summary: spec.summary,
        description: spec.description,
        severity: spec.severity,
        confidence: spec.confidence,
        ecosystems: spec.ecosystems,
        tags: spec.tags,
        scope: spec.scope,
        decisive: kind == FindingKind::Proof,
        kind,
        kind_declared: spec.kind.is_some() || decisive,
        family,
        strength: spec.strength.unwrap_or_default(),
        attribution: spec.attribution.unwrap_or_default(),
        message,
        steps,
        within_secs: spec.within_secs.unwrap_or(600.0),
        same: spec.same.unwrap_or(SameSpec::None),
        exceptions,
        aggregate,
        fixtures,
    })
}

fn compile_step(
    ctx: &mut Ctx<'_>,
    s: &StepSpec,
    index: usize,
    earlier: &mut [Step],
    scope: Scope,
) -> Step {
    let mut types = s.types.get_ref().items();
    for t in &types {
        if !known_type(t) {
            ctx.err(
                "unknown-type",
                s.types.span(),
                format!("unknown event type `{t}`"),
            );
        }
    }
    // Check fields against the known types only, so one typo gives one error.
    types.retain(|t| known_type(t));
    let when = s.when.iter().filter_map(|c| ctx.cond(c, &types)).collect();
    let unless = s
        .unless
        .iter()
        .filter_map(|c| ctx.cond(c, &types))
        .collect();
    let mut joins = Vec::new();
    for j in &s.join {
        if let Some(join) = compile_join(ctx, j.get_ref(), j.span(), &types, index, earlier) {
            joins.push(join);
        }
    }
    Step {
        id: s.id.as_ref().map(|i| i.get_ref().clone()),
        types,
        scope: s.scope.unwrap_or(scope),
        when,
        unless,
        joins,
        captures: Vec::new(),
    }
}

fn compile_join(
    ctx: &mut Ctx<'_>,
    j: &JoinSpec,
    span: Range<usize>,
    types: &[String],
    index: usize,
    earlier: &mut [Step],
) -> Option<Join> {
    if index == 0 {
        ctx.err(
            "bad-join",
            span,
            "the first step cannot join on earlier steps",
        );
        return None;
    }
    let field = ctx.field(&j.field, types)?;
    let transforms = ctx.transforms(&j.transform);
    let Some((step_id, cap_field)) = j.captured.get_ref().split_once('.') else {
        ctx.err(
            "bad-join",
            j.captured.span(),
            "`captured` is `<step id>.<field>`",
        );
        return None;
    };
    let Some(step) = earlier
        .iter()
        .position(|s| s.id.as_deref() == Some(step_id))
    else {
        ctx.err(
            "bad-join",
            j.captured.span(),
            format!("no earlier step with id `{step_id}`"),
        );
        return None;
    };
    let cap_path = match FieldPath::parse(cap_field, &earlier[step].types) {
        Ok(p) => p,
        Err(e) => {
            ctx.err("bad-field", j.captured.span(), e);
            return None;
        }
    };
    let op = match j.op.as_ref().map(|o| o.get_ref().as_str()) {
        None | Some("equals") => JoinOp::Equals,
        Some("contains") => JoinOp::Contains,
        Some("within") => JoinOp::Within,
        Some(o) => {
            let sp = j.op.as_ref().map(|x| x.span()).unwrap_or(span);
            ctx.err(
                "bad-join",
                sp,
                format!("unknown join op `{o}`; known: equals, contains, within"),
            );
            return None;
        }
    };
    let caps = &mut earlier[step].captures;
    let capture = match caps
        .iter()
        .position(|(p, t)| *p == cap_path && *t == transforms)
    {
        Some(i) => i,
        None => {
            caps.push((cap_path, transforms.clone()));
            caps.len() - 1
        }
    };
    Some(Join {
        field,
        transforms,
        step,
        capture,
        op,
    })
}

fn compile_aggregate(
    ctx: &mut Ctx<'_>,
    a: &Spanned<AggregateSpec>,
    types: &[String],
    steps: usize,
) -> Aggregate {
    let spec = a.get_ref();
    if steps != 1 {
        ctx.err(
            "bad-aggregate",
            a.span(),
            "an aggregate counts the events of a single step",
        );
    }
    if spec.min == 0 {
        ctx.err("bad-aggregate", a.span(), "`min` must be at least 1");
    }
    let distinct = spec.distinct.as_ref().and_then(|f| {
        let p = ctx.field(f, types)?;
        Some((p, ctx.transforms(&spec.distinct_transform)))
    });
    let group = spec.group_by.as_ref().and_then(|f| {
        let p = ctx.field(f, types)?;
        Some((p, ctx.transforms(&spec.group_transform)))
    });
    Aggregate {
        distinct,
        group,
        min: spec.min,
    }
}

/// Fixtures stored as files in `<id>.fixtures/{match,nomatch}-*.jsonl` next to the rule.
fn dir_fixtures(ctx: &mut Ctx<'_>, file: &Path) -> Vec<Fixture> {
    let dir = file.with_extension("fixtures");
    let Ok(rd) = std::fs::read_dir(&dir) else {
        return Vec::new();
    };
    let mut names: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    names.sort();
    let mut out = Vec::new();
    for p in names {
        let name = p
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or("")
            .to_string();
        let expect = if name.starts_with("nomatch-") {
            FixtureExpect::Nomatch
        } else if name.starts_with("match-") {
            FixtureExpect::Match
        } else {
            ctx.errors.push(RuleError::file(
                "bad-fixture",
                &p,
                "fixture files are named match-*.jsonl or nomatch-*.jsonl",
            ));
            continue;
        };
        match std::fs::read_to_string(&p) {
            Ok(events) => out.push(Fixture {
                name,
                expect,
                header: None,
                events,
            }),
            Err(e) => ctx.errors.push(RuleError::file("io", &p, e.to_string())),
        }
    }
    out
}

/// Reads `rules/lists/*.txt` (one item a line, `#` comments) and `*.toml` (`items`).
pub fn load_lists(
    dir: &Path,
    errors: &mut Vec<RuleError>,
    hashed: &mut Vec<(String, String)>,
    root: &Path,
) -> Lists {
    let mut lists = Lists::new();
    let Ok(rd) = std::fs::read_dir(dir) else {
        return lists;
    };
    let mut paths: Vec<PathBuf> = rd.filter_map(|e| e.ok().map(|e| e.path())).collect();
    paths.sort();
    for p in paths {
        let Some(name) = p.file_stem().and_then(|s| s.to_str()).map(str::to_string) else {
            continue;
        };
        let ext = p.extension().and_then(|e| e.to_str()).unwrap_or("");
        if ext != "txt" && ext != "toml" {
            continue;
        }
        let src = match std::fs::read_to_string(&p) {
            Ok(s) => s,
            Err(e) => {
                errors.push(RuleError::file("io", &p, e.to_string()));
                continue;
            }
        };
        hashed.push((rel(&p, root), src.clone()));
        let items = if ext == "txt" {
            src.lines()
                .map(|l| l.split(" #").next().unwrap_or("").trim())
                .filter(|l| !l.is_empty() && !l.starts_with('#'))
                .map(str::to_string)
                .collect()
        } else {
            match toml::from_str::<ListSpec>(&src) {
                Ok(l) => l.items,
                Err(e) => {
                    errors.push(RuleError::at(
                        "toml",
                        &p,
                        &src,
                        e.span(),
                        e.message().to_string(),
                    ));
                    continue;
                }
            }
        };
        if lists.insert(name.clone(), items).is_some() {
            errors.push(RuleError::file(
                "duplicate-list",
                &p,
                format!("list `{name}` defined twice"),
            ));
        }
    }
    lists
}

pub fn rel(p: &Path, root: &Path) -> String {
    p.strip_prefix(root)
        .unwrap_or(p)
        .to_string_lossy()
        .replace('\\', "/")
}

/// Checks rules for duplicate ids.
pub fn check_duplicates(rules: &[Rule], errors: &mut Vec<RuleError>) {
    let mut seen: HashMap<&str, &Path> = HashMap::new();
    for r in rules {
        if let Some(prev) = seen.insert(&r.id, &r.file) {
            errors.push(RuleError::file(
                "duplicate-id",
                &r.file,
                format!("rule id `{}` already defined in {}", r.id, prev.display()),
            ));
        }
    }
}
