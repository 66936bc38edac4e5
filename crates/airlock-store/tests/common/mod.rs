//! Helpers shared by the store's integration tests: artifact keys, deterministic
//! pseudo-random traces, and records built from them.
#![allow(dead_code)]

use airlock_events::{Ecosystem, Verdict};
use airlock_store::{ArtifactKey, RunRecord, VerdictRecord};

pub fn key(name: &str, version: &str, sha: &str) -> ArtifactKey {
    ArtifactKey {
        ecosystem: Ecosystem::Npm,
        name: name.to_string(),
        version: version.to_string(),
        sha256: Some(sha.to_string()),
        integrity: Some(format!("sha512-{sha}==")),
    }
}

/// A JSON Lines trace of `lines` events whose content depends on `seed`, with a random
/// token per line so it does not compress to nothing.
pub fn trace(seed: u64, lines: usize) -> Vec<u8> {
    let mut x = seed.wrapping_mul(0x9E37_79B9_7F4A_7C15) | 1;
    let mut out = Vec::new();
    for i in 0..lines {
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        out.extend_from_slice(
            format!(
                "{{\"record\":\"event\",\"seq\":{i},\"type\":\"file.open\",\"path\":\"/tmp/{x:016x}\"}}\n"
            )
            .as_bytes(),
        );
    }
    out
}

pub fn run<'a>(run_id: &'a str, started_at: f64, trace: &'a [u8]) -> RunRecord<'a> {
    RunRecord {
        run_id,
        started_at,
        duration_ms: Some(1234),
        image: Some("airlock-sandbox:test"),
        complete: true,
        trace_jsonl: trace,
    }
}

pub fn verdict<'a>(ruleset: &'a str, verdict: Verdict, report: &'a [u8]) -> VerdictRecord<'a> {
    VerdictRecord {
        ruleset_hash: ruleset,
        verdict,
        score: match verdict {
            Verdict::Malicious => 9.0,
            Verdict::Suspicious => 4.0,
            _ => 0.0,
        },
        report_json: report,
    }
}
