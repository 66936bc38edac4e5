//! Trace events judged per second by the shipped ruleset (`rules/`), on the synthetic
//! busy-install trace of `airlock_rules::synth`: streamed straight from the generator
//! (1 million events; the generator alone is measured too, to subtract), and read from
//! JSON Lines in memory as `airlock judge` does from a file (200,000 events). Run with
//! `cargo bench -p airlock-rules --bench judge`.

use std::io::Write;
use std::path::Path;

use airlock_rules::{synth, Ruleset};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

const EVENTS: u64 = 1_000_000;
const JSONL_EVENTS: u64 = 200_000;

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
    let mut g = c.benchmark_group("judge");
    g.sample_size(10);
    g.throughput(Throughput::Elements(EVENTS));
    g.bench_function("synth_generate_only_1M", |b| {
        b.iter(|| synth::records(EVENTS).count())
    });
    g.bench_function("judge_stream_1M", |b| {
        b.iter(|| rules.judge(&header, synth::records(EVENTS)).events)
    });
    let buf = jsonl(JSONL_EVENTS);
    g.throughput(Throughput::Elements(JSONL_EVENTS));
    g.bench_function("judge_reader_jsonl_200k", |b| {
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
