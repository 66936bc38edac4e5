//! Peak memory and speed of judging a large trace from a file, in one run: writes an
//! N-event synthetic trace (airlock-rules' generator: a busy install of file opens, DNS,
//! connections, execs), runs `airlock judge` on it under `/usr/bin/time -v` (peak RSS =
//! the child's VmHWM, from `wait4`) and, as the baseline measured in the same run, on a
//! 10-event trace of the same generator (the binary, the ruleset and the report
//! renderer, without the trace) and `cat` of the big trace. The summary gives the
//! absolute peak against the 200 MB target and the ratio to the baseline. Probes in a
//! child of this binary show where time and memory go: the shipped ruleset alone over the
//! generator (events judged per second, the generator's own time subtracted), the rules'
//! streaming `judge_reader` over the file, and, with `--read-probe`, reading the whole
//! trace into an `airlock_events::Trace` (what `airlock judge` did before it streamed).

use std::fmt::Write as _;
use std::io::{BufWriter, Write};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use serde::Serialize;

use crate::runner::Airlock;

#[derive(clap::Args, Debug)]
pub struct MemoryArgs {
    /// Events in the synthetic trace.
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
    /// Results directory (default target/airlock-bench/memory); the trace is written here.
    #[arg(long)]
    pub out: Option<PathBuf>,
    /// Instead: time each rule alone on a synthetic trace of this many events, to find
    /// the expensive ones.
    #[arg(long)]
    pub rule_cost: Option<u64>,
    /// Also measure reading the whole trace into memory (`Trace::read`), for comparison.
    #[arg(long)]
    pub read_probe: bool,
    /// Internal: run one probe (`read`, `stream` or `rules:N`) on FILE and print its
    /// peak RSS.
    #[arg(long, hide = true, num_args = 2, value_names = ["MODE", "FILE"])]
    pub probe: Vec<String>,
}

/// The peak RSS `airlock judge` must stay under on a 1M-event trace (issue 9).
pub const TARGET_PEAK_MB: f64 = 200.0;

/// Peak resident set size of this process (VmHWM), in kB.
pub fn own_peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}

/// Writes a synthetic trace of `n` events to `path`.
pub fn write_synthetic(path: &Path, n: u64) -> Result<()> {
    let f = std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?;
    let mut w = BufWriter::new(f);
    let header = airlock_events::Record::Header(airlock_rules::synth::header());
    serde_json::to_writer(&mut w, &header)?;
    w.write_all(b"\n")?;
    for r in airlock_rules::synth::records(n) {
        serde_json::to_writer(&mut w, &r)?;
        w.write_all(b"\n")?;
    }
    w.flush()?;
    Ok(())
}

#[derive(Debug, Serialize)]
struct Measure {
    what: String,
    peak_rss_kb: Option<u64>,
    wall_ms: u64,
    /// User + system CPU time, when known: on a busy machine the steadier measure.
    cpu_ms: Option<u64>,
    events_per_sec: Option<f64>,
    /// Events per CPU second.
    events_per_cpu_sec: Option<f64>,
    note: String,
}

/// The run's headline figures, also written to `memory.json`.
#[derive(Debug, Serialize)]
struct Summary {
    events: u64,
    trace_bytes: u64,
    judge_peak_rss_mb: Option<f64>,
    baseline_peak_rss_mb: Option<f64>,
    /// Peak RSS judging the big trace over the peak judging 10 events.
    ratio_to_baseline: Option<f64>,
    target_peak_rss_mb: f64,
    meets_target: Option<bool>,
    judge_events_per_sec: Option<f64>,
    judge_events_per_cpu_sec: Option<f64>,
    rules_events_per_sec: Option<f64>,
    rules_events_per_cpu_sec: Option<f64>,
    measures: Vec<Measure>,
}

/// CPU time (user + system) of this process so far, in ms.
fn own_cpu_ms() -> Option<u64> {
    // /proc/self/stat fields 14 and 15 (utime, stime) in clock ticks (100 per second on
    // Linux for every architecture we run on); the comm field may hold spaces, so count
    // from the closing parenthesis.
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let rest = &s[s.rfind(')')? + 2..];
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks * 10)
}

