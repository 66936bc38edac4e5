//! The TOML shape of rule files, lists and the verdict config, as serde reads them.
//! Unknown keys are rejected (`deny_unknown_fields`) and the values later checks need to
//! point at are kept `Spanned`, so every diagnostic can name the line.

use airlock_events::{Confidence, Ecosystem, FindingKind, Severity, Strength};
use serde::Deserialize;
use toml::Spanned;

/// One rule file.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleSpec {
    pub id: Spanned<String>,
    pub summary: String,
    pub description: String,
    pub severity: Severity,
    pub confidence: Confidence,
    #[serde(default)]
    pub ecosystems: Vec<Ecosystem>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub scope: ScopeSpec,
    /// Old spelling of `kind = "proof"`; kept so older rule files load.
    #[serde(default)]
    pub decisive: Option<Spanned<bool>>,
    /// `proof` (a harmful act) or `signal` (a hint); every rule in `rules/` declares it.
    #[serde(default)]
    pub kind: Option<Spanned<FindingKind>>,
    /// The independent kind of evidence, one of `verdict.toml`'s `families`.
    #[serde(default)]
    pub family: Option<Spanned<String>>,
    /// How much a signal weighs alone (`weak`, `normal`, `strong`).
    #[serde(default)]
    pub strength: Option<Strength>,
    /// Whose events the rule looks at: `package` (default: the package's own code and
    /// files it dropped) or `any` (also the toolchain; never the harness).
    #[serde(default)]
    pub attribution: Option<AttributionSpec>,
    pub message: Spanned<String>,
    /// Ordered steps; one step is a single-event rule.
    #[serde(rename = "step")]
    pub steps: Spanned<Vec<StepSpec>>,
    /// Time window of a sequence, seconds from its first event (default 600).
    #[serde(default)]
    pub within_secs: Option<f64>,
    /// Join between the events of a sequence.
    #[serde(default)]
    pub same: Option<SameSpec>,
    /// Conditions under which an event cannot take part in this rule.
    #[serde(default, rename = "exception")]
    pub exceptions: Vec<Spanned<CondSpec>>,
    #[serde(default)]
    pub aggregate: Option<Spanned<AggregateSpec>>,
    #[serde(default, rename = "fixture")]
    pub fixtures: Vec<FixtureSpec>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScopeSpec {
    Lifecycle,
    Import,
    Package,
    Static,
    Any,
}

