//! Judging and rendering, shared by `scan` and `judge`: load the ruleset, run it over a
//! trace, fold trace and judgement into the report, and render the format asked for.

use std::io::IsTerminal;
use std::path::{Path, PathBuf};

use airlock_events::{Trace, Verdict};
use airlock_report::{JudgementInput, Report, RunInfo, Timeline};
use airlock_rules::Ruleset;
use anyhow::{anyhow, Result};

use crate::Format;

/// Where the rules are: `--rules`, then `$AIRLOCK_RULES`, then the `rules/` tree of the
/// checkout this binary was built from.
pub fn rules_dir(explicit: Option<&Path>) -> PathBuf {
    if let Some(p) = explicit {
        return p.to_path_buf();
    }
    if let Some(p) = std::env::var_os("AIRLOCK_RULES") {
        return PathBuf::from(p);
    }
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../../rules")).to_path_buf()
}

pub fn load_rules(explicit: Option<&Path>) -> Result<Ruleset> {
    let dir = rules_dir(explicit);
    Ruleset::load_dir(&dir).map_err(|errors| {
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow!(
            "the ruleset in {} does not load:\n{}",
            dir.display(),
            text.join("\n")
        )
    })
}

/// Judges a trace; a run error overrides the verdict (never benign).
pub fn judge(rules: &Ruleset, trace: &Trace, error: Option<&str>) -> (Report, Verdict) {
    let mut records = Vec::with_capacity(trace.events.len() + 1);
    records.extend(
        trace
            .events
            .iter()
            .cloned()
            .map(airlock_events::Record::Event),
    );
    if let Some(f) = &trace.footer {
        records.push(airlock_events::Record::Footer(f.clone()));
    }
    let j = rules.judge(&trace.header, records);
    let verdict = if error.is_some() && j.verdict != Verdict::Malicious {
        Verdict::Error
    } else {
        j.verdict
    };
    let input = JudgementInput {
        verdict,
        score: j.score,
        findings: j.findings,
        ruleset_hash: Some(j.ruleset_hash),
    };
    let mut run = RunInfo::from_footer(&trace.header, trace.footer.as_ref());
    run.error = error.map(String::from);
    run.notes.extend(j.notes);
    let report = Report::build(&trace.header, &trace.events, input, run);
    // The report may refine a run state (a benign-looking run with a timed-out phase
    // is `timed-out`); its verdict is the one the exit code follows.
    let verdict = report.verdict;
    (report, verdict)
}

/// Renders a report; `to_terminal` enables colour for the human format.
pub fn render(report: &Report, trace: &Trace, format: Format, to_terminal: bool) -> Result<String> {
    Ok(match format {
        Format::Human => {
            let color = to_terminal
                && std::io::stdout().is_terminal()
                && std::env::var_os("NO_COLOR").is_none();
            airlock_report::render_human(report, color)
        }
        Format::Json => airlock_report::render_json(report)?,
        Format::Sarif => airlock_report::render_sarif(report)?,
        Format::Osv => airlock_report::render_osv(report, airlock_events::now())?,
        Format::Html => {
            let timeline = Timeline::build(
                &trace.header,
                &trace.events,
                airlock_report::DEFAULT_TIMELINE_CAP,
            );
            airlock_report::render_html(report, Some(&timeline))
        }
    })
}