fn load_rules() -> Result<airlock_rules::Ruleset> {
    airlock_rules::Ruleset::load_dir(&crate::repo_root().join("rules"))
        .map_err(|e| anyhow::anyhow!("{}", airlock_rules::Diagnostics(&e)))
}

/// Runs one probe and prints `peak_rss_kb wall_ms cpu_ms note`. The times cover the
/// measured work only (rules loaded first; for `rules:N`, the generator's own time run
/// alone is subtracted).
fn probe(mode: &str, file: &Path) -> Result<u8> {
    let mut start = Instant::now();
    let mut cpu0 = own_cpu_ms().unwrap_or(0);
    let mut minus = (0u64, 0u64);
    let note = match mode {
        "read" => {
            let f = std::fs::File::open(file)?;
            let t = airlock_events::Trace::read(std::io::BufReader::new(f))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            format!("{} events held", t.events.len())
        }
        "stream" => {
            let rules = load_rules()?;
            (start, cpu0) = (Instant::now(), own_cpu_ms().unwrap_or(0));
            let f = std::fs::File::open(file)?;
            let j = rules
                .judge_reader(std::io::BufReader::new(f))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            format!(
                "{} events judged: {} ({} findings)",
                j.events,
                j.verdict,
                j.findings.len()
            )
        }
        m if m.starts_with("rules:") => {
            let n: u64 = m["rules:".len()..].parse()?;
            let rules = load_rules()?;
            // The generator alone, to subtract.
            let (g0, gc0) = (Instant::now(), own_cpu_ms().unwrap_or(0));
            let count = airlock_rules::synth::records(n).count();
            minus = (
                g0.elapsed().as_millis() as u64,
                own_cpu_ms().unwrap_or(0).saturating_sub(gc0),
            );
            (start, cpu0) = (Instant::now(), own_cpu_ms().unwrap_or(0));
            let j = rules.judge(
                &airlock_rules::synth::header(),
                airlock_rules::synth::records(n),
            );
            format!(
                "{} events judged: {} ({} findings); generator alone {} ms for {count} records, subtracted",
                j.events,
                j.verdict,
                j.findings.len(),
                minus.0
            )
        }
        other => bail!("unknown probe {other}"),
    };
    let wall = (start.elapsed().as_millis() as u64).saturating_sub(minus.0);
    let cpu = own_cpu_ms()
        .unwrap_or(0)
        .saturating_sub(cpu0)
        .saturating_sub(minus.1);
    println!(
        "{} {} {} {}",
        own_peak_rss_kb().unwrap_or(0),
        wall,
        cpu,
        note
    );
    Ok(0)
}

/// What `/usr/bin/time -v` says about a child.
struct Timed {
    peak_rss_kb: u64,
    wall_ms: u64,
    cpu_ms: Option<u64>,
    stdout: String,
}

/// Runs `cmd` under `/usr/bin/time -v` (which reads the child's peak RSS with `wait4`).
fn time_v(cmd: &mut Command) -> Result<Timed> {
    let start = Instant::now();
    let out = cmd.output().context("running /usr/bin/time -v")?;
    let wall = start.elapsed().as_millis() as u64;
    let err = String::from_utf8_lossy(&out.stderr);
    let field = |name: &str| {
        err.lines()
            .find_map(|l| l.trim().strip_prefix(name))
            .map(str::trim)
    };
    let Some(rss) = field("Maximum resident set size (kbytes):").and_then(|v| v.parse().ok())
    else {
        bail!(
            "no peak RSS in /usr/bin/time output: {}",
            crate::runner::tail_lines(&err, 5)
        );
    };
    let secs = |name: &str| field(name).and_then(|v| v.parse::<f64>().ok());
    let cpu_ms = match (secs("User time (seconds):"), secs("System time (seconds):")) {
        (Some(u), Some(s)) => Some(((u + s) * 1000.0).round() as u64),
        _ => None,
    };
    Ok(Timed {
        peak_rss_kb: rss,
        wall_ms: wall,
        cpu_ms,
        stdout: String::from_utf8_lossy(&out.stdout).into_owned(),
    })
}

