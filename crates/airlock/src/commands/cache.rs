//! `airlock cache ls|show|clear|gc` and `airlock rejudge`: the user's view of the verdict
//! store. Listing and showing read it; `rejudge` runs the current ruleset over every
//! stored trace that has no verdict from it yet (no sandbox), so a new rule reaches
//! packages analyzed before it existed.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::time::Duration;

use airlock_events::{Ecosystem, Verdict};
use airlock_store::{ArtifactQuery, Filter, Store};
use anyhow::{bail, Result};
use clap::Subcommand;

use crate::commands::scan;
use crate::judging;
use crate::store_glue::{self, StoreArgs};

#[derive(Subcommand)]
pub enum CacheAction {
    /// List stored artifacts with their latest verdict.
    Ls {
        #[command(flatten)]
        filter: FilterArgs,
        /// One JSON array on stdout.
        #[arg(long)]
        json: bool,
    },
    /// Show one artifact: its runs, verdicts and the latest report.
    Show {
        /// `name@version` (npm) or `pypi:name==version`.
        spec: String,
        /// Pick one artifact by sha256 hex or npm integrity.
        #[arg(long)]
        hash: Option<String>,
        /// The stored record and report as one JSON object.
        #[arg(long)]
        json: bool,
    },
    /// Delete stored artifacts (with their runs, traces and verdicts).
    Clear {
        #[command(flatten)]
        filter: FilterArgs,
        /// Delete everything (required when no filter is given).
        #[arg(long)]
        all: bool,
    },
    /// Drop traces older than DAYS (verdicts stay) and finished service jobs.
    Gc {
        #[arg(long, default_value_t = 30)]
        older_than_days: u64,
    },
}

#[derive(clap::Args, Debug, Default)]
pub struct FilterArgs {
    /// `npm` or `pypi`.
    #[arg(long, value_parser = parse_ecosystem)]
    pub ecosystem: Option<Ecosystem>,
    /// Exact package name.
    #[arg(long)]
    pub name: Option<String>,
    /// Exact version.
    #[arg(long)]
    pub version: Option<String>,
    /// Latest verdict (benign, suspicious, malicious, error, timed-out, not-evaluated).
    #[arg(long, value_parser = parse_verdict)]
    pub verdict: Option<Verdict>,
}

impl FilterArgs {
    fn filter(&self) -> Filter {
        Filter {
            ecosystem: self.ecosystem,
            name: self.name.clone(),
            version: self.version.clone(),
            verdict: self.verdict,
        }
    }

    fn is_empty(&self) -> bool {
        self.ecosystem.is_none()
            && self.name.is_none()
            && self.version.is_none()
            && self.verdict.is_none()
    }
}

fn parse_ecosystem(s: &str) -> Result<Ecosystem, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| format!("unknown ecosystem {s:?} (npm or pypi)"))
}

fn parse_verdict(s: &str) -> Result<Verdict, String> {
    serde_json::from_value(serde_json::Value::String(s.to_ascii_lowercase()))
        .map_err(|_| format!("unknown verdict {s:?}"))
}

#[derive(clap::Args)]
pub struct RejudgeArgs {
    #[command(flatten)]
    pub store: StoreArgs,
    /// Rules directory (default: $AIRLOCK_RULES, else the ruleset built into airlock).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    /// One JSON object on stdout.
    #[arg(long)]
    pub json: bool,
}

/// `ecosystem, name, version` from `name@version`, `npm:name@version`,
/// `pypi:name==version` or `name==version`.
pub fn parse_artifact_spec(spec: &str) -> Result<(Ecosystem, String, String)> {
    for eco in airlock_ecosystem::all() {
        match eco.parse_pinned(spec) {
            Some(Ok((n, v))) => return Ok((eco.id(), n, v)),
            Some(Err(expected)) => bail!("{spec}: expected {expected}"),
            None => {}
        }
    }
    bail!("{spec}: expected name@version or pypi:name==version")
}

