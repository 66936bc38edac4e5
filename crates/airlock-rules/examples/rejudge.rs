//! Re-judges stored traces with a rules directory, without the binary: one JSON line per
//! trace (file, verdict, reason, proofs and signals that fired). Used to measure a rule
//! change on a corpus scanned once (`--trace-out`), e.g.
//! `cargo run -p airlock-rules --example rejudge -- rules target/eval/*/*.trace.jsonl`.

use std::io::BufReader;
use std::path::Path;

use airlock_events::FindingKind;
use airlock_rules::Ruleset;

fn main() -> Result<(), String> {
    let mut args = std::env::args().skip(1);
    let dir = args
        .next()
        .ok_or("usage: rejudge RULES_DIR TRACE.jsonl...")?;
    let rules = Ruleset::load_dir(Path::new(&dir))
        .map_err(|e| airlock_rules::Diagnostics(&e).to_string())?;
    for path in args {
        let file = std::fs::File::open(&path).map_err(|e| format!("{path}: {e}"))?;
        let j = match rules.judge_reader(BufReader::new(file)) {
            Ok(j) => j,
            Err(e) => {
                println!(
                    "{}",
                    serde_json::json!({ "file": path, "error": e.to_string() })
                );
                continue;
            }
        };
        let names = |proof: bool| -> Vec<String> {
            j.findings
                .iter()
                .filter(|f| (f.kind == FindingKind::Proof && f.decisive) == proof)
                .map(|f| f.rule.clone())
                .collect()
        };
        println!(
            "{}",
            serde_json::json!({
                "file": path,
                "verdict": j.verdict,
                "reason": j.reason,
                "proofs": names(true),
                "signals": names(false),
                "score": j.score,
            })
        );
    }
    Ok(())
}
