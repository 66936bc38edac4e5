//! Static-pass measurements (issue 8). `static-signals`: per-signal and per-rule hit
//! counts of the static pass, judged alone, over the pinned benign npm and PyPI lists
//! and the PyPI malware zip (entries decrypted in memory and read by
//! `airlock_static::scan_archive_bytes`: nothing is written out, unpacked or run), plus
//! the verdict transitions of stored evaluation traces judged without and with their
//! static events; written as Markdown + JSON. `static-ratio`: the static pass over one
//! npm tarball against that package's sandboxed install, in one run, with the ratio and
//! its target.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt::Write as _;
use std::io::Read as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::{Duration, Instant};

use airlock_events::{Ecosystem, Event, EventKind, Record, Trace, Verdict};
use airlock_rules::Ruleset;
use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::corpus::{self, Corpus, Sources};
use crate::runner::Airlock;

#[derive(clap::Args)]
pub struct SignalsArgs {
    /// Output path without extension: OUT.md and OUT.json are written.
    #[arg(long)]
    pub out: PathBuf,
    /// Stored evaluation results (`DIR/<corpus>/*.trace.jsonl`, as `eval --out DIR`
    /// writes them): each trace is judged without and with its static events.
    #[arg(long)]
    pub traces: Option<PathBuf>,
    /// More npm packages (name@version, fetched with `npm pack`) in a table of their
    /// own, e.g. typescript@5.6.3 (the last release shipped as one big JS bundle).
    #[arg(long)]
    pub extra_npm: Vec<String>,
    /// The shared corpus directory (holds pypi-malicious-dev/samples.zip).
    #[arg(long, env = "AIRLOCK_CORPUS_DIR")]
    pub corpus_dir: Option<PathBuf>,
    #[arg(long, default_value = "infected")]
    pub zip_password: String,
    /// Rules directory (default: the repository's rules/).
    #[arg(long)]
    pub rules: Option<PathBuf>,
}

#[derive(clap::Args)]
pub struct RatioArgs {
    /// The npm package measured (name@version).
    #[arg(long, default_value = "typescript@5.6.3")]
    pub package: String,
    /// Use this tarball instead of fetching the package with `npm pack`.
    #[arg(long)]
    pub tgz: Option<PathBuf>,
    /// Static passes timed (the median is compared).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// The ratio static pass / sandboxed install must stay under this.
    #[arg(long, default_value_t = 0.2)]
    pub target: f64,
    /// Wall-clock limit of the sandboxed scan, in seconds.
    #[arg(long, default_value_t = 900)]
    pub timeout: u64,
    /// Also write the figures here (JSON).
    #[arg(long)]
    pub out: Option<PathBuf>,
}

// ---------------------------------------------------------------------------------------
// static-signals

#[derive(Serialize)]
struct FindingBrief {
    rule: String,
    severity: String,
    decisive: bool,
    message: String,
}

#[derive(Serialize)]
struct PackageResult {
    id: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    group: Option<String>,
    files: u64,
    bytes: u64,
    ms: u64,
    signals: BTreeMap<String, usize>,
    verdict: String,
    score: f64,
    findings: Vec<FindingBrief>,
}

#[derive(Serialize, Default)]
struct SignalCount {
    hits: usize,
    packages: usize,
}

#[derive(Serialize, Default)]
struct CorpusTable {
    corpus: String,
    packages: usize,
    errors: Vec<String>,
    bytes: u64,
    ms: u64,
    signals: BTreeMap<String, SignalCount>,
    /// Rule → packages it fired on (static events judged alone).
    rules: BTreeMap<String, Vec<String>>,
    verdicts: BTreeMap<String, usize>,
    /// Malware: distinct artifacts by `pyinspect::group_key`, each counted once (its
    /// first sample by id).
    #[serde(skip_serializing_if = "Option::is_none")]
    group_verdicts: Option<BTreeMap<String, usize>>,
    results: Vec<PackageResult>,
}

impl CorpusTable {
    fn new(corpus: &str) -> Self {
        CorpusTable {
            corpus: corpus.into(),
            ..Default::default()
        }
    }

