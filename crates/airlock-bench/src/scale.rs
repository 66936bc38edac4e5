//! The benign evaluation at scale (issue 14): the pinned artifacts of the hard-case and
//! most-downloaded lists fetched once into a cache keyed by `name@version` (`npm pack`,
//! `pip download`; only fetched, never unpacked or installed on the host), GuardDog run
//! on the very same files as the peer (static only: it reads the archive), and the
//! at-scale tables: per corpus the verdict counts against the list's size, every
//! non-benign package with its findings, per-rule counts, and airlock next to GuardDog
//! (false alarms on the benign sets; detections on the malware sets, tuning and held-out
//! halves apart).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::corpus::{self, Corpus, Fetch, Sample};
use crate::eval::SampleResult;
use crate::runner::{self, Airlock};
use crate::stats::table;

/// Fetches (once) the pinned artifact of `f` into `cache`; returns the file.
pub fn fetch(f: &Fetch, cache: &Path) -> Result<PathBuf> {
    match f {
        Fetch::Npm { name, version } => fetch_npm(name, version, &cache.join("npm")),
        Fetch::Pypi {
            name,
            version,
            sdist,
        } => corpus::fetch_pypi(name, version, *sdist, &cache.join("pypi")),
    }
}

/// `npm pack name@version` into `dir/<name@version>/`: the registry's tarball, as npm
/// would install it. A registry spec runs no lifecycle script; `--ignore-scripts` anyway.
fn fetch_npm(name: &str, version: &str, dir: &Path) -> Result<PathBuf> {
    let dest = dir.join(corpus::safe_id(&format!("{name}@{version}")));
    if let Some(f) = tgz_in(&dest) {
        return Ok(f);
    }
    std::fs::create_dir_all(&dest)?;
    let out = Command::new("npm")
        .args(["pack", "--ignore-scripts", "--silent", "--pack-destination"])
        .arg(&dest)
        .arg(format!("{name}@{version}"))
        .current_dir(&dest)
        .stdin(std::process::Stdio::null())
        .output()
        .context("running npm pack")?;
    match tgz_in(&dest) {
        Some(f) if out.status.success() => Ok(f),
        _ => bail!(
            "npm pack {name}@{version} failed: {}",
            runner::tail_lines(&String::from_utf8_lossy(&out.stderr), 2)
        ),
    }
}

fn tgz_in(dir: &Path) -> Option<PathBuf> {
    std::fs::read_dir(dir)
        .ok()?
        .filter_map(|e| e.ok().map(|e| e.path()))
        .find(|p| p.is_file() && p.extension().is_some_and(|x| x == "tgz"))
}

/// What GuardDog said about one artifact.
#[derive(Debug, Clone, Serialize, Deserialize, Default)]
pub struct GuardDogResult {
    pub id: String,
    pub file: String,
    /// Rules with a non-empty result (GuardDog 3: `capability-*` and `threat-*`).
    pub flags: Vec<String>,
    /// GuardDog's own verdict (`risk_score.label`: `no_risks_detected`, `low`,
    /// `suspicious`, `high_risk`), empty for older GuardDogs.
    #[serde(default)]
    pub label: String,
    #[serde(default)]
    pub score: Option<f64>,
    /// GuardDog's own issue count.
    pub issues: u64,
    /// Rules that failed to run (GuardDog's `errors`).
    pub errors: Vec<String>,
    pub wall_ms: u64,
    pub exit_code: Option<i32>,
    pub killed: bool,
    /// Set when GuardDog printed no JSON report.
    pub failure: Option<String>,
}

impl GuardDogResult {
    /// GuardDog's verdict is `suspicious` or `high_risk` (older GuardDogs without a
    /// risk score: any rule with a result).
    pub fn flagged(&self) -> bool {
        if self.label.is_empty() {
            !self.flags.is_empty()
        } else {
            matches!(self.label.as_str(), "suspicious" | "high_risk")
        }
    }
    /// GuardDog's verdict is `high_risk`.
    pub fn high_risk(&self) -> bool {
        self.label == "high_risk"
    }
    /// Any `threat-*` rule (or, before GuardDog 3, any rule) has a result.
    pub fn threat(&self) -> bool {
        self.flags
            .iter()
            .any(|f| f.starts_with("threat-") || !f.starts_with("capability-"))
    }
    pub fn failed(&self) -> bool {
        self.failure.is_some()
    }
}

