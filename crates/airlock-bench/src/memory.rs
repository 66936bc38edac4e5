//! Peak memory of `airlock judge` on a large synthetic trace.

use anyhow::Result;

use crate::runner::Airlock;

#[derive(clap::Args, Debug)]
pub struct MemoryArgs {
    #[arg(long, default_value_t = 1_000_000)]
    pub events: u64,
}

pub fn run(_a: &Airlock, _args: &MemoryArgs) -> Result<u8> {
    Ok(0)
}
