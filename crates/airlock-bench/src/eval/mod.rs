//! `airlock-bench eval`: runs airlock over the corpora, one JSON result (plus the full
//! trace) per sample under `OUT/<corpus>/`, resumable, and re-judgeable without the
//! sandbox (`--rejudge` runs `airlock judge` on every stored trace). Then aggregates
//! everything into `OUT/eval.md` and `OUT/eval.json`: verdict counts, recall, false
//! positives, precision/F1, rule hits, phases, timings, misses and install failures.
//! The at-scale corpora (hard cases, most downloaded; see [`crate::scale`]) are fetched
//! into a cache, sharded (`--shard i/n`), logged as JSONL, scanned by GuardDog on the same
//! files (`--guarddog`), and tabulated into `OUT/scale.md` and `OUT/scale.json`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::corpus::{self, Corpus, Expected, Sample, Sources};
use crate::runner::{self, Airlock};

mod render;
mod summary;

use render::render;
use summary::{summarize, Miss};

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum CorpusArg {
    PypiMalware,
    Examples,
    BenignNpm,
    BenignPypi,
    /// The dev corpora above (examples, benign lists, PyPI dev malware).
    All,
    HardNpm,
    HardPypi,
    /// hard-npm and hard-pypi.
    Hard,
    TopNpm,
    TopPypi,
    /// The second PyPI malware set (`pypi-malicious-2025-26`).
    PypiMalware2026,
    /// Both PyPI malware sets.
    Malware,
    /// hard-npm, hard-pypi, top-pypi, top-npm (in that order).
    Scale,
}

#[derive(clap::Args, Debug)]
pub struct EvalArgs {
    /// Which corpora to run (repeat or comma-separate: `--corpus hard,malware`).
    #[arg(long, value_enum, value_delimiter = ',', default_values_t = [CorpusArg::All])]
    pub corpus: Vec<CorpusArg>,
    /// Scans at a time (keep ≤ 2 on a shared 2-core machine).
    #[arg(long, default_value_t = 2)]
    pub concurrency: usize,
    /// Only the first N samples of each corpus.
    #[arg(long)]
    pub limit: Option<usize>,
    /// Results directory (default target/airlock-bench/eval, or …/smoke with --smoke).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Scan again even when a sample's result exists.
    #[arg(long, alias = "redo")]
    pub fresh: bool,
    /// Only this shard of the samples (`i/n`, 1-based; a stable hash of the id), so n
    /// runs (or machines) share a corpus without overlap.
    #[arg(long)]
    pub shard: Option<crate::scale::Shard>,
    /// Where fetched artifacts are kept, one directory per `name@version` (default
    /// target/airlock-bench/downloads).
    #[arg(long)]
    pub cache: Option<PathBuf>,
    /// Also run GuardDog (this `guarddog` executable) on every sample's artifact file,
    /// right after airlock's scan of the same file.
    #[arg(long)]
    pub guarddog: Option<PathBuf>,
    /// Run only GuardDog, on the samples without a GuardDog result (no airlock scan).
    #[arg(long)]
    pub guarddog_only: bool,
    /// Wall-clock limit of one GuardDog scan, in seconds.
    #[arg(long, default_value_t = 300)]
    pub guarddog_timeout: u64,
    /// Mix the corpora's samples in one pseudo-random order instead of corpus by corpus
    /// (a run cut short then covers every corpus).
    #[arg(long)]
    pub interleave: bool,
    /// Also write the at-scale tables (scale.md, scale.json) into this directory.
    #[arg(long)]
    pub tables: Option<PathBuf>,
    /// No sandbox: re-judge every stored trace with `airlock judge` (current rules) and
    /// rewrite the tables.
    #[arg(long)]
    pub rejudge: bool,
    /// No scanning: only rebuild the tables from the stored results.
    #[arg(long)]
    pub report_only: bool,
    /// The CI subset (2 malicious examples, 1 benign example, 2 PyPI malware sdists;
    /// nothing leaves loopback): exit 1 when any expected verdict or rule is missed.
    #[arg(long)]
    pub smoke: bool,
    /// Scan again the samples whose stored verdict is `error`.
    #[arg(long)]
    pub retry_errors: bool,
    /// Fetch `name@version` straight from the registry instead of through the loopback
    /// mirror (see mirror.rs: airlock's npm client ignores `$SSL_CERT_FILE`).
    #[arg(long)]
    pub no_mirror: bool,
    /// Only samples whose id contains one of these strings. (A file `OUT/STOP` makes a
    /// running eval finish the scans under way and start no more.)
    #[arg(long)]
    pub only: Vec<String>,
    /// The shared corpus directory (holds pypi-malicious-dev/samples.zip).
    #[arg(long, env = "AIRLOCK_CORPUS_DIR")]
    pub corpus_dir: Option<PathBuf>,
    #[arg(long, default_value = airlock_ecosystem::sample_zip::DEFAULT_PASSWORD)]
    pub zip_password: String,
    /// Wall-clock limit of one scan, in seconds (then SIGINT, then SIGKILL).
    #[arg(long, default_value_t = 600)]
    pub sample_timeout: u64,
    /// Extra arguments for every `airlock scan` (after `--`).
    #[arg(last = true)]
    pub scan_args: Vec<String>,
}