fn per_sec(n: f64, ms: Option<u64>) -> Option<f64> {
    ms.filter(|&m| m > 0).map(|m| n * 1000.0 / m as f64)
}

fn mb(kb: u64) -> f64 {
    kb as f64 / 1024.0
}

/// Writes the synthetic trace of `n` events under `out` unless it is there already.
fn trace_file(out: &Path, n: u64) -> Result<PathBuf> {
    let trace = out.join(format!("synthetic-{n}.jsonl"));
    if !trace.is_file() {
        eprintln!("airlock-bench: writing {n} events to {}", trace.display());
        let tmp = out.join(format!("synthetic-{n}.jsonl.part"));
        write_synthetic(&tmp, n)?;
        std::fs::rename(&tmp, &trace)?;
    }
    Ok(trace)
}

/// `airlock judge --format json TRACE` under `/usr/bin/time -v`.
fn judge_measure(airlock: &Airlock, trace: &Path, n: u64, what: String) -> Result<Measure> {
    let t = time_v(
        Command::new("/usr/bin/time")
            .arg("-v")
            .arg(&airlock.bin)
            .args(["judge", "--format", "json"])
            .arg(trace),
    )?;
    let verdict = serde_json::from_str::<serde_json::Value>(t.stdout.trim())
        .ok()
        .and_then(|v| v["verdict"].as_str().map(String::from))
        .unwrap_or_else(|| "no report".into());
    Ok(Measure {
        what,
        peak_rss_kb: Some(t.peak_rss_kb),
        wall_ms: t.wall_ms,
        cpu_ms: t.cpu_ms,
        events_per_sec: per_sec(n as f64, Some(t.wall_ms)),
        events_per_cpu_sec: per_sec(n as f64, t.cpu_ms),
        note: format!("verdict {verdict}"),
    })
}

