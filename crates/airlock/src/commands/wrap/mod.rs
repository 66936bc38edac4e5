//! The install wrappers (`airlock npm install|ci`, `airlock pip install`): resolve the
//! whole tree without running anything, look every artifact up in the verdict store,
//! analyze the misses in parallel in the sandbox, and only then let the real package
//! manager install exactly what was analyzed. This module holds what both ecosystems
//! share: the flags, the cache-then-sandbox check with its progress display, the
//! decision (refuse, ask, go) and the summary; `npm` and `pip` hold the resolution and
//! the real install.

mod argv;
mod gate;
mod lockfile;
mod npm;
mod pip;
mod progress;

use std::io::{BufRead, IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;

use airlock_events::{Ecosystem, PackageRef, Verdict};
use airlock_report::Report;
use airlock_rules::{Ruleset, Waivers};
use airlock_sandbox::Tracker;
use airlock_store::{ArtifactQuery, Store};
use anyhow::Result;
use serde::Serialize;

use crate::store_glue::{self, StoreArgs};
use crate::{pipeline, FailOn};
use airlock_ecosystem::release_age::{ReleaseAge, ReleaseGate, ReleaseStatus};
use airlock_ecosystem::Input;
use airlock_engine::ScanOptions;
pub use gate::ReleaseAgeArgs;

/// Flags shared by the wrappers. They go before the package manager's command:
/// `airlock npm --concurrency 4 install lodash`.
#[derive(clap::Args, Debug, Clone)]
pub struct WrapOptions {
    /// Refuse to install when a package's verdict is at or above this level.
    /// `malicious` (default): malicious refuses, suspicious asks (or fails in CI).
    #[arg(long, value_enum, default_value_t = FailOn::Malicious)]
    pub fail_on: FailOn,
    /// Install even if packages are suspicious (never when malicious).
    #[arg(long)]
    pub allow_suspicious: bool,
    /// Sandboxes run at once (default: the number of CPUs).
    #[arg(long)]
    pub concurrency: Option<usize>,
    /// Use cached verdicts only: a package without one is an error, nothing is analyzed.
    #[arg(long)]
    pub offline: bool,
    /// Print one JSON summary on stdout (the package manager's output goes to stderr).
    #[arg(long)]
    pub json: bool,
    /// A local OSV export (directory or zip) checked against the lockfile.
    #[arg(long, env = "AIRLOCK_OSV")]
    pub osv: Option<PathBuf>,
    #[command(flatten)]
    pub store: StoreArgs,
    /// Rules directory (default: $AIRLOCK_RULES, else the ruleset built into airlock).
    #[arg(long)]
    pub rules: Option<PathBuf>,
    #[command(flatten)]
    pub sandbox: crate::commands::sandbox_args::SandboxArgs,
    /// The package manager binary to run (default: `npm` / `python3 -m pip`).
    #[arg(long, env = "AIRLOCK_REAL_PM")]
    pub real: Option<String>,
    #[command(flatten)]
    pub waivers: crate::judging::WaiverArgs,
    #[command(flatten)]
    pub release_age: ReleaseAgeArgs,
}

#[derive(clap::Args)]
pub struct NpmArgs {
    #[command(flatten)]
    pub opts: WrapOptions,
    /// npm's command and its arguments, as you would give them to npm.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub args: Vec<String>,
}

#[derive(clap::Args)]
pub struct PipArgs {
    #[command(flatten)]
    pub opts: WrapOptions,
    /// PyPI index the analyses fetch from (pip's own `-i` is honoured for resolution).
    #[arg(long, env = "AIRLOCK_PYPI_INDEX", default_value = airlock_ecosystem::pypi::DEFAULT_INDEX)]
    pub pypi_index: String,
    /// pip's command and its arguments, as you would give them to pip.
    #[arg(trailing_var_arg = true, allow_hyphen_values = true, required = true)]
    pub args: Vec<String>,
}

pub async fn npm(args: NpmArgs) -> u8 {
    let tracker = Tracker::new();
    guarded(&tracker, npm::run(args, tracker.clone())).await
}

pub async fn pip(args: PipArgs) -> u8 {
    let tracker = Tracker::new();
    guarded(&tracker, pip::run(args, tracker.clone())).await
}

/// Runs a wrapper; SIGINT, SIGTERM or SIGHUP removes the sandboxes in flight (and
/// installs nothing), exiting with 128 + the signal's number.
async fn guarded(tracker: &Tracker, work: impl std::future::Future<Output = Result<u8>>) -> u8 {
    let r = match airlock_sandbox::until_signal(tracker, work).await {
        Ok(r) => r,
        Err(signal) => {
            eprintln!(
                "airlock: {signal}: stopped; the sandboxes are removed, nothing was installed"
            );
            return signal.exit_code();
        }
    };
    match r {
        Ok(code) => code,
        Err(e) => {
            crate::commands::print_error(&e);
            2
        }
    }
}

/// One artifact of the resolved tree (each ecosystem makes its own).
pub use airlock_ecosystem::Pinned as Candidate;

/// Where a verdict came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum From {
    Cache,
    Analysis,
    None,
}