    fn add(
        &mut self,
        rules: &Ruleset,
        id: &str,
        eco: Ecosystem,
        group: Option<String>,
        report: &Result<airlock_static::ScanReport, String>,
    ) {
        let r = match report {
            Ok(r) => r,
            Err(e) => {
                self.errors.push(format!("{id}: {e}"));
                return;
            }
        };
        self.packages += 1;
        self.bytes += r.bytes_analyzed;
        self.ms += r.elapsed_ms;
        let mut signals: BTreeMap<String, usize> = BTreeMap::new();
        for s in &r.signals {
            *signals.entry(s.signal.clone()).or_default() += 1;
        }
        for (s, n) in &signals {
            let c = self.signals.entry(s.clone()).or_default();
            c.hits += n;
            c.packages += 1;
        }
        let j = rules.judge_static(id, eco, r.events(1000.0));
        let mut fired = BTreeSet::new();
        for f in &j.findings {
            if fired.insert(f.rule.clone()) {
                self.rules
                    .entry(f.rule.clone())
                    .or_default()
                    .push(id.to_string());
            }
        }
        *self.verdicts.entry(j.verdict.to_string()).or_default() += 1;
        self.results.push(PackageResult {
            id: id.into(),
            group,
            files: r.files_analyzed,
            bytes: r.bytes_analyzed,
            ms: r.elapsed_ms,
            signals,
            verdict: j.verdict.to_string(),
            score: j.score,
            findings: j
                .findings
                .iter()
                .map(|f| FindingBrief {
                    rule: f.rule.clone(),
                    severity: f.severity.to_string(),
                    decisive: f.decisive,
                    message: f.message.clone(),
                })
                .collect(),
        });
    }

    fn finish_groups(&mut self) {
        let mut seen = BTreeSet::new();
        let mut by_group: BTreeMap<String, usize> = BTreeMap::new();
        let mut sorted: Vec<&PackageResult> = self.results.iter().collect();
        sorted.sort_by_key(|r| r.id.to_lowercase());
        for r in sorted {
            if let Some(g) = &r.group {
                if seen.insert(g.clone()) {
                    *by_group.entry(r.verdict.clone()).or_default() += 1;
                }
            }
        }
        if !seen.is_empty() {
            self.group_verdicts = Some(by_group);
        }
    }

    fn markdown(&self, md: &mut String, title: &str, list_findings: bool) {
        let _ = writeln!(
            md,
            "\n## {title}\n\n{} packages ({} unreadable), {:.1} MB read, {} ms of static pass in total.\n",
            self.packages,
            self.errors.len(),
            self.bytes as f64 / 1e6,
            self.ms
        );
        let _ = writeln!(
            md,
            "Static-only verdicts: {}{}\n",
            fmt_counts(&self.verdicts),
            match &self.group_verdicts {
                Some(g) => format!(
                    "; per distinct artifact ({}): {}",
                    g.values().sum::<usize>(),
                    fmt_counts(g)
                ),
                None => String::new(),
            }
        );
        let _ = writeln!(md, "| signal | hits | packages |\n|---|---:|---:|");
        for (id, c) in &self.signals {
            let _ = writeln!(md, "| {id} | {} | {} |", c.hits, c.packages);
        }
        let _ = writeln!(
            md,
            "\n| rule fired (static events judged alone) | packages | |\n|---|---:|---|"
        );
        for (rule, pkgs) in &self.rules {
            let some: Vec<&str> = pkgs.iter().take(8).map(String::as_str).collect();
            let more = if pkgs.len() > some.len() { ", …" } else { "" };
            let _ = writeln!(
                md,
                "| {rule} | {} | {}{more} |",
                pkgs.len(),
                some.join(", ")
            );
        }
        if self.rules.is_empty() {
            let _ = writeln!(md, "| (none) | 0 | |");
        }
        if list_findings {
            let with: Vec<&PackageResult> = self
                .results
                .iter()
                .filter(|r| !r.findings.is_empty())
                .collect();
            if !with.is_empty() {
                let _ = writeln!(md, "\nFindings on these packages:\n");
                for r in with {
                    for f in &r.findings {
                        let _ = writeln!(
                            md,
                            "- {} ({}, {:.1}): `{}` [{}] {}",
                            r.id,
                            r.verdict,
                            r.score,
                            f.rule,
                            f.severity,
                            f.message.replace('|', "\\|")
                        );
                    }
                }
            }
        }
        for e in &self.errors {
            let _ = writeln!(md, "\nunreadable: {e}");
        }
    }
}

