//! One module per `airlock` command. Each parses nothing (clap did) and returns the exit
//! status of the contract: 0 clean, 1 findings at or above `--fail-on` (or refused), 2 a
//! tool or sandbox error, 128+N after signal N. The work is in the library crates.

pub mod audit;
pub mod cache;
pub mod diff;
pub mod gc;
pub mod image;
pub mod judge;
pub mod scan;
pub mod serve;
pub mod wrap;

/// Prints a one-line error and returns exit status 2.
pub fn report_error(result: anyhow::Result<()>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            eprintln!("airlock: error: {e:#}");
            2
        }
    }
}
