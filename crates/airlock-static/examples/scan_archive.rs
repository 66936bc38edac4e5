//! Runs the static pass over a package archive read in memory (npm `.tgz`, sdist, wheel)
//! the way `airlock scan` does, and prints per-signal counts and the time it took:
//! `cargo run -p airlock-static --release --example scan_archive -- <archive>
//! [--max-file-mib N] [--runs N] [--threads N] [--signals]`. With `--runs`, the best and median of N
//! runs are printed (the typescript benchmark of issue 8).

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Instant;

use airlock_static::{scan_archive, ScanOptions};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let (mut path, mut opts, mut runs, mut show) = (None, ScanOptions::default(), 1usize, false);
    while let Some(a) = args.next() {
        match a.as_str() {
            "--max-file-mib" | "--runs" | "--threads" => {
                let Some(n) = args.next().and_then(|n| n.parse::<u64>().ok()) else {
                    eprintln!("{a} needs a number");
                    return ExitCode::from(2);
                };
                if a == "--runs" {
                    runs = n.max(1) as usize;
                } else if a == "--threads" {
                    opts.threads = n.max(1) as usize;
                } else {
                    opts.max_file_bytes = n * 1024 * 1024;
                }
            }
            "--signals" => show = true,
            _ => path = Some(PathBuf::from(a)),
        }
    }
    let Some(path) = path else {
        eprintln!("usage: scan_archive <archive> [--max-file-mib N] [--runs N] [--signals]");
        return ExitCode::from(2);
    };
    let mut times = Vec::new();
    let mut last = None;
    for _ in 0..runs {
        let start = Instant::now();
        match scan_archive(&path, &opts) {
            Ok(r) => last = Some(r),
            Err(e) => {
                eprintln!("error: {e}");
                return ExitCode::from(2);
            }
        }
        times.push(start.elapsed().as_secs_f64() * 1000.0);
    }
    let Some(report) = last else {
        return ExitCode::from(2);
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &report.signals {
        *counts.entry(s.signal.as_str()).or_default() += 1;
        if show {
            println!(
                "{:<28} {}:{} {}",
                s.signal,
                s.file,
                s.line.unwrap_or(0),
                s.detail
            );
        }
    }
    for (id, n) in &counts {
        println!("{id:<28} {n}");
    }
    times.sort_by(f64::total_cmp);
    println!(
        "files {} seen / {} analyzed, js parsed {} / lexical {}, {:.1} MB analyzed; \
         wall time (read + decompress + analyze) best {:.0} ms, median {:.0} ms over {} run(s)",
        report.files_seen,
        report.files_analyzed,
        report.js_parsed,
        report.js_fallback,
        report.bytes_analyzed as f64 / 1e6,
        times[0],
        times[times.len() / 2],
        times.len()
    );
    ExitCode::SUCCESS
}