pub fn cache(store: &StoreArgs, action: CacheAction) -> u8 {
    let result = (|| -> Result<u8> {
        let s = store.open()?;
        match action {
            CacheAction::Ls { filter, json } => ls(&s, &filter, json),
            CacheAction::Show { spec, hash, json } => show(&s, &spec, hash, json),
            CacheAction::Clear { filter, all } => {
                if filter.is_empty() && !all {
                    bail!("refusing to clear the whole store without --all");
                }
                let n = s.clear(&filter.filter())?;
                println!("removed {n} artifact(s) from {}", s.location());
                Ok(0)
            }
            CacheAction::Gc { older_than_days } => {
                let st = s.gc(Duration::from_secs(older_than_days * 86_400))?;
                println!(
                    "removed {} trace(s) ({} bytes) and {} finished job(s)",
                    st.traces_removed, st.bytes_freed, st.jobs_removed
                );
                Ok(0)
            }
        }
    })();
    finish(result)
}

fn ls(s: &Store, filter: &FilterArgs, json: bool) -> Result<u8> {
    let rows = s.list(&filter.filter())?;
    if json {
        println!("{}", serde_json::to_string_pretty(&rows)?);
        return Ok(0);
    }
    if rows.is_empty() {
        eprintln!(
            "airlock: the store {} holds no matching artifact",
            s.location()
        );
        return Ok(0);
    }
    let width = rows
        .iter()
        .map(|r| r.artifact.spec().len() + r.artifact.ecosystem.to_string().len() + 1)
        .max()
        .unwrap_or(10);
    println!(
        "{:<width$}  {:<13} {:>6}  {:>4}  JUDGED",
        "ARTIFACT", "VERDICT", "SCORE", "RUNS"
    );
    for r in &rows {
        let name = format!("{}:{}", r.artifact.ecosystem, r.artifact.spec());
        let verdict = r.verdict.map(|v| v.as_str()).unwrap_or("-");
        let score = r
            .score
            .map(|s| format!("{s:.1}"))
            .unwrap_or_else(|| "-".into());
        let judged = r.judged_at_ms.map(age).unwrap_or_else(|| "-".into());
        println!(
            "{name:<width$}  {verdict:<13} {score:>6}  {:>4}  {judged}",
            r.runs
        );
    }
    Ok(0)
}

fn show(s: &Store, spec: &str, hash: Option<String>, json: bool) -> Result<u8> {
    let (ecosystem, name, version) = parse_artifact_spec(spec)?;
    let q = ArtifactQuery {
        ecosystem,
        name,
        version,
        hash,
    };
    let Some(d) = s.show(&q)? else {
        eprintln!("airlock: {spec} is not in the store {}", s.location());
        return Ok(1);
    };
    if json {
        println!("{}", serde_json::to_string_pretty(&d)?);
        return Ok(0);
    }
    println!("{}:{}", d.artifact.ecosystem, d.artifact.spec());
    if let Some(h) = &d.artifact.sha256 {
        println!("  sha256     {h}");
    }
    if let Some(i) = &d.artifact.integrity {
        println!("  integrity  {i}");
    }
    let current = judging::load_rules(None).ok().map(|r| r.hash().to_string());
    let remark = match current {
        Some(c) if c != d.latest.ruleset_hash => ", not the current ruleset (airlock rejudge)",
        _ => "",
    };
    println!(
        "  verdict    {} (score {:.1}, ruleset {}{remark})",
        d.latest.verdict,
        d.latest.score,
        short(&d.latest.ruleset_hash),
    );
    for r in &d.runs {
        let verdicts: Vec<String> = r
            .verdicts
            .iter()
            .map(|v| format!("{} by {}", v.verdict, short(&v.ruleset_hash)))
            .collect();
        println!(
            "  run {} {}  {}{}  {}",
            r.run_id,
            r.duration_ms.map(|d| format!("{d} ms")).unwrap_or_default(),
            if r.complete { "complete" } else { "incomplete" },
            if r.trace_kept { "" } else { ", trace removed" },
            verdicts.join(", ")
        );
    }
    println!();
    match serde_json::from_value::<airlock_report::Report>(d.report.clone()) {
        Ok(report) => {
            let color = std::io::stdout().is_terminal() && std::env::var_os("NO_COLOR").is_none();
            print!("{}", airlock_report::render_human(&report, color));
        }
        Err(_) => {
            for f in store_glue::top_findings(&d.report, usize::MAX) {
                println!("  {f}");
            }
        }
    }
    Ok(scan::exit_code(d.latest.verdict, crate::FailOn::Malicious))
}

