//! Speed: `latency` runs `airlock scan` and the bare baseline (`scan --bare`: the same
//! image running the same offline install with no tracer, sink, bait, clock speed-up or
//! static pass) alternately, pair by pair, so both see the same machine load; and
//! `throughput` counts analyses per minute at several concurrency levels over copies of
//! a small package. Raw runs go to JSON, tables to Markdown.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use serde::Serialize;
use serde_json::Value;

use crate::runner::{self, Airlock};
use crate::stats::{median, ratio};

#[derive(clap::Args, Debug)]
pub struct LatencyArgs {
    /// Timed pairs per package (after one untimed warm-up pair).
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
    /// Untimed warm-up pairs per package (fill the npm cache, page the image in).
    #[arg(long, default_value_t = 1)]
    pub warmup: usize,
    /// Only these packages (small, medium, native).
    #[arg(long, value_delimiter = ',')]
    pub packages: Vec<String>,
    /// Results directory (default target/airlock-bench/latency).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Extra arguments for both kinds of scan (after `--`).
    #[arg(last = true)]
    pub scan_args: Vec<String>,
}

#[derive(clap::Args, Debug)]
pub struct ThroughputArgs {
    /// Packages per concurrency level.
    #[arg(long, default_value_t = 20)]
    pub packages: usize,
    /// Concurrency levels.
    #[arg(long, value_delimiter = ',', default_values_t = vec![1, 2, 4])]
    pub levels: Vec<usize>,
    /// Results directory (default target/airlock-bench/throughput).
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Extra arguments for every scan (after `--`).
    #[arg(last = true)]
    pub scan_args: Vec<String>,
}

/// One timed scan.
#[derive(Debug, Clone, Serialize)]
pub struct Timed {
    pub package: String,
    pub bare: bool,
    pub pair: usize,
    pub wall_ms: u64,
    pub verdict: String,
    pub exit_code: Option<i32>,
    /// Phase name → duration_ms from the report.
    pub phases: BTreeMap<String, u64>,
    /// `timing.*_ms` notes of the trace header, without the prefix and suffix.
    pub timing: BTreeMap<String, u64>,
    pub run_duration_ms: Option<u64>,
    pub stderr_tail: String,
}

/// The latency packages: (key, description, scan input).
fn latency_packages(repo: &Path) -> Vec<(&'static str, String, String)> {
    let ex = repo.join("examples").join("benign");
    let native = if ex.join("native-addon").is_dir() {
        ex.join("native-addon").display().to_string()
    } else {
        repo.join("benches/packages/native-addon")
            .display()
            .to_string()
    };
    vec![
        (
            "small",
            "examples/benign/hello-postinstall (postinstall, no dependencies)".into(),
            ex.join("hello-postinstall").display().to_string(),
        ),
        (
            "medium",
            "express@4.21.2 (no scripts, 65 dependencies)".into(),
            "express@4.21.2".into(),
        ),
        (
            "native",
            "examples/benign/native-addon (node-gyp build of a C++ addon)".into(),
            native,
        ),
    ]
}

/// Reads the `timing.*_ms` notes from a trace's header line.
pub fn timing_notes(trace: &Path) -> BTreeMap<String, u64> {
    let mut out = BTreeMap::new();
    let Ok(f) = std::fs::File::open(trace) else {
        return out;
    };
    let mut line = String::new();
    if std::io::BufRead::read_line(&mut std::io::BufReader::new(f), &mut line).is_err() {
        return out;
    }
    let Ok(h) = serde_json::from_str::<Value>(&line) else {
        return out;
    };
    if let Some(notes) = h["notes"].as_object() {
        for (k, v) in notes {
            let Some(name) = k
                .strip_prefix("timing.")
                .and_then(|k| k.strip_suffix("_ms"))
            else {
                continue;
            };
            if let Some(ms) = v.as_str().and_then(|s| s.parse().ok()).or(v.as_u64()) {
                out.insert(name.to_string(), ms);
            }
        }
    }
    out
}

fn timed_scan(
    airlock: &Airlock,
    package: &str,
    input: &str,
    bare: bool,
    pair: usize,
    dir: &Path,
    extra: &[String],
) -> Result<Timed> {
    let mut args = extra.to_vec();
    if bare {
        args.push("--bare".into());
    }
    let (mut t, _) = timed_scan_with_image(airlock, package, input, bare, pair, dir, &args)?;
    t.bare = bare;
    Ok(t)
}