/// The verdict on one candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Checked {
    pub ecosystem: Ecosystem,
    pub name: String,
    pub version: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub hash: Option<String>,
    pub path: Vec<String>,
    pub verdict: Verdict,
    pub score: f64,
    pub from: From,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub run_id: Option<String>,
    /// Top findings, `rule (severity): message`.
    pub findings: Vec<String>,
    /// Findings the project's waivers cover: `rule: reason (until date, file:line)`.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub waived: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
    /// The release-age gate's decision (with `--min-age`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub release: Option<ReleaseAge>,
}

impl Checked {
    fn new(c: &Candidate, verdict: Verdict, from: From) -> Checked {
        Checked {
            ecosystem: c.ecosystem,
            name: c.name.clone(),
            version: c.version.clone(),
            hash: c.hash.clone(),
            path: c.path.clone(),
            verdict,
            score: 0.0,
            from,
            run_id: None,
            findings: Vec::new(),
            waived: Vec::new(),
            error: None,
            release: None,
        }
    }

    /// The release-age gate holds this version back (`--min-age`).
    pub fn pending(&self) -> bool {
        self.release.as_ref().is_some_and(ReleaseAge::pending)
    }

    /// Why the release-age gate keeps this version from being cleared (pending, or its
    /// publish time could not be looked up), unless it is malicious: `airlock approve`
    /// leaves it undecided with this reason (a malicious one is denied all the same).
    pub fn gate_hold(&self) -> Option<String> {
        let r = self.release.as_ref()?;
        let held = r.pending() || r.status == ReleaseStatus::Error;
        (held && self.verdict != Verdict::Malicious).then(|| {
            format!(
                "pending (--min-age): {}",
                r.message.as_deref().unwrap_or("younger than the gate")
            )
        })
    }

    /// The gate could not look this version's publish time up.
    fn gate_failed(&self) -> bool {
        self.release
            .as_ref()
            .is_some_and(|r| r.status == ReleaseStatus::Error)
    }

    /// Takes the verdict and findings of a judgement made with the project's waivers.
    fn waive(&mut self, report: &Report, verdict: Verdict) {
        if self.verdict == Verdict::Error {
            return; // a run or hash error is not the rules' to waive
        }
        self.verdict = verdict;
        self.score = report.score;
        self.findings = top_findings(report);
        self.waived = report
            .findings
            .iter()
            .filter_map(|f| {
                let w = f.waived.as_ref()?;
                Some(format!(
                    "{}: {} (until {}, {})",
                    f.rule, w.reason, w.expires, w.source
                ))
            })
            .collect();
    }

    fn spec(&self) -> String {
        airlock_ecosystem::by_id(self.ecosystem).spec(&self.name, &self.version)
    }
}

/// How many top findings a refusal shows per package.
const TOP_FINDINGS: usize = 3;

/// The package a checked candidate names, as waivers match it.
fn package_ref(ch: &Checked) -> PackageRef {
    PackageRef {
        ecosystem: Some(ch.ecosystem),
        name: ch.name.clone(),
        version: ch.version.clone(),
        ..Default::default()
    }
}

/// The top findings that still count (waived ones are listed apart).
fn top_findings(report: &Report) -> Vec<String> {
    report
        .findings
        .iter()
        .filter(|f| f.waived.is_none())
        .take(TOP_FINDINGS)
        .map(|f| format!("{} ({}): {}", f.rule, f.severity, f.message))
        .collect()
}