pub fn rejudge(args: RejudgeArgs) -> u8 {
    let result = (|| -> Result<u8> {
        let rules = judging::load_rules(args.rules.as_deref())?;
        let s = args.store.open()?;
        let items = s.traces_needing_rejudge(rules.hash())?;
        let mut changed = Vec::new();
        let mut failed = 0usize;
        for item in &items {
            let a = &item.artifact;
            let before = s
                .lookup(a.ecosystem, &a.name, &a.version, a.sha256.as_deref(), None)?
                .map(|h| h.verdict);
            match store_glue::rejudge_run(&s, &rules, item.run) {
                Ok((_, after)) => {
                    if before != Some(after) {
                        if !args.json {
                            println!(
                                "{}:{}  {} -> {}",
                                a.ecosystem,
                                a.spec(),
                                before.map(|v| v.as_str()).unwrap_or("-"),
                                after
                            );
                        }
                        changed.push(serde_json::json!({
                            "ecosystem": a.ecosystem, "name": a.name, "version": a.version,
                            "run_id": item.run_id,
                            "before": before, "after": after,
                        }));
                    }
                }
                Err(e) => {
                    failed += 1;
                    eprintln!(
                        "airlock: {}: cannot rejudge run {}: {e:#}",
                        a.spec(),
                        item.run_id
                    );
                }
            }
        }
        if args.json {
            let out = serde_json::json!({
                "ruleset": rules.hash(),
                "rejudged": items.len() - failed,
                "failed": failed,
                "changed": changed,
            });
            println!("{}", serde_json::to_string_pretty(&out)?);
        } else {
            eprintln!(
                "airlock: rejudged {} stored run(s) under ruleset {}; {} verdict(s) changed",
                items.len() - failed,
                short(rules.hash()),
                changed.len()
            );
        }
        Ok(if failed > 0 { 2 } else { 0 })
    })();
    finish(result)
}

fn finish(result: Result<u8>) -> u8 {
    match result {
        Ok(c) => c,
        Err(e) => {
            crate::commands::print_error(&e);
            2
        }
    }
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

/// "3m ago", "2h ago", "5d ago".
fn age(ms: i64) -> String {
    let now = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as i64)
        .unwrap_or(0);
    let s = (now - ms).max(0) / 1000;
    match s {
        s if s < 60 => format!("{s}s ago"),
        s if s < 3600 => format!("{}m ago", s / 60),
        s if s < 86_400 => format!("{}h ago", s / 3600),
        s => format!("{}d ago", s / 86_400),
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    #[test]
    fn artifact_specs() {
        let (e, n, v) = parse_artifact_spec("left-pad@1.3.0").unwrap();
        assert_eq!(
            (e, n.as_str(), v.as_str()),
            (Ecosystem::Npm, "left-pad", "1.3.0")
        );
        let (e, n, v) = parse_artifact_spec("@scope/x@2.0.0").unwrap();
        assert_eq!(
            (e, n.as_str(), v.as_str()),
            (Ecosystem::Npm, "@scope/x", "2.0.0")
        );
        let (e, n, v) = parse_artifact_spec("pypi:requests==2.31.0").unwrap();
        assert_eq!(
            (e, n.as_str(), v.as_str()),
            (Ecosystem::Pypi, "requests", "2.31.0")
        );
        assert!(parse_artifact_spec("left-pad").is_err());
        assert!(parse_artifact_spec("@scope/x").is_err());
    }
}
