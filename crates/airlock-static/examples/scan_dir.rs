//! Runs the static pass over an unpacked package directory and prints per-signal counts
//! and throughput: `cargo run -p airlock-static --release --example scan_dir -- <dir>
//! [--max-file-mib N] [--signals]`.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::ExitCode;

use airlock_static::{scan_dir, ScanOptions};

fn main() -> ExitCode {
    let mut args = std::env::args().skip(1);
    let mut dir = None;
    let mut opts = ScanOptions::default();
    let mut show = false;
    while let Some(a) = args.next() {
        match a.as_str() {
            "--max-file-mib" => {
                let Some(n) = args.next().and_then(|n| n.parse::<u64>().ok()) else {
                    eprintln!("--max-file-mib needs a number");
                    return ExitCode::from(2);
                };
                opts.max_file_bytes = n * 1024 * 1024;
            }
            "--signals" => show = true,
            _ => dir = Some(PathBuf::from(a)),
        }
    }
    let Some(dir) = dir else {
        eprintln!("usage: scan_dir <dir> [--max-file-mib N] [--signals]");
        return ExitCode::from(2);
    };
    let report = match scan_dir(&dir, &opts) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: {e}");
            return ExitCode::from(2);
        }
    };
    let mut counts: BTreeMap<&str, usize> = BTreeMap::new();
    for s in &report.signals {
        *counts.entry(s.signal.as_str()).or_default() += 1;
        if show {
            println!(
                "{:<28} {}:{} {} {:?}",
                s.signal,
                s.file,
                s.line.unwrap_or(0),
                s.detail,
                s.value
            );
        }
    }
    for (id, n) in &counts {
        println!("{id:<28} {n}");
    }
    let mb = report.bytes_analyzed as f64 / 1e6;
    let secs = report.elapsed_ms.max(1) as f64 / 1000.0;
    println!(
        "files {} seen / {} analyzed, js parsed {} / lexical {}, {:.1} MB in {} ms = {:.1} MB/s",
        report.files_seen,
        report.files_analyzed,
        report.js_parsed,
        report.js_fallback,
        mb,
        report.elapsed_ms,
        mb / secs
    );
    ExitCode::SUCCESS
}