fn fmt_counts(m: &BTreeMap<String, usize>) -> String {
    m.iter()
        .map(|(k, v)| format!("{k} {v}"))
        .collect::<Vec<_>>()
        .join(", ")
}

/// `npm pack`s `spec` (name@version) into `dir` once; returns the tarball.
pub fn fetch_npm(spec: &str, dir: &Path) -> Result<PathBuf> {
    let Some(at) = spec[1..].rfind('@').map(|i| i + 1) else {
        bail!("{spec} is not pinned (name@version)");
    };
    let (name, version) = (&spec[..at], &spec[at + 1..]);
    let file = format!(
        "{}-{version}.tgz",
        name.trim_start_matches('@').replace('/', "-")
    );
    let dest = dir.join(file);
    if dest.is_file() {
        return Ok(dest);
    }
    std::fs::create_dir_all(dir)?;
    let st = Command::new("npm")
        .args(["pack", "--ignore-scripts", "--silent", "--pack-destination"])
        .arg(dir)
        .arg(spec)
        .status()
        .context("running npm pack")?;
    if !st.success() || !dest.is_file() {
        bail!("npm pack {spec} did not write {}", dest.display());
    }
    Ok(dest)
}

fn load_rules(dir: Option<&Path>) -> Result<Ruleset> {
    let dir = dir
        .map(Path::to_path_buf)
        .unwrap_or_else(|| crate::repo_root().join("rules"));
    Ruleset::load_dir(&dir).map_err(|e| anyhow::anyhow!("{}", airlock_rules::Diagnostics(&e)))
}

/// The benign lists of the repository, one line each (comments and blank lines out).
fn npm_list(path: &Path) -> Result<Vec<String>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(text
        .lines()
        .map(|l| l.split('#').next().unwrap_or("").trim())
        .filter(|l| !l.is_empty())
        .filter_map(|l| l.split_whitespace().next().map(String::from))
        .collect())
}

/// One artifact of a corpus and what the static pass found in it.
struct Scanned {
    corpus: &'static str,
    id: String,
    eco: Ecosystem,
    group: Option<String>,
    report: Result<airlock_static::ScanReport, String>,
}

impl Scanned {
    fn new(
        corpus: &'static str,
        id: &str,
        eco: Ecosystem,
        report: Result<airlock_static::ScanReport, airlock_static::StaticError>,
    ) -> Self {
        Scanned {
            corpus,
            id: id.into(),
            eco,
            group: None,
            report: report.map_err(|e| e.to_string()),
        }
    }
}

/// The PyPI malware zip: every package entry decrypted into memory and scanned there.
/// Ids are the evaluation's (`corpus::safe_id` of the file name, index-prefixed when
/// two entries share one), so stored traces find their sample.
fn scan_malware(zip_path: &Path, password: &str) -> Result<Vec<Scanned>> {
    let listing = airlock_ecosystem::sample_zip::list(zip_path)?;
    let bytes = std::fs::read(zip_path)?;
    let mut zip = zip::ZipArchive::new(std::io::Cursor::new(bytes))
        .with_context(|| format!("opening {}", zip_path.display()))?;
    let mut out = Vec::new();
    let mut seen = BTreeSet::new();
    let opts = airlock_static::ScanOptions::default();
    for e in &listing.entries {
        let mut id = corpus::safe_id(&e.file_name);
        if !seen.insert(id.clone()) {
            id = format!("{}-{id}", e.index);
            seen.insert(id.clone());
        }
        let mut buf = Vec::with_capacity(e.size.min(64 << 20) as usize);
        let read = if e.encrypted {
            zip.by_index_decrypt(e.index, password.as_bytes())
        } else {
            zip.by_index(e.index)
        }
        .map_err(anyhow::Error::from)
        .and_then(|mut f| f.read_to_end(&mut buf).map_err(anyhow::Error::from));
        let mut s = match read {
            Ok(_) => Scanned::new(
                "pypi-malware",
                &id,
                Ecosystem::Pypi,
                airlock_static::scan_archive_bytes(&buf, Path::new(&e.file_name), &opts),
            ),
            Err(err) => Scanned {
                corpus: "pypi-malware",
                id: id.clone(),
                eco: Ecosystem::Pypi,
                group: None,
                report: Err(format!("{err:#}")),
            },
        };
        s.group = Some(crate::pyinspect::group_key(&buf));
        out.push(s);
    }
    Ok(out)
}