/// The stored result of one sample.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SampleResult {
    pub corpus: Corpus,
    pub id: String,
    pub input: String,
    pub expected: Expected,
    #[serde(default)]
    pub group: Option<String>,
    pub wall_ms: u64,
    pub exit_code: Option<i32>,
    /// The bench stopped it at `--sample-timeout`.
    pub killed: bool,
    pub stderr_tail: String,
    /// Current verdict (after `--rejudge`, the re-judged one).
    pub verdict: String,
    /// Malware corpora: `tuning` or `held-out` (see `corpus::manifest_splits`).
    #[serde(default)]
    pub split: Option<String>,
    pub score: Option<f64>,
    /// The verdict the scan itself gave.
    pub scan_verdict: String,
    #[serde(default)]
    pub rejudged: bool,
    /// Trace file name, next to this result.
    pub trace: Option<String>,
    pub airlock: String,
    /// The `--format json` report (after `--rejudge`, the re-judged one).
    pub report: Option<Value>,
}

impl SampleResult {
    fn findings(&self) -> &[Value] {
        self.report
            .as_ref()
            .and_then(|r| r["findings"].as_array())
            .map(Vec::as_slice)
            .unwrap_or(&[])
    }
    fn rules_fired(&self) -> BTreeSet<String> {
        self.findings()
            .iter()
            .filter_map(|f| f["rule"].as_str().map(String::from))
            .collect()
    }
    fn phase(&self, name: &str) -> Option<&Value> {
        self.report
            .as_ref()?
            .get("phases")?
            .as_array()?
            .iter()
            .find(|p| p["name"].as_str() == Some(name))
    }
}

pub(super) fn rank(v: &str) -> u8 {
    match v {
        "malicious" => 2,
        "suspicious" => 1,
        _ => 0,
    }
}

fn result_path(out: &Path, s: &Sample) -> PathBuf {
    out.join(s.corpus.name()).join(format!("{}.json", s.id))
}

