//! The bridge between analyses and the verdict store: where the store file is
//! (`--store`, `$AIRLOCK_STORE`, the user's cache directory), how one analysis is
//! recorded (artifact key, compressed trace, verdict and report under the current
//! ruleset), and how a stored run is judged again without the sandbox. `scan`, the
//! install wrappers, `rejudge` and the service all go through here, so they agree on
//! what a cache hit is.

use std::path::PathBuf;

use airlock_events::{Ecosystem, PackageRef, Trace, Verdict};
use airlock_report::Report;
use airlock_rules::Ruleset;
use airlock_store::{ArtifactKey, CachedVerdict, RunId, RunRecord, Store, VerdictRecord};
use anyhow::{anyhow, Context, Result};

use crate::judging;
use crate::pipeline::Analyzed;

/// `--store PATH` (or `$AIRLOCK_STORE`), shared by every command that uses the store.
#[derive(clap::Args, Debug, Clone, Default)]
pub struct StoreArgs {
    /// The verdict store (default: $AIRLOCK_STORE, else ~/.cache/airlock/store.sqlite3).
    #[arg(long, env = "AIRLOCK_STORE", value_name = "PATH", global = true)]
    pub store: Option<PathBuf>,
    /// A PostgreSQL database instead of the SQLite file: postgres://user:password@host/db.
    #[arg(
        long,
        env = "AIRLOCK_DATABASE",
        value_name = "URL",
        global = true,
        hide_env_values = true
    )]
    pub database: Option<String>,
}

impl StoreArgs {
    /// The store file this command uses.
    pub fn path(&self) -> Result<PathBuf> {
        match &self.store {
            Some(p) => Ok(p.clone()),
            None => Store::default_path().ok_or_else(|| {
                anyhow!("no store location: set --store, AIRLOCK_STORE, XDG_CACHE_HOME or HOME")
            }),
        }
    }

    /// Opens (creating if needed) the store: the `--database` one when given.
    pub fn open(&self) -> Result<Store> {
        if let Some(url) = &self.database {
            return Store::connect(url).context("connecting to the verdict database");
        }
        let path = self.path()?;
        Store::open(&path).with_context(|| format!("opening the verdict store {}", path.display()))
    }
}

/// The store key of an analyzed package.
pub fn artifact_key(p: &PackageRef) -> ArtifactKey {
    ArtifactKey {
        ecosystem: p.ecosystem.unwrap_or_default(),
        name: p.name.clone(),
        version: p.version.clone(),
        sha256: p.sha256.clone(),
        integrity: p.integrity.clone(),
    }
}

/// Records one analysis (trace, verdict and report) under `ruleset_hash`.
pub fn record(store: &Store, a: &Analyzed, ruleset_hash: &str) -> Result<RunId> {
    record_parts(store, &a.trace, &a.report, a.verdict, ruleset_hash)
}

/// [`record`] from its parts.
pub fn record_parts(
    store: &Store,
    trace: &Trace,
    report: &Report,
    verdict: Verdict,
    ruleset_hash: &str,
) -> Result<RunId> {
    let mut jsonl = Vec::new();
    trace.write(&mut jsonl).context("serializing the trace")?;
    let report_json = serde_json::to_vec(report).context("serializing the report")?;
    let run = RunRecord {
        run_id: &trace.header.run_id,
        started_at: trace.header.started_at,
        duration_ms: report.run.duration_ms,
        image: trace.header.image.as_deref(),
        complete: trace.is_complete(),
        trace_jsonl: &jsonl,
    };
    let v = VerdictRecord {
        ruleset_hash,
        verdict,
        score: report.score,
        report_json: &report_json,
    };
    Ok(store.record_run(&artifact_key(&trace.header.package), &run, &v)?)
}

/// The error a stored run was cut short by, as the engine notes it in the footer.
pub fn run_error(footer: Option<&airlock_events::TraceFooter>) -> Option<String> {
    footer.and_then(|f| {
        f.gaps
            .iter()
            .find_map(|g| g.strip_prefix("run aborted: ").map(String::from))
    })
}

/// Judges a stored run under `rules` and stores that verdict (no sandbox).
pub fn rejudge_run(store: &Store, rules: &Ruleset, run: RunId) -> Result<(Report, Verdict)> {
    // Streamed from the compressed blob: a huge stored trace is never whole in memory.
    let input = store.trace_reader(run)?;
    let judged = judging::judge_stream(rules, input, false, run_error)
        .map_err(|e| anyhow!("stored trace of run {run}: {e}"))?;
    let (report, verdict) = (judged.report, judged.verdict);
    let report_json = serde_json::to_vec(&report).context("serializing the report")?;
    store.add_verdict(
        run,
        &VerdictRecord {
            ruleset_hash: rules.hash(),
            verdict,
            score: report.score,
            report_json: &report_json,
        },
    )?;
    Ok((report, verdict))
}