/// What the wrapper needs to run analyses.
pub struct Checker {
    pub opts: WrapOptions,
    pub rules: Arc<Ruleset>,
    pub store: Arc<Store>,
    pub tracker: Tracker,
    pub scan: ScanOptions,
    /// The project's waivers (`airlock.toml` in the project, or `--waivers`).
    pub waivers: Option<Arc<Waivers>>,
    /// The release-age gate (`--min-age`), as of the start of the run.
    pub gate: Option<ReleaseGate>,
}

impl Checker {
    /// `project` is where the project's `airlock.toml` is looked for.
    pub fn new(
        opts: &WrapOptions,
        tracker: Tracker,
        pypi_index: &str,
        project: &Path,
    ) -> Result<Checker> {
        let rules = crate::judging::load_rules(opts.rules.as_deref())?;
        let waivers = opts.waivers.load(project, &rules)?.map(Arc::new);
        let store = opts.store.open()?;
        let scan = ScanOptions {
            // The project's .nvmrc / engines.node / requires-python, unless flags say.
            runtimes: opts.sandbox.runtimes_for_project(project),
            ..opts.sandbox.scan_options(
                airlock_ecosystem::npm::DEFAULT_REGISTRY.to_string(),
                pypi_index.to_string(),
            )
        };
        Ok(Checker {
            opts: opts.clone(),
            rules: Arc::new(rules),
            store: Arc::new(store),
            tracker,
            scan,
            waivers,
            gate: opts.release_age.gate(),
        })
    }

    fn concurrency(&self) -> usize {
        self.opts
            .concurrency
            .unwrap_or_else(|| {
                std::thread::available_parallelism()
                    .map(|n| n.get())
                    .unwrap_or(2)
            })
            .max(1)
    }

    /// Verdicts for every candidate: from the store when it has a usable one (rejudged
    /// if an older ruleset made it), else from a sandbox analysis.
    pub async fn check(&self, cands: Vec<Candidate>) -> Result<Vec<Checked>> {
        // The release-age gate first: registry lookups only, seconds at most.
        let ages = match &self.gate {
            Some(g) => gate::assess(g, &cands, &self.scan.sources()).await?,
            None => vec![None; cands.len()],
        };
        let mut checked = self.verdicts(cands).await?;
        for (ch, age) in checked.iter_mut().zip(ages) {
            ch.release = age;
        }
        Ok(checked)
    }

    /// The verdict part of [`Checker::check`].
    async fn verdicts(&self, cands: Vec<Candidate>) -> Result<Vec<Checked>> {
        let store = self.store.clone();
        let rules = self.rules.clone();
        let queries: Vec<ArtifactQuery> = cands
            .iter()
            .map(|c| ArtifactQuery {
                ecosystem: c.ecosystem,
                name: c.name.clone(),
                version: c.version.clone(),
                hash: c.hash.clone(),
            })
            .collect();
        let threads = self.concurrency();
        let hits = tokio::task::spawn_blocking(move || -> Result<Vec<_>> {
            let raw = store.lookup_many(&queries, Some(rules.hash()))?;
            refresh_all(&store, &rules, raw, threads)
        })
        .await??;
        let mut out: Vec<Option<Checked>> = vec![None; cands.len()];
        let mut misses = Vec::new();
        for (i, (c, hit)) in cands.iter().zip(hits).enumerate() {
            if let Some(why) = &c.unanalyzable {
                let mut ch = Checked::new(c, Verdict::Suspicious, From::None);
                ch.findings.push(format!("not analyzable: {why}"));
                out[i] = Some(ch);
                continue;
            }
            match hit {
                Some(h) => {
                    let mut ch = Checked::new(c, h.verdict, From::Cache);
                    ch.score = h.score;
                    ch.run_id = Some(h.run_id.clone());
                    if h.verdict != Verdict::Benign {
                        ch.findings = self.cached_findings(c)?;
                        self.waive_cached(&mut ch, h.run)?;
                    }
                    out[i] = Some(ch);
                }
                None if self.opts.offline => {
                    let mut ch = Checked::new(c, Verdict::Error, From::None);
                    ch.error = Some("no cached verdict (--offline)".into());
                    out[i] = Some(ch);
                }
                None => misses.push(i),
            }
        }
        if !misses.is_empty() {
            let todo: Vec<(usize, Candidate)> =
                misses.iter().map(|&i| (i, cands[i].clone())).collect();
            for (i, ch) in self.analyze(todo).await? {
                out[i] = Some(ch);
            }
        }
        // Every slot is filled: the gate's decisions are matched by position.
        out.into_iter()
            .map(|c| c.ok_or_else(|| anyhow::anyhow!("a candidate got no verdict")))
            .collect()
    }