/// The GuardDog executable (`guarddog` of a venv on the host).
#[derive(Debug, Clone)]
pub struct GuardDog {
    pub bin: PathBuf,
    pub version: String,
}

impl GuardDog {
    pub fn new(bin: PathBuf) -> Result<Self> {
        let out = Command::new(&bin)
            .arg("--version")
            .output()
            .with_context(|| format!("running {} --version", bin.display()))?;
        let version = String::from_utf8_lossy(&out.stdout).trim().to_string();
        Ok(GuardDog { bin, version })
    }

    /// `guarddog <npm|pypi> scan FILE --output-format json`, stopped past `limit`.
    pub fn scan(&self, eco: &str, id: &str, file: &Path, limit: Duration) -> GuardDogResult {
        let tool = Airlock {
            bin: self.bin.clone(),
            no_store: false,
        };
        let args: Vec<String> = vec![
            eco.into(),
            "scan".into(),
            file.display().to_string(),
            "--output-format".into(),
            "json".into(),
        ];
        let start = Instant::now();
        let mut r = GuardDogResult {
            id: id.into(),
            file: file.display().to_string(),
            ..Default::default()
        };
        match tool.run(&args, limit) {
            Ok(run) => {
                r.wall_ms = run.wall_ms;
                r.exit_code = run.exit_code;
                r.killed = run.killed;
                match parse_guarddog(&run.stdout) {
                    Some(p) => {
                        r.flags = p.flags;
                        r.issues = p.issues;
                        r.errors = p.errors;
                        r.label = p.label;
                        r.score = p.score;
                    }
                    None => {
                        r.failure = Some(if run.killed {
                            "timed out".into()
                        } else {
                            format!("no JSON report: {}", run.stderr_tail(2))
                        })
                    }
                }
            }
            Err(e) => {
                r.wall_ms = start.elapsed().as_millis() as u64;
                r.failure = Some(format!("{e:#}"));
            }
        }
        r
    }
}

/// What [`parse_guarddog`] reads.
#[derive(Debug, PartialEq)]
pub struct GuardDogReport {
    pub flags: Vec<String>,
    pub issues: u64,
    pub errors: Vec<String>,
    pub label: String,
    pub score: Option<f64>,
}

/// GuardDog's JSON report: the rules whose result is non-empty, its issue count, the
/// rules that errored, and its risk label. (The JSON object may follow log lines.)
pub fn parse_guarddog(stdout: &str) -> Option<GuardDogReport> {
    let start = stdout.find('{')?;
    let v: Value = serde_json::from_str(stdout[start..].trim()).ok()?;
    let non_empty = |x: &Value| match x {
        Value::Null | Value::Bool(false) => false,
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::String(s) => !s.is_empty(),
        _ => true,
    };
    let flags = v["results"]
        .as_object()
        .map(|o| {
            o.iter()
                .filter(|(_, x)| non_empty(x))
                .map(|(k, _)| k.clone())
                .collect()
        })
        .unwrap_or_default();
    let errors = v["errors"]
        .as_object()
        .map(|o| o.keys().cloned().collect())
        .unwrap_or_default();
    Some(GuardDogReport {
        flags,
        issues: v["issues"].as_u64().unwrap_or(0),
        errors,
        label: v["risk_score"]["label"].as_str().unwrap_or("").to_string(),
        score: v["risk_score"]["score"].as_f64(),
    })
}

pub fn guarddog_path(out: &Path, s: &Sample) -> PathBuf {
    out.join(s.corpus.name())
        .join(format!("{}.guarddog.json", s.id))
}

/// Runs GuardDog on `file` for `s` and stores its result next to airlock's.
pub fn guarddog_one(
    gd: &GuardDog,
    out: &Path,
    s: &Sample,
    file: &Path,
    limit: Duration,
) -> Result<GuardDogResult> {
    let r = gd.scan(s.corpus.ecosystem(), &s.id, file, limit);
    std::fs::write(guarddog_path(out, s), serde_json::to_vec_pretty(&r)?)?;
    append_jsonl(&out.join(s.corpus.name()).join("guarddog.jsonl"), &r)?;
    Ok(r)
}