/// Whose events a rule looks at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum AttributionSpec {
    /// The package's own code and files it dropped.
    #[default]
    Package,
    /// Also the package manager and build toolchain (never the harness).
    Any,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SameSpec {
    None,
    Pid,
    Tree,
    Phase,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct StepSpec {
    /// Name later steps and the message use to refer to this step's event.
    #[serde(default)]
    pub id: Option<Spanned<String>>,
    /// Event type(s) this step accepts.
    #[serde(rename = "type")]
    pub types: Spanned<StrList>,
    /// Overrides the rule's scope for this step.
    #[serde(default)]
    pub scope: Option<ScopeSpec>,
    /// All of these must hold.
    #[serde(default)]
    pub when: Vec<Spanned<CondSpec>>,
    /// None of these may hold.
    #[serde(default)]
    pub unless: Vec<Spanned<CondSpec>>,
    /// Joins with fields captured by earlier steps.
    #[serde(default)]
    pub join: Vec<Spanned<JoinSpec>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct JoinSpec {
    /// Field of this step's event.
    pub field: Spanned<String>,
    /// `<step id>.<field>` of an earlier step.
    pub captured: Spanned<String>,
    /// `equals` (default), `contains` (this contains captured) or `within` (captured
    /// contains this).
    #[serde(default)]
    pub op: Option<Spanned<String>>,
    /// Transforms applied to both sides before comparing.
    #[serde(default)]
    pub transform: Vec<Spanned<String>>,
}

/// A string or a list of strings.
#[derive(Debug, Clone, Deserialize)]
#[serde(untagged)]
pub enum StrList {
    One(String),
    Many(Vec<String>),
}

impl StrList {
    pub fn items(&self) -> Vec<String> {
        match self {
            StrList::One(s) => vec![s.clone()],
            StrList::Many(v) => v.clone(),
        }
    }
}

/// A condition: a field test (`field` plus one or more operators, all of which must hold
/// for one value of the field) or a combinator (`all`, `any`, `not`).
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CondSpec {
    #[serde(default)]
    pub field: Option<Spanned<String>>,
    #[serde(default)]
    pub transform: Vec<Spanned<String>>,
    #[serde(default)]
    pub ignore_case: bool,
    #[serde(default)]
    pub equals: Option<Spanned<toml::Value>>,
    #[serde(default, rename = "in")]
    pub in_: Option<Spanned<StrList>>,
    #[serde(default)]
    pub glob: Option<Spanned<StrList>>,
    #[serde(default)]
    pub regex: Option<Spanned<StrList>>,
    #[serde(default)]
    pub cidr: Option<Spanned<StrList>>,
    #[serde(default)]
    pub contains: Option<Spanned<StrList>>,
    #[serde(default)]
    pub starts_with: Option<Spanned<StrList>>,
    #[serde(default)]
    pub ends_with: Option<Spanned<StrList>>,
    /// The value is one of these domains or a subdomain of one.
    #[serde(default)]
    pub domain: Option<Spanned<StrList>>,
    #[serde(default)]
    pub gt: Option<f64>,
    #[serde(default)]
    pub ge: Option<f64>,
    #[serde(default)]
    pub lt: Option<f64>,
    #[serde(default)]
    pub le: Option<f64>,
    /// Any of these bits set in the (integer) value, e.g. `0o111` for "executable".
    #[serde(default)]
    pub bits_any: Option<u32>,
    /// The field has (true) or lacks (false) a value.
    #[serde(default)]
    pub exists: Option<bool>,
    #[serde(default)]
    pub all: Option<Vec<Spanned<CondSpec>>>,
    #[serde(default)]
    pub any: Option<Vec<Spanned<CondSpec>>>,
    #[serde(default)]
    pub not: Option<Box<Spanned<CondSpec>>>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AggregateSpec {
    /// Count distinct values of this field (after `distinct_transform`); without it,
    /// events are counted.
    #[serde(default)]
    pub distinct: Option<Spanned<String>>,
    #[serde(default)]
    pub distinct_transform: Vec<Spanned<String>>,
    /// Count separately per value of this field (after `group_transform`).
    #[serde(default)]
    pub group_by: Option<Spanned<String>>,
    #[serde(default)]
    pub group_transform: Vec<Spanned<String>>,
    /// The finding fires when a count reaches this.
    pub min: u64,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSpec {
    pub name: String,
    /// `match` or `nomatch`.
    pub expect: FixtureExpect,
    /// Optional JSON header (defaults are filled in).
    #[serde(default)]
    pub header: Option<String>,
    /// JSON Lines of events, with convenient defaults (see rules/README.md).
    pub events: String,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FixtureExpect {
    Match,
    Nomatch,
}

/// `rules/lists/<name>.toml`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListSpec {
    /// For humans reading the list; not used by the engine.
    #[serde(default)]
    #[allow(dead_code)]
    pub description: String,
    pub items: Vec<String>,
}

/// `rules/verdict.toml`.
#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct VerdictSpec {
    /// Score at or above which a package is suspicious. The score is reported (the JSON
    /// contract keeps it) but the verdict follows the proof/signal model.
    pub suspicious: f64,
    /// Score at or above which a package is malicious (reported only).
    pub malicious: f64,
    pub severity: SeverityWeights,
    pub confidence: ConfidenceWeights,
    /// The independent kinds of signal a rule's `family` may name; signals of two of
    /// them make a package suspicious. Empty: any name.
    #[serde(default)]
    pub families: Vec<String>,
    /// Distinct families (at least one signal of them not weak) that make a package
    /// suspicious without a strong signal.
    #[serde(default = "two")]
    pub suspicious_families: usize,
}

fn two() -> usize {
    2
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct SeverityWeights {
    pub info: f64,
    pub low: f64,
    pub medium: f64,
    pub high: f64,
    pub critical: f64,
}

#[derive(Debug, Clone, Deserialize, serde::Serialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidenceWeights {
    pub low: f64,
    pub medium: f64,
    pub high: f64,
}

impl Default for VerdictSpec {
    fn default() -> Self {
        VerdictSpec {
            suspicious: 3.0,
            malicious: 10.0,
            severity: SeverityWeights {
                info: 0.0,
                low: 1.0,
                medium: 3.0,
                high: 6.0,
                critical: 10.0,
            },
            confidence: ConfidenceWeights {
                low: 0.5,
                medium: 0.8,
                high: 1.0,
            },
            families: Vec::new(),
            suspicious_families: 2,
        }
    }
}