// --- dynamic alone vs dynamic + static over stored traces

#[derive(Serialize, Default)]
struct Transitions {
    corpus: String,
    traces: usize,
    unreadable: Vec<String>,
    /// "dynamic alone → dynamic + static" → samples.
    matrix: BTreeMap<String, usize>,
    /// Samples whose verdict changed, with the rules the static events added.
    changed: Vec<String>,
    /// Expected-malicious samples at or above suspicious / malicious, and
    /// expected-benign samples above benign: (dynamic alone, combined).
    malicious_flagged: (usize, usize),
    malicious_decided: (usize, usize),
    malicious_total: usize,
    benign_flagged: (usize, usize),
    benign_total: usize,
    /// Traces judged with a fresh static pass (the others with their stored events).
    fresh: usize,
    /// Samples whose combined verdict differs between the stored static events and
    /// the current static pass.
    stale_static: Vec<String>,
    samples: Vec<Rejudged>,
}

fn flagged(v: Verdict) -> bool {
    matches!(v, Verdict::Suspicious | Verdict::Malicious)
}

/// One stored trace judged three ways.
#[derive(Serialize)]
struct Rejudged {
    id: String,
    /// Whether the current static pass replaced the trace's stored static signals.
    fresh_static: bool,
    dynamic: String,
    dynamic_score: f64,
    combined: String,
    combined_score: f64,
    /// With the static events the trace stored (the evaluation binary's static pass).
    stored_combined: String,
}

fn transitions(
    rules: &Ruleset,
    corpus: &str,
    dir: &Path,
    fresh: &BTreeMap<(&str, &str), &airlock_static::ScanReport>,
) -> Result<Transitions> {
    let mut t = Transitions {
        corpus: corpus.into(),
        ..Default::default()
    };
    let mut traces: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("reading {}", dir.display()))?
        .flatten()
        .map(|e| e.path())
        .filter(|p| p.to_string_lossy().ends_with(".trace.jsonl"))
        .collect();
    traces.sort();
    for path in &traces {
        let id = path
            .file_name()
            .map(|n| n.to_string_lossy().replace(".trace.jsonl", ""))
            .unwrap_or_default();
        let trace = std::fs::File::open(path)
            .map_err(anyhow::Error::from)
            .and_then(|f| Trace::read(std::io::BufReader::new(f)).map_err(anyhow::Error::from));
        let trace = match trace {
            Ok(tr) => tr,
            Err(e) => {
                // A trace still being written by a running evaluation has no footer yet.
                t.unreadable.push(format!("{id}: {e:#}"));
                continue;
            }
        };
        t.traces += 1;
        let footer = trace.footer.clone();
        let judge = |events: Vec<Event>| {
            let records = events
                .into_iter()
                .map(Record::Event)
                .chain(footer.clone().map(Record::Footer));
            rules.judge(&trace.header, records)
        };
        let dynamic: Vec<Event> = trace
            .events
            .iter()
            .filter(|e| e.phase != "static")
            .cloned()
            .collect();
        let stored: Vec<Event> = trace.events.clone();
        // The current static pass replaces the stored `static.signal` events (version
        // diff signals, which need the registry, and notes are kept).
        let report = fresh.get(&(corpus, id.as_str()));
        let combined: Vec<Event> = match report {
            Some(r) => {
                let ts = trace.events.first().map(|e| e.ts).unwrap_or(0.0);
                let mut all = r.events(ts);
                all.extend(trace.events.iter().filter(|e| {
                    e.phase != "static"
                        || !matches!(&e.kind, EventKind::StaticSignal { signal, .. } if !signal.starts_with("diff-"))
                }).cloned());
                for (i, e) in all.iter_mut().enumerate() {
                    e.seq = i as u64;
                }
                all
            }
            None => stored.clone(),
        };
        let d = judge(dynamic);
        let c = judge(combined);
        let sc = if report.is_some() {
            judge(stored)
        } else {
            c.clone()
        };
        if sc.verdict != c.verdict {
            t.stale_static.push(format!(
                "{id}: {} with the stored static events, {} with the current static pass",
                sc.verdict, c.verdict
            ));
        }
        t.fresh += usize::from(report.is_some());
        t.samples.push(Rejudged {
            id: id.clone(),
            fresh_static: report.is_some(),
            dynamic: d.verdict.to_string(),
            dynamic_score: d.score,
            combined: c.verdict.to_string(),
            combined_score: c.score,
            stored_combined: sc.verdict.to_string(),
        });
        *t.matrix
            .entry(format!("{} → {}", d.verdict, c.verdict))
            .or_default() += 1;
        if d.verdict != c.verdict {
            let added: BTreeSet<&str> = c
                .findings
                .iter()
                .filter(|f| !d.findings.iter().any(|g| g.rule == f.rule))
                .map(|f| f.rule.as_str())
                .collect();
            t.changed.push(format!(
                "{id}: {} ({:.1}) → {} ({:.1}) by {}",
                d.verdict,
                d.score,
                c.verdict,
                c.score,
                added.into_iter().collect::<Vec<_>>().join(", ")
            ));
        }
        let malicious = corpus == "pypi-malware" || id.starts_with("malicious-");
        if malicious {
            t.malicious_total += 1;
            t.malicious_flagged.0 += usize::from(flagged(d.verdict));
            t.malicious_flagged.1 += usize::from(flagged(c.verdict));
            t.malicious_decided.0 += usize::from(d.verdict == Verdict::Malicious);
            t.malicious_decided.1 += usize::from(c.verdict == Verdict::Malicious);
        } else {
            t.benign_total += 1;
            t.benign_flagged.0 += usize::from(flagged(d.verdict));
            t.benign_flagged.1 += usize::from(flagged(c.verdict));
        }
    }
    Ok(t)
}