pub fn run(airlock: &Airlock, args: &MemoryArgs) -> Result<u8> {
    if let [mode, file] = args.probe.as_slice() {
        return probe(mode, Path::new(file));
    }
    if let Some(n) = args.rule_cost {
        return rule_cost(n);
    }
    let out = args
        .out
        .clone()
        .unwrap_or_else(|| crate::default_out().join("memory"));
    std::fs::create_dir_all(&out)?;
    let trace = trace_file(&out, args.events)?;
    let small = trace_file(&out, 10)?;
    let size = std::fs::metadata(&trace)?.len();
    let n = args.events as f64;
    let mut measures = Vec::new();
    let me = std::env::current_exe()?;
    let bin = airlock.bin.display();
    // Baselines of the same run: the same binary, ruleset and renderer on 10 events, and
    // `cat` streaming the big trace.
    let baseline = judge_measure(
        airlock,
        &small,
        10,
        format!("baseline: `airlock judge --format json` on a 10-event trace ({bin})"),
    )?;
    let base_kb = baseline.peak_rss_kb;
    measures.push(Measure {
        events_per_sec: None,
        events_per_cpu_sec: None,
        ..baseline
    });
    let cat = time_v(
        Command::new("/usr/bin/time")
            .args(["-v", "cat"])
            .arg(&trace)
            .stdout(std::process::Stdio::null()),
    )?;
    measures.push(Measure {
        what: "baseline: `cat` of the trace".into(),
        peak_rss_kb: Some(cat.peak_rss_kb),
        wall_ms: cat.wall_ms,
        cpu_ms: cat.cpu_ms,
        events_per_sec: None,
        events_per_cpu_sec: None,
        note: String::new(),
    });
    // `airlock judge` as a user runs it.
    let judge = judge_measure(
        airlock,
        &trace,
        args.events,
        format!(
            "`airlock judge --format json` on {} events ({bin})",
            args.events
        ),
    )?;
    let (judge_kb, judge_eps, judge_cpu_eps) = (
        judge.peak_rss_kb,
        judge.events_per_sec,
        judge.events_per_cpu_sec,
    );
    measures.push(judge);
    let mut probes = vec![
        (
            format!("rules:{}", args.events),
            "the shipped ruleset alone, fed by the generator (no JSON; generator time subtracted)",
        ),
        (
            "stream".to_string(),
            "streaming judge (`Ruleset::judge_reader` over the file: JSON parsing + rules)",
        ),
    ];
    if args.read_probe {
        probes.push((
            "read".to_string(),
            "reading the whole trace into memory (`Trace::read`; `airlock judge` before it streamed)",
        ));
    }
    let mut rules_eps = (None, None);
    for (mode, what) in probes {
        let o = Command::new(&me)
            .args(["judge-memory", "--probe", &mode])
            .arg(&trace)
            .output()?;
        let text = String::from_utf8_lossy(&o.stdout);
        let mut it = text.trim().splitn(4, ' ');
        let rss = it.next().and_then(|v| v.parse().ok());
        let wall: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        let cpu: Option<u64> = it.next().and_then(|v| v.parse().ok());
        let m = Measure {
            what: what.into(),
            peak_rss_kb: rss,
            wall_ms: wall,
            cpu_ms: cpu,
            events_per_sec: per_sec(n, Some(wall)),
            events_per_cpu_sec: per_sec(n, cpu),
            note: it.next().unwrap_or("").to_string(),
        };
        if mode.starts_with("rules:") {
            rules_eps = (m.events_per_sec, m.events_per_cpu_sec);
        }
        measures.push(m);
    }
    let summary = Summary {
        events: args.events,
        trace_bytes: size,
        judge_peak_rss_mb: judge_kb.map(mb),
        baseline_peak_rss_mb: base_kb.map(mb),
        ratio_to_baseline: match (judge_kb, base_kb) {
            (Some(j), Some(b)) if b > 0 => Some(j as f64 / b as f64),
            _ => None,
        },
        target_peak_rss_mb: TARGET_PEAK_MB,
        meets_target: judge_kb.map(|k| mb(k) < TARGET_PEAK_MB),
        judge_events_per_sec: judge_eps,
        judge_events_per_cpu_sec: judge_cpu_eps,
        rules_events_per_sec: rules_eps.0,
        rules_events_per_cpu_sec: rules_eps.1,
        measures,
    };
    std::fs::write(
        out.join("memory.json"),
        serde_json::to_vec_pretty(&summary)?,
    )?;
    let m = render(&summary);
    std::fs::write(out.join("memory.md"), &m)?;
    println!("{m}");
    Ok(0)
}

fn render(s: &Summary) -> String {
    let num = |v: Option<f64>, unit: &str| {
        v.map(|e| format!("{}{unit}", thousands(e)))
            .unwrap_or("–".into())
    };
    let mut m = String::new();
    let _ = writeln!(
        m,
        "## Judging a {}-event trace ({:.0} MB on disk)\n",
        s.events,
        s.trace_bytes as f64 / 1e6
    );
    let _ = writeln!(
        m,
        "- peak RSS of `airlock judge`: **{}** (target < {:.0} MB: {}); baseline (10 events) {}; ratio **{}**",
        s.judge_peak_rss_mb
            .map(|v| format!("{v:.0} MB"))
            .unwrap_or("–".into()),
        s.target_peak_rss_mb,
        match s.meets_target {
            Some(true) => "met",
            Some(false) => "**missed**",
            None => "unknown",
        },
        s.baseline_peak_rss_mb
            .map(|v| format!("{v:.0} MB"))
            .unwrap_or("–".into()),
        s.ratio_to_baseline
            .map(|r| format!("{r:.2}×"))
            .unwrap_or("–".into()),
    );
    let _ = writeln!(
        m,
        "- events judged per second, whole shipped ruleset: **{}** by the rules alone ({} per CPU second); `airlock judge` end to end {} ({} per CPU second)\n",
        num(s.rules_events_per_sec, ""),
        num(s.rules_events_per_cpu_sec, ""),
        num(s.judge_events_per_sec, ""),
        num(s.judge_events_per_cpu_sec, ""),
    );
    let _ = writeln!(
        m,
        "| what | peak RSS | wall | CPU | events/s | events/CPU s | note |\n|---|---|---|---|---|---|---|"
    );
    for x in &s.measures {
        let _ = writeln!(
            m,
            "| {} | {} | {:.2} s | {} | {} | {} | {} |",
            x.what,
            x.peak_rss_kb
                .map(|k| format!("{:.1} MB", mb(k)))
                .unwrap_or("–".into()),
            x.wall_ms as f64 / 1000.0,
            x.cpu_ms
                .map(|c| format!("{:.2} s", c as f64 / 1000.0))
                .unwrap_or("–".into()),
            num(x.events_per_sec, ""),
            num(x.events_per_cpu_sec, ""),
            x.note
        );
    }
    m
}