/// One `airlock scan --format json` with its trace header read for the timing notes;
/// also returns the image the trace names.
pub fn timed_scan_with_image(
    airlock: &Airlock,
    package: &str,
    input: &str,
    bare: bool,
    pair: usize,
    dir: &Path,
    args: &[String],
) -> Result<(Timed, Option<String>)> {
    let trace = dir.join(format!(
        "{package}-{pair}-{}.trace.jsonl",
        if bare { "bare" } else { "airlock" }
    ));
    let _ = std::fs::remove_file(&trace);
    let run = airlock.scan(input, Some(&trace), args, Duration::from_secs(900))?;
    let report: Value = serde_json::from_str(run.stdout.trim()).unwrap_or(Value::Null);
    let phases = report["phases"]
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|p| Some((p["name"].as_str()?.to_string(), p["duration_ms"].as_u64()?)))
                .collect()
        })
        .unwrap_or_default();
    let timing = timing_notes(&trace);
    let image = trace_image(&trace);
    // The traces are only needed for their header; keep the directory small.
    let _ = std::fs::remove_file(&trace);
    Ok((
        Timed {
            package: package.into(),
            bare,
            pair,
            wall_ms: run.wall_ms,
            verdict: report["verdict"].as_str().unwrap_or("error").into(),
            exit_code: run.exit_code,
            phases,
            timing,
            run_duration_ms: report["run"]["duration_ms"].as_u64(),
            stderr_tail: run.stderr_tail(3),
        },
        image,
    ))
}

/// The image a trace's header names.
fn trace_image(trace: &Path) -> Option<String> {
    let f = std::fs::File::open(trace).ok()?;
    let mut line = String::new();
    std::io::BufRead::read_line(&mut std::io::BufReader::new(f), &mut line).ok()?;
    let h: Value = serde_json::from_str(&line).ok()?;
    h["image"].as_str().map(String::from)
}

pub fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|s| s.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_else(|_| "?".into())
}

pub fn latency(airlock: &Airlock, args: &LatencyArgs) -> Result<u8> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::default_out().join("latency"));
    std::fs::create_dir_all(&out)?;
    let repo = crate::repo_root();
    let mut pkgs = latency_packages(&repo);
    if !args.packages.is_empty() {
        pkgs.retain(|(k, _, _)| args.packages.iter().any(|p| p == k));
    }
    let mut extra = args.scan_args.clone();
    if pkgs.iter().any(|(_, _, input)| !input.starts_with('/')) {
        let m = crate::mirror::start(
            crate::mirror::NPM_UPSTREAM,
            &crate::default_out().join("downloads/npm-mirror"),
        )?;
        extra.extend(["--registry".to_string(), m.url]);
    }
    let load_before = load_average();
    let mut all: Vec<Timed> = Vec::new();
    for (key, _, input) in &pkgs {
        eprintln!(
            "airlock-bench: latency {key}: {} warm-up pair(s)",
            args.warmup
        );
        for bare in (0..args.warmup).flat_map(|_| [false, true]) {
            let t = timed_scan(airlock, key, input, bare, 0, &out, &extra)?;
            if t.verdict == "error" {
                bail!(
                    "{key} ({}) gives an error: {}",
                    if bare { "bare" } else { "airlock" },
                    t.stderr_tail
                );
            }
        }
        for pair in 1..=args.runs {
            // Alternate which goes first so neither always gets the warmer cache.
            let order = if pair % 2 == 1 {
                [false, true]
            } else {
                [true, false]
            };
            for bare in order {
                let t = timed_scan(airlock, key, input, bare, pair, &out, &extra)?;
                eprintln!(
                    "  pair {pair} {}: {:.2} s ({})",
                    if bare { "bare   " } else { "airlock" },
                    t.wall_ms as f64 / 1000.0,
                    t.verdict
                );
                all.push(t);
            }
        }
    }
    let load_after = load_average();
    std::fs::write(out.join("latency.json"), serde_json::to_vec_pretty(&all)?)?;
    let md = render_latency(&pkgs, &all, args.runs, &load_before, &load_after);
    std::fs::write(out.join("latency.md"), &md)?;
    println!("{md}");
    Ok(0)
}

