//! Aggregation of the per-sample results into per-corpus and per-ecosystem summaries:
//! verdict counts, recall, false positives, precision/F1, rule hits, phases, timings,
//! misses, quiet samples and install failures.

use std::collections::{BTreeMap, BTreeSet};

use serde::Serialize;
use serde_json::Value;

use super::{rank, SampleResult};
use crate::corpus::Corpus;
use crate::runner;
use crate::stats::{median, percentile, ratio};

#[derive(Debug, Serialize)]
pub struct Summary {
    pub corpora: Vec<CorpusSummary>,
    pub ecosystems: Vec<EcosystemSummary>,
    pub rulesets: BTreeSet<String>,
}

/// Detection at one threshold over one ecosystem (malicious corpora against benign).
#[derive(Debug, Serialize)]
pub struct EcosystemSummary {
    pub ecosystem: String,
    pub threshold: String,
    pub positives: usize,
    pub negatives: usize,
    pub tp: usize,
    pub fp: usize,
    pub recall: Option<f64>,
    pub fpr: Option<f64>,
    pub precision: Option<f64>,
    pub f1: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct Miss {
    pub id: String,
    pub expected: String,
    pub got: String,
    pub missing_rules: Vec<String>,
    pub top_findings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Quiet {
    pub id: String,
    pub verdict: String,
    pub phases: Vec<String>,
    pub commands: Vec<String>,
    pub network: Vec<String>,
    pub files: Vec<String>,
    pub findings: Vec<String>,
}

#[derive(Debug, Serialize)]
pub struct Failure {
    pub id: String,
    pub verdict: String,
    pub status: String,
    pub reason: String,
    pub tail: String,
}

#[derive(Debug, Serialize, Default)]
pub struct Groups {
    pub distinct: usize,
    pub all_suspicious: usize,
    pub all_malicious: usize,
    pub any_suspicious: usize,
    pub any_malicious: usize,
    /// Distinct keys of wheels (no setup.py) among them.
    pub wheel_groups: usize,
}

#[derive(Debug, Serialize, Default)]
pub struct CorpusSummary {
    pub corpus: String,
    pub samples: usize,
    pub verdicts: BTreeMap<String, usize>,
    pub positives: usize,
    pub negatives: usize,
    pub recall_suspicious: Option<f64>,
    pub recall_malicious: Option<f64>,
    /// Recall over positives that ran to a verdict (no error, no time-out).
    pub recall_suspicious_ran: Option<f64>,
    pub recall_malicious_ran: Option<f64>,
    pub fpr_suspicious: Option<f64>,
    pub fpr_malicious: Option<f64>,
    pub precision_suspicious: Option<f64>,
    pub f1_suspicious: Option<f64>,
    pub precision_malicious: Option<f64>,
    pub f1_malicious: Option<f64>,
    /// Samples a rule fired on.
    pub rule_hits: BTreeMap<String, usize>,
    /// Flagged samples with finding evidence in each phase.
    pub phase_firing: BTreeMap<String, usize>,
    /// Flagged samples by the phases their evidence spans (`install`, `import`,
    /// `install+import`, `static only`, …).
    pub phase_sets: BTreeMap<String, usize>,
    pub wall_median_ms: Option<f64>,
    pub wall_p95_ms: Option<f64>,
    pub slowest: Vec<(String, u64, String)>,
    pub misses: Vec<Miss>,
    pub groups: Option<Groups>,
    pub quiet: Vec<Quiet>,
    pub install_failures: Vec<Failure>,
    pub failure_reasons: BTreeMap<String, usize>,
    /// One row per sample: id, verdict, phases with evidence, top finding, install
    /// status, wall time (ms).
    pub rows: Vec<(String, String, String, String, String, u64)>,
}

fn f1(p: Option<f64>, r: Option<f64>) -> Option<f64> {
    match (p, r) {
        (Some(p), Some(r)) if p + r > 0.0 => Some(2.0 * p * r / (p + r)),
        _ => None,
    }
}

fn finding_line(f: &Value) -> String {
    let msg = f["message"].as_str().unwrap_or("");
    let msg: String = msg.chars().take(120).collect();
    format!(
        "{} ({}): {}",
        f["rule"].as_str().unwrap_or("?"),
        f["severity"].as_str().unwrap_or("?"),
        msg
    )
}

/// Evidence phases of all findings of a result.
fn evidence_phases(r: &SampleResult) -> BTreeSet<String> {
    r.findings()
        .iter()
        .flat_map(|f| f["evidence"].as_array().cloned().unwrap_or_default())
        .filter_map(|e| e["phase"].as_str().map(String::from))
        .collect()
}

/// Why an install failed, in a few words, from the phase's output tail.
pub fn failure_reason(status: &str, tail: &str) -> String {
    const PATTERNS: [(&str, &str); 14] = [
        (
            "No matching distribution",
            "dependency not in the wheelhouse",
        ),
        (
            "Could not find a version",
            "dependency not in the wheelhouse",
        ),
        ("ModuleNotFoundError", "setup.py imports a missing module"),
        ("ImportError", "setup.py imports a missing module"),
        ("SyntaxError", "SyntaxError (Python 2 code?)"),
        ("FileNotFoundError", "setup.py reads a missing file"),
        ("No such file or directory", "a file is missing"),
        ("is not a supported wheel", "wheel not for this platform"),
        ("metadata-generation-failed", "setup.py failed (metadata)"),
        ("egg_info", "setup.py failed (egg_info)"),
        ("subprocess-exited-with-error", "setup.py failed (build)"),
        ("invalid", "invalid package metadata"),
        ("ERR!", "npm error"),
        ("Killed", "killed (limit)"),
    ];
    if status.contains("timed") || status.contains("timeout") {
        return "timed out".into();
    }
    // The last Python exception line says most (`ModuleNotFoundError: No module …`).
    let exception = tail.lines().rev().map(str::trim).find(|l| {
        l.split_once(": ").is_some_and(|(k, _)| {
            !k.contains(' ') && (k.ends_with("Error") || k.ends_with("Exception"))
        })
    });
    if let Some(e) = exception {
        let (kind, msg) = e.split_once(": ").unwrap_or((e, ""));
        let msg: String = msg.chars().take(60).collect();
        return format!("{kind}: {msg}");
    }
    for (pat, why) in PATTERNS {
        if tail.contains(pat) {
            return why.into();
        }
    }
    let last = runner::tail_lines(tail, 1);
    format!("other: {}", last.chars().take(80).collect::<String>())
}

fn summarize_corpus(corpus: Corpus, rs: &[&SampleResult]) -> CorpusSummary {
    let mut s = CorpusSummary {
        corpus: corpus.name().into(),
        samples: rs.len(),
        ..Default::default()
    };
    let ran = |r: &&&SampleResult| !matches!(r.verdict.as_str(), "error" | "timed-out");
    let pos: Vec<&&SampleResult> = rs
        .iter()
        .filter(|r| rank(&r.expected.verdict) > 0)
        .collect();
    let neg: Vec<&&SampleResult> = rs
        .iter()
        .filter(|r| rank(&r.expected.verdict) == 0)
        .collect();
    s.positives = pos.len();
    s.negatives = neg.len();
    let at =
        |set: &[&&SampleResult], lvl: u8| set.iter().filter(|r| rank(&r.verdict) >= lvl).count();
    let pos_ran: Vec<&&SampleResult> = pos.iter().copied().filter(ran).collect();
    s.recall_suspicious = ratio(at(&pos, 1) as f64, pos.len() as f64);
    s.recall_malicious = ratio(at(&pos, 2) as f64, pos.len() as f64);
    s.recall_suspicious_ran = ratio(at(&pos_ran, 1) as f64, pos_ran.len() as f64);
    s.recall_malicious_ran = ratio(at(&pos_ran, 2) as f64, pos_ran.len() as f64);
    s.fpr_suspicious = ratio(at(&neg, 1) as f64, neg.len() as f64);
    s.fpr_malicious = ratio(at(&neg, 2) as f64, neg.len() as f64);
    if !pos.is_empty() && !neg.is_empty() {
        for lvl in [1u8, 2] {
            let tp = at(&pos, lvl) as f64;
            let fp = at(&neg, lvl) as f64;
            let p = ratio(tp, tp + fp);
            let r = ratio(tp, pos.len() as f64);
            if lvl == 1 {
                s.precision_suspicious = p;
                s.f1_suspicious = f1(p, r);
            } else {
                s.precision_malicious = p;
                s.f1_malicious = f1(p, r);
            }
        }
    }
    for r in rs {
        *s.verdicts.entry(r.verdict.clone()).or_default() += 1;
        for rule in r.rules_fired() {
            *s.rule_hits.entry(rule).or_default() += 1;
        }
        if rank(&r.verdict) > 0 {
            let phases = evidence_phases(r);
            for p in &phases {
                *s.phase_firing.entry(p.clone()).or_default() += 1;
            }
            let dynamic: Vec<&str> = phases
                .iter()
                .map(String::as_str)
                .filter(|p| *p != "static")
                .collect();
            let key = if dynamic.is_empty() {
                if phases.is_empty() {
                    "no evidence".to_string()
                } else {
                    "static only".to_string()
                }
            } else {
                dynamic.join("+")
            };
            *s.phase_sets.entry(key).or_default() += 1;
        }
        // Misses: the verdict is not the expected one, or an expected rule is absent.
        let fired = r.rules_fired();
        let missing: Vec<String> = r
            .expected
            .rules
            .iter()
            .filter(|x| !fired.contains(*x))
            .cloned()
            .collect();
        // A malicious sample judged malicious when only "at least suspicious" was
        // asked (the smoke subset's PyPI samples) is not a miss.
        let verdict_ok = r.verdict == r.expected.verdict
            || (corpus.is_malware() && rank(&r.verdict) >= rank(&r.expected.verdict));
        if !verdict_ok || !missing.is_empty() {
            s.misses.push(Miss {
                id: r.id.clone(),
                expected: r.expected.verdict.clone(),
                got: r.verdict.clone(),
                missing_rules: missing,
                top_findings: r.findings().iter().take(3).map(finding_line).collect(),
            });
        }
        if rank(&r.expected.verdict) > 0 && r.verdict == "benign" {
            s.quiet.push(quiet(r));
        }
        if let Some(ph) = r.phase("install") {
            let status = ph["status"].as_str().unwrap_or("?").to_string();
            let code = ph["exit_code"].as_i64();
            if status != "ok" || code.is_some_and(|c| c != 0) {
                let tail = ph["output_tail"].as_str().unwrap_or("").to_string();
                let reason = failure_reason(&status, &tail);
                *s.failure_reasons.entry(reason.clone()).or_default() += 1;
                s.install_failures.push(Failure {
                    id: r.id.clone(),
                    verdict: r.verdict.clone(),
                    status: format!(
                        "{status} (exit {})",
                        code.map(|c| c.to_string()).unwrap_or("–".into())
                    ),
                    reason,
                    tail: runner::tail_lines(&tail, 3),
                });
            }
        } else if r.report.is_none() || r.verdict == "error" {
            let reason = format!(
                "no install phase: {}",
                runner::tail_lines(&r.stderr_tail, 1)
                    .chars()
                    .take(80)
                    .collect::<String>()
            );
            *s.failure_reasons.entry(reason.clone()).or_default() += 1;
            s.install_failures.push(Failure {
                id: r.id.clone(),
                verdict: r.verdict.clone(),
                status: "not run".into(),
                reason,
                tail: r.stderr_tail.clone(),
            });
        }
    }
    for r in rs {
        let phases: Vec<String> = evidence_phases(r).into_iter().collect();
        let install = r
            .phase("install")
            .map(|p| p["status"].as_str().unwrap_or("?").to_string())
            .unwrap_or_else(|| "–".into());
        s.rows.push((
            r.id.clone(),
            r.verdict.clone(),
            phases.join("+"),
            r.findings().first().map(finding_line).unwrap_or_default(),
            install,
            r.wall_ms,
        ));
    }
    let walls: Vec<f64> = rs.iter().map(|r| r.wall_ms as f64).collect();
    s.wall_median_ms = median(&walls);
    s.wall_p95_ms = percentile(&walls, 95.0);
    let mut slow: Vec<&&SampleResult> = rs.iter().collect();
    slow.sort_by_key(|r| std::cmp::Reverse(r.wall_ms));
    s.slowest = slow
        .iter()
        .take(5)
        .map(|r| (r.id.clone(), r.wall_ms, r.verdict.clone()))
        .collect();
    if corpus.is_malware() {
        let mut by: BTreeMap<&str, Vec<&SampleResult>> = BTreeMap::new();
        for r in rs {
            by.entry(r.group.as_deref().unwrap_or("?"))
                .or_default()
                .push(r);
        }
        let mut g = Groups {
            distinct: by.len(),
            ..Default::default()
        };
        for (k, members) in &by {
            let all = |l: u8| members.iter().all(|r| rank(&r.verdict) >= l);
            let any = |l: u8| members.iter().any(|r| rank(&r.verdict) >= l);
            g.all_suspicious += usize::from(all(1));
            g.all_malicious += usize::from(all(2));
            g.any_suspicious += usize::from(any(1));
            g.any_malicious += usize::from(any(2));
            g.wheel_groups += usize::from(!k.starts_with("setup.py:"));
        }
        s.groups = Some(g);
    }
    s
}

fn quiet(r: &SampleResult) -> Quiet {
    let rep = r.report.clone().unwrap_or(Value::Null);
    let phases = rep["phases"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|p| {
                    format!(
                        "{} {} (exit {})",
                        p["name"].as_str().unwrap_or("?"),
                        p["status"].as_str().unwrap_or("?"),
                        p["exit_code"]
                            .as_i64()
                            .map(|c| c.to_string())
                            .unwrap_or("–".into())
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    let commands = rep["notable_commands"]
        .as_array()
        .map(|a| {
            a.iter()
                .take(5)
                .map(|c| {
                    let cmd: String = c["command"]
                        .as_str()
                        .unwrap_or("?")
                        .chars()
                        .take(100)
                        .collect();
                    format!("[{}] {cmd}", c["phase"].as_str().unwrap_or("?"))
                })
                .collect()
        })
        .unwrap_or_default();
    let mut network: Vec<String> = Vec::new();
    if let Some(a) = rep["network"]["dns"].as_array() {
        network.extend(
            a.iter()
                .take(5)
                .map(|d| format!("dns {}", d["name"].as_str().unwrap_or("?"))),
        );
    }
    if let Some(a) = rep["network"]["connections"].as_array() {
        network.extend(a.iter().take(5).map(|c| {
            format!(
                "conn {}:{} {}",
                c["name"].as_str().or(c["addr"].as_str()).unwrap_or("?"),
                c["port"],
                c["protocol"].as_str().unwrap_or("")
            )
        }));
    }
    if let Some(a) = rep["network"]["connect_attempts"].as_array() {
        network.extend(
            a.iter()
                .filter(|c| {
                    c["family"].as_str() != Some("AF_UNIX") && c["port"].as_i64() != Some(53)
                })
                .take(3)
                .map(|c| {
                    format!(
                        "connect {}:{}",
                        c["addr"].as_str().unwrap_or("?"),
                        c["port"]
                    )
                }),
        );
    }
    let files = rep["files"]["written_outside_package"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|f| f["path"].as_str())
                .filter(|p| {
                    !p.contains("/.cache/pip")
                        && !p.contains("/.npm/")
                        && !p.ends_with("__pycache__")
                })
                .take(5)
                .map(String::from)
                .collect()
        })
        .unwrap_or_default();
    Quiet {
        id: r.id.clone(),
        verdict: r.verdict.clone(),
        phases,
        commands,
        network,
        files,
        findings: r.findings().iter().take(3).map(finding_line).collect(),
    }
}

pub fn summarize(corpora: &[Corpus], results: &[SampleResult]) -> Summary {
    let mut out = Summary {
        corpora: vec![],
        ecosystems: vec![],
        rulesets: results
            .iter()
            .filter_map(|r| r.report.as_ref()?["ruleset"].as_str().map(String::from))
            .collect(),
    };
    for c in corpora {
        let rs: Vec<&SampleResult> = results.iter().filter(|r| r.corpus == *c).collect();
        if !rs.is_empty() {
            out.corpora.push(summarize_corpus(*c, &rs));
        }
    }
    for eco in ["npm", "pypi"] {
        let rs: Vec<&SampleResult> = results
            .iter()
            .filter(|r| r.corpus.ecosystem() == eco)
            .collect();
        let pos: Vec<&&SampleResult> = rs
            .iter()
            .filter(|r| rank(&r.expected.verdict) > 0)
            .collect();
        let neg: Vec<&&SampleResult> = rs
            .iter()
            .filter(|r| rank(&r.expected.verdict) == 0)
            .collect();
        if pos.is_empty() && neg.is_empty() {
            continue;
        }
        for (lvl, name) in [(1u8, "suspicious"), (2, "malicious")] {
            let tp = pos.iter().filter(|r| rank(&r.verdict) >= lvl).count();
            let fp = neg.iter().filter(|r| rank(&r.verdict) >= lvl).count();
            let recall = ratio(tp as f64, pos.len() as f64);
            let precision = ratio(tp as f64, (tp + fp) as f64);
            out.ecosystems.push(EcosystemSummary {
                ecosystem: eco.into(),
                threshold: name.into(),
                positives: pos.len(),
                negatives: neg.len(),
                tp,
                fp,
                recall,
                fpr: ratio(fp as f64, neg.len() as f64),
                precision,
                f1: f1(precision, recall),
            });
        }
    }
    out
}
