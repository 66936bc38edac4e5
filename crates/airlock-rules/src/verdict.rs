//! From findings to a verdict: weights by severity × confidence from `rules/verdict.toml`,
//! decisive findings, and the run states (error, timed out, incomplete trace) that must
//! never be read as benign. Also the `--fail-on` comparison and exit codes.

use airlock_events::{Confidence, Finding, Severity, Verdict};
use serde::{Deserialize, Serialize};

use crate::engine::RunFacts;
use crate::spec::VerdictSpec;

/// The scoring configuration.
pub type VerdictConfig = VerdictSpec;

impl VerdictSpec {
    /// Weight of one finding.
    pub fn weight(&self, severity: Severity, confidence: Confidence) -> f64 {
        let s = match severity {
            Severity::Info => self.severity.info,
            Severity::Low => self.severity.low,
            Severity::Medium => self.severity.medium,
            Severity::High => self.severity.high,
            Severity::Critical => self.severity.critical,
        };
        let c = match confidence {
            Confidence::Low => self.confidence.low,
            Confidence::Medium => self.confidence.medium,
            Confidence::High => self.confidence.high,
        };
        s * c
    }

    /// Score of a set of findings: each rule counts once, with its heaviest finding.
    pub fn score(&self, findings: &[Finding]) -> f64 {
        let mut best: std::collections::BTreeMap<&str, f64> = Default::default();
        for f in findings {
            let w = self.weight(f.severity, f.confidence);
            let e = best.entry(f.rule.as_str()).or_insert(0.0);
            if w > *e {
                *e = w;
            }
        }
        best.values().sum()
    }

    /// The verdict from findings and what happened to the run, with the reasons for any
    /// run state.
    pub fn decide(&self, findings: &[Finding], facts: &RunFacts) -> (Verdict, f64, Vec<String>) {
        let score = self.score(findings);
        let mut notes = Vec::new();
        let decisive = findings.iter().any(|f| f.decisive);
        let by_score = if decisive || score >= self.malicious {
            Verdict::Malicious
        } else if score >= self.suspicious {
            Verdict::Suspicious
        } else {
            Verdict::Benign
        };
        if by_score == Verdict::Malicious {
            return (Verdict::Malicious, score, notes);
        }
        if !facts.errored.is_empty() {
            notes.push(format!("phase error: {}", facts.errored.join(", ")));
            return (Verdict::Error, score, notes);
        }
        if !facts.timed_out.is_empty() {
            notes.push(format!("timed out: {}", facts.timed_out.join(", ")));
            return (Verdict::TimedOut, score, notes);
        }
        if !facts.complete {
            notes.push(if facts.footer_seen {
                "trace incomplete: a producer lost data".to_string()
            } else {
                "trace incomplete: no footer (the run was cut short)".to_string()
            });
            if by_score == Verdict::Benign {
                return (Verdict::Error, score, notes);
            }
        }
        (by_score, score, notes)
    }
}

/// `--fail-on suspicious|malicious`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum FailOn {
    Suspicious,
    #[default]
    Malicious,
}

impl std::str::FromStr for FailOn {
    type Err = String;
    fn from_str(s: &str) -> Result<FailOn, String> {
        match s {
            "suspicious" => Ok(FailOn::Suspicious),
            "malicious" => Ok(FailOn::Malicious),
            _ => Err(format!("expected suspicious or malicious, not `{s}`")),
        }
    }
}

impl FailOn {
    /// True when `verdict` is at or above this level (a timed-out run counts as
    /// suspicious).
    pub fn fails(self, verdict: Verdict) -> bool {
        let need = match self {
            FailOn::Suspicious => 1,
            FailOn::Malicious => 2,
        };
        verdict.rank() >= need
    }

    /// Process exit code: 2 when the run could not be judged, 1 when it fails, else 0.
    pub fn exit_code(self, verdict: Verdict) -> i32 {
        match verdict {
            Verdict::Error | Verdict::NotEvaluated => 2,
            v if self.fails(v) => 1,
            _ => 0,
        }
    }
}
