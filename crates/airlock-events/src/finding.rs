//! What judging a trace produces: findings with their evidence, and the verdict. These
//! live beside the events (not in airlock-rules) so reports and the store can read them
//! without depending on the rule engine.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::{Actor, ProcRef};

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Low,
    Medium,
    High,
    Critical,
}

impl fmt::Display for Severity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Low => "low",
            Severity::Medium => "medium",
            Severity::High => "high",
            Severity::Critical => "critical",
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Confidence {
    Low,
    Medium,
    High,
}

/// The decision about a package. `Error`, `TimedOut` and `NotEvaluated` are run states
/// and are never to be read as benign.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    Benign,
    Suspicious,
    Malicious,
    Error,
    TimedOut,
    NotEvaluated,
}

impl Verdict {
    /// Ordering used by `--fail-on`: benign < suspicious < malicious.
    pub fn rank(self) -> u8 {
        match self {
            Verdict::Benign | Verdict::NotEvaluated => 0,
            Verdict::Suspicious | Verdict::TimedOut => 1,
            Verdict::Malicious => 2,
            Verdict::Error => 0,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Verdict::Benign => "benign",
            Verdict::Suspicious => "suspicious",
            Verdict::Malicious => "malicious",
            Verdict::Error => "error",
            Verdict::TimedOut => "timed-out",
            Verdict::NotEvaluated => "not-evaluated",
        }
    }
}

impl fmt::Display for Verdict {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One event that supports a finding, summarised for humans.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Evidence {
    pub seq: u64,
    pub ts: f64,
    pub phase: String,
    #[serde(rename = "type")]
    pub event_type: String,
    /// One line a human can check, e.g. `connect 198.18.0.7:443 (evil.example)`.
    pub summary: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub proc: Option<ProcRef>,
    /// The file the event touched and its line ([`crate::EventKind::file`]), so a report
    /// built while the trace streams past can name it. Not serialized: whoever reads a
    /// stored judgement has the trace to look it up.
    #[serde(skip)]
    pub path: Option<String>,
    #[serde(skip)]
    pub line: Option<u32>,
    /// Who acted in this event (see [`Actor`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
}

/// Whether a finding proves a harmful act or only hints at one (DESIGN.md, "Verdict
/// model").
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum FindingKind {
    /// A harmful act (secret leaving, dropped file run, persistence, destruction, remote
    /// shell, self-propagation, mining, …): with the package's code acting, malicious.
    Proof,
    /// A capability or intent hint: suspicious only in combination or when strong.
    #[default]
    Signal,
}

impl FindingKind {
    pub fn as_str(self) -> &'static str {
        match self {
            FindingKind::Proof => "proof",
            FindingKind::Signal => "signal",
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// How much a signal weighs on its own.
#[derive(
    Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default, Serialize, Deserialize,
)]
#[serde(rename_all = "lowercase")]
pub enum Strength {
    /// Counts only together with a stronger signal of another family.
    Weak,
    /// Suspicious together with a signal of another family.
    #[default]
    Normal,
    /// Suspicious on its own.
    Strong,
}

impl Strength {
    pub fn is_normal(&self) -> bool {
        *self == Strength::Normal
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Strength::Weak => "weak",
            Strength::Normal => "normal",
            Strength::Strong => "strong",
        }
    }
}

/// A waiver that applied to a finding: it stays in the report but does not count.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Waived {
    pub reason: String,
    /// `YYYY-MM-DD`; the waiver is ignored from that day on.
    pub expires: String,
    /// The file that holds the waiver (`airlock.toml`).
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub source: String,
}

/// A rule that matched, with the events that prove it. All matches of one rule in a run
/// are one finding; `items` lists each distinct match (five canaries in one request are
/// one finding listing five).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// True when this finding made the verdict malicious: a proof, acted by the
    /// package's own code, not waived.
    #[serde(default)]
    pub decisive: bool,
    pub evidence: Vec<Evidence>,
    /// Proof of a harmful act or a signal.
    #[serde(default)]
    pub kind: FindingKind,
    /// The independent kind of evidence (`credentials`, `network`, `obfuscation`, …):
    /// signals of two families combine.
    #[serde(default, skip_serializing_if = "String::is_empty")]
    pub family: String,
    #[serde(default, skip_serializing_if = "Strength::is_normal")]
    pub strength: Strength,
    /// Who acted, over the evidence: the package's own code when any evidence event was
    /// its, else the toolchain.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub actor: Option<Actor>,
    /// Every distinct match of the rule when there were several (the first is `message`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub items: Vec<String>,
    /// Set when a project waiver covers this finding; it then does not count.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub waived: Option<Waived>,
}