pub fn run(airlock: &Airlock, args: &EvalArgs) -> Result<u8> {
    let repo = crate::repo_root();
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::default_out().join(if args.smoke { "smoke" } else { "eval" }));
    std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
    let src = Sources {
        corpus_dir: args
            .corpus_dir
            .clone()
            .unwrap_or_else(|| repo.join("..").join("shared").join("corpus")),
        repo,
        zip_password: args.zip_password.clone(),
        cache: args
            .cache
            .clone()
            .unwrap_or_else(|| crate::default_out().join("downloads")),
    };
    let guarddog = match &args.guarddog {
        Some(bin) => Some(crate::scale::GuardDog::new(bin.clone())?),
        None => None,
    };
    if args.guarddog_only && guarddog.is_none() {
        anyhow::bail!("--guarddog-only needs --guarddog PATH");
    }
    let extract = tempfile::Builder::new()
        .prefix("airlock-bench-samples-")
        .tempdir()
        .context("temporary directory for sample copies")?;
    let corpora: Vec<Corpus> = if args.smoke {
        vec![Corpus::Examples, Corpus::PypiMalware]
    } else {
        let mut v: Vec<Corpus> = Vec::new();
        for c in args.corpus.iter().flat_map(|a| corpora_of(*a)) {
            if !v.contains(&c) {
                v.push(c);
            }
        }
        v
    };
    let mut samples = Vec::new();
    for c in &corpora {
        let mut s = corpus::load(*c, &src, extract.path())?;
        if args.smoke {
            s.retain(|s| SMOKE.iter().any(|(c, id)| *c == s.corpus && s.id == *id));
            for x in s.iter_mut().filter(|x| x.corpus == Corpus::PypiMalware) {
                // These two are caught by their setup.py's decode-then-exec (audit hook
                // and static signal) whether or not the install completes; the bar is
                // "at least suspicious" until the PyPI rules give `malicious`.
                x.expected.verdict = "suspicious".into();
            }
        }
        if !args.only.is_empty() {
            s.retain(|s| args.only.iter().any(|o| s.id.contains(o.as_str())));
        }
        if let Some(sh) = args.shard {
            s.retain(|x| sh.owns(x.corpus, &x.id));
        }
        if let Some(n) = args.limit {
            s.truncate(n);
        }
        std::fs::create_dir_all(out.join(c.name()))?;
        samples.extend(s);
    }
    let fresh = args.fresh || args.smoke;
    let mut extra = args.scan_args.clone();
    if args.smoke {
        // Nothing may leave loopback in CI: any registry fetch fails instead.
        extra.extend(
            [
                "--registry",
                "http://127.0.0.1:9",
                "--pypi-index",
                "http://127.0.0.1:9",
            ]
            .map(String::from),
        );
    }
    if args.rejudge {
        rejudge(airlock, &out, &samples, args.concurrency)?;
    } else if args.guarddog_only {
        if let Some(gd) = &guarddog {
            guarddog_pass(gd, &out, &samples, &src, args)?;
        }
    } else if !args.report_only {
        let mut todo: Vec<&Sample> = samples
            .iter()
            .filter(|s| {
                fresh
                    || !result_path(&out, s).is_file()
                    || (args.retry_errors && stored_error(&out, s))
            })
            .collect();
        // Corpus by corpus, but each in a fixed pseudo-random order: a run cut short
        // (see STOP below) leaves a random subset, not the alphabetical head of a list
        // full of typosquat clusters.
        todo.sort_by_cached_key(|s| {
            let pos = corpora.iter().position(|c| *c == s.corpus);
            (pos.filter(|_| !args.interleave), shuffle_key(&s.id))
        });
        eprintln!(
            "airlock-bench: {} samples, {} to scan, {} at a time, results in {}",
            samples.len(),
            todo.len(),
            args.concurrency,
            out.display()
        );
        let done = std::sync::atomic::AtomicUsize::new(0);
        let limit = Duration::from_secs(args.sample_timeout);
        let mut npm_extra = extra.clone();
        if !args.no_mirror && todo.iter().any(|s| uses_npm_mirror(s.corpus)) {
            let m =
                crate::mirror::start(crate::mirror::NPM_UPSTREAM, &src.cache.join("npm-mirror"))?;
            eprintln!(
                "airlock-bench: npm registry through the loopback mirror {}",
                m.url
            );
            npm_extra.extend(["--registry".to_string(), m.url]);
        }
        let stop = out.join("STOP");
        let errors = runner::pool(&todo, args.concurrency, |_, s| {
            if stop.exists() {
                return None;
            }
            let extra = if uses_npm_mirror(s.corpus) {
                &npm_extra
            } else {
                &extra
            };
            let input = match &s.fetch {
                Some(f) => match crate::scale::fetch(f, &src.cache) {
                    Ok(p) => p.display().to_string(),
                    Err(e) => {
                        eprintln!("{}/{}: fetch failed: {e:#}", s.corpus.name(), s.id);
                        let _ = crate::scale::append_jsonl(
                            &out.join(s.corpus.name()).join("fetch-errors.jsonl"),
                            &serde_json::json!({"id": s.id, "error": format!("{e:#}")}),
                        );
                        return Some(format!("{}: fetch: {e:#}", s.id));
                    }
                },
                None => s.input.clone(),
            };
            let r = scan_one(airlock, &out, s, &input, extra, limit);
            if let Some(gd) = &guarddog {
                // Same file, same run; a GuardDog result already there (an earlier
                // `--guarddog-only` pass over the same cache) is kept unless --redo.
                let have = !fresh && crate::scale::guarddog_path(&out, s).is_file();
                if Path::new(&input).is_file() && !have {
                    let g = crate::scale::guarddog_one(
                        gd,
                        &out,
                        s,
                        Path::new(&input),
                        Duration::from_secs(args.guarddog_timeout),
                    );
                    match g {
                        Ok(g) => eprintln!(
                            "    guarddog {}: {} ({:.1} s)",
                            s.id,
                            if let Some(f) = &g.failure {
                                format!("failed: {f}")
                            } else if g.flags.is_empty() {
                                "no flag".into()
                            } else {
                                g.flags.join(",")
                            },
                            g.wall_ms as f64 / 1000.0
                        ),
                        Err(e) => eprintln!("    guarddog {}: {e:#}", s.id),
                    }
                }
            }
            let n = done.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            match &r {
                Ok(r) => eprintln!(
                    "[{n}/{}] {}/{}: {} ({:.1} s)",
                    todo.len(),
                    s.corpus.name(),
                    s.id,
                    r.verdict,
                    r.wall_ms as f64 / 1000.0
                ),
                Err(e) => eprintln!(
                    "[{n}/{}] {}/{}: bench error: {e:#}",
                    todo.len(),
                    s.corpus.name(),
                    s.id
                ),
            }
            r.err().map(|e| format!("{}: {e:#}", s.id))
        });
        for e in errors.into_iter().flatten() {
            eprintln!("airlock-bench: {e}");
        }
    }
    let mut results = Vec::new();
    for s in &samples {
        let p = result_path(&out, s);
        if let Ok(text) = std::fs::read_to_string(&p) {
            let r: SampleResult =
                serde_json::from_str(&text).with_context(|| format!("reading {}", p.display()))?;
            results.push(r);
        }
    }
    if corpora
        .iter()
        .any(|c| is_scale(*c) || (c.is_malware() && guarddog.is_some()))
    {
        write_scale(
            airlock,
            guarddog.as_ref(),
            &out,
            &corpora,
            &samples,
            &results,
            args,
        )?;
    }
    let summary = summarize(&corpora, &results);
    let md = render(&summary, airlock, &out);
    std::fs::write(out.join("eval.md"), &md)?;
    std::fs::write(out.join("eval.json"), serde_json::to_vec_pretty(&summary)?)?;
    println!("{md}");
    eprintln!(
        "airlock-bench: wrote {}/eval.md and eval.json",
        out.display()
    );
    if args.smoke {
        let missed: Vec<&Miss> = summary.corpora.iter().flat_map(|c| &c.misses).collect();
        let absent = samples.len() - results.len();
        if samples.len() < SMOKE.len() {
            eprintln!(
                "airlock-bench: smoke: only {} of {} samples found",
                samples.len(),
                SMOKE.len()
            );
            return Ok(1);
        }
        if !missed.is_empty() || absent > 0 {
            eprintln!(
                "airlock-bench: smoke: {} missed, {absent} without a result",
                missed.len()
            );
            return Ok(1);
        }
        eprintln!("airlock-bench: smoke: {} passed, 0 failed", samples.len());
    }
    Ok(0)
}