    /// A cached verdict with the project's waivers: the stored trace is judged again with
    /// them when one names the package (the store keeps the unwaived verdict, shared by
    /// every project).
    fn waive_cached(&self, ch: &mut Checked, run: airlock_store::RunId) -> Result<()> {
        let pkg = package_ref(ch);
        let waivers = self.waivers.as_deref();
        if let Some((report, verdict)) =
            store_glue::waived(&self.store, &self.rules, waivers, run, &pkg)?
        {
            ch.waive(&report, verdict);
        }
        Ok(())
    }

    fn cached_findings(&self, c: &Candidate) -> Result<Vec<String>> {
        let d = self.store.show(&ArtifactQuery {
            ecosystem: c.ecosystem,
            name: c.name.clone(),
            version: c.version.clone(),
            hash: c.hash.clone(),
        })?;
        Ok(d.map(|d| store_glue::top_findings(&d.report, TOP_FINDINGS))
            .unwrap_or_default())
    }

    /// Analyzes the misses, at most `--concurrency` at once, each with its progress bar.
    async fn analyze(&self, todo: Vec<(usize, Candidate)>) -> Result<Vec<(usize, Checked)>> {
        let docker = airlock_sandbox::connect().await?;
        let limit = Arc::new(tokio::sync::Semaphore::new(self.concurrency()));
        let bars = progress::Bars::new(todo.len());
        let mut tasks = tokio::task::JoinSet::new();
        for (i, c) in todo {
            let (docker, limit, bars) = (docker.clone(), limit.clone(), bars.clone());
            let (rules, store, tracker) =
                (self.rules.clone(), self.store.clone(), self.tracker.clone());
            let waivers = self.waivers.clone();
            let mut scan = self.scan.clone();
            if let Some(r) = &c.registry {
                scan.registry = r.clone();
            }
            tasks.spawn(async move {
                let permit = limit.acquire_owned().await;
                let bar = bars.start(&c.spec());
                let progress = {
                    let bar = bar.clone();
                    move |step: &str| bar.step(step)
                };
                let r = async {
                    let dl = airlock_sandbox::create_private_dir("dl")?;
                    let input = match (&c.fetch_url, &c.hash) {
                        (Some(url), Some(sha)) => {
                            let (url, sha, dir) =
                                (url.clone(), sha.clone(), dl.path().to_path_buf());
                            let path = tokio::task::spawn_blocking(move || {
                                airlock_ecosystem::pypi::download_resolved(&url, &sha, &dir)
                            })
                            .await??;
                            Input::Tarball(path)
                        }
                        _ => c.input.clone(),
                    };
                    pipeline::analyze(&docker, &tracker, &input, &scan, &rules, &progress).await
                }
                .await;
                let ch = match r {
                    Ok(a) => {
                        let mut ch = Checked::new(&c, a.verdict, From::Analysis);
                        ch.score = a.report.score;
                        ch.run_id = Some(a.trace.header.run_id.clone());
                        ch.findings = top_findings(&a.report);
                        ch.error = a.error.clone();
                        if let Some((report, verdict)) = crate::judging::rejudge_if_waived(
                            &rules,
                            &a.trace,
                            a.error.as_deref(),
                            waivers.as_deref(),
                        ) {
                            ch.waive(&report, verdict);
                        }
                        let st = store.clone();
                        let rs = rules.hash().to_string();
                        let rec = tokio::task::spawn_blocking(move || {
                            store_glue::record(&st, &a, &rs).map(|_| a)
                        })
                        .await;
                        let a = match rec {
                            Ok(Ok(a)) => Some(a),
                            Ok(Err(e)) => {
                                bar.note(&format!("not recorded in the store: {e:#}"));
                                None
                            }
                            Err(e) => {
                                bar.note(&format!("not recorded in the store: {e}"));
                                None
                            }
                        };
                        if let Some(a) = a.as_ref() {
                            if let Some(why) = c.hash_mismatch(&a.package) {
                                ch.verdict = Verdict::Error;
                                ch.error = Some(why);
                            }
                        }
                        ch
                    }
                    Err(e) => {
                        let mut ch = Checked::new(&c, Verdict::Error, From::Analysis);
                        ch.error = Some(format!("{e:#}"));
                        ch
                    }
                };
                bar.done(ch.verdict, ch.error.as_deref());
                drop(permit);
                (i, ch)
            });
        }
        let mut out = Vec::new();
        while let Some(r) = tasks.join_next().await {
            out.push(r?);
        }
        bars.finish();
        Ok(out)
    }
}

