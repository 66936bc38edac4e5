//! Speed: `latency` (airlock scan against the bare baseline, pair by pair) and
//! `throughput` (analyses per minute at several concurrency levels).

use anyhow::Result;

use crate::runner::Airlock;

#[derive(clap::Args, Debug)]
pub struct LatencyArgs {
    #[arg(long, default_value_t = 5)]
    pub runs: usize,
}

#[derive(clap::Args, Debug)]
pub struct ThroughputArgs {
    #[arg(long, default_value_t = 20)]
    pub packages: usize,
}

pub fn latency(_a: &Airlock, _args: &LatencyArgs) -> Result<u8> {
    Ok(0)
}

pub fn throughput(_a: &Airlock, _args: &ThroughputArgs) -> Result<u8> {
    Ok(0)
}