/// Appends one compact JSON line (one `write` call, so shards appending to the same log
/// do not interleave lines).
pub fn append_jsonl<T: Serialize>(path: &Path, v: &T) -> Result<()> {
    let mut line = serde_json::to_vec(v)?;
    line.push(b'\n');
    let mut f = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    f.write_all(&line)?;
    Ok(())
}

/// `--shard i/n` (1-based `i`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u64,
    pub count: u64,
}

impl std::str::FromStr for Shard {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let (i, n) = s.split_once('/').ok_or("expected i/n, e.g. 1/4")?;
        let index: u64 = i.trim().parse().map_err(|_| "i is not a number")?;
        let count: u64 = n.trim().parse().map_err(|_| "n is not a number")?;
        if count == 0 || index == 0 || index > count {
            return Err(format!("shard {index}/{count}: need 1 ≤ i ≤ n"));
        }
        Ok(Shard { index, count })
    }
}

impl Shard {
    /// Whether the sample `corpus/id` is this shard's: a stable hash, so every shard of
    /// every run agrees whatever the list order.
    pub fn owns(&self, corpus: Corpus, id: &str) -> bool {
        use sha2::Digest;
        let h = sha2::Sha256::digest(format!("{}/{id}", corpus.name()).as_bytes());
        let mut b = [0u8; 8];
        b.copy_from_slice(&h[..8]);
        u64::from_be_bytes(b) % self.count == self.index - 1
    }
}

// ---- tables ------------------------------------------------------------------------

#[derive(Debug, Serialize, Default)]
pub struct NonBenign {
    pub id: String,
    pub verdict: String,
    pub findings: Vec<String>,
}

#[derive(Debug, Serialize, Default)]
pub struct SplitCounts {
    pub samples: usize,
    pub airlock_done: usize,
    pub airlock_suspicious_or_worse: usize,
    pub airlock_malicious: usize,
    pub guarddog_done: usize,
    pub guarddog_flagged: usize,
    pub guarddog_high_risk: usize,
    pub guarddog_threat: usize,
}

/// Counts over the packages both airlock and GuardDog finished.
#[derive(Debug, Serialize, Default)]
pub struct Paired {
    pub packages: usize,
    pub airlock_suspicious_or_worse: usize,
    pub airlock_malicious: usize,
    pub guarddog_suspicious_or_worse: usize,
    pub guarddog_high_risk: usize,
}

#[derive(Debug, Serialize, Default)]
pub struct ScaleCorpus {
    pub corpus: String,
    pub ecosystem: String,
    pub malware: bool,
    /// Samples in the list (after `--shard`/`--limit`/`--only` of the run that wrote it).
    pub listed: usize,
    /// Samples with an airlock result.
    pub done: usize,
    pub verdicts: BTreeMap<String, usize>,
    pub non_benign: Vec<NonBenign>,
    pub rule_counts: BTreeMap<String, usize>,
    pub guarddog_done: usize,
    pub guarddog_failed: usize,
    pub guarddog_flagged: usize,
    pub guarddog_high_risk: usize,
    /// Any `threat-*` rule with a result, whatever GuardDog's label.
    pub guarddog_threat: usize,
    pub guarddog_labels: BTreeMap<String, usize>,
    pub guarddog_rule_counts: BTreeMap<String, usize>,
    pub guarddog_flagged_ids: Vec<(String, Vec<String>)>,
    /// Malware corpora: by split (`tuning`, `held-out`).
    pub splits: BTreeMap<String, SplitCounts>,
    /// The packages both tools finished (airlock result, GuardDog report).
    pub paired: Paired,
    /// Every listed package: id, airlock's verdict, GuardDog's label (`None`: not done).
    pub packages: Vec<(String, Option<String>, Option<String>)>,
    pub wall_median_ms: Option<f64>,
    pub guarddog_wall_median_ms: Option<f64>,
}

#[derive(Debug, Serialize)]
pub struct ScaleSummary {
    pub airlock_bin: String,
    pub airlock_commit: String,
    pub guarddog: Option<String>,
    pub partial: bool,
    pub corpora: Vec<ScaleCorpus>,
}