/// [`store_glue::refresh`] for every hit; verdicts made by an older ruleset are judged
/// again on `threads` threads (after a rules update every cached package needs it, and
/// judging is the slow part; the store serializes its own reads and writes).
fn refresh_all(
    store: &Store,
    rules: &Ruleset,
    hits: Vec<Option<airlock_store::CachedVerdict>>,
    threads: usize,
) -> Result<Vec<Option<airlock_store::CachedVerdict>>> {
    let stale = hits
        .iter()
        .filter(|h| h.as_ref().is_some_and(|h| !h.ruleset_matches))
        .count();
    if stale < 2 || threads < 2 {
        return hits
            .into_iter()
            .map(|h| store_glue::refresh(store, rules, h))
            .collect();
    }
    tracing::info!(stale, "re-judging cached verdicts made by another ruleset");
    let chunk = hits.len().div_ceil(threads);
    let mut slots: Vec<Option<Result<Option<airlock_store::CachedVerdict>>>> =
        (0..hits.len()).map(|_| None).collect();
    std::thread::scope(|sc| {
        let mut rest: &mut [Option<Result<Option<airlock_store::CachedVerdict>>>] = &mut slots;
        let mut input = hits.into_iter();
        while !rest.is_empty() {
            let n = chunk.min(rest.len());
            let (mine, tail) = rest.split_at_mut(n);
            rest = tail;
            let batch: Vec<_> = input.by_ref().take(n).collect();
            sc.spawn(move || {
                for (slot, h) in mine.iter_mut().zip(batch) {
                    *slot = Some(store_glue::refresh(store, rules, h));
                }
            });
        }
    });
    slots.into_iter().map(|s| s.unwrap_or(Ok(None))).collect()
}

/// The outcome of the checks, before the real install.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum Decision {
    /// Install.
    Clean,
    /// Only suspicious packages, and the user (or `--allow-suspicious`) accepted them.
    Accepted,
    /// Malicious (or at/above `--fail-on`), or suspicious and not accepted.
    Refused,
    /// An analysis (or a release-age lookup) failed: nothing can be cleared.
    Error,
    /// Everything else is clear, but versions younger than `--min-age` are in the tree:
    /// nothing installs until they mature.
    Pending,
}

