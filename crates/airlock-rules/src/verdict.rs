//! From findings to a verdict: proof of a harmful act by the package's own code makes it
//! malicious; signals make it suspicious only in combination or when strong; the run
//! states (error, timed out, incomplete trace) are never read as benign. The score
//! (severity × confidence from `rules/verdict.toml`) is kept for the report. Also the
//! `--fail-on` comparison and exit codes.

use std::collections::BTreeSet;

use airlock_events::{Confidence, Finding, FindingKind, Severity, Strength, Verdict};
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

    /// The verdict from findings and what happened to the run (DESIGN.md, "Verdict
    /// model"). Marks as `decisive` the findings that made it malicious.
    ///
    /// - **malicious**: at least one *proof* finding, not waived, whose acting code is
    ///   the package's (its files or files it dropped; static proofs are the package's
    ///   files). A proof rule that fired on toolchain events only weighs as a signal.
    /// - **suspicious**: one *strong* signal, or signals of `suspicious_families`
    ///   independent families of which at least one is not *weak*.
    /// - **benign** otherwise; then the run states: a phase error → `error`, a time-out
    ///   → `timed-out`, an incomplete trace → `error` (never benign).
    ///
    /// The score (severity × confidence, each rule once, waived findings left out) is
    /// reported but decides nothing.
    pub fn decide(&self, findings: &mut [Finding], facts: &RunFacts) -> Decision {
        let counted: Vec<Finding> = findings
            .iter()
            .filter(|f| f.waived.is_none())
            .cloned()
            .collect();
        let score = self.score(&counted);
        let mut notes = Vec::new();
        for f in findings.iter_mut() {
            f.decisive = f.waived.is_none()
                && f.kind == FindingKind::Proof
                && f.actor.is_none_or(|a| a.is_package());
        }
        let proofs: Vec<&Finding> = findings.iter().filter(|f| f.decisive).collect();
        if let Some(first) = proofs.first() {
            let more = match proofs.len() {
                1 => String::new(),
                2 => " (and 1 more proof)".to_string(),
                n => format!(" (and {} more proofs)", n - 1),
            };
            return Decision {
                verdict: Verdict::Malicious,
                score,
                notes,
                reason: format!("proof of harm: {}: {}{more}", first.rule, first.message),
            };
        }
        let signals: Vec<&Finding> = findings.iter().filter(|f| f.waived.is_none()).collect();
        // A proof that only the toolchain acted out weighs as an ordinary signal.
        let strength = |f: &Finding| match f.kind {
            FindingKind::Proof => Strength::Normal,
            FindingKind::Signal => f.strength,
        };
        let strong: Vec<&&Finding> = signals
            .iter()
            .filter(|f| strength(f) == Strength::Strong)
            .collect();
        let families: BTreeSet<&str> = signals.iter().map(|f| f.family.as_str()).collect();
        let firm: BTreeSet<&str> = signals
            .iter()
            .filter(|f| strength(f) != Strength::Weak)
            .map(|f| f.family.as_str())
            .collect();
        let combined = families.len() >= self.suspicious_families.max(1) && !firm.is_empty();
        let list = signals
            .iter()
            .map(|f| {
                let w = match strength(f) {
                    Strength::Weak => ", weak",
                    Strength::Strong => ", strong",
                    Strength::Normal => "",
                };
                format!("{} ({}{w})", f.rule, f.family)
            })
            .collect::<Vec<_>>()
            .join(", ");
        let (by_model, reason) = if let Some(s) = strong.first() {
            (
                Verdict::Suspicious,
                format!(
                    "no proof of harm; strong signal {}: {}; signals: {list}",
                    s.rule, s.message
                ),
            )
        } else if combined {
            (
                Verdict::Suspicious,
                format!(
                    "no proof of harm; signals of {} independent kinds: {list}",
                    families.len()
                ),
            )
        } else if signals.is_empty() {
            (Verdict::Benign, "no proof of harm; no signals".to_string())
        } else {
            (
                Verdict::Benign,
                format!("no proof of harm; signals too weak alone: {list}"),
            )
        };
        let verdict = match run_state(by_model, facts, &mut notes) {
            Some(v) => v,
            None => by_model,
        };
        Decision {
            verdict,
            score,
            notes,
            reason,
        }
    }
}

/// What happened to the run, when it overrides a verdict that is not malicious: a phase
/// that errored → `error`; one that timed out → `timed-out`; an incomplete trace (no
/// footer, `complete: false`, an unreadable line) → `error` when the findings alone
/// would say benign. Run states are never benign. (This is the one place to make other
/// run facts — an OOM kill, a producer that lost events — count.)
fn run_state(by_model: Verdict, facts: &RunFacts, notes: &mut Vec<String>) -> Option<Verdict> {
    if !facts.errored.is_empty() {
        notes.push(format!("phase error: {}", facts.errored.join(", ")));
        return Some(Verdict::Error);
    }
    if !facts.timed_out.is_empty() {
        notes.push(format!("timed out: {}", facts.timed_out.join(", ")));
        return Some(Verdict::TimedOut);
    }
    if !facts.complete {
        notes.push(if facts.footer_seen {
            "trace incomplete: a producer lost data".to_string()
        } else {
            "trace incomplete: no footer (the run was cut short)".to_string()
        });
        if by_model == Verdict::Benign {
            return Some(Verdict::Error);
        }
    }
    None
}

/// The outcome of [`VerdictSpec::decide`].
#[derive(Debug, Clone, PartialEq)]
pub struct Decision {
    pub verdict: Verdict,
    /// Severity × confidence summed (reported; decides nothing).
    pub score: f64,
    /// Why the verdict is a run state, when it is.
    pub notes: Vec<String>,
    /// Which proof made the verdict, or why none did (`no proof of harm; signals: …`).
    pub reason: String,
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