fn med_of(runs: &[&Timed], f: impl Fn(&Timed) -> Option<u64>) -> Option<f64> {
    let xs: Vec<f64> = runs.iter().filter_map(|t| f(t).map(|x| x as f64)).collect();
    median(&xs)
}

fn ms(x: Option<f64>) -> String {
    x.map(|v| format!("{:.0}", v)).unwrap_or_else(|| "–".into())
}

/// Where the time goes in one run: the engine's sequential timing notes (in the order
/// the engine takes the steps; `overlap.*` steps ran alongside others and `total.*` are
/// sums, so neither is added), the phases, and the rest (process start, fetch, judging,
/// report).
pub fn components(t: &Timed) -> Vec<(String, u64)> {
    const BEFORE_PHASES: &[&str] = &[
        "setup",
        "start",
        "host_resolve",
        "sink_start",
        "sandbox_create",
        "stage",
        "phase_setup",
    ];
    const AFTER_PHASES: &[&str] = &[
        "phase_overhead",
        "trace_parse",
        "fs_diff",
        "hooks",
        "cleanup",
        "sink_stop",
        "merge",
    ];
    let sequential = |k: &str| !k.starts_with("overlap.") && !k.starts_with("total.");
    let mut c: Vec<(String, u64)> = Vec::new();
    for k in BEFORE_PHASES {
        if let Some(v) = t.timing.get(*k) {
            c.push((k.to_string(), *v));
        }
    }
    for (name, d) in &t.phases {
        c.push((format!("phase {name}"), *d));
    }
    for k in AFTER_PHASES {
        if let Some(v) = t.timing.get(*k) {
            c.push((k.to_string(), *v));
        }
    }
    for (k, v) in &t.timing {
        if sequential(k)
            && !BEFORE_PHASES.contains(&k.as_str())
            && !AFTER_PHASES.contains(&k.as_str())
        {
            c.push((k.clone(), *v));
        }
    }
    let known: u64 = c.iter().map(|(_, v)| v).sum();
    c.push((
        "rest (process start, fetch, judging, report)".into(),
        t.wall_ms.saturating_sub(known),
    ));
    for (k, v) in &t.timing {
        if !sequential(k) {
            c.push((format!("({k})"), *v));
        }
    }
    c
}

fn render_latency(
    pkgs: &[(&str, String, String)],
    all: &[Timed],
    runs: usize,
    load_before: &str,
    load_after: &str,
) -> String {
    let mut m = String::new();
    let _ = writeln!(
        m,
        "## Latency: airlock scan against the bare baseline\n\n{runs} timed pairs per package after warm-up, alternating which of the two runs first; load average {load_before} before, {load_after} after.\n"
    );
    let _ = writeln!(m, "| package | airlock median | bare median | ratio of medians | median of pair ratios | min airlock / bare | verdicts |");
    let _ = writeln!(m, "|---|---|---|---|---|---|---|");
    for (key, desc, _) in pkgs {
        let full: Vec<&Timed> = all
            .iter()
            .filter(|t| t.package == *key && !t.bare)
            .collect();
        let bare: Vec<&Timed> = all.iter().filter(|t| t.package == *key && t.bare).collect();
        let mf = med_of(&full, |t| Some(t.wall_ms));
        let mb = med_of(&bare, |t| Some(t.wall_ms));
        let pair_ratios: Vec<f64> = full
            .iter()
            .filter_map(|f| {
                let b = bare.iter().find(|b| b.pair == f.pair)?;
                ratio(f.wall_ms as f64, b.wall_ms as f64)
            })
            .collect();
        let minf = full.iter().map(|t| t.wall_ms).min();
        let minb = bare.iter().map(|t| t.wall_ms).min();
        let mut verdicts: BTreeMap<&str, usize> = BTreeMap::new();
        for t in &full {
            *verdicts.entry(t.verdict.as_str()).or_default() += 1;
        }
        let _ = writeln!(
            m,
            "| {key}: {desc} | {:.2} s | {:.2} s | **{}** | {} | {} / {} | {} |",
            mf.unwrap_or(0.0) / 1000.0,
            mb.unwrap_or(0.0) / 1000.0,
            match (mf, mb) {
                (Some(f), Some(b)) => format!("{:.2}×", f / b),
                _ => "–".into(),
            },
            median(&pair_ratios)
                .map(|r| format!("{r:.2}×"))
                .unwrap_or("–".into()),
            ms(minf.map(|x| x as f64)),
            ms(minb.map(|x| x as f64)),
            verdicts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", ")
        );
    }
    for (key, _, _) in pkgs {
        let full: Vec<&Timed> = all
            .iter()
            .filter(|t| t.package == *key && !t.bare)
            .collect();
        let bare: Vec<&Timed> = all.iter().filter(|t| t.package == *key && t.bare).collect();
        let mut names: Vec<String> = Vec::new();
        for t in full.iter().chain(bare.iter()) {
            for (n, _) in components(t) {
                if !names.contains(&n) {
                    names.push(n);
                }
            }
        }
        let _ = writeln!(m, "\n### Breakdown: {key} (medians, ms)\n\n| component | airlock | bare | difference |\n|---|---|---|---|");
        let comp = |set: &[&Timed], n: &str| {
            med_of(set, |t| {
                components(t)
                    .into_iter()
                    .find(|(k, _)| k == n)
                    .map(|(_, v)| v)
            })
        };
        for n in &names {
            let (a, b) = (comp(&full, n), comp(&bare, n));
            let _ = writeln!(
                m,
                "| {n} | {} | {} | {} |",
                ms(a),
                ms(b),
                match (a, b) {
                    (Some(a), Some(b)) => format!("{:+.0}", a - b),
                    _ => "–".into(),
                }
            );
        }
        let (a, b) = (
            med_of(&full, |t| Some(t.wall_ms)),
            med_of(&bare, |t| Some(t.wall_ms)),
        );
        let _ = writeln!(
            m,
            "| **wall (bench-measured)** | {} | {} | {} |",
            ms(a),
            ms(b),
            match (a, b) {
                (Some(a), Some(b)) => format!("{:+.0}", a - b),
                _ => "–".into(),
            }
        );
    }
    m
}

