//! Judging and rendering, shared by `scan` and `judge`: load the ruleset, run it over a
//! trace, fold trace and judgement into the report, and render the format asked for.
//! A stored trace (`judge`, `rejudge`) is judged as it streams past: the rules and the
//! report take each event once and keep only bounded state, so a trace of millions of
//! events never sits in memory.

use std::io::{BufRead, IsTerminal};
use std::path::{Path, PathBuf};

use airlock_events::{Record, Trace, TraceError, TraceFooter, TraceReader, Verdict};
use airlock_report::{
    JudgementInput, Report, ReportBuilder, RunInfo, Timeline, TimelineBuilder, DEFAULT_TIMELINE_CAP,
};
use airlock_rules::waiver::{Date, Waivers, WAIVER_FILE};
use airlock_rules::{Judgement, Ruleset};
use anyhow::{anyhow, Result};

use crate::Format;

/// Where the rules are: `--rules`, then `$AIRLOCK_RULES`, then the ruleset embedded in
/// this binary (written to the user's cache on first use).
pub fn rules_dir(explicit: Option<&Path>) -> Result<PathBuf> {
    if let Some(p) = explicit {
        return Ok(p.to_path_buf());
    }
    if let Some(p) = std::env::var_os("AIRLOCK_RULES") {
        return Ok(PathBuf::from(p));
    }
    crate::rules::embedded_dir()
}

pub fn load_rules(explicit: Option<&Path>) -> Result<Ruleset> {
    let dir = rules_dir(explicit)?;
    Ruleset::load_dir(&dir).map_err(|errors| {
        let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
        anyhow!(
            "the ruleset in {} does not load:\n{}",
            dir.display(),
            text.join("\n")
        )
    })
}

/// Where the project's waivers come from (`airlock.toml`, see `airlock_rules::waiver`).
#[derive(clap::Args, Debug, Clone, Default)]
pub struct WaiverArgs {
    /// The project file of waivers (default: the first `airlock.toml` in the current
    /// directory or a parent, when there is one). A waived finding stays in the report, marked, and no longer
    /// counts toward the verdict.
    #[arg(long, value_name = "FILE", conflicts_with = "no_waivers")]
    pub waivers: Option<PathBuf>,
    /// Ignore every waiver file.
    #[arg(long)]
    pub no_waivers: bool,
}

impl WaiverArgs {
    /// The waivers to apply: `--waivers FILE`, else `airlock.toml` in `dir` or a parent
    /// if present. A file that does not parse, or a waiver of a rule `rules` does not
    /// have (a typo would never apply), is an error that names its lines (exit 2).
    pub fn load(&self, dir: &Path, rules: &Ruleset) -> Result<Option<Waivers>> {
        let waivers = self.parse(dir)?;
        if let Some(w) = &waivers {
            let unknown: Vec<String> = (w.waivers.iter())
                .filter(|w| rules.rule(&w.rule).is_none())
                .map(|u| {
                    format!(
                        "{}:{}: waiver of `{}`: this ruleset has no such rule",
                        w.file.display(),
                        u.line,
                        u.rule
                    )
                })
                .collect();
            if !unknown.is_empty() {
                return Err(anyhow!(
                    "the waiver file {} does not load:\n{}",
                    w.file.display(),
                    unknown.join("\n")
                ));
            }
        }
        Ok(waivers)
    }

    fn parse(&self, dir: &Path) -> Result<Option<Waivers>> {
        if self.no_waivers {
            return Ok(None);
        }
        let loaded = match &self.waivers {
            Some(file) => Waivers::load(file).map(Some),
            None => Waivers::discover(dir),
        };
        loaded.map_err(|errors| {
            let file = self
                .waivers
                .clone()
                .unwrap_or_else(|| dir.join(WAIVER_FILE));
            let text: Vec<String> = errors.iter().map(|e| e.to_string()).collect();
            anyhow!(
                "the waiver file {} does not load:\n{}",
                file.display(),
                text.join("\n")
            )
        })
    }
}

/// Whether any waiver (live or expired) names this package: only then is a trace
/// judged again with them (an expired one still earns its warning).
pub fn waivers_cover(waivers: Option<&Waivers>, package: &airlock_events::PackageRef) -> bool {
    waivers.is_some_and(|w| {
        let (live, expired) = w.for_package(package, Date::today());
        !live.is_empty() || !expired.is_empty()
    })
}