impl Transitions {
    fn markdown(&self, md: &mut String) {
        let _ = writeln!(
            md,
            "\n### {}: {} traces ({} with the current static pass){}\n",
            self.corpus,
            self.traces,
            self.fresh,
            if self.unreadable.is_empty() {
                String::new()
            } else {
                format!(" ({} unreadable, skipped)", self.unreadable.len())
            }
        );
        let _ = writeln!(
            md,
            "| dynamic alone → dynamic + static | samples |\n|---|---:|"
        );
        for (k, n) in &self.matrix {
            let _ = writeln!(md, "| {k} | {n} |");
        }
        if self.malicious_total > 0 {
            let _ = writeln!(
                md,
                "\nmalicious samples ({}): at or above suspicious {} → {}, malicious {} → {}",
                self.malicious_total,
                self.malicious_flagged.0,
                self.malicious_flagged.1,
                self.malicious_decided.0,
                self.malicious_decided.1
            );
        }
        if self.benign_total > 0 {
            let _ = writeln!(
                md,
                "\nbenign samples ({}): above benign {} → {}",
                self.benign_total, self.benign_flagged.0, self.benign_flagged.1
            );
        }
        if !self.stale_static.is_empty() {
            let _ = writeln!(
                md,
                "\nthe stored static events (evaluation binary) judge differently:\n"
            );
            for c in &self.stale_static {
                let _ = writeln!(md, "- {c}");
            }
        }
        if !self.changed.is_empty() {
            let _ = writeln!(md, "\nchanged:\n");
            for c in &self.changed {
                let _ = writeln!(md, "- {c}");
            }
        }
    }
}

#[derive(Serialize)]
struct SignalsReport {
    date: String,
    /// `git describe --always --dirty` of the repository the binary was built from.
    commit: String,
    ruleset_hash: String,
    tables: Vec<CorpusTable>,
    transitions: Vec<Transitions>,
}

