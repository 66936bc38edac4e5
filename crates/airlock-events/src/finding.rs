//! What judging a trace produces: findings with their evidence, and the verdict. These
//! live beside the events (not in airlock-rules) so reports and the store can read them
//! without depending on the rule engine.

use std::fmt;

use serde::{Deserialize, Serialize};

use crate::ProcRef;

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
}

/// A rule that matched, with the events that prove it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Finding {
    pub rule: String,
    pub severity: Severity,
    pub confidence: Confidence,
    pub message: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub tags: Vec<String>,
    /// True when the finding alone makes the verdict malicious.
    #[serde(default)]
    pub decisive: bool,
    pub evidence: Vec<Evidence>,
}
