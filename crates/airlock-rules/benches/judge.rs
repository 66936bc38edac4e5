//! Trace events judged per second by the shipped ruleset (`rules/`), on the synthetic
//! busy-install trace of `airlock_rules::synth`: streamed straight from the generator
//! (1 million events, or `AIRLOCK_BENCH_EVENTS`; the generator alone is measured too, to
//! subtract), and read from JSON Lines in memory as `airlock judge` does from a file (a
//! tenth as many). Run with `cargo bench -p airlock-rules --bench judge`.

use std::io::Write;
use std::path::Path;

use airlock_rules::{synth, Ruleset};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

/// Events of the streamed trace; `AIRLOCK_BENCH_EVENTS` overrides (the shipped ruleset
/// judges ~100,000 events/s on our 2-vCPU machines since the engine indexes rules by
/// event type and shares per-event work, ~50,000 before; so 1M events is ~10 s an
/// iteration).
fn events() -> u64 {
    std::env::var("AIRLOCK_BENCH_EVENTS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000)
}

/// Events of the JSON Lines trace (a tenth of the streamed one).
fn jsonl_events() -> u64 {
    (events() / 10).max(1)
}

fn rules() -> Ruleset {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    match Ruleset::load_dir(&dir) {
        Ok(r) => r,
        Err(e) => panic!("{}", airlock_rules::Diagnostics(&e)),
    }
}

fn jsonl(n: u64) -> Vec<u8> {
    let mut buf = Vec::new();
    let header = airlock_events::Record::Header(synth::header());
    serde_json::to_writer(&mut buf, &header).expect("header");
    buf.push(b'\n');
    for r in synth::records(n) {
        serde_json::to_writer(&mut buf, &r).expect("record");
        buf.write_all(b"\n").expect("newline");
    }
    buf
}

fn bench(c: &mut Criterion) {
    let rules = rules();
    let header = synth::header();
    let (n, m) = (events(), jsonl_events());
    let mut g = c.benchmark_group("judge");
    g.sample_size(10);
    g.throughput(Throughput::Elements(n));
    g.bench_function(format!("synth_generate_only_{n}"), |b| {
        b.iter(|| synth::records(n).count())
    });
    g.bench_function(format!("judge_stream_{n}"), |b| {
        b.iter(|| rules.judge(&header, synth::records(n)).events)
    });
    let buf = jsonl(m);
    g.throughput(Throughput::Elements(m));
    g.bench_function(format!("judge_reader_jsonl_{m}"), |b| {
        b.iter(|| {
            rules
                .judge_reader(std::io::BufReader::new(buf.as_slice()))
                .expect("judge")
                .events
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