pub fn signals(args: &SignalsArgs) -> Result<u8> {
    let rules = load_rules(args.rules.as_deref())?;
    let repo = crate::repo_root();
    let src = Sources {
        corpus_dir: args
            .corpus_dir
            .clone()
            .unwrap_or_else(|| repo.join("..").join("shared").join("corpus")),
        repo: repo.clone(),
        zip_password: args.zip_password.clone(),
        cache: crate::default_out().join("downloads"),
    };
    let opts = airlock_static::ScanOptions::default();
    let mut scanned: Vec<Scanned> = Vec::new();
    for spec in npm_list(&src.benign_npm_list())? {
        eprintln!("static: {spec}");
        let tgz = fetch_npm(&spec, &src.cache.join("benign-npm"))?;
        scanned.push(Scanned::new(
            "benign-npm",
            &corpus::safe_id(&spec),
            Ecosystem::Npm,
            airlock_static::scan_archive(&tgz, &opts),
        ));
    }
    for spec in &args.extra_npm {
        eprintln!("static: {spec}");
        let tgz = fetch_npm(spec, &src.cache.join("extra-npm"))?;
        scanned.push(Scanned::new(
            "extra-npm",
            &corpus::safe_id(spec),
            Ecosystem::Npm,
            airlock_static::scan_archive(&tgz, &opts),
        ));
    }
    let tmp = tempfile::tempdir()?;
    for s in corpus::load(Corpus::BenignPypi, &src, tmp.path())? {
        eprintln!("static: {}", s.id);
        scanned.push(Scanned::new(
            "benign-pypi",
            &s.id,
            Ecosystem::Pypi,
            airlock_static::scan_archive(Path::new(&s.input), &opts),
        ));
    }
    // The examples (our own packages, no table): packed the way `airlock scan DIR` packs
    // them, for the transitions.
    for s in corpus::load(Corpus::Examples, &src, tmp.path())? {
        let tgz = tmp.path().join(format!("{}.tgz", s.id));
        let report = match airlock_ecosystem::npm::pack_dir(Path::new(&s.input), &tgz) {
            Ok(_) => airlock_static::scan_archive(&tgz, &opts).map_err(|e| e.to_string()),
            Err(e) => Err(e.to_string()),
        };
        scanned.push(Scanned {
            corpus: "examples",
            id: s.id.clone(),
            eco: Ecosystem::Npm,
            group: None,
            report,
        });
    }
    eprintln!("static: {}", src.malware_zip().display());
    scanned.extend(scan_malware(&src.malware_zip(), &args.zip_password)?);

    let mut tables = Vec::new();
    for corpus in ["benign-npm", "extra-npm", "benign-pypi", "pypi-malware"] {
        let mut t = CorpusTable::new(corpus);
        for s in scanned.iter().filter(|s| s.corpus == corpus) {
            t.add(&rules, &s.id, s.eco, s.group.clone(), &s.report);
        }
        t.finish_groups();
        if t.packages + t.errors.len() > 0 {
            tables.push(t);
        }
    }
    let fresh: BTreeMap<(&str, &str), &airlock_static::ScanReport> = scanned
        .iter()
        .filter_map(|s| Some(((s.corpus, s.id.as_str()), s.report.as_ref().ok()?)))
        .collect();
    let mut trans = Vec::new();
    if let Some(root) = &args.traces {
        for c in ["examples", "benign-npm", "benign-pypi", "pypi-malware"] {
            let dir = root.join(c);
            if dir.is_dir() {
                eprintln!("transitions: {}", dir.display());
                trans.push(transitions(&rules, c, &dir, &fresh)?);
            }
        }
    }
    let date = String::from_utf8_lossy(
        &Command::new("date")
            .args(["-u", "+%Y-%m-%d %H:%M UTC"])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .trim()
    .to_string();
    let commit = String::from_utf8_lossy(
        &Command::new("git")
            .arg("-C")
            .arg(&repo)
            .args(["describe", "--always", "--dirty"])
            .output()
            .map(|o| o.stdout)
            .unwrap_or_default(),
    )
    .trim()
    .to_string();
    let report = SignalsReport {
        date: date.clone(),
        commit: commit.clone(),
        ruleset_hash: rules.hash().to_string(),
        tables,
        transitions: trans,
    };
    let mut md = format!(
        "# Static pass: signals, static rules, dynamic vs combined verdicts ({date})\n\n\
         Written by `airlock-bench static-signals` at commit {commit}; ruleset {}. Every static observation \
         is one `static.signal` event (phase `static`); the tables count signal ids. \
         \"Rules fired\" judges a package's static events alone (a complete trace with no \
         phase run) with the repository's rules. Malware samples are decrypted from the \
         corpus zip in memory and read by `airlock_static::scan_archive_bytes`.\n",
        rules.hash()
    );
    for t in &report.tables {
        let title = match t.corpus.as_str() {
            "benign-npm" => "Benign npm (examples/benign-npm-pinned.txt)",
            "extra-npm" => "Extra npm packages",
            "benign-pypi" => "Benign PyPI (tests/corpus/benign-pypi-pinned.txt)",
            _ => "PyPI malware (pypi-malicious-dev/samples.zip)",
        };
        t.markdown(&mut md, title, t.corpus != "pypi-malware");
    }
    if !report.transitions.is_empty() {
        let _ = writeln!(
            md,
            "\n## Dynamic alone vs dynamic + static (stored traces, current rules)\n\n\
             Each stored trace is judged without its `static` phase events, and with the \
             static events of the current static pass over the same artifact (benign \
             lists, examples and malware zip entries as above; a trace whose artifact is \
             not found keeps its stored static events). Where the static events stored \
             by the evaluation binary judge differently, it is listed."
        );
        for t in &report.transitions {
            t.markdown(&mut md);
        }
    }
    if let Some(dir) = args.out.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let with_ext = |ext: &str| {
        let mut p = args.out.clone().into_os_string();
        p.push(ext);
        PathBuf::from(p)
    };
    std::fs::write(with_ext(".md"), &md)?;
    std::fs::write(
        with_ext(".json"),
        serde_json::to_string_pretty(&report)? + "\n",
    )?;
    print!("{md}");
    Ok(0)
}

// ---------------------------------------------------------------------------------------
// static-ratio

#[derive(Serialize)]
struct RatioReport {
    package: String,
    tarball_bytes: u64,
    files_analyzed: u64,
    bytes_analyzed: u64,
    static_threads: usize,
    static_runs_ms: Vec<f64>,
    static_median_ms: f64,
    static_single_thread_ms: f64,
    /// CPU time (user + system) of this process per static run: what the pass costs
    /// without the waiting a loaded machine adds to its wall time.
    static_cpu_ms_per_run: f64,
    /// `/proc/loadavg` (1 min) before the static runs and after the scan.
    load_before: f64,
    load_after: f64,
    install_ms: u64,
    install_status: String,
    scan_wall_ms: u64,
    verdict: String,
    ratio: f64,
    ratio_single_thread: f64,
    ratio_cpu: f64,
    target: f64,
    pass: bool,
}

/// User + system CPU time of this process so far, in ms (`/proc/self/stat`, in
/// USER_HZ = 100 ticks per second on Linux); 0 where unavailable.
fn process_cpu_ms() -> f64 {
    let Ok(stat) = std::fs::read_to_string("/proc/self/stat") else {
        return 0.0;
    };
    // Fields after the parenthesised command name; utime and stime are fields 14, 15.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).unwrap_or("");
    let f: Vec<&str> = rest.split_whitespace().collect();
    let tick = |i: usize| f.get(i).and_then(|x| x.parse::<f64>().ok()).unwrap_or(0.0);
    (tick(11) + tick(12)) * 10.0
}

fn load_avg() -> f64 {
    std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|s| s.split_whitespace().next()?.parse().ok())
        .unwrap_or(0.0)
}