/// The corpora one `--corpus` value names.
fn corpora_of(a: CorpusArg) -> Vec<Corpus> {
    match a {
        CorpusArg::All => Corpus::ALL.to_vec(),
        CorpusArg::PypiMalware => vec![Corpus::PypiMalware],
        CorpusArg::Examples => vec![Corpus::Examples],
        CorpusArg::BenignNpm => vec![Corpus::BenignNpm],
        CorpusArg::BenignPypi => vec![Corpus::BenignPypi],
        CorpusArg::HardNpm => vec![Corpus::HardNpm],
        CorpusArg::HardPypi => vec![Corpus::HardPypi],
        CorpusArg::Hard => vec![Corpus::HardNpm, Corpus::HardPypi],
        CorpusArg::TopNpm => vec![Corpus::TopNpm],
        CorpusArg::TopPypi => vec![Corpus::TopPypi],
        CorpusArg::PypiMalware2026 => vec![Corpus::PypiMalware2026],
        CorpusArg::Malware => vec![Corpus::PypiMalware, Corpus::PypiMalware2026],
        CorpusArg::Scale => vec![
            Corpus::HardNpm,
            Corpus::HardPypi,
            Corpus::TopPypi,
            Corpus::TopNpm,
        ],
    }
}

/// The at-scale corpora (tables in `scale.md`).
fn is_scale(c: Corpus) -> bool {
    matches!(
        c,
        Corpus::HardNpm | Corpus::HardPypi | Corpus::TopNpm | Corpus::TopPypi
    )
}