/// Decides from the verdicts; asks on a terminal when only suspicious packages stand
/// in the way (never in CI, where `--allow-suspicious` is the only way through).
pub fn decide(opts: &WrapOptions, checked: &[Checked], extra_blockers: usize) -> Decision {
    let strict = opts.fail_on == FailOn::Suspicious;
    let malicious = checked.iter().any(|c| c.verdict == Verdict::Malicious) || extra_blockers > 0;
    let errors = checked
        .iter()
        .any(|c| c.verdict == Verdict::Error || c.gate_failed());
    let pending = checked.iter().any(Checked::pending);
    let doubtful = checked
        .iter()
        .any(|c| matches!(c.verdict, Verdict::Suspicious | Verdict::TimedOut));
    if malicious || (doubtful && strict) {
        return Decision::Refused;
    }
    if errors {
        return Decision::Error;
    }
    if pending {
        // Nothing installs anyway: no question about suspicious packages.
        return Decision::Pending;
    }
    if !doubtful {
        return Decision::Clean;
    }
    if opts.allow_suspicious {
        return Decision::Accepted;
    }
    let ci = std::env::var_os("CI").is_some_and(|v| !v.is_empty() && v != "false" && v != "0");
    if ci || opts.json || !std::io::stdin().is_terminal() || !std::io::stderr().is_terminal() {
        return Decision::Refused;
    }
    eprint!("airlock: install anyway, with the suspicious package(s) above? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut line = String::new();
    match std::io::stdin().lock().read_line(&mut line) {
        Ok(_) if matches!(line.trim(), "y" | "Y" | "yes" | "YES" | "Yes") => Decision::Accepted,
        _ => Decision::Refused,
    }
}

/// Prints what stands in the way (or a one-line all-clear) on stderr.
pub fn report(checked: &[Checked]) {
    let count = |f: &dyn Fn(&Checked) -> bool| checked.iter().filter(|c| f(c)).count();
    let cached = count(&|c| c.from == From::Cache);
    let analyzed = count(&|c| c.from == From::Analysis);
    let mut by_verdict = std::collections::BTreeMap::<&str, usize>::new();
    for c in checked {
        *by_verdict.entry(c.verdict.as_str()).or_default() += 1;
    }
    let verdicts: Vec<String> = by_verdict.iter().map(|(v, n)| format!("{n} {v}")).collect();
    eprintln!(
        "airlock: {} package(s): {cached} from the verdict cache, {analyzed} analyzed; {}",
        checked.len(),
        verdicts.join(", ")
    );
    let mut bad: Vec<&Checked> = checked
        .iter()
        .filter(|c| c.verdict != Verdict::Benign)
        .collect();
    bad.sort_by_key(|c| {
        std::cmp::Reverse(c.verdict.rank() * 10 + (c.verdict == Verdict::Error) as u8)
    });
    for c in bad {
        let label = match c.verdict {
            Verdict::Malicious => "MALICIOUS",
            Verdict::Suspicious => "SUSPICIOUS",
            Verdict::TimedOut => "TIMED OUT",
            Verdict::Error => "NOT ANALYZED",
            _ => "NOT EVALUATED",
        };
        let safe = crate::commands::safe;
        eprintln!(
            "airlock: {label} {} (score {:.1})",
            safe(&c.spec()),
            c.score
        );
        eprintln!("  via {}", safe(&c.path.join(" > ")));
        for f in &c.findings {
            eprintln!("  - {}", safe(&f.to_string()));
        }
        if let Some(e) = &c.error {
            eprintln!("  error: {}", safe(&e.to_string()));
        }
    }
    report_release_age(checked);
}

/// The release-age gate's part of the report: each pending version with its age and
/// when it matures, versions it could not date.
fn report_release_age(checked: &[Checked]) {
    let safe = crate::commands::safe;
    let held: Vec<&Checked> = checked.iter().filter(|c| c.pending()).collect();
    let mut matures: Option<&str> = None;
    for c in &held {
        let r = c.release.as_ref();
        eprintln!(
            "airlock: PENDING {}: {}",
            safe(&c.spec()),
            safe(r.and_then(|r| r.message.as_deref()).unwrap_or(""))
        );
        eprintln!("  via {}", safe(&c.path.join(" > ")));
        if let Some(m) = r.and_then(|r| r.matures.as_deref()) {
            matures = matures.max(Some(m));
        }
    }
    for c in checked.iter().filter(|c| !c.pending()) {
        let Some(r) = &c.release else { continue };
        if matches!(r.status, ReleaseStatus::Unknown | ReleaseStatus::Error) {
            let label = if r.status == ReleaseStatus::Error {
                "error"
            } else {
                "note"
            };
            eprintln!(
                "airlock: {label}: {}: {}",
                safe(&c.spec()),
                safe(r.message.as_deref().unwrap_or(""))
            );
        }
    }
    if !held.is_empty() {
        match matures {
            Some(m) => eprintln!(
                "airlock: {} version(s) younger than --min-age; all are old enough at {m}",
                held.len()
            ),
            None => eprintln!(
                "airlock: {} version(s) of unknown age held by --min-age-strict",
                held.len()
            ),
        }
    }
}

/// The `--json` summary.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    pub schema_version: &'static str,
    pub ecosystem: Ecosystem,
    pub command: Vec<String>,
    pub decision: Decision,
    /// Whether the real install ran (and succeeded).
    pub installed: bool,
    pub exit_code: u8,
    pub packages: &'a [Checked],
    pub audit: Vec<serde_json::Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub error: Option<String>,
}

pub fn print_summary(s: &Summary<'_>) {
    match serde_json::to_string_pretty(s) {
        Ok(t) => println!("{t}"),
        Err(e) => eprintln!("airlock: error: cannot write the summary: {e}"),
    }
}