fn rank(v: &str) -> u8 {
    match v {
        "malicious" => 2,
        "suspicious" => 1,
        _ => 0,
    }
}

/// The commit the airlock binary was built from: `<bin>.commit` beside it (written when
/// the binary was copied for the run), else `?`.
pub fn airlock_commit(airlock: &Airlock) -> String {
    let mut p = airlock.bin.clone().into_os_string();
    p.push(".commit");
    std::fs::read_to_string(PathBuf::from(p))
        .map(|s| s.trim().to_string())
        .unwrap_or_else(|_| "?".into())
}

fn finding_line(f: &Value) -> String {
    let msg: String = f["message"]
        .as_str()
        .unwrap_or("")
        .chars()
        .take(160)
        .collect();
    let mut kind = String::new();
    if let Some(k) = f["kind"].as_str().or(f["class"].as_str()) {
        kind = format!(", {k}");
    }
    format!(
        "{} ({}{kind}): {msg}",
        f["rule"].as_str().unwrap_or("?"),
        f["severity"].as_str().unwrap_or("?"),
    )
}

pub fn summarize(
    corpora: &[Corpus],
    samples: &[Sample],
    results: &[SampleResult],
    gds: &BTreeMap<(Corpus, String), GuardDogResult>,
    airlock: &Airlock,
    guarddog: Option<&GuardDog>,
) -> ScaleSummary {
    let mut out = Vec::new();
    for &c in corpora {
        let listed: Vec<&Sample> = samples.iter().filter(|s| s.corpus == c).collect();
        let rs: Vec<&SampleResult> = results.iter().filter(|r| r.corpus == c).collect();
        let mut sc = ScaleCorpus {
            corpus: c.name().into(),
            ecosystem: c.ecosystem().into(),
            malware: c.is_malware(),
            listed: listed.len(),
            done: rs.len(),
            ..Default::default()
        };
        for v in ["benign", "suspicious", "malicious", "error", "timed-out"] {
            sc.verdicts.insert(v.into(), 0);
        }
        for r in &rs {
            *sc.verdicts.entry(r.verdict.clone()).or_default() += 1;
            let findings: Vec<&Value> = r
                .report
                .as_ref()
                .and_then(|x| x["findings"].as_array())
                .map(|a| a.iter().collect())
                .unwrap_or_default();
            let mut rules: Vec<&str> = findings.iter().filter_map(|f| f["rule"].as_str()).collect();
            rules.sort_unstable();
            rules.dedup();
            for rule in rules {
                *sc.rule_counts.entry(rule.into()).or_default() += 1;
            }
            if r.verdict != "benign" && !c.is_malware() {
                let mut f: Vec<String> = findings.iter().map(|f| finding_line(f)).collect();
                if matches!(r.verdict.as_str(), "error" | "timed-out") {
                    f.push(format!(
                        "stderr: {}",
                        runner::tail_lines(&r.stderr_tail, 2).replace('\n', " | ")
                    ));
                }
                sc.non_benign.push(NonBenign {
                    id: r.id.clone(),
                    verdict: r.verdict.clone(),
                    findings: f,
                });
            }
        }
        let mut gd_walls = Vec::new();
        for s in &listed {
            let Some(g) = gds.get(&(c, s.id.clone())) else {
                continue;
            };
            sc.guarddog_done += 1;
            gd_walls.push(g.wall_ms as f64);
            if g.failed() {
                sc.guarddog_failed += 1;
            }
            *sc.guarddog_labels
                .entry(if g.failed() {
                    "failed".into()
                } else {
                    g.label.clone()
                })
                .or_default() += 1;
            sc.guarddog_high_risk += usize::from(g.high_risk());
            sc.guarddog_threat += usize::from(g.threat());
            for f in &g.flags {
                *sc.guarddog_rule_counts.entry(f.clone()).or_default() += 1;
            }
            if g.flagged() {
                sc.guarddog_flagged += 1;
                let mut why = vec![format!(
                    "{} {}",
                    g.label,
                    g.score.map(|x| format!("{x:.1}")).unwrap_or_default()
                )];
                why.extend(g.flags.iter().filter(|f| f.starts_with("threat-")).cloned());
                sc.guarddog_flagged_ids.push((s.id.clone(), why));
            }
        }
        if c.is_malware() {
            for s in &listed {
                let split = s.split.clone().unwrap_or_else(|| "unsplit".into());
                let e = sc.splits.entry(split).or_default();
                e.samples += 1;
                if let Some(r) = rs.iter().find(|r| r.id == s.id) {
                    e.airlock_done += 1;
                    e.airlock_suspicious_or_worse += usize::from(rank(&r.verdict) >= 1);
                    e.airlock_malicious += usize::from(rank(&r.verdict) >= 2);
                }
                if let Some(g) = gds.get(&(c, s.id.clone())) {
                    e.guarddog_done += 1;
                    e.guarddog_flagged += usize::from(g.flagged());
                    e.guarddog_high_risk += usize::from(g.high_risk());
                    e.guarddog_threat += usize::from(g.threat());
                }
            }
        }
        for s in &listed {
            sc.packages.push((
                s.id.clone(),
                rs.iter().find(|r| r.id == s.id).map(|r| r.verdict.clone()),
                gds.get(&(c, s.id.clone())).map(|g| {
                    if g.failed() {
                        "failed".to_string()
                    } else {
                        g.label.clone()
                    }
                }),
            ));
        }
        for s in &listed {
            let (Some(r), Some(g)) = (
                rs.iter().find(|r| r.id == s.id),
                gds.get(&(c, s.id.clone())),
            ) else {
                continue;
            };
            if g.failed() || matches!(r.verdict.as_str(), "error" | "timed-out") {
                continue;
            }
            let p = &mut sc.paired;
            p.packages += 1;
            p.airlock_suspicious_or_worse += usize::from(rank(&r.verdict) >= 1);
            p.airlock_malicious += usize::from(rank(&r.verdict) >= 2);
            p.guarddog_suspicious_or_worse += usize::from(g.flagged());
            p.guarddog_high_risk += usize::from(g.high_risk());
        }
        let walls: Vec<f64> = rs.iter().map(|r| r.wall_ms as f64).collect();
        sc.wall_median_ms = crate::stats::median(&walls);
        sc.guarddog_wall_median_ms = crate::stats::median(&gd_walls);
        out.push(sc);
    }
    let partial = out
        .iter()
        .any(|c| c.done < c.listed || (guarddog.is_some() && c.guarddog_done < c.listed));
    ScaleSummary {
        airlock_bin: airlock.bin.display().to_string(),
        airlock_commit: airlock_commit(airlock),
        guarddog: guarddog.map(|g| g.version.clone()),
        partial,
        corpora: out,
    }
}