/// npm corpora whose dependencies come through the loopback mirror.
fn uses_npm_mirror(c: Corpus) -> bool {
    matches!(c, Corpus::BenignNpm | Corpus::HardNpm | Corpus::TopNpm)
}

/// The at-scale tables: `OUT/scale.{md,json}` (and a copy in `--tables DIR`).
fn write_scale(
    airlock: &Airlock,
    guarddog: Option<&crate::scale::GuardDog>,
    out: &Path,
    corpora: &[Corpus],
    samples: &[Sample],
    results: &[SampleResult],
    args: &EvalArgs,
) -> Result<()> {
    let mut gds = BTreeMap::new();
    for s in samples {
        let p = crate::scale::guarddog_path(out, s);
        if let Ok(t) = std::fs::read_to_string(&p) {
            let g: crate::scale::GuardDogResult =
                serde_json::from_str(&t).with_context(|| format!("reading {}", p.display()))?;
            gds.insert((s.corpus, s.id.clone()), g);
        }
    }
    // The split comes from the sample, which knows it now (results written before
    // splits, or before inert placeholders were told apart, carry an older one).
    let results: Vec<SampleResult> = results
        .iter()
        .map(|r| {
            let mut r = r.clone();
            let now = samples
                .iter()
                .find(|s| s.corpus == r.corpus && s.id == r.id)
                .and_then(|s| s.split.clone());
            if now.is_some() {
                r.split = now;
            }
            r
        })
        .collect();
    let sum = crate::scale::summarize(corpora, samples, &results, &gds, airlock, guarddog);
    let md = crate::scale::render(&sum);
    let json = serde_json::to_vec_pretty(&sum)?;
    let mut dirs = vec![out.to_path_buf()];
    dirs.extend(args.tables.clone());
    for d in dirs {
        std::fs::create_dir_all(&d)?;
        std::fs::write(d.join("scale.md"), &md)?;
        std::fs::write(d.join("scale.json"), &json)?;
        eprintln!(
            "airlock-bench: wrote {}/scale.md and scale.json",
            d.display()
        );
    }
    Ok(())
}

/// `--guarddog-only`: GuardDog on every sample without a GuardDog result (fetching the
/// artifact when the sample has one to fetch), airlock not run.
fn guarddog_pass(
    gd: &crate::scale::GuardDog,
    out: &Path,
    samples: &[Sample],
    src: &Sources,
    args: &EvalArgs,
) -> Result<()> {
    let todo: Vec<&Sample> = samples
        .iter()
        .filter(|s| args.fresh || !crate::scale::guarddog_path(out, s).is_file())
        .collect();
    eprintln!("airlock-bench: GuardDog on {} samples", todo.len());
    let stop = out.join("STOP");
    let n = std::sync::atomic::AtomicUsize::new(0);
    let errs = runner::pool(&todo, args.concurrency, |_, s| -> Option<String> {
        if stop.exists() {
            return None;
        }
        let file = match &s.fetch {
            Some(f) => match crate::scale::fetch(f, &src.cache) {
                Ok(p) => p,
                Err(e) => return Some(format!("{}: fetch: {e:#}", s.id)),
            },
            None => PathBuf::from(&s.input),
        };
        let r = crate::scale::guarddog_one(
            gd,
            out,
            s,
            &file,
            Duration::from_secs(args.guarddog_timeout),
        );
        let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        match r {
            Ok(g) => {
                eprintln!(
                    "[{k}/{}] guarddog {}/{}: {} ({:.1} s)",
                    todo.len(),
                    s.corpus.name(),
                    s.id,
                    g.failure.clone().unwrap_or_else(|| if g.flags.is_empty() {
                        "no flag".into()
                    } else {
                        g.flags.join(",")
                    }),
                    g.wall_ms as f64 / 1000.0
                );
                None
            }
            Err(e) => Some(format!("{}: {e:#}", s.id)),
        }
    });
    for e in errs.into_iter().flatten() {
        eprintln!("airlock-bench: guarddog: {e}");
    }
    Ok(())
}

/// The stored result of `s` says `error`.
fn stored_error(out: &Path, s: &Sample) -> bool {
    std::fs::read_to_string(result_path(out, s))
        .ok()
        .and_then(|t| serde_json::from_str::<SampleResult>(&t).ok())
        .is_some_and(|r| r.verdict == "error")
}

