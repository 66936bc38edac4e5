//! Static pass plus static rules over a corpus, everything in memory: a malware sample
//! zip (encrypted entries decrypted in memory with `--password`, default `infected`;
//! nothing is written to disk or run), a directory of package archives, or single
//! archives. Prints, per sample, the static-only verdict with and without the rules
//! named by `--new-rules` (their findings are dropped and the score recomputed), and
//! totals: samples per signal id, per rule, and the verdict transitions.
//!
//! ```text
//! cargo run -p airlock-static --release --example corpus_static -- \
//!   /work/shared/corpus/pypi-malicious-dev/samples.zip [--rules rules] \
//!   [--new-rules static-exfil-credential,...] [--show stealer-targets,...] [--quiet]
//! ```

use std::collections::{BTreeMap, BTreeSet};
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::ExitCode;

use airlock_events::{Ecosystem, Verdict};
use airlock_rules::{Judgement, Ruleset};
use airlock_static::{scan_archive_bytes, ScanOptions};

/// The verdict without the findings of `drop` (score recomputed, decisive re-checked).
fn verdict_without(rules: &Ruleset, j: &Judgement, drop: &BTreeSet<String>) -> (Verdict, f64) {
    let kept: Vec<_> = j
        .findings
        .iter()
        .filter(|f| !drop.contains(&f.rule))
        .cloned()
        .collect();
    let cfg = rules.verdict_config();
    let score = cfg.score(&kept);
    let v = if kept.iter().any(|f| f.decisive) || score >= cfg.malicious {
        Verdict::Malicious
    } else if score >= cfg.suspicious {
        Verdict::Suspicious
    } else {
        Verdict::Benign
    };
    (v, score)
}

