//! strace lines parsed per second: a 1-million-line synthetic trace made from the
//! recorded fixtures (tests/fixtures/*.strace: node, python networking, file system
//! work), copied over and over with every process id shifted per copy (also where a pid
//! appears inside a line: clone results, /proc paths) and timestamps rising, so the
//! recorder sees ~6,000 short process trees of real shape. Run with
//! `cargo bench -p airlock-recorder --bench parse`.

use std::collections::BTreeSet;
use std::fmt::Write as _;
use std::path::Path;

use airlock_recorder::{Recorder, RecorderConfig};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const LINES: usize = 1_000_000;

/// The fixture lines, in file order.
fn fixture_lines() -> Vec<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures");
    let mut out = Vec::new();
    for name in ["node.strace", "net.strace", "fs.strace"] {
        let text = std::fs::read_to_string(dir.join(name)).expect("fixture");
        out.extend(
            text.lines()
                .filter(|l| !l.trim().is_empty())
                .map(String::from),
        );
    }
    out
}

/// Replaces every whole number in `s` that is one of `pids` by itself plus `offset`.
fn shift_pids(s: &str, pids: &BTreeSet<u64>, offset: u64, out: &mut String) {
    let b = s.as_bytes();
    let mut i = 0;
    while i < b.len() {
        if b[i].is_ascii_digit()
            && (i == 0 || !(b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'.'))
        {
            let start = i;
            while i < b.len() && b[i].is_ascii_digit() {
                i += 1;
            }
            let num = &s[start..i];
            let followed_by_dot_digit =
                i + 1 < b.len() && b[i] == b'.' && b[i + 1].is_ascii_digit();
            match num.parse::<u64>() {
                Ok(n) if pids.contains(&n) && !followed_by_dot_digit => {
                    let _ = write!(out, "{}", n + offset);
                }
                _ => out.push_str(num),
            }
        } else {
            let ch = s[i..].chars().next().unwrap_or(' ');
            out.push(ch);
            i += ch.len_utf8();
        }
    }
}

/// `n` lines of synthetic strace output, newline-separated.
pub fn synthetic(n: usize) -> String {
    let lines = fixture_lines();
    let pids: BTreeSet<u64> = lines
        .iter()
        .filter_map(|l| l.split_whitespace().next()?.parse().ok())
        .collect();
    let mut out = String::with_capacity(n * 160);
    let mut ts = 1_795_000_000.0_f64;
    let mut copy = 0u64;
    let mut count = 0;
    while count < n {
        for l in &lines {
            if count == n {
                break;
            }
            // "PID TS rest": new pid, new timestamp, pids inside the rest shifted too.
            let mut parts = l.splitn(3, ' ');
            let (Some(pid), Some(_), Some(rest)) = (parts.next(), parts.next(), parts.next())
            else {
                continue;
            };
            let pid: u64 = pid.parse().unwrap_or(1);
            ts += 0.000_013;
            let _ = write!(out, "{} {:.6} ", pid + copy * 1000, ts);
            shift_pids(rest, &pids, copy * 1000, &mut out);
            out.push('\n');
            count += 1;
        }
        copy += 1;
    }
    out
}

fn parse_all(text: &str) -> (u64, u64) {
    let mut rec = Recorder::new(RecorderConfig::new("install"));
    let mut out = Vec::new();
    let mut events = 0u64;
    for line in text.lines() {
        rec.feed_line(line, &mut out);
        events += out.len() as u64;
        out.clear();
    }
    let stats = rec.finish(&mut out);
    (events + out.len() as u64, stats.unparsed)
}

fn bench(c: &mut Criterion) {
    let text = synthetic(LINES);
    let (events, unparsed) = parse_all(&text);
    eprintln!(
        "synthetic strace: {LINES} lines, {:.0} MB, {events} events, {unparsed} unparsed",
        text.len() as f64 / 1e6
    );
    let mut g = c.benchmark_group("strace");
    g.sample_size(10);
    g.measurement_time(std::time::Duration::from_secs(40));
    g.throughput(Throughput::Elements(LINES as u64));
    g.bench_function("parse_1M_lines", |b| b.iter(|| parse_all(&text)));
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
