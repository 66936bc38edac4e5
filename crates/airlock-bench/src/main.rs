//! `airlock-bench`: the harness that measures airlock — detection over the corpora
//! (`eval`), wall time against the bare baseline (`latency`), a whole scan against a plain install
//! (`overhead`), analyses per minute across
//! cores (`throughput`), peak memory of judging a large trace (`judge-memory`), and the
//! static pass's signals and cost (`static-signals`, `static-ratio`). It
//! drives the `airlock` binary as a subprocess and never links the sandbox itself, so
//! what it measures is exactly what a user runs.

mod corpus;
mod eval;
mod memory;
mod mirror;
mod overhead;
mod perf;
mod pyinspect;
mod runner;
mod scale;
mod statics;
mod stats;

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

#[derive(Parser)]
#[command(
    name = "airlock-bench",
    about = "Benchmarks and detection evaluation for airlock"
)]
struct Cli {
    /// The airlock binary to drive (default: $AIRLOCK_BIN, else `airlock` next to this
    /// binary, else the workspace's target/{release,debug}/airlock).
    #[arg(long, global = true, env = "AIRLOCK_BIN")]
    airlock: Option<PathBuf>,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run airlock over the corpora and write detection tables (Markdown + JSON).
    Eval(eval::EvalArgs),
    /// Median wall time of `airlock scan` against `airlock scan --bare`, pair by pair.
    Latency(perf::LatencyArgs),
    /// A small package's whole scan against a plain `docker run … npm install` (or pip
    /// install) of the same file in the same image, pair by pair (issue 17's target).
    Overhead(overhead::OverheadArgs),
    /// Analyses per minute at several concurrency levels over generated small packages.
    Throughput(perf::ThroughputArgs),
    /// Peak RSS and speed of `airlock judge` on a large synthetic trace.
    JudgeMemory(memory::MemoryArgs),
    /// Static pass: per-signal and per-rule hit counts over the corpora, and stored
    /// traces judged without and with their static events (Markdown + JSON).
    StaticSignals(statics::SignalsArgs),
    /// The static pass over one npm tarball against its sandboxed install, same run.
    StaticRatio(statics::RatioArgs),
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let airlock = match runner::Airlock::locate(cli.airlock) {
        Ok(a) => a,
        Err(e) => {
            eprintln!("airlock-bench: {e:#}");
            return ExitCode::from(2);
        }
    };
    let res = match cli.command {
        Command::Eval(a) => eval::run(&airlock, &a),
        Command::Latency(a) => perf::latency(&airlock, &a),
        Command::Overhead(a) => overhead::run(&airlock, &a),
        Command::Throughput(a) => perf::throughput(&airlock, &a),
        Command::JudgeMemory(a) => memory::run(&airlock, &a),
        Command::StaticSignals(a) => statics::signals(&a),
        Command::StaticRatio(a) => statics::ratio(&airlock, &a),
    };
    match res {
        Ok(code) => ExitCode::from(code),
        Err(e) => {
            eprintln!("airlock-bench: {e:#}");
            ExitCode::from(2)
        }
    }
}

/// The workspace root (this crate lives at `crates/airlock-bench`).
pub fn repo_root() -> PathBuf {
    PathBuf::from(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// The default directory for results and caches: `target/airlock-bench`.
pub fn default_out() -> PathBuf {
    repo_root().join("target").join("airlock-bench")
}
