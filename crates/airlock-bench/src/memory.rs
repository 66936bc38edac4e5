//! Peak memory of judging a large trace from a file: writes an N-event synthetic trace
//! (airlock-rules' generator: a busy install of file opens, DNS, connections, execs),
//! runs `airlock judge` on it under `/usr/bin/time -v` (peak RSS = the child's
//! VmHWM), and, to show which part holds the memory, runs two probes in a child of this
//! binary: reading the whole trace into an `airlock_events::Trace` (what `airlock judge`
//! does first), and the rules' streaming `judge_reader` over the same file.

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
    /// Internal: run one probe (`read` or `stream`) on FILE and print its peak RSS.
    #[arg(long, hide = true, num_args = 2, value_names = ["MODE", "FILE"])]
    pub probe: Vec<String>,
}

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
    events_per_sec: Option<f64>,
    note: String,
}

fn probe(mode: &str, file: &Path) -> Result<u8> {
    let start = Instant::now();
    let note = match mode {
        "read" => {
            let f = std::fs::File::open(file)?;
            let t = airlock_events::Trace::read(std::io::BufReader::new(f))
                .map_err(|e| anyhow::anyhow!("{e}"))?;
            format!("{} events held", t.events.len())
        }
        "stream" => {
            let rules = airlock_rules::Ruleset::load_dir(&crate::repo_root().join("rules"))
                .map_err(|e| anyhow::anyhow!("{}", airlock_rules::Diagnostics(&e)))?;
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
        other => bail!("unknown probe {other}"),
    };
    println!(
        "{} {} {}",
        own_peak_rss_kb().unwrap_or(0),
        start.elapsed().as_millis(),
        note
    );
    Ok(0)
}

/// Runs `cmd` under `/usr/bin/time -v`; returns (peak RSS kB, wall ms, stdout).
fn time_v(cmd: &mut Command) -> Result<(Option<u64>, u64, String)> {
    let start = Instant::now();
    let out = cmd.output().context("running /usr/bin/time -v")?;
    let wall = start.elapsed().as_millis() as u64;
    let err = String::from_utf8_lossy(&out.stderr);
    let rss = err
        .lines()
        .find_map(|l| l.trim().strip_prefix("Maximum resident set size (kbytes):"))
        .and_then(|v| v.trim().parse().ok());
    if rss.is_none() {
        bail!(
            "no peak RSS in /usr/bin/time output: {}",
            crate::runner::tail_lines(&err, 5)
        );
    }
    Ok((rss, wall, String::from_utf8_lossy(&out.stdout).into_owned()))
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
    let trace = out.join(format!("synthetic-{}.jsonl", args.events));
    if !trace.is_file() {
        eprintln!(
            "airlock-bench: writing {} events to {}",
            args.events,
            trace.display()
        );
        write_synthetic(&trace, args.events)?;
    }
    let size = std::fs::metadata(&trace)?.len();
    let n = args.events as f64;
    let mut measures = Vec::new();
    let me = std::env::current_exe()?;
    // `airlock judge` as a user runs it.
    let (rss, wall, stdout) = time_v(
        Command::new("/usr/bin/time")
            .arg("-v")
            .arg(&airlock.bin)
            .args(["judge", "--format", "json"])
            .arg(&trace),
    )?;
    let verdict = serde_json::from_str::<serde_json::Value>(stdout.trim())
        .ok()
        .and_then(|v| v["verdict"].as_str().map(String::from))
        .unwrap_or_else(|| "no report".into());
    measures.push(Measure {
        what: format!("`airlock judge --format json` ({})", airlock.bin.display()),
        peak_rss_kb: rss,
        wall_ms: wall,
        events_per_sec: Some(n * 1000.0 / wall.max(1) as f64),
        note: format!("verdict {verdict}"),
    });
    for (mode, what) in [
        (
            "read",
            "reading the trace into memory (`Trace::read`, the first step of `airlock judge`)",
        ),
        (
            "stream",
            "streaming judge (`Ruleset::judge_reader` over the file)",
        ),
    ] {
        let o = Command::new(&me)
            .args(["judge-memory", "--probe", mode])
            .arg(&trace)
            .output()?;
        let text = String::from_utf8_lossy(&o.stdout);
        let mut it = text.trim().splitn(3, ' ');
        let rss = it.next().and_then(|v| v.parse().ok());
        let wall: u64 = it.next().and_then(|v| v.parse().ok()).unwrap_or(0);
        measures.push(Measure {
            what: what.into(),
            peak_rss_kb: rss,
            wall_ms: wall,
            events_per_sec: (wall > 0).then(|| n * 1000.0 / wall as f64),
            note: it.next().unwrap_or("").to_string(),
        });
    }
    std::fs::write(
        out.join("memory.json"),
        serde_json::to_vec_pretty(&measures)?,
    )?;
    let mut m = String::new();
    let _ = writeln!(
        m,
        "## Peak memory of judging a {}-event trace ({:.0} MB on disk)\n\n| what | peak RSS | wall | events/s | note |\n|---|---|---|---|---|",
        args.events,
        size as f64 / 1e6
    );
    for x in &measures {
        let _ = writeln!(
            m,
            "| {} | {} | {:.2} s | {} | {} |",
            x.what,
            x.peak_rss_kb
                .map(|k| format!("{:.0} MB", k as f64 / 1024.0))
                .unwrap_or("–".into()),
            x.wall_ms as f64 / 1000.0,
            x.events_per_sec
                .map(|e| format!("{:.0}", e))
                .unwrap_or("–".into()),
            x.note
        );
    }
    std::fs::write(out.join("memory.md"), &m)?;
    println!("{m}");
    Ok(0)
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
}