// ---- throughput -----------------------------------------------------------------------

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let e = e?;
        let dest = to.join(e.file_name());
        if e.file_type()?.is_dir() {
            copy_dir(&e.path(), &dest)?;
        } else {
            std::fs::copy(e.path(), &dest)?;
        }
    }
    Ok(())
}

/// Writes `n` copies of `template` under `dir`, each with its own name and version.
pub fn generate_packages(template: &Path, dir: &Path, n: usize) -> Result<Vec<PathBuf>> {
    let mut out = Vec::new();
    for i in 0..n {
        let d = dir.join(format!("pkg-{i:02}"));
        copy_dir(template, &d)?;
        let _ = std::fs::remove_file(d.join("expected"));
        let pj = d.join("package.json");
        let mut v: Value = serde_json::from_str(&std::fs::read_to_string(&pj)?)
            .with_context(|| format!("reading {}", pj.display()))?;
        v["name"] = Value::String(format!("airlock-bench-small-{i:02}"));
        v["version"] = Value::String(format!("1.0.{i}"));
        std::fs::write(&pj, serde_json::to_vec_pretty(&v)?)?;
        out.push(d);
    }
    Ok(out)
}

#[derive(Debug, Serialize)]
struct Level {
    concurrency: usize,
    packages: usize,
    total_ms: u64,
    per_minute: f64,
    median_scan_ms: Option<f64>,
    verdicts: BTreeMap<String, usize>,
    load_before: String,
}