/// `12345.6` as `12,346`.
fn thousands(v: f64) -> String {
    let s = format!("{:.0}", v.max(0.0));
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn copy_tree(from: &Path, to: &Path) -> Result<()> {
    std::fs::create_dir_all(to)?;
    for e in std::fs::read_dir(from)? {
        let e = e?;
        if e.file_type()?.is_dir() {
            copy_tree(&e.path(), &to.join(e.file_name()))?;
        } else {
            std::fs::copy(e.path(), to.join(e.file_name()))?;
        }
    }
    Ok(())
}

/// Judges `n` synthetic events with each rule of `rules/` alone (plus the lists and the
/// verdict configuration) and prints the rules by time.
fn rule_cost(n: u64) -> Result<u8> {
    let root = crate::repo_root().join("rules");
    let mut rule_files = Vec::new();
    for cat in std::fs::read_dir(&root)? {
        let cat = cat?.path();
        if !cat.is_dir() || cat.file_name().is_some_and(|n| n == "lists") {
            continue;
        }
        for f in std::fs::read_dir(&cat)? {
            let f = f?.path();
            if f.extension().is_some_and(|e| e == "toml") {
                rule_files.push(f);
            }
        }
    }
    rule_files.sort();
    let mut rows = Vec::new();
    for f in &rule_files {
        let tmp = tempfile::tempdir()?;
        for keep in ["lists", "verdict.toml", "README.md"] {
            let p = root.join(keep);
            if p.is_dir() {
                copy_tree(&p, &tmp.path().join(keep))?;
            } else if p.is_file() {
                std::fs::copy(&p, tmp.path().join(keep))?;
            }
        }
        let rel = f.strip_prefix(&root)?;
        if let Some(parent) = rel.parent() {
            std::fs::create_dir_all(tmp.path().join(parent))?;
        }
        std::fs::copy(f, tmp.path().join(rel))?;
        let Ok(rules) = airlock_rules::Ruleset::load_dir(tmp.path()) else {
            rows.push((f64::NAN, rel.display().to_string()));
            continue;
        };
        let start = Instant::now();
        let _ = rules.judge(
            &airlock_rules::synth::header(),
            airlock_rules::synth::records(n),
        );
        rows.push((start.elapsed().as_secs_f64(), rel.display().to_string()));
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    println!("| rule | seconds for {n} events | events/s |\n|---|---|---|");
    for (t, r) in rows {
        println!("| {r} | {t:.3} | {:.0} |", n as f64 / t);
    }
    Ok(0)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    #[test]
    fn synthetic_trace_reads_back() {
        let tmp = tempfile::tempdir().unwrap();
        let p = tmp.path().join("t.jsonl");
        write_synthetic(&p, 100).unwrap();
        let t =
            airlock_events::Trace::read(std::io::BufReader::new(std::fs::File::open(&p).unwrap()))
                .unwrap();
        assert_eq!(t.events.len(), 100);
        assert!(t.footer.unwrap().complete);
    }

    #[test]
    fn numbers_read_well() {
        assert_eq!(thousands(1234567.4), "1,234,567");
        assert_eq!(thousands(999.0), "999");
        assert!(own_cpu_ms().is_some());
    }
}