/// A stored run under a project's waivers. The store keeps the unwaived verdict (one
/// store serves many projects); when a waiver (live or expired) names `package`, the
/// stored trace is judged again with the waivers and that judgement is returned.
/// `None`: no waiver names the package, the stored verdict stands.
pub fn waived(
    store: &Store,
    rules: &Ruleset,
    waivers: Option<&airlock_rules::Waivers>,
    run: RunId,
    package: &PackageRef,
) -> Result<Option<(Report, Verdict)>> {
    if !judging::waivers_cover(waivers, package) {
        return Ok(None);
    }
    let input = store.trace_reader(run)?;
    let judged = judging::judge_stream_waived(rules, input, false, run_error, waivers)
        .map_err(|e| anyhow!("stored trace of run {run}: {e}"))?;
    Ok(Some((judged.report, judged.verdict)))
}

/// Whether a cached verdict can stand in for an analysis: a finished run with a real
/// verdict. Errors, time-outs and incomplete runs are analyzed again.
pub fn usable(hit: &CachedVerdict) -> bool {
    hit.run_complete
        && matches!(
            hit.verdict,
            Verdict::Benign | Verdict::Suspicious | Verdict::Malicious
        )
        // An incomplete run that already proved malice stays malicious.
        || hit.verdict == Verdict::Malicious
}

/// Looks an artifact up and brings the verdict up to date: a verdict from an older
/// ruleset is replaced by judging the stored trace again. Returns `None` for a miss
/// (or a hit that cannot stand in for an analysis, see [`usable`]).
pub fn lookup_current(
    store: &Store,
    rules: &Ruleset,
    ecosystem: Ecosystem,
    name: &str,
    version: &str,
    hash: Option<&str>,
) -> Result<Option<CachedVerdict>> {
    let hit = store.lookup(ecosystem, name, version, hash, Some(rules.hash()))?;
    refresh(store, rules, hit)
}

/// Rejudges a hit made under an older ruleset, when its trace is still stored.
pub fn refresh(
    store: &Store,
    rules: &Ruleset,
    hit: Option<CachedVerdict>,
) -> Result<Option<CachedVerdict>> {
    let Some(mut hit) = hit else { return Ok(None) };
    if !hit.ruleset_matches {
        match rejudge_run(store, rules, hit.run) {
            Ok((report, verdict)) => {
                hit.verdict = verdict;
                hit.score = report.score;
                hit.ruleset_hash = rules.hash().to_string();
                hit.ruleset_matches = true;
            }
            Err(e) => {
                // The trace is gone (gc) or unreadable: the old verdict is all there is.
                tracing::debug!(run = %hit.run, error = %e, "cannot rejudge a cached run");
            }
        }
    }
    Ok(usable(&hit).then_some(hit))
}

/// The top findings of a stored report, as `rule: message` lines.
pub fn top_findings(report: &serde_json::Value, n: usize) -> Vec<String> {
    report["findings"]
        .as_array()
        .map(|f| {
            f.iter()
                .take(n)
                .map(|f| {
                    format!(
                        "{} ({}): {}",
                        f["rule"].as_str().unwrap_or("?"),
                        f["severity"].as_str().unwrap_or("?"),
                        f["message"].as_str().unwrap_or("")
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejudging_a_stored_run_streams_it_to_the_same_report() {
        let rules = judging::load_rules(Some(std::path::Path::new(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../../rules"
        ))))
        .unwrap();
        let fixture = std::fs::read(concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/../airlock-report/tests/fixtures/postinstall-exfil.jsonl"
        ))
        .unwrap();
        let mut trace = Trace::read(fixture.as_slice()).unwrap();
        // A run the engine aborted: the footer names the error.
        if let Some(f) = trace.footer.as_mut() {
            f.gaps.push("run aborted: sandbox went away".into());
        }
        let (report, verdict) =
            judging::judge(&rules, &trace, run_error(trace.footer.as_ref()).as_deref());
        let dir = tempfile::tempdir().unwrap();
        let store = Store::open(dir.path().join("s.sqlite3")).unwrap();
        let run = record_parts(&store, &trace, &report, verdict, "an-older-ruleset").unwrap();
        let (again, v) = rejudge_run(&store, &rules, run).unwrap();
        assert_eq!(v, verdict);
        assert_eq!(again, report);
        assert_eq!(again.error.as_deref(), Some("sandbox went away"));
    }
}
