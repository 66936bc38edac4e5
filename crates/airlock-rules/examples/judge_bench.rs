//! Prints how fast the shipped ruleset judges a large synthetic trace:
//! `cargo run --release -p airlock-rules --example judge_bench -- [EVENTS]`.

use std::time::Instant;

fn main() {
    let n: u64 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(1_000_000);
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules");
    let rules = match airlock_rules::Ruleset::load_dir(&dir) {
        Ok(r) => r,
        Err(e) => {
            eprintln!("{}", airlock_rules::Diagnostics(&e));
            std::process::exit(2);
        }
    };
    let start = Instant::now();
    let j = rules.judge(
        &airlock_rules::synth::header(),
        airlock_rules::synth::records(n),
    );
    let secs = start.elapsed().as_secs_f64();
    println!(
        "{} events in {:.2}s = {:.0} events/s; verdict {} score {:.1}, {} findings; peak RSS {} kB",
        j.events,
        secs,
        j.events as f64 / secs,
        j.verdict,
        j.score,
        j.findings.len(),
        peak_rss_kb()
            .map(|k| k.to_string())
            .unwrap_or_else(|| "?".into())
    );
}

fn peak_rss_kb() -> Option<u64> {
    let s = std::fs::read_to_string("/proc/self/status").ok()?;
    s.lines()
        .find(|l| l.starts_with("VmHWM:"))?
        .split_whitespace()
        .nth(1)?
        .parse()
        .ok()
}