/// Package archives of one input, as (label, ecosystem, bytes), read in memory.
fn inputs(path: &Path, password: &str) -> Result<Vec<(String, Ecosystem, Vec<u8>)>, String> {
    let eco_of = |name: &str| {
        if name.ends_with(".tgz") {
            Ecosystem::Npm
        } else {
            Ecosystem::Pypi
        }
    };
    let is_pkg = |n: &str| {
        [".tgz", ".tar.gz", ".whl", ".zip"]
            .iter()
            .any(|e| n.ends_with(e))
    };
    if path.is_dir() {
        let mut out = Vec::new();
        let mut files: Vec<PathBuf> = std::fs::read_dir(path)
            .map_err(|e| e.to_string())?
            .flatten()
            .map(|e| e.path())
            .filter(|p| is_pkg(&p.to_string_lossy()))
            .collect();
        files.sort();
        for f in files {
            let name = f
                .file_name()
                .unwrap_or_default()
                .to_string_lossy()
                .into_owned();
            let bytes = std::fs::read(&f).map_err(|e| format!("{}: {e}", f.display()))?;
            out.push((name.clone(), eco_of(&name), bytes));
        }
        return Ok(out);
    }
    let bytes = std::fs::read(path).map_err(|e| format!("{}: {e}", path.display()))?;
    let name = path
        .file_name()
        .unwrap_or_default()
        .to_string_lossy()
        .into_owned();
    // A sample zip holds package archives; a zip sdist holds source files.
    let mut zip = match zip::ZipArchive::new(std::io::Cursor::new(bytes.as_slice())) {
        Ok(z)
            if (0..z.len()).any(|i| {
                z.name_for_index(i)
                    .and_then(|n| n.ok())
                    .is_some_and(|n| is_pkg(&n))
            }) =>
        {
            z
        }
        _ => return Ok(vec![(name.clone(), eco_of(&name), bytes)]),
    };
    let mut out = Vec::new();
    for i in 0..zip.len() {
        let Some(entry) = zip
            .name_for_index(i)
            .and_then(|n| n.ok())
            .map(|n| n.to_string())
        else {
            continue;
        };
        if !is_pkg(&entry) {
            continue;
        }
        let file = match zip.by_index_decrypt(i, password.as_bytes()) {
            Ok(f) => f,
            Err(e) => return Err(format!("{entry}: {e}")),
        };
        let mut data = Vec::new();
        file.take(512 << 20)
            .read_to_end(&mut data)
            .map_err(|e| format!("{entry}: {e}"))?;
        let label = entry.split('/').next().unwrap_or(&entry).to_string();
        out.push((label, eco_of(&entry), data));
    }
    Ok(out)
}

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut paths = Vec::new();
    let mut password = "infected".to_string();
    let mut rules_dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let mut new_rules: BTreeSet<String> = BTreeSet::new();
    let mut show: BTreeSet<String> = BTreeSet::new();
    let mut quiet = false;
    while let Some(a) = args.next() {
        let list = |v: Option<String>| -> BTreeSet<String> {
            v.unwrap_or_default()
                .split(',')
                .filter(|s| !s.is_empty())
                .map(str::to_string)
                .collect()
        };
        match a.as_str() {
            "--password" => password = args.next().unwrap_or_default(),
            "--rules" => rules_dir = PathBuf::from(args.next().unwrap_or_default()),
            "--new-rules" => new_rules = list(args.next()),
            "--show" => show = list(args.next()),
            "--quiet" => quiet = true,
            _ => paths.push(PathBuf::from(a)),
        }
    }
    if paths.is_empty() {
        eprintln!("usage: corpus_static <samples.zip|dir|archive>... [--password P] [--rules DIR] [--new-rules id,..] [--show signal,..] [--quiet]");
        return ExitCode::from(2);
    }
    let rules = match Ruleset::load_dir(&rules_dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", airlock_rules::Diagnostics(&e));
            return ExitCode::from(2);
        }
    };
    let opts = ScanOptions::default();
    let mut per_signal: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut per_rule: BTreeMap<String, BTreeSet<String>> = BTreeMap::new();
    let mut transitions: BTreeMap<(String, String), Vec<String>> = BTreeMap::new();
    let mut samples = 0usize;
    for p in &paths {
        let items = match inputs(p, &password) {
            Ok(i) => i,
            Err(e) => {
                eprintln!("{}: {e}", p.display());
                return ExitCode::from(2);
            }
        };
        for (label, eco, bytes) in items {
            let report = match scan_archive_bytes(&bytes, Path::new(&label), &opts) {
                Ok(r) => r,
                Err(e) => {
                    println!("{label}: unreadable: {e}");
                    continue;
                }
            };
            samples += 1;
            let mut values: BTreeMap<&str, f64> = BTreeMap::new();
            for s in &report.signals {
                per_signal
                    .entry(s.signal.clone())
                    .or_default()
                    .insert(label.clone());
                let v = values.entry(s.signal.as_str()).or_insert(0.0);
                *v = v.max(s.value.unwrap_or(1.0));
                if show.contains(&s.signal) || show.contains("all") {
                    println!(
                        "  {label}: {} {}:{} [{}] {}",
                        s.signal,
                        s.file,
                        s.line.unwrap_or(0),
                        s.value.map(|v| v.to_string()).unwrap_or_default(),
                        s.detail
                    );
                }
            }
            let j = rules.judge_static(&label, eco, report.events(1000.0));
            let (before, before_score) = verdict_without(&rules, &j, &new_rules);
            let fired: BTreeSet<&str> = j.findings.iter().map(|f| f.rule.as_str()).collect();
            for r in &fired {
                per_rule
                    .entry(r.to_string())
                    .or_default()
                    .insert(label.clone());
            }
            transitions
                .entry((before.to_string(), j.verdict.to_string()))
                .or_default()
                .push(label.clone());
            if !quiet {
                let shown: Vec<String> = values
                    .iter()
                    .filter(|(id, _)| show.is_empty() || show.contains(**id))
                    .map(|(id, v)| format!("{id}={v}"))
                    .collect();
                println!(
                    "{label}: {before} ({before_score:.1}) -> {} ({:.1}) rules [{}] signals [{}]",
                    j.verdict,
                    j.score,
                    fired.into_iter().collect::<Vec<_>>().join(","),
                    shown.join(" ")
                );
            }
        }
    }
    println!("\n## {samples} samples\n\n| signal | samples |\n|---|---:|");
    for (id, s) in &per_signal {
        if show.is_empty() || show.contains(id) {
            println!("| {id} | {} |", s.len());
        }
    }
    println!("\n| rule | samples |\n|---|---:|");
    for (id, s) in &per_rule {
        println!("| {id} | {} |", s.len());
    }
    println!("\n| without --new-rules | with | samples |\n|---|---|---:|");
    for ((b, a), s) in &transitions {
        println!("| {b} | {a} | {} |", s.len());
    }
    for ((b, a), s) in &transitions {
        if b != a {
            println!("\n{b} -> {a}: {}", s.join(", "));
        }
    }
    ExitCode::SUCCESS
}