fn pct(n: usize, d: usize) -> String {
    if d == 0 {
        "–".into()
    } else {
        format!("{:.1} %", 100.0 * n as f64 / d as f64)
    }
}

fn cell(s: &str) -> String {
    s.replace('|', "\\|").replace('\n', " ")
}

/// `n (p %)`: a count and its share of `d`.
fn share(n: usize, d: usize) -> String {
    format!("{n} ({})", pct(n, d))
}

pub fn render(s: &ScaleSummary) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "# airlock benign evaluation at scale{}\n",
        if s.partial { " (PARTIAL)" } else { "" }
    );
    let _ = writeln!(
        m,
        "airlock commit `{}` (binary `{}`); GuardDog {}.",
        s.airlock_commit,
        s.airlock_bin,
        s.guarddog.as_deref().unwrap_or("not run")
    );
    if s.partial {
        let _ = writeln!(
            m,
            "\n**Partial**: not every listed package has a result yet (done/total per corpus below); the run goes on and these tables are rewritten."
        );
    }
    let _ = writeln!(
        m,
        "\nMalware corpora are split by their `MANIFEST.tsv` line (header = line 1): even lines are the **tuning** half, odd lines the **held-out** half, reported apart.\n"
    );
    let _ = writeln!(m, "## Verdicts per corpus (airlock)\n");
    table(
        &mut m,
        &[
            "corpus",
            "done / total",
            "benign",
            "suspicious",
            "malicious",
            "error",
            "timed-out",
            "≥ suspicious",
            "median scan",
        ],
        s.corpora.iter().map(|c| {
            let v = |k: &str| c.verdicts.get(k).copied().unwrap_or(0);
            let flagged = v("suspicious") + v("malicious");
            vec![
                c.corpus.clone(),
                format!("{} / {}", c.done, c.listed),
                v("benign").to_string(),
                v("suspicious").to_string(),
                v("malicious").to_string(),
                v("error").to_string(),
                v("timed-out").to_string(),
                pct(flagged, c.done),
                c.wall_median_ms
                    .map(|w| format!("{:.1} s", w / 1000.0))
                    .unwrap_or("–".into()),
            ]
        }),
    );
    let _ = writeln!(m, "\n## airlock next to GuardDog (same artifact files)\n");
    let _ = writeln!(
        m,
        "Benign corpora: every flag is a false alarm; malware corpora: every flag is a detection. GuardDog's verdict is its own risk label (`risk_score.label`): \"≥ suspicious\" = `suspicious` or `high_risk`, \"high risk\" = `high_risk` (set beside airlock's `malicious`); \"threat rule\" = any `threat-*` rule with a result whatever the label. Metadata rules do not run on a local file.\n"
    );
    let mut rows = Vec::new();
    for c in &s.corpora {
        if c.malware {
            for (split, e) in &c.splits {
                rows.push(vec![
                    c.corpus.clone(),
                    format!("{split} ({} samples)", e.samples),
                    e.airlock_done.to_string(),
                    share(e.airlock_suspicious_or_worse, e.airlock_done),
                    share(e.airlock_malicious, e.airlock_done),
                    e.guarddog_done.to_string(),
                    share(e.guarddog_flagged, e.guarddog_done),
                    share(e.guarddog_high_risk, e.guarddog_done),
                    share(e.guarddog_threat, e.guarddog_done),
                    "–".into(),
                ]);
            }
        } else {
            let v = |k: &str| c.verdicts.get(k).copied().unwrap_or(0);
            let flagged = v("suspicious") + v("malicious");
            rows.push(vec![
                c.corpus.clone(),
                "benign".into(),
                c.done.to_string(),
                share(flagged, c.done),
                share(v("malicious"), c.done),
                c.guarddog_done.to_string(),
                share(c.guarddog_flagged, c.guarddog_done),
                share(c.guarddog_high_risk, c.guarddog_done),
                share(c.guarddog_threat, c.guarddog_done),
                c.guarddog_failed.to_string(),
            ]);
        }
    }
    table(
        &mut m,
        &[
            "corpus",
            "set",
            "airlock done",
            "airlock ≥ suspicious",
            "airlock malicious",
            "GuardDog done",
            "GuardDog ≥ suspicious",
            "GuardDog high risk",
            "GuardDog threat rule",
            "GuardDog failed",
        ],
        rows,
    );
    let _ = writeln!(
        m,
        "\n### Same packages only\n\nThe packages both tools finished (airlock: a verdict, not error/timed-out; GuardDog: a report).\n"
    );
    table(
        &mut m,
        &[
            "corpus",
            "packages",
            "airlock ≥ suspicious",
            "airlock malicious",
            "GuardDog ≥ suspicious",
            "GuardDog high risk",
        ],
        s.corpora.iter().map(|c| {
            let p = &c.paired;
            vec![
                c.corpus.clone(),
                p.packages.to_string(),
                share(p.airlock_suspicious_or_worse, p.packages),
                share(p.airlock_malicious, p.packages),
                share(p.guarddog_suspicious_or_worse, p.packages),
                share(p.guarddog_high_risk, p.packages),
            ]
        }),
    );
    for c in &s.corpora {
        let _ = writeln!(m, "\n## {}\n", c.corpus);
        if !c.malware {
            if c.non_benign.is_empty() {
                let _ = writeln!(m, "Every package done is `benign`.\n");
            } else {
                let _ = writeln!(m, "Every package not judged `benign`:\n");
                table(
                    &mut m,
                    &["package", "verdict", "findings"],
                    c.non_benign.iter().map(|n| {
                        let f: Vec<String> = n.findings.iter().map(|f| cell(f)).collect();
                        vec![n.id.clone(), n.verdict.clone(), f.join("<br>")]
                    }),
                );
                let _ = writeln!(m);
            }
        }
        if !c.rule_counts.is_empty() {
            let _ = writeln!(
                m,
                "airlock rules (packages each fired on): {}\n",
                counts(&c.rule_counts)
            );
        }
        if !c.guarddog_labels.is_empty() {
            let _ = writeln!(m, "GuardDog labels: {}\n", counts(&c.guarddog_labels));
        }
        if !c.guarddog_rule_counts.is_empty() {
            let _ = writeln!(
                m,
                "GuardDog rules (packages each flagged): {}\n",
                counts(&c.guarddog_rule_counts)
            );
        }
        if !c.malware && !c.guarddog_flagged_ids.is_empty() {
            let _ = writeln!(m, "GuardDog ≥ suspicious (label, score, threat rules):\n");
            for (id, flags) in &c.guarddog_flagged_ids {
                let _ = writeln!(m, "- {id}: {}", flags.join(", "));
            }
            let _ = writeln!(m);
        }
    }
    m
}

