//! Prints the strace argv prefix, one argument per line, so scripts (and the fixture
//! recorder in tests/fixtures/record.sh) use exactly what the orchestrator uses.

fn main() {
    let out = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "strace.out".into());
    for a in airlock_recorder::strace_args(&out) {
        println!("{a}");
    }
}