pub fn throughput(airlock: &Airlock, args: &ThroughputArgs) -> Result<u8> {
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::default_out().join("throughput"));
    std::fs::create_dir_all(&out)?;
    let template = crate::repo_root().join("examples/benign/hello-postinstall");
    let tmp = tempfile::Builder::new()
        .prefix("airlock-bench-tp-")
        .tempdir()?;
    let pkgs = generate_packages(&template, tmp.path(), args.packages)?;
    let inputs: Vec<String> = pkgs.iter().map(|p| p.display().to_string()).collect();
    let mut levels = Vec::new();
    for &c in &args.levels {
        let load_before = load_average();
        eprintln!(
            "airlock-bench: throughput at concurrency {c} ({} packages; load {load_before})",
            inputs.len()
        );
        let start = Instant::now();
        let runs = runner::pool(&inputs, c, |_, input| {
            airlock.scan(input, None, &args.scan_args, Duration::from_secs(900))
        });
        let total_ms = start.elapsed().as_millis() as u64;
        let mut verdicts = BTreeMap::new();
        let mut walls = Vec::new();
        for r in runs {
            let v = match r {
                Ok(r) => {
                    walls.push(r.wall_ms as f64);
                    serde_json::from_str::<Value>(r.stdout.trim())
                        .ok()
                        .and_then(|v| v["verdict"].as_str().map(String::from))
                        .unwrap_or_else(|| "error".into())
                }
                Err(_) => "bench error".into(),
            };
            *verdicts.entry(v).or_default() += 1;
        }
        let l = Level {
            concurrency: c,
            packages: inputs.len(),
            total_ms,
            per_minute: inputs.len() as f64 * 60_000.0 / total_ms.max(1) as f64,
            median_scan_ms: median(&walls),
            verdicts,
            load_before,
        };
        eprintln!("  {:.1} analyses/min", l.per_minute);
        levels.push(l);
    }
    std::fs::write(
        out.join("throughput.json"),
        serde_json::to_vec_pretty(&levels)?,
    )?;
    let base = levels
        .iter()
        .find(|l| l.concurrency == 1)
        .map(|l| l.per_minute);
    let mut m = String::new();
    let _ = writeln!(
        m,
        "## Throughput: {} copies of examples/benign/hello-postinstall\n",
        args.packages
    );
    let _ = writeln!(m, "| concurrency | total | analyses/min | speed-up vs 1 | median scan | verdicts | load before |\n|---|---|---|---|---|---|---|");
    for l in &levels {
        let _ = writeln!(
            m,
            "| {} | {:.1} s | {:.1} | {} | {:.1} s | {} | {} |",
            l.concurrency,
            l.total_ms as f64 / 1000.0,
            l.per_minute,
            base.and_then(|b| ratio(l.per_minute, b))
                .map(|r| format!("{r:.2}×"))
                .unwrap_or("–".into()),
            l.median_scan_ms.unwrap_or(0.0) / 1000.0,
            l.verdicts
                .iter()
                .map(|(k, v)| format!("{k} {v}"))
                .collect::<Vec<_>>()
                .join(", "),
            l.load_before
        );
    }
    std::fs::write(out.join("throughput.md"), &m)?;
    println!("{m}");
    Ok(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn copies_get_their_own_names() {
        let tmp = tempfile::tempdir().unwrap();
        let template = crate::repo_root().join("examples/benign/hello-postinstall");
        let pkgs = generate_packages(&template, tmp.path(), 3).unwrap();
        assert_eq!(pkgs.len(), 3);
        let v: Value =
            serde_json::from_str(&std::fs::read_to_string(pkgs[2].join("package.json")).unwrap())
                .unwrap();
        assert_eq!(v["name"], "airlock-bench-small-02");
        assert_eq!(v["version"], "1.0.2");
        assert!(v["scripts"]["postinstall"].is_string());
    }

    #[test]
    fn timing_notes_from_a_header() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("t.jsonl");
        std::fs::write(&p, "{\"record\":\"header\",\"notes\":{\"timing.sink_start_ms\":\"412\",\"persona\":\"ci\"}}\n{}\n").unwrap();
        let t = timing_notes(&p);
        assert_eq!(t.get("sink_start"), Some(&412));
        assert_eq!(t.len(), 1);
    }

    #[test]
    fn breakdown_adds_up_to_the_wall_time() {
        let t = Timed {
            package: "small".into(),
            bare: false,
            pair: 1,
            wall_ms: 5000,
            verdict: "benign".into(),
            exit_code: Some(0),
            phases: [("install".to_string(), 2000u64)].into(),
            timing: [("sink_start".to_string(), 500u64)].into(),
            run_duration_ms: None,
            stderr_tail: String::new(),
        };
        let c = components(&t);
        assert_eq!(c.iter().map(|(_, v)| v).sum::<u64>(), 5000);
        let mut t = t;
        t.timing.insert("overlap.static_pass".into(), 700);
        t.timing.insert("total.engine".into(), 4000);
        let c = components(&t);
        let sequential: u64 = c
            .iter()
            .filter(|(k, _)| !k.starts_with('('))
            .map(|(_, v)| v)
            .sum();
        assert_eq!(sequential, 5000, "{c:?}");
        assert!(c
            .iter()
            .any(|(k, v)| k == "(overlap.static_pass)" && *v == 700));
    }
}
