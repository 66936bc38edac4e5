//! One module per `airlock` command. Each parses nothing (clap did) and returns the exit
//! status of the contract: 0 clean, 1 findings at or above `--fail-on` (or refused), 2 a
//! tool or sandbox error, 128+N after signal N. The work is in the library crates.

pub mod approve;
pub mod audit;
pub mod cache;
pub mod diff;
pub mod gc;
pub mod image;
pub mod judge;
pub mod sandbox_args;
pub mod scan;
pub mod serve;
pub mod worker;
pub mod wrap;

/// Prints a one-line error and returns exit status 2.
pub fn report_error(result: anyhow::Result<()>) -> u8 {
    match result {
        Ok(()) => 0,
        Err(e) => {
            print_error(&e);
            2
        }
    }
}

/// Text for the terminal that may hold what a package chose (its name, version, an
/// error that quotes them): each line neutralised, so escape sequences and bidi
/// overrides show as visible escapes instead of acting on the terminal (issue 19).
pub fn safe(text: &str) -> String {
    text.lines()
        .map(airlock_report::neutralise)
        .collect::<Vec<_>>()
        .join("\n")
}

/// Prints `airlock: error: …` with the whole cause chain, neutralised.
pub fn print_error(e: &anyhow::Error) {
    eprintln!("airlock: error: {}", safe(&format!("{e:#}")));
}