fn median(v: &[f64]) -> f64 {
    let mut s = v.to_vec();
    s.sort_by(f64::total_cmp);
    match s.len() {
        0 => 0.0,
        n if n % 2 == 1 => s[n / 2],
        n => (s[n / 2 - 1] + s[n / 2]) / 2.0,
    }
}

pub fn ratio(airlock: &Airlock, args: &RatioArgs) -> Result<u8> {
    let tgz = match &args.tgz {
        Some(t) => t.clone(),
        None => fetch_npm(
            &args.package,
            &crate::default_out().join("downloads").join("extra-npm"),
        )?,
    };
    let tarball_bytes = std::fs::metadata(&tgz)?.len();
    // The static pass as `airlock scan` runs it: the archive read and analyzed in
    // memory, default options.
    let opts = airlock_static::ScanOptions::default();
    let load_before = load_avg();
    let cpu0 = process_cpu_ms();
    let mut runs = Vec::new();
    let mut last = None;
    for _ in 0..args.runs.max(1) {
        let t = Instant::now();
        let r = airlock_static::scan_archive(&tgz, &opts)?;
        runs.push(t.elapsed().as_secs_f64() * 1000.0);
        last = Some(r);
    }
    let cpu_per_run = (process_cpu_ms() - cpu0) / runs.len() as f64;
    let Some(report) = last else {
        bail!("no static run");
    };
    let single = airlock_static::ScanOptions {
        threads: 1,
        ..Default::default()
    };
    let t = Instant::now();
    airlock_static::scan_archive(&tgz, &single)?;
    let single_ms = t.elapsed().as_secs_f64() * 1000.0;
    let static_median = median(&runs);
    eprintln!(
        "static pass: {} runs, median {static_median:.0} ms ({} threads), single thread {single_ms:.0} ms; now the sandboxed scan",
        runs.len(),
        opts.threads
    );
    // The sandboxed install of the same tarball: one `airlock scan`, import phase off.
    let rules = crate::repo_root().join("rules");
    let run = airlock.scan(
        &tgz.display().to_string(),
        None,
        &[
            "--no-import".into(),
            "--rules".into(),
            rules.display().to_string(),
        ],
        Duration::from_secs(args.timeout),
    )?;
    let v: serde_json::Value = serde_json::from_str(&run.stdout).with_context(|| {
        format!(
            "airlock scan gave no JSON report (exit {:?}): {}",
            run.exit_code,
            run.stderr_tail(10)
        )
    })?;
    let install = v["phases"]
        .as_array()
        .and_then(|ps| ps.iter().find(|p| p["name"] == "install"))
        .cloned()
        .unwrap_or_default();
    let Some(install_ms) = install["duration_ms"].as_u64() else {
        bail!("no install phase in the report: {}", run.stderr_tail(10));
    };
    let load_after = load_avg();
    let ratio = static_median / install_ms.max(1) as f64;
    let ratio_single = single_ms / install_ms.max(1) as f64;
    let out = RatioReport {
        package: args.package.clone(),
        tarball_bytes,
        files_analyzed: report.files_analyzed,
        bytes_analyzed: report.bytes_analyzed,
        static_threads: opts.threads,
        static_runs_ms: runs.iter().map(|x| (x * 10.0).round() / 10.0).collect(),
        static_median_ms: static_median,
        static_single_thread_ms: single_ms,
        static_cpu_ms_per_run: cpu_per_run,
        load_before,
        load_after,
        install_ms,
        install_status: install["status"].as_str().unwrap_or("?").to_string(),
        scan_wall_ms: run.wall_ms,
        verdict: v["verdict"].as_str().unwrap_or("?").to_string(),
        ratio,
        ratio_single_thread: ratio_single,
        ratio_cpu: cpu_per_run / install_ms.max(1) as f64,
        target: args.target,
        pass: ratio < args.target,
    };
    println!(
        "{}: tarball {:.1} MB, {} files / {:.1} MB analyzed\n\
         static pass (in memory, {} threads, {} runs): median {:.0} ms (runs {:?}); single thread {:.0} ms; CPU {:.0} ms per run\n\
         sandboxed install (airlock scan --no-import, install phase {}): {} ms; scan wall {} ms, verdict {}\n\
         load average (1 min) {:.1} before, {:.1} after\n\
         ratio static / install (wall, median): {:.3} (single thread {:.3}; CPU time {:.3}); target < {}: {}",
        out.package,
        tarball_bytes as f64 / 1e6,
        out.files_analyzed,
        out.bytes_analyzed as f64 / 1e6,
        out.static_threads,
        runs.len(),
        out.static_median_ms,
        out.static_runs_ms,
        out.static_single_thread_ms,
        out.static_cpu_ms_per_run,
        out.install_status,
        out.install_ms,
        out.scan_wall_ms,
        out.verdict,
        out.load_before,
        out.load_after,
        out.ratio,
        out.ratio_single_thread,
        out.ratio_cpu,
        out.target,
        if out.pass { "PASS" } else { "FAIL" }
    );
    if let Some(p) = &args.out {
        std::fs::write(p, serde_json::to_string_pretty(&out)? + "\n")?;
    }
    Ok(u8::from(!out.pass))
}