fn counts(c: &BTreeMap<String, usize>) -> String {
    let mut v: Vec<(&String, &usize)> = c.iter().collect();
    v.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    v.iter()
        .map(|(k, n)| format!("`{k}` {n}"))
        .collect::<Vec<_>>()
        .join(", ")
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn shards_partition() {
        let shards: Vec<Shard> = (1..=3).map(|i| format!("{i}/3").parse().unwrap()).collect();
        for id in ["a@1", "b@2", "lodash@4.18.1", "numpy==2.5.5"] {
            let owners = shards.iter().filter(|s| s.owns(Corpus::TopNpm, id)).count();
            assert_eq!(owners, 1, "{id}");
        }
        assert!("0/3".parse::<Shard>().is_err());
        assert!("4/3".parse::<Shard>().is_err());
        assert!("x".parse::<Shard>().is_err());
    }

    #[test]
    fn guarddog_json() {
        let out = "some log line\n{\"package\": \"x.tar.gz\", \"issues\": 2, \"errors\": {\"shady-links\": \"boom\"}, \"results\": {\"exec-base64\": [{\"location\": \"setup.py:3\"}], \"code-execution\": [], \"npm-install-script\": null, \"typosquatting\": \"\", \"cmd-overwrite\": {\"a\": 1}}, \"path\": \"/tmp/x\"}\n";
        let r = parse_guarddog(out).unwrap();
        assert_eq!(r.flags, vec!["cmd-overwrite", "exec-base64"]);
        assert_eq!(r.issues, 2);
        assert_eq!(r.errors, vec!["shady-links"]);
        assert_eq!(r.label, "");
        let g = GuardDogResult {
            flags: r.flags,
            ..Default::default()
        };
        assert!(g.flagged() && g.threat());
        let v3 = r#"{"package": "e.tgz", "results": {"capability-process-hooks": [{"location": "package/package.json:10"}], "threat-process-hooks": [{"x": 1}], "capability-network-lolbas": {}}, "errors": {}, "issues": 13, "risk_score": {"score": 5.5, "label": "suspicious"}}"#;
        let r = parse_guarddog(v3).unwrap();
        assert_eq!(
            r.flags,
            vec!["capability-process-hooks", "threat-process-hooks"]
        );
        assert_eq!(r.label, "suspicious");
        assert_eq!(r.score, Some(5.5));
        let g = GuardDogResult {
            flags: vec!["capability-process-hooks".into()],
            label: "low".into(),
            ..Default::default()
        };
        assert!(!g.flagged() && !g.threat() && !g.high_risk());
        assert!(parse_guarddog("Traceback: nothing").is_none());
    }

    #[test]
    fn manifest_lines_split() {
        assert_eq!(corpus::split_of_line(2), "tuning");
        assert_eq!(corpus::split_of_line(3), "held-out");
        let dir = tempfile::tempdir().unwrap();
        let m = dir.path().join("MANIFEST.tsv");
        std::fs::write(&m, "path\tsha\na/1/a-1.tar.gz\tx\nb/1/b-1.whl\ty\n").unwrap();
        let s = corpus::manifest_splits(&m);
        assert_eq!(s[0], ("a/1/a-1.tar.gz".into(), "tuning".into()));
        assert_eq!(s[1], ("b/1/b-1.whl".into(), "held-out".into()));
    }

    #[test]
    fn the_scale_lists_load_pinned() {
        let src = corpus::Sources {
            repo: crate::repo_root(),
            corpus_dir: PathBuf::from("/nonexistent"),
            zip_password: String::new(),
            cache: PathBuf::from("/nonexistent"),
        };
        let tmp = tempfile::tempdir().unwrap();
        for (c, min) in [
            (Corpus::TopNpm, 1000),
            (Corpus::TopPypi, 300),
            (Corpus::HardNpm, 1),
            (Corpus::HardPypi, 1),
        ] {
            let s = corpus::load(c, &src, tmp.path()).unwrap();
            assert!(s.len() >= min, "{}: {}", c.name(), s.len());
            assert!(s.iter().all(|s| s.fetch.is_some()));
        }
        let hard = corpus::load(Corpus::HardNpm, &src, tmp.path())
            .unwrap()
            .len()
            + corpus::load(Corpus::HardPypi, &src, tmp.path())
                .unwrap()
                .len();
        assert!(hard >= 150, "{hard} hard cases");
    }

    /// Every table of `scale.md`: headers, separators and rows with their shares.
    #[test]
    fn renders_every_table() {
        let mut benign = ScaleCorpus {
            corpus: "top-npm".into(),
            listed: 4,
            done: 3,
            guarddog_done: 3,
            guarddog_flagged: 1,
            guarddog_failed: 1,
            non_benign: vec![NonBenign {
                id: "a@1".into(),
                verdict: "suspicious".into(),
                findings: vec!["r1 | x".into(), "r2".into()],
            }],
            wall_median_ms: Some(1500.0),
            paired: Paired {
                packages: 2,
                airlock_suspicious_or_worse: 1,
                ..Default::default()
            },
            ..Default::default()
        };
        benign.verdicts.insert("benign".into(), 2);
        benign.verdicts.insert("suspicious".into(), 1);
        let mut malware = ScaleCorpus {
            corpus: "pypi-malware".into(),
            malware: true,
            listed: 10,
            done: 10,
            ..Default::default()
        };
        malware.verdicts.insert("malicious".into(), 10);
        malware.splits.insert(
            "tuning".into(),
            SplitCounts {
                samples: 5,
                airlock_done: 5,
                airlock_suspicious_or_worse: 4,
                airlock_malicious: 3,
                guarddog_done: 5,
                guarddog_flagged: 2,
                ..Default::default()
            },
        );
        let m = render(&ScaleSummary {
            airlock_bin: "bin".into(),
            airlock_commit: "abc".into(),
            guarddog: None,
            partial: false,
            corpora: vec![benign, malware],
        });
        for line in [
            "| corpus | done / total | benign | suspicious | malicious | error | timed-out | ≥ suspicious | median scan |",
            "|---|---|---|---|---|---|---|---|---|",
            "| top-npm | 3 / 4 | 2 | 1 | 0 | 0 | 0 | 33.3 % | 1.5 s |",
            "| pypi-malware | 10 / 10 | 0 | 0 | 10 | 0 | 0 | 100.0 % | – |",
            "| top-npm | benign | 3 | 1 (33.3 %) | 0 (0.0 %) | 3 | 1 (33.3 %) | 0 (0.0 %) | 0 (0.0 %) | 1 |",
            "| pypi-malware | tuning (5 samples) | 5 | 4 (80.0 %) | 3 (60.0 %) | 5 | 2 (40.0 %) | 0 (0.0 %) | 0 (0.0 %) | – |",
            "| top-npm | 2 | 1 (50.0 %) | 0 (0.0 %) | 0 (0.0 %) | 0 (0.0 %) |",
            "| pypi-malware | 0 | 0 (–) | 0 (–) | 0 (–) | 0 (–) |",
            "| package | verdict | findings |",
            "| a@1 | suspicious | r1 \\| x<br>r2 |",
        ] {
            assert!(m.lines().any(|l| l == line), "missing {line:?} in:\n{m}");
        }
    }
}