/// An analysis judged again under the project's waivers, when one names its package
/// (`None`: no waiver does, the judgement made without them stands). The in-memory twin
/// of `store_glue::waived`.
pub fn rejudge_if_waived(
    rules: &Ruleset,
    trace: &Trace,
    error: Option<&str>,
    waivers: Option<&Waivers>,
) -> Option<(Report, Verdict)> {
    waivers_cover(waivers, &trace.header.package)
        .then(|| judge_waived(rules, trace, error, waivers))
}

/// Judges a trace; a run error overrides the verdict (never benign).
pub fn judge(rules: &Ruleset, trace: &Trace, error: Option<&str>) -> (Report, Verdict) {
    judge_waived(rules, trace, error, None)
}

/// [`judge`], then the project's waivers: the findings they cover are marked and the
/// verdict is decided again without them (expired waivers become report notes).
pub fn judge_waived(
    rules: &Ruleset,
    trace: &Trace,
    error: Option<&str>,
    waivers: Option<&Waivers>,
) -> (Report, Verdict) {
    // One event copied at a time, not a second copy of the whole trace.
    let records = (trace.events.iter().cloned().map(Record::Event))
        .chain(trace.footer.iter().cloned().map(Record::Footer));
    let j = rules.judge(&trace.header, records);
    let (input, run) = conclude(
        rules,
        &trace.header,
        trace.footer.as_ref(),
        j,
        error,
        waivers,
    );
    let report = Report::build(&trace.header, &trace.events, input, run);
    // The report may refine a run state (a benign-looking run with a timed-out phase
    // is `timed-out`); its verdict is the one the exit code follows.
    let verdict = report.verdict;
    (report, verdict)
}

/// The judgement as the report takes it, and the run's facts: a run error makes the
/// verdict `error` unless what ran already proved the package malicious.
fn conclude(
    rules: &Ruleset,
    header: &airlock_events::TraceHeader,
    footer: Option<&TraceFooter>,
    mut j: Judgement,
    error: Option<&str>,
    waivers: Option<&Waivers>,
) -> (JudgementInput, RunInfo) {
    let mut warnings = Vec::new();
    if let Some(w) = waivers {
        warnings = rules.apply_waivers(&mut j, &header.package, w, Date::today());
    }
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
    let mut run = RunInfo::from_footer(header, footer);
    run.error = error.map(String::from);
    run.notes.extend(j.notes);
    run.notes.extend(warnings);
    (input, run)
}

/// A stored trace judged as it streamed past.
pub struct Streamed {
    pub report: Report,
    pub verdict: Verdict,
    /// The HTML report's timeline, when asked for.
    pub timeline: Option<Timeline>,
}

/// Judges a JSON Lines trace in one pass without holding it: each record is parsed,
/// offered to the rules, folded into the report (and the first events into the timeline
/// when `timeline`), and dropped. `error_of` names the run error a footer records. A
/// trace that does not parse is an error, as when it is read whole.
pub fn judge_stream<R: BufRead>(
    rules: &Ruleset,
    input: R,
    timeline: bool,
    error_of: impl FnOnce(Option<&TraceFooter>) -> Option<String>,
) -> Result<Streamed, TraceError> {
    judge_stream_waived(rules, input, timeline, error_of, None)
}

/// [`judge_stream`] with the project's waivers applied (see [`judge_waived`]).
pub fn judge_stream_waived<R: BufRead>(
    rules: &Ruleset,
    input: R,
    timeline: bool,
    error_of: impl FnOnce(Option<&TraceFooter>) -> Option<String>,
    waivers: Option<&Waivers>,
) -> Result<Streamed, TraceError> {
    let mut reader = TraceReader::new(input);
    let header = match reader.next() {
        Some(Ok(Record::Header(h))) => h,
        Some(Err(e)) => return Err(e),
        _ => {
            return Err(TraceError::Parse {
                line: 1,
                message: "trace does not start with a header record".into(),
            })
        }
    };
    let mut report = ReportBuilder::new(&header);
    let mut timeline = timeline.then(|| TimelineBuilder::new(&header, DEFAULT_TIMELINE_CAP));
    let mut footer: Option<TraceFooter> = None;
    let mut failure = None;
    // Record 0 was the header, so record i + 1 of the trace comes with index i.
    let records = reader.enumerate().map_while(|(i, rec)| match rec {
        Ok(Record::Event(e)) => {
            report.event(&e);
            if let Some(t) = &mut timeline {
                t.event(&e);
            }
            Some(Record::Event(e))
        }
        Ok(Record::Footer(f)) => {
            footer = Some(f.clone());
            Some(Record::Footer(f))
        }
        Ok(Record::Header(_)) => {
            failure = Some(TraceError::Parse {
                line: i as u64 + 2,
                message: "second header".into(),
            });
            None
        }
        Err(e) => {
            failure = Some(e);
            None
        }
    });
    let j = rules.judge(&header, records);
    if let Some(e) = failure {
        return Err(e);
    }
    let error = error_of(footer.as_ref());
    let (input, run) = conclude(
        rules,
        &header,
        footer.as_ref(),
        j,
        error.as_deref(),
        waivers,
    );
    let report = report.finish(input, run);
    Ok(Streamed {
        verdict: report.verdict,
        report,
        timeline: timeline.map(TimelineBuilder::finish),
    })
}

