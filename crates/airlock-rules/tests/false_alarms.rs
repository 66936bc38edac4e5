//! The false alarms of issue 14, one recorded trace per kind (`false-alarms/*.jsonl`):
//! each must get its expected verdict (benign, or at most suspicious; never malicious),
//! and the same acts steered by the package must still be malicious. The first comment
//! lines say `# expect: v1|v2` and optionally `# header: {json}`.
#![allow(clippy::unwrap_used)]

use std::path::PathBuf;

use airlock_rules::fixtures::parse_fixture;
use airlock_rules::Ruleset;

#[test]
fn each_kind_of_false_alarm_gets_its_expected_verdict() {
    let root = PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let rules = Ruleset::load_dir(&root.join("../../rules"))
        .unwrap_or_else(|e| panic!("{}", airlock_rules::Diagnostics(&e)));
    let mut files: Vec<PathBuf> = std::fs::read_dir(root.join("tests/false-alarms"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|x| x == "jsonl"))
        .collect();
    files.sort();
    assert!(files.len() >= 10, "{files:?}");
    let mut failures = Vec::new();
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let comment = |key: &str| {
            text.lines()
                .find_map(|l| l.strip_prefix(&format!("# {key}:")))
                .map(str::trim)
        };
        let expect: Vec<&str> = comment("expect").unwrap().split('|').collect();
        let (h, recs) = parse_fixture(comment("header"), &text).unwrap();
        let j = rules.judge(&h, recs);
        let got = j.verdict.as_str();
        eprintln!(
            "{}: {got}: {}",
            f.file_name().unwrap().to_string_lossy(),
            j.reason
        );
        if !expect.contains(&got) {
            let fired: Vec<String> = j
                .findings
                .iter()
                .map(|x| format!("{} ({}, {:?})", x.rule, x.kind, x.actor))
                .collect();
            failures.push(format!(
                "{}: expected {expect:?}, got {got}: {}\n    findings: {fired:?}",
                f.file_name().unwrap().to_string_lossy(),
                j.reason
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}
