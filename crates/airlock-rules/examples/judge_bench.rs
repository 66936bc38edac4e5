//! Prints how fast the shipped ruleset judges a large synthetic trace, per wall-clock and
//! per CPU second (the steadier figure on a busy machine):
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
    let cpu0 = cpu_secs();
    let j = rules.judge(
        &airlock_rules::synth::header(),
        airlock_rules::synth::records(n),
    );
    let secs = start.elapsed().as_secs_f64();
    let cpu = cpu_secs().zip(cpu0).map(|(b, a)| b - a);
    println!(
        "{} events in {:.2}s = {:.0} events/s ({}); verdict {} score {:.1}, {} findings; peak RSS {} kB",
        j.events,
        secs,
        j.events as f64 / secs,
        cpu.filter(|c| *c > 0.0)
            .map(|c| format!("{c:.2} CPU s = {:.0} events per CPU s", j.events as f64 / c))
            .unwrap_or_else(|| "CPU time unknown".into()),
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

/// User + system CPU seconds of this process (Linux: /proc/self/stat, 100 ticks a second).
fn cpu_secs() -> Option<f64> {
    let s = std::fs::read_to_string("/proc/self/stat").ok()?;
    let f: Vec<&str> = s[s.rfind(')')? + 2..].split_whitespace().collect();
    let ticks: u64 = f.get(11)?.parse::<u64>().ok()? + f.get(12)?.parse::<u64>().ok()?;
    Some(ticks as f64 / 100.0)
}
