//! Rendering of a [`Summary`] as `eval.md`.

use std::fmt::Write as _;
use std::path::Path;

use super::summary::{CorpusSummary, Summary};
use crate::runner::Airlock;
use crate::stats::{pct, ratio, secs};

fn count(s: &CorpusSummary, v: &str) -> usize {
    s.verdicts.get(v).copied().unwrap_or(0)
}

fn md_cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ⏎ ")
}

pub fn render(sum: &Summary, airlock: &Airlock, out: &Path) -> String {
    let mut m = String::new();
    let _ = writeln!(m, "# airlock detection evaluation\n");
    let _ = writeln!(
        m,
        "Results in `{}`; airlock binary `{}`; ruleset hash(es): {}.\n",
        out.display(),
        airlock.bin.display(),
        sum.rulesets
            .iter()
            .map(|h| format!("`{}`", &h[..h.len().min(12)]))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(m, "## Per corpus\n");
    let _ = writeln!(m, "| corpus | samples | malicious | suspicious | benign | error | timed-out | recall ≥susp | recall mal | FPR ≥susp | FPR mal | precision ≥susp | F1 ≥susp | median | p95 |");
    let _ = writeln!(
        m,
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|"
    );
    for c in &sum.corpora {
        let _ = writeln!(
            m,
            "| {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            c.corpus,
            c.samples,
            count(c, "malicious"),
            count(c, "suspicious"),
            count(c, "benign"),
            count(c, "error"),
            count(c, "timed-out"),
            pct(c.recall_suspicious),
            pct(c.recall_malicious),
            pct(c.fpr_suspicious),
            pct(c.fpr_malicious),
            pct(c.precision_suspicious),
            c.f1_suspicious
                .map(|x| format!("{x:.3}"))
                .unwrap_or("–".into()),
            secs(c.wall_median_ms),
            secs(c.wall_p95_ms),
        );
    }
    let _ = writeln!(m, "\nRecall counts errors and time-outs as misses; FPR is over the expected-benign samples.\n");
    let _ = writeln!(m, "## Per ecosystem, next to published figures\n");
    let _ = writeln!(m, "| ecosystem | threshold | malicious samples | benign samples | TP | FP | recall | FPR | precision | F1 |");
    let _ = writeln!(m, "|---|---|---|---|---|---|---|---|---|---|");
    for e in &sum.ecosystems {
        let _ = writeln!(
            m,
            "| {} | ≥ {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            e.ecosystem,
            e.threshold,
            e.positives,
            e.negatives,
            e.tp,
            e.fp,
            pct(e.recall),
            pct(e.fpr),
            pct(e.precision),
            e.f1.map(|x| format!("{x:.3}")).unwrap_or("–".into())
        );
    }
    let _ = writeln!(
        m,
        "| npm | GuardDog v3 (static) | – | ~1000 | – | 49 | 91 % | ~4.9 % | – | – |"
    );
    let _ = writeln!(
        m,
        "| pypi | GuardDog v3 (static) | – | ~1000 | – | 125 | 86 % | ~12.5 % | – | – |"
    );
    let _ = writeln!(
        m,
        "| npm | OSCAR (dynamic) | – | – | – | – | – | 2.6 % | – | 0.95 |"
    );
    let _ = writeln!(
        m,
        "| pypi | OSCAR (dynamic) | – | – | – | – | – | 1.2 % | – | 0.91 |"
    );
    for c in &sum.corpora {
        let _ = writeln!(m, "\n## {}\n", c.corpus);
        if c.positives > 0 {
            let _ = writeln!(
                m,
                "Recall over samples that ran to a verdict (no error/time-out): ≥ suspicious {}, malicious {}.\n",
                pct(c.recall_suspicious_ran),
                pct(c.recall_malicious_ran)
            );
        }
        if let Some(g) = &c.groups {
            let _ = writeln!(
                m,
                "Distinct `setup.py` (sha256; wheels and sdists without one keyed by their sources): {} groups ({} without a root setup.py). \
                 Every sample of the group ≥ suspicious: {} ({}); malicious: {} ({}). At least one sample ≥ suspicious: {} ({}); malicious: {} ({}).\n",
                g.distinct,
                g.wheel_groups,
                g.all_suspicious,
                pct(ratio(g.all_suspicious as f64, g.distinct as f64)),
                g.all_malicious,
                pct(ratio(g.all_malicious as f64, g.distinct as f64)),
                g.any_suspicious,
                pct(ratio(g.any_suspicious as f64, g.distinct as f64)),
                g.any_malicious,
                pct(ratio(g.any_malicious as f64, g.distinct as f64)),
            );
        }
        if !c.phase_sets.is_empty() {
            let _ = writeln!(m, "Flagged samples by the phases their evidence comes from: {}. Samples with evidence in each phase: {}.\n",
                c.phase_sets.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "),
                c.phase_firing.iter().map(|(k, v)| format!("{k} {v}")).collect::<Vec<_>>().join(", "));
        }
        if !c.rule_hits.is_empty() {
            let mut hits: Vec<(&String, &usize)> = c.rule_hits.iter().collect();
            hits.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let _ = writeln!(m, "| rule | samples |\n|---|---|");
            for (rule, n) in hits {
                let _ = writeln!(m, "| {rule} | {n} |");
            }
            let _ = writeln!(m);
        }
        let _ = writeln!(
            m,
            "Slowest: {}.\n",
            c.slowest
                .iter()
                .map(|(id, ms, v)| format!("{id} {:.1} s ({v})", *ms as f64 / 1000.0))
                .collect::<Vec<_>>()
                .join(", ")
        );
        if !c.misses.is_empty() {
            let _ = writeln!(m, "### Not as expected ({})\n\n| sample | expected | got | missing rules | top findings |\n|---|---|---|---|---|", c.misses.len());
            for x in &c.misses {
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {} | {} |",
                    x.id,
                    x.expected,
                    x.got,
                    x.missing_rules.join(", "),
                    md_cell(&x.top_findings.join("; "))
                );
            }
            let _ = writeln!(m);
        }
        if !c.quiet.is_empty() {
            let _ = writeln!(m, "### Expected malicious, judged benign: what they did ({})\n\n| sample | phases | commands | network | files written outside the package |\n|---|---|---|---|---|", c.quiet.len());
            for q in &c.quiet {
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {} | {} |",
                    q.id,
                    md_cell(&q.phases.join("; ")),
                    md_cell(&q.commands.join("; ")),
                    md_cell(&q.network.join("; ")),
                    md_cell(&q.files.join("; "))
                );
            }
            let _ = writeln!(m);
        }
        if !c.install_failures.is_empty() {
            let _ = writeln!(
                m,
                "### Install did not succeed ({} of {})\n",
                c.install_failures.len(),
                c.samples
            );
            let mut reasons: Vec<(&String, &usize)> = c.failure_reasons.iter().collect();
            reasons.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
            let _ = writeln!(m, "| reason | samples |\n|---|---|");
            for (r, n) in reasons {
                let _ = writeln!(m, "| {} | {n} |", md_cell(r));
            }
            let _ = writeln!(m, "\n| sample | verdict | install status | reason | output tail |\n|---|---|---|---|---|");
            for f in &c.install_failures {
                let _ = writeln!(
                    m,
                    "| {} | {} | {} | {} | {} |",
                    f.id,
                    f.verdict,
                    f.status,
                    md_cell(&f.reason),
                    md_cell(&f.tail.chars().take(200).collect::<String>())
                );
            }
            let _ = writeln!(m);
        }
    }
    let _ = writeln!(m, "## Every sample\n");
    for c in &sum.corpora {
        let _ = writeln!(
            m,
            "### {}\n\n| sample | verdict | evidence phases | top finding | install | wall |\n|---|---|---|---|---|---|",
            c.corpus
        );
        for (id, v, ph, top, inst, ms) in &c.rows {
            let _ = writeln!(
                m,
                "| {id} | {v} | {ph} | {} | {inst} | {:.0} s |",
                md_cell(top),
                *ms as f64 / 1000.0
            );
        }
        let _ = writeln!(m);
    }
    m
}
