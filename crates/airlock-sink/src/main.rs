//! The `airlock-sink` binary: the sink's command line (see `cli`), on its own.

fn main() -> std::process::ExitCode {
    airlock_sink::cli::main_from_args(std::env::args_os())
}