/// Renders a report; `to_terminal` enables colour for the human format.
pub fn render(report: &Report, trace: &Trace, format: Format, to_terminal: bool) -> Result<String> {
    let timeline = (format == Format::Html)
        .then(|| Timeline::build(&trace.header, &trace.events, DEFAULT_TIMELINE_CAP));
    render_with(report, timeline.as_ref(), format, to_terminal)
}

/// [`render`] with the timeline already built (the HTML report shows it when given).
pub fn render_with(
    report: &Report,
    timeline: Option<&Timeline>,
    format: Format,
    to_terminal: bool,
) -> Result<String> {
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
        Format::Html => airlock_report::render_html(report, timeline),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rules() -> Ruleset {
        load_rules(Some(Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../rules"
        ))))
        .unwrap()
    }

    /// The streamed judgement must be the one made over the whole trace in memory.
    fn same_as_in_memory(rules: &Ruleset, jsonl: &[u8]) -> Report {
        let trace = Trace::read(jsonl).unwrap();
        let (whole, verdict) = judge(rules, &trace, None);
        let streamed = judge_stream(rules, jsonl, true, |_| None).unwrap();
        assert_eq!(streamed.verdict, verdict);
        assert_eq!(streamed.report, whole);
        let timeline = Timeline::build(&trace.header, &trace.events, DEFAULT_TIMELINE_CAP);
        assert_eq!(streamed.timeline.as_ref(), Some(&timeline));
        whole
    }

    #[test]
    fn streamed_judgement_equals_the_whole_trace_one() {
        let rules = rules();
        let fixture = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../airlock-report/tests/fixtures/postinstall-exfil.jsonl"
        ))
        .unwrap();
        let r = same_as_in_memory(&rules, &fixture);
        assert!(!r.findings.is_empty());
        // A busy synthetic install: findings whose evidence names files.
        let mut synth = Vec::new();
        let header = Record::Header(airlock_rules::synth::header());
        serde_json::to_writer(&mut synth, &header).unwrap();
        synth.push(b'\n');
        for rec in airlock_rules::synth::records(20_000) {
            serde_json::to_writer(&mut synth, &rec).unwrap();
            synth.push(b'\n');
        }
        let r = same_as_in_memory(&rules, &synth);
        assert_eq!(r.counts.events, 20_000);
    }

    #[test]
    fn streamed_judgement_rejects_what_reading_rejects() {
        let rules = rules();
        let fixture = std::fs::read_to_string(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../airlock-report/tests/fixtures/postinstall-exfil.jsonl"
        ))
        .unwrap();
        let mut lines: Vec<&str> = fixture.lines().collect();
        // no header
        let e = judge_stream(&rules, lines[1..].join("\n").as_bytes(), false, |_| None)
            .err()
            .unwrap();
        assert!(e.to_string().contains("header"), "{e}");
        // a bad line
        lines.insert(3, "{not json");
        let text = lines.join("\n");
        let e = judge_stream(&rules, text.as_bytes(), false, |_| None)
            .err()
            .unwrap();
        assert_eq!(
            e.to_string(),
            Trace::read(text.as_bytes()).unwrap_err().to_string()
        );
        // a run error named by the footer reaches the report
        let judged = judge_stream(&rules, fixture.as_bytes(), false, |f| {
            f.map(|_| "boom".to_string())
        })
        .unwrap();
        assert_eq!(judged.report.error.as_deref(), Some("boom"));
    }
}