/// A stable pseudo-random sort key.
fn shuffle_key(id: &str) -> String {
    use sha2::Digest;
    hex::encode(sha2::Sha256::digest(id.as_bytes()))
}

/// The CI subset: two malicious examples, one benign example, two PyPI malware sdists.
/// Registries are pointed at a closed loopback port, so nothing leaves the machine.
pub const SMOKE: [(Corpus, &str); 5] = [
    (Corpus::Examples, "malicious-env-webhook-stealer"),
    (Corpus::Examples, "malicious-depconf-dns-beacon"),
    (Corpus::Examples, "benign-hello-postinstall"),
    (Corpus::PypiMalware, SMOKE_PYPI[0]),
    (Corpus::PypiMalware, SMOKE_PYPI[1]),
];
const SMOKE_PYPI: [&str; 2] = ["pullmc-7.91.tar.gz", "grandhttp-5.74.tar.gz"];

fn scan_one(
    airlock: &Airlock,
    out: &Path,
    s: &Sample,
    input: &str,
    extra: &[String],
    limit: Duration,
) -> Result<SampleResult> {
    let dir = out.join(s.corpus.name());
    let trace_name = format!("{}.trace.jsonl", s.id);
    let trace = dir.join(&trace_name);
    let _ = std::fs::remove_file(&trace);
    let run = airlock.scan(input, Some(&trace), extra, limit)?;
    let report: Option<Value> = serde_json::from_str(run.stdout.trim()).ok();
    let verdict = match (&report, run.killed) {
        (_, true) => "timed-out".to_string(),
        (Some(r), _) => r["verdict"].as_str().unwrap_or("error").to_string(),
        (None, _) => "error".to_string(),
    };
    let r = SampleResult {
        corpus: s.corpus,
        id: s.id.clone(),
        input: input.to_string(),
        expected: s.expected.clone(),
        group: s.group.clone(),
        split: s.split.clone(),
        wall_ms: run.wall_ms,
        exit_code: run.exit_code,
        killed: run.killed,
        stderr_tail: run.stderr_tail(8),
        score: report.as_ref().and_then(|r| r["score"].as_f64()),
        scan_verdict: verdict.clone(),
        verdict,
        rejudged: false,
        trace: trace.is_file().then_some(trace_name),
        airlock: airlock.bin.display().to_string(),
        report,
    };
    std::fs::write(result_path(out, s), serde_json::to_vec_pretty(&r)?)?;
    crate::scale::append_jsonl(&dir.join("results.jsonl"), &r)?;
    Ok(r)
}

fn rejudge(airlock: &Airlock, out: &Path, samples: &[Sample], concurrency: usize) -> Result<()> {
    let n = std::sync::atomic::AtomicUsize::new(0);
    let errs = runner::pool(samples, concurrency, |_, s| -> Option<String> {
        let p = result_path(out, s);
        let mut r: SampleResult = serde_json::from_str(&std::fs::read_to_string(&p).ok()?).ok()?;
        let trace = out.join(s.corpus.name()).join(r.trace.as_ref()?);
        let run = match airlock.judge(&trace, Duration::from_secs(300)) {
            Ok(run) => run,
            Err(e) => return Some(format!("{}: {e:#}", s.id)),
        };
        let Ok(mut report) = serde_json::from_str::<Value>(run.stdout.trim()) else {
            return Some(format!(
                "{}: airlock judge printed no report: {}",
                s.id,
                run.stderr_tail(3)
            ));
        };
        // `judge` sees only the trace: keep the scan's phase details where it has none.
        if report
            .get("phases")
            .is_none_or(|p| p.as_array().is_none_or(Vec::is_empty))
        {
            if let Some(ph) = r.report.as_ref().and_then(|o| o.get("phases")).cloned() {
                report["phases"] = ph;
            }
        }
        r.verdict = if r.killed {
            "timed-out".into()
        } else {
            report["verdict"].as_str().unwrap_or("error").to_string()
        };
        r.score = report["score"].as_f64();
        r.report = Some(report);
        r.rejudged = true;
        let k = n.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
        if r.verdict != r.scan_verdict {
            eprintln!(
                "[{k}] {}/{}: {} → {}",
                s.corpus.name(),
                s.id,
                r.scan_verdict,
                r.verdict
            );
        }
        match serde_json::to_vec_pretty(&r) {
            Ok(b) => std::fs::write(&p, b)
                .err()
                .map(|e| format!("{}: {e}", p.display())),
            Err(e) => Some(e.to_string()),
        }
    });
    for e in errs.into_iter().flatten() {
        eprintln!("airlock-bench: rejudge: {e}");
    }
    eprintln!("airlock-bench: re-judged {} traces", n.into_inner());
    Ok(())
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::summary::failure_reason;
    use super::*;

    fn result(corpus: Corpus, id: &str, expected: &str, got: &str, rules: &[&str]) -> SampleResult {
        let findings: Vec<Value> = rules
            .iter()
            .map(|r| serde_json::json!({"rule": r, "severity": "high", "message": "m", "evidence": [{"phase": "install"}]}))
            .collect();
        SampleResult {
            corpus,
            id: id.into(),
            input: id.into(),
            expected: Expected {
                verdict: expected.into(),
                rules: vec![],
            },
            group: Some(format!("setup.py:{}", id.len())),
            split: None,
            wall_ms: 1000,
            exit_code: Some(0),
            killed: false,
            stderr_tail: String::new(),
            verdict: got.into(),
            score: None,
            scan_verdict: got.into(),
            rejudged: false,
            trace: None,
            airlock: "airlock".into(),
            report: Some(
                serde_json::json!({"findings": findings, "phases": [{"name": "install", "status": "ok", "exit_code": 1, "output_tail": "ModuleNotFoundError: No module named 'x'"}]}),
            ),
        }
    }

    #[test]
    fn recall_fpr_precision() {
        let rs = vec![
            result(Corpus::PypiMalware, "a", "malicious", "malicious", &["x"]),
            result(Corpus::PypiMalware, "bb", "malicious", "suspicious", &["y"]),
            result(Corpus::PypiMalware, "cc", "malicious", "benign", &[]),
            result(Corpus::PypiMalware, "d", "malicious", "error", &[]),
            result(Corpus::BenignPypi, "e", "benign", "benign", &[]),
            result(Corpus::BenignPypi, "f", "benign", "suspicious", &["y"]),
        ];
        let s = summarize(&[Corpus::PypiMalware, Corpus::BenignPypi], &rs);
        let m = &s.corpora[0];
        assert_eq!(m.recall_suspicious, Some(0.5));
        assert_eq!(m.recall_malicious, Some(0.25));
        assert_eq!(m.recall_suspicious_ran, Some(2.0 / 3.0));
        assert_eq!(m.rule_hits["x"], 1);
        assert_eq!(m.quiet.len(), 1);
        assert_eq!(m.install_failures.len(), 4);
        assert_eq!(
            m.failure_reasons["ModuleNotFoundError: No module named 'x'"],
            4
        );
        let g = m.groups.as_ref().unwrap();
        // Groups by id length: {a malicious, d error} and {bb suspicious, cc benign}.
        assert_eq!(g.distinct, 2);
        assert_eq!(g.all_suspicious, 0);
        assert_eq!(g.any_suspicious, 2);
        let b = &s.corpora[1];
        assert_eq!(b.fpr_suspicious, Some(0.5));
        assert_eq!(b.fpr_malicious, Some(0.0));
        let e = s
            .ecosystems
            .iter()
            .find(|e| e.ecosystem == "pypi" && e.threshold == "suspicious")
            .unwrap();
        assert_eq!((e.tp, e.fp), (2, 1));
        assert_eq!(e.precision, Some(2.0 / 3.0));
        let md = render(
            &s,
            &Airlock {
                bin: "airlock".into(),
                no_store: true,
            },
            Path::new("/x"),
        );
        assert!(md.contains("| pypi-malware | 4 | 1 | 1 | 1 | 1 | 0 | 50.0 % | 25.0 % |"));
    }

    #[test]
    fn reasons() {
        assert_eq!(failure_reason("timed-out", ""), "timed out");
        assert_eq!(
            failure_reason("ok", "x\nSyntaxError: bad"),
            "SyntaxError: bad"
        );
        assert_eq!(
            failure_reason(
                "failed",
                "  AssertionError: Exactly one .dist-info\nerror: metadata-generation-failed"
            ),
            "AssertionError: Exactly one .dist-info"
        );
        assert_eq!(
            failure_reason("failed", "error: metadata-generation-failed"),
            "setup.py failed (metadata)"
        );
        assert!(failure_reason("ok", "weird\nend").starts_with("other: end"));
    }
}
